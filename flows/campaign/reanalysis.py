"""Re-analysis: phase analysis run again on the stored raw XRD patterns, as a new analysis version.

``lab relabel ID --analysis [--phases BaTiO3,BaCO3,TiO2]`` runs :func:`reanalyse`. In one store
transaction, for every measured or rewarded experiment with a stored ``xrd_pattern``, it fits the
pattern again (:func:`flows.campaign.analysis.analyse_pattern`, the engine's own analysis, with the
chosen candidate phases; default: every phase of :data:`lab.diffraction.PHASES`) and stores the
result as a new analysis row whose version is one above the campaign's highest (old rows are kept;
the settings are in the row's ``detail["phases"]``). Every reader of analyses (the state a policy
sees, reports, rewards, exports) takes each experiment's highest version, so the new analysis is
the one used from then on. The rewards under the campaign's active reward definition are then
recomputed from the new objectives and replace the stored ones (rewards are kept per reward
version, not per analysis version); the replaced values, and every objective that moved, are in
the ``reanalysis`` event's detail. Rewards under other reward versions are left as they were:
``lab relabel ID --reward FILE`` recomputes one from the latest analysis.

Failed experiments keep their outcome (a chemistry failure stays failed with its failure reward)
and are not re-analysed. A rewarded experiment whose new fit residual exceeds the workflow's
``max_fit_residual`` stays rewarded; :attr:`Reanalysed.unexplained` flags it.

Safety: the engine analyses experiments as their last step finishes, and proposes from the
analyses it reads. A re-analysis is therefore refused for queued and running campaigns, and for
paused ones while experiments are still dispatched or running (a paused engine still collects and
analyses those); completed, cancelled and failed campaigns, and paused ones with nothing in
flight, are re-analysed (:class:`flows.errors.CampaignControlError` otherwise).

Example (on a completed campaign ``cid``)::

    result = reanalyse(store, cid, WallClock().now(), phases=("BaTiO3", "BaCO3", "TiO2"))
    print(result.version, result.moved, result.largest)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

import db
from flows.campaign.analysis import analyse_pattern
from flows.errors import CampaignControlError, UsageError
from lab.diffraction import PHASES
from lab.experiment import ExperimentState
from lab.spec import CampaignSpec

__all__ = ["REANALYSABLE_STATUSES", "Reanalysed", "ReanalysisResult", "check_phases", "reanalyse"]

S = ExperimentState
#: Campaign statuses a re-analysis runs on (``paused`` only with nothing in flight).
REANALYSABLE_STATUSES = ("completed", "cancelled", "failed", "paused")
#: Objective values closer than this count as unchanged.
_SAME = 1e-12


@dataclass(frozen=True)
class Reanalysed:
    """One experiment analysed again.

    Attributes:
        old, new: objective values of its previous latest analysis and of the new one.
        old_reward, new_reward: its reward under the active reward version before (``None``: none
            was stored) and after.
        residual: the new fit's weighted profile R-factor (dimensionless).
        unexplained: the new residual exceeds the workflow's ``max_fit_residual``.
    """

    experiment_id: int
    sample_id: str
    old: dict[str, float]
    new: dict[str, float]
    old_reward: float | None
    new_reward: float
    residual: float
    unexplained: bool

    def change(self, objective: str) -> float:
        """New minus old value of ``objective`` (0.0 when either analysis lacks it)."""
        if objective not in self.old or objective not in self.new:
            return 0.0
        return float(self.new[objective] - self.old[objective])

    @property
    def largest_change(self) -> tuple[str, float]:
        """The objective that moved most and by how much (new minus old)."""
        names = sorted(set(self.old) | set(self.new))
        name = max(names, key=lambda n: (abs(self.change(n)), n), default="")
        return name, self.change(name) if name else 0.0

    @property
    def changed(self) -> tuple[str, ...]:
        """The objectives that changed, appeared or disappeared, by name."""
        return tuple(n for n in sorted(set(self.old) | set(self.new))
                     if n not in self.old or n not in self.new or abs(self.change(n)) > _SAME)

    @property
    def moved(self) -> bool:
        """Whether any objective changed (or one appeared or disappeared)."""
        return bool(self.changed)


@dataclass(frozen=True)
class ReanalysisResult:
    """What a re-analysis did.

    Attributes:
        version: the new analysis version (the same for every experiment re-analysed).
        phases: the candidate phases fitted.
        reward_version: the reward version whose rewards were recomputed (the active one).
        experiments: one entry per experiment re-analysed, in creation order.
        failed_kept: failed experiments left as they were.
    """

    campaign_id: int
    version: int
    phases: tuple[str, ...]
    reward_version: str
    experiments: tuple[Reanalysed, ...]
    failed_kept: int

    @property
    def moved(self) -> int:
        """How many experiments' objectives changed."""
        return sum(e.moved for e in self.experiments)

    @property
    def largest(self) -> tuple[str, str, float] | None:
        """(sample id, objective, change) of the largest objective change; ``None`` if nothing moved."""
        moved = [e for e in self.experiments if e.moved]
        if not moved:
            return None
        top = max(moved, key=lambda e: (abs(e.largest_change[1]), e.sample_id))
        return top.sample_id, *top.largest_change

    def summary(self) -> str:
        """One line: the version, how many experiments moved, and the largest change."""
        head = (f"campaign {self.campaign_id}: analysis version {self.version} of {len(self.experiments)} experiments "
                f"(phases {', '.join(self.phases)}); rewards under {self.reward_version} recomputed")
        largest = self.largest
        if largest is None:
            return f"{head}; no objective changed"
        sample, objective, delta = largest
        return f"{head}; objectives moved in {self.moved}, largest {objective} of {sample} ({delta:+.4g})"


