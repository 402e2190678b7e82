"""UV-Vis spectrometer against its simulator over a real pseudo-terminal."""

from __future__ import annotations

import numpy as np
import pytest

from instruments.errors import InstrumentBusy, JobAborted, JobConflict, LimitViolation, NotReady, UnknownJob
from instruments.spectrometer import spectrum_duration_s, spectrum_points


def test_identify_and_idle(uvvis) -> None:
    assert uvvis.identify().startswith("LabSim,UVVis-DR200,uvvis")
    status = uvvis.status()
    assert status.state == "idle" and status.detail["start_nm"] == 250.0


def test_a_spectrum_arrives_whole_on_its_grid(uvvis, clock) -> None:
    from tests.instruments.conftest import fake_spectrum  # the source the simulator serves

    status = uvvis.start_spectrum("spec-1", "S-1", 300.0, 700.0, 2.0)
    expected = uvvis.expected_duration_s(300.0, 700.0, 2.0)
    assert expected == spectrum_duration_s(300.0, 700.0, 2.0) and status.seconds_left == pytest.approx(expected, abs=0.1)
    with pytest.raises(NotReady):
        uvvis.fetch_spectrum("spec-1")
    assert uvvis.status().detail["phase"] == "loading"
    clock.advance(expected)
    wavelength, absorbance = uvvis.fetch_spectrum("spec-1")
    assert wavelength.size == absorbance.size == spectrum_points(300.0, 700.0, 2.0) == 201
    assert wavelength[0] == 300.0 and wavelength[-1] == 700.0
    assert absorbance.tobytes() == fake_spectrum("S-1", wavelength).tobytes()


def test_start_is_idempotent_and_conflicts_are_refused(uvvis, uvvis_sim) -> None:
    first = uvvis.start_spectrum("spec-1", "S-1")
    again = uvvis.start_spectrum("spec-1", "S-1")
    assert again.job_key == first.job_key and uvvis_sim.starts == 1
    with pytest.raises(JobConflict):
        uvvis.start_spectrum("spec-1", "S-1", 260.0)
    with pytest.raises(InstrumentBusy):
        uvvis.start_spectrum("spec-2", "S-2")


def test_limits_are_checked_before_any_byte_is_sent(uvvis, traffic) -> None:
    before = len(traffic)
    for args in ((150.0, 800.0, 5.0), (250.0, 800.0, 0.1), (800.0, 250.0, 5.0)):
        with pytest.raises(LimitViolation):
            uvvis.start_spectrum("spec-x", "S-9", *args)
    assert len(traffic) == before


def test_aborted_and_unknown_jobs(uvvis, clock) -> None:
    uvvis.start_spectrum("spec-1", "S-1")
    uvvis.abort()
    assert uvvis.job_status("spec-1").state == "aborted"
    with pytest.raises(JobAborted):
        uvvis.fetch_spectrum("spec-1")
    assert uvvis.job_status("never").state == "unknown"
    with pytest.raises(UnknownJob):
        uvvis.fetch_spectrum("never")
    assert np.isfinite(uvvis.expected_duration_s())
