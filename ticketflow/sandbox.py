"""Local git servers for the demo and the tests: ``git daemon`` on 127.0.0.1 (in a process
group of its own, stopped with everything it started), a relay in front of it that throttles
(a slow network, so pull progress and ESC can be seen), goes silent or trickles, and a
smart-HTTP server for credentials. The demo's sandbox itself is built in ``ticketflow.demo``.
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
from collections.abc import Callable
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


def _group(pgid: int) -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state letter) for every process of group ``pgid``."""
    members: dict[int, tuple[int, str]] = {}
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # it ended meanwhile
                continue
            # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) == pgid:
                members[int(entry.name)] = (int(fields[1]), fields[0])
        return members
    listing = subprocess.run(
        ["ps", "-A", "-o", "pid=,ppid=,pgid=,stat="], capture_output=True, text=True, check=False
    ).stdout
    for line in listing.splitlines():
        pid, ppid, group, state = line.split()[:4]
        if int(group) == pgid:
            members[int(pid)] = (int(ppid), state[0])
    return members


def group_members(pgid: int, *, zombies: bool = False) -> list[int]:
    """The processes of process group ``pgid`` (without zombies unless ``zombies``).

    A zombie has ended but is not reaped yet; one whose parent ended before reaping it is
    left to init, which in some containers never reaps, so zombies are counted apart.
    """
    return sorted(p for p, (_, state) in _group(pgid).items() if zombies or state != "Z")


class GitDaemon:
    """``git daemon`` serving the bare repositories under ``base`` on 127.0.0.1.

    Started by the constructor in a process group of its own; push is enabled. ``stop``
    ends the whole group: the ``--serve`` child of every connection, its upload-pack or
    receive-pack and their pack-objects too, not only the listening master.
    """

    TERM_GRACE = 0.3
    """Seconds a process of the group gets to end after SIGTERM before SIGKILL."""
    STOP_GRACE = 5.0

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
            start_new_session=True,  # its own process group: stop() ends all of it
        )
        self.pgid = self.proc.pid
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

    def _signal(self, pids: list[int], signum: int) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)

    def stop(self) -> None:
        """End every process of the group, leaves first, and reap ``git daemon``; idempotent.

        ``git daemon`` runs the listening git-daemon, which forks a ``--serve`` child per
        connection, which runs upload-pack (or receive-pack), which runs pack-objects. Each
        is signalled only once its own children are gone, so its living parent reaps it:
        killing the group at once would leave the children's zombies to init.
        """
        deadline = time.monotonic() + 2 * self.STOP_GRACE  # never hang a test run
        termed: dict[int, float] = {}  # pid -> when SIGTERM was sent
        while time.monotonic() < deadline:
            members = _group(self.pgid)
            alive = {p for p, (_, state) in members.items() if state != "Z"}
            if not alive:
                break
            busy = {ppid for p, (ppid, _) in members.items() if p in alive}
            leaves = sorted(alive - busy) or sorted(alive)
            now = time.monotonic()
            # pack-objects may ignore SIGTERM (inherited): SIGKILL whoever outlives the grace
            stubborn = [p for p in leaves if now - termed.get(p, now) > self.TERM_GRACE]
            fresh = [p for p in leaves if p not in termed]
            self._signal(stubborn, signal.SIGKILL)
            self._signal(fresh, signal.SIGTERM)
            termed.update(dict.fromkeys(fresh, now))
            self._reaped(leaves)
        if self.proc.poll() is None:
            self._signal([self.proc.pid], signal.SIGKILL)
        self.proc.wait(timeout=self.STOP_GRACE)

    def _reaped(self, pids: list[int], patience: float = 0.4) -> None:
        """Wait until ``pids`` are gone; a zombie whose parent does not reap it soon (a
        parent blocked writing to a client that reads nothing) is left to its parent's
        own end."""
        until = time.monotonic() + patience
        zombie_since: float | None = None
        while time.monotonic() < until:
            if self.proc.pid in pids:
                self.proc.poll()  # ours to reap
            now = _group(self.pgid)
            left = [p for p in pids if p in now]
            if not left:
                return
            if all(now[p][1] == "Z" for p in left):
                zombie_since = zombie_since or time.monotonic()
                if time.monotonic() - zombie_since > 0.2:
                    return
            time.sleep(0.005)


