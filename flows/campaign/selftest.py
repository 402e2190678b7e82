"""Instrument self-test: run every public command of every instrument once and time it.

What a scientist runs after plugging in a device (``lab instruments selftest``). Per instrument:

1. ``identify`` (``*IDN?``), ``status``, ``errors`` (drains the ``SYST:ERR?`` queue);
2. a short job (:mod:`flows.campaign.selftest_jobs`) under the key ``selftest-<name>-<UTC timestamp>``
   for sample ``SELFTEST``:

   * dosing station: ``start_dose`` of about 10 mg of each loaded precursor, then ``result``;
   * furnace: ``start_program`` at 200 °C with the shortest dwell and fastest ramp the
     limits allow, in air, then ``temperature_log`` and ``unload``;
   * diffractometer: ``start_scan`` over 20-30 degrees with a coarse step, ``fetch_pattern``;
   * UV-Vis spectrometer: ``start_spectrum`` over 300-600 nm by 10 nm, ``fetch_spectrum``;

   each start is sent a second time with the same key, which must start nothing new, and the job
   is followed with ``job_status`` until it is done (see :func:`wait_for_job`);
3. ``abort`` (a no-op when nothing runs; safe to repeat).

Values are clamped into each driver's limits. **On real instruments this does real work:** the
dosing station doses a few milligrams into a vial, each furnace actually heats (to 200 °C by
default), the diffractometer loads and scans the sample named ``SELFTEST``. A furnace program
takes about an hour with default limits, longer than the default wait cap: the furnace is then
stopped with ``abort`` before ``unload``, which is reported, not counted as a failure.

Every command's :class:`~instruments.errors.InstrumentError` or :class:`ValueError` is caught and
recorded as a failed row; the commands after it still run where they make sense (nothing that
needs a job runs when its start failed).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flows.campaign.runtime import Rig
from flows.campaign.selftest_jobs import job_for
from instruments.errors import InstrumentError
from instruments.protocol import InstrumentStatus
from instruments.registry import KINDS

__all__ = ["SelftestRow", "selftest", "wait_for_job"]

#: Polling interval of a real instrument's job (seconds).
POLL_S = 5.0
#: A busy job whose ``seconds_left`` has not changed for this long is reported stuck (seconds).
STUCK_AFTER_S = 120.0
#: Order in which instrument kinds are tested (a dosed sample exists before it is heated/scanned).
KIND_ORDER = ("dosing", "furnace", "xrd", "uvvis")
#: Longest result text in a row, and longest error text (characters).
MAX_TEXT, MAX_ERROR = 90, 200


@dataclass(frozen=True)
class SelftestRow:
    """One command sent during the self-test.

    Attributes:
        instrument: the instrument's name (e.g. ``"furnace-1"``).
        kind: ``"dosing"``, ``"furnace"``, ``"xrd"`` (or ``"?"`` for an unknown driver).
        command: the driver method, e.g. ``"start_program"``, ``"start_program again"``.
        ok: True when the command worked.
        result: a short description of the reply, or the error text.
        seconds: real time the command took, waiting included (seconds).
    """

    instrument: str
    kind: str
    command: str
    ok: bool
    result: str
    seconds: float


def selftest(rig: Rig, *, max_wait_s: float = 900.0) -> list[SelftestRow]:
    """Run every public command of every instrument of ``rig`` once.

    Args:
        rig: connected instruments and their clock (simulated or real).
        max_wait_s: longest real wait for one job to finish (seconds); on a simulated rig the
            simulated clock is advanced instead (see :func:`wait_for_job`).

    Returns:
        One row per command, instruments in the order dosing, furnaces, diffractometers.

    Raises:
        KeyboardInterrupt: after sending ``abort`` to every instrument (best effort), so that an
            interrupted self-test leaves no furnace heating.
    """
    stamp = rig.clock.now().strftime("%Y%m%dT%H%M%S")
    order = [*KIND_ORDER, "?"]
    named = sorted(rig.instruments.items(), key=lambda item: order.index(kind_of(item[1])))
    rows: list[SelftestRow] = []
    try:
        for name, driver in named:
            rows.extend(_test_one(rig, name, driver, f"selftest-{name}-{stamp}", max_wait_s))
    except KeyboardInterrupt:
        for _, driver in named:
            with contextlib.suppress(InstrumentError):
                driver.abort()
        raise
    return rows


def kind_of(driver: Any) -> str:
    """The registry kind of ``driver`` (``"dosing"``, ``"furnace"``, ``"xrd"``), or ``"?"``."""
    return next((kind for kind, (cls, _) in KINDS.items() if isinstance(driver, cls)), "?")


def wait_for_job(rig: Rig, driver: Any, job_key: str, expected_s: float,
                 max_wait_s: float) -> tuple[InstrumentStatus, float, float]:
    """Follow ``job_key`` with ``job_status`` until it is no longer busy, or the cap is reached.

    On a simulated rig the simulated clock is advanced by ``expected_s`` at once, then by the
    device's ``seconds_left``, up to ``2 * expected_s + 60`` simulated seconds. On a real rig
    ``job_status`` is polled every :data:`POLL_S` seconds for at most ``max_wait_s`` real seconds.

    Args:
        rig: the rig whose clock to advance or sleep on.
        driver: the instrument running the job.
        job_key: the job's idempotency key.
        expected_s: the driver's estimate of the job's duration (seconds).
        max_wait_s: the real-time cap (seconds).

    Returns:
        ``(last status, seconds waited, seconds stalled)``: for how long, at the end, the job's
        ``seconds_left`` had not changed (a stuck job's keeps growing).
    """
    simulated = bool(rig.clock.simulated)
    cap = 2.0 * expected_s + 60.0 if simulated else max_wait_s
    began, waited = time.monotonic(), 0.0
    status = driver.job_status(job_key)
    last_left, changed_at = status.seconds_left, 0.0
    while status.state == "busy" and waited < cap:
        if simulated:
            step = min(expected_s if waited == 0.0 else max(status.seconds_left or 0.0, 1.0), cap - waited)
            rig.clock.sleep(step)
            waited += step
        else:
            rig.clock.sleep(min(POLL_S, cap - waited))
            waited = time.monotonic() - began
        status = driver.job_status(job_key)
        if status.seconds_left != last_left:
            last_left, changed_at = status.seconds_left, waited
    return status, waited, waited - changed_at


def _test_one(rig: Rig, name: str, driver: Any, key: str, max_wait_s: float) -> list[SelftestRow]:
    """The rows of one instrument's self-test."""
    kind = kind_of(driver)
    rows: list[SelftestRow] = []

    def run(command: str, call: Callable[[], Any], describe: Callable[[Any], str]) -> tuple[bool, Any]:
        began = time.perf_counter()
        try:
            value = call()
            ok, text = True, describe(value)
        except (InstrumentError, ValueError) as exc:
            value, ok, text = None, False, f"{type(exc).__name__}: {exc}"
        text = _short(text, MAX_TEXT if ok else MAX_ERROR)
        rows.append(SelftestRow(name, kind, command, ok, text, time.perf_counter() - began))
        return ok, value

    run("identify", driver.identify, str)
    run("status", driver.status, _describe_status)
    run("errors", driver.errors, _describe_errors)
    job = job_for(kind, driver, key)
    if job is not None:
        started, _ = run(job.command, job.start, lambda s: f"{_describe_status(s)}; key {key}")
        if started:
            run(f"{job.command} again", job.start, lambda s: _describe_repeat(s, key))
            waited_ok, waited = run("job_status", lambda: _checked_wait(rig, driver, key, job.expected_s, max_wait_s),
                                    _describe_wait)
            finished = waited_ok and waited[0].state == "done"
            for command, call, describe in job.collect(finished):
                run(command, call, describe)
    run("abort", driver.abort, lambda _: "OK")
    return rows


def _checked_wait(rig: Rig, driver: Any, key: str, expected_s: float,
                  max_wait_s: float) -> tuple[InstrumentStatus, float, float]:
    """:func:`wait_for_job`, raising :class:`ValueError` for a stuck, failed or vanished job."""
    status, waited, stalled = wait_for_job(rig, driver, key, expected_s, max_wait_s)
    if status.state in ("error", "unknown", "aborted"):
        raise ValueError(f"job {key} is {status.state} after {waited:.0f} s (expected done)")
    if status.state == "busy" and stalled >= STUCK_AFTER_S:
        raise ValueError(f"job {key} is stuck: {_describe_status(status)}, unchanged for {stalled:.0f} s")
    return status, waited, stalled


def _describe_status(status: InstrumentStatus) -> str:
    phase = status.detail.get("phase", status.state)
    parts = [status.state if phase == status.state else f"{status.state} ({phase})"]
    if status.state == "busy" and status.seconds_left is not None:
        parts.append(f"{status.seconds_left:.0f} s left")
    if "temperature_c" in status.detail:
        parts.append(f"{status.detail['temperature_c']:.1f} °C")
    return ", ".join(parts)


def _describe_repeat(status: InstrumentStatus, key: str) -> str:
    if status.job_key != key or status.state == "unknown":
        raise ValueError(f"repeat with key {key} came back with job {status.job_key!r} ({status.state})")
    return f"same key -> no new job ({status.state})"


def _describe_wait(waited: tuple[InstrumentStatus, float, float]) -> str:
    status, seconds, _ = waited
    if status.state == "done":
        return f"done after {seconds:.0f} s"
    shown = f"{seconds:.0f}" if seconds >= 10.0 else f"{seconds:.1f}"
    return f"still {_describe_status(status)} after {shown} s (cap; raise --max-wait to wait longer)"


def _describe_errors(errors: list[tuple[int, str]]) -> str:
    if not errors:
        return "queue empty"
    return f"{len(errors)} drained: " + "; ".join(f"{code} {message}" for code, message in errors)


def _short(text: str, limit: int) -> str:
    """``text`` on one line, at most ``limit`` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 1] + "…"
