"""The ``lab`` command: the one front door. Thin: parse, call, print.

Here: ``lab demo``, ``lab queue SPEC``, ``lab run SPEC``, ``lab worker``. The other command groups live in
their own modules under :mod:`flows.cli`, each added here through its ``register`` (``lab status``,
``pause``/``resume``/``cancel``/``approve``, ``relabel``, ``simulate``, ``train``/``update``/``policies``, ``forecast``, ``server``/``ui``, ``bench``, ``instruments``).
Errors a user can cause (a bad spec, an unknown campaign, an unreachable database) print one clear
message and exit with status 2; nothing is written to the store for a bad spec.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from flows.campaign.settings import lab_home, prepare_prefect

prepare_prefect()

import db  # noqa: E402  (Prefect settings must be in place before Prefect loads)
from flows.campaign import shutdown  # noqa: E402
from flows.campaign.lease import LEASE_S, default_worker_name, refuse_a_live_name  # noqa: E402
from flows.campaign.policy_source import build_policy  # noqa: E402
from flows.campaign.report import summarise, summary_tables  # noqa: E402
from flows.cli.bench import bench_app  # noqa: E402
from flows.cli.bench_crash import register as register_crash_benchmark  # noqa: E402
from flows.cli.bench_faults import register as register_fault_benchmark  # noqa: E402
from flows.cli.bench_fuzz import register as register_fuzz_benchmark  # noqa: E402
from flows.cli.bench_pools import register as register_pool_benchmarks  # noqa: E402
from flows.cli.bench_rl import register as register_rl_benchmark  # noqa: E402
from flows.cli.bench_scale import register as register_scale_benchmark  # noqa: E402
from flows.cli.control import register as register_control  # noqa: E402
from flows.cli.deploy import register as register_deploy  # noqa: E402
from flows.cli.errors import friendly  # noqa: E402
from flows.cli.export import register as register_export  # noqa: E402
from flows.cli.forecast import register as register_forecast  # noqa: E402
from flows.cli.instruments import instruments_app  # noqa: E402
from flows.cli.notify_file import NOTIFY_OPTION, notify_config  # noqa: E402
from flows.cli.options import DB_OPTION, LAB_OPTION  # noqa: E402
from flows.cli.relabel import register as register_relabel  # noqa: E402
from flows.cli.report import register as register_report  # noqa: E402
from flows.cli.server import register as register_server  # noqa: E402
from flows.cli.simulate import register as register_simulate  # noqa: E402
from flows.cli.status import register as register_status  # noqa: E402
from flows.cli.training import register as register_training  # noqa: E402
from lab.spec import CampaignSpec, example_path, load_spec  # noqa: E402

app = typer.Typer(help="Self-driving lab controller: queue, run and watch materials-discovery campaigns.",
                  no_args_is_help=True, add_completion=False)
app.add_typer(instruments_app, name="instruments", help="Check the instruments: `lab instruments selftest`.")
for add_bench_commands in (register_pool_benchmarks, register_crash_benchmark, register_rl_benchmark,
                           register_fault_benchmark, register_fuzz_benchmark, register_scale_benchmark):
    add_bench_commands(bench_app)
app.add_typer(bench_app, name="bench", help="Benchmarks: `lab bench throughput`, `pools`, `latency`, `crash`, `faults`, `fuzz`, `scale`.")
console = Console()


def _queue(spec_path: Path, url: Optional[str], lab_file: Optional[Path] = None) -> tuple[db.Store, int, CampaignSpec]:
    from flows.campaign.admission import admit
    from flows.campaign.lab_limits import lab_file_limits, simulated_lab_limits

    spec = load_spec(spec_path)  # validated before anything touches the store
    lab = lab_file_limits(lab_file) if lab_file else simulated_lab_limits(spec)  # the file is read; no port opens
    admit(spec, lab, str(spec_path))  # what the instruments would refuse is refused now, before any powder is weighed
    store = db.open_store(url)
    try:
        build_policy(spec.policy.name, spec.policy.options, store)  # an unknown name or option fails here, not overnight
    except Exception:
        store.dispose()
        raise
    from lab.clock import WallClock
    with store.session() as s:
        cid = db.create_campaign(s, name=spec.name, spec_toml=Path(spec_path).read_text(encoding="utf-8"),
                                 spec=spec.to_store_dict(), seed=spec.seed, reward=spec.reward_definition(),
                                 approval_required=spec.approval_required, at=WallClock().now())
    return store, cid, spec


@app.command()
@friendly
def queue(spec: Path = typer.Argument(..., help="Campaign spec (TOML)."), url: Optional[str] = DB_OPTION,
          lab_file: Optional[Path] = LAB_OPTION) -> None:
    """Validate SPEC against the lab it will run on and store it as a queued campaign; print its id.

    The lab is the lab file's instruments and limits, or the simulated lab (shaped like the spec);
    a campaign the instruments would refuse prints one line per problem and nothing is stored.
    """
    store, cid, parsed = _queue(spec, url, lab_file)
    store.dispose()
    console.print(f"queued campaign {cid}: {parsed.name}")
    print(cid)


@app.command()
@friendly
def run(spec: Path = typer.Argument(..., help="Campaign spec (TOML)."), url: Optional[str] = DB_OPTION,
        lab_file: Optional[Path] = LAB_OPTION) -> None:
    """Queue SPEC (checked against the lab it runs on) and run it now, with a progress bar and a summary at the end."""
    store, cid, parsed = _queue(spec, url, lab_file)
    console.print(f"campaign {cid}: {parsed.name} ({'lab file ' + str(lab_file) if lab_file else 'simulated lab'})")
    _run_with_progress(store, cid, parsed, lab_file)


@app.command()
@friendly
def demo(url: Optional[str] = typer.Option(None, "--db", help="Database URL (default: a fresh $LAB_HOME/demo.db).")) -> None:
    """Run the example BaTiO3 campaign on the simulated lab and print what it found."""
    if url is None:
        path = lab_home() / "demo.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    store, cid, spec = _queue(example_path("batio3"), url)
    console.print(f"[bold]Demo[/]: campaign {cid}, {spec.name}: up to {spec.budget.experiments} experiments, "
                  f"{len(spec.instruments.furnaces)} furnaces, simulated lab and clock; store {store.masked_url}")
    _run_with_progress(store, cid, spec, None)


@app.command()
@friendly
def worker(url: Optional[str] = DB_OPTION, lab_file: Optional[Path] = LAB_OPTION,
           max_campaigns: int = typer.Option(4, "--max-campaigns", min=1, help="Most campaigns run side by side."),
           once: bool = typer.Option(False, "--once", help="Stop when the queue is empty instead of waiting."),
           name: Optional[str] = typer.Option(None, "--name", help="This worker's name in the store (default: the host "
                                              "name); a restarted worker with the same name takes its campaigns back at once."),
           lease_s: float = typer.Option(LEASE_S, "--lease-s", min=5.0, help="Seconds (wall clock) after which another "
                                         "worker may take over the campaigns of one that stopped renewing."),
           notify: Optional[Path] = NOTIFY_OPTION,
           pool: Optional[str] = typer.Option(None, "--pool", help="The Prefect work pool this worker serves (e.g. "
                                              "instruments): shown and kept with its flow run; optional."),
           quiet: bool = typer.Option(False, "--quiet", help="No event lines or progress bars.")) -> None:
    """Run queued campaigns, several at once on the shared lab, until stopped (Ctrl-C or SIGTERM stops cleanly).

    Prints one line per event (claims, decisions, results, faults, ends) and a progress bar per
    campaign; sends the notifications the notify file asks for. On a lab split across hosts, run one
    per instrument host with its own lab file: each step runs on the host holding its instrument.
    """
    from prefect import tags as prefect_tags

    from flows.campaign.worker import worker_flow
    from flows.cli.worker_display import WorkerDisplay
    notifications = notify_config(notify)  # a bad notify file fails here, in one line per problem
    if lab_file:
        from flows.campaign.lab_limits import lab_file_limits
        lab_file_limits(lab_file)  # a bad lab file fails here, one line per problem, before any flow starts
    store = db.open_store(url)  # fail fast, with a clear message, on a bad or unreachable database
    # set even when started from a script that ignores SIGINT; SIGTERM (systemd, kill) stops cleanly too
    shutdown.install(lambda: console.print("stopping after this round (Ctrl-C again to stop at once)"))
    me = name or default_worker_name()
    refuse_a_live_name(store, me)  # a second worker under a live name stops here, not after Prefect's start-up
    where = f"lab file {lab_file}" if lab_file else "simulated lab"
    console.print(f"worker {me} on {store.masked_url} ({where}{f'; pool {pool}' if pool else ''}); Ctrl-C to stop")
    if notifications is not None:
        console.print(notifications.describe(), highlight=False)
    display = WorkerDisplay(store, console, enabled=not quiet).start()
    try:
        with prefect_tags(*([f"pool:{pool}"] if pool else [])):
            ended = worker_flow(me, store=store.handle, lab_file=str(lab_file) if lab_file else None,
                                max_campaigns=max_campaigns, once=once, lease_s=lease_s,
                                notify_file=notifications.source if notifications else None, pool=pool)
    except KeyboardInterrupt:
        shutdown.request_stop()
        display.stop()
        console.print("stopped; unfinished campaigns resume from the store with `lab worker`")
        return
    display.stop()
    for cid, final in ended:
        console.print(f"campaign {cid} {final}")
    if shutdown.stop_requested():
        console.print("stopped; unfinished campaigns resume from the store with `lab worker`")


def _run_with_progress(store: db.Store, cid: int, spec: CampaignSpec, lab_file: Optional[Path]) -> None:
    from flows.campaign.flow import campaign_flow

    total = spec.budget.experiments or 0
    done = threading.Event()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        bar = progress.add_task("experiments", total=total or None, info="starting Prefect...")
        watcher = threading.Thread(target=_watch, args=(store, cid, progress, bar, done), daemon=True)
        watcher.start()
        try:
            status = campaign_flow(cid, store=store.handle, lab_file=str(lab_file) if lab_file else None)
        except KeyboardInterrupt:
            shutdown.request_stop()
            status = "stopped"
        finally:
            done.set()
            watcher.join()
            _update(store, cid, progress, bar)
    console.print(f"campaign {cid} {status}")
    from lab.clock import WallClock
    for table in summary_tables(summarise(store, cid, WallClock().now())):
        console.print(table)


def _watch(store: db.Store, cid: int, progress: Progress, bar: TaskID, done: threading.Event) -> None:
    while not done.wait(0.25):
        try:
            _update(store, cid, progress, bar)
        except db.StoreError:
            continue  # a busy SQLite file: the next look will do


def _update(store: db.Store, cid: int, progress: Progress, bar: TaskID) -> None:
    with store.session() as s:
        counts = db.count_by_state(s, cid)
    finished = sum(counts.get(k, 0) for k in ("rewarded", "failed", "lost"))
    flying = sum(counts.get(k, 0) for k in ("dispatched", "running"))
    progress.update(bar, completed=finished, info=f"in flight {flying}, queued {counts.get('proposed', 0)}")


# each command group registers itself, after the commands above so that `lab --help` lists those first
for add_commands in (register_status, register_control, register_relabel, register_simulate, register_training,
                     register_forecast, register_report, register_export, register_server,
                     register_deploy):
    add_commands(app)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
