"""The demo sandbox: a clone with generated tickets and a remote a few commits ahead."""

from __future__ import annotations

from pathlib import Path

from conftest import git

from ticketflow.demo import build_sandbox, move_remote_ahead
from ticketflow.git.pull import pull
from ticketflow.sandbox import GitDaemon, ThrottledRelay
from ticketflow.store import TicketStore


def test_sandbox_remote_is_ahead_and_pull_brings_tickets(tmp_path: Path) -> None:
    messages: list[str] = []
    box = build_sandbox(tmp_path / "demo", tickets=40, progress=lambda c, t, m: messages.append(m))
    assert messages[0] == "generating 40 tickets" and messages[-1] == "ready"
    store = TicketStore.open(box.workspace)
    assert len(store.load_all().tickets) == 40
    assert store.config.worktree_enabled is False and store.config.branch_on_start is False
    ahead = git(box.remote, "rev-list", "--count", "main").strip()
    here = git(box.workspace, "rev-list", "--count", "HEAD").strip()
    assert int(ahead) == int(here) + 3  # two new tickets and the attachments
    authors = git(box.remote, "log", "-3", "--format=%an: %s").splitlines()
    assert all(a.startswith("Ana Teammate: ") for a in authors)
    # the workspace is a clean checkout, already indexed; a started ticket's
    # current-ticket.md link is ignored, as ticketflow init arranges
    assert git(box.workspace, "status", "--porcelain") == ""
    assert (box.workspace / ".git/ticketflow/index.sqlite").is_file()
    daemon = GitDaemon(box.remote.parent)
    relay = ThrottledRelay(daemon.port, rate=20_000_000)
    try:
        git(box.workspace, "remote", "set-url", "origin", relay.url("team.git"))
        result = pull(box.workspace, store.config)
    finally:
        relay.close()
        daemon.stop()
    assert result.outcome == "fast-forward"
    slugs = {t.slug for t in store.load_all().tickets}
    assert {"pulled-from-the-team", "another-teammate-idea"} <= slugs
    assert len(list((box.workspace / "attachments").iterdir())) == 12
    store.start(next(t.id for t in store.load_all().tickets if t.status.value == "todo"))
    assert (box.workspace / "current-ticket.md").is_symlink()
    assert git(box.workspace, "status", "--porcelain") == ""


def test_the_remote_can_move_ahead_after_the_sandbox_is_built(tmp_path: Path) -> None:
    # what the demo does: the interface starts while the teammate's commits are written
    box = build_sandbox(tmp_path / "demo", tickets=10, ahead=False)
    level = git(box.remote, "rev-parse", "main")
    assert git(box.workspace, "rev-parse", "HEAD") == level
    move_remote_ahead(box)
    assert git(box.remote, "rev-parse", "main~3") == level
