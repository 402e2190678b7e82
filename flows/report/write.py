"""Write one campaign's HTML report atomically: a temporary file beside the target, then a rename.

A reader never sees a half-written report: the page is rendered in memory first, written to a
temporary file in the target's folder, flushed to disk, then renamed over the target
(:func:`os.replace`, atomic on one file system). On any error the temporary file is removed and
the target is left as it was.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

import db
from flows.report.data import load_report
from flows.report.errors import ReportNotWritten
from flows.report.html import render_html

__all__ = ["default_report_path", "write_report"]


def default_report_path(campaign_id: int, folder: Path | None = None) -> Path:
    """``report-<ID>.html`` in ``folder`` (default: the current directory)."""
    return (folder or Path.cwd()) / f"report-{campaign_id}.html"


def write_report(store: db.Store, campaign_id: int, path: Path, now: datetime) -> Path:
    """Render campaign ``campaign_id``'s report and write it to ``path``; returns the absolute path.

    Args:
        now: the time the report says it was generated (aware UTC).

    Raises:
        CampaignNotFound: no campaign has this id (nothing is written).
        ReportNotWritten: the folder is missing, or the file cannot be written there.
    """
    target = Path(path).expanduser().absolute()
    if target.is_dir():
        raise ReportNotWritten(f"cannot write the report to {target}: it is a folder; give a file name such as "
                               f"{target / f'report-{campaign_id}.html'}")
    if not target.parent.is_dir():
        raise ReportNotWritten(f"cannot write the report to {target}: folder {target.parent} does not exist")
    page = render_html(load_report(store, campaign_id), now)
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise ReportNotWritten(f"cannot write the report in {target.parent}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(page)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise ReportNotWritten(f"cannot write the report to {target}: {exc.strerror or exc}") from None
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target
