"""The main screen: tabs, the virtual ticket list, the detail pane, search, and actions.

The list holds ``Summary`` rows from the index (no ``Ticket`` objects: 100,000 of them load
in a fraction of a second); the detail reads the ticket's file when it is shown. Ticket actions
(new, start, close, reopen) are work for the app's runner (``jobs.actions``: in the TUI a
child process does the store's action and its commit, which would otherwise hold the GIL
of the interface's process), called from thread workers (a start may create a worktree and
run init commands); they report failures as notifications with the error's hint, and
refresh the list afterwards (a background scan, then the list from the index).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from textual import events, work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Tab, Tabs
from textual.worker import get_current_worker

from ticketflow.errors import MalformedTicketError, TicketflowError
from ticketflow.index import Summary
from ticketflow.safepaths import O_NOFOLLOW
from ticketflow.tui.keys import NETWORK_KEYS
from ticketflow.tui.messages import TicketChosen, TicketHighlighted
from ticketflow.tui.screens.forms import CloseTicketScreen, NewTicketRequest, NewTicketScreen
from ticketflow.tui.screens.info import BoardScreen, HelpScreen
from ticketflow.tui.search import SearchIndex, body_matches, split_body
from ticketflow.tui.widgets.detail import DetailPane
from ticketflow.tui.widgets.jobs_bar import JobStatusBar
from ticketflow.tui.widgets.ticket_list import TicketList

if TYPE_CHECKING:
    from ticketflow.tui.app import TicketflowApp

TABS = ("all", "todo", "doing", "done")
BODY_SEARCH_PAUSE = 0.15
"""Seconds without a new key before the bodies are searched."""
DETAIL_MIN_WIDTH = 100
"""The narrowest terminal that shows the detail pane beside the list."""


class MainScreen(Screen[None]):
    # Every key here is a priority binding: Textual runs those as the keys arrive, in
    # order, while an ordinary binding runs only after the key has gone down to the focused
    # widget and come back up. Mixed, a burst of keys (a paste, a fast typist, tmux) runs out
    # of order: "jjs" would start the ticket the cursor was on before the two j. While the
    # search box has the focus, ``check_action`` lets the letters through to it.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "tab('all')", "All", show=False, priority=True),
        Binding("1", "tab('todo')", "Todo", show=False, priority=True),
        Binding("2", "tab('doing')", "Doing", show=False, priority=True),
        Binding("3", "tab('done')", "Done", show=False, priority=True),
        Binding("tab", "cycle_tab(1)", "Next tab", show=False, priority=True),
        Binding("shift+tab", "cycle_tab(-1)", "Previous tab", show=False, priority=True),
        Binding("l,right", "focus_detail", "Detail", show=False, priority=True),
        Binding("h,left", "focus_list", "List", show=False, priority=True),
        # the footer shows keys in this order and cuts what does not fit: help, quit and
        # (while a job runs) cancel come first, so they stay at 80 columns
        Binding("question_mark", "help", "Help", priority=True),
        Binding("q", "app.quit", "Quit", priority=True),
        Binding("x", "app.cancel_job", "Cancel job", priority=True),
        Binding("slash", "search", "Search", priority=True),
        Binding("n", "new", "New", priority=True),
        Binding("s", "start", "Start", priority=True),
        Binding("c", "close_ticket", "Close", priority=True),
        Binding("o", "reopen", "Reopen", show=False, priority=True),
        Binding("e", "edit", "Edit", priority=True),
        Binding("b", "board", "Board", show=False, priority=True),
        *NETWORK_KEYS,
        Binding("r", "rescan", "Rescan", show=False, priority=True),
        Binding("J", "jobs", "Jobs", priority=True),
        Binding("escape", "escape", "Cancel", show=False, priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.all_tickets: Sequence[Summary] = []
        self._by_tab: dict[str, Sequence[Summary]] = {name: [] for name in TABS}
        self._id_width: int | None = None
        self.current_id: str | None = None
        """The highlighted ticket's id (read by the loading thread)."""
        self.tab = "all"
        self.query_text = ""
        self._search: SearchIndex[Summary] | None = None
        self._body_hits: tuple[str, list[Summary]] = ("", [])
        """Body matches of the query they were found for (after the id/description ones)."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While the search box has the focus, the keys are text for it (the bindings here
        are priority bindings, which would take them first); ESC still closes it."""
        return action == "escape" or not isinstance(self.focused, Input)

    @property
    def tf_app(self) -> TicketflowApp:
        from ticketflow.tui.app import TicketflowApp

        assert isinstance(self.app, TicketflowApp)
        return self.app

    def compose(self) -> ComposeResult:
        yield Header()
        yield Tabs(*(Tab(name.capitalize(), id=f"tab-{name}") for name in TABS), id="tabs")
        with Horizontal(id="body"):
            yield TicketList(id="tickets")
            yield DetailPane(id="detail")
        with Vertical(id="bottom"):
            yield Input(placeholder="search: id, description, then body", id="search")
            yield JobStatusBar(self.tf_app.jobs_board, id="jobs-bar")
        yield Footer()

    @property
    def jobs_bar(self) -> JobStatusBar:
        return self.query_one(JobStatusBar)

    def on_mount(self) -> None:
        self.query_one("#search", Input).display = False
        self.query_one(TicketList).focus()
        self.call_after_refresh(self.tf_app.start_loading)  # once the tabs exist

    # --- data ------------------------------------------------------------------------------

    def set_tickets(
        self,
        by_tab: dict[str, Sequence[Summary]],
        id_width: int | None = None,
        keep: str | None = None,
        positions: dict[str, int] | None = None,
    ) -> None:
        """Show new lists (``by_tab``: each tab's tickets in list order, prepared off the
        event loop); the cursor goes to ``positions[tab]`` (where ticket ``keep`` is, found
        off the loop too), else onto ``keep``, else stays on the ticket it was on."""
        if keep is None:
            current = self.query_one(TicketList).current
            keep = current.id if current else None
        self._by_tab = by_tab
        self.all_tickets = by_tab["all"]
        self._id_width = id_width
        self._search = None
        self._body_hits = ("", [])
        # Tab labels stay fixed: a label that changes width leaves Tabs' underline behind
        # (it moves only on activation). The counts go to the header (see the app).
        cursor = None if positions is None or self.query_text else positions.get(self.tab)
        self._apply(keep=keep, cursor=cursor)
        if self.query_text.strip():
            self._search_bodies(self.query_text, self._searcher())  # the new list's bodies

    def _visible(self) -> Sequence[Summary]:
        if not self.query_text:
            return self._by_tab.get(self.tab, [])
        pool = self._searcher().search(self.query_text)
        query, hits = self._body_hits
        if hits and query == self.query_text:
            pool += hits  # body matches come after the id and description ones
        if self.tab != "all":
            pool = [t for t in pool if t.status == self.tab]
        return pool

    def _searcher(self) -> SearchIndex[Summary]:
        if self._search is None:
            self._search = SearchIndex(self.all_tickets)
        return self._search

    @work(thread=True, exclusive=True, group="search-bodies")
    def _search_bodies(self, query: str, search: SearchIndex[Summary]) -> None:
        """Body matches for ``query``, read from the files in this thread after a pause in
        the typing; a newer query (or ESC) cancels it. At 100,000 tickets this reads every
        file (a second or two): the box's subtitle shows how far it is."""
        worker = get_current_worker()
        time.sleep(BODY_SEARCH_PAUSE)
        if worker.is_cancelled:
            return
        skip = {t.id for t in search.search(query)}
        root = self.tf_app.store.root
        shown = 0.0

        def body_of(summary: Summary) -> str | None:
            try:  # never through a link (see safepaths)
                fd = os.open(root / summary.path, os.O_RDONLY | O_NOFOLLOW)
                with os.fdopen(fd, "rb") as fh:
                    return split_body(fh.read().decode("utf-8", "replace"))
            except OSError:
                return None

        def progress(done: int, total: int) -> None:
            nonlocal shown
            if time.monotonic() - shown > 0.25:
                shown = time.monotonic()
                self.app.call_from_thread(self._search_status, f"bodies {done:,}/{total:,}")

        hits = body_matches(
            search.tickets, query, skip, body_of, lambda: worker.is_cancelled, progress
        )
        if hits is not None:
            self.app.call_from_thread(self._body_results, query, search.tickets, hits)

    def _search_status(self, text: str) -> None:
        self.query_one("#search", Input).border_subtitle = text

    def _body_results(self, query: str, tickets: Sequence[Summary], hits: list[Summary]) -> None:
        self._search_status("")
        if query != self.query_text or tickets is not self.all_tickets:
            return  # the query or the list changed meanwhile
        self._body_hits = (query, hits)
        if hits:
            current = self.query_one(TicketList).current
            self._apply(keep=current.id if current else None)

    def _apply(self, keep: str | None = None, cursor: int | None = None) -> None:
        width = self._id_width  # the whole list's: a search keeps the columns in place
        tickets = self.query_one(TicketList)
        tickets.empty_note = self._empty_note()
        tickets.set_tickets(self._visible(), keep=keep, id_width=width, cursor=cursor)

    def _empty_note(self) -> str:
        """What an empty list means: nothing matches the search, or nothing is there."""
        where = "" if self.tab == "all" else f" in {self.tab}"
        if self.query_text.strip():
            return f"no tickets match {self.query_text.strip()!r}{where}"
        if self.tab != "all":
            return f"no {self.tab} tickets"
        return "no tickets yet: n makes one"

    # --- events ----------------------------------------------------------------------------

    def on_ticket_highlighted(self, event: TicketHighlighted) -> None:
        summary = event.ticket
        self.current_id = None if summary is None else summary.id
        if summary is None:
            self.query_one(DetailPane).show(None, self._empty_note())
            return
        ticket = self.tf_app.full_ticket(summary)
        note = f"{summary.path} cannot be read: changed or removed since the list was read"
        self.query_one(DetailPane).show(ticket, note)

    def on_ticket_chosen(self, event: TicketChosen) -> None:
        self.tf_app.open_detail(event.ticket)

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tab.id:
            self.tab = event.tab.id.removeprefix("tab-")
            self._apply()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "search":
            self.query_text = event.value
            self._body_hits = ("", [])
            self._apply()
            if event.value.strip():
                self._search_bodies(event.value, self._searcher())
            else:
                self.workers.cancel_group(self, "search-bodies")
                self._search_status("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "search":
            self.query_one(TicketList).focus()

    # --- actions ---------------------------------------------------------------------------

    def action_tab(self, name: str) -> None:
        self.query_one(Tabs).active = f"tab-{name}"

    def action_cycle_tab(self, step: int) -> None:
        if isinstance(self.focused, Input):
            return
        index = (TABS.index(self.tab) + step) % len(TABS)
        self.action_tab(TABS[index])

    def on_resize(self, event: events.Resize) -> None:
        """Below ``DETAIL_MIN_WIDTH`` columns the list takes the whole width (the id, the
        status and the description need it); ``l`` and enter open the detail screen."""
        self.query_one(DetailPane).display = event.size.width >= DETAIL_MIN_WIDTH

    def action_focus_detail(self) -> None:
        """Into the detail pane, to scroll a long body with the keys (``h`` comes back);
        the detail screen when the pane is hidden (a narrow terminal)."""
        pane = self.query_one(DetailPane)
        if pane.display:
            pane.focus()
        else:
            self.action_open_detail()

    def action_open_detail(self) -> None:
        """What enter on a row does, for the command palette."""
        current = self.query_one(TicketList).current
        if current is not None:
            self.tf_app.open_detail(current)

    def action_focus_list(self) -> None:
        self.query_one(TicketList).focus()

    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        box.display = True
        # at once, not after a refresh (``focus()``): the keys typed right behind the /
        # are text for the box, and none of them may open a form instead
        self.set_focus(box)

    def action_cancel_job(self) -> None:
        """Cancel the running job (the palette's entry: ESC would close a search first)."""
        self.tf_app.cancel_active_job()

    def action_escape(self) -> None:
        box = self.query_one("#search", Input)
        if box.display:
            box.value = ""
            box.display = False
            self.query_text = ""
            self._body_hits = ("", [])
            self.workers.cancel_group(self, "search-bodies")
            self._search_status("")
            self._apply()
            self.query_one(TicketList).focus()
            return
        self.tf_app.cancel_active_job()

    def action_rescan(self) -> None:
        self.tf_app.request_scan(announce=True)

    def action_jobs(self) -> None:
        from ticketflow.tui.screens.jobs import JobsScreen

        self.app.push_screen(JobsScreen())

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def action_board(self) -> None:
        """Every ticket (or every search match) by status, whatever tab is open."""
        pool = self._search.search(self.query_text) if self.query_text and self._search else None
        self.app.push_screen(BoardScreen(pool if pool is not None else self.all_tickets))

    def _current(self) -> Summary | None:
        ticket = self.query_one(TicketList).current
        if ticket is None:
            self.notify("No ticket selected", severity="warning")
        return ticket

    def action_new(self) -> None:
        def created(request: NewTicketRequest | None) -> None:
            if request is None:
                return
            options = {
                "slug": request.slug,
                "description": request.description,
                "priority": request.priority,
                "parent": request.parent,
            }
            self._mutate("created", "new", options)

        self.app.push_screen(NewTicketScreen(resolve_parent=self.tf_app.store.resolve), created)

    def action_start(self) -> None:
        if (t := self._current()) is not None:
            self._mutate("started", "start", {"ref": t.id})

    def action_close_ticket(self) -> None:
        t = self._current()
        if t is None:
            return
        if t.status == "done":
            self.notify(f"{t.id} is already closed", severity="warning")
            return

        def chosen(reason: str | None) -> None:
            if reason is not None:
                self._mutate("closed", "close", {"ref": t.id, "reason": reason or None})

        self.app.push_screen(CloseTicketScreen(t.id, t.status == "todo"), chosen)

    def action_reopen(self) -> None:
        if (t := self._current()) is not None:
            self._mutate("reopened", "reopen", {"ref": t.id})

    def action_edit(self) -> None:
        t = self._current()
        if t is not None:
            self._edit(t.id)

    @work(exclusive=True, group="edit")
    async def _edit(self, ticket_id: str) -> None:
        """$EDITOR on a copy; a broken result offers to edit again or discard, as the
        command line asks (a worker on the loop: it waits for that choice)."""
        from ticketflow import editing
        from ticketflow.tui.screens.forms import EditRejectedScreen

        store = self.tf_app.store
        try:
            session = editing.begin_edit(store, ticket_id)
            while True:
                try:
                    with self.app.suspend():
                        editing.run_editor(session)
                except SuspendNotSupported:  # a headless driver (tests): nothing to suspend
                    editing.run_editor(session)
                try:
                    text = editing.check_edit(session)
                    break
                except MalformedTicketError as problem:
                    choice = await self.app.push_screen_wait(
                        EditRejectedScreen(problem.message, str(session.work))
                    )
                    if choice == "again":
                        continue
                    if choice == "discard":
                        session.work.unlink(missing_ok=True)
                        self.notify("Edit discarded; the ticket is unchanged")
                        return
                    raise editing.rejected(session, problem) from None
            updated = editing.finish_edit(store, session, text)
        except TicketflowError as exc:
            self.tf_app.show_error(exc)
            return
        if updated is None:
            self.notify("No changes")
        else:
            self.notify(f"Updated {updated.id}")
            self.tf_app.request_scan(keep=updated.id)

    @work(thread=True, exclusive=False, group="mutations")
    def _mutate(self, verb: str, kind: str, options: dict[str, object]) -> None:
        """Run the ticket action ``kind`` through the app's runner, then say what it did."""
        from ticketflow.cancel import CancelToken
        from ticketflow.jobs.actions import ActionResult
        from ticketflow.jobs.work import Work

        work = Work(kind, self.tf_app.store, options)
        try:
            result = self.tf_app.runner.run(work, _no_progress, CancelToken())
        except TicketflowError as exc:
            self.app.call_from_thread(self.tf_app.show_error, exc)
            return
        assert isinstance(result, ActionResult)
        ticket_id = result.ticket_id
        if result.workspace:
            where = f" in {result.worktree}" if result.worktree else ""
            failed = result.failed_commands
            note = f"; init commands failed: {', '.join(failed)}" if failed else ""
            self.app.call_from_thread(
                self.notify, f"Branch {result.branch}{where}{note}", timeout=8
            )
        if result.workspace_remains:
            self.app.call_from_thread(
                self.notify,
                f"Its branch/worktree remain: ticketflow cleanup {ticket_id}",
                timeout=8,
            )
        self.app.call_from_thread(self.notify, f"{verb.capitalize()} {ticket_id}")
        self.app.call_from_thread(lambda: self.tf_app.request_scan(keep=ticket_id))


def _no_progress(current: int, total: int | None, message: str) -> None:
    """A ticket action reports no progress: it is one step."""
