"""``ticketflow fetch``: fetch only, then what the remote has that we do not, against a real
``git daemon`` on 127.0.0.1 and two clones (alice, bob)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import Cli, Team, edit_ticket, git, snapshot

from ticketflow.git.lastfetch import last_fetch_path
from ticketflow.git.pull import pull
from ticketflow.git.transport import push


def _seed(team: Team) -> dict[str, str]:
    """Alice makes the tickets bob will change, and pushes; bob pulls them. Name -> id."""
    alice = team.store(team.alice)
    made = {
        "to-start": alice.create("to-start").id,
        "to-close": alice.create("to-close").id,
        "to-reopen": alice.create("to-reopen").id,
        "to-remove": alice.create("to-remove").id,
    }
    alice.close("to-reopen", reason="was done")
    push(team.alice, alice.config)
    pull(team.bob, team.store(team.bob).config)
    return made


def _fetch_json(run: Cli, root: Path, *args: str) -> Any:
    result = run(root, "fetch", "-o", "json", *args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_fetch_names_every_kind_of_change_with_its_author(
    team: Team, run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _seed(team)
    bob = team.store(team.bob)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Bob Builder")
    fresh = bob.create("bobs-new")
    edit_ticket(bob, "shared", priority=1, description="new words")
    bob.start("to-start")
    bob.close("to-close", reason="not needed")
    bob.reopen("to-reopen")
    git(team.bob, "rm", "-q", f"tickets/todo/{made['to-remove']}.md")
    git(team.bob, "commit", "-q", "-m", "remove a ticket")
    push(team.bob, bob.config)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")

    data = _fetch_json(run, team.alice)
    changes = {c["id"]: c for c in data["changes"]}
    assert {tid: c["change"] for tid, c in changes.items()} == {
        fresh.id: "added",
        team.ticket.id: "edited",
        made["to-start"]: "started",
        made["to-close"]: "closed",
        made["to-reopen"]: "reopened",
        made["to-remove"]: "removed",
    }
    assert changes[team.ticket.id]["fields"] == ["priority", "description"]
    assert "started_at" in changes[made["to-start"]]["fields"]
    assert {"closed_at", "closure_reason", "body"} <= set(changes[made["to-close"]]["fields"])
    assert {c["author"] for c in changes.values()} == {"Bob Builder"}
    assert all(c["time"] for c in changes.values())

    # the same changes in text, one line a ticket, worded as a pull words them
    out = run(team.alice, "fetch").stdout.splitlines()
    assert out[0] == f"origin/main: {data['behind']} behind, 0 ahead."
    assert data["behind"] == int(git(team.alice, "rev-list", "--count", "HEAD..origin/main"))
    assert out[1] == (
        "The remote has: 1 new ticket, 1 started, 1 closed, 1 reopened, 1 edited and "
        "1 removed, by Bob Builder."
    )
    edited = next(line for line in out if team.ticket.id in line)
    assert edited.split()[0] == "edited" and "(priority, description)" in edited
    assert "by Bob Builder, " in edited
    assert out[-1] == "To bring them in: ticketflow pull"

    # the pull that follows reports exactly what the fetch announced
    pulled = run(team.alice, "pull", "-o", "json")
    assert pulled.exit_code == 0, pulled.output
    assert json.loads(pulled.stdout)["changes"] == data["changes"]


def test_a_body_edit_is_named_as_the_body(team: Team, run: Cli) -> None:
    bob = team.store(team.bob)
    edit_ticket(bob, "shared", body="Rewritten by bob.\n")
    push(team.bob, bob.config)
    (change,) = _fetch_json(run, team.alice)["changes"]
    assert change["change"] == "edited" and change["fields"] == ["body"]
    assert change["author"] == "Test Author"


def test_ahead_and_behind_count_commits_as_git_does(team: Team, run: Cli) -> None:
    alice, bob = team.store(team.alice), team.store(team.bob)
    for name in ("bob-a", "bob-b", "bob-c"):
        bob.create(name)
    push(team.bob, bob.config)
    alice.create("alice-a")
    alice.create("alice-b")
    data = _fetch_json(run, team.alice)
    assert (data["ahead"], data["behind"]) == (2, 3)
    counted = git(team.alice, "rev-list", "--left-right", "--count", "HEAD...origin/main")
    assert counted.split() == ["2", "3"]
    assert {c["id"][14:] for c in data["changes"]} == {"bob-a", "bob-b", "bob-c"}
    text = run(team.alice, "fetch").stdout
    assert text.startswith("origin/main: 3 behind, 2 ahead.\n")
    assert "2 commits of yours not pushed: ticketflow push\n" in text


def test_fetch_moves_only_the_remote_tracking_ref(team: Team, run: Cli) -> None:
    alice, bob = team.store(team.alice), team.store(team.bob)
    bob.create("from-bob")
    push(team.bob, bob.config)
    edit_ticket(alice, "shared", priority=5)  # an uncommitted ticket edit stays as it is
    (team.alice / "notes.txt").write_text("mine\n")
    git(team.alice, "add", "notes.txt")  # and so does a staged file
    before = snapshot(team.alice)
    tracking = git(team.alice, "rev-parse", "origin/main")
    data = _fetch_json(run, team.alice)
    assert data["behind"] == 1
    assert snapshot(team.alice) == before  # HEAD, branches, index, every work tree byte
    assert git(team.alice, "rev-parse", "origin/main") == git(team.bob, "rev-parse", "HEAD")
    assert git(team.alice, "rev-parse", "origin/main") != tracking
    git(team.alice, "fsck", "--strict", "--no-progress")


def test_json_shape(team: Team, run: Cli) -> None:
    data = _fetch_json(run, team.alice)
    assert set(data) == {
        "remote",
        "branch",
        "ahead",
        "behind",
        "changes",
        "exists",
        "fetch",
        "fetched_at",
    }
    assert (data["remote"], data["branch"], data["ahead"], data["behind"]) == (
        "origin",
        "main",
        0,
        0,
    )
    assert data["changes"] == [] and data["exists"] is True
    assert data["fetch"]["url"] == team.url
    assert run(team.alice, "fetch").stdout == "origin/main: up to date.\n"


def test_status_shows_the_last_fetch(team: Team, run: Cli) -> None:
    plain = run(team.alice, "status")
    assert "Last fetch" not in plain.stdout  # never fetched: the Go tool's lines only
    assert json.loads(run(team.alice, "status", "-o", "json").stdout)["last_fetch"] is None
    bob = team.store(team.bob)
    bob.create("from-bob")
    push(team.bob, bob.config)
    team.store(team.alice).create("mine")
    _fetch_json(run, team.alice)
    assert last_fetch_path(team.alice).is_file()
    text = run(team.alice, "status").stdout
    assert text.endswith("\nLast fetch: just now, origin/main: 1 behind, 1 ahead\n")
    last = json.loads(run(team.alice, "status", "-o", "json").stdout)["last_fetch"]
    assert (last["remote"], last["branch"], last["ahead"], last["behind"]) == (
        "origin",
        "main",
        1,
        1,
    )
    assert last["changes"] == 1
    # a damaged summary is "never fetched", not a failing status
    last_fetch_path(team.alice).write_text("{not json")
    assert run(team.alice, "status").exit_code == 0
    assert json.loads(run(team.alice, "status", "-o", "json").stdout)["last_fetch"] is None


def test_no_remote_is_a_git_error_with_a_hint(repo: Path, run: Cli) -> None:
    result = run(repo, "fetch")
    assert result.exit_code == 9
    assert "Error: no remote named 'origin' (remotes: none)" in result.stderr
    assert "Hint: add one: git remote add origin <url>" in result.stderr
    data = json.loads(run(repo, "fetch", "-o", "json").stderr)["error"]
    assert data["type"] == "git"
    assert not last_fetch_path(repo).exists()


def test_a_branch_never_pushed_counts_every_commit_ahead(team: Team, run: Cli) -> None:
    git(team.alice, "switch", "-q", "-c", "topic")
    team.store(team.alice).create("on-topic")
    data = _fetch_json(run, team.alice)
    assert (data["branch"], data["exists"], data["behind"]) == ("topic", False, 0)
    assert data["ahead"] == int(git(team.alice, "rev-list", "--count", "HEAD"))
    assert run(team.alice, "fetch").stdout.startswith("origin/topic does not exist yet (")


def test_ctrl_c_cancels_a_fetch_for_real(slow_clone: Path) -> None:
    client = slow_clone
    before = snapshot(client)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ticketflow", "fetch"],
        cwd=client,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    while True:  # wait until objects are flowing (a line a second on a pipe)
        line = proc.stderr.readline()
        assert line.startswith("fetch: "), line
        if "receiving objects" in line:
            break
    os.kill(proc.pid, signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 130, rest
    assert "Error: fetch cancelled after " in rest and "/203 objects" in rest
    assert snapshot(client) == before
    assert "refs/remotes/origin/main" not in git(client, "for-each-ref")
    assert not last_fetch_path(client).exists()  # a cancelled fetch reports nothing
    git(client, "fsck", "--strict")


def test_a_pull_is_a_fetch_too_for_status(team: Team, run: Cli) -> None:
    bob = team.store(team.bob)
    bob.create("from-bob")
    push(team.bob, bob.config)
    assert _fetch_json(run, team.alice)["behind"] == 1
    assert run(team.alice, "status").stdout.endswith("origin/main: 1 behind, 0 ahead\n")
    assert run(team.alice, "pull").exit_code == 0
    assert run(team.alice, "status").stdout.endswith("origin/main: 0 behind, 0 ahead\n")


def test_a_change_we_made_too_is_not_news(team: Team, run: Cli) -> None:
    made = _seed(team)
    for root in (team.bob, team.alice):  # both remove the same ticket, each in a commit
        git(root, "rm", "-q", f"tickets/todo/{made['to-remove']}.md")
        git(root, "commit", "-q", "-m", f"remove ({root.name})")  # two commits, not one
    bob = team.store(team.bob)
    fresh = bob.create("bobs-new")
    push(team.bob, bob.config)
    data = _fetch_json(run, team.alice)
    assert (data["ahead"], data["behind"]) == (1, 2)
    assert [(c["id"], c["change"]) for c in data["changes"]] == [(fresh.id, "added")]


def test_the_summary_makes_its_folder(repo: Path) -> None:
    from ticketflow.git.lastfetch import load_last_fetch, save_last_fetch
    from ticketflow.git.results import FetchReport, FetchResult

    assert not (repo / ".git/ticketflow").exists()
    report = FetchReport(
        "origin", "main", 2, 0, (), FetchResult("origin", "u", 0, 0, 0, ()), "2026-12-04T01:00:00Z"
    )
    save_last_fetch(repo, report)
    found = load_last_fetch(repo)
    assert found is not None and (found.ahead, found.fetched_at) == (2, "2026-12-04T01:00:00Z")
    assert [p.name for p in (repo / ".git/ticketflow").iterdir()] == ["last-fetch.json"]
