"""The Go tool's workspace commands in ticketflow: restore, worktree list|clean, and cleanup
(by ID, --force, --dry-run, and bare), on real git repositories through the real CLI.
Each keeps the Go tool's meaning and JSON keys and never destroys uncommitted work."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from conftest import Cli, git
from test_workspace import configure


def js(text: str) -> Any:
    return json.loads(text)


def new_id(run: Cli, repo: Path, slug: str, *args: str) -> str:
    r = run(repo, "new", slug, *args, "-o", "json")
    assert r.exit_code == 0, r.output
    return str(js(r.stdout)["ticket"]["id"])


def started(run: Cli, repo: Path, slug: str, *args: str) -> tuple[str, Path]:
    """A ticket started with a worktree (worktrees must be enabled)."""
    tid = new_id(run, repo, slug, *args)
    r = run(repo, "start", tid, "-o", "json")
    assert r.exit_code == 0, r.output
    return tid, Path(js(r.stdout)["worktree_path"])


def done_with_branch(run: Cli, repo: Path, slug: str, *, merged: bool) -> tuple[str, str]:
    """A done ticket (closed on main) with a branch named after it; unmerged: one commit
    of its own. Returns the id and the branch's sha."""
    tid = new_id(run, repo, slug)
    assert run(repo, "close", tid, "--reason", "finished").exit_code == 0
    git(repo, "branch", tid)
    if not merged:
        git(repo, "switch", "-q", tid)
        git(repo, "commit", "-q", "--allow-empty", "-m", f"work on {slug}")
        git(repo, "switch", "-q", "main")
    return tid, git(repo, "rev-parse", tid).strip()


def branches(repo: Path) -> set[str]:
    return set(git(repo, "branch", "--format=%(refname:short)").split())


def worktree_paths(repo: Path) -> list[str]:
    out = git(repo, "worktree", "list", "--porcelain")
    return [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("worktree ")]


# --- restore --------------------------------------------------------------------------------


def test_restore_in_the_main_checkout_links_the_branchs_ticket(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=False)
    tid = new_id(run, repo, "here")
    assert run(repo, "start", tid).exit_code == 0  # checks out branch <ID> here
    link = repo / "current-ticket.md"
    link.unlink()
    r = run(repo, "restore")
    assert r.exit_code == 0, r.output
    assert r.stdout == f"Restored current ticket link: {tid}\n"
    assert os.readlink(link) == f"tickets/doing/{tid}.md"  # relative, as start makes it
    again = run(repo, "restore")  # already right: fine
    assert again.exit_code == 0 and os.readlink(link) == f"tickets/doing/{tid}.md"
    os.unlink(link)
    os.symlink("tickets/doing/elsewhere.md", link)  # a stale link is replaced
    assert run(repo, "restore").exit_code == 0
    assert os.readlink(link) == f"tickets/doing/{tid}.md"


def test_restore_inside_a_worktree_has_the_go_json_keys(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=True, commands=[])
    parent = new_id(run, repo, "parent")
    tid, worktree = started(run, repo, "child", "--parent", parent)
    (worktree / "current-ticket.md").unlink()
    main_link = os.readlink(repo / "current-ticket.md")  # start linked it here too
    r = run(worktree, "restore", "-o", "json")
    assert r.exit_code == 0, r.output
    data = js(r.stdout)
    assert data == {
        "success": True,
        "ticket_id": tid,
        "status": "doing",
        "symlink_restored": True,
        "symlink_path": "current-ticket.md",
        "target_path": f"tickets/doing/{tid}.md",
        "message": "Current ticket symlink restored",
        "worktree_path": str(worktree),
        "parent_ticket": parent,
    }
    assert (worktree / "current-ticket.md").resolve() == worktree / f"tickets/doing/{tid}.md"
    assert os.readlink(repo / "current-ticket.md") == main_link  # main checkout untouched


def test_restore_refuses_a_ticket_that_is_not_doing(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=False)
    todo = new_id(run, repo, "later")
    git(repo, "switch", "-q", "-c", todo)
    r = run(repo, "restore", "-o", "json")
    assert r.exit_code == 7
    error = js(r.stderr)["error"]
    assert error["code"] == "TICKET_NOT_STARTED" and f"ticketflow start {todo}" in error["hint"]
    assert f"ticket {todo} is todo; only a started ticket" in error["message"]
    assert not (repo / "current-ticket.md").is_symlink()
    git(repo, "switch", "-q", "main")
    closed = new_id(run, repo, "closed")
    run(repo, "close", closed, "--reason", "dup")
    git(repo, "switch", "-q", "-c", closed)
    r = run(repo, "restore")
    assert r.exit_code == 7 and f"reopen it: ticketflow reopen {closed}" in r.stderr
    assert not (repo / "current-ticket.md").is_symlink()


