"""The Textual app: for now one screen listing the tickets (the full TUI is issue #6).

``create_app`` is the one factory the CLI and the tests use.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Static

from ticketflow.model import Ticket
from ticketflow.store import TicketStore


class TicketflowApp(App[None]):
    """Lists every ticket (priority, then newest first); ``r`` reloads, ``q`` quits."""

    TITLE = "ticketflow"
    CSS = """
    DataTable { height: 1fr; }
    #problems { color: $warning; height: auto; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("r", "reload", "Reload"),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def __init__(self, store: TicketStore) -> None:
        super().__init__()
        self.store = store
        self.tickets: list[Ticket] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="tickets", cursor_type="row", zebra_stripes=True)
        yield Static("", id="problems")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("ID", "Status", "Pri", "Description", "Parent")
        self.action_reload()
        table.focus()

    def action_reload(self) -> None:
        result = self.store.load_all()
        self.tickets = result.tickets
        table = self.query_one(DataTable)
        table.clear()
        for t in self.tickets:
            table.add_row(
                t.id, t.status.value, str(t.priority), t.description, t.parent or "", key=t.id
            )
        self.sub_title = f"{len(self.tickets)} tickets in {self.store.root.name}"
        problems = self.query_one("#problems", Static)
        problems.update(
            "\n".join(f"skipped {p.message}" for p in result.problems[:5])
            if result.problems
            else ""
        )

    def action_cursor_down(self) -> None:
        self.query_one(DataTable).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one(DataTable).action_cursor_up()


def create_app(store: TicketStore) -> TicketflowApp:
    return TicketflowApp(store)


def run_tui(store: TicketStore) -> None:
    create_app(store).run()
