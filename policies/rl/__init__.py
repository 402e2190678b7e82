"""The learned experiment-proposal policy (MetaBO-style neural acquisition, trained with PPO).

Modules:

* :mod:`policies.rl.posterior`: batched GP posterior features per candidate (torch).
* :mod:`policies.rl.network`: the acquisition network, its value head, batch sampling.
* :mod:`policies.rl.tasks`: training task families (random-feature GP functions, tabulated tasks).
* :mod:`policies.rl.env`: many simulated campaigns stepped at once, with reward latency.
* :mod:`policies.rl.ppo`: imitation warm start, PPO, held-out evaluation.
* :mod:`policies.rl.checkpoint`: weights to bytes and back (``torch.load(weights_only=True)``).
* :mod:`policies.rl.policy`: :class:`RLPolicy`, the :class:`~policies.protocol.Policy` used in campaigns.
"""
