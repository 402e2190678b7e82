"""`lab ui` as a real process: the Prefect server of LAB_HOME answers on the port it was given,
and SIGINT (Ctrl-C) stops it and its server cleanly."""

from __future__ import annotations

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
