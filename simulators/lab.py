"""A whole simulated lab: one dosing station, N box furnaces and one diffractometer.

The instruments share one clock (a :class:`~lab.clock.SimulatedClock` in tests, so hours pass in
no time) and one :class:`~simulators.samples.SampleTray`, and each is served on its own
pseudo-terminal (default) or loopback socket, so the controller talks to them through the real
drivers, byte for byte.

Example:
    >>> from lab.clock import SimulatedClock
    >>> from instruments.registry import open_instrument
    >>> with SimulatedLab(SimulatedClock(), pattern_source=my_world_source) as sim:  # doctest: +SKIP
    ...     drivers = {n: open_instrument(sim.kinds[n], url, n) for n, url in sim.urls.items()}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lab.clock import Clock
from simulators.device import LineDevice
from simulators.diffractometer import DiffractometerSimulator, PatternSource
from simulators.dosing import DosingSimulator
from simulators.faults import FaultPlan
from simulators.furnace import FurnaceSimulator
from simulators.samples import SampleTray
from simulators.serve import Served, serve_pty, serve_socket
from simulators.spectrometer import SpectrometerSimulator, SpectrumSource

__all__ = ["SimulatedLab"]


class SimulatedLab:
    """Simulated instruments served on pseudo-terminals or loopback sockets.

    Default instrument names: ``"doser"``, ``"furnace-1"`` .. ``"furnace-N"``, ``"xrd"``.

    Args:
        clock: the time every simulator lives on.
        pattern_source: ``sample_id -> (two_theta, counts)`` for the diffractometers (required;
            wire the materials world in here).
        furnaces: how many box furnaces (named ``furnace-<i>``), or their names.
        faults: fault plans by instrument name (names not listed get none).
        seed: seed of the balance error and thermocouple noise.
        transport: ``"pty"`` (default) or ``"socket"``.
        dosing: names of the dosing stations.
        diffractometers: names of the diffractometers.
        spectrometers: names of the UV-Vis spectrometers (none by default).
        spectrum_source: ``(sample_id, wavelength_nm) -> absorbance`` for the spectrometers.

    Attributes:
        tray: the physical truth the simulators share (the controller never reads it).
        devices: the simulators by name.
        kinds: instrument kind by name (``"dosing"``, ``"furnace"``, ``"xrd"``), as
            :func:`instruments.registry.open_instrument` takes them.
        urls: where each instrument is served, by name.
        endpoints: ``(kind, url)`` by name.
    """

    def __init__(self, clock: Clock, pattern_source: PatternSource | None, furnaces: int | Sequence[str] = 4,
                 faults: Mapping[str, FaultPlan] | None = None, seed: int = 0, transport: str = "pty",
                 dosing: str | Sequence[str] = ("doser",), diffractometers: str | Sequence[str] = ("xrd",),
                 spectrometers: Sequence[str] = (), spectrum_source: SpectrumSource | None = None) -> None:
        if pattern_source is None or not callable(pattern_source):
            raise ValueError("SimulatedLab needs pattern_source, a callable sample_id -> (two_theta, counts) "
                             "(e.g. the materials world's measure on the tray's sample); a flat placeholder "
                             "pattern would make every experiment look the same")
        if transport not in ("pty", "socket"):
            raise ValueError(f"transport={transport!r}: expected 'pty' or 'socket'")
        names = _role_names(dosing, furnaces, diffractometers)
        names["uvvis"] = list(spectrometers)
        if names["uvvis"] and (spectrum_source is None or not callable(spectrum_source)):
            raise ValueError("SimulatedLab needs spectrum_source, a callable (sample_id, wavelength_nm) -> absorbance, "
                             "to serve spectrometers")
        plans = dict(faults or {})
        unknown = sorted(set(plans) - {n for group in names.values() for n in group})
        if unknown:
            raise ValueError(f"faults given for unknown instrument(s) {', '.join(unknown)}; "
                             f"instruments: {', '.join(n for group in names.values() for n in group)}")
        self.clock = clock
        self.tray = SampleTray()
        self.devices: dict[str, LineDevice] = {}
        self.kinds: dict[str, str] = {}
        for name in names["dosing"]:
            self._add("dosing", DosingSimulator(name, clock, self.tray, plans.get(name), seed=seed))
        for i, name in enumerate(names["furnace"], start=1):
            self._add("furnace", FurnaceSimulator(name, clock, self.tray, plans.get(name), seed=seed + i))
        for name in names["xrd"]:
            self._add("xrd", DiffractometerSimulator(name, clock, pattern_source, plans.get(name)))
        for name in names["uvvis"]:
            assert spectrum_source is not None  # checked above
            self._add("uvvis", SpectrometerSimulator(name, clock, spectrum_source, plans.get(name)))
        serve = serve_pty if transport == "pty" else serve_socket
        self.served: dict[str, Served] = {}
        try:
            for name, device in self.devices.items():
                self.served[name] = serve(device)
        except BaseException:
            self.close()
            raise
        self.urls = {name: served.url for name, served in self.served.items()}

    @property
    def endpoints(self) -> dict[str, tuple[str, str]]:
        """``(kind, url)`` of every instrument, by name."""
        return {name: (self.kinds[name], url) for name, url in self.urls.items()}

    def _add(self, kind: str, device: LineDevice) -> None:
        self.devices[device.name] = device
        self.kinds[device.name] = kind

    def close(self) -> None:
        """Stop serving every instrument."""
        for served in self.served.values():
            served.close()

    def __enter__(self) -> SimulatedLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _role_names(dosing: str | Sequence[str], furnaces: int | Sequence[str],
                diffractometers: str | Sequence[str]) -> dict[str, list[str]]:
    """Instrument names by kind, checked: at least one of each, no name used twice."""
    if isinstance(furnaces, int):
        if furnaces < 1:
            raise ValueError(f"furnaces={furnaces}: a lab needs at least one furnace")
        furnaces = [f"furnace-{i}" for i in range(1, furnaces + 1)]
    names = {kind: [group] if isinstance(group, str) else list(group)
             for kind, group in (("dosing", dosing), ("furnace", furnaces), ("xrd", diffractometers))}
    for kind, group in names.items():
        if not group:
            raise ValueError(f"a simulated lab needs at least one {kind} instrument")
    every = [n for group in names.values() for n in group]
    repeated = sorted({n for n in every if every.count(n) > 1})
    if repeated:
        raise ValueError(f"instrument name(s) {', '.join(repeated)} used more than once")
    return names
