"""The command line: one command for every ticket action, ``--format json`` for scripts.

Names and flags follow the Go tool yshrsmz/ticketflow so its users feel at home; flags may
come before or after arguments. Every failure is a ``TicketflowError`` printed as
``Error: ...`` and ``Hint: ...`` on stderr (or a JSON object in JSON mode) with the exit code
documented in docs/commands.md. Only the bare ``ticketflow`` (the TUI) imports textual.

The package: ``output`` (JSON encoding, text, the ``command`` decorator: what tests and
benchmarks import), ``app`` (the ``cli`` group), and the commands by concern: ``tickets``,
``listing``, ``sync``, ``background``, ``demo``, ``admin``, ``workspace``, each imported
only when one of its commands runs (``app.COMMANDS``).
"""

from __future__ import annotations

from ticketflow.cli.app import cli

__all__ = ["cli", "main"]


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="ticketflow")
