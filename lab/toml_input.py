"""Reading the TOML files a user writes (specs, lab files, reward files), bounded and checked.

Every such file is read through :func:`read_toml` (or :func:`parse_toml` for text), which refuses,
with :class:`~lab.errors.SpecError` naming the file and what it is (``"campaign spec"``,
``"lab file"``, ``"reward file"``):

* a file over :data:`MAX_FILE_BYTES` (1 MB), a binary file (a NUL byte) or text that is not UTF-8;
* TOML that does not parse, including nesting so deep that the parser would recurse without end;
* after parsing, via :func:`tree_problems`, every value that no store column can hold: nesting
  deeper than :data:`MAX_DEPTH` (32 tables or arrays), a NaN or infinite float anywhere, and an
  integer outside the signed 64-bit range (:data:`INT64_MIN`..:data:`INT64_MAX`, what the store's
  ``BigInteger`` columns and JSON numbers in PostgreSQL hold exactly).

Example:
    >>> tree_problems({"reward": {"terms": [{"weight": float("nan")}]}, "seed": 2**64})
    ['reward.terms[0].weight: expected a finite number, got nan', 'seed: expected an integer between -9223372036854775808 and 9223372036854775807, got 18446744073709551616']
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

from lab.errors import SpecError

__all__ = ["INT64_MAX", "INT64_MIN", "MAX_DEPTH", "MAX_FILE_BYTES", "field_of", "parse_toml", "read_toml",
           "tree_problems"]

#: The largest file read (bytes).
MAX_FILE_BYTES = 1_000_000
#: The deepest nesting of tables and arrays accepted.
MAX_DEPTH = 32
#: The range of a signed 64-bit integer (SQL ``BIGINT``).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def read_toml(path: str | Path, what: str = "campaign spec", *, check: bool = True) -> dict[str, Any]:
    """The TOML table in a file, read within the bounds above and checked by :func:`tree_problems`.

    Args:
        path: the file.
        what: what the file is, for messages (``"campaign spec"``, ``"lab file"``, ``"reward file"``).
        check: run :func:`tree_problems` (False: the caller runs it, with its own checks, in one pass).

    Raises:
        SpecError: the file is missing, unreadable, too large, binary, not valid TOML, or holds
            values no store can keep; lists every problem.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise SpecError(str(path), ["file not found"], what) from None
    except OSError as exc:
        raise SpecError(str(path), [f"cannot be read: {exc.strerror or exc}"], what) from None
    if len(raw) > MAX_FILE_BYTES:
        raise SpecError(str(path), [f"file is larger than {MAX_FILE_BYTES} bytes; expected a short TOML text"], what)
    if b"\x00" in raw:
        raise SpecError(str(path), ["file is binary (holds NUL bytes); expected TOML text"], what)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(str(path), [f"file is not UTF-8 text (byte {exc.start}); expected TOML text"], what) from None
    return parse_toml(text, str(path), what, check=check)


def parse_toml(text: str, source: str = "<spec>", what: str = "campaign spec", *, check: bool = True) -> dict[str, Any]:
    """The TOML table in ``text``, checked by :func:`tree_problems` (see :func:`read_toml`).

    Raises:
        SpecError: the text is too long, does not parse, or holds values no store can keep.
    """
    if len(text) > MAX_FILE_BYTES:
        raise SpecError(source, [f"text is longer than {MAX_FILE_BYTES} characters; expected a short TOML text"], what)
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise SpecError(source, [f"not valid TOML: nested deeper than {MAX_DEPTH} levels"], what) from None
    except ValueError as exc:  # TOMLDecodeError, and int() of a number with thousands of digits
        raise SpecError(source, [f"not valid TOML: {_one_line(str(exc))}"], what) from None
    problems = tree_problems(data) if check else []
    if problems:
        raise SpecError(source, problems, what)
    return data


def tree_problems(data: Any) -> list[str]:
    """One line per value that no store column can hold, each naming its field (see the module docstring).

    Iterative, so a tree of any depth is walked without recursion; a branch deeper than
    :data:`MAX_DEPTH` is reported once and not entered.
    """
    problems: list[str] = []
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), data)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, dict | list):
            if len(loc) >= MAX_DEPTH:
                problems.append(f"{field_of(loc)}: nested deeper than {MAX_DEPTH} levels of tables or arrays")
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend(reversed([((*loc, k), v) for k, v in items]))
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append(f"{field_of(loc)}: expected a finite number, got {value!r}")
        elif isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
            problems.append(f"{field_of(loc)}: expected an integer between {INT64_MIN} and {INT64_MAX}, "
                            f"got {_short(value)}")
    return problems


def field_of(loc: tuple[str | int, ...]) -> str:
    """A location as a spec names its fields: ``("parameters", 0, "low")`` is ``parameters[0].low``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _short(value: int) -> str:
    text = str(value) if value.bit_length() < 4000 else f"an integer of {value.bit_length()} bits"
    return text if len(text) <= 40 else text[:20] + "..." + text[-10:]


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."
