"""The TUI's ticket actions (new, start, close, reopen) as work a runner can run anywhere.

Why: a start or a close reads the tickets, moves a file and commits through pygit2; on a
100,000-ticket repository that holds the GIL for about 0.15 s, a frozen frame in the TUI's
process. As work of the ``jobs.work`` table they run where the interface's runner says (a
child process in the TUI); what comes back is an ``ActionResult``, plain data with a JSON
form, or the store's own error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ticketflow.store import TicketStore


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What a ticket action did, for the interface to say: the ticket, and for a start the
    branch (and worktree) it was given; for a close, whether its branch or worktree stays."""

    ticket_id: str
    workspace: bool = False
    """True when a start gave the ticket its branch (and worktree): the fields below."""
    branch: str | None = None
    worktree: str | None = None
    failed_commands: tuple[str, ...] = ()
    """The init commands of a start that failed."""
    workspace_remains: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "ticket_id": self.ticket_id,
            "workspace": self.workspace,
            "branch": self.branch,
            "worktree": self.worktree,
            "failed_commands": list(self.failed_commands),
            "workspace_remains": self.workspace_remains,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ActionResult:
        return cls(
            ticket_id=str(data["ticket_id"]),
            workspace=bool(data.get("workspace")),
            branch=data.get("branch"),
            worktree=data.get("worktree"),
            failed_commands=tuple(str(c) for c in data.get("failed_commands") or ()),
            workspace_remains=bool(data.get("workspace_remains")),
        )


def create(store: TicketStore, options: Mapping[str, Any]) -> ActionResult:
    ticket = store.create(
        str(options["slug"]),
        description=str(options.get("description") or ""),
        priority=int(options.get("priority", 2)),
        parent=options.get("parent"),
    )
    return ActionResult(ticket.id)


def start(store: TicketStore, options: Mapping[str, Any]) -> ActionResult:
    """``sync.claim: true``: the TUI's start claims as ``start --claim`` does. The claim takes
    no cancel here (an action is one step), so a cancel never leaves it half done; the
    configured git timeout bounds it."""
    if store.config.sync_claim:
        from ticketflow.git.claim import claim

        ticket = claim(store, str(options["ref"]), "start").ticket
        workspace = store.add_workspace(ticket) if store.config.branch_on_start else None
    else:
        ticket, workspace = store.start_ticket(str(options["ref"]))
    if workspace is None:
        return ActionResult(ticket.id)
    return ActionResult(
        ticket.id,
        workspace=True,
        branch=workspace.branch,
        worktree=str(workspace.worktree) if workspace.worktree else None,
        failed_commands=tuple(c.command for c in workspace.commands if not c.ok),
    )


def close(store: TicketStore, options: Mapping[str, Any]) -> ActionResult:
    """As ``ticketflow close`` does: uncommitted work in the ticket's worktree (or, for the
    current ticket, in this checkout) stops the close unless ``force``."""
    from ticketflow.worktrees import has_workspace, refuse_uncommitted

    ticket_id = store.resolve(str(options["ref"])).id
    if not options.get("force"):
        refuse_uncommitted(store, ticket_id, is_current=ticket_id == store.current_ticket_id())
    if store.config.sync_claim:
        from ticketflow.git.claim import claim

        reason = options.get("reason")
        ticket = claim(store, ticket_id, "close", reason=reason).ticket
    else:
        ticket = store.close(ticket_id, reason=options.get("reason"))
    return ActionResult(ticket.id, workspace_remains=has_workspace(store.root, ticket.id))


def reopen(store: TicketStore, options: Mapping[str, Any]) -> ActionResult:
    return ActionResult(store.reopen(str(options["ref"])).id)
