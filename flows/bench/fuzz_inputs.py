"""Structured-but-hostile inputs for ``lab bench fuzz``: trees with wrong types, NaN, inf, huge
integers and deep nesting, written as TOML, JSON, CSV or SCPI bytes, plus random and truncated bytes.

Every generator takes ``rng``, anything with :class:`random.Random`'s ``random``, ``randint`` and
``choice`` (a seeded :class:`random.Random` for volume, or hypothesis's ``st.randoms()`` when
hypothesis shrinks a failure), and returns the bytes of one input. Most inputs start from a valid
document (a shipped spec, a lab file, a reward file, a manifest entry, a pool CSV, a reply) and
change a few places, so the loaders' deeper checks are reached, not only their parsers.

Example:
    >>> import random
    >>> len(spec_input(random.Random(0))) > 0
    True
"""

from __future__ import annotations

import json
import math
import pickle
from datetime import datetime, timezone
from typing import Any, Protocol

from lab.spec import example_path
from lab.toml_input import read_toml

__all__ = ["Rng", "block_input", "csv_input", "lab_file_input", "manifest_input", "reply_input", "reward_input",
           "spec_input", "to_toml"]


class Rng(Protocol):
    """What a generator draws from (:class:`random.Random` and hypothesis's randoms have it)."""

    def random(self) -> float: ...
    def randint(self, a: int, b: int) -> int: ...
    def choice(self, seq: Any) -> Any: ...


_WORDS = ["", "x", "name", "furnace", "Ba", "Xx", "nan", "inf", "-1", "1e999", "é", "\u202e", "a\nb", '"', "\\",
          "'''", "#", "[", "{", "\x7f", "target_fraction", "maximize", "continuous", "composition", "kind", "limits"]
_NUMBERS: list[Any] = [0, 1, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 10**30, 0.0, -0.0, 1e-320, 1e308,
                       -1e308, math.nan, math.inf, -math.inf, 0.5, True, False]


def hostile(rng: Rng, depth: int = 0) -> Any:
    """A random value: scalars of every kind (hostile numbers and text), or a small table or array."""
    roll = rng.random()
    if roll < 0.35:
        return rng.choice(_NUMBERS)
    if roll < 0.6:
        return rng.choice(_WORDS) * rng.choice([1, 1, 2, 40])
    if roll < 0.65:
        return datetime(2026, 1, 5, 22, 0, tzinfo=timezone.utc)
    if roll < 0.72:
        return nested(rng, rng.choice([3, 31, 33, 40, 200]))
    if depth > 3 or roll < 0.8:
        return rng.randint(-(10**6), 10**6) if rng.random() < 0.5 else rng.random() * 10 ** rng.randint(-5, 5)
    if roll < 0.9:
        return [hostile(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(_WORDS) or "k": hostile(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def nested(rng: Rng, depth: int) -> Any:
    """Arrays or tables nested ``depth`` deep."""
    value: Any = rng.choice([1, "x", math.nan])
    for _ in range(depth):
        value = [value] if rng.random() < 0.5 else {"k": value}
    return value


def mutate(rng: Rng, doc: Any, edits: int | None = None) -> Any:
    """A copy of ``doc`` with a few places replaced by hostile values, removed, or added to."""
    doc = pickle.loads(pickle.dumps(doc))  # a deep copy, several times faster than copy.deepcopy
    for _ in range(edits if edits is not None else rng.randint(1, 4)):
        parent, key = _pick(rng, doc)
        roll = rng.random()
        if roll < 0.15 and isinstance(parent, dict) and key in parent:
            del parent[key]
        elif roll < 0.25 and isinstance(parent, dict):
            parent[rng.choice(_WORDS) or "extra"] = hostile(rng)
        elif roll < 0.35 and isinstance(parent, list) and parent:
            parent.append(pickle.loads(pickle.dumps(parent[0])))
        elif key is not None:
            parent[key] = hostile(rng)
    return doc


def _pick(rng: Rng, doc: Any) -> tuple[Any, Any]:
    """A random (container, key) inside ``doc``, walking down from the top."""
    parent, key = doc, None
    node = doc
    while isinstance(node, dict | list) and node:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        parent, key = node, rng.choice(keys)
        node = node[key]
        if rng.random() < 0.4:
            break
    return parent, key


def to_toml(doc: dict[str, Any]) -> str:
    """``doc`` as TOML text (every top-level value as ``"key" = inline value``)."""
    return "".join(f"{json.dumps(str(k))} = {_toml_value(v)}\n" for k, v in doc.items())


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))


def _raw(rng: Rng, text: bytes) -> bytes:
    """Now and then, ``text`` cut short, with bytes flipped, or replaced by random bytes."""
    roll = rng.random()
    if roll < 0.05:
        return bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 64)))
    if roll < 0.1:
        return text[: rng.randint(0, len(text))]
    if roll < 0.15 and text:
        at = rng.randint(0, len(text) - 1)
        return text[:at] + bytes([rng.randint(0, 255)]) + text[at + 1:]
    if roll < 0.17:
        return b"a = " + b"[" * 4000 + b"]" * 4000
    return text


