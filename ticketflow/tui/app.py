"""The Textual app: thin. Flows live in the screens; loading and errors are here.

``create_app`` is the one factory the CLI and the tests use. Tickets load in a thread
worker so the first frame paints at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import Provider

from ticketflow.errors import TicketflowError
from ticketflow.store import LoadResult, TicketStore
from ticketflow.tui.commands import TicketflowCommands
from ticketflow.tui.screens.main import MainScreen

Loader = Callable[[], LoadResult]


class TicketflowApp(App[None]):
    """ticketflow's terminal UI over one repository."""

    TITLE = "ticketflow"
    CSS_PATH = Path(__file__).with_name("app.tcss")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit", "Quit")]
    COMMANDS: ClassVar[set[type[Provider] | Callable[[], type[Provider]]]] = {TicketflowCommands}

    def __init__(self, store: TicketStore, *, loader: Loader | None = None) -> None:
        super().__init__()
        self.store = store
        self.loader: Loader = loader or store.load_all
        self.main = MainScreen()
        self.problems: list[str] = []

    def on_mount(self) -> None:
        self.sub_title = f"{self.store.root.name}: loading tickets..."
        self.push_screen(self.main)  # it starts the first load once it is drawn

    @work(thread=True, exclusive=True, group="load")
    def reload(self, keep: str | None = None) -> None:
        result = self.loader()
        self.call_from_thread(self._loaded, result, keep)

    def _loaded(self, result: LoadResult, keep: str | None) -> None:
        self.problems = [p.message for p in result.problems]
        self.main.set_tickets(result.tickets)
        if keep is not None:
            from ticketflow.tui.widgets.ticket_list import TicketList

            self.main.query_one(TicketList).set_tickets(self.main._visible(), keep=keep)
        skipped = f", {len(self.problems)} unreadable" if self.problems else ""
        self.sub_title = f"{self.store.root.name}: {len(result.tickets)} tickets{skipped}"
        if self.problems:
            self.notify(
                "\n".join(self.problems[:3]) + ("\n..." if len(self.problems) > 3 else ""),
                title=f"{len(self.problems)} ticket files could not be read",
                severity="warning",
            )

    def show_error(self, exc: TicketflowError) -> None:
        message = exc.message + (f"\n{exc.hint}" if exc.hint else "")
        self.notify(message, title="Error", severity="error", timeout=8)

    def cancel_active_job(self) -> None:
        """ESC with nothing else to close: cancel the running job (jobs arrive with #4)."""


def create_app(store: TicketStore, *, loader: Loader | None = None) -> TicketflowApp:
    return TicketflowApp(store, loader=loader)


def run_tui(store: TicketStore) -> None:
    create_app(store).run()
