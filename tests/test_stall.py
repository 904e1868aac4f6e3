"""Remotes that stall: the low-speed rule, and a cancel (Ctrl+C, SIGTERM, the TUI's ESC)
that ends a transfer at once whatever the server does, with the repository unchanged and
the job recorded as cancelled.

Real processes against a real ``git daemon`` behind a real relay that goes silent or
trickles one byte at a time (``sandbox.ThrottledRelay(stall_after=..., stall=...)``).
Assertions are about behaviour; the only times are generous bounds that prove the point
(an exit well before the 30 s ``timeouts.git`` a silent server would otherwise cost).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import (
    GitDaemon,
    assert_repo_unchanged,
    git,
    isolated_children,
    make_big_bare,
    repo_state,
)

from ticketflow.config import CONFIG_NAME, default_config_text
from ticketflow.errors import CancelledError, NetworkError, TransferStalledError
from ticketflow.git.transfer import LowSpeedRule, SocketCounter, TransferWatch
from ticketflow.jobs import ISOLATED, JobQueue, JobStatus, load_history
from ticketflow.jobs.git import pull_job
from ticketflow.sandbox import ThrottledRelay
from ticketflow.store import TicketStore

# --- the rule, with a clock of our own -----------------------------------------------------


def test_a_silent_transfer_stalls_after_one_window() -> None:
    rule = LowSpeedRule(floor=1000, window=30)
    rule.restart(0.0, 0)
    assert not rule.stalled(29.9)
    assert rule.stalled(30.0)


def test_a_trickle_stalls_a_steady_flow_does_not() -> None:
    trickle = LowSpeedRule(floor=1000, window=30)
    steady = LowSpeedRule(floor=1000, window=30)
    trickle.restart(0.0, 0)
    steady.restart(0.0, 0)
    for second in range(0, 120, 2):  # one byte every 2 s; 100 bytes every 2 s
        trickle.observe(second // 2 + 1, float(second))
        steady.observe(100 * (second // 2 + 1), float(second))
        if second >= 30:
            assert trickle.stalled(float(second)), second
            assert not steady.stalled(float(second)), second


def test_the_window_slides_and_local_work_restarts_it() -> None:
    rule = LowSpeedRule(floor=1000, window=10)
    rule.restart(0.0, 0)
    rule.observe(50_000, 1.0)  # a burst, then nothing
    assert not rule.stalled(10.5)  # the burst is inside the last 10 s
    assert rule.stalled(11.5)  # now it is not
    assert rule.moved(11.5) == 0
    rule.restart(12.0)  # libgit2 reported local work (resolving deltas)
    assert not rule.stalled(21.9) and rule.stalled(22.0)


def test_a_floor_of_zero_turns_the_rule_off() -> None:
    rule = LowSpeedRule(floor=0, window=30)
    rule.restart(0.0, 0)
    assert not rule.stalled(10_000.0)


def test_the_watch_reports_a_stall_only_in_the_network_phase() -> None:
    now = [0.0]
    watch = TransferWatch(clock=lambda: now[0])
    now[0] = 100.0
    assert watch.stall() is None  # no transfer
    with watch.network("fetch", "fetch from git://h/x.git", 1000, 30):
        now[0] = 110.0
        watch.count("received", 10)
        now[0] = 129.0
        assert watch.stall() is None  # not a whole window yet
        now[0] = 131.0
        stalled = watch.stall()
        assert isinstance(stalled, TransferStalledError)
        assert isinstance(stalled, NetworkError) and stalled.transient
        assert stalled.kind == "network"
        assert stalled.message.startswith("fetch from git://h/x.git failed: stalled: 10 bytes")
        assert stalled.details() == {"stalled": {"bytes": 10, "seconds": 30, "floor": 1000}}
        with pytest.raises(TransferStalledError):
            watch.check()
    assert watch.stall() is None  # the local phase is never stalled


class FakeSockets(SocketCounter):
    """The kernel's count, set by the test."""

    def __init__(self) -> None:
        super().__init__()
        self.value = 0

    def total(self) -> int | None:
        return self.value


