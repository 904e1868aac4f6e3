"""A local git server for the demo and the tests: ``git daemon`` on 127.0.0.1, a throttling
relay in front of it (a slow network, so pull progress and ESC can be seen), and the demo
sandbox (a remote a few commits ahead of a clone holding generated tickets).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ticketflow.cancel import ProgressCallback, no_progress


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


@dataclass(frozen=True)
class Sandbox:
    base: Path
    remote: Path
    workspace: Path


def build_sandbox(
    base: Path, *, tickets: int = 2000, progress: ProgressCallback = no_progress
) -> Sandbox:
    """A bare "remote" a few commits ahead of a clone holding ``tickets`` generated tickets."""
    from ticketflow.generate import generate
    from ticketflow.store import TicketStore

    served = base / "served"
    served.mkdir(parents=True)
    remote = served / "team.git"
    run_git(base, "init", "-q", "--bare", "-b", "main", str(remote))
    seed = base / "seed"
    progress(0, 4, f"generating {tickets} tickets")
    generate(tickets, seed)
    config = seed / ".ticketflow.yaml"
    config.write_text(
        config.read_text()
        .replace("    enabled: true", "    enabled: false")
        .replace("    default_branch: main", "    default_branch: main\n    branch_on_start: false")
    )
    run_git(seed, "commit", "-q", "-am", "Demo: no worktrees")
    run_git(seed, "push", "-q", str(remote), "main")
    progress(1, 4, "cloning the workspace")
    workspace = base / "workspace"
    run_git(base, "clone", "-q", str(remote), str(workspace))
    progress(2, 4, "moving the remote ahead")
    # the sandbox's commits need an author even where git has no identity configured
    for key, value in (
        ("GIT_AUTHOR_NAME", "ticketflow demo"),
        ("GIT_AUTHOR_EMAIL", "demo@example.com"),
        ("GIT_COMMITTER_NAME", "ticketflow demo"),
        ("GIT_COMMITTER_EMAIL", "demo@example.com"),
    ):
        os.environ.setdefault(key, value)
    teammate = TicketStore.open(seed)
    for slug, text in (
        ("pulled-from-the-team", "This ticket arrives with your first pull"),
        ("another-teammate-idea", "So does this one"),
    ):
        teammate.create(slug, description=text, priority=1)
        time.sleep(1.01)  # ids are per second
    add_blobs(seed, count=12, size=1_000_000)
    run_git(seed, "push", "-q", str(remote), "main")
    progress(3, 4, "ready")
    shutil.rmtree(seed)
    return Sandbox(base=base, remote=remote, workspace=workspace)
