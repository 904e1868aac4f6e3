"""Reading tickets: list (text, and JSON straight from the index's cached renderings) and
show."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import click

from ticketflow.cli.app import cli
from ticketflow.cli.output import (
    Output,
    _integer,
    command,
    dumps_json,
    render_list,
    render_show,
    ticket_json,
    warn,
)
from ticketflow.model import Status, Ticket

if TYPE_CHECKING:
    from ticketflow.store import LoadResult, TicketStore

STATUS_FILTERS = ("todo", "doing", "done", "all", "active")


def load_tickets(store: TicketStore, *, bodies: bool = False) -> LoadResult:
    """Every ticket through the index (only changed files are parsed); the index's
    tickets carry no body unless ``bodies``."""
    from ticketflow.index import TicketIndex

    return TicketIndex.open(store).load(bodies=bodies)


def summarize(tickets: Iterable[Ticket]) -> dict[str, int]:
    """Counts by status (from timestamps) of every readable ticket, as list and status show."""
    summary = {s.value: 0 for s in Status}
    for t in tickets:
        summary[t.status.value] += 1
    summary["total"] = sum(summary.values())
    return summary


def filter_tickets(
    tickets: Iterable[Ticket],
    status: str,
    priority: int | None,
    search: str | None,
) -> list[Ticket]:
    wanted = {
        "active": {Status.TODO, Status.DOING},
        "all": set(Status),
    }.get(status, {Status(status)} if status in ("todo", "doing", "done") else set())
    needle = search.lower() if search else None
    out = []
    for t in tickets:
        if t.status not in wanted or (priority is not None and t.priority != priority):
            continue
        if needle and not (
            needle in t.id.lower() or needle in t.description.lower() or needle in t.body.lower()
        ):
            continue
        out.append(t)
    return out


@cli.command("list")
@click.option(
    "--status",
    "-s",
    type=click.Choice(STATUS_FILTERS),
    default="active",
    show_default=True,
    help="Which tickets: active is todo and doing.",
)
@click.option(
    "--count",
    "-c",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Show at most this many; 0 shows all.",
)
@click.option(
    "--priority",
    default=None,
    callback=_integer,
    metavar="INTEGER",
    help="Only tickets of this priority.",
)
@click.option(
    "--search", "-q", default=None, help="Only tickets whose id, description or body contain TEXT."
)
@command()
def list_cmd(
    store: TicketStore,
    out: Output,
    status: str,
    count: int,
    priority: int | None,
    search: str | None,
) -> None:
    """List tickets: priority first (1 before 2), then newest first (alias: ls).

    Files that cannot be read are skipped with a warning on stderr;
    'ticketflow show' on one of them says what is wrong.
    """
    if out.json and not search:
        _list_json_fast(store, out, status, count, priority)
        return
    result = load_tickets(store, bodies=bool(search))
    for problem in result.problems:
        warn(f"Warning: skipped {problem.message}")
    tickets = filter_tickets(result.tickets, status, priority, search)
    matching = len(tickets)
    if count:
        tickets = tickets[:count]
    summary = summarize(result.tickets)
    out.emit(
        {"tickets": [ticket_json(t) for t in tickets], "summary": summary},
        lambda: render_list(tickets) + _shown_line(len(tickets), matching),
    )


def _shown_line(shown: int, matching: int) -> str:
    """Say so when ``--count`` cut the list: a silent cut reads as "that is all of them"."""
    if shown >= matching:
        return ""
    return f"{shown:,} of {matching:,} shown; --count 0 for all\n"


def _list_json_fast(
    store: TicketStore, out: Output, status: str, count: int, priority: int | None
) -> None:
    """``list --format json`` from the index's cached per-ticket JSON: byte for byte what
    ``dumps_json`` of the whole list gives, without building ten thousand tickets."""
    from ticketflow.index import ALL_STATUSES, TicketIndex, View

    pretty = out.pretty
    if pretty:

        def fragment(ticket: Ticket) -> str:
            return "    " + dumps_json(ticket_json(ticket), True).replace("\n", "\n    ")
    else:

        def fragment(ticket: Ticket) -> str:
            return dumps_json(ticket_json(ticket), False)

    statuses = {"active": ("todo", "doing"), "all": ALL_STATUSES}.get(status, (status,))
    view = View(f"list-json-{'pretty' if pretty else 'compact'}-2", fragment)
    listed = TicketIndex.open(store).rendered(
        view, statuses=statuses, priority=priority, limit=count
    )
    for problem in listed.problems:
        warn(f"Warning: skipped {problem.message}")
    summary = dumps_json(listed.summary, pretty)
    if pretty:
        tickets = "[\n" + ",\n".join(listed.texts) + "\n  ]" if listed.texts else "[]"
        summary = summary.replace("\n", "\n  ")
        click.echo('{\n  "summary": ' + summary + ',\n  "tickets": ' + tickets + "\n}")
    else:
        click.echo('{"summary":' + summary + ',"tickets":[' + ",".join(listed.texts) + "]}")


@cli.command("show")
@click.argument("ticket_id", metavar="ID")
@command()
def show_cmd(store: TicketStore, out: Output, ticket_id: str) -> None:
    """Show one ticket's fields and body."""
    ticket = store.get(ticket_id)
    out.emit({"ticket": ticket_json(ticket, content=True)}, lambda: render_show(ticket))
