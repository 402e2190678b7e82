"""Bounded, typed reading of pool files: every way a file can be unreadable is one :class:`PoolError` line.

Limits (chosen far above the real pools, which are at most a few hundred kB):

* a manifest is at most :data:`MAX_MANIFEST_BYTES` (1 MiB) of UTF-8 JSON, nested at most
  :data:`MAX_JSON_DEPTH` (32) arrays/objects deep (checked before parsing, so deep input cannot
  exhaust the parser's recursion);
* a pool CSV is at most :data:`MAX_CSV_BYTES` (256 MiB) of UTF-8 (a leading BOM is allowed).

A missing file, a directory, an empty file, a file over its limit and one that is not UTF-8 each
give one line naming the file.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from lab.errors import PoolError

__all__ = ["MAX_CSV_BYTES", "MAX_JSON_DEPTH", "MAX_MANIFEST_BYTES", "check_file", "read_json"]

MAX_MANIFEST_BYTES = 1 << 20
MAX_JSON_DEPTH = 32
MAX_CSV_BYTES = 256 << 20


def check_file(path: Path, what: str, max_bytes: int, hint: str = "") -> int:
    """Check that ``path`` is a readable, non-empty regular file of at most ``max_bytes``; its size.

    Args:
        path: the file.
        what: what it is, for the message (``"manifest"``, ``"pool file"``).
        max_bytes: the largest size accepted.
        hint: appended to the not-found message.

    Raises:
        PoolError: one line naming the file and what is wrong with it.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        raise PoolError.of(str(path), [f"{what} not found{hint}"]) from None
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte, no permission
        reason = getattr(exc, "strerror", None) or str(exc)
        raise PoolError.of(str(path), [f"{what} cannot be read: {reason}"]) from None
    if stat.S_ISDIR(st.st_mode):
        raise PoolError.of(str(path), [f"is a directory, expected a {what}"])
    if not stat.S_ISREG(st.st_mode):
        raise PoolError.of(str(path), [f"is not a regular file, expected a {what}"])
    if st.st_size == 0:
        raise PoolError.of(str(path), [f"is empty, expected a {what}"])
    if st.st_size > max_bytes:
        raise PoolError.of(str(path), [f"is {st.st_size} bytes, more than the {max_bytes} a {what} may have"])
    return int(st.st_size)


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON ``text`` (brackets inside strings ignored)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def read_json(path: Path, what: str = "manifest", hint: str = "") -> Any:
    """The JSON value in ``path``, within the manifest limits of this module.

    ``NaN`` and ``Infinity`` are not JSON and are refused here; numbers too large for a float
    become infinities, which the field checks then refuse.

    Raises:
        PoolError: one line: missing, directory, empty, too large, not UTF-8, nested too deep or
            not valid JSON.
    """
    check_file(path, what, MAX_MANIFEST_BYTES, hint)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PoolError.of(str(path), [f"cannot be read: {exc.strerror or exc}"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PoolError.of(str(path), [f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}), "
                                       f"expected a JSON {what}"]) from None
    if not text.strip():
        raise PoolError.of(str(path), [f"is empty, expected a {what}"])
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise PoolError.of(str(path), [f"is nested {depth} levels deep, more than the {MAX_JSON_DEPTH} a {what} may be"])
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise PoolError.of(str(path), [f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]) from None
    except (ValueError, RecursionError) as exc:  # an integer of more than 4300 digits, a NaN constant
        raise PoolError.of(str(path), [f"is not valid JSON: {exc}"]) from None
