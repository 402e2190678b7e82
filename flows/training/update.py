"""``lab update``: a batched, gated off-policy update of the RL policy from the store.

1. **Transitions.** Every decision made by the RL network (not by its qLogNEI or Sobol fallback)
   whose experiments have matured (rewarded, or failed with the failure reward) is replayed: the
   campaign state it saw is rebuilt from the ledger (:func:`db.state_at_decision`), and each pick
   is credited with the reward of the experiment it created, however many hours later it arrived.
   The advantage of a pick is its reward standardised within its campaign.
2. **Off-policy correction.** Each pick's logged log-probability was computed by the version that
   made it (``policy_version`` on the decision). The importance ratio of the policy being trained
   is ``exp(log p_new(pick) - logged log p)``; the loss is PPO-clip on those ratios. The report
   gives the effective sample size ``ESS = (sum w)^2 / sum w^2`` of the running policy and of the
   candidate, and the version lag (how many publications separate each pick's version from the
   running one); the math lives in :mod:`policies.rl.offpolicy`, beside PPO itself.
3. **Gate.** The candidate is published as a new version (parent: the running one) only if its ESS
   fraction is at least ``min_ess_fraction`` and its score on a fixed simulated evaluation suite
   (same tasks and seeds every time) is not below the running version's by more than
   ``tolerance``. Otherwise nothing is published and the report says why; either way an event is
   logged.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

import db
from db.records import DecisionInfo, ExperimentInfo
from flows.campaign.policy_source import RL_POLICY, load_rl_bundle, publish_rl_bundle
from flows.training.world_tasks import world_tasks
from lab.clock import Clock, WallClock
from lab.experiment import ExperimentState
from policies.rl.checkpoint import PolicyBundle
from policies.rl.families import TreeGridTasks
from policies.rl.network import AcquisitionNet
from policies.rl.offpolicy import effective_sample_size, fit_logged_picks, version_lag
from policies.rl.policy import PickInput, RLPolicy, pick_log_probs
from policies.rl.ppo import evaluate
from policies.rl.tasks import RandomFeatureTasks, TaskBatch, concat

__all__ = ["Transition", "UpdateReport", "UpdateSettings", "collect_transitions", "evaluation_suite", "run_update"]


@dataclass(frozen=True)
class UpdateSettings:
    """Gate and optimiser settings of one update."""

    min_picks: int = 8
    min_ess_fraction: float = 0.3
    tolerance: float = 0.0
    epochs: int = 10
    lr: float = 1e-4
    clip: float = 0.2
    suite_tasks: int = 32
    suite_horizon: int = 30
    suite_seed: int = 424_242


@dataclass(frozen=True)
class Transition:
    """One matured pick: its decision, behaviour version, logged log-probability, reward, advantage, inputs."""

    campaign_id: int
    decision_id: int
    experiment_id: int
    behaviour_version: str
    logged_log_prob: float
    reward: float
    advantage: float
    pick: PickInput = field(repr=False, compare=False)


@dataclass(frozen=True)
class UpdateReport:
    """What an update did and why."""

    accepted: bool
    reason: str
    running_version: str
    new_version: str | None
    n_decisions: int
    n_picks: int
    picks_by_version: dict[str, int]
    version_lag: dict[str, float]
    ess_running: float
    ess_candidate: float
    suite_running: float | None
    suite_candidate: float | None
    skipped: dict[str, int]
    last_experiment_id: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def collect_transitions(store: db.Store, policy: RLPolicy, campaign_id: int | None = None
                        ) -> tuple[list[Transition], dict[str, int]]:
    """Matured picks of the RL network (all campaigns, or one), with inputs rebuilt for ``policy``.

    Returns:
        ``(transitions, skipped)``: skipped counts by reason (fallback decisions, unmatured picks,
        picks whose state could not be rebuilt).
    """
    skipped = {"fallback": 0, "not_matured": 0, "not_replayable": 0}
    out: list[Transition] = []
    with store.session() as s:
        campaigns = [campaign_id] if campaign_id is not None else [c.id for c in db.list_campaigns(s)]
        for cid in campaigns:
            definition = db.get_reward_definition(s, cid)
            rewards = db.rewards_for(s, cid, definition.version)
            experiments = {e.id: e for e in db.list_experiments(s, cid)}
            picks: list[tuple[DecisionInfo, ExperimentInfo, float, PickInput]] = []
            for d in db.list_decisions(s, cid):
                if d.policy != RL_POLICY:
                    continue
                if any(f is not None for f in d.fallbacks):
                    skipped["fallback"] += len(d.experiment_ids)
                    continue
                state = db.state_at_decision(s, d.id)
                inputs = policy.pick_inputs(state, [experiments[i].params for i in d.experiment_ids])
                for j, eid in enumerate(d.experiment_ids):
                    e = experiments[eid]
                    failed = e.state is ExperimentState.FAILED
                    reward = rewards.get(eid, definition.failure_reward if failed else None)
                    if reward is None:
                        skipped["not_matured"] += 1
                    elif inputs is None:
                        skipped["not_replayable"] += 1
                    else:
                        picks.append((d, e, float(reward), inputs[j]))
            values = [r for _, _, r, _ in picks]
            mean = statistics.fmean(values) if values else 0.0
            sd = statistics.pstdev(values) if len(values) > 1 else 1.0
            for d, e, r, inp in picks:
                adv = max(-3.0, min(3.0, (r - mean) / (sd if sd > 1e-12 else 1.0)))
                out.append(Transition(cid, d.id, e.id, d.policy_version, float(e.log_prob), r, adv, inp))
    return out, skipped


def evaluation_suite(settings: UpdateSettings) -> TaskBatch:
    """The fixed simulated evaluation suite: isotropic GP, piecewise-constant grid and materials-world tasks."""
    n_world = settings.suite_tasks // 4
    n_grid = settings.suite_tasks // 4
    rff = RandomFeatureTasks().sample(settings.suite_tasks - n_world - n_grid, settings.suite_seed, 128)
    grid = TreeGridTasks().sample(n_grid, settings.suite_seed, 128)
    world = world_tasks(n_worlds=4, n_candidates=512, seed=settings.suite_seed).sample(n_world, settings.suite_seed, 128)
    return concat([rff, grid, world])


def suite_score(net: AcquisitionNet, suite: TaskBatch, settings: UpdateSettings) -> float:
    """Mean share of top rows found over the campaign (area under Top%, the training objective) on
    the suite (paired seeds: the same for every version)."""
    curves = evaluate(net, suite, settings.suite_horizon, settings.suite_seed)
    return float(curves.top[:, 2:].mean())


def _lags(store: db.Store, transitions: list[Transition], running: str) -> dict[str, float]:
    with store.session() as s:
        order = [v.version for v in db.list_policy_versions(s, RL_POLICY)]
    return version_lag(order, [t.behaviour_version for t in transitions], running)


def run_update(store: db.Store, *, campaign_id: int | None = None, settings: UpdateSettings = UpdateSettings(),
               clock: Clock | None = None, seed: int = 0) -> UpdateReport:
    """One gated update of the newest RL version from the store's matured rewards (see module docstring).

    Raises:
        NoTrainedPolicy: no RL policy version is stored.
    """
    clock = clock or WallClock()
    bundle = load_rl_bundle(store)
    running = RLPolicy.from_bundle(bundle)
    transitions, skipped = collect_transitions(store, running, campaign_id)
    by_version: dict[str, int] = {}
    for t in transitions:
        by_version[t.behaviour_version] = by_version.get(t.behaviour_version, 0) + 1
    base: dict[str, Any] = dict(running_version=bundle.version, n_decisions=len({t.decision_id for t in transitions}),
                n_picks=len(transitions), picks_by_version=by_version, version_lag=_lags(store, transitions, bundle.version),
                skipped=skipped, last_experiment_id=max((t.experiment_id for t in transitions), default=0))
    if len(transitions) < settings.min_picks:
        return _finish(store, clock, UpdateReport(False, f"only {len(transitions)} matured RL picks; the gate needs "
                                                  f"{settings.min_picks}", new_version=None, ess_running=math.nan,
                                                  ess_candidate=math.nan, suite_running=None, suite_candidate=None, **base))
    old = torch.tensor([t.logged_log_prob for t in transitions])
    adv = torch.tensor([t.advantage for t in transitions])
    picks = [t.pick for t in transitions]
    with torch.no_grad():
        ess_running = effective_sample_size(pick_log_probs(running.net, picks) - old)
    candidate = bundle.net()
    fit_logged_picks(candidate, picks, old, adv, settings.epochs, settings.lr, settings.clip, seed)
    with torch.no_grad():
        ess_candidate = effective_sample_size(pick_log_probs(candidate, picks) - old)
    frac = ess_candidate / len(transitions)
    if frac < settings.min_ess_fraction:
        return _finish(store, clock, UpdateReport(False, f"ESS {ess_candidate:.1f} of {len(transitions)} picks "
                                                  f"({frac:.0%}) is below the gate's {settings.min_ess_fraction:.0%}",
                                                  new_version=None, ess_running=ess_running, ess_candidate=ess_candidate,
                                                  suite_running=None, suite_candidate=None, **base))
    suite = evaluation_suite(settings)
    s_run, s_new = suite_score(running.net, suite, settings), suite_score(candidate, suite, settings)
    if s_new < s_run - settings.tolerance:
        return _finish(store, clock, UpdateReport(False, f"evaluation suite regressed: {s_new:.4f} < {s_run:.4f} - "
                                                  f"{settings.tolerance}", new_version=None, ess_running=ess_running,
                                                  ess_candidate=ess_candidate, suite_running=s_run, suite_candidate=s_new,
                                                  **base))
    config = {k: v for k, v in bundle.config.items() if k != "net"}
    config["update"] = {"parent": bundle.version, "picks": len(transitions), "campaign": campaign_id,
                        "settings": asdict(settings)}
    new = PolicyBundle.from_net(candidate, config)
    report = UpdateReport(True, f"ESS {frac:.0%} >= {settings.min_ess_fraction:.0%} and suite {s_new:.4f} vs "
                          f"{s_run:.4f}", new_version=new.version, ess_running=ess_running, ess_candidate=ess_candidate,
                          suite_running=s_run, suite_candidate=s_new, **base)
    publish_rl_bundle(store, new, clock.now(), parent=bundle.version, metrics=_jsonable(report.to_dict()))
    return _finish(store, clock, report)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in data.items()}


def _finish(store: db.Store, clock: Clock, report: UpdateReport) -> UpdateReport:
    with store.session() as s:
        db.log_event(s, clock.now(), "info" if report.accepted else "warning", "policy_update",
                     ("published RL version " + str(report.new_version) if report.accepted else "update rejected")
                     + f": {report.reason}", detail=_jsonable(report.to_dict()))
    return report
