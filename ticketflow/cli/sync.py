"""The network commands: fetch, pull, push, sync, run as jobs in an isolated child with a progress
display (``cli.progress``); Ctrl+C and SIGTERM cancel them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ticketflow.git.results import TicketChange
    from ticketflow.store import TicketStore
from ticketflow.cli.app import cli
from ticketflow.cli.output import F, Output, command
from ticketflow.cli.progress import run_jobs


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def _change_lines(changes: tuple[TicketChange, ...]) -> list[str]:
    """One line a ticket: what happened, which fields, by whom and when (pull and fetch)."""
    width = max((len(c.change) for c in changes), default=0)
    lines = []
    for c in changes:
        what = f"  {c.change:<{width}}  {c.id}"
        if c.fields and c.change != "added":
            what += f"  ({', '.join(c.fields)})"
        if c.author:
            what += f"  by {c.author}" + (f", {c.time}" if c.time else "")
        lines.append(what)
    return lines


def _strategy_option(func: F) -> F:
    return click.option(
        "--strategy",
        type=click.Choice(["ours", "theirs"]),
        default=None,
        help="Settle ticket fields changed differently on both sides with our or their value.",
    )(func)


def _remote_option(func: F) -> F:
    return click.option(
        "--remote",
        metavar="NAME",
        default=None,
        help="Remote to use (default: the branch's upstream, else origin).",
    )(func)


@cli.command("fetch")
@_remote_option
@command()
def fetch_cmd(store: TicketStore, out: Output, remote: str | None) -> None:
    """Fetch only, and say what the remote has that you do not.

    Nothing but the remote-tracking branch changes: not HEAD, not the index, not
    the work tree. Says how many commits you are ahead (not pushed) and behind
    (not pulled). 'ticketflow status' shows the last fetch. Ctrl+C cancels it.
    """
    from ticketflow.git import results as gitresults
    from ticketflow.jobs.git import fetch_headline, fetch_job
    from ticketflow.redact import redact_data

    job = fetch_job(store.root, store.config, remote=remote)
    (result,) = run_jobs(out, "fetch", store, lambda q: [q.submit(job)], isolated=True)
    assert isinstance(result, gitresults.FetchReport)

    def text() -> str:
        lines = [f"{fetch_headline(result)}."]
        news = gitresults.describe_changes(result.changes)
        if news:
            lines.append(f"The remote has: {news}.")
            lines += _change_lines(result.changes)
        elif result.behind:
            lines.append("No ticket changed on the remote.")
        if result.ahead:
            lines.append(f"{_plural(result.ahead, 'commit')} of yours not pushed: ticketflow push")
        if result.behind:
            lines.append("To bring them in: ticketflow pull")
        return "\n".join(lines) + "\n"

    out.emit(redact_data(result.to_json()), text)


@cli.command("pull")
@_remote_option
@_strategy_option
@command()
def pull_cmd(store: TicketStore, out: Output, remote: str | None, strategy: str | None) -> None:
    """Fetch and merge the remote's tickets into the current branch.

    Tickets changed on both sides are merged field by field: priority here and
    description there merge cleanly. A real conflict changes nothing and is
    reported ticket by ticket (exit 3); --strategy ours|theirs settles it.
    Uncommitted ticket edits are committed first ("Update tickets"); other
    uncommitted changes are never touched. Ctrl+C cancels the transfer.
    """
    from ticketflow.git import results as gitresults
    from ticketflow.jobs.git import pull_job
    from ticketflow.redact import redact_data

    job = pull_job(
        store.root,
        store.config,
        remote=remote,
        strategy=strategy,  # type: ignore[arg-type]
    )
    (result,) = run_jobs(out, "pull", store, lambda q: [q.submit(job)], isolated=True)
    assert isinstance(result, gitresults.PullResult)

    def text() -> str:
        said = {
            "up-to-date": "Already up to date",
            "fast-forward": "Fast-forwarded",
            "merged": "Merged",
        }[result.outcome]
        news = gitresults.describe_changes(result.changes)
        received = _plural(result.fetch.received_objects, "object")
        if news:
            out_lines = [f"{said}: {news} ({received} received)."]
        elif result.outcome == "up-to-date":
            out_lines = [f"{said} ({received} received)."]
        else:
            out_lines = [f"{said}: no ticket changed ({received} received)."]
        out_lines += _change_lines(result.changes)
        if result.committed_local_edits:
            out_lines.append("Committed your ticket edits first: Update tickets")
        if result.merged_tickets:
            out_lines.append("Merged field by field: " + ", ".join(result.merged_tickets))
        return "\n".join(out_lines) + "\n"

    out.emit(redact_data(result.to_json()), text)


@cli.command("push")
@_remote_option
@command()
def push_cmd(store: TicketStore, out: Output, remote: str | None) -> None:
    """Push the current branch to its upstream (else the branch of the same name on origin).

    If the remote has commits you don't have, nothing is pushed (exit 3):
    run 'ticketflow pull' first, or 'ticketflow sync'.
    """
    from ticketflow.git import results as gitresults
    from ticketflow.jobs.git import push_job
    from ticketflow.redact import redact_data

    job = push_job(store.root, store.config, remote=remote)
    (result,) = run_jobs(out, "push", store, lambda q: [q.submit(job)], isolated=True)
    assert isinstance(result, gitresults.PushResult)
    out.emit(
        redact_data(result.to_json()),
        f"Pushed {result.commit[:10]} to {result.remote}/{result.branch}\n",
    )


@cli.command("sync")
@_remote_option
@_strategy_option
@command()
def sync_cmd(store: TicketStore, out: Output, remote: str | None, strategy: str | None) -> None:
    """Pull, then push: the one command to share your tickets with the team."""
    from ticketflow.git import results as gitresults
    from ticketflow.jobs.git import submit_sync
    from ticketflow.redact import redact_data

    pulled, pushed = run_jobs(
        out,
        "sync",
        store,
        lambda q: list(
            submit_sync(
                q,
                store.root,
                store.config,
                remote=remote,
                strategy=strategy,  # type: ignore[arg-type]
            )
        ),
        isolated=True,
    )
    assert isinstance(pulled, gitresults.PullResult) and isinstance(pushed, gitresults.PushResult)
    out.emit(
        redact_data({"pull": pulled.to_json(), "push": pushed.to_json()}),
        f"Pulled ({pulled.outcome}"
        + (f": {news}" if (news := gitresults.describe_changes(pulled.changes)) else "")
        + f"), then pushed {pushed.commit[:10]} to {pushed.remote}/{pushed.branch}\n",
    )
