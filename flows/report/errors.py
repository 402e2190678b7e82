"""Errors of the campaign report.

Tree::

    flows.errors.FlowError
     +-- ReportNotWritten (OSError)   the report file cannot be written where asked (nothing is left behind)

An unknown campaign is :class:`db.errors.CampaignNotFound`. :mod:`flows.cli.errors` prints either as one line.
"""

from __future__ import annotations

from flows.errors import FlowError

__all__ = ["ReportNotWritten"]


class ReportNotWritten(FlowError, OSError):
    """The report could not be written to the path asked for; no file, whole or partial, is left there."""
