"""Errors of the experiment ledger, and the one place SQLAlchemy errors become them.

Tree::

    StoreError                                   root: anything the ledger refuses or cannot do
     +-- BadDatabaseUrl (ValueError)             the database URL is malformed or of an unsupported kind
     +-- DatabaseUnreachable (ConnectionError)   the database does not answer (server down, no such file/folder)
     +-- NotFound (LookupError)                  a row the caller named does not exist
     |    +-- CampaignNotFound
     |    +-- ExperimentNotFound
     |    +-- DecisionNotFound
     |    +-- StepNotFound
     |    +-- RewardVersionNotFound
     |    +-- PolicyVersionNotFound
     +-- InvalidTransition (ValueError)          an experiment or step cannot move between these states
     +-- ConflictingRecord (ValueError)          a write would change or duplicate a record the ledger keeps fixed
     |    +-- DuplicateDispatch                  an idempotency key reused for a different command
     +-- InstrumentClaimed                       the instrument already holds an in-flight step
     +-- ClaimLost                               another worker has taken over this campaign
 +-- WorkerNameTaken                         a live worker already holds this worker name
 +-- WorkerLeaseLost                         this worker's name was taken over (its lease had expired)

Every SQLAlchemy or DBAPI exception that leaves :mod:`db` goes through :func:`translate_errors`, so
callers only ever catch :class:`StoreError` (and its subclasses); the original exception is kept as
``__cause__``. Every URL they name is masked by :func:`db.urls.mask_url` (parsed, not matched).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from db.urls import mask_url

__all__ = [
    "BadDatabaseUrl",
    "CampaignNotFound",
    "ClaimLost",
    "ConflictingRecord",
    "DatabaseUnreachable",
    "DecisionNotFound",
    "DuplicateDispatch",
    "ExperimentNotFound",
    "InstrumentClaimed",
    "InvalidTransition",
    "NotFound",
    "PolicyVersionNotFound",
    "RewardVersionNotFound",
    "StepNotFound",
    "StoreError",
    "WorkerLeaseLost",
    "WorkerNameTaken",
    "mask_url",
    "translate_errors",
]

#: What a valid database URL looks like (quoted in error messages).
EXPECTED_URLS = "sqlite:///path/lab.db or postgresql+psycopg://user@host:5432/db"


class StoreError(Exception):
    """Root of every error raised by :mod:`db`."""


class BadDatabaseUrl(StoreError, ValueError):
    """The database URL cannot be used (malformed, or neither SQLite nor PostgreSQL via psycopg)."""

    def __init__(self, url: str, problem: str) -> None:
        self.url = mask_url(url)
        super().__init__(f"cannot use database URL {self.url!r}: {problem}; expected {EXPECTED_URLS}")


class DatabaseUnreachable(StoreError, ConnectionError):
    """The database did not answer. The message names the (masked) URL and what to check."""


class NotFound(StoreError, LookupError):
    """A row named by the caller does not exist."""


class CampaignNotFound(NotFound):
    """No campaign has this id."""

    def __init__(self, campaign_id: int) -> None:
        self.campaign_id = campaign_id
        super().__init__(f"no campaign with id {campaign_id}; `lab status` lists them")


class ExperimentNotFound(NotFound):
    """No experiment has this id."""

    def __init__(self, experiment_id: int) -> None:
        self.experiment_id = experiment_id
        super().__init__(f"no experiment with id {experiment_id}")


class DecisionNotFound(NotFound):
    """No decision has this id."""

    def __init__(self, decision_id: int) -> None:
        self.decision_id = decision_id
        super().__init__(f"no decision with id {decision_id}")


class StepNotFound(NotFound):
    """No step has this id."""

    def __init__(self, step_id: int) -> None:
        self.step_id = step_id
        super().__init__(f"no step with id {step_id}")


class RewardVersionNotFound(NotFound):
    """The campaign has no reward definition with this version."""


class PolicyVersionNotFound(NotFound):
    """No stored policy version matches."""


class InvalidTransition(StoreError, ValueError):
    """An experiment (or step) was asked to move to a state it cannot reach; nothing was written.

    For experiments the lab's :class:`lab.errors.StateTransitionError` is the ``__cause__``.
    """


class ConflictingRecord(StoreError, ValueError):
    """A write would change a fixed record (reward version, reward, policy version) or duplicate a unique one."""


class DuplicateDispatch(ConflictingRecord):
    """An idempotency key was reused for a different command: the step would be sent twice."""


class InstrumentClaimed(StoreError):
    """The instrument already holds a step in flight (intent or acked)."""


class ClaimLost(StoreError):
    """The campaign is no longer claimed by this worker (another took it over after a stale heartbeat)."""


class WorkerNameTaken(StoreError):
    """Another worker, alive and renewing its lease, runs under the name this one asked for."""


class WorkerLeaseLost(StoreError):
    """This worker's name is now held by another process: it must stop touching campaigns."""


_CONNECTION_WORDS = ("connect", "server closed", "timeout expired", "unable to open database")


def _looks_like_connection_failure(error: sa_exc.DBAPIError) -> bool:
    if error.connection_invalidated:
        return True
    text = str(error.orig).lower()
    return any(word in text for word in _CONNECTION_WORDS)


def _unreachable_hint(url: str) -> str:
    if url.startswith("sqlite"):
        return "check that the folder exists and is writable, or set LAB_DATABASE_URL"
    return ("check that the PostgreSQL server is running and accepts TCP connections at that host and port, "
            "that the database exists, or unset LAB_DATABASE_URL to use the local SQLite file")


@contextmanager
def translate_errors(url: str | None = None, *, connecting: bool = False) -> Iterator[None]:
    """Map SQLAlchemy/DBAPI errors raised inside the block to :class:`StoreError` subclasses.

    Args:
        url: the database URL, named (masked) in connection errors.
        connecting: True while opening the store: every operational error then means unreachable.

    Raises:
        DuplicateDispatch: a unique idempotency key was violated.
        ConflictingRecord: any other integrity violation (unique, foreign key, not null).
        DatabaseUnreachable: the connection could not be made or was lost.
        StoreError: any other database error (for example SQLite busy past its timeout).
        ValueError, TypeError: a value cannot be stored (NaN in a JSON column); unwrapped so that both
            engines raise the same error.
    """
    where = mask_url(url) if url else "the database"
    try:
        yield
    except StoreError:
        raise
    except sa_exc.IntegrityError as exc:
        detail = str(exc.orig)
        if "idempotency_key" in detail:
            raise DuplicateDispatch(f"an idempotency key is already used by another step: {detail}") from exc
        raise ConflictingRecord(f"the ledger refused a write that conflicts with a stored record: {detail}") from exc
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        if connecting or _looks_like_connection_failure(exc):
            hint = _unreachable_hint(url or "")
            raise DatabaseUnreachable(f"cannot reach {where}: {str(exc.orig).strip()}; {hint}") from exc
        raise StoreError(f"database error at {where}: {str(exc.orig).strip()}") from exc
    except sa_exc.DBAPIError as exc:
        raise StoreError(f"database error at {where}: {str(exc.orig).strip()}") from exc
    except sa_exc.StatementError as exc:
        if isinstance(exc.orig, (ValueError, TypeError)):  # a value that cannot be stored (e.g. NaN in JSON):
            raise exc.orig from exc  # the same error the PostgreSQL driver raises unwrapped
        raise StoreError(f"database error at {where}: {exc}") from exc
    except sa_exc.SQLAlchemyError as exc:
        raise StoreError(f"database error at {where}: {exc}") from exc
