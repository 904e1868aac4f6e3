"""The network part of a transfer: the bytes it moved, the low-speed rule, and the line
after which it may no longer be abandoned.

**The low-speed rule** (git's ``http.lowSpeedLimit`` / ``http.lowSpeedTime``, for every
transport): a transfer that moves fewer than ``timeouts.git_low_speed_bytes`` bytes in any
``timeouts.git`` seconds has stalled, and fails with ``TransferStalledError``, a transient
``NetworkError`` that the job queue retries. libgit2's own ``server_timeout`` is per read, so
a server trickling a byte every couple of seconds never trips it. The bytes counted are the
ones libgit2 reports (pack data received or sent, the server's progress text) and, where the
kernel tells (Linux: ``TCP_INFO`` of the process's TCP sockets, read by ``SocketCounter``),
every byte on the wire, the ref advertisement and the negotiation included: libgit2 reports
only at object boundaries or every 100 kB, so between two reports a slow but healthy link
would otherwise look silent. Local work inside the transfer that libgit2 reports (resolving
deltas once every object is in) restarts the window: it is not the network stalling.

**Phases.** ``network()`` brackets the libgit2 call. Every transfer runs against a scratch
repository (``ticketflow.git.quarantine``): nothing it writes touches the real repository until
``publish``, which runs after the network phase. So inside the network phase the process may
be ended at any moment with the repository unchanged; after it, never. ``abandon`` runs its
``end`` (which ends the process) only while the phase is network, holding the phase: the
thread running libgit2 cannot cross into the local phase while ``end`` runs.

Who enforces what: in a process of its own (``ticketflow.isolated``, the CLI's and the TUI's
transfers) a watchdog thread checks the rule even when libgit2 calls nothing (a silent
server) and a cancel abandons the transfer at once; in-process, the rule is checked at
libgit2's callbacks, a cancel stops at the next one, and a silent server is bounded by
``server_timeout``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

from ticketflow.config import git_dir
from ticketflow.errors import TransferStalledError

TRANSFER_DIR = Path("ticketflow") / "transfer"
"""Where the scratch repositories live, under the repository's common git dir."""


class LowSpeedRule:
    """Fewer than ``floor`` bytes in the last ``window`` seconds, once ``window`` seconds
    have passed since ``restart``: stalled. Pure: times and byte totals come from outside.

    ``observe`` takes the cumulative byte total; the samples kept are the totals seen
    within the window plus the last one before it (the total at the window's start).
    """

    def __init__(self, floor: int, window: float) -> None:
        self.floor = floor
        self.window = window
        self._since = 0.0
        self._total = 0
        self._samples: deque[tuple[float, int]] = deque()

    @property
    def enabled(self) -> bool:
        return self.floor > 0 and self.window > 0

    def restart(self, now: float, total: int | None = None) -> None:
        """A new window from ``now`` (the transfer began, or local work was seen)."""
        if total is not None:
            self._total = total
        self._since = now
        self._samples = deque([(now, self._total)])

    def observe(self, total: int, now: float) -> None:
        if total > self._total:
            self._total = total
            self._samples.append((now, total))
            self._prune(now)

    def _prune(self, now: float) -> None:
        cutoff = now - self.window
        samples = self._samples
        while len(samples) >= 2 and samples[1][0] <= cutoff:
            samples.popleft()

    def moved(self, now: float) -> int:
        """Bytes moved in the last ``window`` seconds (since ``restart`` when sooner)."""
        self._prune(now)
        return self._total - self._samples[0][1]

    def stalled(self, now: float) -> bool:
        if not self.enabled or now - self._since < self.window:
            return False
        return self.moved(now) < self.floor


