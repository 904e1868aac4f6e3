"""The command line: one command for every ticket action, ``--format json`` for scripts.

Names and flags follow the Go tool yshrsmz/ticketflow so its users feel at home; flags may
come before or after arguments. Every failure is a ``TicketflowError`` printed as
``Error: ...`` and ``Hint: ...`` on stderr (or a JSON object in JSON mode) with the exit code
documented in docs/commands.md. Only the bare ``ticketflow`` (the TUI) imports textual.

The package: ``output`` (JSON encoding, text, the ``command`` decorator: what tests and
benchmarks import), ``app`` (the ``cli`` group), and the commands by concern: ``tickets``,
``listing``, ``sync``, ``background``, ``demo``, ``admin``, ``workspace``. Importing the
package registers every command on ``cli``.
"""

from __future__ import annotations

# importing the command modules registers their commands on ``cli``
from ticketflow.cli import admin, background, demo, listing, sync, tickets, workspace
from ticketflow.cli.app import cli
from ticketflow.cli.listing import filter_tickets, summarize
from ticketflow.cli.output import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    FORMAT_ENV,
    Output,
    _open_store,
    command,
    dumps_json,
    ticket_json,
    warn,
)

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "FORMAT_ENV",
    "Output",
    "_open_store",
    "admin",
    "background",
    "cli",
    "command",
    "demo",
    "dumps_json",
    "filter_tickets",
    "listing",
    "main",
    "summarize",
    "sync",
    "ticket_json",
    "tickets",
    "warn",
    "workspace",
]


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="ticketflow")