class ThrottledRelay:
    """A TCP relay on 127.0.0.1 passing the server's bytes at ``rate`` bytes per second
    (0: as fast as they come).

    With ``stall_after`` it misbehaves once it has passed that many of the server's
    bytes, as a broken network or server does: ``stall="silent"`` passes nothing more but
    keeps the connection open; ``stall="trickle"`` passes one byte every
    ``trickle_every`` seconds. What the client sends always goes through.

    ``close`` shuts every socket down (so no thread stays blocked in a read or a write)
    and joins its threads. ``accepted`` is set once a client connected, ``stalling`` once
    the relay began to misbehave; ``forwarded`` counts the server's bytes passed on.
    """

    def __init__(
        self,
        target_port: int,
        rate: int = 1_000_000,
        *,
        stall_after: int | None = None,
        stall: str = "silent",
        trickle_every: float = 2.0,
    ) -> None:
        if stall not in ("silent", "trickle"):
            raise ValueError(f"stall must be 'silent' or 'trickle', got {stall!r}")
        self.target_port = target_port
        self.rate = rate
        self.stall_after = stall_after
        self.stall = stall
        self.trickle_every = trickle_every
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.port = int(self.server.getsockname()[1])
        self._stop = threading.Event()
        self.accepted = threading.Event()
        self.stalling = threading.Event()
        self.forwarded = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._start(self._accept, "relay-accept")

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def _start(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name=name)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            self.accepted.set()
            if self._stop.is_set():  # closed while we connected
                self._shut([client, upstream])
                return
            self._start(self._pipe, "relay-up", client, upstream)
            self._start(self._down, "relay-down", upstream, client)

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while not self._stop.is_set():
                data = src.recv(16384)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._shut([src, dst])

    def _down(self, src: socket.socket, dst: socket.socket) -> None:
        """The server's bytes, at ``rate`` and then as ``stall`` says."""
        budget = self.stall_after
        try:
            while not self._stop.is_set():
                data = src.recv(16384)
                if not data:
                    break
                if budget is not None and len(data) > budget:
                    dst.sendall(data[:budget])
                    self.forwarded += budget
                    self._misbehave(src, dst, data[budget:])
                    break
                if budget is not None:
                    budget -= len(data)
                dst.sendall(data)
                self.forwarded += len(data)
                if self.rate:
                    self._stop.wait(len(data) / self.rate)
        except OSError:
            pass
        finally:
            self._shut([src, dst])

    def _misbehave(self, src: socket.socket, dst: socket.socket, pending: bytes) -> None:
        self.stalling.set()
        if self.stall == "silent":
            self._stop.wait()  # hold the connection open, pass nothing
            return
        src.settimeout(0.05)
        while not self._stop.is_set():
            if pending:
                dst.sendall(pending[:1])
                self.forwarded += 1
                pending = pending[1:]
            self._stop.wait(self.trickle_every)
            with contextlib.suppress(TimeoutError):
                more = src.recv(16384)
                if not more and not pending:
                    return
                pending += more

    def _shut(self, sockets: list[socket.socket]) -> None:
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Stop relaying: every socket shut down and closed, every thread joined."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)  # wakes accept(); close() alone does not
        self.server.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        self._shut(sockets)
        for s in sockets:
            s.close()
        current = threading.current_thread()
        while True:
            with self._lock:
                threads = [t for t in self._threads if t is not current and t.is_alive()]
            if not threads:
                break
            for thread in threads:
                thread.join(timeout=5)
                if thread.is_alive():
                    raise RuntimeError(f"relay thread {thread.name} did not end")


class GitHttpServer:
    """``git http-backend`` behind a small HTTP server on 127.0.0.1 (smart HTTP, push
    enabled), for remotes whose URL carries credentials and a query.

    ``auth=(user, password)`` asks for HTTP Basic authentication and accepts only that
    pair; ``fail=500`` (or any status) answers every request with that status instead.
    ``requests`` records (method, path) of what was asked.
    """

    def __init__(
        self, base: Path, *, auth: tuple[str, str] | None = None, fail: int | None = None
    ) -> None:
        import base64
        import http.server

        self.base = base
        self.requests: list[tuple[str, str]] = []
        expected = (
            "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode() if auth else None
        )
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _serve(self) -> None:
                server.requests.append((self.command, self.path))
                body = self._body() if self.command == "POST" else b""
                if fail is not None:
                    self._reply(fail, {}, b"failing on purpose\n")
                    return
                if expected and self.headers.get("Authorization") != expected:
                    self._reply(401, {"WWW-Authenticate": 'Basic realm="team"'}, b"")
                    return
                path, _, query = self.path.partition("?")
                env = {
                    "PATH": os.environ.get("PATH", ""),
                    "GIT_PROJECT_ROOT": str(base),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "REQUEST_METHOD": self.command,
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "REMOTE_USER": auth[0] if auth else "anonymous",  # enables receive-pack
                    "REMOTE_ADDR": "127.0.0.1",
                    "GIT_CONFIG_NOSYSTEM": "1",
                    "HOME": str(base),
                }
                out = subprocess.run(
                    ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
                ).stdout
                head, _, payload = out.partition(b"\r\n\r\n")
                status, headers = 200, {}
                for line in head.decode("latin-1").split("\r\n"):
                    key, _, value = line.partition(":")
                    if key.lower() == "status":
                        status = int(value.split()[0])
                    elif key:
                        headers[key] = value.strip()
                self._reply(status, headers, payload)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, daemon=True, name="http-git-server"
        )
        self._thread.start()

    def url(self, name: str, userinfo: str = "", query: str = "") -> str:
        at = f"{userinfo}@" if userinfo else ""
        return f"http://{at}127.0.0.1:{self.port}/{name}" + (f"?{query}" if query else "")

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=10)


def add_blobs(repo: Path, count: int, size: int, seed: int = 1) -> None:
    """Commit ``count`` incompressible files under ``attachments/`` (a heavy transfer)."""
    rng = random.Random(seed)  # noqa: S311 - demo data
    folder = repo / "attachments"
    folder.mkdir(exist_ok=True)
    for i in range(count):
        (folder / f"screenshot-{i:03d}.bin").write_bytes(rng.randbytes(size))
    run_git(repo, "add", "attachments")
    run_git(repo, "commit", "-q", "-m", f"Add {count} attachments")