def test_restore_on_a_branch_naming_no_ticket_or_detached(repo: Path, run: Cli) -> None:
    r = run(repo, "restore")
    assert r.exit_code == 4
    assert "no ticket found for branch 'main'" in r.stderr and "ticketflow start" in r.stderr
    git(repo, "checkout", "-q", "--detach")
    r = run(repo, "restore", "-o", "json")
    assert r.exit_code == 4
    error = js(r.stderr)["error"]
    assert "detached" in error["message"] and error["type"] == "not_found"
    assert not (repo / "current-ticket.md").exists()


def test_restore_never_replaces_a_regular_file(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=False)
    tid = new_id(run, repo, "file")
    run(repo, "start", tid)
    link = repo / "current-ticket.md"
    link.unlink()
    link.write_text("my own notes\n")
    r = run(repo, "restore")
    assert r.exit_code == 3
    assert "is a regular file, not ticketflow's link" in r.stderr
    assert not link.is_symlink() and link.read_text() == "my own notes\n"


# --- worktree list --------------------------------------------------------------------------


def test_worktree_list_includes_the_main_worktree(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=True, commands=[])
    tid, worktree = started(run, repo, "listed")
    git(repo, "worktree", "add", "-q", "--detach", str(repo.parent / "loose"))
    data = js(run(repo, "worktree", "list", "-o", "json").stdout)
    rows = data["worktrees"]
    assert list(data) == ["worktrees"]
    assert all(set(row) == {"Path", "Branch", "HEAD"} for row in rows)  # Go's field names
    assert rows[0] == {
        "Path": str(repo),
        "Branch": "main",
        "HEAD": git(repo, "rev-parse", "main").strip(),
    }
    by_path = {row["Path"]: row for row in rows}
    assert by_path[str(worktree)]["Branch"] == tid
    assert by_path[str(worktree)]["HEAD"] == git(repo, "rev-parse", tid).strip()
    assert by_path[str(repo.parent / "loose")]["Branch"] == ""  # detached
    assert len(rows) == 3
    # from inside a worktree the same list
    assert js(run(worktree, "worktree", "list", "-o", "json").stdout) == data
    text = run(repo, "worktree", "list").stdout.splitlines()
    assert text[0] == f"{'PATH':<50} {'BRANCH':<30} HEAD" and text[1] == "-" * 100
    short = git(repo, "rev-parse", "--short=7", "main").strip()
    assert text[2] == f"{repo!s:<50} {'main':<30} {short}"
    assert len(text) == 5


def test_worktree_group_prints_help_and_rejects_unknown(repo: Path, run: Cli) -> None:
    bare = run(repo, "worktree")
    assert bare.exit_code == 0
    assert "list" in bare.stdout and "clean" in bare.stdout and "Usage:" in bare.stdout
    bad = run(repo, "worktree", "nope")
    assert bad.exit_code == 2 and "No such command 'nope'" in bad.output


# --- worktree clean -------------------------------------------------------------------------


def test_worktree_clean_removes_orphans_only(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=True, commands=[])
    orphan, orphan_wt = started(run, repo, "orphan")
    dirty, dirty_wt = started(run, repo, "dirty")
    _, active_wt = started(run, repo, "active")
    run(repo, "close", orphan, "--reason", "done")
    (dirty_wt / "unsaved.txt").write_text("unsaved work\n")
    assert run(repo, "close", dirty, "--reason", "done", "--force").exit_code == 0
    feature = repo.parent / "feature"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(feature))
    before = worktree_paths(repo)

    preview = run(repo, "worktree", "clean", "--dry-run")
    assert preview.exit_code == 0, preview.output
    assert f"Would remove orphaned worktree: {orphan_wt} (branch: {orphan})" in preview.stdout
    assert worktree_paths(repo) == before and orphan_wt.is_dir()

    r = run(repo, "worktree", "clean")
    assert r.exit_code == 0, r.output
    assert f"Removed orphaned worktree: {orphan_wt} (branch: {orphan})\n" in r.stdout
    assert f"Kept worktree {dirty_wt} (branch: {dirty}): it has uncommitted changes" in r.stdout
    assert "its branch names no ticket" in r.stdout
    assert r.stdout.endswith("Cleaned 1 orphaned worktree(s)\n")
    assert not orphan_wt.exists() and str(orphan_wt) not in worktree_paths(repo)
    assert orphan in branches(repo)  # a worktree clean leaves branches alone
    assert (dirty_wt / "unsaved.txt").read_text() == "unsaved work\n"
    assert active_wt.is_dir() and feature.is_dir()

    data = js(run(repo, "worktree", "clean", "-o", "json").stdout)
    assert data == {
        "success": True,
        "dry_run": False,
        "cleaned_count": 0,
        "cleaned_worktrees": [],
        "failed_worktrees": data["failed_worktrees"],
        "total_worktrees": 3,
        "active_tickets": 1,
        "kept": data["kept"],
        "pruned": [],
    }
    assert sorted(data["failed_worktrees"]) == sorted([dirty, "feature"])
    assert {k["branch"]: k["path"] for k in data["kept"]} == {
        dirty: str(dirty_wt),
        "feature": str(feature),
    }
    assert run(repo, "worktree", "clean").stdout.endswith("No orphaned worktrees found\n")


