"""``lab deploy``: the lab's work pools and deployments on a Prefect server, created or brought up to date.

Two work pools of type ``process`` (a ``prefect worker start --pool NAME`` runs each flow run as a
subprocess on its own machine):

* ``instruments``, served on the instrument hosts: the ``worker`` flow
  (:func:`flows.campaign.worker.worker_flow`: claims and runs campaigns on the instruments of its
  lab file), deployment ``worker/lab-worker``. A run names its ``worker_id`` and ``lab_file`` (a
  path on the host that runs it); the pool gives a run to whichever of its Prefect workers polls
  first, so a lab with several instrument hosts runs ``lab worker --lab-file hostN.toml`` as a
  service on each instead, and keeps the deployment for a single instrument host.
* ``training``, served on the GPU machine: the ``rl-update`` flow
  (:func:`flows.training.update_flow.update_flow`, what ``lab update`` runs), deployment
  ``rl-update/lab-update``, and the ``rl-train`` flow (:func:`flows.training.train_flow.train_flow`,
  ``lab train`` with ``device="auto"``: CUDA where present), deployment ``rl-train/lab-train``.

Each deployment's entrypoint is a module path of this package (``flows.campaign.worker:worker_flow``)
and its one pull step sets the working directory to the folder this package is installed from, so
a worker on any host where the package is installed at the same path runs the code installed
there; nothing is uploaded. A ``store`` handle (the store's URL without its password; README,
"Secrets") becomes every deployment's default ``store`` parameter; without one, a flow run opens
the default store of the host that runs it (its ``LAB_DATABASE_URL``).

Idempotent: a pool that exists is kept (it must be of type ``process``), and a deployment whose
stored definition already matches is not written again, so a second run changes nothing and
reports the same ids.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import Flow
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL, load_current_profile, temporary_settings
from prefect.utilities.callables import parameter_schema
from prefect.workers.process import ProcessWorker

from flows.campaign.worker import worker_flow
from flows.errors import UsageError
from flows.training.train_flow import train_flow
from flows.training.update_flow import update_flow

__all__ = ["INSTRUMENTS_POOL", "PLANS", "TRAINING_POOL", "Deployed", "DeploymentPlan", "deploy", "package_root"]

INSTRUMENTS_POOL = "instruments"
TRAINING_POOL = "training"


@dataclass(frozen=True)
class DeploymentPlan:
    """One deployment ``lab deploy`` keeps: its flow, name, pool, entrypoint and what it says."""

    flow: Flow[Any, Any]
    name: str
    pool: str
    entrypoint: str
    description: str

    @property
    def full_name(self) -> str:
        """``FLOW/DEPLOYMENT``, as ``prefect deployment run`` takes it."""
        return f"{self.flow.name}/{self.name}"


@dataclass(frozen=True)
class Deployed:
    """What ``lab deploy`` did for one deployment (``status``: created, updated or unchanged)."""

    deployment: str
    pool: str
    entrypoint: str
    id: str
    status: str


PLANS = (
    DeploymentPlan(worker_flow, "lab-worker", INSTRUMENTS_POOL, "flows.campaign.worker:worker_flow",
                   "Run queued campaigns on the instruments of a lab file (`lab worker`)."),
    DeploymentPlan(update_flow, "lab-update", TRAINING_POOL, "flows.training.update_flow:update_flow",
                   "Gated off-policy update of the RL policy from matured rewards (`lab update`)."),
    DeploymentPlan(train_flow, "lab-train", TRAINING_POOL, "flows.training.train_flow:train_flow",
                   "Train the RL policy (CUDA when present) and publish it to the store (`lab train`)."),
)


def package_root() -> Path:
    """The folder this package is imported from (it holds ``flows/``): the deployments' working directory."""
    return Path(__file__).resolve().parents[2]


@contextmanager
def _client(api: str | None) -> Iterator[SyncPrefectClient]:
    # the environment, else the active Prefect profile (`prefect config set PREFECT_API_URL=...`); never a
    # temporary server of this process, which would vanish with it
    api = api or os.environ.get("PREFECT_API_URL") or load_current_profile().settings.get(PREFECT_API_URL)
    if not api:
        raise UsageError("no Prefect server named: pass --api http://HOST:4200/api or set PREFECT_API_URL "
                         "(start one with `lab server`)")
    with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        failure = client.api_healthcheck()
        if failure is not None:
            reason = str(failure).strip().splitlines()[0] if str(failure).strip() else type(failure).__name__
            raise UsageError(f"no Prefect server answers at {api}: {reason}")
        yield client


def _ensure_pool(client: SyncPrefectClient, name: str) -> None:
    try:
        pool = client.read_work_pool(name)
    except ObjectNotFound:
        client.create_work_pool(WorkPoolCreate(name=name, type="process",
                                               base_job_template=ProcessWorker.get_default_base_job_template()))
        return
    if pool.type != "process":
        raise UsageError(f"work pool {name!r} exists with type {pool.type!r}; the lab's pools are of type 'process'")


def _wanted(plan: DeploymentPlan, flow_id: Any, store: str | None) -> dict[str, Any]:
    """The deployment as ``create_deployment`` takes it."""
    return {"flow_id": flow_id, "name": plan.name, "work_pool_name": plan.pool, "work_queue_name": "default",
            "entrypoint": plan.entrypoint, "path": None, "description": plan.description, "tags": ["lab"],
            "parameters": {"store": store} if store else {},
            "parameter_openapi_schema": parameter_schema(plan.flow).model_dump(exclude_unset=True),
            "pull_steps": [{"prefect.deployments.steps.set_working_directory": {"directory": str(package_root())}}],
            "enforce_parameter_schema": True}


_COMPARED = ("work_pool_name", "work_queue_name", "entrypoint", "path", "description", "tags", "parameters",
             "parameter_openapi_schema", "pull_steps", "enforce_parameter_schema")


def deploy(api: str | None = None, store: str | None = None) -> list[Deployed]:
    """Create the pools (if absent) and create or update the deployments (see the module docstring).

    Args:
        api: the Prefect API (``http://HOST:4200/api``); ``None``: ``PREFECT_API_URL`` (the environment's,
            else the active Prefect profile's).
        store: a store handle (no password) for every deployment's default ``store`` parameter.

    Raises:
        UsageError: no API named, none answers, or a pool of that name has another type.
    """
    done: list[Deployed] = []
    with _client(api) as client:
        for pool in (INSTRUMENTS_POOL, TRAINING_POOL):
            _ensure_pool(client, pool)
        for plan in PLANS:
            flow_id = client.create_flow_from_name(plan.flow.name)
            wanted = _wanted(plan, flow_id, store)
            try:
                current = client.read_deployment_by_name(plan.full_name)
            except ObjectNotFound:
                current = None
            if current is not None and all(getattr(current, key) == wanted[key] for key in _COMPARED):
                done.append(Deployed(plan.full_name, plan.pool, plan.entrypoint, str(current.id), "unchanged"))
                continue
            deployment_id = client.create_deployment(**wanted)  # an upsert: the same id when it existed
            done.append(Deployed(plan.full_name, plan.pool, plan.entrypoint, str(deployment_id),
                                 "created" if current is None else "updated"))
    return done