def check_phases(phases: Sequence[str], target_phase: str) -> tuple[str, ...]:
    """The candidate phases as a tuple, checked: known, distinct, the target among them.

    Raises:
        UsageError: an unknown or repeated phase, or the target phase missing.
    """
    chosen = tuple(p.strip() for p in phases)
    unknown = [p for p in chosen if p not in PHASES]
    if unknown:
        raise UsageError(f"unknown phase {', '.join(map(repr, unknown))}; the analysis knows {', '.join(PHASES)}")
    if len(set(chosen)) != len(chosen):
        raise UsageError(f"phases must be distinct, got {', '.join(chosen)}")
    if target_phase not in chosen:
        raise UsageError(f"the campaign's target phase {target_phase} must be among the fitted phases {', '.join(chosen)}")
    return chosen


def _check_status(s: Session, campaign_id: int) -> None:
    status = db.get_campaign(s, campaign_id).status
    if status not in REANALYSABLE_STATUSES:
        raise CampaignControlError(f"campaign {campaign_id} is {status}; only completed, cancelled, failed or paused "
                                   "campaigns can be re-analysed (pause it first)")
    flying = db.list_experiments(s, campaign_id, states=[S.DISPATCHED, S.RUNNING])
    if flying:
        raise CampaignControlError(f"campaign {campaign_id} is paused with {len(flying)} experiments in flight "
                                   "(dispatched or running); re-analyse it once they have finished")


def reanalyse(store: db.Store, campaign_id: int, at: datetime, phases: Sequence[str] | None = None) -> ReanalysisResult:
    """Analyse every measured experiment's stored pattern again as a new version; recompute active rewards.

    Args:
        at: when the re-analysis is made (aware UTC; stamps the analyses, rewards and event).
        phases: candidate phases to fit (default: all of :data:`lab.diffraction.PHASES`).

    Raises:
        CampaignNotFound: no campaign has this id.
        CampaignControlError: the campaign may be analysing right now (see the module docstring).
        UsageError: a bad list of phases (see :func:`check_phases`).
    """
    with store.session() as s:
        _check_status(s, campaign_id)
        spec = CampaignSpec.from_store_dict(db.get_campaign(s, campaign_id).spec)
        chosen = check_phases(PHASES if phases is None else phases, spec.workflow.target_phase)
        version = db.max_analysis_version(s, campaign_id) + 1
        reward = db.get_reward_definition(s, campaign_id)
        old_rewards = db.rewards_for(s, campaign_id, reward.version)
        directions = {o.name: o.direction for o in spec.objectives}
        done: list[Reanalysed] = []
        failed_kept = 0
        for e in db.list_experiments(s, campaign_id):
            if e.state is S.FAILED:
                failed_kept += 1
                continue
            patterns = db.load_measurements(s, e.id, name="xrd_pattern")
            if e.state not in (S.MEASURED, S.REWARDED) or not patterns:
                continue
            old = db.latest_objectives(s, e.id) or {}
            estimate, objectives = analyse_pattern(patterns[-1].array(), spec.workflow.target_phase, chosen)
            db.store_analysis(s, e.id, objectives, {**estimate.to_dict(), "phases": list(chosen)}, at, version=version)
            value = reward.compute(objectives, directions)
            db.store_reward(s, e.id, reward.version, value, at, replace=True)
            if e.state is S.MEASURED:
                db.transition(s, e.id, S.REWARDED, at)
            done.append(Reanalysed(e.id, e.sample_id, old, objectives, old_rewards.get(e.id), value, estimate.residual,
                                   estimate.residual > spec.workflow.max_fit_residual))
        result = ReanalysisResult(campaign_id, version, chosen, reward.version, tuple(done), failed_kept)
        detail = {"version": version, "phases": list(chosen), "reward_version": reward.version,
                  "moved": {e.sample_id: {n: [e.old.get(n), e.new.get(n)] for n in e.changed} for e in done if e.moved},
                  "rewards": {e.sample_id: [e.old_reward, e.new_reward] for e in done if e.old_reward != e.new_reward}}
        db.log_event(s, at, "info", "reanalysis", result.summary(), campaign_id=campaign_id, detail=detail)
    return result
