"""A real HTTP endpoint on 127.0.0.1 (ephemeral port, in a thread) that keeps what apprise posts to it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class Hook:
    """The endpoint: ``url`` (an apprise ``json://`` URL) and the JSON bodies received, in order."""

    def __init__(self, port: int) -> None:
        self.url = f"json://127.0.0.1:{port}/hook"
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def messages(self) -> list[str]:
        with self.lock:
            return [f"{m.get('title', '')} | {m.get('message', '')}" for m in self.received]

    def config(self, folder: Path, on: list[str], stalled_after_hours: float = 2.0) -> Path:
        path = folder / "notify.toml"
        path.write_text(f"urls = [{json.dumps(self.url)}]\non = {json.dumps(on)}\n"
                        f"stalled_after_hours = {stalled_after_hours}\n", encoding="utf-8")
        return path


@contextmanager
def hook_server() -> Iterator[Hook]:
    """Serve a :class:`Hook` until the block ends."""
    hook: Hook

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with hook.lock:
                hook.received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook = Hook(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
