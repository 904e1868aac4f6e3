"""The ``cli`` group: the overview help, the Go tool's aliases, ``--version``, and the TUI
when no command is given."""

from __future__ import annotations

import sys
from typing import ClassVar

import click

from ticketflow import __version__
from ticketflow.cli.output import Output, _open_store
from ticketflow.errors import TicketflowError

HELP = """Tickets as Markdown files in your git repository, from the keyboard.

\b
Run with no command to open the terminal UI. Tickets live in
tickets/todo, tickets/doing and tickets/done as <YYMMDD-HHMMSS-slug>.md,
the same files the Go tool yshrsmz/ticketflow reads and writes.

\b
A first session:
  ticketflow init                         set up this git repository
  ticketflow new fix-login -d "Login times out after 5 s"
  ticketflow list                         open tickets (todo and doing)
  ticketflow start fix-lo                 any unambiguous id prefix works
  ticketflow close fix-lo --reason "shipped in 1.4"

Every command takes --format json (or TICKETFLOW_OUTPUT_FORMAT=json).
Exit codes are listed in docs/commands.md.
"""


class _Group(click.Group):
    """The Go tool's aliases (``ls`` for ``list``) resolve to their command; they are not
    listed twice in ``--help`` (the command's help names its alias)."""

    ALIASES: ClassVar[dict[str, str]] = {"ls": "list"}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.ALIASES.get(cmd_name, cmd_name))

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        return (cmd.name if cmd is not None else name), cmd, rest


@click.group(
    cls=_Group,
    invoke_without_command=True,
    help=HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(
    __version__, "--version", "-V", "-v", message="ticketflow version %(version)s"
)
@click.pass_context
def cli(ctx: click.Context) -> None:
    if ctx.invoked_subcommand is None:
        from ticketflow.tui.app import create_app

        try:
            app = create_app(_open_store())
        except TicketflowError as exc:
            Output("text").error(exc)
            sys.exit(exc.exit_code)
        app.run()
