"""A local git server for the demo and the tests: ``git daemon`` on 127.0.0.1 and a
throttling relay in front of it (a slow network, so pull progress and ESC can be seen). The
demo's sandbox itself is built in ``ticketflow.demo``.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_git(cwd: Path, *args: str) -> str:
    identity = ["-c", "user.name=ticketflow demo", "-c", "user.email=demo@example.com"]
    return subprocess.run(
        ["git", *identity, *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


class GitDaemon:
    """``git daemon`` serving the bare repositories under ``base`` on 127.0.0.1.

    Started by the constructor, stopped by its PID (``stop``); push is enabled.
    """

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                "git",
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--enable=receive-pack",
                "--informative-errors",
                f"--base-path={base}",
                "--listen=127.0.0.1",
                f"--port={self.port}",
                str(base),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("git daemon did not start") from None
                time.sleep(0.05)

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


class ThrottledRelay:
    """A TCP relay on 127.0.0.1 passing the server's bytes at ``rate`` bytes per second."""

    def __init__(self, target_port: int, rate: int = 1_000_000) -> None:
        self.target_port = target_port
        self.rate = rate
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.port = int(self.server.getsockname()[1])
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True, name="relay-accept").start()

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.server.accept()
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                return
            self._sockets += [client, upstream]
            for src, dst, rate in ((client, upstream, 0), (upstream, client, self.rate)):
                threading.Thread(
                    target=self._pipe, args=(src, dst, rate), daemon=True, name="relay-pipe"
                ).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, rate: int) -> None:
        try:
            while not self._stop.is_set():
                data = src.recv(16384)
                if not data:
                    break
                dst.sendall(data)
                if rate:
                    time.sleep(len(data) / rate)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stop.set()
        self.server.close()
        for s in self._sockets:
            s.close()


def add_blobs(repo: Path, count: int, size: int, seed: int = 1) -> None:
    """Commit ``count`` incompressible files under ``attachments/`` (a heavy transfer)."""
    rng = random.Random(seed)  # noqa: S311 - demo data
    folder = repo / "attachments"
    folder.mkdir(exist_ok=True)
    for i in range(count):
        (folder / f"screenshot-{i:03d}.bin").write_bytes(rng.randbytes(size))
    run_git(repo, "add", "attachments")
    run_git(repo, "commit", "-q", "-m", f"Add {count} attachments")
