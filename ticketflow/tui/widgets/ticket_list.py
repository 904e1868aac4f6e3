"""A ticket list that renders only the rows on screen (Textual's line API).

A DataTable builds every row up front (about 1 s for 10,000 rows here); this widget keeps a
plain list of tickets and draws just the visible lines, so 100,000 tickets scroll and filter
as fast as 100.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ticketflow.index import Summary
from ticketflow.textsafe import one_line
from ticketflow.tui.messages import TicketChosen, TicketHighlighted
from ticketflow.tui.widgets.columns import Columns, layout

STATUS_STYLE = {"todo": "bold cyan", "doing": "bold yellow", "done": "dim green"}


class TicketList(ScrollView, can_focus=True):
    """Rows of tickets: id, priority, status, description, created, parent, as many of
    them as the width allows (``columns.layout``)."""

    DEFAULT_CSS = """
    TicketList { height: 1fr; background: $surface; overflow-x: hidden; }
    TicketList > .ticket-list--header { text-style: bold; background: $panel; }
    TicketList > .ticket-list--cursor { background: $accent 40%; }
    TicketList:focus > .ticket-list--cursor { background: $accent; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"ticket-list--header", "ticket-list--cursor"}
    # priority, as the main screen's keys are, so a burst of them runs in order (see there)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "cursor_down", "Down", show=False, priority=True),
        Binding("k,up", "cursor_up", "Up", show=False, priority=True),
        Binding("g,home", "first", "First", show=False, priority=True),
        Binding("G,end", "last", "Last", show=False, priority=True),
        Binding("pagedown", "page_down", show=False, priority=True),
        Binding("pageup", "page_up", show=False, priority=True),
        Binding("enter", "choose", "Open", show=False, priority=True),
    ]

    cursor: reactive[int] = reactive(0)

    def __init__(self, *, compact: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tickets: Sequence[Summary] = []
        self.compact = compact
        self._id_width = 20
        """The longest id of the list (the id column is as wide as room allows, up to it)."""
        self._layout: tuple[tuple[int, int], Columns] | None = None
        self.empty_note = ""
        """What the list says when it has no row ("no tickets match 'xyz'")."""

    # --- data ------------------------------------------------------------------------------

    def set_tickets(
        self,
        tickets: Sequence[Summary],
        keep: str | None = None,
        id_width: int | None = None,
        cursor: int | None = None,
    ) -> None:
        """Show ``tickets`` (kept, not copied: never change the sequence afterwards); keep the
        cursor on ticket ``keep`` if it is still there, or put it at ``cursor``. ``id_width``
        and ``cursor``: when the caller has them (measuring 100,000 ids or looking for one
        costs the event loop milliseconds)."""
        self.tickets = tickets
        if id_width is None:
            id_width = max(map(len, (t.id for t in tickets)), default=20)
        self._id_width = id_width
        index = cursor or 0
        if keep is not None and cursor is None:
            index = next((i for i, t in enumerate(tickets) if t.id == keep), 0)
        self.virtual_size = Size(self.size.width, len(tickets) + 1)
        self.cursor = min(index, max(0, len(tickets) - 1))
        # once the new virtual size is in place: scrolling now would be clamped to the old
        # one, and a cursor that kept its index would not scroll at all
        self.call_after_refresh(self._scroll_to_cursor)
        self._announce()
        self.refresh()

    @property
    def current(self) -> Summary | None:
        return self.tickets[self.cursor] if 0 <= self.cursor < len(self.tickets) else None

    # --- drawing ---------------------------------------------------------------------------

    def _columns(self, width: int) -> Columns:
        key = (width, self._id_width)
        if self._layout is None or self._layout[0] != key:
            self._layout = (key, layout(width, self._id_width))
        return self._layout[1]

    def _row_text(self, t: Summary, width: int) -> str:
        # the description and parent are a file's text: one line, control characters
        # escaped (a segment's text goes to the terminal as it is)
        description = one_line(t.description)
        if self.compact:
            return f"{t.priority:>3} {description or t.id}"[:width].ljust(width)
        created = t.created[:10] or "-"  # ISO 8601: the date as written in the ticket
        parent = one_line(t.parent[:13])
        cells = (t.id, str(t.priority), t.status, description, created, parent)
        return self._columns(width).render(cells)

    def _header_text(self, width: int) -> str:
        if self.compact:
            return "PRI DESCRIPTION"[:width].ljust(width)
        return self._columns(width).render(
            ("ID", "PRI", "STAT", "DESCRIPTION", "CREATED", "PARENT")
        )

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width  # the scrollbar takes its columns
        scroll_y = self.scroll_offset.y
        if y == 0:
            style = self.get_component_rich_style("ticket-list--header")
            return Strip([Segment(self._header_text(width)[:width].ljust(width), style)])
        index = scroll_y + y - 1
        if index >= len(self.tickets):
            if index == 0 and self.empty_note:
                note = self.empty_note[:width].ljust(width)
                return Strip([Segment(note, self.rich_style + Style(dim=True, italic=True))])
            return Strip.blank(width, self.rich_style)
        ticket = self.tickets[index]
        text = self._row_text(ticket, width)[:width].ljust(width)
        base = self.rich_style
        if index == self.cursor:
            base = base + self.get_component_rich_style("ticket-list--cursor")
        span = None if self.compact else self._columns(width).status_span()
        if span is None:
            return Strip([Segment(text, base)])
        start, end = span
        status = Style.parse(STATUS_STYLE[ticket.status])
        return Strip(
            [
                Segment(text[:start], base),
                Segment(text[start:end], base + status),
                Segment(text[end:], base),
            ]
        )

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.tickets) + 1)

    # --- moving ----------------------------------------------------------------------------

    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        self.refresh()
        if old != new:
            self._announce()

    def _announce(self) -> None:
        self.post_message(TicketHighlighted(self.current))

    def _scroll_to_cursor(self) -> None:
        # the rows below the header that are really on screen (a scrollbar takes its row)
        visible = max(1, self.scrollable_content_region.height - 1)
        top = self.scroll_offset.y
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False)

    def _move(self, delta: int) -> None:
        if self.tickets:
            self.cursor = max(0, min(len(self.tickets) - 1, self.cursor + delta))

    def action_cursor_down(self) -> None:
        self._move(1)

    def action_cursor_up(self) -> None:
        self._move(-1)

    def action_first(self) -> None:
        self._move(-len(self.tickets))

    def action_last(self) -> None:
        self._move(len(self.tickets))

    def action_page_down(self) -> None:
        self._move(max(1, self.size.height - 2))

    def action_page_up(self) -> None:
        self._move(-max(1, self.size.height - 2))

    def action_choose(self) -> None:
        if self.current is not None:
            self.post_message(TicketChosen(self.current))

    def on_click(self, event: object) -> None:
        y = getattr(event, "y", None)
        if isinstance(y, int) and y >= 1:
            index = self.scroll_offset.y + y - 1
            if index < len(self.tickets):
                self.cursor = index
