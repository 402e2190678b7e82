"""Errors of the orchestration layer.

Tree::

    FlowError
     +-- CampaignControlError (ValueError)   pause/resume/cancel/approve not possible in this state
     +-- CampaignFailed (RuntimeError)       a campaign stopped at run time; the store says why (status failed)
     +-- MissingInstruments (LookupError)    a campaign names instruments the lab does not have
     +-- CampaignRefused (ValueError)        at queue time, the lab cannot run the campaign (one problem a line)
     +-- ForecastRefused (ValueError)        too little of a training run (or too few points) to forecast
     +-- TrainingRunError (ValueError)       a training-run directory lacks a file or holds a malformed one
     +-- TrainingConfigError (ValueError)    a `lab train` config file has unknown keys or bad values
     +-- NoTrainedPolicy (LookupError)       a campaign or update needs an RL policy version the store lacks
     +-- UsageError (ValueError)             a command's options do not fit together or name something missing
"""

from __future__ import annotations

__all__ = ["CampaignControlError", "CampaignFailed", "CampaignRefused", "FlowError", "ForecastRefused", "MissingInstruments", "NoTrainedPolicy",
           "TrainingConfigError", "TrainingRunError", "UsageError"]


class FlowError(Exception):
    """Root of the errors raised by :mod:`flows`."""


class CampaignControlError(FlowError, ValueError):
    """A control command does not apply to the campaign's current status."""


class CampaignFailed(FlowError, RuntimeError):
    """A campaign could not go on at run time; it is marked ``failed`` in the store with this reason."""


class MissingInstruments(FlowError, LookupError):
    """A campaign's spec names instruments that are not connected."""


class CampaignRefused(FlowError, ValueError):
    """A campaign refused at ``lab queue``: the lab it would run on cannot run it (nothing is stored).

    Attributes:
        source: the spec file.
        problems: one line per problem, each naming the spec field, what it allows and why the lab
            refuses it (see :mod:`flows.campaign.admission`).
    """

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(f"{source} cannot run on this lab: " + "; ".join(self.problems))

    def __reduce__(self) -> tuple[type, tuple[str, list[str]]]:
        return (type(self), (self.source, self.problems))


class ForecastRefused(FlowError, ValueError):
    """A learning-curve forecast was refused: too little of the run, too few points, or no stable fit."""


class TrainingRunError(FlowError, ValueError):
    """A training-run directory is missing ``run.json``/``curve.jsonl`` or one of them is malformed."""


class TrainingConfigError(FlowError, ValueError):
    """A training configuration has unknown keys or values of the wrong type or range."""


class NoTrainedPolicy(FlowError, LookupError):
    """The store holds no (or not the named) version of the RL policy."""


class UsageError(FlowError, ValueError):
    """A command's options do not fit together, or name a file, family or method that does not exist."""
