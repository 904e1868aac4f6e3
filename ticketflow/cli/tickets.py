"""The ticket commands: init, new, start, close, reopen, edit, status."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ticketflow.config import (
    CONFIG_NAME,
    default_config_text,
    detect_default_branch,
    find_git_root,
    load_config,
)
from ticketflow.errors import (
    EditorError,
    GitError,
    MalformedTicketError,
    NotARepoError,
    TicketflowError,
    UnsafePathError,
    UsageError,
)
from ticketflow.fsutil import atomic_write
from ticketflow.model import Status, Ticket
from ticketflow.safepaths import LINK_ERRNOS, O_NOFOLLOW, open_folder
from ticketflow.textsafe import visible

if TYPE_CHECKING:
    from ticketflow.git.claim import ClaimResult
    from ticketflow.store import TicketStore
    from ticketflow.workspace import Workspace
from ticketflow.cli.app import cli
from ticketflow.cli.output import (
    Output,
    _commit_flag,
    _integer,
    _json_time,
    command,
    no_commit_option,
    ticket_json,
    warn,
)


def _read_own_file(root: Path, path: Path) -> bytes:
    """A repository file ticketflow rewrites (``.gitignore``): b"" if missing, never read
    through a link (whatever it points at would be copied into the commit)."""
    try:
        fd = os.open(path, os.O_RDONLY | O_NOFOLLOW)
    except FileNotFoundError:
        return b""
    except OSError as exc:
        rel = path.relative_to(root).as_posix()
        if exc.errno in LINK_ERRNOS:
            raise UnsafePathError(
                rel,
                None,
                "is a symbolic link; ticketflow does not read or write through links",
                hint="replace it with a regular file (or remove it), then run init again",
                code="symlink",
            ) from None
        raise TicketflowError(f"cannot read {rel}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


@cli.command("init")
@click.option("--no-commit", is_flag=True, help="Write the files but do not commit them.")
@command(needs_store=False)
def init_cmd(out: Output, no_commit: bool) -> None:
    """Set up ticketflow in the current git repository.

    Writes .ticketflow.yaml (the bytes the Go tool writes, with this
    repository's default branch: origin's HEAD, else the branch checked out
    now), creates tickets/todo, tickets/doing and tickets/done, adds
    current-ticket.md to .gitignore, and commits the two files.
    """
    env_root = os.environ.get("TICKETFLOW_ROOT")
    root = find_git_root(Path(env_root) if env_root else Path.cwd())
    if root is None:
        raise NotARepoError(
            "not in a git repository", hint="run 'git init' first, then 'ticketflow init'"
        )
    config_path = root / CONFIG_NAME
    if config_path.exists():
        out.emit(
            {"initialized": False, "message": "already initialized", "config": CONFIG_NAME},
            "Ticket system already initialized\n",
        )
        return
    gitignore = root / ".gitignore"
    existing = _read_own_file(root, gitignore)  # before anything is written
    branch = detect_default_branch(root)
    worktrees = f"../{root.name}.worktrees"
    atomic_write(config_path, default_config_text(branch, worktrees).encode("utf-8"), root=root)
    config = load_config(config_path)
    for status in Status:
        folder = root / config.tickets_dir / config.status_dirs()[status.value]
        os.close(open_folder(root, folder, create=True))  # made inside the repository only
    if b"current-ticket.md" not in existing:
        atomic_write(
            gitignore, existing + b"\n# TicketFlow\ncurrent-ticket.md\n.worktrees/\n", root=root
        )
    commit = None
    if not no_commit:
        from ticketflow.git.local import PathChange, commit_paths

        try:
            commit = commit_paths(
                root,
                [PathChange(CONFIG_NAME), PathChange(".gitignore")],
                "Initialize ticketflow",
            )
        except GitError as exc:
            raise GitError(
                f"{exc.message} (the files are written and staged)",
                hint=f"{exc.hint}; then: git commit -m 'Initialize ticketflow' "
                f"{CONFIG_NAME} .gitignore",
            ) from None
    out.emit(
        {
            "initialized": True,
            "config": CONFIG_NAME,
            "tickets_dir": config.tickets_dir,
            "default_branch": config.default_branch,
            "commit": commit,
        },
        f"Initialized ticket system successfully\n"
        f"Configuration saved to: {config_path}\n"
        f"Tickets directory: {root / config.tickets_dir}\n"
        f"Default branch: {config.default_branch} (git.default_branch)\n",
    )


@cli.command("new")
@click.argument("slug")
@click.option("--parent", "-p", metavar="ID", help="Parent ticket (any unambiguous id prefix).")
@click.option(
    "--priority",
    default="2",
    show_default=True,
    callback=_integer,
    metavar="INTEGER",
    help="1 is the most urgent.",
)
@click.option("--description", "-d", default="", help="One-line summary shown in lists.")
@no_commit_option
@command()
def new_cmd(
    store: TicketStore,
    out: Output,
    slug: str,
    parent: str | None,
    priority: int,
    description: str,
    no_commit: bool,
) -> None:
    """Create a ticket in todo from the configured template.

    SLUG is lower-case letters, digits and hyphens; the id becomes
    YYMMDD-HHMMSS-SLUG (local time). Commits "Add ticket: <ID>".
    """
    ticket = store.create(
        slug,
        parent=parent,
        priority=priority,
        description=description,
        commit=_commit_flag(no_commit),
    )
    data: dict[str, Any] = {"ticket": ticket_json(ticket)}
    if ticket.parent:
        data["parent_ticket"] = ticket.parent
    out.emit(
        data,
        f"Created ticket: {ticket.id}\n  File: {ticket.path}\n"
        + (f"  Parent: {ticket.parent}\n" if ticket.parent else "")
        + f"Next: edit it with 'ticketflow edit {ticket.id}', "
        f"then 'ticketflow start {ticket.id}'\n",
    )


def _transition_output(out: Output, verb: str, ticket: Ticket, extra: str = "") -> None:
    out.emit(
        {"ticket_id": ticket.id, "status": ticket.status.value, "ticket": ticket_json(ticket)},
        f"{verb} ticket: {ticket.id}\n  Status: {ticket.status.value}\n  File: {ticket.path}\n"
        + extra,
    )


def _claiming(store: TicketStore, claim: bool | None, no_commit: bool) -> bool:
    """--claim / --no-claim, else sync.claim; a claim commits, so never with --no-commit."""
    claiming = store.config.sync_claim if claim is None else claim
    if claiming and no_commit:
        raise UsageError(
            "--claim commits and pushes, so it cannot go with --no-commit",
            hint="drop --no-commit, or add --no-claim (sync.claim: true makes claiming the "
            "default)",
        )
    return claiming


def _claimed_line(claimed: ClaimResult) -> str:
    pulled = ", after pulling" if claimed.pulled else ""
    return (
        f"  Claimed on {claimed.remote}/{claimed.remote_branch} "
        f"(pushed {claimed.commit[:7]}{pulled})\n"
    )


@cli.command("start")
@click.argument("ticket_id", metavar="ID")
@click.option(
    "--no-branch",
    is_flag=True,
    help="Do not create the ticket's branch or worktree (git.branch_on_start: false does "
    "this always).",
)
@click.option(
    "--force",
    "-f",
    is_flag=True,
    help="A ticket already in doing: remove its worktree and add it again (never one with "
    "uncommitted changes; the branch stays).",
)
@click.option(
    "--claim/--no-claim",
    default=None,
    help="Claim it through the remote: fetch, refuse (exit 3) if a teammate got there "
    "first, commit and push (default: sync.claim).",
)
@no_commit_option
@command()
def start_cmd(
    store: TicketStore,
    out: Output,
    ticket_id: str,
    no_branch: bool,
    no_commit: bool,
    force: bool,
    claim: bool | None,
) -> None:
    """Start work: set started_at, move the file to doing, commit "Start ticket: <ID>".

    As the Go tool does, the ticket gets a branch named after its id. With
    worktree.enabled the start is committed on the current branch and a
    worktree is added under worktree.base_dir on the new branch, where
    worktree.init_commands run; otherwise the branch is checked out here
    first. The ticket becomes the current ticket (current-ticket.md), which
    a bare 'ticketflow close' closes.

    With --claim (or sync.claim: true) the start counts only once the
    remote has it: ticketflow fetches, refuses with exit 3 if the remote's
    copy of the ticket was already started, closed or removed (naming who
    and when, and changing nothing here), commits the start and pushes it,
    trying again if the remote moved meanwhile. The branch or worktree is
    made after the push.
    """
    claiming = _claiming(store, claim, no_commit)
    # an uncommitted start cannot be checked out in a worktree: no workspace then
    wants_workspace = not (no_branch or no_commit) and store.config.branch_on_start
    recreate = (
        force
        and wants_workspace
        and store.config.worktree_enabled
        and store.get(ticket_id).status is Status.DOING
    )
    workspace: Workspace | None
    claimed: ClaimResult | None = None
    if claiming:
        from ticketflow.git.claim import claim as run_claim

        claimed = run_claim(store, ticket_id, "start")
        ticket = claimed.ticket
        recreate = False
        workspace = store.add_workspace(ticket) if not no_branch and wants_workspace else None
    elif recreate:
        from ticketflow.worktrees import recreate_worktree

        ticket, workspace = recreate_worktree(store, ticket_id)
    else:
        ticket, workspace = store.start_ticket(
            ticket_id,
            commit=_commit_flag(no_commit),
            workspace=False if (no_branch or no_commit) else None,
        )
    for run in workspace.commands if workspace else ():
        if not run.ok:  # a skipped fetch (no such remote) is said in the JSON only
            why = f"exit {run.returncode}" if run.returncode is not None else run.error
            detail = f": {run.error}" if run.returncode is not None and run.error else ""
            warn(f"Warning: init command {run.command!r} failed ({why}){detail}")
    extra = ""
    if workspace is not None:
        extra += f"  Branch: {workspace.branch}\n"
        if workspace.worktree is not None:
            extra += f"  Worktree: {workspace.worktree}\n  Next: cd {workspace.worktree}\n"
    verb = "Recreated the worktree of ticket" if recreate else "Started ticket"
    if claimed is not None:
        extra = _claimed_line(claimed) + extra
    out.emit(
        {
            **({"claim": claimed.to_json()} if claimed is not None else {}),
            "ticket_id": ticket.id,
            "status": ticket.status.value,
            "original_status": (Status.DOING if recreate else Status.TODO).value,
            "is_recreating_worktree": recreate,
            "init_commands_executed": bool(workspace and workspace.commands),
            "ticket": ticket_json(ticket),
            **(workspace.to_json() if workspace else {"branch": None, "worktree_path": None}),
        },
        f"{verb}: {ticket.id}\n  Status: {ticket.status.value}\n  File: {ticket.path}\n" + extra,
    )


@cli.command("close")
@click.argument("ticket_id", metavar="[ID]", required=False)
@click.option("--reason", "-r", default=None, help="Why; appended as a Closure Note.")
@click.option(
    "--cleanup",
    is_flag=True,
    help="Then remove the ticket's worktree (if clean) and branch (if merged).",
)
@click.option(
    "--force",
    "-f",
    is_flag=True,
    help="Close even though the ticket's worktree (or, for the current ticket without one, "
    "this checkout) has uncommitted changes; they stay where they are.",
)
@click.option(
    "--claim/--no-claim",
    default=None,
    help="Close it through the remote: fetch, refuse (exit 3) if a teammate got there "
    "first, commit and push (default: sync.claim).",
)
@no_commit_option
@command()
def close_cmd(
    store: TicketStore,
    out: Output,
    ticket_id: str | None,
    reason: str | None,
    cleanup: bool,
    no_commit: bool,
    force: bool,
    claim: bool | None,
) -> None:
    """Close a ticket: set closed_at, move it to done, commit "Close ticket: <ID>".

    Without ID, closes the current ticket (the one last started here). A
    ticket that was never started can be closed only with --reason. As in
    the Go tool, uncommitted changes in the ticket's worktree stop the close
    (commit them first, or --force); ticket files do not count.
    """
    current = store.current_ticket_id()
    ref = ticket_id or current
    if ref is None:
        raise UsageError(
            "no active ticket: there is no ticket currently being worked on",
            hint="name one: ticketflow close <ID> (see 'ticketflow list --status doing')",
            error_code="TICKET_NOT_STARTED",
        )
    tid = store.resolve(ref).id
    if not force:
        from ticketflow.worktrees import refuse_uncommitted

        refuse_uncommitted(store, tid, is_current=tid == current)
    claimed: ClaimResult | None = None
    if _claiming(store, claim, no_commit):
        from ticketflow.git.claim import claim as run_claim

        claimed = run_claim(store, tid, "close", reason=reason)
        ticket = claimed.ticket
    else:
        ticket = store.close(tid, reason=reason, commit=_commit_flag(no_commit))
    cleaned = None
    hint = ""
    from ticketflow.worktrees import has_workspace

    if cleanup:
        from ticketflow.worktrees import cleanup as clean_workspace

        cleaned = clean_workspace(store.root, store.config, ticket.id)
    elif has_workspace(store.root, ticket.id):
        hint = f"  Its branch/worktree remain: ticketflow cleanup {ticket.id}\n"
    out.emit(
        {
            "success": True,
            "ticket_id": ticket.id,
            "status": ticket.status.value,
            "closed_at": _json_time(ticket.closed_at),
            "close_reason": ticket.closure_reason,
            "ticket": ticket_json(ticket),
            "cleanup": cleaned.to_json() if cleaned else None,
            "force_used": force,
            "commit_created": not no_commit and store.config.auto_commit,
            "mode": "by_id" if ticket_id is not None and tid != current else "current",
            **({"claim": claimed.to_json()} if claimed is not None else {}),
        },
        f"Closed ticket: {ticket.id}\n"
        + (f"  Reason: {ticket.closure_reason}\n" if ticket.closure_reason else "")
        + (_claimed_line(claimed) if claimed is not None else "")
        + (_cleanup_text(cleaned) if cleaned else hint),
    )


def _cleanup_text(cleaned: Any) -> str:
    lines = []
    if cleaned.worktree_removed:
        lines.append(f"  Removed worktree {cleaned.worktree_removed}")
    if cleaned.branch_deleted:
        lines.append(f"  Deleted branch {cleaned.branch_deleted}")
    lines += [f"  Kept {what}" for what in cleaned.kept]
    return "\n".join(lines) + "\n" if lines else "  Nothing to clean up\n"


@cli.command("reopen")
@click.argument("ticket_id", metavar="ID")
@no_commit_option
@command()
def reopen_cmd(store: TicketStore, out: Output, ticket_id: str, no_commit: bool) -> None:
    """Reopen a closed ticket: clear closed_at and closure_reason, commit.

    It goes back to doing if it had been started, else to todo. The
    Closure Note stays in the body as history.
    """
    ticket = store.reopen(ticket_id, commit=_commit_flag(no_commit))
    _transition_output(out, "Reopened", ticket)


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


@cli.command("edit")
@click.argument("ticket_id", metavar="ID")
@no_commit_option
@command()
def edit_cmd(store: TicketStore, out: Output, ticket_id: str, no_commit: bool) -> None:
    """Edit a ticket in $VISUAL / $EDITOR, validate it, commit "Update ticket: <ID>".

    You edit a copy; the ticket is replaced only by a valid file. If the
    edit is broken you can edit again or discard it (when not interactive,
    the broken copy is kept and its path printed). Changing closed_at or
    started_at moves the file to the matching folder.
    """
    from ticketflow import editing

    session = editing.begin_edit(store, ticket_id)
    while True:
        editing.run_editor(session)
        try:
            text = editing.check_edit(session)
            break
        except MalformedTicketError as problem:
            if not out.json and _interactive():
                click.echo(f"Error: {visible(problem.message)}", err=True)
                if click.confirm("Edit again? (no discards your changes)", default=True):
                    continue
                session.work.unlink()
                raise EditorError("edit discarded; the ticket is unchanged") from None
            raise editing.rejected(session, problem) from None
    ticket = editing.finish_edit(store, session, text, commit=_commit_flag(no_commit))
    if ticket is None:
        out.emit({"ticket_id": session.ticket_file.id, "changed": False}, "No changes\n")
        return
    out.emit(
        {"ticket_id": ticket.id, "changed": True, "ticket": ticket_json(ticket)},
        f"Updated ticket: {ticket.id}\n",
    )


@cli.command("status")
@command()
def status_cmd(store: TicketStore, out: Output) -> None:
    """Show the current branch, the current ticket and how many tickets are in each state."""
    from ticketflow.index import TicketIndex

    listed = TicketIndex.open(store).summaries()
    for problem in listed.problems:
        warn(f"Warning: skipped {problem.message}")
    summary = listed.counts
    branch = store.current_branch()
    current_id = store.current_ticket_id()
    current = None
    if current_id is not None:
        try:
            current = store.get(current_id)
        except TicketflowError:
            current = None

    from ticketflow.git.lastfetch import age, load_last_fetch

    last = load_last_fetch(store.root)

    def text() -> str:
        lines = [f"Current branch: {branch or '(detached)'}", ""]
        if current is not None:
            lines += [
                f"Active ticket: {current.id}",
                f"   Description: {current.description}",
                f"   Status: {current.status.value}",
                "",
            ]
        else:
            lines += [
                "No active ticket",
                "   Start a ticket with: ticketflow start <ticket-id>",
                "",
            ]
        lines += [
            "Ticket summary:",
            f"   Todo:  {summary['todo']}",
            f"   Doing: {summary['doing']}",
            f"   Done:  {summary['done']}",
            "   ---------",
            f"   Total: {summary['total']}",
        ]
        if last is not None:  # the Go tool's lines stay as they are; ours come after
            where = f"{last.remote}/{last.branch}"
            when = age(last.fetched_at, datetime.now(UTC))
            if not last.exists:
                said = f"{where} did not exist ({last.ahead} ahead)"
            else:
                said = f"{where}: {last.behind} behind, {last.ahead} ahead"
            lines += ["", f"Last fetch: {when}, {said}"]
        return "\n".join(lines) + "\n"

    out.emit(
        {
            "current_branch": branch,
            "current_ticket": ticket_json(current) if current else None,
            "last_fetch": last.to_json() if last is not None else None,
            "summary": summary,
        },
        text,
    )
