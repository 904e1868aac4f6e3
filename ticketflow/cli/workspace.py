"""Commands about a ticket's workspace (its branch and worktree) rather than its file:
``cleanup``, ``restore`` and ``worktree list|clean``, with the Go tool's meaning, flags and
JSON keys, except that nothing here destroys uncommitted work: a worktree with uncommitted
changes, a locked one or the one you are in is always kept, and a branch is deleted
unmerged only with ``--force``, with the sha that brings it back. Registered on the ``cli``
group when ``ticketflow.cli`` is imported."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ticketflow.cli.app import cli
from ticketflow.cli.output import Output, command, ticket_json, warn
from ticketflow.errors import (
    BranchNamesNoTicketError,
    InvalidTransitionError,
    NotFoundError,
    quoted,
)
from ticketflow.model import Status, is_ticket_id

if TYPE_CHECKING:
    from ticketflow.store import TicketStore
    from ticketflow.worktrees import (
        AutoCleanup,
        Cleanup,
        DeletedBranch,
        Kept,
        WorktreeClean,
        WorktreeInfo,
    )


def _statuses(store: TicketStore) -> dict[str, Status]:
    """Every readable ticket's status: what decides which worktree is orphaned and which
    branch is stale. A file that cannot be read is warned about and counts as no ticket,
    so nothing of its is removed."""
    loaded = store.load_all()
    for problem in loaded.problems:
        warn(f"Warning: skipped {problem.message}")
    return {t.id: t.status for t in loaded.tickets}


def _short(sha: str) -> str:
    return sha[:7]


# --- restore --------------------------------------------------------------------------------


@cli.command("restore")
@command()
def restore_cmd(store: TicketStore, out: Output) -> None:
    """Point current-ticket.md at the ticket the checked-out branch names.

    For a checkout whose link was lost (a fresh clone, a worktree made by
    hand): on the branch of a started ticket, the link at the top of this
    checkout (the main one or a ticket's worktree) is made to point at its
    file, as start does. A regular file named current-ticket.md is never
    replaced.
    """
    from ticketflow.git.local import current_branch
    from ticketflow.store import CURRENT_LINK
    from ticketflow.workspace import restore_link

    with store.lock():
        branch = current_branch(store.root)
        if branch is None:
            raise BranchNamesNoTicketError(
                "HEAD is detached: no branch is checked out, so none names the current ticket",
                hint="check out the ticket's branch (git switch <ID>), or start one: "
                "ticketflow start <ID>",
            )
        ticket = None
        if is_ticket_id(branch):
            try:
                ticket = store.get(branch)
            except NotFoundError:
                ticket = None
        if ticket is None or ticket.id != branch:
            raise BranchNamesNoTicketError(
                f"no ticket found for branch {quoted(branch)}: the current ticket is the one "
                "the checked-out branch is named after",
                hint="start a ticket (ticketflow start <ID>), or check out a ticket's branch "
                "(git switch <ID>)",
            )
        if ticket.status is not Status.DOING:
            todo = ticket.status is Status.TODO
            raise InvalidTransitionError(
                f"ticket {ticket.id} is {ticket.status.value}; only a started ticket is the "
                "current ticket",
                hint=f"start it: ticketflow start {ticket.id}"
                if todo
                else f"reopen it: ticketflow reopen {ticket.id}",
                remedy="start" if todo else "reopen",
                error_code="TICKET_NOT_STARTED" if todo else "TICKET_ALREADY_CLOSED",
            )
        assert ticket.path is not None
        restore_link(store.root, ticket.path)
    data: dict[str, Any] = {
        "success": True,
        "ticket_id": ticket.id,
        "status": ticket.status.value,
        "symlink_restored": True,
        "symlink_path": CURRENT_LINK,
        "target_path": ticket.path,
        "message": "Current ticket symlink restored",
        "worktree_path": str(store.root),
    }
    parent = next(
        (r.removeprefix("parent:") for r in ticket.related if r.startswith("parent:")), ""
    )
    if parent:
        data["parent_ticket"] = parent
    out.emit(data, f"Restored current ticket link: {ticket.id}\n")


# --- worktree list | clean ------------------------------------------------------------------


@cli.group("worktree", invoke_without_command=True)
@click.pass_context
def worktree_group(ctx: click.Context) -> None:
    """Manage the git worktrees of tickets: list them, remove the orphaned ones.

    \b
    Examples:
      ticketflow worktree list              every worktree, the main one too
      ticketflow worktree list -o json
      ticketflow worktree clean --dry-run   what clean would remove
      ticketflow worktree clean             remove worktrees of tickets not in doing
    """
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


def render_worktrees(worktrees: list[WorktreeInfo]) -> str:
    """The Go tool's table: PATH, BRANCH, HEAD (short sha)."""
    if not worktrees:
        return "No worktrees found\n"
    lines = [f"{'PATH':<50} {'BRANCH':<30} HEAD", "-" * 100]
    lines += [f"{w.path!s:<50} {w.branch:<30} {_short(w.head)}" for w in worktrees]
    return "\n".join(lines) + "\n"


@worktree_group.command("list")
@command()
def worktree_list_cmd(store: TicketStore, out: Output) -> None:
    """List every worktree of the repository: path, branch and HEAD."""
    from ticketflow.worktrees import list_worktrees

    worktrees = list_worktrees(store.root)
    out.emit({"worktrees": [w.to_json() for w in worktrees]}, lambda: render_worktrees(worktrees))


def _kept_worktree(kept: Kept) -> str:
    return f"worktree {kept.path} (branch: {kept.branch}): {kept.reason}"


def _worktree_lines(cleaned: WorktreeClean, indent: str = "") -> list[str]:
    would = cleaned.dry_run
    lines = [
        f"{indent}{'Would prune' if would else 'Pruned'} git's record of a missing worktree: {path}"
        for path in cleaned.pruned
    ]
    lines += [
        f"{indent}{'Would remove' if would else 'Removed'} orphaned worktree: {w.path} "
        f"(branch: {w.branch})"
        for w in cleaned.removed
    ]
    return lines


def _kept_json(
    cleaned: WorktreeClean | None, branches: tuple[Kept, ...] = ()
) -> list[dict[str, object]]:
    worktrees = [{"kind": "worktree", **k.to_json()} for k in cleaned.kept] if cleaned else []
    return worktrees + [{"kind": "branch", **k.to_json()} for k in branches]


@worktree_group.command("clean")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; change nothing.")
@command()
def worktree_clean_cmd(store: TicketStore, out: Output, dry_run: bool) -> None:
    """Remove orphaned worktrees: those on the branch of a ticket not in doing.

    Safer than the Go tool: only a worktree whose branch names a ticket, never
    the main one, one with uncommitted changes, a locked one or the one you
    are in (those are listed as kept, with the reason). Branches stay. Git's
    records of worktrees whose folder is gone are pruned.
    """
    from ticketflow.worktrees import clean_worktrees

    with store.lock():
        statuses = _statuses(store)
        cleaned = clean_worktrees(store.root, store.config, statuses, dry_run=dry_run)

    def text() -> str:
        lines = _worktree_lines(cleaned)
        lines += [f"Kept {_kept_worktree(k)}" for k in cleaned.kept]
        count = len(cleaned.removed)
        if dry_run:
            lines.append(f"Would clean {count} orphaned worktree(s) (dry run: nothing changed)")
        elif count:
            lines.append(f"Cleaned {count} orphaned worktree(s)")
        else:
            lines.append("No orphaned worktrees found")
        return "\n".join(lines) + "\n"

    out.emit(
        {
            "success": True,
            "dry_run": dry_run,
            "cleaned_count": len(cleaned.removed),
            "cleaned_worktrees": [w.branch for w in cleaned.removed],
            "failed_worktrees": [k.branch for k in cleaned.kept],
            "total_worktrees": cleaned.total,
            "active_tickets": sum(1 for s in statuses.values() if s is Status.DOING),
            "kept": [k.to_json() for k in cleaned.kept],
            "pruned": [str(p) for p in cleaned.pruned],
        },
        text,
    )


# --- cleanup --------------------------------------------------------------------------------


CLEANUP_HELP = """Remove what start made for finished tickets: worktrees and branches.

With ID (a done ticket): remove its worktree, unless it has uncommitted
changes, and its branch, if it is merged into git.default_branch. Without
ID: remove every orphaned worktree (its ticket is not in doing; with
worktree.enabled) and every stale branch (its ticket is done). An unmerged
branch is kept unless --force, which deletes it and prints the sha that
brings it back. A worktree with uncommitted changes, or the one you are in,
is never removed, even with --force. --dry-run says what would be done and
changes nothing.

\b
Examples:
  ticketflow cleanup --dry-run          preview the cleanup of every ticket
  ticketflow cleanup                    orphaned worktrees and stale branches
  ticketflow cleanup fix-lo             one closed ticket's worktree and branch
  ticketflow cleanup fix-lo --force     ... its branch even if not merged
"""


def _deleted_text(deleted: DeletedBranch, dry_run: bool) -> str:
    if dry_run:
        verb = "Would delete"
        where = f" (not merged; it is at {_short(deleted.sha)})"
    else:
        verb = "Deleted"
        where = (
            f" (not merged; it was at {_short(deleted.sha)}: git branch {deleted.name} "
            f"{deleted.sha} brings it back)"
        )
    return f"{verb} branch {deleted.name}" + ("" if deleted.merged else where)


def _cleanup_text(cleaned: Cleanup) -> str:
    would = cleaned.dry_run
    lines = []
    if cleaned.worktree_removed:
        lines.append(
            f"  {'Would remove' if would else 'Removed'} worktree {cleaned.worktree_removed}"
        )
    if cleaned.deleted:
        lines.append("  " + _deleted_text(cleaned.deleted, would))
    lines += [f"  {'Would keep' if would else 'Kept'} {what}" for what in cleaned.kept]
    if not lines:
        return "  Nothing to clean up\n"
    return "\n".join(lines) + ("\n  (dry run: nothing changed)\n" if would else "\n")


def _auto_text(result: AutoCleanup) -> str:
    would = result.dry_run
    lines = _worktree_lines(result.worktrees) if result.worktrees else []
    lines += [
        _deleted_text(d, would).replace(" branch ", " stale branch ", 1) for d in result.deleted
    ]
    removed = len(result.worktrees.removed) if result.worktrees else 0
    lines += [
        "",
        "Cleanup Summary" + (" (dry run: nothing changed):" if would else ":"),
        f"  Orphaned worktrees {'to remove' if would else 'removed'}: {removed}",
        f"  Stale branches {'to remove' if would else 'removed'}: {len(result.deleted)}",
    ]
    keep = "Would keep" if would else "Kept"
    if result.worktrees:
        lines += [f"  {keep} {_kept_worktree(k)}" for k in result.worktrees.kept]
    lines += [f"  {keep} branch {k.branch}: {k.reason}" for k in result.kept]
    return "\n".join(lines).lstrip("\n") + "\n"


@cli.command("cleanup", help=CLEANUP_HELP)
@click.argument("ticket_id", metavar="[ID]", required=False)
@click.option(
    "--force",
    "-f",
    is_flag=True,
    help="Delete branches even if they are not merged (their sha is printed). Never "
    "removes a worktree with uncommitted changes.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed and kept; change nothing.")
@command()
def cleanup_cmd(
    store: TicketStore, out: Output, ticket_id: str | None, force: bool, dry_run: bool
) -> None:
    from ticketflow.worktrees import auto_cleanup, cleanup

    if ticket_id is None:
        with store.lock():
            statuses = _statuses(store)
            result = auto_cleanup(store.root, store.config, statuses, force=force, dry_run=dry_run)
        worktrees = result.worktrees
        out.emit(
            {
                "success": True,
                "dry_run": dry_run,
                "result": {
                    "orphaned_worktrees": len(worktrees.removed) if worktrees else 0,
                    "stale_branches": len(result.deleted),
                    "errors": [],
                    "removed_worktrees": [
                        {"branch": w.branch, "path": str(w.path)}
                        for w in (worktrees.removed if worktrees else ())
                    ],
                    "pruned_worktrees": [str(p) for p in (worktrees.pruned if worktrees else ())],
                    "deleted_branches": [d.to_json() for d in result.deleted],
                    "kept": _kept_json(worktrees, result.kept),
                },
            },
            lambda: _auto_text(result),
        )
        return
    with store.lock():
        ticket = store.get(ticket_id)
        if ticket.status is not Status.DONE:
            raise InvalidTransitionError(
                f"ticket {ticket.id} is {ticket.status.value}, not done; cleanup removes the "
                "worktree and branch of a closed ticket",
                hint=f"close it first: ticketflow close {ticket.id} (closed on its branch? "
                "merge that branch first)",
                remedy="close",
                error_code="TICKET_NOT_DONE",
            )
        cleaned = cleanup(store.root, store.config, ticket.id, force=force, dry_run=dry_run)
    out.emit(
        {
            "success": True,
            "dry_run": dry_run,
            "ticket_id": ticket.id,
            "ticket": ticket_json(ticket),
            "deleted_branch": cleaned.deleted.to_json() if cleaned.deleted else None,
            **cleaned.to_json(),
        },
        lambda: _cleanup_text(cleaned),
    )
