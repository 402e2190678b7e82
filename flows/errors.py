"""Errors of the orchestration layer.

Tree::

    FlowError
     +-- CampaignControlError (ValueError)   pause/resume/cancel/approve not possible in this state
"""

from __future__ import annotations

__all__ = ["CampaignControlError", "FlowError"]


class FlowError(Exception):
    """Root of the errors raised by :mod:`flows`."""


class CampaignControlError(FlowError, ValueError):
    """A control command does not apply to the campaign's current status."""
