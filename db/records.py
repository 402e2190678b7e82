"""Read-only views of ledger rows: small frozen dataclasses that callers outside :mod:`db` may keep.

ORM rows never leave :mod:`db`; every query function returns lab value objects or one of these.
All datetimes are aware UTC. JSON fields are plain dicts/lists (copies: changing them changes nothing
in the store).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lab.experiment import ExperimentState, Fallback

__all__ = ["AnalysisInfo", "CampaignInfo", "DecisionInfo", "EventInfo", "ExperimentInfo", "PolicyVersionInfo", "StepInfo", "WorkerInfo"]


@dataclass(frozen=True)
class CampaignInfo:
    """A campaign as stored.

    Attributes:
        status: one of ``queued running paused cancelled completed failed``.
        spec: the parsed spec (``space``, ``objectives``, ``budget``...), as the lead's spec loader wrote it.
        spec_toml: the spec file exactly as submitted.
        reward_version: the active reward-definition version.
        claimed_by: id of the worker running it (``None`` unless running).
        heartbeat_at: the claiming worker's last heartbeat.
        pause_mode: while ``paused``: ``deferred`` (experiments already started finish every step)
            or ``now`` (no new step starts); ``None`` otherwise.
    """

    id: int
    name: str
    status: str
    spec: dict[str, Any]
    spec_toml: str
    seed: int
    reward_version: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    claimed_by: str | None
    heartbeat_at: datetime | None
    approval_required: bool
    pause_mode: str | None = None


@dataclass(frozen=True)
class DecisionInfo:
    """One call to the policy and what is needed to learn from it later.

    Attributes:
        index: 0, 1, 2... within the campaign.
        log_prob: joint log-probability of the whole batch under ``policy_version``.
        pending_experiment_ids: experiments in flight when the decision was made.
        experiment_ids: the experiments this decision created, in proposal order.
        approved_at: when a scientist approved the batch (``None``: not approved, or no approval needed).
        rejected_at: when a scientist rejected the batch (its experiments are cancelled, never run).
        review_reason: the reason given with the rejection.
    """

    id: int
    campaign_id: int
    index: int
    policy: str
    policy_version: str
    log_prob: float
    pending_experiment_ids: tuple[int, ...]
    candidate_key: str | None
    made_at: datetime
    expected_completion: datetime | None
    deadline: datetime | None
    detail: dict[str, Any]
    approved_at: datetime | None
    experiment_ids: tuple[int, ...] = ()
    rejected_at: datetime | None = None
    review_reason: str | None = None

    @property
    def fallbacks(self) -> tuple[Fallback | None, ...]:
        """Per proposal, in order: the baseline that made the pick in the policy's place, or ``None``."""
        return tuple(Fallback.from_detail(d) for d in self.detail.get("proposal_details", []))


@dataclass(frozen=True)
class ExperimentInfo:
    """One experiment with its state history and the decision that made it.

    Attributes:
        timestamps: state value -> when the experiment entered it (only states it has reached).
        reason: why it failed, was lost or cancelled.
        sample_id: the physical sample's label, ``C<campaign>-E<experiment>``.
        log_prob: this pick's log-probability (conditional on earlier picks of its batch).
        policy, policy_version: who proposed it (credit for its reward goes to that version).
    """

    id: int
    campaign_id: int
    decision_id: int
    decision_index: int
    params: dict[str, Any]
    state: ExperimentState
    timestamps: dict[str, datetime]
    reason: str | None
    sample_id: str
    expected_completion: datetime | None
    deadline: datetime | None
    log_prob: float
    policy: str
    policy_version: str

    @property
    def proposed_at(self) -> datetime:
        return self.timestamps[ExperimentState.PROPOSED.value]


@dataclass(frozen=True)
class StepInfo:
    """One instrument step of an experiment (dose, anneal, xrd...).

    Attributes:
        seq: position in the experiment's plan (0, 1, 2...).
        instrument_kind: the kind of instrument it needs (``"furnace"``).
        instrument: the instrument it was given (``None`` until its intent is claimed).
        command: the command's parameters, as planned.
        idempotency_key: ``<sample_id>:<seq>:<name>``; unique in the ledger, sent with the command.
        state: ``planned intent acked done failed lost``.
        failed_at: when it failed or was lost (``done_at`` is only set on success).
        attempts: how many times its intent was claimed (retries after infrastructure trouble).
        claimed_by: the worker name that sent its latest intent (``None``: never claimed, or by no
            named worker); every intent is in :func:`db.intents.list_intents`.
    """

    id: int
    experiment_id: int
    campaign_id: int
    sample_id: str
    seq: int
    name: str
    instrument_kind: str
    instrument: str | None
    command: dict[str, Any]
    idempotency_key: str
    state: str
    planned_at: datetime
    intent_at: datetime | None
    acked_at: datetime | None
    done_at: datetime | None
    failed_at: datetime | None
    expected_done_at: datetime | None
    deadline: datetime | None
    attempts: int
    error: str | None
    claimed_by: str | None = None

    @property
    def in_flight(self) -> bool:
        """True while the instrument may hold it (intent claimed or acknowledged)."""
        return self.state in ("intent", "acked")

    @property
    def ended_at(self) -> datetime | None:
        """When it stopped occupying its instrument (done, failed or lost)."""
        return self.done_at or self.failed_at


@dataclass(frozen=True)
class AnalysisInfo:
    """One analysis of an experiment's measurements (the latest wins: highest version, then newest).

    Attributes:
        version: 1 for the analysis made when the experiment was measured; each re-analysis
            (``lab relabel --analysis``) stores a higher one.
    """

    id: int
    experiment_id: int
    objectives: dict[str, float]
    detail: dict[str, Any]
    created_at: datetime
    version: int = 1


@dataclass(frozen=True)
class PolicyVersionInfo:
    """A stored, content-addressed policy version."""

    id: int
    name: str
    version: str
    sha256: str
    weights: bytes | None
    config: dict[str, Any]
    created_at: datetime
    parent_version: str | None
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EventInfo:
    """One entry of a campaign's log of what went wrong (or notably right)."""

    id: int
    campaign_id: int | None
    at: datetime
    level: str
    kind: str
    message: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class WorkerInfo:
    """A worker name and who holds it.

    Attributes:
        name: the worker's name (``lab worker --name``; campaigns' ``claimed_by``).
        token: identifies one process run under that name.
        host, pid: where that process runs.
        started_at, renewed_at: when it took the name, and last renewed its lease (wall clock, UTC).
        lease_s: how long its lease lasts after each renewal (seconds).
    """

    name: str
    token: str
    host: str
    pid: int
    started_at: datetime
    renewed_at: datetime
    lease_s: float


@dataclass(frozen=True)
class StepIntentInfo:
    """One intent committed for a step: who sent it, on which instrument, and when.

    Attributes:
        step_id, campaign_id: the step, and the campaign it belongs to.
        idempotency_key: the step's key.
        worker: the worker name that committed the intent (``None``: no named worker).
        instrument: the instrument it was claimed on.
        attempt: the step's attempt number this intent began (1, 2...).
        at: the campaign's clock at the intent (possibly simulated).
        wall_at: the wall clock at the intent (UTC), which leases are stamped on.
    """

    id: int
    step_id: int
    campaign_id: int
    idempotency_key: str
    worker: str | None
    instrument: str
    attempt: int
    at: datetime
    wall_at: datetime
