"""``rf-ei``: a scikit-learn random forest with expected improvement, as in Liang et al. 2021.

Model: ``RandomForestRegressor(n_estimators=n_trees)`` (scikit-learn defaults otherwise, seeded per
decision) on the unit-cube features and the standardised target (larger is better). The predictive
mean and standard deviation of a candidate are the mean and the standard deviation of the
individual trees' predictions (Liang et al. 2021, npj Comput. Mater. 7, 188).

Acquisition, with ``mu``, ``sigma`` from the forest, ``y*`` the best standardised target so far and
``xi`` the jitter (in standard deviations of the target)::

    z = (mu - y* - xi) / sigma
    EI = (mu - y* - xi) * Phi(z) + sigma * phi(z)      (EI = max(mu - y* - xi, 0) where sigma = 0)

Defaults (``n_trees=100``, ``xi=0.01``, ``n_init=2``) are scikit-learn's and GPyOpt's usual values
and the 2 initial points of Liang et al.; none was chosen by looking at benchmark results. The
decision loop, candidates and fallbacks are :class:`policies.scored.ScoredPoolPolicy`'s.

**Outcome constraints** (``state.constraints``) are ignored: the forest models only the target,
and candidates are ranked by EI alone (``qlognei``, ``qlognehvi`` and ``gp-iso-lcb`` honour them).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy.special import ndtr
from torch import Tensor

from policies.candidates import DEFAULT_POOL_SIZE
from policies.errors import PolicyArgumentError
from policies.features import TrainingData
from policies.protocol import require_int, version_string
from policies.scored import ScoredPoolPolicy

__all__ = ["RandomForestEIPolicy", "expected_improvement"]

VERSION = "1"
_DEFAULTS: dict[str, Any] = {"n_init": 2, "pool_size": DEFAULT_POOL_SIZE, "n_trees": 100, "xi": 0.01}


def expected_improvement(mu: np.ndarray, sigma: np.ndarray, best: float, xi: float = 0.0) -> np.ndarray:
    """Expected improvement over ``best`` for maximisation.

    Args:
        mu: predictive means, shape ``(M,)``.
        sigma: predictive standard deviations, shape ``(M,)``, ``>= 0``.
        best: the incumbent (same units as ``mu``).
        xi: jitter subtracted from the improvement.

    Returns:
        EI, shape ``(M,)``, ``>= 0``.
    """
    gain = mu - best - xi
    safe = np.where(sigma > 0, sigma, 1.0)
    z = gain / safe
    cdf = ndtr(z)
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return np.where(sigma > 0, gain * cdf + sigma * pdf, np.maximum(gain, 0.0))


class RandomForestEIPolicy(ScoredPoolPolicy):
    """Random forest (mean and spread across trees) + expected improvement.

    Args:
        n_init: fewest training points for a forest (default 2, Liang et al.'s initial design).
        pool_size: Sobol candidates per decision when no candidate set is given.
        n_trees: trees in the forest.
        xi: EI jitter, in standard deviations of the target.

    Attributes:
        name: ``"rf-ei"``; version: ``"1"`` plus non-default options.
    """

    name = "rf-ei"
    acquisition = "EI(random forest)"

    def __init__(self, *, n_init: int = 2, pool_size: int = DEFAULT_POOL_SIZE, n_trees: int = 100,
                 xi: float = 0.01) -> None:
        super().__init__(n_init=n_init, pool_size=pool_size)
        self.n_trees = require_int("n_trees", n_trees, 1)
        if isinstance(xi, bool) or not isinstance(xi, (int, float)) or not math.isfinite(xi) or xi < 0:
            raise PolicyArgumentError(f"option xi must be a finite number >= 0, got {xi!r}")
        self.xi = float(xi)
        self.version = version_string(VERSION, self.options, _DEFAULTS)

    @property
    def options(self) -> dict[str, Any]:
        return {"n_init": self.n_init, "pool_size": self.pool_size, "n_trees": self.n_trees, "xi": self.xi}

    def scores(self, data: TrainingData, X: Tensor, seed: int) -> Tensor:
        """EI of each candidate ``X`` ``(M, dim)`` under a forest fitted to ``data``; shape ``(M,)``."""
        from sklearn.ensemble import RandomForestRegressor

        y = data.Y.reshape(-1).numpy()
        y = (y - y.mean()) / y.std()
        forest = RandomForestRegressor(n_estimators=self.n_trees, random_state=seed % 2**32, n_jobs=1)
        forest.fit(data.X.numpy(), y)
        Xc = X.numpy()
        per_tree = np.stack([tree.predict(Xc) for tree in forest.estimators_])  # (n_trees, M)
        ei = expected_improvement(per_tree.mean(axis=0), per_tree.std(axis=0), float(y.max()), self.xi)
        return torch.as_tensor(ei, dtype=torch.float64)

    def __repr__(self) -> str:
        return f"RandomForestEIPolicy({', '.join(f'{k}={v!r}' for k, v in self.options.items())})"
