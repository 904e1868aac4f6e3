"""Claims that cannot collide (``start --claim``, ``close --claim``, ``sync.claim``): two
clones of one remote served by a real ``git daemon`` on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Cli, Team, git, make_git_repo, snapshot

from ticketflow.config import CONFIG_NAME, default_config_text
from ticketflow.git.transport import push


def _as(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("GIT_AUTHOR_NAME", name)
    monkeypatch.setenv("GIT_COMMITTER_NAME", name)


def _remote_file(team: Team, clone: Path, folder: str) -> bool:
    """Is the shared ticket in ``folder`` on the remote's main (as ``clone`` fetched it)?"""
    git(clone, "fetch", "-q", "origin")
    listed = git(clone, "ls-tree", "-r", "--name-only", "origin/main", "tickets")
    return f"tickets/{folder}/{team.ticket.id}.md" in listed.split()


def _local_state(root: Path) -> dict[str, object]:
    """Every byte a user sees (files, index, HEAD, branches) and every ref but the
    remote-tracking ones, which a claim's fetch moves by design."""
    state: dict[str, object] = dict(snapshot(root))
    refs = git(root, "for-each-ref", "--format=%(refname) %(objectname)").splitlines()
    state["<refs>"] = [r for r in refs if not r.startswith("refs/remotes/")]
    state["<symbolic HEAD>"] = git(root, "symbolic-ref", "HEAD")
    return state


