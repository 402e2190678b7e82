"""Property: whatever a manifest or pool CSV holds, loading it succeeds or raises PoolError, never anything else.

The example counts are small so the suite stays fast; ``POOL_FUZZ_EXAMPLES=5000`` runs a real fuzz.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab.errors import PoolError
from lab.pool_manifest import load_manifest
from lab.pools import load_pool

EXAMPLES = int(os.environ.get("POOL_FUZZ_EXAMPLES", "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BASE: dict[str, Any] = {"name": "t/p", "pool_file": "p.csv", "inputs": ["a", "b"],
                        "input_ranges": {"a": [0, 1], "b": [0, 1]}, "objective": "y", "direction": "maximize",
                        "top5pct_count": 1}
KEYS = [*BASE, "top_fraction", "top1pct_count", "top0pct_count", "exclude_column", "parameter_spec", "replicates"]
GOOD_CSV = "a,b,y\n0.1,0.2,1.0\n0.3,0.4,2.0\n0.1,0.2,3.0\n"

scalars = (st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
           | st.sampled_from(["a", "b", "y", "p.csv", ".", "maximize", "mean", "refuse", "first"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.sampled_from(["a", "b", "y", "name", "low", "high"]), inner, max_size=3),
                           max_leaves=10)
entries = st.builds(lambda changes, drop: {**{k: v for k, v in BASE.items() if k not in drop}, **changes},
                    st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4),
                    st.sets(st.sampled_from(KEYS), max_size=2))
manifests = st.lists(entries | json_values, min_size=0, max_size=3) | json_values
cells = st.sampled_from(["nan", "inf", "-inf", "1e400", "", "x", "0.5", "\x00", '"', "0", "1", "\xff", "9" * 400, "0.1"])
csv_texts = st.lists(st.lists(cells, min_size=2, max_size=4), max_size=5).map(
    lambda rows: "a,b,y\n" + "".join(",".join(r) + "\n" for r in rows))


def outcome(manifest_bytes: bytes, csv_bytes: bytes) -> str:
    """``"ok"`` or ``"typed"``; anything else propagates and fails the property."""
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "manifest.json").write_bytes(manifest_bytes)
        (Path(d) / "p.csv").write_bytes(csv_bytes)
        try:
            for spec in load_manifest(Path(d) / "manifest.json"):
                load_pool(spec)
        except PoolError as err:
            assert err.problems and all("\n" not in p for p in err.problems), err
            return "typed"
    return "ok"


@SETTINGS
@given(manifests)
def test_random_manifests_give_a_pool_or_a_pool_error(manifest: Any) -> None:
    outcome(json.dumps(manifest).encode(), GOOD_CSV.encode())


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_as_a_manifest_give_a_pool_error(data: bytes) -> None:
    assert outcome(data, GOOD_CSV.encode()) == "typed" or data.strip().startswith(b"[")


@SETTINGS
@given(st.binary(max_size=300) | csv_texts.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_random_csvs_give_a_pool_or_a_pool_error(data: bytes) -> None:
    outcome(json.dumps([BASE]).encode(), data)
