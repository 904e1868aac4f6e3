"""TicketStore: transitions, lookups, commits, atomic writes and concurrent processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import Clock, git, run_process

from ticketflow.errors import (
    AmbiguousIdError,
    InvalidSlugError,
    InvalidTransitionError,
    NotARepoError,
    NotFoundError,
    TicketflowError,
    UsageError,
)
from ticketflow.fsutil import atomic_write
from ticketflow.model import Status
from ticketflow.store import CURRENT_LINK, TicketStore


def log(repo: Path) -> list[str]:
    return git(repo, "log", "--format=%s").splitlines()


def test_create_writes_todo_file_and_commits(store: TicketStore, repo: Path) -> None:
    t = store.create("fix-login", description="Login times out", priority=1)
    assert t.id == "250809-115810-fix-login"
    assert t.path == "tickets/todo/250809-115810-fix-login.md"
    text = (repo / t.path).read_text()
    assert text.startswith(
        "---\npriority: 1\ndescription: Login times out\n"
        'created_at: "2025-08-09T11:58:10+09:00"\nstarted_at: null\nclosed_at: null\n---\n\n'
        "# Summary\n"
    )
    assert log(repo)[0] == f"Add ticket: {t.id}"
    assert git(repo, "status", "--porcelain") == ""


def test_lifecycle_moves_files_and_commits_with_go_messages(store: TicketStore, repo: Path) -> None:
    t = store.create("thing")
    started = store.start("thing")
    assert started.status is Status.DOING
    assert not (repo / t.path).exists()  # type: ignore[operator]
    assert (repo / "tickets/doing" / f"{t.id}.md").exists()
    assert os.readlink(repo / CURRENT_LINK) == f"tickets/doing/{t.id}.md"
    closed = store.close(t.id, reason="shipped")
    assert closed.status is Status.DONE
    assert closed.closure_reason == "shipped"
    assert closed.body.endswith(
        "\n\n## Closure Note\n**Closed on**: 2025-08-09\n**Reason**: shipped\n"
    )
    assert not (repo / CURRENT_LINK).is_symlink()
    reopened = store.reopen(t.id)
    assert reopened.status is Status.DOING
    assert reopened.closure_reason is None and reopened.closed_at is None
    assert (repo / "tickets/doing" / f"{t.id}.md").exists()
    assert log(repo)[:4] == [
        f"Reopen ticket: {t.id}",
        f"Close ticket: {t.id} (shipped)",
        f"Start ticket: {t.id}",
        f"Add ticket: {t.id}",
    ]
    assert git(repo, "status", "--porcelain") == ""
    # git saw a rename, and the history holds no stray files
    assert sorted(git(repo, "ls-files").split()) == [".ticketflow.yaml", f"tickets/doing/{t.id}.md"]


def test_close_without_reason_from_doing(store: TicketStore, repo: Path) -> None:
    t = store.create("a")
    store.start(t.id)
    closed = store.close(t.id)
    assert closed.closure_reason is None
    assert "Closure Note" not in closed.body
    assert log(repo)[0] == f"Close ticket: {t.id}"


def test_reopen_never_started_goes_back_to_todo(store: TicketStore) -> None:
    t = store.create("a")
    store.close(t.id, reason="duplicate")
    assert store.reopen(t.id).status is Status.TODO


@pytest.mark.parametrize(
    ("steps", "action", "fragment"),
    [
        (["start"], "start", "already started"),
        (["close"], "start", "is closed"),
        ([], "close-no-reason", "never started"),
        (["close"], "close", "already closed"),
        ([], "reopen", "is not closed"),
        (["start"], "reopen", "is not closed"),
    ],
)
def test_invalid_transitions_are_refused_and_change_nothing(
    store: TicketStore, repo: Path, steps: list[str], action: str, fragment: str
) -> None:
    t = store.create("a")
    for step in steps:
        if step == "start":
            store.start(t.id)
        else:
            store.close(t.id, reason="r")
    before = {p: p.read_bytes() for p in (repo / "tickets").rglob("*.md")}
    commits = log(repo)
    with pytest.raises(InvalidTransitionError, match=fragment) as info:
        if action == "start":
            store.start(t.id)
        elif action == "close-no-reason":
            store.close(t.id)
        elif action == "close":
            store.close(t.id, reason="again")
        else:
            store.reopen(t.id)
    assert info.value.exit_code == 7
    assert {p: p.read_bytes() for p in (repo / "tickets").rglob("*.md")} == before
    assert log(repo) == commits


@pytest.mark.parametrize(
    "slug", ["../x", "a/b", "Upper", "has space", "", "a..b", "x.md", "tab\t", "é", "x" * 101]
)
def test_invalid_slugs_write_nothing(store: TicketStore, repo: Path, slug: str) -> None:
    with pytest.raises(InvalidSlugError):
        store.create(slug)
    assert list((repo / "tickets").rglob("*")) == [] if (repo / "tickets").exists() else True
    assert not any(p.suffix == ".md" for p in repo.parent.rglob("*.md"))


@pytest.mark.parametrize("slug", ["a--b", "x-", "2024", "x" * 100])
def test_slugs_the_go_tool_accepts_are_accepted(store: TicketStore, slug: str) -> None:
    assert store.create(slug).slug == slug


def test_invalid_priority(store: TicketStore) -> None:
    with pytest.raises(UsageError, match="priority"):
        store.create("a", priority=0)


def test_lookup_by_id_prefix_slug_prefix_and_path(store: TicketStore) -> None:
    a = store.create("alpha")
    b = store.create("alpine")
    c = store.create("beta")
    assert store.resolve(a.id).id == a.id
    assert store.resolve(c.id[:17]).id == c.id  # "250809-115812-bet"
    assert store.resolve("beta").id == c.id
    assert store.resolve(f"tickets/todo/{b.id}.md").id == b.id
    with pytest.raises(AmbiguousIdError) as info:
        store.resolve("alp")
    assert info.value.candidates == (a.id, b.id)
    assert a.id in info.value.message and b.id in info.value.message
    with pytest.raises(AmbiguousIdError):
        store.resolve("2508")
    with pytest.raises(NotFoundError) as nf:
        store.resolve("gamma")
    assert nf.value.exit_code == 4
    assert nf.value.hint


def test_exact_id_wins_over_longer_ids(store: TicketStore, clock: Clock) -> None:
    a = store.create("x")
    clock.now = clock.now.replace(second=10)
    longer = store.create("x-more")  # same second: a.id is a prefix of longer.id
    assert longer.id == a.id + "-more"
    assert store.resolve(a.id).id == a.id
    assert store.resolve(longer.id).id == longer.id


def test_new_id_may_not_be_a_prefix_of_an_existing_id(store: TicketStore, clock: Clock) -> None:
    store.create("x-more")
    clock.now = clock.now.replace(second=10)
    with pytest.raises(UsageError, match="already exists"):
        store.create("x")


def test_parent_is_resolved_to_full_id(store: TicketStore) -> None:
    parent = store.create("epic")
    child = store.create("part", parent="epic")
    assert child.related == (f"parent:{parent.id}",)
    with pytest.raises(NotFoundError):
        store.create("orphan", parent="nope")


def test_commit_includes_only_ticket_paths(store: TicketStore, repo: Path) -> None:
    (repo / "notes.txt").write_text("staged work\n")
    git(repo, "add", "notes.txt")
    t = store.create("a")
    files_in_commit = git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert files_in_commit == [t.path]
    assert "A  notes.txt" in git(repo, "status", "--porcelain")


def test_no_commit_and_config_auto_commit(store: TicketStore, repo: Path) -> None:
    store.create("a", commit=False)
    assert log(repo) == ["init"]
    config = repo / ".ticketflow.yaml"
    config.write_text(config.read_text().replace("git:\n", "git:\n    auto_commit: false\n"))
    quiet = TicketStore.open(repo)
    assert quiet.config.auto_commit is False
    quiet.create("b")
    assert log(repo) == ["init"]


def test_first_commit_on_unborn_branch(tmp_path: Path) -> None:
    from ticketflow.config import default_config_text

    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q", "-b", "trunk")
    (root / ".ticketflow.yaml").write_text(default_config_text())
    t = TicketStore.open(root).create("first")
    assert log(root) == [f"Add ticket: {t.id}"]
    assert git(root, "rev-parse", "--abbrev-ref", "HEAD").strip() == "trunk"


def test_missing_identity_is_a_clear_error(
    store: TicketStore, monkeypatch: pytest.MonkeyPatch, repo: Path
) -> None:
    for key in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(key)
    with pytest.raises(TicketflowError, match=r"user\.name") as info:
        store.create("a")
    assert "git config" in (info.value.hint or "")
    # the ticket file itself was written (nothing lost); only the commit is missing
    assert len(list((repo / "tickets/todo").glob("*.md"))) == 1


def test_not_a_repo_and_not_initialised(tmp_path: Path) -> None:
    with pytest.raises(NotARepoError, match="not inside a git repository") as info:
        TicketStore.open(tmp_path)
    assert "git init" in (info.value.hint or "")
    git(tmp_path, "init", "-q")
    with pytest.raises(NotARepoError, match="not initialised") as info:
        TicketStore.open(tmp_path / ".")
    assert info.value.hint == "run 'ticketflow init' at the top of the repository"


def test_malformed_files_are_reported_and_others_still_load(store: TicketStore, repo: Path) -> None:
    good = store.create("good")
    bad = repo / "tickets/todo/250101-000000-bad.md"
    bad.write_text("---\npriority: [\n---\n")
    (repo / "tickets/todo/250101-000001-binary.md").write_bytes(b"---\n\xff\xfe\n---\n")
    (repo / "tickets/todo/notes.md").write_text("not a ticket name")
    result = store.load_all()
    assert [t.id for t in result.tickets] == [good.id]
    problems = sorted(p.path for p in result.problems)
    assert problems == ["tickets/todo/250101-000000-bad.md", "tickets/todo/250101-000001-binary.md"]
    binary = next(p for p in result.problems if "binary" in p.path)
    assert binary.line == 2 and "UTF-8" in binary.problem


# --- atomic writes ---------------------------------------------------------------------------


def test_failed_replace_keeps_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "t.md"
    target.write_bytes(b"old")

    def boom(src: str, dst: str, **dir_fds: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(TicketflowError, match="No space left") as info:
        atomic_write(target, b"new")
    assert "unchanged" in (info.value.hint or "")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.md"]


def test_atomic_write_keeps_file_mode(tmp_path: Path) -> None:
    target = tmp_path / "t.md"
    target.write_bytes(b"old")
    target.chmod(0o640)
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o640


def test_crash_mid_write_leaves_old_ticket_intact(store: TicketStore, repo: Path) -> None:
    """A process killed (SIGKILL) halfway through writing a ticket loses nothing."""
    t = store.create("victim", description="original")
    path = repo / t.path  # type: ignore[operator]
    original = path.read_bytes()
    script = textwrap.dedent(
        f"""
        import os, signal
        import ticketflow.fsutil as fsutil
        from pathlib import Path

        real_fdopen = os.fdopen

        class Dying:
            def __init__(self, fh): self.fh = fh
            def __enter__(self): return self
            def __exit__(self, *a): return False
            def write(self, data):
                self.fh.write(data[: len(data) // 2])
                self.fh.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            def __getattr__(self, name): return getattr(self.fh, name)

        os.fdopen = lambda fd, mode: Dying(real_fdopen(fd, mode))
        fsutil.atomic_write(Path({str(path)!r}), b"---\\npriority: 1\\n" + b"x" * 100000)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == -9
    assert path.read_bytes() == original
    leftovers = [p.name for p in path.parent.iterdir() if p.name != path.name]
    assert len(leftovers) == 1 and leftovers[0].startswith(".tf-tmp-")
    # the leftover temp file is not mistaken for a ticket
    assert [x.id for x in store.load_all().tickets] == [t.id]
    # a scan removes it once it is over a minute old (a write in progress is younger)
    from ticketflow.index import TicketIndex

    leftover = path.parent / leftovers[0]
    TicketIndex.open(store).scan()
    assert leftover.exists()  # just written: could belong to a write still running
    old = leftover.stat().st_mtime - 120
    os.utime(leftover, (old, old))
    fresh = path.parent / ".tf-tmp-other.md.abcd"
    fresh.write_bytes(b"a write in progress")
    result = run_process(repo, "scan")
    assert result.returncode == 0, result.stderr
    assert not leftover.exists()
    assert fresh.exists()
    assert path.read_bytes() == original


def test_concurrent_processes_do_not_corrupt_anything(store: TicketStore, repo: Path) -> None:
    """Eight processes create tickets at once; the lock serialises files and commits."""
    script = textwrap.dedent(
        """
        import sys
        from datetime import datetime, timezone
        from pathlib import Path
        from ticketflow.store import TicketStore
        n = int(sys.argv[1])
        stamp = datetime(2025, 1, 1, 0, 0, n, tzinfo=timezone.utc)
        store = TicketStore.open(Path(sys.argv[2]), clock=lambda: stamp)
        for i in range(3):
            store.create(f"p{n}-t{i}")
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(n), str(repo)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in range(8)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    tickets = store.load_all()
    assert len(tickets.tickets) == 24 and not tickets.problems
    subjects = log(repo)
    assert len(subjects) == 25 and all(s.startswith("Add ticket: ") for s in subjects[:24])
    assert git(repo, "status", "--porcelain") == ""
    git(repo, "fsck", "--strict")


def test_no_such_ticket_stays_the_answer_when_the_lock_cannot_be_taken(
    store: TicketStore, repo: Path
) -> None:
    (repo / ".git" / "ticketflow.lock").mkdir()  # opening the lock file fails
    with pytest.raises(NotFoundError, match="no ticket matches 'nosuch'"):
        store.get("nosuch")
    r = run_process(repo, "show", "nosuch")
    assert r.returncode == 4 and "no ticket matches 'nosuch'" in r.stderr
