"""The ``cli`` group: the overview help, the Go tool's aliases, ``--version``, and the TUI
when no command is given."""

from __future__ import annotations

import importlib
import sys
from typing import ClassVar

import click

from ticketflow import __version__
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


COMMANDS: dict[str, tuple[str, str]] = {
    "cleanup": (
        "workspace",
        "Remove what start made for finished tickets: worktrees and branches.",
    ),
    "close": (
        "tickets",
        'Close a ticket: set closed_at, move it to done, commit "Close ticket: <ID>".',
    ),
    "demo": ("demo", "Try ticketflow with nothing set up: a sandbox with a team remote."),
    "edit": (
        "tickets",
        'Edit a ticket in $VISUAL / $EDITOR, validate it, commit "Update ticket: <ID>".',
    ),
    "fetch": (
        "sync",
        "Fetch only, and say what the remote has that you do not.",
    ),
    "help": ("admin", "Show the overview, or a command's help."),
    "init": ("tickets", "Set up ticketflow in the current git repository."),
    "jobs": (
        "background",
        "Show the history of background jobs (pull, push, scan; a sync is a pull and a push).",
    ),
    "list": (
        "listing",
        "List tickets: priority first (1 before 2), then newest first (alias: ls).",
    ),
    "new": ("tickets", "Create a ticket in todo from the configured template."),
    "pull": ("sync", "Fetch and merge the remote's tickets into the current branch."),
    "push": ("sync", "Push the current branch to its upstream (or origin's branch of its name)."),
    "reopen": ("tickets", "Reopen a closed ticket: clear closed_at and closure_reason, commit."),
    "restore": ("workspace", "Point current-ticket.md at the ticket the checked-out branch names."),
    "scan": ("background", "Refresh the ticket index and lint every ticket file."),
    "show": ("listing", "Show one ticket's fields and body."),
    "start": (
        "tickets",
        'Start work: set started_at, move the file to doing, commit "Start ticket: <ID>".',
    ),
    "status": (
        "tickets",
        "Show the current branch, the current ticket and how many tickets are in each state.",
    ),
    "sync": ("sync", "Pull, then push: the one command to share your tickets with the team."),
    "version": ("admin", "Show ticketflow's version (also: ticketflow --version, -v, -V)."),
    "workflow": ("admin", "Print the workflow guide: the everyday loop from a ticket to a merge."),
    "worktree": (
        "workspace",
        "Manage the git worktrees of tickets: list them, remove the orphaned ones.",
    ),
}
"""Every command: the module of ``ticketflow.cli`` that defines it, and its line in the
overview. A command's module is imported only when the command runs (or its help is
shown), so ``ticketflow --help`` and ``ticketflow list`` do not import every command's
dependencies (see docs/benchmarks.md). A command takes its overview line from here;
``tests/test_cli.py`` checks each name is defined by the module named."""


class _Group(click.Group):
    """Commands are loaded when used (``COMMANDS``). The Go tool's aliases (``ls`` for
    ``list``) resolve to their command; they are not listed twice in ``--help`` (the
    command's help names its alias)."""

    ALIASES: ClassVar[dict[str, str]] = {"ls": "list"}

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        entry = COMMANDS.get(name or cmd.name or "")
        if entry is not None and cmd.short_help is None:
            cmd.short_help = entry[1]
        super().add_command(cmd, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS.keys() | self.commands.keys())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        name = self.ALIASES.get(cmd_name, cmd_name)
        if name not in self.commands and name in COMMANDS:
            importlib.import_module(f"ticketflow.cli.{COMMANDS[name][0]}")
        return super().get_command(ctx, name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        return (cmd.name if cmd is not None else name), cmd, rest

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The overview from ``COMMANDS``, without importing a command module; a line too
        long for the terminal is cut at a word, as click cuts a command's first sentence."""
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, _shorten(COMMANDS[name][1], limit)) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(limit - 3, 1)].rsplit(" ", 1)[0] + "..."


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
        from ticketflow.cli.output import Output, _open_store
        from ticketflow.tui.app import create_app

        try:
            app = create_app(_open_store())
        except TicketflowError as exc:
            Output("text").error(exc)
            sys.exit(exc.exit_code)
        app.run()
