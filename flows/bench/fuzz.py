"""``lab bench fuzz``: hostile inputs through every loader of user files and every reply parser.

Each target feeds the bytes of :mod:`flows.bench.fuzz_inputs` to the real loader (through a file
where the loader reads one). An exception is **typed** when it is one of the project's error roots
(:data:`TYPED`, as :data:`flows.cli.errors.USER_ERRORS`: ``LabError``, ``InstrumentError``, ``StoreError``,
``PolicyError``, ``FlowError``), which the CLI prints as one line; anything else is **untyped**, a
bug. A spec or reward file that is accepted must also be storable (strict JSON, a 64-bit seed):
one that is not counts as untyped too (:class:`NotStorable`). Volume comes from a seeded :class:`random.Random` (fast: 100,000 inputs per target in
minutes); the first untyped failure of a target is then searched for and shrunk by hypothesis
(``find`` over ``st.randoms()``, database disabled, derandomised), so the example shown is small.

Example:
    >>> report = fuzz_bench(examples=20, targets=["reply"], seed=1, shrink=False)
    >>> report["targets"]["reply"]["tried"], report["targets"]["reply"]["untyped"]
    (20, 0)
"""

from __future__ import annotations

import contextlib
import json
import random
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from db.errors import StoreError
from flows.bench import fuzz_inputs as gen
from flows.bench.machine import machine_info
from flows.campaign.control import load_reward_file
from flows.campaign.lab_limits import lab_file_limits
from flows.errors import FlowError
from instruments.errors import InstrumentError, InstrumentTimeout
from instruments.scpi import ScpiClient, parse_error_reply
from lab.errors import LabError
from lab.pool_manifest import PoolSpec, load_manifest
from lab.pools import load_pool
from lab.spec import load_spec
from policies.errors import PolicyError

__all__ = ["TARGETS", "TYPED", "fuzz_bench", "run_target"]

#: The project's error roots: what the CLI prints as one line (as ``flows.cli.errors.USER_ERRORS``).
TYPED: tuple[type[Exception], ...] = (LabError, InstrumentError, StoreError, PolicyError, FlowError)
#: Inputs per chunk: each chunk draws from its own seeded stream.
CHUNK = 500
#: Examples shown per target (the shortest input of each distinct failure).
MAX_EXAMPLES = 5


class _BytesTransport:
    """A transport whose device has sent ``data`` and then falls silent (reads past it time out)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def write(self, data: bytes) -> None:
        pass

    def read_line(self) -> bytes:
        at = self.data.find(b"\n")
        if at < 0:
            raise InstrumentTimeout("no complete line")
        line, self.data = self.data[: at + 1], self.data[at + 1:]
        return line

    def read_exact(self, n: int) -> bytes:
        if len(self.data) < n:
            raise InstrumentTimeout(f"{len(self.data)} of {n} bytes")
        out, self.data = self.data[:n], self.data[n:]
        return out

    def close(self) -> None:
        pass


class NotStorable(Exception):
    """An accepted input that the store cannot hold (NaN or infinity in JSON, a seed beyond BIGINT): untyped."""


def _storable(data: dict[str, Any], seed: int) -> None:
    """Raise :class:`NotStorable` unless ``data`` is strict JSON and ``seed`` fits a signed 64-bit column."""
    try:
        json.dumps(data, allow_nan=False)
    except ValueError as exc:
        raise NotStorable(f"accepted, but its stored form is not JSON: {exc}") from None
    if not 0 <= seed < 2**63:
        raise NotStorable(f"accepted, but seed {seed} does not fit the store's BigInteger")


class _Loaders:
    """The real loaders, each fed one input's bytes (through a scratch file where it reads files)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pool = PoolSpec(name="fuzz/pool", path=folder / "pool.csv", inputs=("x", "y"),
                             input_ranges={"x": (0.0, 1.0), "y": (0.0, 10.0)}, objective="z", direction="maximize")

    def _file(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data)
        return path

    def spec(self, data: bytes) -> None:
        spec = load_spec(self._file("spec.toml", data))
        _storable(spec.to_store_dict(), spec.seed)



    def lab_file(self, data: bytes) -> None:
        lab_file_limits(self._file("lab.toml", data))

    def reward(self, data: bytes) -> None:
        _storable(load_reward_file(self._file("reward.toml", data)).to_dict(), 0)

    def manifest(self, data: bytes) -> None:
        self._file("pool.csv", b"x,y,z\n0.5,5,1\n")
        load_manifest(self._file("manifest.json", data))

    def csv(self, data: bytes) -> None:
        self._file("pool.csv", data)
        load_pool(self.pool)

    def reply(self, data: bytes) -> None:
        ScpiClient(_BytesTransport(data), "fuzz").query("MEAS?")
        line = data.split(b"\n", 1)[0].decode("utf-8", "replace")
        if line.startswith(("ERR ", "-", "0", "1", "2", "5")):
            parse_error_reply(line)

    def block(self, data: bytes) -> None:
        ScpiClient(_BytesTransport(data), "fuzz").query_block("DATA?")