def test_the_kernel_count_starts_when_the_network_phase_starts() -> None:
    """Between libgit2's reports (one per object) only the kernel sees bytes flowing; its
    count is taken from the moment the phase begins, so a burst that came before the
    watchdog's first reading is not lost (it was: libgit2's count then stayed ahead and hid
    the kernel's, and a steady 20 kB/s link was called stalled)."""
    now = [0.0]
    sockets = FakeSockets()
    sockets.value = 500  # an older connection of this process
    watch = TransferWatch(clock=lambda: now[0], sockets=sockets)
    with watch.network("fetch", "fetch", 1000, 1.0):
        now[0], sockets.value = 0.3, 500 + 17_000  # the first burst, read late
        watch.count("received", 16_384)  # libgit2: one object
        watch.poll()
        for step in range(1, 30):  # 16 kB every 0.8 s, libgit2 silent meanwhile
            now[0] = 0.3 + step * 0.4
            if step % 2 == 0:
                sockets.value += 16_384
            watch.poll()
            assert watch.stall() is None, now[0]
        now[0] += 1.5  # then nothing at all
        watch.poll()
        assert watch.stall() is not None


def test_abandon_holds_the_network_phase() -> None:
    """``end`` runs only inside the network phase, and the thread running libgit2 cannot
    leave that phase while it runs."""
    watch = TransferWatch()
    assert watch.abandon(lambda: pytest.fail("not in a transfer")) is False
    inside, release, left = threading.Event(), threading.Event(), threading.Event()

    def transfer() -> None:
        with watch.network("fetch", "fetch", 1000, 30):
            inside.set()
            release.wait(10)
        left.set()

    worker = threading.Thread(target=transfer)
    worker.start()
    inside.wait(10)
    ended: list[bool] = []

    def end() -> None:
        release.set()  # the transfer tries to leave the network phase now...
        time.sleep(0.2)
        ended.append(left.is_set())  # ...and cannot while we are here

    assert watch.abandon(end) is True
    worker.join(10)
    assert ended == [False] and left.is_set()
    assert watch.abandon(lambda: pytest.fail("the phase is over")) is False


# --- a client in front of a misbehaving server ------------------------------------------------


@dataclass
class Stalling:
    client: Path
    relay: ThrottledRelay
    daemon: GitDaemon


def configure(
    client: Path, *, timeout: int = 30, attempts: int = 3, floor: int | None = None
) -> None:
    text = default_config_text().replace("    git: 30\n", f"    git: {timeout}\n")
    if floor is not None:
        text = text.replace(
            f"    git: {timeout}\n", f"    git: {timeout}\n    git_low_speed_bytes: {floor}\n"
        )
    text += f"jobs:\n    retry:\n        attempts: {attempts}\n        delay: 0\n"
    (client / CONFIG_NAME).write_text(text)
    git(client, "add", CONFIG_NAME)
    git(client, "commit", "-q", "-m", "settings")


@pytest.fixture
def big_remote(git_daemon: GitDaemon) -> GitDaemon:
    make_big_bare(git_daemon.base / "big.git", files=200, size=50_000)  # 10 MB
    return git_daemon


@pytest.fixture
def stalling(
    big_remote: GitDaemon, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Stalling]:
    """``request.param``: (stall, stall_after) of the relay in front of big.git."""
    stall, after = request.param
    relay = ThrottledRelay(
        big_remote.port, rate=0, stall_after=after, stall=stall, trickle_every=0.5
    )
    client = tmp_path / "client"
    git(tmp_path, "init", "-q", "-b", "main", str(client))
    configure(client)
    git(client, "remote", "add", "origin", relay.url("big.git"))
    try:
        yield Stalling(client, relay, big_remote)
    finally:
        relay.close()


SILENT = ("silent", 0)
"""Accepts the connection, answers nothing: not even the ref advertisement."""
TRICKLE = ("trickle", 0)
"""One byte every 0.5 s from the start: libgit2's per-read timeout never trips."""
TRICKLE_IN_PACK = ("trickle", 300_000)
"""The advertisement and the first 300 kB of the pack, then one byte every 0.5 s."""
SILENT_IN_PACK = ("silent", 300_000)


def start(client: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ticketflow", *args],
        cwd=client,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def finish(proc: subprocess.Popen[str], bound: float) -> tuple[str, str, float]:
    """Wait for the process (at most ``bound`` seconds: a hang guard that fails the test)."""
    began = time.monotonic()
    try:
        out, err = proc.communicate(timeout=bound)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"still running after {bound} s; stderr: {err[-2000:]}")
    return out, err, time.monotonic() - began


def scratch_packs(client: Path) -> list[Path]:
    """Temporary packs libgit2 is writing in the transfer's scratch repository."""
    return list((client / ".git/ticketflow/transfer").glob("*/objects/pack/pack_git2_*"))


