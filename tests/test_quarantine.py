"""Fetch and push through a scratch repository leave the repository as a direct libgit2
fetch would (refs, tags, pruning, FETCH_HEAD, reflogs, linked worktrees), and no scratch
folder behind, whatever happened."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Team, git

from ticketflow.errors import GitError
from ticketflow.git.transport import fetch, push


def _scratch(root: Path) -> list[str]:
    folder = root / ".git" / "ticketflow" / "transfer"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_fetch_brings_refs_tags_fetch_head_and_reflog(team: Team) -> None:
    bob = team.store(team.bob)
    bob.create("from-bob")
    git(team.bob, "tag", "v1")
    git(team.bob, "push", "-q", "origin", "main", "v1")
    result = fetch(team.alice)
    head = git(team.bob, "rev-parse", "HEAD").strip()
    assert git(team.alice, "rev-parse", "refs/remotes/origin/main").strip() == head
    assert git(team.alice, "rev-parse", "refs/tags/v1").strip() == head
    assert "refs/remotes/origin/main" in result.updated_refs
    assert head in (team.alice / ".git" / "FETCH_HEAD").read_text()
    reflog = git(team.alice, "reflog", "show", "--format=%gs", "refs/remotes/origin/main")
    assert reflog.splitlines()[0] == "ticketflow: fetch origin"
    assert _scratch(team.alice) == []
    git(team.alice, "fsck", "--strict")
    again = fetch(team.alice)  # nothing new: the negotiation used what we have
    assert again.received_objects == 0 and again.updated_refs == ()


def test_fetch_prunes_as_the_config_says(team: Team) -> None:
    git(team.bob, "push", "-q", "origin", "main:refs/heads/feature")
    fetch(team.alice)
    assert "refs/remotes/origin/feature" in git(team.alice, "for-each-ref")
    git(team.bob, "push", "-q", "origin", ":refs/heads/feature")
    fetch(team.alice)  # no pruning by default, as git
    assert "refs/remotes/origin/feature" in git(team.alice, "for-each-ref")
    git(team.alice, "config", "fetch.prune", "true")
    fetch(team.alice)
    assert "refs/remotes/origin/feature" not in git(team.alice, "for-each-ref")
    assert "refs/remotes/origin/main" in git(team.alice, "for-each-ref")


def test_fetch_and_push_in_a_linked_worktree(team: Team, tmp_path: Path) -> None:
    tree = tmp_path / "alice-topic"
    git(team.alice, "worktree", "add", "-q", "-b", "topic", str(tree))
    bob = team.store(team.bob)
    bob.create("for-the-worktree")
    git(team.bob, "push", "-q", "origin", "main")
    fetch(tree)
    head = git(team.bob, "rev-parse", "HEAD").strip()
    assert git(team.alice, "rev-parse", "refs/remotes/origin/main").strip() == head
    assert head in (team.alice / ".git" / "worktrees" / tree.name / "FETCH_HEAD").read_text()
    (tree / "notes.txt").write_text("topic work\n")
    git(tree, "add", "notes.txt")
    git(tree, "commit", "-q", "-m", "topic")
    pushed = push(tree, team.store(tree).config)
    assert pushed.branch == "topic"
    assert git(team.alice, "rev-parse", "refs/remotes/origin/topic").strip() == pushed.commit
    assert _scratch(team.alice) == []
    git(team.alice, "fsck", "--strict")


def test_push_updates_the_tracking_ref_with_a_reflog_entry(team: Team) -> None:
    alice = team.store(team.alice)
    alice.create("pushed")
    result = push(team.alice, alice.config)
    assert git(team.alice, "rev-parse", "refs/remotes/origin/main").strip() == result.commit
    reflog = git(team.alice, "reflog", "show", "--format=%gs", "refs/remotes/origin/main")
    assert reflog.splitlines()[0] == "ticketflow: push to origin"
    assert _scratch(team.alice) == []


def test_a_scratch_folder_left_by_a_dead_process_is_swept(team: Team) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = team.alice / ".git" / "ticketflow" / "transfer" / f"{gone.stdout.strip()}-left"
    (stale / "objects" / "pack").mkdir(parents=True)
    (stale / "objects" / "pack" / "pack_git2_0123456789abcdef").write_bytes(b"half a pack")
    fetch(team.alice)
    assert _scratch(team.alice) == []


def test_a_locked_ref_fails_the_publish_as_a_git_error(team: Team) -> None:
    bob = team.store(team.bob)
    bob.create("while-locked")
    git(team.bob, "push", "-q", "origin", "main")
    lock = team.alice / ".git" / "refs" / "remotes" / "origin" / "main.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("another git process\n")
    with pytest.raises(GitError, match="updating the repository failed") as info:
        fetch(team.alice)
    assert not info.value.transient
    assert _scratch(team.alice) == []
    lock.unlink()
    fetch(team.alice)
    head = git(team.bob, "rev-parse", "HEAD").strip()
    assert git(team.alice, "rev-parse", "refs/remotes/origin/main").strip() == head
    git(team.alice, "fsck", "--strict")
