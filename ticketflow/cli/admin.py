"""Commands about ticketflow itself rather than tickets: ``version``, ``help`` and
``workflow``, as the Go tool has them. Registered on the ``cli`` group when
``ticketflow.cli`` is imported."""

from __future__ import annotations

import click

from ticketflow import __version__
from ticketflow.cli.app import cli
from ticketflow.cli.output import Output, command


@cli.command("version")
@command(needs_store=False)
def version_cmd(out: Output) -> None:
    """Show ticketflow's version (also: ticketflow --version, -v, -V)."""
    out.emit(
        # the Go tool's keys; its build facts come from its release build, ours do not exist
        {"version": __version__, "git_commit": "unknown", "build_time": "unknown"},
        f"ticketflow version {__version__}\n",
    )


@cli.command("help")
@click.argument("names", nargs=-1, metavar="[COMMAND]...")
@click.pass_context
def help_cmd(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Show the overview, or a command's help.

    \b
    ticketflow help                 every command, and a first session
    ticketflow help start           what start does and its options
    ticketflow help worktree list   a subcommand's help
    """
    assert ctx.parent is not None
    current = ctx.parent
    cmd: click.Command = current.command
    for name in names:
        sub = cmd.get_command(current, name) if isinstance(cmd, click.Group) else None
        if sub is None:
            where = current.command_path
            raise click.UsageError(
                f"No such command {name!r}. 'ticketflow help' lists the commands"
                + (f" ({where} has no subcommands)." if not isinstance(cmd, click.Group) else ".")
            )
        current = click.Context(sub, info_name=sub.name, parent=current)
        cmd = sub
    click.echo(cmd.get_help(current))


@cli.command("workflow")
def workflow_cmd() -> None:
    """Print the workflow guide: the everyday loop from a new ticket to a merged branch
    (Markdown; for people, and for AI agents working in the repository)."""
    from importlib import resources

    text = resources.files("ticketflow").joinpath("resources/workflow.md").read_text("utf-8")
    click.echo(text, nl=False)
