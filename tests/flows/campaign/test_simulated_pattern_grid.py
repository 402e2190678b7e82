"""The simulated lab's diffractometer serves its pattern on the scan's own grid (3501 points, 10-80°)."""

from __future__ import annotations

import numpy as np
import pytest

from flows.campaign.runtime import simulated_rig
from lab.spec import InstrumentsSpec
from simulators.diffractometer import DEFAULT_SCAN_GRID


def test_the_last_point_of_a_default_scan_is_80_degrees_and_measured() -> None:
    roles = InstrumentsSpec()
    with simulated_rig(roles, seed=3) as rig:
        doser, xrd = rig.instruments[roles.dosing[0]], rig.instruments[roles.diffractometer[0]]
        dose = {"masses_mg": {"BaCO3": 711.9, "TiO2": 288.1}}
        doser.start_step("S-1:dose", "S-1", dose)
        rig.clock.advance(doser.step_duration_s(dose) + 60.0)  # type: ignore[attr-defined]
        assert doser.job_status("S-1:dose").state == "done"
        scan = {"start_deg": 10.0, "stop_deg": 80.0, "step_deg": 0.02}
        xrd.start_step("S-1:scan", "S-1", scan)
        rig.clock.advance(xrd.step_duration_s(scan) + 60.0)  # type: ignore[attr-defined]
        [measurement] = xrd.collect_step("S-1:scan")
    pattern = measurement.array()
    assert pattern.shape == (3501, 2) and DEFAULT_SCAN_GRID.size == 3501
    np.testing.assert_array_equal(pattern[:, 0], DEFAULT_SCAN_GRID)
    assert pattern[-1, 0] == pytest.approx(80.0)
    assert pattern[-1, 1] > 0  # background counts at 80°, not the 0 of a grid that stops at 79.98°
    assert pattern[-1, 1] == pytest.approx(np.median(pattern[-50:, 1]), rel=0.5)