class TransferWatch:
    """One process's view of its current transfer, shared by the thread running libgit2
    (its callbacks report here) and the threads that may end it; see the module text."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, sockets: SocketCounter | None = None
    ) -> None:
        self._clock = clock
        self.sockets = sockets
        """The kernel's byte counts (the isolated child's watchdog reads them: ``poll``)."""
        self._lock = threading.Lock()
        self._network = False
        self._rule = LowSpeedRule(0, 0)
        self._counts: dict[str, int] = {}
        self._kernel = 0
        self._kernel_base: int | None = None
        self.what = ""
        """``fetch`` or ``push``: for the message of an abandoned transfer."""
        self.action = ""
        """``fetch from <url>`` (redacted): for the message of a stalled transfer."""
        self.received = 0
        self.total: int | None = None

    @contextlib.contextmanager
    def network(self, what: str, action: str, floor: int, window: float) -> Iterator[None]:
        """The network phase: around the libgit2 call that transfers, nothing else."""
        base = self.sockets.total() if self.sockets is not None else None  # before connecting
        with self._lock:
            self.what, self.action = what, action
            self._counts = {}
            self._kernel, self._kernel_base = 0, base
            self.received, self.total = 0, None
            self._rule = LowSpeedRule(floor, window)
            self._rule.restart(self._clock(), 0)
            self._network = True
        try:
            yield
        finally:
            with self._lock:  # waits for an abandon in progress, which never returns
                self._network = False

    @property
    def in_network(self) -> bool:
        return self._network

    def _observe(self) -> None:
        # the kernel's count and libgit2's measure the same bytes: the larger one holds
        total = max(sum(self._counts.values()), self._kernel)
        self._rule.observe(total, self._clock())

    def count(self, source: str, cumulative: int) -> None:
        """``source`` (received, pushed) has moved ``cumulative`` bytes in this transfer."""
        with self._lock:
            self._counts[source] = max(self._counts.get(source, 0), cumulative)
            self._observe()

    def add(self, source: str, count: int) -> None:
        """``count`` more bytes from ``source`` (the server's progress text)."""
        with self._lock:
            self._counts[source] = self._counts.get(source, 0) + count
            self._observe()

    def poll(self) -> None:
        """Read the kernel's count (``sockets``), in the network phase only."""
        if self.sockets is not None and self._network:
            total = self.sockets.total()
            if total is not None:
                self.kernel(total)

    def kernel(self, cumulative: int) -> None:
        """The process's sockets have moved ``cumulative`` bytes (``SocketCounter``),
        counted from the reading taken as the network phase began (else the first)."""
        with self._lock:
            if not self._network:
                return
            if self._kernel_base is None:
                self._kernel_base = cumulative
            self._kernel = cumulative - self._kernel_base
            self._observe()

    def objects(self, received: int, total: int | None) -> None:
        self.received, self.total = received, total

    def working(self) -> None:
        """libgit2 reported local work (resolving deltas): the window starts again."""
        with self._lock:
            self._rule.restart(self._clock())

    def partial(self) -> str:
        """How far it got, as ``CancelledError.partial`` says it ("12/203 objects")."""
        done = f"{self.received}/{self.total}" if self.total else "0"
        return f"{done} objects"

    def stall(self) -> TransferStalledError | None:
        """The error if the network phase breaks the low-speed rule now, else None."""
        with self._lock:
            if not self._network:
                return None
            now = self._clock()
            if not self._rule.stalled(now):
                return None
            rule = self._rule
            return TransferStalledError(self.action, rule.moved(now), rule.floor, rule.window)

    def check(self) -> None:
        """Raise the stall, if any (from a libgit2 callback: libgit2 then aborts)."""
        error = self.stall()
        if error is not None:
            raise error

    def abandon(self, end: Callable[[], object]) -> bool:
        """Call ``end`` (which must end the process) if in the network phase, keeping the
        phase while it runs; False, without calling it, otherwise."""
        with self._lock:
            if not self._network:
                return False
            end()
            return True


class SocketCounter:
    """Bytes this process's TCP sockets have moved (received plus sent and acknowledged),
    from the kernel: Linux's ``TCP_INFO`` (``tcpi_bytes_received``, ``tcpi_bytes_acked``,
    since Linux 4.1/4.2). ``total`` is None where the kernel does not tell.

    A socket's last count is kept after it closes (smart HTTP opens several), so the total
    only grows.
    """

    _ACKED = 120
    """Offset of ``tcpi_bytes_acked`` (then ``tcpi_bytes_received``) in ``struct tcp_info``."""

    def __init__(self, fd_dir: Path = Path("/proc/self/fd")) -> None:
        self.fd_dir = fd_dir
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()
        self.available = fd_dir.is_dir() and hasattr(socket, "TCP_INFO")

    def total(self) -> int | None:
        if not self.available:
            return None
        with self._lock:
            return self._total()

    def _total(self) -> int | None:
        try:
            names = os.listdir(self.fd_dir)
        except OSError:
            return None
        for name in names:
            try:
                target = os.readlink(self.fd_dir / name)
            except OSError:
                continue
            if not target.startswith("socket:"):
                continue
            try:
                sock = socket.fromfd(int(name), socket.AF_INET, socket.SOCK_STREAM)
            except (OSError, ValueError):
                continue  # closed meanwhile
            try:
                info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
            except OSError:
                continue  # not TCP (a unix socket: the ssh agent)
            finally:
                sock.close()
            if len(info) >= self._ACKED + 16:
                acked, received = struct.unpack_from("QQ", info, self._ACKED)
                self._seen[target] = acked + received
        return sum(self._seen.values())


# --- scratch repositories ---------------------------------------------------------------------


def common_git_dir(gitdir: Path) -> Path:
    """The git dir holding objects and refs: ``gitdir`` itself, or for a linked worktree
    (``.git/worktrees/<name>``) the one its ``commondir`` file names."""
    pointer = gitdir / "commondir"
    try:
        text = pointer.read_text(encoding="utf-8").strip()
    except OSError:
        return gitdir
    target = Path(text)
    return (target if target.is_absolute() else gitdir / target).resolve()


def scratch_parent(gitdir: Path) -> Path:
    return common_git_dir(gitdir) / TRANSFER_DIR


def remove_scratch(root: Path, pid: int) -> list[Path]:
    """Remove the scratch repositories process ``pid`` made for the repository at
    ``root`` (after it was ended: what its transfer left is disposable); the removed."""
    parent = scratch_parent(git_dir(root))
    removed = []
    with contextlib.suppress(OSError):
        for entry in parent.glob(f"{pid}-*"):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(parent: Path) -> None:
    """Remove scratch repositories whose process is gone (it was killed, and so was
    whoever would have cleaned after it)."""
    with contextlib.suppress(OSError):
        for entry in parent.iterdir():
            pid, _, _ = entry.name.partition("-")
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)
