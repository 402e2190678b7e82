"""The experiment ledger's whole public API in one import (a facade over the ``db`` modules).

Every function takes a :class:`~sqlalchemy.orm.Session` from :meth:`db.engine.Store.session` first
and returns lab value objects (``CampaignState``, ``Measurement``, ``RewardDefinition``) or the frozen
records of :mod:`db.records`; ORM rows never leave :mod:`db`. Times are passed in (aware UTC):
the ledger never reads a clock.

Example:
    >>> from datetime import datetime, timezone
    >>> from lab.reward import RewardDefinition, RewardTerm
    >>> from db.engine import open_store
    >>> store = open_store("sqlite://")
    >>> t0 = datetime(2026, 1, 5, 22, 0, tzinfo=timezone.utc)
    >>> with store.session() as s:
    ...     cid = create_campaign(s, name="demo", spec_toml="", spec={}, seed=1,
    ...                           reward=RewardDefinition("v1", (RewardTerm("y"),)), at=t0)
    >>> with store.session() as s:
    ...     get_campaign(s, cid).status
    'queued'
    >>> store.dispose()
"""

from __future__ import annotations

from db.campaigns import (
    PAUSE_MODES,
    TERMINAL_CAMPAIGN_STATUSES,
    claim_campaign,
    create_campaign,
    get_campaign,
    heartbeat,
    hold_campaign,
    list_campaigns,
    set_campaign_status,
)
from db.decisions import (
    REJECTED_PREFIX,
    approve_decision,
    decision_at_index,
    get_decision,
    list_decisions,
    record_decision,
    reject_decision,
)
from db.events import events_after, latest_event_id, list_events, log_event
from db.experiments import (
    count_by_state,
    get_experiment,
    last_activity,
    list_experiments,
    transition,
)
from db.hosting import HostedStep, campaigns_in, ready_steps, steps_in_flight_on, steps_of
from db.intents import list_intents
from db.measurements import load_measurements, store_measurement
from db.notifications import (
    NotificationInfo,
    last_notified_event,
    list_notifications,
    mark_notification,
    record_notification,
)
from db.policies import (
    get_policy_version,
    get_policy_version_by_sha,
    latest_policy_version,
    list_policy_versions,
    policy_sha256,
    store_policy_version,
)
from db.records import (
    AnalysisInfo,
    CampaignInfo,
    DecisionInfo,
    EventInfo,
    ExperimentInfo,
    PolicyVersionInfo,
    StepInfo,
    StepIntentInfo,
    WorkerInfo,
)
from db.rewards import (
    add_reward_definition,
    get_reward_definition,
    latest_analyses,
    latest_analysis,
    latest_objectives,
    list_analyses,
    list_reward_definitions,
    max_analysis_version,
    objectives_for,
    rewards_for,
    set_active_reward_version,
    store_analysis,
    store_reward,
)
from db.state import load_state, state_at_decision
from db.steps import (
    ABANDONING,
    ack_step,
    busy_instruments,
    claim_step_intent,
    fail_step,
    finish_step,
    get_step,
    list_steps,
    mark_abandoning,
    next_planned_step,
    open_steps,
    plan_steps,
    release_step,
    step_history,
)
from db.workers import check_worker_name, get_worker, register_worker, renew_worker, retire_worker

__all__ = [
    "AnalysisInfo", "CampaignInfo", "DecisionInfo", "EventInfo", "ExperimentInfo", "PolicyVersionInfo", "StepInfo",
    "StepIntentInfo", "list_intents", "latest_analyses", "list_analyses", "max_analysis_version",
    "ack_step", "add_reward_definition", "approve_decision", "busy_instruments", "claim_campaign", "claim_step_intent",
    "count_by_state", "create_campaign", "fail_step", "finish_step", "get_campaign", "get_decision", "get_experiment",
    "get_policy_version", "get_policy_version_by_sha", "get_reward_definition", "get_step", "heartbeat", "hold_campaign",
    "last_activity", "latest_analysis", "latest_objectives", "latest_policy_version", "list_campaigns", "list_decisions", "list_events",
    "list_experiments", "list_policy_versions", "list_reward_definitions", "list_steps", "load_measurements",
    "load_state", "state_at_decision", "log_event", "next_planned_step", "objectives_for", "open_steps", "plan_steps", "policy_sha256",
    "TERMINAL_CAMPAIGN_STATUSES", "WorkerInfo", "check_worker_name", "get_worker", "register_worker", "renew_worker", "retire_worker",
    "ABANDONING", "mark_abandoning", "record_decision", "release_step", "rewards_for", "set_active_reward_version", "set_campaign_status",
    "PAUSE_MODES", "REJECTED_PREFIX", "decision_at_index", "reject_decision",
    "step_history", "store_analysis", "store_measurement", "store_policy_version", "store_reward", "transition",
    "events_after", "latest_event_id", "NotificationInfo", "last_notified_event", "list_notifications", "mark_notification",
    "record_notification", "HostedStep", "campaigns_in", "ready_steps", "steps_in_flight_on", "steps_of",
]
