"""From a stored XRD pattern to objectives and a reward, inside one store transaction.

The analysis sees only the measured pattern (never the simulator's hidden truth): phase weight
fractions by non-negative least squares against reference patterns
(:func:`lab.phase_analysis.estimate_phases`), then the workflow's objectives, then the reward under
the campaign's active reward version. A pattern that no mixture of known phases explains (fit
residual above the workflow's ``max_fit_residual``) is a chemistry failure: a real, bad outcome
recorded for the policy with the reward definition's ``failure_reward``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
from sqlalchemy.orm import Session

import db
from flows.errors import FlowError
from lab.diffraction import PHASES
from lab.experiment import ExperimentState
from lab.phase_analysis import PhaseEstimate, estimate_phases
from lab.spec import CampaignSpec
from lab.workflow import objectives_from_phases

__all__ = ["analyse_experiment", "analyse_pattern", "reward_experiment"]


def analyse_pattern(pattern: np.ndarray, target_phase: str,
                    phases: Sequence[str] = PHASES) -> tuple[PhaseEstimate, dict[str, float]]:
    """Phase fractions of a stored ``xrd_pattern`` (columns 2-theta in degrees, counts) and the objectives from them.

    Args:
        phases: the candidate phases fitted (names from :data:`lab.diffraction.PHASES`).
    """
    estimate = estimate_phases(pattern[:, 0], pattern[:, 1], phases)
    return estimate, objectives_from_phases(estimate.fractions, estimate.residual, target_phase)


def analyse_experiment(s: Session, spec: CampaignSpec, experiment_id: int, now: datetime) -> str:
    """Analyse one experiment's pattern and reward it; returns a one-line account."""
    exp = db.get_experiment(s, experiment_id)
    patterns = db.load_measurements(s, experiment_id, name="xrd_pattern")
    if not patterns:
        reason = "no XRD pattern was recorded"
        db.transition(s, experiment_id, ExperimentState.FAILED, now, reason=reason)
        return f"{exp.sample_id} failed: {reason}"
    estimate, objectives = analyse_pattern(patterns[-1].array(), spec.workflow.target_phase)
    db.store_analysis(s, experiment_id, objectives, estimate.to_dict(), now)
    reward = db.get_reward_definition(s, exp.campaign_id)
    if estimate.residual > spec.workflow.max_fit_residual:
        reason = f"pattern not explained by known phases (fit residual {estimate.residual:.2f} > {spec.workflow.max_fit_residual})"
        db.transition(s, experiment_id, ExperimentState.FAILED, now, reason=reason)
        db.store_reward(s, experiment_id, reward.version, reward.failure_reward, now)
        return f"{exp.sample_id} failed: {reason}"
    db.transition(s, experiment_id, ExperimentState.MEASURED, now)
    reward_experiment(s, spec, experiment_id, now)
    return f"{exp.sample_id} measured: {spec.workflow.target_phase} fraction {objectives['target_fraction']:.3f}"


def reward_experiment(s: Session, spec: CampaignSpec, experiment_id: int, now: datetime, version: str | None = None) -> float:
    """Compute and store the reward of a measured experiment under ``version`` (default: active)."""
    exp = db.get_experiment(s, experiment_id)
    reward = db.get_reward_definition(s, exp.campaign_id, version)
    objectives = db.latest_objectives(s, experiment_id)
    if objectives is None:
        raise FlowError(f"experiment {experiment_id} has no analysis to reward; analyse it first")
    directions = {o.name: o.direction for o in spec.objectives}
    value = reward.compute(objectives, directions)
    db.store_reward(s, experiment_id, reward.version, value, now)
    if exp.state == ExperimentState.MEASURED:
        db.transition(s, experiment_id, ExperimentState.REWARDED, now)
    return value
