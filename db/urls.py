"""Database URLs: parsed (never matched by a regex), masked for messages, stripped of their secrets.

A URL's *secrets* are its password and the ``password`` / ``sslpassword`` query values. Three
views of one URL:

* :func:`parse_url`: the URL as SQLAlchemy's :class:`~sqlalchemy.engine.URL`, accepting a password
  written as is: the credentials end at the URL's **last** ``@``, so ``user:p@ss:w/rd@host/db``
  means the password ``p@ss:w/rd``; ``%40``, ``%3A``, ``%2F`` and ``%25`` escapes are decoded as
  usual (``%`` not followed by two hex digits stays a ``%``). An ``@`` elsewhere in the URL (the
  database name, a query value) must be written ``%40``.
* :func:`mask_url`: the text to print or log: secrets replaced by ``***``; a URL that cannot be
  parsed shows only its scheme (``postgresql://***``), never the rest of what was typed.
* :func:`without_secrets`: the URL with its secrets removed: what :func:`db.engine.store_handle`
  hands to Prefect flows (README, "Secrets").

Example:
    >>> mask_url("postgresql+psycopg://lab:p@ss:w/rd@db.example:5432/lab")
    'postgresql+psycopg://lab:***@db.example:5432/lab'
    >>> parse_url("postgresql+psycopg://lab:p%40ss@db.example/lab").password
    'p@ss'
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["SECRET_QUERY_KEYS", "has_secrets", "mask_url", "parse_url", "without_secrets"]

#: Query keys whose values are secrets (libpq's connection parameters).
SECRET_QUERY_KEYS = ("password", "sslpassword")
#: What is printed for the hidden parts of a URL.
HIDDEN = "***"

_SCHEME = re.compile(r"[A-Za-z][\w+.-]*")


def parse_url(text: str) -> URL:
    """Parse ``text`` as a database URL whose password may hold any character (see the module docstring).

    Raises:
        ValueError: it is not a database URL. The message never repeats the text, which may hold a password.
    """
    scheme, sep, rest = text.partition("://")
    if not sep or not _SCHEME.fullmatch(scheme):
        raise ValueError("it does not start with a scheme such as sqlite:// or postgresql+psycopg://")
    at = rest.rfind("@")
    if at < 0 or rest.startswith("/"):  # no credentials (an @ in a SQLite path is part of the path)
        return _make(text)
    user, colon, password = rest[:at].partition(":")
    base = _make(f"{scheme}://{rest[at + 1:]}")
    if base.username is not None or base.password is not None:
        raise ValueError("it has more than one user name")
    return base.set(username=unquote(user) or None, password=unquote(password) if colon else None)


def _make(text: str) -> URL:
    try:
        return make_url(text)
    except ArgumentError:
        raise ValueError("it cannot be parsed as scheme://user:password@host:port/database") from None
    except ValueError:  # SQLAlchemy's int() of the port: its message would repeat part of the text
        raise ValueError("its port is not a number") from None


def has_secrets(url: URL) -> bool:
    """Whether ``url`` carries a password (in its credentials or its query)."""
    return url.password is not None or any(key in url.query for key in SECRET_QUERY_KEYS)


def without_secrets(url: URL) -> URL:
    """``url`` with its password and secret query values removed."""
    return url._replace(password=None).difference_update_query(SECRET_QUERY_KEYS)  # (URL.set ignores None)


def mask_url(url: object) -> str:
    """The URL as text with its secrets replaced by ``***`` (safe to print and log).

    A URL without secrets is returned as it was written. One that cannot be parsed keeps only its
    scheme: ``postgresql://***`` (``***`` when it has none).
    """
    text = url.render_as_string(hide_password=False) if isinstance(url, URL) else str(url)
    try:
        parsed = parse_url(text)
    except ValueError:
        scheme, sep, _ = text.partition("://")
        return f"{scheme}://{HIDDEN}" if sep and _SCHEME.fullmatch(scheme) else HIDDEN
    if not has_secrets(parsed):
        return text
    hidden = {key: HIDDEN for key in SECRET_QUERY_KEYS if key in parsed.query}
    rendered = parsed.update_query_dict(hidden).render_as_string(hide_password=True)
    return rendered.replace("%2A%2A%2A", HIDDEN)
