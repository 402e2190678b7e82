"""FaultPlan validation and FaultInjector draws: seeded, scheduled and forced."""

from __future__ import annotations

import pytest

from simulators.faults import FAULT_KINDS, FaultInjector, FaultPlan


def draws(plan: FaultPlan, n: int = 2000) -> list[str | None]:
    injector = FaultInjector(plan)
    return [injector.next_reply_fault("PROG:STAT?") for _ in range(n)]


def test_no_faults_by_default():
    assert set(draws(FaultPlan(), 200)) == {None}
    assert not FaultInjector().next_job_stuck()


def test_draws_are_seeded_and_follow_the_probabilities():
    plan = FaultPlan(garbled=0.2, no_reply=0.1, seed=5)
    first, second = draws(plan), draws(plan)
    assert first == second
    assert draws(FaultPlan(garbled=0.2, no_reply=0.1, seed=6)) != first
    assert first.count("garbled") / len(first) == pytest.approx(0.2, abs=0.03)
    assert first.count("no_reply") / len(first) == pytest.approx(0.1, abs=0.03)
    assert set(first) == {None, "garbled", "no_reply"}


def test_schedule_fires_once_at_its_command_number():
    injector = FaultInjector(FaultPlan(schedule=((2, "drop"), (4, "late_reply"))))
    assert [injector.next_reply_fault() for _ in range(5)] == [None, "drop", None, "late_reply", None]
    assert injector.history == [(2, "drop"), (4, "late_reply")]


def test_forced_faults_come_first_and_can_target_a_header():
    injector = FaultInjector(FaultPlan(garbled=1.0))
    injector.force("device_error", times=2)
    injector.force("no_reply", on="prog:run")
    assert injector.next_reply_fault("PROG:STAT?") == "device_error"
    assert injector.next_reply_fault("PROG:RUN") == "device_error"
    assert injector.next_reply_fault("PROG:RUN") == "no_reply"
    assert injector.next_reply_fault("PROG:RUN") == "garbled"
    injector.force("drop")
    injector.clear()
    assert injector.next_reply_fault() == "garbled"


def test_stuck_is_drawn_per_job_start():
    injector = FaultInjector(FaultPlan(stuck=0.0))
    injector.force("stuck", times=2)
    assert [injector.next_job_stuck() for _ in range(3)] == [True, True, False]
    always = FaultInjector(FaultPlan(stuck=1.0))
    assert always.next_job_stuck() and always.next_reply_fault() is None


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"garbled": 1.5}, "garbled=1.5 is a probability"),
    ({"garbled": 0.6, "drop": 0.6}, "add up to 1.2"),
    ({"late_s": -1}, "late_s=-1"),
    ({"schedule": ((1, "explode"),)}, "unknown fault kind 'explode'"),
    ({"schedule": ((0, "drop"),)}, "start at 1"),
])
def test_bad_plans_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FaultPlan(**kwargs)


def test_force_checks_its_arguments():
    injector = FaultInjector()
    with pytest.raises(ValueError, match="expected one of " + ", ".join(FAULT_KINDS)):
        injector.force("gremlins")
    with pytest.raises(ValueError, match="times=0"):
        injector.force("drop", times=0)
