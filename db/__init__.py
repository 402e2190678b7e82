"""The experiment ledger: SQLAlchemy 2.0 store with Alembic migrations (SQLite by default, PostgreSQL by URL).

Open it with :func:`db.engine.open_store` (a Prefect flow: :func:`db.engine.open_handle` on the
store's handle, which carries no password), work in ``with store.session() as session:`` blocks, and
call the functions of :mod:`db.ledger` (re-exported here). Errors are in :mod:`db.errors`.
``db`` imports ``lab`` only; ORM rows never leave it.
"""

from db.engine import Store, default_url, open_handle, open_store, store_handle
from db.errors import (
    BadDatabaseUrl,
    CampaignNotFound,
    ClaimLost,
    ConflictingRecord,
    DatabaseUnreachable,
    DecisionNotFound,
    DuplicateDispatch,
    ExperimentNotFound,
    InstrumentClaimed,
    InvalidTransition,
    NotFound,
    PolicyVersionNotFound,
    RewardVersionNotFound,
    StepNotFound,
    StoreError,
    WorkerLeaseLost,
    WorkerNameTaken,
)
from db.ledger import *  # noqa: F403  (the facade's __all__)
from db.ledger import __all__ as _ledger_all

__all__ = [
    "BadDatabaseUrl", "CampaignNotFound", "ClaimLost", "ConflictingRecord", "DatabaseUnreachable", "DecisionNotFound",
    "DuplicateDispatch", "ExperimentNotFound", "InstrumentClaimed", "InvalidTransition", "NotFound",
    "PolicyVersionNotFound", "RewardVersionNotFound", "StepNotFound", "Store", "StoreError", "WorkerLeaseLost",
    "WorkerNameTaken", "default_url",
    "open_handle", "open_store", "store_handle", *_ledger_all,
]
