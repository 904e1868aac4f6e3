"""Shared fixtures: isolated git identity, fresh ticketflow repositories, the Go corpus."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ticketflow import sandbox
from ticketflow.cli import cli
from ticketflow.config import CONFIG_NAME, default_config_text
from ticketflow.store import TicketStore

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "ticketflow-corpus"
if not CORPUS.is_dir():  # a checkout with shared/ somewhere else: let the env say where
    CORPUS = Path(os.environ.get("TICKETFLOW_CORPUS", CORPUS))
DATA = Path(__file__).parent / "data"
JST = timezone(timedelta(hours=9))


@pytest.fixture(autouse=True)
def git_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every test gets the same identity and no user/system git config or editor."""
    home = tmp_path_factory.mktemp("home")
    for key in (
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "TICKETFLOW_ROOT",
        "TICKETFLOW_OUTPUT_FORMAT",
        "VISUAL",
        "EDITOR",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Author")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "author@example.com")
    # libgit2 reads $HOME once, when pygit2 is first imported: point it at this test's home
    import pygit2
    from pygit2.enums import ConfigLevel

    for level in (ConfigLevel.GLOBAL, ConfigLevel.XDG, ConfigLevel.SYSTEM):
        pygit2.settings.search_path[level] = str(home)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def make_git_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    return path


class Clock:
    """A controllable clock for the store: each call advances one second."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        value = self.now
        self.now = self.now + timedelta(seconds=1)
        return value


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2025, 8, 9, 11, 58, 10, tzinfo=JST))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository initialised for ticketflow (config committed)."""
    root = make_git_repo(tmp_path / "repo")
    (root / CONFIG_NAME).write_text(default_config_text(), encoding="utf-8")
    git(root, "add", CONFIG_NAME)
    git(root, "commit", "-q", "-m", "init")
    return root


@pytest.fixture
def store(repo: Path, clock: Clock) -> TicketStore:
    return TicketStore.open(repo, clock=clock)


@pytest.fixture
def corpus_repo(tmp_path: Path) -> Path:
    """A git repository holding the Go team's 121 tickets and their config."""
    if not CORPUS.is_dir():
        pytest.fail(f"the compatibility corpus is missing at {CORPUS}")
    root = tmp_path / "corpus"
    shutil.copytree(CORPUS, root)
    for p in [root, *root.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    make_git_repo(root)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "corpus")
    return root


class Cli:
    """Runs the click app in-process, in a given directory."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.runner = CliRunner()

    def __call__(self, cwd: Path, *args: str, input: str | None = None) -> Result:
        self.monkeypatch.chdir(cwd)
        return self.runner.invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(monkeypatch)


def run_process(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Runs ``python -m ticketflow`` as a separate process (what a user runs)."""
    return subprocess.run(
        [sys.executable, "-m", "ticketflow", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def chdir_repo(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(repo)
    yield repo


# --- real git remotes ------------------------------------------------------------------------


class GitDaemon(sandbox.GitDaemon):
    """The package's ``git daemon`` runner, plus making bare repositories to serve."""

    def bare(self, name: str) -> Path:
        path = self.base / name
        git(self.base, "init", "-q", "--bare", "-b", "main", name)
        return path


@pytest.fixture
def git_daemon(tmp_path: Path) -> Iterator[GitDaemon]:
    base = tmp_path / "daemon"
    base.mkdir()
    daemon = GitDaemon(base)
    try:
        yield daemon
    finally:
        daemon.stop()
    # nothing of it lives on: no --serve child, upload-pack or pack-objects
    assert sandbox.group_members(daemon.pgid) == []


def make_big_bare(path: Path, files: int, size: int) -> None:
    """A bare repository of ``files`` incompressible blobs (fast-import: about 1 s per 50 MB)."""
    git(path.parent, "init", "-q", "--bare", "-b", "main", path.name)
    proc = subprocess.Popen(
        ["git", "-C", str(path), "fast-import", "--quiet"], stdin=subprocess.PIPE
    )
    assert proc.stdin is not None
    write = proc.stdin.write
    for i in range(files):
        data = os.urandom(size)
        write(b"blob\nmark :%d\ndata %d\n" % (i + 1, len(data)) + data + b"\n")
    write(b"commit refs/heads/main\ncommitter t <t@example.com> 1700000000 +0000\ndata 3\nbig\n")
    for i in range(files):
        write(b"M 100644 :%d data/f%05d.bin\n" % (i + 1, i))
    write(b"\n")
    proc.stdin.close()
    assert proc.wait() == 0


SlowProxy = sandbox.ThrottledRelay
free_port = sandbox.free_port


@pytest.fixture
def slow_remote(git_daemon: GitDaemon) -> Iterator[SlowProxy]:
    """``big.git`` (10 MB of incompressible blobs) behind a 1 MB/s link: about 10 s."""
    make_big_bare(git_daemon.base / "big.git", files=200, size=50_000)
    proxy = SlowProxy(git_daemon.port, rate=1_000_000)
    try:
        yield proxy
    finally:
        proxy.close()


# --- a team sharing a remote ------------------------------------------------------------


def snapshot(root: Path) -> dict[str, bytes]:
    """Every byte a user could see: work tree files, the index, HEAD and branch refs."""
    files = {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }
    files["<index>"] = (root / ".git/index").read_bytes()
    files["<HEAD>"] = git(root, "rev-parse", "HEAD").encode()
    files["<branches>"] = git(root, "for-each-ref", "refs/heads").encode()
    return files


def repo_state(root: Path) -> dict[str, object]:
    """Everything a transfer could leave behind, beyond ``snapshot``: every ref (remote ones
    too), packed-refs, FETCH_HEAD, every file of the object store, lock files and scratch
    repositories anywhere in the git dir. The job history and ticketflow's own lock file
    are left out (they change by design)."""
    gitdir = root / ".git"
    state: dict[str, object] = dict(snapshot(root))
    state["<refs>"] = git(root, "for-each-ref", "--format=%(refname) %(objectname)")
    for name in ("packed-refs", "FETCH_HEAD", "shallow"):
        path = gitdir / name
        state[f"<{name}>"] = path.read_bytes() if path.exists() else None
    state["<objects>"] = sorted(
        p.relative_to(gitdir).as_posix() for p in (gitdir / "objects").rglob("*") if p.is_file()
    )
    state["<locks>"] = sorted(
        p.relative_to(gitdir).as_posix()
        for p in gitdir.rglob("*.lock")
        if p.name != "ticketflow.lock"
    )
    transfer = gitdir / "ticketflow" / "transfer"
    state["<scratch>"] = sorted(p.name for p in transfer.iterdir()) if transfer.exists() else []
    return state


def assert_repo_unchanged(root: Path, before: dict[str, object]) -> None:
    """Refs, HEAD, index, work tree, objects as they were; no lock file, no scratch
    repository, no temporary pack left; and ``git fsck --strict`` finds nothing."""
    after = repo_state(root)
    assert after["<locks>"] == [] and after["<scratch>"] == []
    assert after == before
    git(root, "fsck", "--strict", "--no-progress")


def isolated_children(root: Path) -> list[int]:
    """Living ``python -m ticketflow.isolated`` processes working on ``root``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"ticketflow.isolated" in argv and str(root).encode() in argv and state != "Z":
            found.append(int(entry.name))
    return found


class Team:
    """A shared bare remote served by git daemon, and clones for alice and bob."""

    def __init__(self, daemon: GitDaemon, tmp: Path, clock: Clock) -> None:
        self.daemon = daemon
        self.clock = clock
        daemon.bare("team.git")
        self.url = daemon.url("team.git")
        seed = tmp / "seed"
        git(tmp, "clone", "-q", self.url, str(seed))
        (seed / CONFIG_NAME).write_text(
            default_config_text().replace("enabled: true", "enabled: false")
        )
        git(seed, "add", CONFIG_NAME)
        git(seed, "commit", "-q", "-m", "init")
        store = TicketStore.open(seed, clock=clock)
        self.ticket = store.create("shared", description="first words", priority=2)
        git(seed, "push", "-q", "origin", "main")
        self.alice = self.clone(tmp / "alice")
        self.bob = self.clone(tmp / "bob")

    def clone(self, dest: Path) -> Path:
        from ticketflow.git.transport import clone

        clone(self.url, dest)
        return dest

    def store(self, root: Path) -> TicketStore:
        return TicketStore.open(root, clock=self.clock)


@pytest.fixture
def team(git_daemon: GitDaemon, tmp_path: Path, clock: Clock) -> Team:
    return Team(git_daemon, tmp_path, clock)


def edit_ticket(store: TicketStore, ref: str, **changes: object) -> None:
    tf = store.resolve(ref)
    ticket = store.read_file(tf).with_changes(**changes)
    from ticketflow.fileformat import render_ticket

    store.replace_text(tf, render_ticket(ticket))


@pytest.fixture
def slow_clone(slow_remote: SlowProxy, tmp_path: Path) -> Path:
    """An initialised repository whose origin is ``big.git`` behind the slow link."""
    client = tmp_path / "client"
    git(tmp_path, "init", "-q", "-b", "main", str(client))
    (client / CONFIG_NAME).write_text(default_config_text())
    git(client, "add", CONFIG_NAME)
    git(client, "commit", "-q", "-m", "init")
    git(client, "remote", "add", "origin", slow_remote.url("big.git"))
    return client


async def settle_app(app: Any, pilot: Any, timeout: float = 30.0) -> None:
    """Wait until the app is idle: no job pending or running (the start-up scan, a
    scan after an action), no load or action worker (the bridge lives as long as the app)."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 2:  # idle twice in a row: a finished scan starts a reload, a reload...
        busy = [w for w in app.workers if w.group != "bridge" and not w.is_finished]
        if busy:  # (an empty list would mean every worker, the bridge included)
            await app.workers.wait_for_complete(busy)
        await pilot.pause()
        quiet = 0 if busy or app.active_jobs() else quiet + 1
        if not quiet:
            assert time.monotonic() < deadline, "the app did not become idle"
            await asyncio.sleep(0.02)