_SPEC = read_toml(example_path("batio3"))
_LAB = {"instrument": [{"name": "doser", "kind": "dosing", "port": "/dev/ttyUSB0", "limits": {"max_mg": 500}},
                       {"name": "furnace-1", "kind": "furnace", "port": "socket://127.0.0.1:4001",
                        "limits": {"max_temperature_c": 1200}, "serial": {"baudrate": 9600, "parity": "N"}}],
        "clock": {"speed": 600.0, "origin": "2026-01-05T22:00:00+00:00", "wall_origin": 1.0},
        "faults": {"rate": 0.02, "kinds": ["garbled"], "seed": 0}}
_REWARD = {"version": "v2", "terms": [{"objective": "target_fraction", "weight": 1.0}], "failure_reward": -0.5}
_MANIFEST = [{"name": "fuzz/pool", "pool_file": "pool.csv", "inputs": ["x", "y"],
              "input_ranges": {"x": [0.0, 1.0], "y": [0.0, 10.0]}, "objective": "z", "direction": "maximize",
              "top5pct_count": 1}]
_CELLS = ["", "nan", "inf", "-inf", "1e999", "0x10", "1_0", " 1", "é", '"', "1,2", "\x00", "9" * 400, "-0", "1e-400"]


def spec_input(rng: Rng) -> bytes:
    """A campaign spec (TOML)."""
    return _raw(rng, to_toml(mutate(rng, _SPEC)).encode("utf-8", "surrogatepass"))


def lab_file_input(rng: Rng) -> bytes:
    """A lab file (TOML)."""
    return _raw(rng, to_toml(mutate(rng, _LAB)).encode("utf-8", "surrogatepass"))


def reward_input(rng: Rng) -> bytes:
    """A reward file (TOML)."""
    return _raw(rng, to_toml(mutate(rng, _REWARD)).encode("utf-8", "surrogatepass"))


def manifest_input(rng: Rng) -> bytes:
    """A pool manifest (JSON; NaN and Infinity as Python's json writes them)."""
    doc = mutate(rng, _MANIFEST)
    return _raw(rng, json.dumps(doc, default=str).encode("utf-8", "surrogatepass"))


def csv_input(rng: Rng) -> bytes:
    """A pool CSV for the manifest entry above (columns x, y, z)."""
    rows = [["x", "y", "z"]] + [[f"{rng.random():.3f}", f"{10 * rng.random():.3f}", f"{rng.random():.3f}"]
                                for _ in range(rng.randint(0, 6))]
    for _ in range(rng.randint(0, 4)):
        row = rng.choice(rows)
        roll = rng.random()
        if roll < 0.6 and row:
            row[rng.randint(0, len(row) - 1)] = rng.choice(_CELLS)
        elif roll < 0.8:
            row.append(rng.choice(_CELLS))
        elif row:
            row.pop()
    return _raw(rng, "\n".join(",".join(r) for r in rows).encode("utf-8", "surrogatepass") + b"\n")


def reply_input(rng: Rng) -> bytes:
    """One reply line to a query: a value, ``OK``, or an ``ERR <code>,"<message>"`` with hostile parts."""
    code = rng.choice(["-222", "201", "0", "-", "", "1" * rng.choice([5, 400, 5000]), "-0x1", "٣", "+5", " 7"])
    message = rng.choice(_WORDS) * rng.choice([1, 2, 300])
    line = rng.choice([f'ERR {code},"{message}"', f"{code},\"{message}\"", "OK", "1.25", f"ERR {code}", message])
    return _raw(rng, line.encode("utf-8", "surrogatepass") + rng.choice([b"\n", b"\r\n", b"", b"\n\n"]))


def block_input(rng: Rng) -> bytes:
    """An IEEE 488.2 definite-length block reply, often wrong: bad digits, lengths, truncation, no newline."""
    payload = bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 40)))
    length = str(len(payload) + rng.choice([0, 0, 0, -1, 1, 10**9]))
    digits = str(len(length)) if rng.random() < 0.7 else rng.choice(["0", "9", "a", "", "٣", str(len(length) + 1)])
    block = b"#" + digits.encode("utf-8") + length.encode("utf-8") + payload + rng.choice([b"\n", b"", b"\r\n", b"x\n"])
    roll = rng.random()
    if roll < 0.1:
        block = reply_input(rng)
    elif roll < 0.2:
        block = block[: rng.randint(0, len(block))]
    return _raw(rng, block)
