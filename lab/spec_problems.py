"""Pydantic's validation errors as a spec's problems: one line each, naming the field as a spec writes it.

Example:
    >>> from pydantic import BaseModel, ValidationError
    >>> class Budget(BaseModel):
    ...     experiments: int
    >>> try:
    ...     Budget.model_validate({})
    ... except ValidationError as exc:
    ...     spec_problems(exc)
    ['experiments: required field is missing']
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

__all__ = ["spec_problems"]


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("continuous", "integer", "categorical", "composition", "function-after"):
            continue  # pydantic's union tag in the location: not a field name
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def spec_problems(exc: ValidationError, *, fields_only: bool = False) -> list[str]:
    """One line per error of ``exc``: ``field: what is wrong`` (cross-field checks name their own field).

    Args:
        exc: pydantic's error.
        fields_only: leave out the errors of whole-model checks (those with no location), for a caller
            that runs the cross-field checks itself.
    """
    problems = []
    for err in exc.errors():
        if fields_only and not err["loc"]:
            continue
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        # cross-field checks run on the whole spec and name their own field at the start of msg
        problems.append(f"{_where(err['loc'])}: {msg}" if err["loc"] else msg)
    return problems
