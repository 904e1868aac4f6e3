"""Reading tickets: list and show.

``list`` selects once (``_select``) and prints that selection as text or JSON: the index's
cached JSON object of each chosen ticket is the JSON output's element and the text table's
row, so the two formats can never disagree about which tickets, in what order, or the counts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from ticketflow.cli.app import cli
from ticketflow.cli.output import (
    Output,
    _integer,
    command,
    count_option,
    dumps_json,
    render_list,
    render_show,
    ticket_json,
    warn,
)
from ticketflow.model import Status, Ticket
from ticketflow.textsafe import visible

if TYPE_CHECKING:
    from ticketflow.errors import MalformedTicketError
    from ticketflow.index import View
    from ticketflow.store import TicketStore

STATUS_FILTERS = ("todo", "doing", "done", "all", "active")


def summarize(tickets: Iterable[Ticket]) -> dict[str, int]:
    """Counts by status (from timestamps) of every readable ticket, as list shows them: for
    ``--search``, whose tickets come from ``TicketIndex.load``; the index's other answers
    carry their counts."""
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
@count_option("all")
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
    chosen = _select(store, status, priority, search, _json_view(out.pretty))
    for problem in chosen.problems:
        warn(f"Warning: skipped {problem.message}")
    shown = chosen.texts[:count] if count else chosen.texts
    if out.json:
        click.echo(_json_document(shown, chosen.summary, out.pretty))
    else:
        rows = [json.loads(text) for text in shown]
        click.echo(visible(render_list(rows) + _shown_line(len(rows), len(chosen.texts))), nl=False)


@dataclass(frozen=True)
class _Selection:
    texts: list[str]
    """The chosen tickets' JSON objects (the index's cached renderings), in list order."""
    summary: dict[str, int]
    problems: list[MalformedTicketError]


def _select(
    store: TicketStore, status: str, priority: int | None, search: str | None, view: View
) -> _Selection:
    """The one selection both formats print: the tickets of ``status`` (and ``priority``,
    and ``search``) as the Go tool's JSON objects, the counts over every readable ticket,
    and the files that do not parse.

    Without ``search`` SQLite selects and orders the cached renderings (nothing is parsed
    or built when no file changed); a search needs the bodies, so the tickets are read and
    filtered here, then rendered by the same view."""
    from ticketflow.index import ALL_STATUSES, TicketIndex

    index = TicketIndex.open(store)
    if search is None:
        statuses = {"active": ("todo", "doing"), "all": ALL_STATUSES}.get(status, (status,))
        listed = index.rendered(view, statuses=statuses, priority=priority)
        return _Selection(listed.texts, listed.summary, listed.problems)
    result = index.load(bodies=True)
    found = filter_tickets(result.tickets, status, priority, search)
    return _Selection([view.render(t) for t in found], summarize(result.tickets), result.problems)


def _json_view(pretty: bool) -> View:
    """A ticket as its object in ``list --format json``'s array, indented to its place."""
    from ticketflow.index import View

    if pretty:

        def fragment(ticket: Ticket) -> str:
            return "    " + dumps_json(ticket_json(ticket), True).replace("\n", "\n    ")
    else:

        def fragment(ticket: Ticket) -> str:
            return dumps_json(ticket_json(ticket), False)

    return View(f"list-json-{'pretty' if pretty else 'compact'}-2", fragment)


def _json_document(texts: list[str], summary: dict[str, int], pretty: bool) -> str:
    """``dumps_json({"summary": ..., "tickets": [...]})`` byte for byte, from the tickets'
    rendered objects."""
    counts = dumps_json(summary, pretty)
    if not pretty:
        return '{"summary":' + counts + ',"tickets":[' + ",".join(texts) + "]}"
    tickets = "[\n" + ",\n".join(texts) + "\n  ]" if texts else "[]"
    return '{\n  "summary": ' + counts.replace("\n", "\n  ") + ',\n  "tickets": ' + tickets + "\n}"


def _shown_line(shown: int, matching: int) -> str:
    """Say so when ``--count`` cut the list: a silent cut reads as "that is all of them"."""
    if shown >= matching:
        return ""
    return f"{shown:,} of {matching:,} shown; --count 0 for all\n"


@cli.command("show")
@click.argument("ticket_id", metavar="ID")
@command()
def show_cmd(store: TicketStore, out: Output, ticket_id: str) -> None:
    """Show one ticket's fields and body."""
    ticket = store.get(ticket_id)
    out.emit({"ticket": ticket_json(ticket, content=True)}, lambda: render_show(ticket))
