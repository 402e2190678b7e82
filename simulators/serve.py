"""Serve a simulated device on a pseudo-terminal or a loopback socket.

* :func:`serve_pty` opens a pseudo-terminal pair (``os.openpty``); a background thread reads the
  master side. ``.url`` is a stable symlink to the slave (e.g. ``/tmp/labsim-x1/furnace-1 ->
  /dev/pts/5``) that pyserial opens like ``/dev/ttyUSB0``; ``.tty`` is the slave path itself.
  Dropping the connection hangs the pair up (the driver's next read or write fails) and opens a
  fresh pair behind the same symlink, as a USB-serial adapter that re-enumerates.
* :func:`serve_socket` listens on a loopback address; ``.url`` is ``socket://127.0.0.1:<port>``.
  One client at a time (a newer connection replaces the older, as serial-to-Ethernet servers
  do); dropping the connection closes the client socket.

Both drop the connection when the device asks (fault ``drop``) or when :meth:`Served.drop` is
called, and stop with :meth:`Served.close` (or the ``with`` statement).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import select
import shutil
import socket
import tempfile
import threading
import tty
from pathlib import Path

from simulators.device import LineDevice

__all__ = ["Served", "serve_pty", "serve_socket"]

log = logging.getLogger(__name__)
#: Give up sending a reply nobody reads after this long (seconds).
SEND_GIVE_UP_S = 5.0


class Served:
    """A device served on a background thread; subclasses provide the link."""

    url: str

    def __init__(self, device: LineDevice) -> None:
        self.device = device
        #: How many links (pseudo-terminal pairs or accepted sockets) were opened so far.
        self.connections = 0
        self._stop = threading.Event()
        self._drop_requested = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._buffer = bytearray()
        self._thread = threading.Thread(target=self._serve, name=f"serve-{device.name}", daemon=True)

    def drop(self) -> None:
        """Drop the current connection (the driver sees a dropped link and reconnects)."""
        self._drop_requested.set()
        os.write(self._wake_w, b"x")

    def close(self) -> None:
        """Stop serving and release the link."""
        if self._stop.is_set():
            return
        self._stop.set()
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5.0)
        self._release()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.device.name!r}, url={self.url!r})"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                if self._drop_requested.is_set():
                    self._drop_requested.clear()
                    self._drop()
                data = self._receive()
                if data:
                    self._handle(data)
            except Exception:  # keep serving whatever one exchange did
                log.exception("%s: serving thread error", self.device.name)

    def _handle(self, data: bytes) -> None:
        self._buffer += data
        while b"\n" in self._buffer and not self._stop.is_set():
            line, _, rest = bytes(self._buffer).partition(b"\n")
            self._buffer = bytearray(rest)
            response = self.device.process(line)
            if response.delay_s and self._stop.wait(response.delay_s):
                return
            if response.drop:
                self._buffer.clear()
                self._drop()
            elif response.payload:
                self._send(response.payload)

    def _wait_readable(self, fd: int | None, timeout: float = 0.2) -> bool:
        """Wait until ``fd`` is readable (True) or the wake pipe fires / time passes (False)."""
        fds = [self._wake_r] + ([fd] if fd is not None else [])
        ready, _, _ = select.select(fds, [], [], timeout)
        if self._wake_r in ready:
            os.read(self._wake_r, 1024)
        return fd is not None and fd in ready

    def _receive(self) -> bytes:
        raise NotImplementedError

    def _send(self, payload: bytes) -> None:
        raise NotImplementedError

    def _drop(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError


class PtyServed(Served):
    """A device on a pseudo-terminal; see :func:`serve_pty`."""

    def __init__(self, device: LineDevice) -> None:
        super().__init__(device)
        self._dir = Path(tempfile.mkdtemp(prefix="labsim-"))
        self.url = str(self._dir / device.name)
        self._master, self._slave = -1, -1
        self.tty = ""
        self._open_pair()
        self._thread.start()

    def _open_pair(self) -> None:
        """Open a new pair and point the symlink at its slave (before the old pair is closed)."""
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self.tty = os.ttyname(slave)
        tmp = self._dir / f".{self.device.name}.new"
        os.symlink(self.tty, tmp)
        os.replace(tmp, self.url)
        old = (self._master, self._slave)
        self._master, self._slave = master, slave
        self.connections += 1
        for fd in old:
            if fd >= 0:
                os.close(fd)

    def _receive(self) -> bytes:
        if not self._wait_readable(self._master):
            return b""
        try:
            return os.read(self._master, 65536)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError as exc:  # should not happen while we hold the slave open; do not spin
            log.debug("%s: pseudo-terminal read failed: %s", self.device.name, exc)
            self._stop.wait(0.05)
            return b""

    def _send(self, payload: bytes) -> None:
        view = memoryview(payload)
        waited = 0.0
        while view and not self._stop.is_set():
            _, writable, _ = select.select([], [self._master], [], 0.1)
            if not writable:
                waited += 0.1
                if waited >= SEND_GIVE_UP_S:
                    log.warning("%s: nobody reads the pseudo-terminal; reply discarded", self.device.name)
                    return
                continue
            try:
                view = view[os.write(self._master, view):]
            except BlockingIOError:
                continue

    def _drop(self) -> None:
        self._open_pair()

    def _release(self) -> None:
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1
        shutil.rmtree(self._dir, ignore_errors=True)


class SocketServed(Served):
    """A device on a loopback TCP socket; see :func:`serve_socket`."""

    def __init__(self, device: LineDevice, host: str = "127.0.0.1", port: int = 0) -> None:
        _require_loopback(host)
        super().__init__(device)
        self._listener = socket.create_server((host, port))
        self._listener.setblocking(False)
        bound_host, bound_port = self._listener.getsockname()[:2]
        self.url = f"socket://{bound_host}:{bound_port}"
        self._client: socket.socket | None = None
        self._thread.start()

    def _receive(self) -> bytes:
        client = self._client
        fds = [self._wake_r, self._listener.fileno()] + ([client.fileno()] if client else [])
        ready, _, _ = select.select(fds, [], [], 0.2)
        if self._wake_r in ready:
            os.read(self._wake_r, 1024)
        if self._listener.fileno() in ready:
            self._accept()
            return b""
        if client is None or client.fileno() not in ready:
            return b""
        try:
            data = client.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._drop()
        return data

    def _accept(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(True)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(SEND_GIVE_UP_S)
        self._drop()
        self._client = conn
        self._buffer.clear()
        self.connections += 1

    def _send(self, payload: bytes) -> None:
        if self._client is None:
            return
        try:
            self._client.sendall(payload)
        except OSError as exc:
            log.warning("%s: reply not sent (%s)", self.device.name, exc)
            self._drop()

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            client.close()

    def _release(self) -> None:
        self._drop()
        self._listener.close()


def _require_loopback(host: str) -> None:
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"simulators serve on loopback addresses only (127.0.0.1, ::1, localhost), not {host!r}")


def serve_pty(device: LineDevice) -> PtyServed:
    """Serve ``device`` on a pseudo-terminal; ``.url`` is a path pyserial opens."""
    return PtyServed(device)


def serve_socket(device: LineDevice, host: str = "127.0.0.1") -> SocketServed:
    """Serve ``device`` on a loopback TCP socket; ``.url`` is ``socket://<host>:<port>``."""
    return SocketServed(device, host)