def wait_for(predicate: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


# --- the low-speed rule through the command line -------------------------------------------------


@pytest.mark.parametrize(
    ("stalling", "command"),
    [
        (TRICKLE, "pull"),
        (TRICKLE_IN_PACK, "pull"),
        (SILENT_IN_PACK, "pull"),
        (TRICKLE, "push"),
        (TRICKLE, "sync"),
    ],
    indirect=["stalling"],
)
def test_a_trickling_or_stalled_server_fails_as_a_retried_network_error(
    stalling: Stalling, command: str
) -> None:
    client = stalling.client
    configure(client, timeout=2, attempts=2)  # the default floor: 1000 bytes in 2 s
    before = repo_state(client)
    proc = start(client, command, "-o", "json")
    _, err, _ = finish(proc, 60)  # without the rule a trickle never ends
    assert proc.returncode == 9, err
    error = json.loads(err)["error"]
    assert error["type"] == "network"
    if stalling.relay.stall == "silent" and "stalled" not in error:
        # silence: libgit2's own per-read timeout (timeouts.git too) may say it first
        assert "timed out" in error["message"]
    else:
        assert "stalled: " in error["message"]
        assert "timeouts.git_low_speed_bytes (1000)" in error["message"]
        assert error["stalled"]["floor"] == 1000 and error["stalled"]["seconds"] == 2
    history = load_history(client)
    first = history[-1]  # a sync also records its push, cancelled as a dependency
    assert first["kind"] == ("push" if command == "push" else "pull")
    assert first["status"] == "failed" and first["attempts"] == 2  # retried as configured
    assert isolated_children(client) == []
    assert_repo_unchanged(client, before)


def test_a_slow_but_steady_link_is_not_a_stall(git_daemon: GitDaemon, tmp_path: Path) -> None:
    """20 kB/s for about 10 s, with the rule at 1000 bytes per second: completes."""
    make_big_bare(git_daemon.base / "slow.git", files=10, size=20_000)
    relay = ThrottledRelay(git_daemon.port, rate=20_000)
    try:
        client = tmp_path / "client"
        git(tmp_path, "clone", "-q", str(git_daemon.base / "slow.git"), str(client))
        configure(client, timeout=1, attempts=1)
        git(client, "remote", "set-url", "origin", relay.url("slow.git"))
        git(git_daemon.base / "slow.git", "update-ref", "refs/heads/extra", "main")
        make_big_bare(tmp_path / "more.git", files=10, size=20_000)
        git(
            tmp_path / "more.git",
            "push",
            "-q",
            str(git_daemon.base / "slow.git"),
            "main:refs/heads/more",
        )
        proc = start(client, "pull", "-o", "json")
        out, err, _ = finish(proc, 120)
        assert proc.returncode == 0, err
        assert json.loads(out)["fetch"]["received_objects"] > 0
        assert load_history(client)[0]["status"] == "completed"
    finally:
        relay.close()


# --- Ctrl+C and SIGTERM through the command line -----------------------------------------------


@pytest.mark.parametrize(
    ("stalling", "signum"),
    [
        (SILENT, signal.SIGINT),
        (SILENT, signal.SIGTERM),
        (TRICKLE_IN_PACK, signal.SIGINT),
        (TRICKLE_IN_PACK, signal.SIGTERM),
        (SILENT_IN_PACK, signal.SIGINT),
    ],
    indirect=["stalling"],
)
def test_one_signal_ends_a_stalled_pull_at_once(stalling: Stalling, signum: int) -> None:
    """timeouts.git is 30 s: libgit2 would sit in its read that long (the trickle: for ever).
    One signal ends the process at once, cancelled, recorded, nothing changed."""
    client = stalling.client
    before = repo_state(client)
    proc = start(client, "pull")
    if stalling.relay.stall_after:
        wait_for(lambda: scratch_packs(client))  # mid-pack: a temporary pack is being written
    wait_for(stalling.relay.stalling.is_set)
    time.sleep(0.3)
    sent = time.monotonic()
    os.kill(proc.pid, signum)
    _, err, _ = finish(proc, 60)
    took = time.monotonic() - sent
    assert proc.returncode == (130 if signum == signal.SIGINT else 143), err
    assert "Error: fetch cancelled after " in err
    assert took < 15, f"{took:.1f} s: not before the 30 s server timeout"
    entry = load_history(client)[0]
    assert (entry["kind"], entry["status"]) == ("pull", "cancelled")
    assert entry["error"]["type"] == "cancelled"
    assert isolated_children(client) == []
    assert_repo_unchanged(client, before)
    assert scratch_packs(client) == []


@pytest.mark.parametrize("stalling", [SILENT], indirect=True)
def test_sigterm_cancels_both_jobs_of_a_sync_json(stalling: Stalling) -> None:
    client = stalling.client
    before = repo_state(client)
    proc = start(client, "sync", "-o", "json")
    wait_for(stalling.relay.stalling.is_set)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGTERM)
    _, err, _ = finish(proc, 60)
    assert proc.returncode == 143, err
    error = json.loads(err)["error"]
    assert error["type"] == "cancelled" and error["signal"] == "SIGTERM"
    # the pending push is cancelled at once, the pull once its child has ended
    assert sorted((e["kind"], e["status"]) for e in load_history(client)) == [
        ("pull", "cancelled"),
        ("push", "cancelled"),
    ]
    assert isolated_children(client) == []
    assert_repo_unchanged(client, before)


