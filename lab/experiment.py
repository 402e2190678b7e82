"""Experiments: their states, the proposals that start them and the measurements they yield.

State machine of one experiment (ARCHITECTURE.md, The life of one experiment)::

    proposed -> dispatched -> running -> measured -> rewarded
        \\            \\           \\
         cancelled    failed      lost

``failed`` is a *chemistry* failure (a real bad outcome the policy learns from); infrastructure
trouble is retried and never becomes ``failed``. ``lost`` means the deadline passed and no
instrument can account for the experiment.

Example:
    >>> ExperimentState.PROPOSED.can_become(ExperimentState.DISPATCHED)
    True
    >>> p = Proposal({"temperature_c": 950.0}, policy="random", policy_version="1", log_prob=-2.3)
    >>> Proposal.from_dict(p.to_dict()) == p
    True
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lab.errors import StateTransitionError

__all__ = ["ExperimentState", "Measurement", "Fallback", "MATURED_STATES", "Proposal", "TERMINAL_STATES"]


class ExperimentState(str, enum.Enum):
    """Where an experiment is in its life."""

    PROPOSED = "proposed"
    DISPATCHED = "dispatched"
    RUNNING = "running"
    MEASURED = "measured"
    REWARDED = "rewarded"
    CANCELLED = "cancelled"
    FAILED = "failed"
    LOST = "lost"

    def can_become(self, other: ExperimentState) -> bool:
        """Whether the state machine allows ``self -> other``."""
        return other in _NEXT[self]

    def check_transition(self, other: ExperimentState) -> None:
        """Raise :class:`StateTransitionError` unless ``self -> other`` is allowed."""
        if not self.can_become(other):
            allowed = sorted(s.value for s in _NEXT[self]) or ["none: it is terminal"]
            raise StateTransitionError(f"an experiment cannot go from {self.value} to {other.value}; allowed: {allowed}")

    @property
    def terminal(self) -> bool:
        return not _NEXT[self]

    @property
    def in_flight(self) -> bool:
        return self in (ExperimentState.DISPATCHED, ExperimentState.RUNNING)


_S = ExperimentState
_NEXT: dict[ExperimentState, frozenset[ExperimentState]] = {
    _S.PROPOSED: frozenset({_S.DISPATCHED, _S.CANCELLED}),
    _S.DISPATCHED: frozenset({_S.RUNNING, _S.FAILED, _S.LOST}),
    _S.RUNNING: frozenset({_S.MEASURED, _S.FAILED, _S.LOST}),
    _S.MEASURED: frozenset({_S.REWARDED}),
    _S.REWARDED: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.FAILED: frozenset(),
    _S.LOST: frozenset(),
}

#: States an experiment never leaves.
TERMINAL_STATES = frozenset(s for s in ExperimentState if s.terminal)
#: Experiments whose reward is known: rewarded, or failed (they earn the definition's failure reward).
MATURED_STATES = frozenset({ExperimentState.REWARDED, ExperimentState.FAILED})


@dataclass(frozen=True)
class Fallback:
    """A baseline that made a pick in the named policy's place, and why.

    Example:
        >>> f = Fallback("sobol", "too few observations (1 usable, need 2)")
        >>> Fallback.from_dict(f.to_dict()) == f
        True
    """

    policy: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"policy": self.policy, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fallback:
        return cls(str(data["policy"]), str(data.get("reason", "")))

    @classmethod
    def from_detail(cls, detail: Mapping[str, Any]) -> Fallback | None:
        """The fallback recorded in a stored proposal's detail (keys ``fallback`` and ``reason``), if any."""
        name = detail.get("fallback")
        return None if not name else cls(str(name), str(detail.get("reason", "")))

    def as_detail(self) -> dict[str, str]:
        """The keys under which the ledger keeps it in a proposal's detail."""
        return {"fallback": self.policy, "reason": self.reason}


@dataclass(frozen=True)
class Proposal:
    """One experiment a policy proposes.

    Attributes:
        params: parameter values, valid in the campaign's search space.
        policy: the policy's name (e.g. ``"qlognei"``).
        policy_version: the exact version that proposed it (credit for the reward goes here).
        log_prob: log-probability of this pick under that version, conditional on the earlier
            picks of the same batch (so a batch's joint log-probability is the sum). Deterministic
            policies report 0.0.
        detail: small JSON-able extras (acquisition value, candidate-set key).
        fallback: set when a baseline made this pick in the policy's place (too little data,
            a model failure, the RL guardrail): which one and why; ``None`` otherwise.
    """

    params: Mapping[str, Any]
    policy: str
    policy_version: str
    log_prob: float = 0.0
    detail: Mapping[str, Any] = field(default_factory=dict)
    fallback: Fallback | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": dict(self.params),
            "policy": self.policy,
            "policy_version": self.policy_version,
            "log_prob": self.log_prob,
            "detail": dict(self.detail),
            "fallback": None if self.fallback is None else self.fallback.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Proposal:
        fallback = data.get("fallback")
        return cls(dict(data["params"]), data["policy"], data["policy_version"], float(data.get("log_prob", 0.0)),
                   dict(data.get("detail", {})), None if fallback is None else Fallback.from_dict(fallback))

    def stored_detail(self) -> dict[str, Any]:
        """The detail as the ledger keeps it: the extras plus, for a fallback pick, ``fallback`` and ``reason``."""
        return {**self.detail, **({} if self.fallback is None else self.fallback.as_detail())}


@dataclass(frozen=True, eq=False)
class Measurement:
    """A raw measurement, stored whole: array bytes with dtype, shape and units.

    Attributes:
        name: what was measured (``"xrd_pattern"``, ``"temperature_log"``, ``"dosed_mg"``).
        data: the array's bytes in C order.
        dtype: numpy dtype string, e.g. ``"<f8"``.
        shape: array shape.
        units: units of the values (e.g. ``"counts"``; for 2-column arrays say both columns).
        instrument: name of the instrument that measured it.
        calibration_id: the instrument calibration in force, if any.
        meta: small JSON-able extras (axis names, scan settings).

    Example:
        >>> m = Measurement.from_array("xrd", np.arange(4.0), units="counts", instrument="xrd")
        >>> m.array().tolist()
        [0.0, 1.0, 2.0, 3.0]
    """

    name: str
    data: bytes
    dtype: str
    shape: tuple[int, ...]
    units: str
    instrument: str
    calibration_id: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_array(cls, name: str, array: np.ndarray | Sequence[float], *, units: str, instrument: str,
                   calibration_id: str | None = None, meta: Mapping[str, Any] | None = None) -> Measurement:
        arr = np.ascontiguousarray(array)
        return cls(name, arr.tobytes(), arr.dtype.str, tuple(arr.shape), units, instrument, calibration_id, dict(meta or {}))

    def array(self) -> np.ndarray:
        """The array, bit for bit as measured."""
        return np.frombuffer(self.data, dtype=np.dtype(self.dtype)).reshape(self.shape).copy()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Measurement):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "data": self.data.hex(), "dtype": self.dtype, "shape": list(self.shape),
                "units": self.units, "instrument": self.instrument, "calibration_id": self.calibration_id,
                "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        return cls(data["name"], bytes.fromhex(data["data"]), data["dtype"], tuple(data["shape"]), data["units"],
                   data["instrument"], data.get("calibration_id"), dict(data.get("meta", {})))
