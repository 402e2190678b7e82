"""The ScaleRL learning-curve sigmoid and its fit (Khatri, Madaan et al. 2025).

``R(C) = R0 + (A - R0) / (1 + (C_mid / C)^B)``: ``R0`` the score before training, ``A`` the
asymptote, ``C_mid`` the compute at half the gain, ``B`` the steepness. :func:`fit_sigmoid` fits
it robustly in log-compute space; :func:`bootstrap_asymptote` gives a residual-bootstrap interval
of ``A``. :mod:`flows.training.forecast` applies them to training runs.

Example:
    >>> import numpy as np
    >>> C = np.linspace(0.0, 1e6, 41)
    >>> fit = fit_sigmoid(C, sigmoid_curve(C, 0.1, 0.8, 2e5, 1.5))
    >>> round(fit.A, 3), round(fit.B, 2)
    (0.8, 1.5)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np
from scipy.optimize import least_squares
from scipy.special import expit

from flows.errors import ForecastRefused

__all__ = ["MIN_POINTS", "SigmoidFit", "bootstrap_asymptote", "bootstrap_fits", "fit_sigmoid", "sigmoid_curve"]

MIN_POINTS = 5

def sigmoid_curve(C: Any, R0: float, A: float, C_mid: float, B: float) -> np.ndarray:
    """The ScaleRL curve ``R0 + (A - R0) / (1 + (C_mid / C)^B)``; ``R0`` where ``C <= 0``.

    Args:
        C: compute (env steps or device seconds), scalar or array, same unit as ``C_mid``.
        R0: score at no compute; A: asymptotic score (score units).
        C_mid: compute at half of the gain ``A - R0`` (> 0); B: steepness (> 0, dimensionless).
    """
    C = np.asarray(C, dtype=float)
    logc = np.log(np.where(C > 0, C, 1.0))
    return np.where(C > 0, R0 + (A - R0) * expit(B * (logc - math.log(C_mid))), R0)


@dataclass(frozen=True)
class SigmoidFit:
    """A fitted curve. ``R0``, ``A``, ``rms`` in score units; ``C_mid`` in compute units; ``B`` dimensionless.

    ``n_points`` counts the points with ``C > 0`` that the fit used; ``r0_fitted`` tells whether ``R0``
    was a free parameter (no point at ``C <= 0`` and none given).
    """

    R0: float
    A: float
    C_mid: float
    B: float
    rms: float
    n_points: int
    r0_fitted: bool = False

    def predict(self, C: Any) -> np.ndarray:
        """Score of the fitted curve at compute ``C``."""
        return sigmoid_curve(C, self.R0, self.A, self.C_mid, self.B)

    def compute_for(self, fraction: float) -> float:
        """Compute at which the curve reaches ``fraction`` (0 < f < 1) of its gain ``A - R0``."""
        return self.C_mid * (fraction / (1.0 - fraction)) ** (1.0 / self.B)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of the fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SigmoidFit:
        """Inverse of :meth:`to_dict`."""
        return cls(float(d["R0"]), float(d["A"]), float(d["C_mid"]), float(d["B"]), float(d["rms"]),
                   int(d["n_points"]), bool(d.get("r0_fitted", False)))


def _split(compute: Any, score: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    c, y = np.asarray(compute, dtype=float).ravel(), np.asarray(score, dtype=float).ravel()
    if c.shape != y.shape or not (np.isfinite(c).all() and np.isfinite(y).all()):
        raise ValueError(f"compute and score must be finite and of one length, got {c.size} and {y.size}")
    pos = c > 0
    return np.log(c[pos]), y[pos], y[~pos]


def _solve(x: np.ndarray, y: np.ndarray, r0: Optional[float], starts: list[np.ndarray],
           f_scale: Optional[float], a_max: Optional[float] = None) -> Optional[tuple[np.ndarray, float]]:
    """Least squares over ``[R0?, A, log C_mid, B]`` from each start (soft-L1 loss when ``f_scale`` is given);
    the best converged (params, cost)."""
    span = max(float(np.ptp(y)), 1e-9 * max(1.0, float(np.abs(y).max())))
    lo = [y.min() - 10 * span, x.min() - 3.0, 1e-2]
    hi = [y.max() + 10 * span, x.max() + math.log(1e3), 20.0]
    if a_max is not None:  # the asymptote cannot exceed the largest possible score
        hi[0] = max(min(hi[0], a_max), lo[0] + 1e-6)
    if r0 is None:
        lo, hi = [y.min() - 10 * span, *lo], [y.max() + 10 * span, *hi]

    def resid(p: np.ndarray) -> np.ndarray:
        R0, (A, m, B) = (p[0], p[1:]) if r0 is None else (r0, p)
        return R0 + (A - R0) * expit(B * (x - m)) - y

    best: Optional[tuple[np.ndarray, float]] = None
    for p0 in starts:
        p0 = np.clip(p0, np.asarray(lo) + 1e-9, np.asarray(hi) - 1e-9)
        try:
            res = least_squares(resid, p0, bounds=(lo, hi), loss="linear" if f_scale is None else "soft_l1",
                                f_scale=f_scale or 1.0, max_nfev=400)
        except (ValueError, FloatingPointError):
            continue
        if res.status > 0 and np.isfinite(res.x).all() and (best is None or res.cost < best[1]):
            best = (res.x, float(res.cost))
    return best


def _grid_starts(x: np.ndarray, y: np.ndarray, r0: Optional[float], keep: int = 3) -> list[np.ndarray]:
    """Starts from a grid over (log C_mid, B), solving the linear (R0, A) exactly at each node."""
    nodes = []
    for m in [*np.quantile(x, [0.1, 0.4, 0.7, 1.0]), x.max() + 1.0]:
        for B in (0.7, 1.5, 3.0):
            s = expit(B * (x - m))
            X, t = (np.column_stack([1 - s, s]), y) if r0 is None else (s[:, None], y - r0)
            coef = np.linalg.lstsq(X, t, rcond=None)[0]
            p = np.array([coef[0], coef[1], m, B] if r0 is None else [r0 + coef[0], m, B])
            nodes.append((float(np.sum((X @ coef - t) ** 2)), p))
    nodes.sort(key=lambda t: t[0])
    return [p for _, p in nodes[:keep]]


def _fit(x: np.ndarray, y: np.ndarray, y0: np.ndarray, r0: Optional[float], f_scale: Optional[float],
         starts: Optional[list[np.ndarray]], a_max: Optional[float] = None) -> Optional[SigmoidFit]:
    r0_used = float(r0) if r0 is not None else (float(y0.mean()) if y0.size else None)
    starts = starts or _grid_starts(x, y, r0_used)
    if f_scale is None:  # a plain least-squares pass sets the robust loss's scale from its residuals
        first = _solve(x, y, r0_used, starts, None, a_max)
        if first is None:
            return None
        starts = [first[0], *starts]
        f_scale = _robust_scale(_as_fit(first[0], r0_used, x, y).predict(np.exp(x)) - y)
    best = _solve(x, y, r0_used, starts, f_scale, a_max)
    return None if best is None else _as_fit(best[0], r0_used, x, y)


def _robust_scale(resid: np.ndarray) -> float:
    """Soft-L1 scale: twice the MAD estimate of the noise sd (quadratic for all but outliers)."""
    return max(2.0 * 1.4826 * float(np.median(np.abs(resid - np.median(resid)))), 1e-12)


def _as_fit(p: np.ndarray, r0: Optional[float], x: np.ndarray, y: np.ndarray) -> SigmoidFit:
    R0, (A, m, B) = (float(p[0]), p[1:]) if r0 is None else (r0, p)
    rms = float(np.sqrt(np.mean((sigmoid_curve(np.exp(x), R0, A, math.exp(m), B) - y) ** 2)))
    return SigmoidFit(R0, float(A), math.exp(m), float(B), rms, int(x.size), r0 is None)


def fit_sigmoid(compute: Any, score: Any, *, r0: Optional[float] = None, a_max: Optional[float] = None) -> SigmoidFit:
    """Fit the ScaleRL sigmoid by robust (soft-L1) least squares in log-compute space.

    Args:
        compute: training compute per point (env steps or device seconds, >= 0).
        score: held-out score per point (higher is better).
        r0: fixed ``R0``; by default the mean score of the points with ``compute <= 0`` (those
            points serve only for ``R0``), or a free parameter when there are none.
        a_max: upper bound of the asymptote ``A`` (the largest possible score), or none.

    Raises:
        ForecastRefused: fewer than 5 points with ``compute > 0``, or no start converged.
    """
    x, y, y0 = _split(compute, score)
    if x.size < MIN_POINTS:
        raise ForecastRefused(f"{x.size} points with compute > 0; the fit needs at least {MIN_POINTS}")
    fit = _fit(x, y, y0, r0, None, None, a_max)
    if fit is None:
        raise ForecastRefused(f"the sigmoid fit did not converge on {x.size} points")
    return fit


def bootstrap_fits(compute: Any, score: Any, n_boot: int, seed: int, r0: Optional[float],
               at: Optional[float], a_max: Optional[float] = None) -> tuple[SigmoidFit, np.ndarray, np.ndarray]:
    """Residual bootstrap: A of each refit and, at compute ``at``, a predicted score plus a drawn residual."""
    fit = fit_sigmoid(compute, score, r0=r0, a_max=a_max)
    x, y, y0 = _split(compute, score)
    base = fit.predict(np.exp(x))
    e = (y - base) - np.mean(y - base)
    e *= math.sqrt(x.size / max(x.size - 3 - fit.r0_fitted, 1))  # undo the shrinkage of fitted residuals
    f_scale = _robust_scale(e)
    start = np.array([*([fit.R0] if fit.r0_fitted else []), fit.A, math.log(fit.C_mid), fit.B])
    rng = np.random.default_rng(seed)
    A_s, pred_s = [], []
    for _ in range(n_boot):
        yb = base + rng.choice(e, x.size)
        y0b = fit.R0 + rng.choice(e, y0.size) if (r0 is None and y0.size) else y0
        out = _fit(x, yb, y0b, r0, f_scale, [start], a_max) or _fit(x, yb, y0b, r0, f_scale, None, a_max)
        if out is not None:
            A_s.append(out.A)
            pred_s.append(float(out.predict(at)) + float(rng.choice(e)) if at is not None else math.nan)
    if len(A_s) < n_boot / 2:
        raise ForecastRefused(f"only {len(A_s)} of {n_boot} bootstrap refits converged; the curve does not pin down A")
    return fit, np.asarray(A_s), np.asarray(pred_s)


def bootstrap_asymptote(compute: Any, score: Any, n_boot: int = 200, seed: int = 0,
                        level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of ``A`` (score units) from a residual bootstrap of :func:`fit_sigmoid`.

    Failed refits are skipped; :class:`ForecastRefused` says so when more than half fail.
    """
    _, A_s, _ = bootstrap_fits(compute, score, n_boot, seed, None, None)
    q = np.quantile(A_s, [(1 - level) / 2, (1 + level) / 2])
    return float(q[0]), float(q[1])
