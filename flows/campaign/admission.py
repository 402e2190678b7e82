"""Admission: a campaign is checked against the lab it will run on before anything is stored.

``lab queue`` and ``lab run`` call :func:`admit` once the spec is valid (:func:`lab.spec.load_spec`)
and before the store is opened, so a campaign the instruments would refuse is refused before any
powder is weighed. Every problem is found in one pass (:func:`admission_problems`):

1. The target phase is one the phase analysis fits (``lab.diffraction.PHASES``, the phases
   :func:`lab.phase_analysis.estimate_phases` uses).
2. On a lab file, every instrument the spec names is in the file, of its role's kind (the
   simulated lab is started shaped like the campaign, so it has them all).
3. Every step an experiment can plan is inside each named instrument's limits:
   :func:`lab.workflow.plan_steps` runs at the extremes of the search space (:func:`extreme_points`)
   and each step's command goes through its driver's own checks
   (:func:`instruments.registry.step_limit_problems`), with no transport. The extremes suffice:
   each check is a range or a set per argument, and a precursor's mass is a linear-fractional
   function of the fractions, so its extremes lie at the vertices of the feasible fractions.

Each problem is one line naming the spec field, what it allows, the instruments and their
refusal, for example::

    workflow.temperature: parameter 'temperature_c' spans 1500.0..2000.0 °C; furnace-1 (simulated lab)
    would refuse: temperature_c=1500.0 °C is outside the allowed range 100.0..1400.0 °C; ...
"""

from __future__ import annotations

import itertools
from typing import Any

from flows.campaign.lab_limits import LabLimits
from flows.errors import CampaignRefused
from instruments.registry import Limits, step_limit_problems
from lab.diffraction import PHASES
from lab.instrument_kind import InstrumentKind
from lab.search_space import CategoricalParameter, CompositionParameter, ContinuousParameter, IntegerParameter, Parameter
from lab.spec import INSTRUMENT_ROLES, CampaignSpec
from lab.workflow import plan_steps

__all__ = ["MAX_VERTEX_ELEMENTS", "admission_problems", "admit", "composition_vertices", "extreme_points"]

#: The workflow role (a field of ``[workflow]`` naming a parameter) behind each argument of a step;
#: the other arguments come from constants of the workflow.
_ROLE_OF = {("anneal", "temperature_c"): "temperature", ("anneal", "dwell_h"): "dwell",
            ("anneal", "atmosphere"): "atmosphere", ("dose", "precursor"): "composition", ("dose", "masses_mg"): "composition"}
_ROLES = ("composition", "temperature", "dwell", "atmosphere")
#: Compositions of more elements are checked at each element's low and high, not at every vertex.
MAX_VERTEX_ELEMENTS = 12
_TOL = 1e-9


def admit(spec: CampaignSpec, lab: LabLimits, source: str) -> None:
    """Refuse ``spec`` if ``lab`` cannot run it.

    Args:
        spec: a validated campaign spec.
        lab: the limits of the lab it will run on (:mod:`flows.campaign.lab_limits`).
        source: the spec file, for the messages.

    Raises:
        CampaignRefused: with every problem of :func:`admission_problems`, one line each.
    """
    problems = admission_problems(spec, lab)
    if problems:
        raise CampaignRefused(source, problems)


def admission_problems(spec: CampaignSpec, lab: LabLimits) -> list[str]:
    """Every reason ``lab`` cannot run ``spec`` (see the module docstring); empty when it can."""
    return [*_phase_problems(spec), *_name_problems(spec, lab), *_limit_problems(spec, lab)]


def _phase_problems(spec: CampaignSpec) -> list[str]:
    target = spec.workflow.target_phase
    if target in PHASES:
        return []
    return [f"workflow.target_phase: {target!r} is not a phase the analysis can fit; expected one of {', '.join(PHASES)}"]


def _name_problems(spec: CampaignSpec, lab: LabLimits) -> list[str]:
    if not lab.names_fixed:
        return []
    out = []
    for kind, names in spec.instruments.by_kind().items():
        have = [n for n, (k, _) in lab.instruments.items() if k == kind]
        for name in names:
            if name not in lab.instruments:
                out.append(f"instruments.{INSTRUMENT_ROLES[kind]}: {name!r} is not in {lab.source} "
                           f"(its {kind.value} instruments: {', '.join(have) or 'none'})")
            elif lab.instruments[name][0] != kind:
                out.append(f"instruments.{INSTRUMENT_ROLES[kind]}: {name!r} is a {lab.instruments[name][0].value} "
                           f"in {lab.source}, not a {kind.value}")
    return out


def extreme_points(spec: CampaignSpec) -> list[tuple[frozenset[str], dict[str, Any]]]:
    """Points of the search space at which every step's command takes its extreme values.

    The centre of the space (for the steps no parameter changes), then each parameter the workflow
    reads at each of its extremes, the others at the centre: a number's low and high, every
    categorical choice, every vertex of a composition's feasible fractions
    (:func:`composition_vertices`).

    Returns:
        ``(roles, params)`` pairs: the workflow roles (``"temperature"``, ``"dwell"``,
        ``"atmosphere"``, ``"composition"``) the point varies (none for the centre), and the point.

    Example:
        >>> from lab.spec import example_path, load_spec
        >>> points = extreme_points(load_spec(example_path("batio3")))
        >>> [(sorted(roles), params["temperature_c"]) for roles, params in points][:4]
        [([], 1025.0), (['composition'], 1025.0), (['composition'], 1025.0), (['temperature'], 700.0)]
    """
    space = spec.search_space()
    centre = space.decode([0.5] * space.dim)
    wf = spec.workflow
    roles = {role: getattr(wf, role) for role in _ROLES}
    points: list[tuple[frozenset[str], dict[str, Any]]] = [(frozenset(), centre)]
    for p in space.parameters:
        varied = frozenset(role for role, name in roles.items() if name == p.name)
        if varied:
            points += [(varied, {**centre, p.name: value}) for value in _extremes(p)]
    return points