def test_claim_wins_and_pushes(team: Team, run: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    _as(monkeypatch, "Alice")
    result = run(team.alice, "start", team.ticket.id, "--claim", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["status"] == "doing"
    assert data["claim"]["remote"] == "origin" and data["claim"]["remote_branch"] == "main"
    assert data["claim"]["attempts"] == 1 and data["claim"]["pulled"] is False
    assert data["branch"] == team.ticket.id  # the workspace is made after the push
    assert _remote_file(team, team.bob, "doing")
    assert git(team.bob, "log", "-1", "--format=%an %s", "origin/main").strip() == (
        f"Alice Start ticket: {team.ticket.id}"
    )
    assert data["claim"]["commit"] == git(team.bob, "rev-parse", "origin/main").strip()


def test_teammate_started_first_is_named_and_nothing_changes(
    team: Team, run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _as(monkeypatch, "Ana")
    assert run(team.bob, "start", team.ticket.id, "--claim").exit_code == 0
    _as(monkeypatch, "Alice")
    (team.alice / "notes.txt").write_text("uncommitted, untouched\n")
    before = _local_state(team.alice)
    result = run(team.alice, "start", team.ticket.id, "--claim")
    assert result.exit_code == 3, result.output
    assert f"ticket {team.ticket.id} was already started by Ana" in result.output
    assert "on origin; nothing was changed here" in result.output
    assert _local_state(team.alice) == before
    git(team.alice, "fsck", "--no-progress")
    json_result = run(team.alice, "start", team.ticket.id, "--claim", "--format", "json")
    assert json_result.exit_code == 3
    error = json.loads(json_result.output)["error"]
    assert error["code"] == "TICKET_CLAIMED" and error["type"] == "ticket_claimed"
    assert error["by"] == "Ana" and error["action"] == "started" and error["remote"] == "origin"
    assert error["commit"] == git(team.alice, "rev-parse", "origin/main").strip()
    assert _local_state(team.alice) == before


def test_claim_after_push_rejected_undoes_the_local_start(
    team: Team, run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alice fetched before Bob pushed his start (so her first judgement passes); her push
    is rejected, the new fetch shows Bob's start, and her commit is undone byte for byte."""
    from ticketflow.errors import TicketClaimedError
    from ticketflow.git import claim as claim_module

    bob = team.store(team.bob)
    alice = team.store(team.alice)
    before = _local_state(team.alice)
    real_judge = claim_module._judge
    calls: list[int] = []

    def judge_then_bob_pushes(*args: object, **kwargs: object) -> None:
        calls.append(1)
        real_judge(*args, **kwargs)  # type: ignore[arg-type]
        if len(calls) == 1:  # between Alice's judgement and her push, Bob wins the race
            _as(monkeypatch, "Bob")
            bob.start_ticket(team.ticket.id, workspace=False)
            push(team.bob, bob.config)
            _as(monkeypatch, "Alice")

    monkeypatch.setattr(claim_module, "_judge", judge_then_bob_pushes)
    with pytest.raises(TicketClaimedError) as lost:
        claim_module.claim(alice, team.ticket.id, "start")
    assert lost.value.by == "Bob" and len(calls) == 2
    assert _local_state(team.alice) == before
    assert (team.alice / "tickets/todo" / f"{team.ticket.id}.md").exists()
    assert git(team.alice, "status", "--porcelain") == ""


def test_remote_moved_elsewhere_claim_pulls_and_wins(
    team: Team, run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _as(monkeypatch, "Bob")
    bob = team.store(team.bob)
    other = bob.create("other-work")
    push(team.bob, bob.config)
    _as(monkeypatch, "Alice")
    result = run(team.alice, "start", team.ticket.id, "--claim", "--no-branch", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["claim"]["pulled"] is True
    assert (team.alice / "tickets/todo" / f"{other.id}.md").exists()
    assert _remote_file(team, team.bob, "doing")


def test_close_claim_refused_when_teammate_closed(
    team: Team, run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _as(monkeypatch, "Alice")
    assert run(team.alice, "start", team.ticket.id, "--claim", "--no-branch").exit_code == 0
    git(team.bob, "pull", "-q", "origin", "main")
    _as(monkeypatch, "Ana")
    assert run(team.bob, "close", team.ticket.id, "--claim").exit_code == 0
    _as(monkeypatch, "Alice")
    before = _local_state(team.alice)
    result = run(team.alice, "close", team.ticket.id, "--claim")
    assert result.exit_code == 3, result.output
    assert "was already closed by Ana" in result.output
    assert _local_state(team.alice) == before


def test_close_claim_refused_when_teammate_reopened(
    team: Team, run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _as(monkeypatch, "Alice")
    assert run(team.alice, "start", team.ticket.id, "--claim", "--no-branch").exit_code == 0
    assert run(team.alice, "close", team.ticket.id, "--claim").exit_code == 0
    git(team.bob, "pull", "-q", "origin", "main")
    _as(monkeypatch, "Ana")
    assert run(team.bob, "reopen", team.ticket.id).exit_code == 0
    assert run(team.bob, "push").exit_code == 0
    _as(monkeypatch, "Alice")
    # Alice's copy is closed: reopening it here and closing again must not win over Ana's
    # reopen (the remote's ticket was closed and reopened since Alice's base)
    assert run(team.alice, "reopen", team.ticket.id).exit_code == 0
    before = _local_state(team.alice)
    result = run(team.alice, "close", team.ticket.id, "--claim")
    assert result.exit_code == 3, result.output
    assert "was already reopened by Ana" in result.output
    assert _local_state(team.alice) == before


def test_close_claim_wins_over_an_unrelated_edit(
    team: Team, run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _as(monkeypatch, "Alice")
    assert run(team.alice, "start", team.ticket.id, "--claim", "--no-branch").exit_code == 0
    git(team.bob, "pull", "-q", "origin", "main")
    bob = team.store(team.bob)
    _as(monkeypatch, "Bob")
    bob.create("unrelated")
    push(team.bob, bob.config)
    _as(monkeypatch, "Alice")
    result = run(team.alice, "close", team.ticket.id, "--claim", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["status"] == "done"
    assert _remote_file(team, team.bob, "done")


def test_no_remote_is_a_clear_error(
    tmp_path: Path, run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_git_repo(tmp_path / "alone")
    (root / CONFIG_NAME).write_text(default_config_text(), encoding="utf-8")
    git(root, "add", CONFIG_NAME)
    git(root, "commit", "-q", "-m", "init")
    assert run(root, "new", "solo").exit_code == 0
    tid = git(root, "ls-files", "tickets/todo").strip().split("/")[-1].removesuffix(".md")
    before = _local_state(root)
    result = run(root, "start", tid, "--claim")
    assert result.exit_code == 2, result.output
    assert "--claim needs the team's remote" in result.output
    assert "git remote add origin" in result.output
    assert _local_state(root) == before
    with_no_commit = run(root, "start", tid, "--claim", "--no-commit")
    assert with_no_commit.exit_code == 2 and "--no-commit" in with_no_commit.output


def test_sync_claim_makes_plain_start_claim(
    team: Team, run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    for clone in (team.alice, team.bob):
        config = clone / CONFIG_NAME
        config.write_text(config.read_text() + "sync:\n  claim: true\n")
        git(clone, "update-index", "--assume-unchanged", CONFIG_NAME)
    _as(monkeypatch, "Ana")
    won = run(team.bob, "start", team.ticket.id, "--no-branch", "--format", "json")
    assert won.exit_code == 0, won.output
    assert "claim" in json.loads(won.output)
    _as(monkeypatch, "Alice")
    lost = run(team.alice, "start", team.ticket.id)
    assert lost.exit_code == 3 and "started by Ana" in lost.output
    bad = team.alice / CONFIG_NAME
    bad.write_text(bad.read_text().replace("claim: true", "claim: sometimes"))
    result = run(team.alice, "start", team.ticket.id)
    assert result.exit_code != 0 and "sync.claim must be true or false" in result.output


def test_the_race_exactly_one_winner_every_round(team: Team) -> None:
    """Two processes (two clones) start the same ticket at the same moment, ten rounds:
    the remote takes one start, the other process is told who won and its clone is as it
    was (apart from what its fetch brought)."""
    rounds = 10
    for n in range(rounds):
        ids = []
        seed = team.store(team.bob)
        ticket = seed.create(f"race-{n}")
        ids.append(ticket.id)
        push(team.bob, seed.config)
        git(team.alice, "pull", "-q", "origin", "main")
        states = {clone: _local_state(clone) for clone in (team.alice, team.bob)}
        gate = team.alice.parent / f"gate-{n}"
        procs = {
            name: subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "import os, sys, time\n"
                    "while not os.path.exists(sys.argv[1]): time.sleep(0.001)\n"
                    "from ticketflow.cli import main\n"
                    "sys.argv = ['ticketflow', *sys.argv[2:]]\n"
                    "main()\n",
                    str(gate),
                    "start",
                    ticket.id,
                    "--claim",
                    "--no-branch",
                    "--format",
                    "json",
                ],
                cwd=clone,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "GIT_AUTHOR_NAME": name, "GIT_COMMITTER_NAME": name},
            )
            for name, clone in (("Alice", team.alice), ("Bob", team.bob))
        }
        gate.touch()
        outcomes = {name: (p.wait(timeout=120), p.communicate()) for name, p in procs.items()}
        winners = [name for name, (code, _) in outcomes.items() if code == 0]
        assert len(winners) == 1, outcomes
        winner = winners[0]
        loser = "Bob" if winner == "Alice" else "Alice"
        code, (out, err) = outcomes[loser]
        assert code == 3, (out, err)
        error = json.loads(err)["error"]  # errors go to stderr
        assert error["code"] == "TICKET_CLAIMED" and error["by"] == winner, error
        loser_clone = team.alice if loser == "Alice" else team.bob
        assert _local_state(loser_clone) == states[loser_clone]
        assert git(team.alice, "log", "-1", "--format=%an", "origin/main").strip() == winner
        # both clones catch up for the next round
        for clone in (team.alice, team.bob):
            git(clone, "pull", "-q", "--no-rebase", "origin", "main")


def test_ago_says_the_largest_whole_unit() -> None:
    from datetime import UTC, datetime, timedelta

    from ticketflow.git.claim import ago

    now = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
    assert ago(now - timedelta(minutes=4, seconds=59), now) == "4 minutes ago"
    assert ago(now - timedelta(seconds=1), now) == "just now"
    assert ago(now - timedelta(seconds=30), now) == "30 seconds ago"
    assert ago(now - timedelta(hours=1), now) == "1 hour ago"
    assert ago(now - timedelta(days=3, hours=5), now) == "3 days ago"


def test_tui_start_follows_sync_claim_in_the_isolated_child(
    team: Team, run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The TUI's ``s`` runs the ``start`` work in a child process: with sync.claim it claims,
    and a lost claim comes back as the very TicketClaimedError (who won included)."""
    from ticketflow.cancel import CancelToken, no_progress
    from ticketflow.errors import TicketClaimedError
    from ticketflow.isolated import run_isolated

    for clone in (team.alice, team.bob):
        config = clone / CONFIG_NAME
        config.write_text(config.read_text() + "sync:\n  claim: true\n")
        git(clone, "update-index", "--assume-unchanged", CONFIG_NAME)
    _as(monkeypatch, "Ana")
    won = run_isolated("start", team.bob, no_progress, CancelToken(), {"ref": team.ticket.id})
    assert won["ticket_id"] == team.ticket.id and won["branch"] == team.ticket.id
    assert _remote_file(team, team.alice, "doing")
    _as(monkeypatch, "Alice")
    before = _local_state(team.alice)
    with pytest.raises(TicketClaimedError) as lost:
        run_isolated("start", team.alice, no_progress, CancelToken(), {"ref": team.ticket.id})
    assert lost.value.by == "Ana" and lost.value.action == "started"
    assert lost.value.remedy == "pick_another"
    assert _local_state(team.alice) == before


def test_ctrl_c_during_the_push_undoes_the_local_start(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KeyboardInterrupt (what Ctrl+C raises, also from inside libgit2's callbacks) after
    the local start is made: the start is undone before the interrupt goes on, and the
    remote never had it."""
    from ticketflow.git import claim as claim_module
    from ticketflow.git import transport

    _as(monkeypatch, "Alice")
    alice = team.store(team.alice)
    before = _local_state(team.alice)
    seen: list[str] = []

    def interrupted_push(root: Path, *args: object, **kwargs: object) -> None:
        seen.append(git(root, "log", "-1", "--format=%s").strip())  # the start was committed
        raise KeyboardInterrupt

    monkeypatch.setattr(transport, "push", interrupted_push)
    with pytest.raises(KeyboardInterrupt):
        claim_module.claim(alice, team.ticket.id, "start")
    assert seen == [f"Start ticket: {team.ticket.id}"]
    assert _local_state(team.alice) == before
    assert _remote_file(team, team.bob, "todo")
