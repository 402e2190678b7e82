"""Errors of the orchestration layer.

Tree::

    FlowError
     +-- CampaignControlError (ValueError)   pause/resume/cancel/approve not possible in this state
     +-- MissingInstruments (LookupError)    a campaign names instruments the lab does not have
"""

from __future__ import annotations

__all__ = ["CampaignControlError", "FlowError", "MissingInstruments"]


class FlowError(Exception):
    """Root of the errors raised by :mod:`flows`."""


class CampaignControlError(FlowError, ValueError):
    """A control command does not apply to the campaign's current status."""


class MissingInstruments(FlowError, LookupError):
    """A campaign's spec names instruments that are not connected."""
