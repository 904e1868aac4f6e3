"""Read-only screens: help (the key map), a ticket's full detail, the board."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Markdown, Static

from ticketflow.index import Summary
from ticketflow.model import Status, Ticket
from ticketflow.tui.keys import NETWORK_KEYS
from ticketflow.tui.messages import TicketChosen
from ticketflow.tui.widgets.detail import body_markdown, fields_table
from ticketflow.tui.widgets.jobs_bar import JobStatusBar
from ticketflow.tui.widgets.ticket_list import TicketList

KEYMAP: tuple[tuple[str, str], ...] = (
    ("j / k, ↓ / ↑", "move down / up"),
    ("g / G", "first / last ticket"),
    ("a, 1, 2, 3", "tabs: all, todo, doing, done (tab / shift+tab cycle)"),
    ("enter", "open the ticket's detail"),
    ("l / h, → / ←", "into the detail pane / back (j / k scroll it)"),
    ("/", "search: fuzzy over id and description, then the body"),
    ("n", "new ticket"),
    ("s", "start the ticket"),
    ("c", "close the ticket (with an optional reason)"),
    ("o", "reopen the ticket"),
    ("e", "edit in $EDITOR (validated when you save)"),
    ("p / P / S", "pull / push / sync in the background"),
    ("r", "rescan the ticket files"),
    ("J", "jobs: pending, running, history (x cancels)"),
    ("b", "board: columns by status"),
    ("esc", "close a dialog or the search; back from a screen; on the list, cancel the job"),
    ("x", "cancel the running job (on every screen)"),
    ("ctrl+p", "command palette: every action"),
    ("?", "this help"),
    ("q", "quit (cancels a running job first)"),
)


def _jobs_bar(screen: Screen[None]) -> JobStatusBar:
    """The running jobs on this screen too (``x`` cancels, as on every screen)."""
    from ticketflow.tui.app import TicketflowApp

    app = screen.app
    assert isinstance(app, TicketflowApp)
    return JobStatusBar(app.jobs_board)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 76; max-width: 100%; height: auto; max-height: 100%;
                                  padding: 0 2; border: thick $accent; background: $surface; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss(None)", "Close"),
    ]

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for key, what in KEYMAP:
            table.add_row(key, what)
        # scrolls (arrows, page keys) where the terminal is too short for all of it (80x24)
        with VerticalScroll():
            yield Static("[b]ticketflow keys[/b]  [dim]esc closes this help[/dim]\n")
            yield Static(table)


class DetailScreen(Screen[None]):
    """One ticket, full screen: its fields and its rendered Markdown body."""

    DEFAULT_CSS = """
    DetailScreen VerticalScroll { padding: 1 2; }
    DetailScreen #fields { margin-bottom: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,enter", "app.pop_screen", "Back"),
        *NETWORK_KEYS,
    ]

    def __init__(self, ticket: Ticket) -> None:
        super().__init__()
        self.ticket = ticket

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(fields_table(self.ticket), id="fields")
            yield Markdown(body_markdown(self.ticket))
        yield _jobs_bar(self)
        yield Footer()


class BoardScreen(Screen[None]):
    """Kanban: todo, doing and done side by side (each column a virtual list)."""

    DEFAULT_CSS = """
    BoardScreen Horizontal { height: 1fr; }
    BoardScreen .column { width: 1fr; border: round $primary; }
    BoardScreen .column:focus-within { border: round $accent; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,b", "app.pop_screen", "Back"),
        *NETWORK_KEYS,
        Binding("h,left", "app.focus_previous", "Left", show=False),
        Binding("l,right", "app.focus_next", "Right", show=False),
    ]

    def __init__(self, tickets: Sequence[Summary]) -> None:
        super().__init__()
        self.tickets = tickets

    def compose(self) -> ComposeResult:
        with Horizontal():
            for status in Status:
                column = TicketList(compact=True, id=f"board-{status.value}")
                column.border_title = status.value.upper()
                column.add_class("column")
                yield column
        yield _jobs_bar(self)
        yield Footer()

    def on_mount(self) -> None:
        for status in Status:
            column = self.query_one(f"#board-{status.value}", TicketList)
            column.set_tickets([t for t in self.tickets if t.status == status.value])
            column.border_title = f"{status.value.upper()} ({len(column.tickets)})"
        self.query_one("#board-todo", TicketList).focus()

    def on_ticket_chosen(self, event: TicketChosen) -> None:
        from ticketflow.tui.app import TicketflowApp

        app = self.app
        if isinstance(app, TicketflowApp):
            app.open_detail(event.ticket)
