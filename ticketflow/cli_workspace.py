"""Commands about a ticket's workspace (its branch and worktree) rather than its file:
``cleanup``. Registered on the ``cli`` group when ``ticketflow.cli`` is imported."""

from __future__ import annotations

import click

from ticketflow.cli import Output, _cleanup_text, cli, command
from ticketflow.store import TicketStore


@cli.command("cleanup")
@click.argument("ticket_id", metavar="ID")
@command()
def cleanup_cmd(store: TicketStore, out: Output, ticket_id: str) -> None:
    """Remove a ticket's worktree (if it has no uncommitted work) and branch (if merged)."""
    from ticketflow.workspace import cleanup as clean_workspace

    tid = store.resolve(ticket_id).id
    cleaned = clean_workspace(store.root, store.config, tid)
    out.emit({"ticket_id": tid, **cleaned.to_json()}, _cleanup_text(cleaned))
