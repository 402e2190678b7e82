"""`lab ui` as a real process: the Prefect server of LAB_HOME answers on the port it was given, a
worker pointed at it reports its flow run there, and SIGINT (Ctrl-C) stops it and its server cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post(url: str, body: dict[str, object]) -> bytes:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return bytes(reply.read())


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def test_lab_ui_serves_prefect_on_its_port_until_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"LAB_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)})
    log = open(tmp_path / "ui.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli.app", "ui", "--port", str(port)], env=env, cwd=str(tmp_path),
                            stdout=log, stderr=subprocess.STDOUT)
    health = f"http://127.0.0.1:{port}/api/health"
    try:
        deadline = time.monotonic() + 240
        while not (healthy(health) and "ready:" in (tmp_path / "ui.log").read_text()):
            assert proc.poll() is None, (tmp_path / "ui.log").read_text()
            assert time.monotonic() < deadline, "lab ui did not answer in 240 s"
            time.sleep(0.5)
        assert (tmp_path / "prefect").is_dir()  # PREFECT_HOME is LAB_HOME/prefect
        # a worker pointed at it (PREFECT_API_URL, as `lab ui` says) reports its flow run there
        worker = subprocess.run([sys.executable, "-m", "flows.cli.app", "worker", "--once", "--quiet", "--name", "ui-test",
                                 "--db", f"sqlite:///{tmp_path / 'lab.db'}"], cwd=str(tmp_path), capture_output=True,
                                env={**env, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}, timeout=240)
        assert worker.returncode == 0, worker.stdout + worker.stderr
        runs = json.loads(post(f"http://127.0.0.1:{port}/api/flow_runs/filter",
                               {"limit": 10, "offset": 0, "sort": "START_TIME_DESC"}))
        assert [r["state_type"] for r in runs] == ["COMPLETED"], runs
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, (tmp_path / "ui.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    out = (tmp_path / "ui.log").read_text()
    assert f"http://127.0.0.1:{port}" in out and f"PREFECT_API_URL=http://127.0.0.1:{port}/api" in out and "stopped" in out
    assert not healthy(health)  # the server went with it
