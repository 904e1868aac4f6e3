"""The status bar: one line per pending or running job, and the last finished job.

A job with a known total gets a bar, current/total and a percentage; an unknown total gets a
spinner. Elapsed time comes from the app's clock, so snapshot tests can freeze it.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ticketflow.jobs import JobProgress, JobStatus
from ticketflow.textsafe import one_line

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
OUTCOME = {
    JobStatus.COMPLETED: ("✔", "green"),
    JobStatus.FAILED: ("✖", "red"),
    JobStatus.CANCELLED: ("⊘", "yellow"),
}


def _elapsed(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class JobStatusBar(Static):
    """Reactive view of the queue's jobs, fed by ``JobUpdate`` messages via ``update_job``."""

    DEFAULT_CSS = """
    JobStatusBar { height: auto; min-height: 2; max-height: 6; padding: 0 1; background: $panel; }
    """

    def __init__(self, clock: Callable[[], float], *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.clock = clock
        self.active: dict[int, JobProgress] = {}
        self.started: dict[int, float] = {}
        self.last: JobProgress | None = None
        self.frame = 0
        self._lines = 0

    def on_mount(self) -> None:
        self.redraw()

    def update_job(self, progress: JobProgress) -> None:
        job = int(progress.job_id)
        if progress.is_terminal:
            self.active.pop(job, None)
            self.last = progress
        else:
            self.active[job] = progress
            if progress.status is JobStatus.RUNNING:
                self.started.setdefault(job, self.clock())
        self.redraw()

    def tick(self) -> None:
        """Advance the spinner (a timer calls this while something runs)."""
        if self.active:
            self.frame += 1
            self.redraw()

    def redraw(self) -> None:
        rows = Table.grid(padding=(0, 1), expand=True)
        rows.add_column(no_wrap=True)  # kind
        rows.add_column(width=24, no_wrap=True)  # bar
        rows.add_column(no_wrap=True)  # count
        rows.add_column(ratio=1, no_wrap=True, overflow="ellipsis")  # message
        rows.add_column(no_wrap=True)  # elapsed
        for job, p in sorted(self.active.items()):
            if p.status is JobStatus.PENDING:
                bar: Text | ProgressBar = Text("waiting", style="dim")
                count = ""
            elif p.percentage is None:
                bar = Text(SPINNER[self.frame % len(SPINNER)], style="bold cyan")
                count = f"{p.current:,}" if p.current else ""
            else:
                bar = ProgressBar(total=float(p.total or 1), completed=float(p.current), width=24)
                count = f"{p.current:,}/{p.total:,} {p.percentage:3.0f}%"
            # plain Text (a str cell is markup) and escaped: "remote: ..." is a server's text
            message = Text("cancelling..." if p.cancelling else one_line(p.message))
            since = self.started.get(job)
            elapsed = _elapsed(self.clock() - since) if since is not None else ""
            rows.add_row(Text(p.kind, style="bold"), bar, count, message, elapsed)
        parts: list[Table | Text] = []
        if self.active:
            parts.append(rows)
        else:
            parts.append(Text("No jobs running", style="dim"))
        if self.last is not None:
            mark, color = OUTCOME[self.last.status]
            parts.append(
                Text.assemble(
                    (f"{mark} ", color),
                    (self.last.kind, "bold"),
                    f": {one_line(self.last.message)}",
                )
            )
        # A re-layout of the screen costs 5-20 ms (the detail pane's Markdown included): do it
        # only when the height changes, not on every progress update. Two lines (one job, or
        # "No jobs running", and the last outcome) are always there, so one job starting or
        # ending does not change the height either.
        lines = min(6, max(2, max(1, len(self.active)) + (self.last is not None)))
        self.update(Group(*parts), layout=lines != self._lines)
        self._lines = lines