#: Target name -> (input generator, name of the loader method of :class:`_Loaders`, what it is).
TARGETS: dict[str, tuple[Callable[[gen.Rng], bytes], str, str]] = {
    "spec": (gen.spec_input, "spec", "lab.spec.load_spec"),
    "lab-file": (gen.lab_file_input, "lab_file", "flows.campaign.lab_limits.lab_file_limits (load_lab_file)"),
    "reward-file": (gen.reward_input, "reward", "flows.campaign.control.load_reward_file"),
    "pool-manifest": (gen.manifest_input, "manifest", "lab.pool_manifest.load_manifest"),
    "pool-csv": (gen.csv_input, "csv", "lab.pools.load_pool"),
    "reply": (gen.reply_input, "reply", "instruments.scpi: ScpiClient.query, parse_error_reply"),
    "block": (gen.block_input, "block", "instruments.scpi: ScpiClient.query_block (IEEE 488.2 block)"),
}


def _untyped(call: Callable[[bytes], None], data: bytes) -> BaseException | None:
    """The exception ``call(data)`` raised if it is not a typed one, else None."""
    try:
        call(data)
    except TYPED:
        return None
    except Exception as exc:
        return exc
    return None


def _signature(exc: BaseException) -> str:
    """The exception's type and the innermost project frame it came from."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/site-packages/" not in f.filename]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    return f"{type(exc).__name__} at {where}"


def _shown(data: bytes, exc: BaseException) -> dict[str, Any]:
    text = repr(data)
    return {"input": text if len(text) <= 300 else text[:297] + "...", "input_bytes": len(data),
            "error": f"{_signature(exc)}: {str(exc)[:200]}"}


def _shrink(target: str, call: Callable[[bytes], None], budget: int, seed: int) -> dict[str, Any] | None:
    """A small untyped input found and shrunk by hypothesis (None if none is found in ``budget`` tries)."""
    try:  # a dev dependency (pyproject's [dev] extra); without it the shortest raw input is shown
        from hypothesis import HealthCheck, find, settings
        from hypothesis import strategies as st
        from hypothesis.errors import NoSuchExample
    except ImportError:
        return None

    make = TARGETS[target][0]
    inputs = st.randoms(use_true_random=False).map(make)
    config = settings(database=None, derandomize=True, max_examples=budget, deadline=None,
                      suppress_health_check=list(HealthCheck))
    try:
        data = find(inputs, lambda d: _untyped(call, d) is not None, settings=config)
    except NoSuchExample:
        return None
    exc = _untyped(call, data)
    return {**_shown(data, exc), "shrunk": True} if exc is not None else None


def _chunk(target: str, seed: int, index: int, n: int, folder: str) -> dict[str, Any]:
    """Inputs ``index * CHUNK ...`` of a target (their own seeded stream, so the split does not change them)."""
    make, method, _ = TARGETS[target]
    where = Path(folder) / f"{target}-{index}"
    where.mkdir(parents=True, exist_ok=True)
    call = getattr(_Loaders(where), method)
    rng = random.Random(f"{seed}:{target}:{index}")
    untyped = 0
    worst: dict[str, tuple[int, dict[str, Any]]] = {}
    for _ in range(n):
        data = make(rng)
        exc = _untyped(call, data)
        if exc is None:
            continue
        untyped += 1
        sig = _signature(exc)
        if sig not in worst or len(data) < worst[sig][0]:
            worst[sig] = (len(data), _shown(data, exc))
    return {"untyped": untyped, "worst": worst}


def run_target(target: str, examples: int, seed: int, folder: Path, shrink: bool = True,
               pool: Executor | None = None) -> dict[str, Any]:
    """Fuzz one target with ``examples`` inputs; its report (``tried``, ``untyped``, ``examples``, ...).

    Inputs come in chunks of :data:`CHUNK`, each from its own seeded stream, run in ``pool`` when given.
    """
    what = TARGETS[target][2]
    sizes = [min(CHUNK, examples - k) for k in range(0, examples, CHUNK)]
    start = time.perf_counter()
    jobs = [(target, seed, i, n, str(folder)) for i, n in enumerate(sizes)]
    parts = list(pool.map(_chunk, *zip(*jobs))) if pool is not None and jobs else [_chunk(*j) for j in jobs]
    wall = time.perf_counter() - start
    worst: dict[str, tuple[int, dict[str, Any]]] = {}
    for part in parts:
        for sig, (size, shown) in part["worst"].items():
            if sig not in worst or size < worst[sig][0]:
                worst[sig] = (size, shown)
    examples_shown = [shown for _, shown in sorted(worst.values(), key=lambda x: x[0])][:MAX_EXAMPLES]
    if shrink and worst:
        small = _shrink(target, getattr(_Loaders(folder), TARGETS[target][1]), min(2000, max(100, examples)), seed)
        if small is not None:
            examples_shown.insert(0, small)
    untyped = sum(p["untyped"] for p in parts)
    return {"loader": what, "tried": examples, "untyped": untyped, "typed_or_accepted": examples - untyped,
            "distinct_failures": len(worst), "examples": examples_shown, "wall_s": round(wall, 2),
            "per_s": round(examples / wall, 1) if wall > 0 else None}


def fuzz_bench(examples: int = 1000, targets: list[str] | None = None, seed: int = 0, shrink: bool = True,
               jobs: int = 1, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Fuzz each target (default: all of :data:`TARGETS`) with ``examples`` inputs; a JSON-able report.

    Args:
        examples: inputs per target.
        targets: names from :data:`TARGETS`.
        seed: seeds every input (the same seed gives the same inputs and counts, whatever ``jobs``).
        shrink: search and shrink a small failing input with hypothesis for each target that failed.
        jobs: processes to spread the inputs over.
        say: called with one line per finished target.

    Raises:
        ValueError: an unknown target name.
    """
    names = targets or list(TARGETS)
    unknown = [t for t in names if t not in TARGETS]
    if unknown:
        raise ValueError(f"unknown fuzz target(s) {', '.join(unknown)}; expected some of {', '.join(TARGETS)}")
    start = time.perf_counter()
    out: dict[str, Any] = {}
    scratch = "/dev/shm" if Path("/dev/shm").is_dir() else None  # memory-backed where there is one: many small files
    with tempfile.TemporaryDirectory(prefix="lab-fuzz-", dir=scratch) as tmp, contextlib.ExitStack() as stack:
        pool = stack.enter_context(ProcessPoolExecutor(jobs)) if jobs > 1 else None
        for name in names:
            out[name] = run_target(name, examples, seed, Path(tmp), shrink, pool)
            if say is not None:
                say(f"{name}: {out[name]['tried']} tried, {out[name]['untyped']} untyped ({out[name]['wall_s']:.1f} s)")
    return {"bench": "fuzz", "examples": examples, "seed": seed, "jobs": jobs, "targets": out,
            "untyped_total": sum(t["untyped"] for t in out.values()), "wall_s": round(time.perf_counter() - start, 2),
            "machine": machine_info()}