def test_worktree_clean_json_reports_removals_and_prunes_missing(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=True, commands=[])
    tid, worktree = started(run, repo, "gone")
    other, other_wt = started(run, repo, "other")
    run(repo, "close", other, "--reason", "done")
    shutil.rmtree(worktree)  # folder deleted by hand: only git's record is left
    dry = js(run(repo, "worktree", "clean", "--dry-run", "-o", "json").stdout)
    assert dry["dry_run"] is True and dry["cleaned_worktrees"] == [other]
    assert dry["pruned"] == [str(worktree)] and other_wt.is_dir()
    assert str(worktree) in worktree_paths(repo)
    data = js(run(repo, "worktree", "clean", "-o", "json").stdout)
    assert data["cleaned_count"] == 1 and data["cleaned_worktrees"] == [other]
    assert data["pruned"] == [str(worktree)]
    assert worktree_paths(repo) == [str(repo)]
    assert {tid, other} <= branches(repo)


def test_worktree_clean_keeps_the_worktree_you_are_in(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=True, commands=[])
    tid, worktree = started(run, repo, "inside")
    assert run(worktree, "close").exit_code == 0  # done on its branch, seen from there
    r = run(worktree, "worktree", "clean", "-o", "json")
    assert r.exit_code == 0, r.output
    data = js(r.stdout)
    assert data["cleaned_count"] == 0 and data["failed_worktrees"] == [tid]
    assert "you are in it" in data["kept"][0]["reason"]
    assert worktree.is_dir()


# --- cleanup ID -----------------------------------------------------------------------------


def test_cleanup_id_requires_a_done_ticket(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=True, commands=[])
    tid, worktree = started(run, repo, "busy")
    r = run(repo, "cleanup", tid, "-o", "json")
    assert r.exit_code == 7
    error = js(r.stderr)["error"]
    assert error["code"] == "TICKET_NOT_DONE" and error["type"] == "invalid_transition"
    assert f"close it first: ticketflow close {tid}" in error["hint"]
    assert worktree.is_dir() and tid in branches(repo)
    todo = new_id(run, repo, "never")
    assert run(repo, "cleanup", todo).exit_code == 7


def test_cleanup_id_dry_run_changes_nothing(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=True, commands=[])
    tid, worktree = started(run, repo, "preview")
    run(repo, "close", tid, "--reason", "done")
    before = (worktree_paths(repo), branches(repo))
    r = run(repo, "cleanup", tid, "--dry-run")
    assert r.exit_code == 0, r.output
    assert f"  Would remove worktree {worktree}\n" in r.stdout
    assert f"  Would delete branch {tid}\n" in r.stdout
    assert (worktree_paths(repo), branches(repo)) == before and worktree.is_dir()
    data = js(run(repo, "cleanup", tid, "--dry-run", "-o", "json").stdout)
    assert data["dry_run"] is True and data["worktree_removed"] == str(worktree)
    assert data["deleted_branch"]["sha"] == git(repo, "rev-parse", tid).strip()
    assert (worktree_paths(repo), branches(repo)) == before


