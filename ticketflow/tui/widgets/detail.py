"""The detail pane: a ticket's fields and its Markdown body.

Everything shown comes from a file a teammate may have written: fields are ``Text`` (never
markup: a description ``[link=...]`` is just text) and every control character is shown
escaped (``textsafe.visible``), in the fields and in the body given to the Markdown widget,
which would otherwise hand ESC, OSC and C1 sequences to the terminal as they are."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Markdown, Static

from ticketflow.model import Ticket, format_time
from ticketflow.textsafe import visible
from ticketflow.tui.widgets.ticket_list import STATUS_STYLE


def _plain(text: str) -> Text:
    return Text(visible(text))


def body_markdown(ticket: Ticket) -> str:
    """The body as the Markdown widget gets it: escaped, and cut (a 10 MB body must not
    freeze the screen)."""
    return visible(ticket.body[:200_000])


def fields_table(ticket: Ticket) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_row("ID", ticket.id)
    table.add_row("Status", Text(ticket.status.value, style=STATUS_STYLE[ticket.status.value]))
    table.add_row("Priority", str(ticket.priority))
    table.add_row("Description", _plain(ticket.description or "-"))
    for label, value in (
        ("Created", ticket.created_at),
        ("Started", ticket.started_at),
        ("Closed", ticket.closed_at),
    ):
        if value is not None:
            table.add_row(label, format_time(value))
    if ticket.closure_reason:
        table.add_row("Reason", _plain(ticket.closure_reason))
    if ticket.related:
        table.add_row("Related", _plain("\n".join(ticket.related)))
    table.add_row("File", _plain(ticket.path or "-"))
    return table


class DetailPane(VerticalScroll):
    """Shows the highlighted ticket; empty when there is none. Focused (``l``), it scrolls
    with j/k as well as the arrows, page keys, home and end."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
        Binding("g", "scroll_home", "Top", show=False),
        Binding("G", "scroll_end", "Bottom", show=False),
    ]

    DEFAULT_CSS = """
    DetailPane { padding: 0 1; background: $panel; }
    DetailPane #detail-fields { margin-bottom: 1; }
    DetailPane Markdown { margin: 0; padding: 0; background: $panel; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.ticket: Ticket | None = None

    def compose(self) -> ComposeResult:
        yield Static("No ticket selected", id="detail-fields")
        yield Markdown("", id="detail-body")

    def show(self, ticket: Ticket | None, note: str = "No ticket selected") -> None:
        """Show ``ticket``; with None, ``note`` says why there is nothing to show."""
        previous = self.ticket
        if ticket is not None and previous is not None and ticket == previous:
            return  # equality covers every field and the body
        self.ticket = ticket
        fields = self.query_one("#detail-fields", Static)
        body = self.query_one("#detail-body", Markdown)
        if ticket is None:
            fields.update(_plain(note))  # plain text: a search query is no markup
            body.update("")
            return
        fields.update(fields_table(ticket))
        body.update(body_markdown(ticket))
        self.scroll_home(animate=False)
