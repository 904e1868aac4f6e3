"""The local git server the tests and the demo use leaves nothing behind when stopped:
no living process of git daemon's process group (the ``--serve`` children, upload-pack,
pack-objects), no relay thread.

(Zombies are not counted: when git itself ends a parent before its child, the child is left
to init, and this machine's init never reaps; ``GitDaemon.stop`` ends the group leaves first
so that it makes none of its own.)"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import GitDaemon, make_big_bare

from ticketflow.sandbox import ThrottledRelay, group_members


def _pkt(text: str) -> bytes:
    return f"{len(text) + 4:04x}{text}".encode()


def _start_upload(port: int) -> socket.socket:
    """A client that asks for the whole of big.git and then stops reading: the daemon's
    ``--serve`` child, upload-pack and pack-objects stay busy, blocked on a full socket."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.sendall(_pkt("git-upload-pack /big.git\0host=127.0.0.1\0"))
    advert = b""
    while b"0000" not in advert:  # the ref advertisement ends with a flush packet
        advert += conn.recv(65536)
    head = advert[4:44].decode()
    conn.sendall(_pkt(f"want {head}\n") + b"0000" + _pkt("done\n"))
    return conn


def test_stop_ends_the_whole_process_group(tmp_path: Path) -> None:
    base = tmp_path / "served"
    base.mkdir()
    make_big_bare(base / "big.git", files=100, size=100_000)  # 10 MB: more than any buffer
    daemon = GitDaemon(base)
    conns = [_start_upload(daemon.port) for _ in range(2)]
    try:
        deadline = time.monotonic() + 20
        while len(group_members(daemon.pgid)) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)  # the master, then per client: --serve, upload-pack, ...
        busy = group_members(daemon.pgid)
        assert len(busy) >= 4, busy
    finally:
        daemon.stop()
        for conn in conns:
            conn.close()
    assert group_members(daemon.pgid) == []
    assert daemon.proc.returncode is not None


def test_relay_close_ends_its_threads(tmp_path: Path) -> None:
    base = tmp_path / "served"
    base.mkdir()
    make_big_bare(base / "big.git", files=100, size=100_000)
    daemon = GitDaemon(base)
    relay = ThrottledRelay(daemon.port, rate=50_000)  # slow: the transfer is mid-way at close
    try:
        conns = [_start_upload(relay.port) for _ in range(2)]
        assert [t for t in threading.enumerate() if t.name.startswith("relay-")]
        relay.close()
        assert [t.name for t in threading.enumerate() if t.name.startswith("relay-")] == []
        for conn in conns:
            conn.close()
    finally:
        relay.close()  # twice is harmless
        daemon.stop()
    assert group_members(daemon.pgid) == []


@pytest.mark.parametrize("mode", ["silent", "trickle"])
def test_a_stalling_relay_stalls_and_closes(tmp_path: Path, mode: str) -> None:
    base = tmp_path / "served"
    base.mkdir()
    make_big_bare(base / "big.git", files=3, size=10)
    daemon = GitDaemon(base)
    relay = ThrottledRelay(daemon.port, stall_after=0, stall=mode, trickle_every=0.2)
    try:
        conn = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
        conn.sendall(_pkt("git-upload-pack /big.git\0host=127.0.0.1\0"))
        got = b""
        until = time.monotonic() + 1.5
        while (left := until - time.monotonic()) > 0:
            conn.settimeout(left)
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                break
            assert chunk, "the relay closed the connection"
            got += chunk
        # silent: not one byte in 1.5 s; trickle: one byte every 0.2 s (the advertisement
        # is hundreds of bytes)
        assert (got == b"") if mode == "silent" else (3 <= len(got) <= 10), got
        conn.close()
    finally:
        relay.close()
        daemon.stop()
    assert [t.name for t in threading.enumerate() if t.name.startswith("relay-")] == []