def test_cleanup_unmerged_branch_needs_force_and_reports_its_sha(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=True, commands=[])
    tid, worktree = started(run, repo, "unmerged")
    (worktree / "work.txt").write_text("committed work\n")
    git(worktree, "add", "work.txt")
    git(worktree, "commit", "-q", "-m", "work")
    sha = git(worktree, "rev-parse", "HEAD").strip()
    run(repo, "close", tid, "--reason", "abandoned")

    kept = run(repo, "cleanup", tid)
    assert kept.exit_code == 0, kept.output
    assert f"  Removed worktree {worktree}\n" in kept.stdout
    assert (
        f"  Kept branch {tid}: not merged into main (ticketflow cleanup {tid} --force deletes it)\n"
        in kept.stdout
    )
    assert not worktree.exists() and tid in branches(repo)

    forced = run(repo, "cleanup", tid, "--force")
    assert forced.exit_code == 0, forced.output
    assert forced.stdout == (
        f"  Deleted branch {tid} (not merged; it was at {sha[:7]}: git branch {tid} {sha} "
        "brings it back)\n"
    )
    assert tid not in branches(repo)
    git(repo, "branch", tid, sha)  # the line it printed brings it back
    data = js(run(repo, "cleanup", tid, "-f", "-o", "json").stdout)
    assert data["deleted_branch"] == {"branch": tid, "sha": sha, "merged": False}
    assert data["branch_deleted"] == tid and data["success"] is True
    assert data["ticket"]["status"] == "done" and data["ticket_id"] == tid


def test_cleanup_force_never_removes_a_dirty_worktree(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=True, commands=[])
    tid, worktree = started(run, repo, "dirty")
    (worktree / "unsaved.txt").write_text("precious\n")
    run(repo, "close", tid, "--reason", "later", "--force")
    data = js(run(repo, "cleanup", tid, "--force", "-o", "json").stdout)
    assert data["worktree_removed"] is None and data["branch_deleted"] is None
    assert any("uncommitted changes (unsaved.txt)" in k for k in data["kept"])
    assert any(k.startswith(f"branch {tid}: it is checked out in") for k in data["kept"])
    assert (worktree / "unsaved.txt").read_text() == "precious\n"
    assert tid in branches(repo)


def test_cleanup_help_teaches_the_flags(repo: Path, run: Cli) -> None:
    text = run(repo, "cleanup", "--help").stdout
    for part in ("--force", "--dry-run", "Examples:", "ticketflow cleanup fix-lo --force", "[ID]"):
        assert part in text, part


# --- bare cleanup ---------------------------------------------------------------------------


def test_bare_cleanup_removes_stale_branches_and_leaves_the_rest(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=False)
    stale, stale_sha = done_with_branch(run, repo, "stale", merged=True)
    unmerged, _ = done_with_branch(run, repo, "unmerged", merged=False)
    doing = new_id(run, repo, "doing")
    run(repo, "start", doing)  # checks out its branch here
    git(repo, "switch", "-q", "main")
    git(repo, "branch", "topic")
    r = run(repo, "cleanup", "-o", "json")
    assert r.exit_code == 0, r.output
    data = js(r.stdout)
    assert set(data) == {"success", "dry_run", "result"} and data["success"] is True
    result = data["result"]
    assert result["orphaned_worktrees"] == 0 and result["stale_branches"] == 1
    assert result["errors"] == [] and result["removed_worktrees"] == []
    assert result["deleted_branches"] == [{"branch": stale, "sha": stale_sha, "merged": True}]
    assert result["kept"] == [
        {
            "kind": "branch",
            "branch": unmerged,
            "path": None,
            "reason": f"not merged into main (ticketflow cleanup {unmerged} --force deletes it)",
        }
    ]
    assert branches(repo) == {"main", unmerged, doing, "topic"}


def test_bare_cleanup_text_dry_run_and_force(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=True, commands=[])
    orphan, orphan_wt = started(run, repo, "orphan")
    run(repo, "close", orphan, "--reason", "done")
    unmerged, sha = done_with_branch(run, repo, "unmerged", merged=False)
    before = (worktree_paths(repo), branches(repo))
    dry = run(repo, "cleanup", "--dry-run", "--force")
    assert dry.exit_code == 0, dry.output
    assert f"Would remove orphaned worktree: {orphan_wt} (branch: {orphan})" in dry.stdout
    assert f"Would delete stale branch {unmerged} (not merged; it is at {sha[:7]})" in dry.stdout
    assert "Cleanup Summary (dry run: nothing changed):\n" in dry.stdout
    assert (worktree_paths(repo), branches(repo)) == before

    plain = run(repo, "cleanup")
    assert "Cleanup Summary:\n  Orphaned worktrees removed: 1\n  Stale branches removed: 1\n" in (
        plain.stdout
    )
    why = f"not merged into main (ticketflow cleanup {unmerged} --force deletes it)"
    assert f"  Kept branch {unmerged}: {why}\n" in plain.stdout
    assert not orphan_wt.exists() and orphan not in branches(repo)
    forced = run(repo, "cleanup", "--force")
    assert f"git branch {unmerged} {sha} brings it back" in forced.stdout
    assert branches(repo) == {"main"}
    assert worktree_paths(repo) == [str(repo)]
