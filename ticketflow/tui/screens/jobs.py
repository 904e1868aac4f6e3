"""The jobs screen: what runs, what waits, and the history; ``x`` cancels the selected job.

This session's jobs come from the queue (in memory); earlier ones from the history file,
read when the screen opens and again when a job ends, never on a progress update: a pull
reports many times a second, and each read is a SQLite query on the event loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.widgets.data_table import ColumnKey

from ticketflow.jobs import JobId, JobProgress, JobStatus, load_history
from ticketflow.textsafe import one_line
from ticketflow.tui.keys import NETWORK_KEYS

if TYPE_CHECKING:
    from ticketflow.tui.app import TicketflowApp


def _cell(text: str) -> Text:
    """A message cell: a job's message may quote a remote or a ticket file, so it is plain
    text (a ``str`` cell would be read as markup) with its control characters escaped."""
    return Text(one_line(text))


Row = tuple[str, str, str, str, Text]
"""ID, kind, status, progress, message."""


def _live_row(p: JobProgress) -> Row:
    status = "cancelling" if p.cancelling else p.status.value
    count = f"{p.current}/{p.total}" if p.total else (str(p.current) if p.current else "")
    message = p.message.splitlines()[0] if p.message else ""
    return (str(p.job_id), p.kind, status, count, _cell(message))


class JobsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,J", "app.pop_screen", "Back"),
        Binding("x", "cancel_job", "Cancel job"),
        *NETWORK_KEYS,
        Binding("j", "cursor_down", show=False),
        Binding("k", "cursor_up", show=False),
    ]
    DEFAULT_CSS = """
    JobsScreen #jobs-title { padding: 0 1; text-style: bold; }
    JobsScreen DataTable { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="jobs-title")
        yield DataTable(id="jobs", cursor_type="row")
        yield Footer()

    @property
    def tf_app(self) -> TicketflowApp:
        from ticketflow.tui.app import TicketflowApp

        assert isinstance(self.app, TicketflowApp)
        return self.app

    def __init__(self) -> None:
        super().__init__()
        self._past: list[tuple[str, Row]] = []
        """Earlier sessions' jobs from the history file: (row key, row)."""
        self._columns: list[ColumnKey] = []

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        self._columns = list(table.add_columns("ID", "Kind", "Status", "Progress", "Message"))
        self._read_history()
        self.refill()
        table.focus()

    def _read_history(self) -> None:
        started = self.tf_app.started_at
        past: list[tuple[str, Row]] = []
        for entry in load_history(self.tf_app.store.root, limit=100):
            if str(entry.get("submitted_at") or "") >= started:
                continue  # this session's jobs are listed from the queue
            error = entry.get("error")
            raw = error.get("message", "") if isinstance(error, dict) else entry.get("result")
            text = str(raw or "")
            message = text.splitlines()[0] if text else ""
            row: Row = (
                "-",
                str(entry.get("kind")),
                str(entry.get("status")),
                f"{entry.get('duration') or 0:.1f} s",
                _cell(message),
            )
            past.append((f"past-{entry.get('id')}", row))
        self._past = past

    def show_progress(self, progress: JobProgress) -> None:
        """A job's new state (the app passes each one on): its row is updated in place; a
        job that ended moves below the active ones, and the history is read again then."""
        table = self.query_one(DataTable)
        key = f"live-{progress.job_id}"
        if progress.is_terminal or key not in table.rows:
            if progress.is_terminal:
                self._read_history()
            self.refill()
            return
        for column, value in zip(self._columns, _live_row(progress), strict=True):
            table.update_cell(key, column, value, update_width=True)

    def refill(self) -> None:
        table = self.query_one(DataTable)
        selected = table.cursor_row
        table.clear()
        queue = self.tf_app.queue
        session = queue.jobs() if queue is not None else []
        session.sort(key=lambda p: (p.is_terminal, -int(p.job_id)))  # active first, newest
        for p in session:
            table.add_row(*_live_row(p), key=f"live-{p.job_id}")
        for key, row in self._past:
            table.add_row(*row, key=key)
        if table.row_count:
            table.move_cursor(row=min(selected, table.row_count - 1))
        title = self.query_one("#jobs-title", Static)
        title.update(
            "Jobs: this session's (running first), then earlier ones"
            if table.row_count
            else "No jobs yet: p pulls, P pushes, S syncs, r rescans"
        )

    def action_cancel_job(self) -> None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or ""
        queue = self.tf_app.queue
        if not key.startswith("live-") or queue is None:
            self.notify("That job has finished", severity="warning")
            return
        job_id = JobId(int(key.removeprefix("live-")))
        if queue.status(job_id) in (JobStatus.PENDING, JobStatus.RUNNING):
            queue.cancel(job_id)
            self.notify(f"Cancelling job {job_id}")
        self.refill()

    def action_cursor_down(self) -> None:
        self.query_one(DataTable).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one(DataTable).action_cursor_up()
