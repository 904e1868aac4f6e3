"""Pull, push, sync and clone against a real ``git daemon`` on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from conftest import (
    Cli,
    GitDaemon,
    SlowProxy,
    Team,
    edit_ticket,
    free_port,
    git,
    make_big_bare,
    run_process,
    snapshot,
)

from ticketflow.cancel import CancelToken
from ticketflow.config import CONFIG_NAME, default_config_text
from ticketflow.errors import (
    CancelledError,
    MergeConflictError,
    NetworkError,
    PushRejectedError,
    TicketflowError,
)
from ticketflow.git.pull import pull
from ticketflow.git.transport import clone, fetch, push
from ticketflow.redact import redact_text
from ticketflow.store import TicketStore


def test_clone_then_pull_is_up_to_date(team: Team) -> None:
    assert (team.alice / "tickets/todo" / f"{team.ticket.id}.md").exists()
    store = team.store(team.alice)
    result = pull(team.alice, store.config)
    assert result.outcome == "up-to-date"
    assert result.fetch.url == team.url


def test_pull_fast_forward_brings_new_tickets(team: Team) -> None:
    bob = team.store(team.bob)
    new = bob.create("from-bob")
    push(team.bob, bob.config)
    alice = team.store(team.alice)
    events: list[tuple[int, int | None, str]] = []
    result = pull(team.alice, alice.config, progress=lambda c, t, m: events.append((c, t, m)))
    assert result.outcome == "fast-forward"
    assert f"tickets/todo/{new.id}.md" in result.changed_paths
    assert new.id in [t.id for t in alice.load_all().tickets]
    assert events[0][2].startswith("connecting to git://127.0.0.1:")
    assert any("objects" in m for _, _, m in events)
    assert git(team.alice, "status", "--porcelain") == ""


def test_adjacent_field_edits_merge_where_plain_git_conflicts(team: Team, tmp_path: Path) -> None:
    alice, bob = team.store(team.alice), team.store(team.bob)
    edit_ticket(bob, "shared", description="bob's clearer words")
    push(team.bob, bob.config)
    edit_ticket(alice, "shared", priority=1)

    # plain git cannot merge these two edits (adjacent lines)
    probe = tmp_path / "probe"
    git(tmp_path, "clone", "-q", str(team.alice), str(probe))
    git(probe, "fetch", "-q", team.url, "main")
    plain = subprocess.run(
        ["git", "-C", str(probe), "merge", "--no-edit", "FETCH_HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert plain.returncode != 0 and "CONFLICT" in plain.stdout

    result = pull(team.alice, alice.config)
    assert result.outcome == "merged"
    assert result.merged_tickets == (team.ticket.id,)
    merged = alice.get("shared")
    assert merged.priority == 1
    assert merged.description == "bob's clearer words"
    assert git(team.alice, "status", "--porcelain") == ""
    assert git(team.alice, "log", "-1", "--format=%s %P").startswith("Merge origin/main into main")
    git(team.alice, "fsck", "--strict")


def test_start_on_one_side_and_edit_on_the_other_merge(team: Team) -> None:
    alice, bob = team.store(team.alice), team.store(team.bob)
    bob.start("shared")  # moves the file to doing/
    push(team.bob, bob.config)
    edit_ticket(alice, "shared", description="alice refines it")
    result = pull(team.alice, alice.config)
    assert result.outcome == "merged"
    merged = alice.get("shared")
    assert merged.status.value == "doing"
    assert merged.path == f"tickets/doing/{team.ticket.id}.md"
    assert merged.description == "alice refines it"
    assert not (team.alice / "tickets/todo" / f"{team.ticket.id}.md").exists()


def test_true_conflict_changes_nothing_and_reports(team: Team) -> None:
    alice, bob = team.store(team.alice), team.store(team.bob)
    edit_ticket(bob, "shared", priority=1)
    push(team.bob, bob.config)
    edit_ticket(alice, "shared", priority=3)
    (team.alice / "tickets/todo" / f"{team.ticket.id}.md").write_text(
        (team.alice / "tickets/todo" / f"{team.ticket.id}.md").read_text() + "uncommitted\n"
    )
    before = snapshot(team.alice)
    with pytest.raises(MergeConflictError) as info:
        pull(team.alice, alice.config)
    err = info.value
    assert err.exit_code == 3
    assert err.details()["conflicts"] == [
        {"ticket": team.ticket.id, "field": "priority", "ours": 3, "theirs": 1}
    ]
    assert "--strategy" in (err.hint or "")
    assert snapshot(team.alice) == before
    # the user settles it
    result = pull(team.alice, alice.config, strategy="theirs")
    assert result.outcome == "merged" and result.committed_local_edits
    assert alice.get("shared").priority == 1
    assert alice.get("shared").body.endswith("uncommitted\n")
    assert "Update tickets" in git(team.alice, "log", "--format=%s")


def test_conflict_outside_tickets_aborts_cleanly(team: Team) -> None:
    for who, text in ((team.bob, "bob\n"), (team.alice, "alice\n")):
        (who / "README.md").write_text(text)
        git(who, "add", "README.md")
        git(who, "commit", "-q", "-m", "readme")
    push(team.bob, team.store(team.bob).config)
    before = snapshot(team.alice)
    with pytest.raises(MergeConflictError) as info:
        pull(team.alice, team.store(team.alice).config)
    assert info.value.files == ("README.md",)
    assert "outside tickets/" in info.value.message
    assert snapshot(team.alice) == before


def test_uncommitted_changes_elsewhere_are_never_touched(team: Team) -> None:
    bob = team.store(team.bob)
    (team.bob / "notes.txt").write_text("from bob\n")
    git(team.bob, "add", "notes.txt")
    git(team.bob, "commit", "-q", "-m", "notes")
    bob.create("another")
    push(team.bob, bob.config)
    alice = team.store(team.alice)
    (team.alice / "notes.txt").write_text("alice's draft\n")  # untracked, and bob adds it
    before = snapshot(team.alice)
    with pytest.raises(TicketflowError, match=r"overwrite your uncommitted changes to notes\.txt"):
        pull(team.alice, alice.config)
    assert snapshot(team.alice) == before
    (team.alice / "notes.txt").unlink()
    (team.alice / "scratch.txt").write_text("unrelated work\n")
    assert pull(team.alice, alice.config).outcome == "fast-forward"
    assert (team.alice / "scratch.txt").read_text() == "unrelated work\n"


def test_push_then_push_rejected_then_sync(team: Team) -> None:
    alice, bob = team.store(team.alice), team.store(team.bob)
    bob.create("bobs")
    pushed = push(team.bob, bob.config)
    assert pushed.branch == "main"
    assert git(team.daemon.base / "team.git", "rev-parse", "main").strip() == pushed.commit
    alice.create("alices")
    with pytest.raises(PushRejectedError) as info:
        push(team.alice, alice.config)
    assert info.value.message == "the remote has commits you don't have: run ticketflow pull"
    assert info.value.exit_code == 3
    # sync = pull, then push
    assert pull(team.alice, alice.config).outcome == "merged"
    after = push(team.alice, alice.config)
    remote_log = git(team.daemon.base / "team.git", "log", "--format=%s", "main")
    assert after.commit == git(team.alice, "rev-parse", "HEAD").strip()
    assert "Add ticket: " in remote_log and "Merge origin/main" in remote_log


def test_cancel_mid_fetch_leaves_a_clean_repository(git_daemon: GitDaemon, tmp_path: Path) -> None:
    make_big_bare(git_daemon.base / "big.git", files=400, size=50_000)  # 20 MB, incompressible
    client = tmp_path / "client"
    git(tmp_path, "init", "-q", "-b", "main", str(client))
    git(client, "remote", "add", "origin", git_daemon.url("big.git"))
    token = CancelToken()

    def progress(current: int, total: int | None, message: str) -> None:
        if total and current >= 20:
            token.cancel()

    with pytest.raises(CancelledError) as info:
        fetch(client, progress=progress, cancel=token)
    assert info.value.partial is not None and info.value.partial.endswith(
        "/403 objects"
    )  # 400 blobs, 2 trees, 1 commit
    assert git(client, "for-each-ref") == ""  # no ref moved
    assert list((client / ".git/objects/pack").iterdir()) == []  # no half pack left
    git(client, "fsck", "--strict")
    again = fetch(client)
    assert again.received_objects == 403
    assert git(client, "rev-parse", "origin/main").strip()


def test_silent_server_fails_within_the_timeout(tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []

    def accept() -> None:
        try:
            while True:
                held.append(server.accept()[0])
        except OSError:
            return

    threading.Thread(target=accept, daemon=True).start()
    client = tmp_path / "client"
    git(tmp_path, "init", "-q", str(client))
    git(client, "remote", "add", "origin", f"git://127.0.0.1:{server.getsockname()[1]}/x.git")
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            fetch(client, timeout=1)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=60)  # a hang guard only; the assertion is about behaviour
    server.close()
    for conn in held:
        conn.close()
    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], NetworkError)
    assert outcome[0].transient and "timed out" in outcome[0].message


def test_unreachable_remote_is_transient_and_credentials_are_redacted(tmp_path: Path) -> None:
    from conftest import free_port

    client = tmp_path / "client"
    git(tmp_path, "init", "-q", str(client))
    url = f"http://alice:s3cret-token@127.0.0.1:{free_port()}/team.git"
    git(client, "remote", "add", "origin", url)
    with pytest.raises(NetworkError) as info:
        fetch(client, timeout=2)
    text = info.value.message + str(info.value.to_dict())
    assert "s3cret-token" not in text and "alice" not in text
    assert "http://***@127.0.0.1" in info.value.message
    assert (
        redact_text("see https://u:p@h/x and ssh://git@h/y")
        == "see https://***@h/x and ssh://***@h/y"
    )


def test_missing_repository_is_permanent(git_daemon: GitDaemon, tmp_path: Path) -> None:
    client = tmp_path / "client"
    git(tmp_path, "init", "-q", str(client))
    git(client, "remote", "add", "origin", git_daemon.url("nope.git"))
    with pytest.raises(TicketflowError) as info:
        fetch(client)
    assert not info.value.transient


def test_credential_helper_is_used_for_https(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pygit2.enums import CredentialType

    from ticketflow.git.credentials import credentials_for

    helper = tmp_path / "helper.sh"
    helper.write_text("#!/bin/sh\necho username=helper-user\necho password=helper-pass\n")
    helper.chmod(0o755)
    git(tmp_path, "config", "--global", "credential.helper", str(helper))
    creds = credentials_for("https://example.com/x.git", None, CredentialType.USERPASS_PLAINTEXT, 1)
    assert creds.credential_tuple == ("helper-user", "helper-pass")
    monkeypatch.setenv("TICKETFLOW_GIT_USERNAME", "env-user")
    monkeypatch.setenv("TICKETFLOW_GIT_TOKEN", "env-token")
    first = credentials_for("https://example.com/x.git", None, CredentialType.USERPASS_PLAINTEXT, 1)
    assert first.credential_tuple == ("env-user", "env-token")
    with pytest.raises(TicketflowError, match=r"authentication to https://example\.com/x\.git"):
        credentials_for("https://example.com/x.git", None, CredentialType.USERPASS_PLAINTEXT, 3)


# --- the command line --------------------------------------------------------------------------


def test_cli_pull_push_sync(team: Team, run: Cli) -> None:
    bob = team.store(team.bob)
    bob.create("from-bob")
    r = run(team.bob, "push")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("Pushed ") and "to origin/main" in r.stdout

    pulled = run(team.alice, "pull", "--format", "json")
    assert pulled.exit_code == 0, pulled.output
    data = json.loads(pulled.stdout)
    assert data["outcome"] == "fast-forward"
    assert data["fetch"]["url"] == team.url
    assert pulled.stderr == ""  # no progress noise in JSON mode

    team.store(team.alice).create("from-alice")
    bob.create("bob-again")
    assert run(team.bob, "push").exit_code == 0
    rejected = run(team.alice, "push")
    assert rejected.exit_code == 3
    assert "Error: the remote has commits you don't have: run ticketflow pull" in rejected.stderr
    synced = run(team.alice, "sync")
    assert synced.exit_code == 0, synced.output
    assert synced.stdout.startswith("Pulled (merged: 1 new ticket by Test Author), then pushed ")
    assert synced.stderr.startswith("sync: ")  # plain progress lines on a pipe


def test_cli_conflict_report_and_strategy(team: Team, run: Cli) -> None:
    alice, bob = team.store(team.alice), team.store(team.bob)
    edit_ticket(bob, "shared", priority=1)
    push(team.bob, bob.config)
    edit_ticket(alice, "shared", priority=4)
    r = run(team.alice, "pull", "-o", "json")
    assert r.exit_code == 3
    err = json.loads(r.stderr)["error"]
    assert err["type"] == "merge_conflict"
    assert err["conflicts"] == [
        {"ticket": team.ticket.id, "field": "priority", "ours": 4, "theirs": 1}
    ]
    text = run(team.alice, "pull")
    assert f"  {team.ticket.id}: priority" in text.stderr
    assert "--strategy ours|theirs" in text.stderr
    assert run(team.alice, "pull", "--strategy", "ours").exit_code == 0
    assert alice.get("shared").priority == 4


def test_ctrl_c_cancels_a_pull_for_real(slow_clone: Path) -> None:
    import os
    import signal
    import sys

    client = slow_clone
    before = snapshot(client)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ticketflow", "pull"],
        cwd=client,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    while True:  # wait until objects are flowing (a line a second on a pipe)
        line = proc.stderr.readline()
        assert line.startswith("pull: "), line
        if "receiving objects" in line:
            break
    os.kill(proc.pid, signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 130, rest
    assert "Error: fetch cancelled after " in rest and "/203 objects" in rest
    assert snapshot(client) == before
    assert "refs/remotes/origin/main" not in git(client, "for-each-ref")
    git(client, "fsck", "--strict")


def test_cancel_mid_transfer_on_a_slow_link(slow_remote: SlowProxy, tmp_path: Path) -> None:
    client = tmp_path / "client"
    git(tmp_path, "init", "-q", "-b", "main", str(client))
    git(client, "remote", "add", "origin", slow_remote.url("big.git"))
    token = CancelToken()
    seen: list[int] = []

    def progress(current: int, total: int | None, message: str) -> None:
        if total:
            seen.append(current)
        if len(seen) >= 3:
            token.cancel()

    with pytest.raises(CancelledError) as info:
        fetch(client, progress=progress, cancel=token)
    assert 0 < seen[-1] < 203
    assert info.value.partial == f"{seen[-1]}/203 objects" or info.value.partial is not None
    assert git(client, "for-each-ref") == ""
    git(client, "fsck", "--strict")


@pytest.mark.parametrize("form", ["path", "file"])
def test_local_path_and_file_url_transports(tmp_path: Path, form: str) -> None:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "-q", str(origin), str(seed))
    (seed / CONFIG_NAME).write_text(default_config_text())
    git(seed, "add", CONFIG_NAME)
    git(seed, "commit", "-q", "-m", "init")
    git(seed, "push", "-q", "origin", "main")
    url = str(origin) if form == "path" else origin.as_uri()
    mine = clone(url, tmp_path / "mine")
    store = TicketStore.open(mine)
    store.create("local")
    assert push(mine, store.config).commit == git(origin, "rev-parse", "main").strip()
    git(seed, "pull", "-q", "origin", "main")
    assert len(list((seed / "tickets/todo").glob("*.md"))) == 1


def test_unrelated_histories_are_refused(git_daemon: GitDaemon, tmp_path: Path) -> None:
    make_big_bare(git_daemon.base / "other.git", files=3, size=10)
    client = tmp_path / "client"
    git(tmp_path, "init", "-q", "-b", "main", str(client))
    (client / CONFIG_NAME).write_text(default_config_text())
    git(client, "add", CONFIG_NAME)
    git(client, "commit", "-q", "-m", "init")
    git(client, "remote", "add", "origin", git_daemon.url("other.git"))
    before = snapshot(client)
    with pytest.raises(TicketflowError, match="shares no history") as info:
        pull(client, TicketStore.open(client).config)
    assert "--allow-unrelated-histories" in (info.value.hint or "")
    assert info.value.exit_code == 3
    assert snapshot(client) == before


def test_a_ticket_branch_pushes_to_its_own_name_not_main(team: Team) -> None:
    alice = team.store(team.alice)
    git(team.alice, "switch", "-q", "-c", "250101-000000-topic")
    alice.create("on-topic")
    main_before = git(team.daemon.base / "team.git", "rev-parse", "main").strip()
    result = push(team.alice, alice.config)
    assert result.branch == "250101-000000-topic"
    assert git(team.daemon.base / "team.git", "rev-parse", "main").strip() == main_before
    assert git(team.daemon.base / "team.git", "rev-parse", "250101-000000-topic").strip()


def test_pull_with_auto_commit_off_leaves_ticket_edits_alone(team: Team) -> None:
    alice, bob = team.store(team.alice), team.store(team.bob)
    bob.create("bobs")
    push(team.bob, bob.config)
    cfg = team.alice / CONFIG_NAME
    cfg.write_text(cfg.read_text().replace("git:\n", "git:\n    auto_commit: false\n"))
    git(team.alice, "commit", "-q", "-am", "no auto commit")
    edited = team.alice / "tickets/todo" / f"{team.ticket.id}.md"
    edited.write_text(edited.read_text() + "my notes\n")
    alice = team.store(team.alice)
    result = pull(team.alice, alice.config)
    assert result.outcome == "merged" and not result.committed_local_edits
    assert edited.read_text().endswith("my notes\n")
    assert git(team.alice, "status", "--porcelain").strip() == f"M tickets/todo/{team.ticket.id}.md"
    assert "Update tickets" not in git(team.alice, "log", "--format=%s")


def test_pull_never_commits_a_local_ticket_links_target(team: Team, tmp_path: Path) -> None:
    # an uncommitted ticket file replaced by a link (to a private file) must not have the
    # private file's text committed and pushed as "ours" when the pull merges
    from ticketflow.errors import UnsafePathError

    alice, bob = team.store(team.alice), team.store(team.bob)
    other = bob.create("bobs-work")
    push(team.bob, bob.config)
    edit_ticket(alice, "shared", priority=1)  # a local commit: the pull has to merge
    secret = tmp_path / "id_private"
    secret.write_text("PRIVATE KEY\n")
    path = team.alice / team.ticket.path  # type: ignore[operator]
    path.unlink()
    path.symlink_to(secret)
    head = git(team.alice, "rev-parse", "HEAD")
    with pytest.raises(UnsafePathError) as info:
        pull(team.alice, alice.config)
    assert info.value.code == "symlink"
    assert git(team.alice, "rev-parse", "HEAD") == head  # nothing merged, nothing committed
    assert "PRIVATE KEY" not in git(team.alice, "log", "-p", "--all")
    assert git(team.alice, "status", "--porcelain", "--", str(path)).strip()  # still yours
    assert other.id not in git(team.alice, "ls-tree", "-r", "--name-only", "HEAD")


def test_a_failed_pull_says_its_error_once(repo: Path) -> None:
    # on a pipe: no "pull: pending", no "pull: failed: X" before "Error: X"
    git(repo, "remote", "add", "origin", f"git://127.0.0.1:{free_port()}/none.git")
    config = repo / ".ticketflow.yaml"
    config.write_text(config.read_text() + "jobs:\n    retry:\n        attempts: 1\n")
    result = run_process(repo, "pull")
    assert result.returncode == 9
    lines = result.stderr.splitlines()
    assert sum("Connection refused" in line for line in lines) == 1, lines
    assert lines[-2].startswith("Error: fetch from git://127.0.0.1:")
    assert lines[-1].startswith("Hint: ")
    assert not [line for line in lines if line in ("pull: pending", "pull: running")]


def test_a_pull_says_what_changed_ticket_by_ticket(
    team: Team, run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = team.store(team.alice), team.store(team.bob)
    mine = alice.create("alices-own", commit=True)  # ours: never reported as news
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Bob Builder")
    fresh = bob.create("bobs-new", description="from bob")
    bob.start("shared")
    bob.close("shared", reason="done by bob")
    push(team.bob, bob.config)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    result = run(team.alice, "pull", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    changes = {c["id"]: c for c in data["changes"]}
    assert set(changes) == {fresh.id, team.ticket.id}  # not alices-own
    assert mine.id not in changes
    assert changes[fresh.id]["change"] == "added"
    closed = changes[team.ticket.id]
    assert closed["change"] == "closed"
    assert {"started_at", "closed_at", "closure_reason", "body"} <= set(closed["fields"])
    assert {c["author"] for c in data["changes"]} == {"Bob Builder"}
    assert all(c["time"] for c in data["changes"])
    # and in words, for people (the history and the TUI's notification say the same)
    from ticketflow.git.results import PullResult, describe_changes

    said = describe_changes(PullResult.from_json(data).changes)
    assert said == "1 new ticket and 1 closed, by Bob Builder"


def test_a_pull_in_text_lists_the_changes(team: Team, run: Cli) -> None:
    bob = team.store(team.bob)
    fresh = bob.create("bobs-new")
    edit_ticket(bob, "shared", priority=1)
    push(team.bob, bob.config)
    out = run(team.alice, "pull").stdout.splitlines()
    assert out[0].startswith("Fast-forwarded: 1 new ticket and 1 edited, by Test Author (")
    assert any(line.split()[:2] == ["added", fresh.id] for line in out[1:])
    edited = next(line for line in out[1:] if team.ticket.id in line)
    assert edited.split()[0] == "edited" and "(priority)" in edited
    assert run(team.alice, "pull").stdout.startswith("Already up to date (")


def test_changes_are_said_as_a_person_says_them() -> None:
    from ticketflow.git.results import TicketChange, describe_changes

    ana, bob = "Ana", "Bob"
    assert describe_changes(()) == ""
    assert describe_changes((TicketChange("a", "closed", (), ana),)) == "1 closed by Ana"
    two_new = (TicketChange("a", "added", (), ana), TicketChange("b", "added", (), bob))
    assert describe_changes((*two_new, TicketChange("c", "closed", (), ana))) == (
        "2 new tickets, 1 closed by Ana"
    )
    assert describe_changes((TicketChange("a", "edited"),)) == "1 edited"
