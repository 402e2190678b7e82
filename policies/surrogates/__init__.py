"""Surrogate models and acquisition values shared by the model-based policies.

* :mod:`policies.surrogates.gp`: a batched ARD Matern-5/2 GP (MAP fit, leave-one-out fit, pending-aware variance).
* :mod:`policies.surrogates.trees`: a batched extra-trees ensemble (mean, spread, out-of-bag fit).
* :mod:`policies.surrogates.acquisition`: LogEI, UCB and scale-free quantile ranks.
"""
