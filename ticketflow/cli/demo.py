"""``demo``: a sandbox with a team remote, and the TUI on it."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ticketflow.cli.app import cli
from ticketflow.cli.output import Output, command
from ticketflow.errors import UsageError


@cli.command("demo")
@click.option(
    "--tickets",
    type=click.IntRange(min=10),
    default=2000,
    show_default=True,
    help="How many generated tickets the sandbox holds.",
)
@click.option(
    "--dir",
    "where",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Build the sandbox here (default: a new temporary folder).",
)
@click.option("--keep", is_flag=True, help="Keep the sandbox when the TUI exits.")
@click.option(
    "--rate",
    type=click.IntRange(min=10_000),
    default=1_000_000,
    show_default=True,
    help="Bytes per second of the sandbox's simulated network.",
)
@command(needs_store=False)
def demo_cmd(out: Output, tickets: int, where: Path | None, keep: bool, rate: int) -> None:
    """Try ticketflow with nothing set up: a sandbox with a team remote.

    Builds a clone holding generated tickets and a bare "remote" a few commits
    ahead, served by a real git daemon on 127.0.0.1 behind a slow simulated
    network, and opens the TUI on the clone. Press p to pull (watch the
    progress, or press ESC on the list, x anywhere, to cancel it for real), n
    for a new ticket, P to push.
    """
    import importlib
    import shutil
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    from ticketflow.demo import build_sandbox, move_remote_ahead
    from ticketflow.sandbox import GitDaemon, ThrottledRelay, run_git

    base = where or Path(tempfile.mkdtemp(prefix="ticketflow-demo-"))
    if where is not None:
        base.mkdir(parents=True, exist_ok=True)
        if any(base.iterdir()):
            raise UsageError(f"{base} is not empty", hint="give an empty or new folder")
    click.echo(f"Building the demo sandbox in {base} ...", err=True)
    # commits made in the sandbox need an author even where git has no identity configured
    for key, value in (
        ("GIT_AUTHOR_NAME", "ticketflow demo"),
        ("GIT_AUTHOR_EMAIL", "demo@example.com"),
        ("GIT_COMMITTER_NAME", "ticketflow demo"),
        ("GIT_COMMITTER_EMAIL", "demo@example.com"),
    ):
        os.environ.setdefault(key, value)
    # the interface's modules load while git writes the sandbox (a third of a second less
    # before the first screen)
    with ThreadPoolExecutor(1, thread_name_prefix="demo-import") as pool:
        tui = pool.submit(importlib.import_module, "ticketflow.tui.app")
        try:
            box = build_sandbox(
                base,
                tickets=tickets,
                progress=lambda c, t, m: click.echo(f"  {m}", err=True),
                ahead=False,
            )
            tui.result()
        except BaseException:
            if where is None:
                shutil.rmtree(base, ignore_errors=True)
            raise
    daemon = GitDaemon(box.remote.parent)
    relay = ThrottledRelay(daemon.port, rate=rate)
    try:
        run_git(box.workspace, "remote", "set-url", "origin", relay.url(box.remote.name))
        from ticketflow.tui.app import run_tui

        # the teammate's commits (12 MB) are written while the interface starts: they are
        # there well before a person can press p
        with ThreadPoolExecutor(1, thread_name_prefix="demo-remote") as pool:
            ahead = pool.submit(move_remote_ahead, box)
            from ticketflow.store import TicketStore

            run_tui(TicketStore.open(box.workspace))
            ahead.result()
    finally:
        relay.close()
        daemon.stop()
        if keep:
            run_git(box.workspace, "remote", "set-url", "origin", str(box.remote))
            click.echo(f"The sandbox stays in {base} (origin: {box.remote})", err=True)
        else:
            shutil.rmtree(base, ignore_errors=True)
