"""The demo sandbox: a clone with generated tickets and a remote a few commits ahead."""

from __future__ import annotations

from pathlib import Path

from conftest import git

from ticketflow.demo import build_sandbox
from ticketflow.gitrepo import pull
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
