"""start's branch and worktree (as the Go tool does), and cleanup."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Cli, git


def configure(repo: Path, *, worktrees: bool, commands: list[str] | None = None) -> None:
    cfg = repo / ".ticketflow.yaml"
    text = cfg.read_text().replace("enabled: true", f"enabled: {str(worktrees).lower()}")
    if commands is not None:
        listed = "".join(f'\n        - "{c}"' for c in commands) if commands else " []"
        text = text.replace("init_commands:\n        - git fetch origin", "init_commands:" + listed)
    cfg.write_text(text)
    git(repo, "commit", "-q", "--allow-empty", "-am", "config")


def test_start_with_worktree(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=True, commands=["git status --short", "false", "no-such-cmd-xyz"])
    tid = json.loads(run(repo, "new", "wt", "-o", "json").stdout)["ticket"]["id"]
    r = run(repo, "start", tid, "-o", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    worktree = Path(data["worktree_path"])
    assert worktree == (repo.parent / ".worktrees" / tid).resolve()
    assert data["branch"] == tid
    assert [c["returncode"] for c in data["init_commands"]] == [0, 1, None]
    assert "Warning: init command 'false' failed" in r.stderr
    # the start is committed on main; the worktree is on the ticket's branch
    assert git(repo, "log", "-1", "--format=%s", "main").strip() == f"Start ticket: {tid}"
    assert git(worktree, "rev-parse", "--abbrev-ref", "HEAD").strip() == tid
    assert (worktree / "current-ticket.md").resolve() == (worktree / f"tickets/doing/{tid}.md")
    assert (worktree / f"tickets/doing/{tid}.md").exists()
    # from inside the worktree, ticketflow sees the worktree's tickets and current ticket
    inside = run(worktree, "status", "-o", "json")
    assert inside.exit_code == 0, inside.output
    status = json.loads(inside.stdout)
    assert status["current_branch"] == tid
    assert status["current_ticket"]["id"] == tid

    closed = run(worktree, "close", "--reason", "done here", "--cleanup")
    assert closed.exit_code == 0, closed.output
    assert f"Removed worktree {worktree}" in closed.stdout or "Kept worktree" in closed.stdout


def test_close_offers_cleanup_and_cleanup_keeps_unsafe_things(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=True, commands=[])
    tid = json.loads(run(repo, "new", "wt", "-o", "json").stdout)["ticket"]["id"]
    worktree = Path(json.loads(run(repo, "start", tid, "-o", "json").stdout)["worktree_path"])
    (worktree / "scratch.txt").write_text("unsaved work\n")
    refused = run(repo, "close", tid, "--reason", "moved on")  # the Go tool's check
    assert refused.exit_code == 3 and "scratch.txt" in refused.output
    closed = run(repo, "close", tid, "--reason", "moved on", "--force")
    assert f"Its branch/worktree remain: ticketflow cleanup {tid}" in closed.stdout
    kept = json.loads(run(repo, "cleanup", tid, "-o", "json").stdout)
    assert kept["worktree_removed"] is None
    assert any("uncommitted changes" in k for k in kept["kept"])
    assert (worktree / "scratch.txt").exists()
    (worktree / "scratch.txt").unlink()
    done = json.loads(run(repo, "cleanup", tid, "-o", "json").stdout)
    assert done["worktree_removed"] == str(worktree)
    assert not worktree.exists()
    assert done["branch_deleted"] == tid  # it was at main's commit: merged
    assert tid not in git(repo, "branch", "--list")
    assert git(repo, "worktree", "list").count("\n") == 1


def test_start_without_worktrees_checks_out_the_branch(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=False)
    tid = json.loads(run(repo, "new", "br", "-o", "json").stdout)["ticket"]["id"]
    main_before = git(repo, "rev-parse", "main").strip()
    r = run(repo, "start", tid)
    assert r.exit_code == 0, r.output
    assert f"Branch: {tid}" in r.stdout
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == tid
    assert git(repo, "log", "-1", "--format=%s").strip() == f"Start ticket: {tid}"
    assert git(repo, "rev-parse", "main").strip() == main_before  # main did not move


def test_no_branch_flag_and_config(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=True)
    tid = json.loads(run(repo, "new", "nb", "-o", "json").stdout)["ticket"]["id"]
    data = json.loads(run(repo, "start", tid, "--no-branch", "-o", "json").stdout)
    assert data["branch"] is None and data["worktree_path"] is None
    assert git(repo, "branch", "--list").split() == ["*", "main"]
    assert not (repo.parent / ".worktrees").exists()


def test_invalid_start_does_not_switch_branches(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=False)
    tid = json.loads(run(repo, "new", "x", "-o", "json").stdout)["ticket"]["id"]
    run(repo, "close", tid, "--reason", "dup")
    r = run(repo, "start", tid)
    assert r.exit_code == 7
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert git(repo, "branch", "--list").split() == ["*", "main"]


def test_cleanup_from_inside_the_worktree_keeps_it(
    repo: Path, run: Cli, monkeypatch: object
) -> None:
    configure(repo, worktrees=True, commands=[])
    tid = json.loads(run(repo, "new", "in", "-o", "json").stdout)["ticket"]["id"]
    worktree = Path(json.loads(run(repo, "start", tid, "-o", "json").stdout)["worktree_path"])
    r = run(worktree, "close", "--reason", "done", "--cleanup", "-o", "json")
    assert r.exit_code == 0, r.output
    kept = json.loads(r.stdout)["cleanup"]["kept"]
    assert any("you are in it" in k for k in kept)
    assert worktree.exists()


def test_start_no_commit_makes_no_worktree(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=True, commands=[])
    tid = json.loads(run(repo, "new", "nc", "-o", "json").stdout)["ticket"]["id"]
    data = json.loads(run(repo, "start", tid, "--no-commit", "-o", "json").stdout)
    assert data["worktree_path"] is None and data["branch"] is None
    assert not (repo.parent / ".worktrees").exists()


def test_init_fetch_is_skipped_without_the_remote_and_a_failure_shows_gits_error(
    repo: Path, run: Cli, tmp_path: Path
) -> None:
    configure(repo, worktrees=True)  # the Go tool's default: git fetch origin
    tid = json.loads(run(repo, "new", "alone", "-o", "json").stdout)["ticket"]["id"]
    r = run(repo, "start", tid, "-o", "json")
    assert r.exit_code == 0, r.output
    (fetch,) = json.loads(r.stdout)["init_commands"]
    assert fetch["skipped"] == "no remote named 'origin'"
    assert r.stderr == ""
    # with an origin that cannot be read, the warning quotes git's first error line, not the
    # advice git prints after it
    git(repo, "remote", "add", "origin", str(tmp_path / "nowhere.git"))
    tid2 = json.loads(run(repo, "new", "fetching", "-o", "json").stdout)["ticket"]["id"]
    r = run(repo, "start", tid2)
    assert r.exit_code == 0, r.output
    warning = next(line for line in r.stderr.splitlines() if line.startswith("Warning"))
    assert warning.startswith("Warning: init command 'git fetch origin' failed (exit 128): fatal:")
    assert "does not appear to be a git repository" in warning


def test_init_names_the_worktree_folder_after_the_repository(tmp_path: Path, run: Cli) -> None:
    root = tmp_path / "shop"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    assert run(root, "init").exit_code == 0
    tid = json.loads(run(root, "new", "wt", "-o", "json").stdout)["ticket"]["id"]
    started = run(root, "start", tid)
    assert started.exit_code == 0, started.output
    where = (tmp_path / "shop.worktrees" / tid).resolve()
    assert f"  Worktree: {where}\n" in started.stdout  # start says where it is
    assert (where / f"tickets/doing/{tid}.md").is_file()
    assert not (tmp_path / ".worktrees").exists()  # not the folder siblings share


def test_a_worktree_made_elsewhere_is_reused(repo: Path, run: Cli, tmp_path: Path) -> None:
    # the Go tool (or an earlier base_dir) put the ticket's worktree somewhere else
    configure(repo, worktrees=True, commands=[])
    tid = json.loads(run(repo, "new", "moved", "-o", "json").stdout)["ticket"]["id"]
    run(repo, "start", tid, "--no-branch")
    elsewhere = tmp_path / "elsewhere" / tid
    git(repo, "worktree", "add", "-q", "-b", tid, str(elsewhere))
    from ticketflow.store import TicketStore
    from ticketflow.workspace import add_worktree

    store = TicketStore.open(repo)
    assert add_worktree(repo, store.config, tid) == elsewhere
