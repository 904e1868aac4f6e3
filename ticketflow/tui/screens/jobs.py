"""The jobs screen: what runs, what waits, and the history; ``x`` cancels the selected job."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ticketflow.jobs import JobId, JobStatus, load_history
from ticketflow.textsafe import one_line
from ticketflow.tui.messages import JobUpdate

if TYPE_CHECKING:
    from ticketflow.tui.app import TicketflowApp


def _cell(text: str) -> Text:
    """A message cell: a job's message may quote a remote or a ticket file, so it is plain
    text (a ``str`` cell would be read as markup) with its control characters escaped."""
    return Text(one_line(text))


class JobsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,J", "app.pop_screen", "Back"),
        Binding("x", "cancel_job", "Cancel job"),
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

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("ID", "Kind", "Status", "Progress", "Message")
        self.refill()
        table.focus()

    def refill(self) -> None:
        table = self.query_one(DataTable)
        selected = table.cursor_row
        table.clear()
        shown: set[str] = set()
        queue = self.tf_app.queue
        session = queue.jobs() if queue is not None else []
        session.sort(key=lambda p: (p.is_terminal, -int(p.job_id)))  # active first, newest
        for p in session:
            status = "cancelling" if p.cancelling else p.status.value
            count = f"{p.current}/{p.total}" if p.total else (str(p.current) if p.current else "")
            message = p.message.splitlines()[0] if p.message else ""
            table.add_row(
                str(p.job_id), p.kind, status, count, _cell(message), key=f"live-{p.job_id}"
            )
            shown.add(str(p.job_id))
        started = self.tf_app.started_at
        for entry in load_history(self.tf_app.store.root, limit=100):
            if str(entry.get("submitted_at") or "") >= started:
                continue  # this session's jobs are listed above
            error = entry.get("error")
            raw = error.get("message", "") if isinstance(error, dict) else entry.get("result")
            text = str(raw or "")
            message = text.splitlines()[0] if text else ""
            table.add_row(
                "-",
                str(entry.get("kind")),
                str(entry.get("status")),
                f"{entry.get('duration') or 0:.1f} s",
                _cell(message),
                key=f"past-{entry.get('id')}",
            )
        if table.row_count:
            table.move_cursor(row=min(selected, table.row_count - 1))
        title = self.query_one("#jobs-title", Static)
        title.update(
            "Jobs: this session's (running first), then earlier ones"
            if table.row_count
            else "No jobs yet: p pulls, P pushes, S syncs, r rescans"
        )

    def on_job_update(self, message: JobUpdate) -> None:
        self.refill()

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
