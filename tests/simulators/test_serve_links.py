"""Serving a device on a pseudo-terminal and on a loopback socket, drops included."""

from __future__ import annotations

import os
import socket

import pytest

from lab.clock import SimulatedClock
from simulators.device import LineDevice
from simulators.serve import serve_pty, serve_socket


def device() -> LineDevice:
    return LineDevice("dev-1", SimulatedClock())


def exchange(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        reply += chunk
    return reply


def test_pty_url_is_a_stable_link_to_the_slave():
    with serve_pty(device()) as served:
        assert os.path.islink(served.url) and os.path.realpath(served.url) == served.tty
        first = served.tty
        fd = os.open(served.url, os.O_RDWR | os.O_NOCTTY)
        os.write(fd, b"*IDN?\n")
        assert os.read(fd, 100) == b"LabSim,LineDevice,dev-1,1.0\n"
        served.drop()
        try:  # the hung-up side reads end-of-file or fails (EIO), depending on the kernel
            assert os.read(fd, 100) == b""
        except OSError:
            pass
        os.close(fd)
        assert served.connections == 2 and os.path.realpath(served.url) == served.tty
        assert served.tty != first or not os.path.exists(first)
    assert not os.path.exists(served.url)


def test_socket_serves_one_client_at_a_time_and_drops():
    with serve_socket(device()) as served:
        host, port = served.url.removeprefix("socket://").rsplit(":", 1)
        assert host == "127.0.0.1"
        with socket.create_connection((host, int(port)), timeout=2) as first:
            assert exchange(first, b"*IDN?\n").startswith(b"LabSim")
            with socket.create_connection((host, int(port)), timeout=2) as second:
                assert exchange(second, b"*IDN?\n").startswith(b"LabSim")
                assert first.recv(10) == b""  # the newer connection replaced the older
                served.drop()
                assert second.recv(10) == b""
        assert served.connections == 2


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.org"])
def test_only_loopback_addresses(host):
    with pytest.raises(ValueError, match="loopback addresses only"):
        serve_socket(device(), host=host)


def test_close_is_idempotent():
    served = serve_pty(device())
    served.close()
    served.close()