@pytest.mark.parametrize("stalling", [SILENT], indirect=True)
def test_ctrl_c_ends_a_push_to_a_silent_server(stalling: Stalling) -> None:
    client = stalling.client
    TicketStore.open(client).create("to-push")
    before = repo_state(client)
    proc = start(client, "push")
    wait_for(stalling.relay.stalling.is_set)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGINT)
    _, err, took = finish(proc, 60)
    assert proc.returncode == 130, err
    assert "Error: push cancelled" in err
    assert took < 15
    assert load_history(client)[0]["status"] == "cancelled"
    assert_repo_unchanged(client, before)


# --- the TUI's way: a job in a child process, cancelled by the queue ----------------------------


@pytest.mark.parametrize("stalling", [SILENT, TRICKLE_IN_PACK], indirect=True)
async def test_cancelling_an_isolated_pull_ends_it_at_once(stalling: Stalling) -> None:
    client = stalling.client
    before = repo_state(client)
    store = TicketStore.open(client)
    seen: list[str] = []
    async with JobQueue.for_repo(client, runner=ISOLATED) as queue:
        job = queue.submit(pull_job(client, store.config))
        updates = queue.subscribe()

        async def collect() -> None:
            async for update in updates:
                seen.append(update.message)

        collector = asyncio.create_task(collect())
        while not stalling.relay.stalling.is_set():
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        if stalling.relay.stall_after:
            # the burst before the trickle reached us, though no callback followed it
            received = [m for m in seen if m.startswith("receiving objects ")]
            assert received and not received[-1].startswith("receiving objects 0/"), seen
        sent = time.monotonic()
        queue.cancel(job)  # ESC
        with pytest.raises(CancelledError) as info:
            await queue.wait(job)
        took = time.monotonic() - sent
        assert queue.status(job) is JobStatus.CANCELLED
        collector.cancel()
    assert took < 15
    assert info.value.message.startswith("fetch cancelled")
    assert load_history(client)[0]["status"] == "cancelled"
    assert isolated_children(client) == []
    assert_repo_unchanged(client, before)


@pytest.mark.parametrize("stalling", [TRICKLE_IN_PACK], indirect=True)
def test_a_second_ctrl_c_quits_at_once_and_the_child_stops_alone(stalling: Stalling) -> None:
    """The child is frozen (SIGSTOP), so the first Ctrl+C cannot end the job; the second
    quits the command at once. Thawed, the child finds its parent gone and ends itself."""
    client = stalling.client
    before = repo_state(client)
    proc = start(client, "pull")
    wait_for(lambda: scratch_packs(client))
    wait_for(lambda: isolated_children(client))
    (child,) = isolated_children(client)
    os.kill(child, signal.SIGSTOP)
    try:
        os.kill(proc.pid, signal.SIGINT)
        time.sleep(0.5)
        assert proc.poll() is None  # waiting for the job to end
        os.kill(proc.pid, signal.SIGINT)
        _, err, took = finish(proc, 30)
        assert proc.returncode == 130 and took < 5
        assert err.rstrip().endswith("Operation cancelled")
    finally:
        os.kill(child, signal.SIGCONT)
    wait_for(lambda: not isolated_children(client), timeout=15)
    assert_repo_unchanged(client, before)  # it removed its scratch folder itself