def _extremes(p: Parameter) -> list[Any]:
    if isinstance(p, (ContinuousParameter, IntegerParameter)):
        return [p.low, p.high]
    if isinstance(p, CategoricalParameter):
        return list(p.choices)
    return composition_vertices(p)


def composition_vertices(p: CompositionParameter) -> list[dict[str, float]]:
    """The vertices of ``{low <= x <= high, sum(x) = total}``: all elements but one at a bound.

    With more than :data:`MAX_VERTEX_ELEMENTS` elements, each element at its low and its high
    with the rest spread by the space's projection instead (a few points, not ``n 2^(n-1)``).

    Example:
        >>> composition_vertices(CompositionParameter("x", (("Ba", 0.35, 0.65), ("Ti", 0.35, 0.65))))
        [{'Ba': 0.65, 'Ti': 0.35}, {'Ba': 0.35, 'Ti': 0.65}]
    """
    n = len(p.bounds)
    if n > MAX_VERTEX_ELEMENTS:
        return [p.decode([0.5] * i + [end] + [0.5] * (n - i - 1)) for i in range(n) for end in (0.0, 1.0)]
    out: list[dict[str, float]] = []
    for k, (free, lo, hi) in enumerate(p.bounds):
        others = [b for i, b in enumerate(p.bounds) if i != k]
        for corner in itertools.product(*[(b_lo, b_hi) for _, b_lo, b_hi in others]):
            rest = p.total - sum(corner)
            if lo - _TOL <= rest <= hi + _TOL:
                point = {**dict(zip([e for e, _, _ in others], corner)), free: min(max(rest, lo), hi)}
                vertex = {e: point[e] for e in p.elements}
                if all(any(abs(vertex[e] - v[e]) > _TOL for e in p.elements) for v in out):
                    out.append(vertex)
    return out


def _limit_problems(spec: CampaignSpec, lab: LabLimits) -> list[str]:
    names = spec.instruments.by_kind()
    refusals: dict[tuple[str, str], list[str]] = {}  # (what the spec allows, driver's message) -> instruments
    for varied, params in extreme_points(spec):
        for step in plan_steps(params, spec.workflow):
            kind = InstrumentKind(step.instrument_kind)
            for name in names.get(kind, []):
                if name not in lab.instruments or lab.instruments[name][0] != kind:
                    continue  # a name problem, reported on its own
                limits = lab.instruments[name][1]
                for argument, message in step_limit_problems(kind, step.command, limits):
                    role = _ROLE_OF.get((step.name, argument))
                    if role is not None and getattr(spec.workflow, role) is None:
                        role = None  # from a constant (workflow.default_atmosphere)
                    if not (role in varied if role else not varied):
                        continue  # seen where what drives it is at an extreme (or, for a constant, at the centre)
                    who = refusals.setdefault((_allowed(spec, step.name, argument, limits), message), [])
                    if name not in who:
                        who.append(name)
    lines: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for (allowed, message), who in refusals.items():
        lines.setdefault((allowed, tuple(who)), []).append(message)
    return [f"{allowed}; {', '.join(who)} ({lab.source}) would refuse: {'; '.join(messages)}"
            for (allowed, who), messages in lines.items()]


def _allowed(spec: CampaignSpec, step: str, argument: str, limits: Limits) -> str:
    """The spec field behind ``argument`` of ``step``, and what the spec lets it be."""
    wf = spec.workflow
    space = spec.search_space()
    if step == "anneal" and argument in ("temperature_c", "dwell_h"):
        role = "temperature" if argument == "temperature_c" else "dwell"
        p = space[getattr(wf, role)]
        assert isinstance(p, (ContinuousParameter, IntegerParameter))  # lab.spec checks the kinds
        return f"workflow.{role}: parameter {p.name!r} spans {p.low}..{p.high} {p.unit}".rstrip()
    if step == "anneal" and argument == "atmosphere":
        if wf.atmosphere is None:
            return f"workflow.default_atmosphere = {wf.default_atmosphere!r}"
        choices = space[wf.atmosphere]
        assert isinstance(choices, CategoricalParameter)  # lab.spec checks the kinds
        return f"workflow.atmosphere: parameter {wf.atmosphere!r} chooses among {', '.join(choices.choices)}"
    if step == "anneal" and argument == "ramp_c_per_min":
        return f"workflow.ramp_c_per_min = {wf.ramp_c_per_min} °C/min"
    if step == "dose" and argument == "precursor":
        used = ", ".join(f"{formula} for {element}" for element, formula in wf.precursors.items())
        loaded = ", ".join(getattr(limits, "precursors", ()))
        return f"workflow.precursors: {used}; the feeders hold {loaded}"
    if step == "dose":
        return f"workflow.batch_mg = {wf.batch_mg} mg at the extreme fractions of parameter {wf.composition!r}"
    if step == "xrd":
        return f"workflow.two_theta = {list(wf.two_theta)} (start, stop, step in degrees)"
    if step == "uvvis" and wf.uvvis_nm is not None:
        return f"workflow.uvvis_nm = {list(wf.uvvis_nm)} (start, stop, step in nm)"
    return f"workflow: the {step} step's {argument}"
