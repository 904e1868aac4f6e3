"""The status bar: one line per pending or running job, and the last finished job, on
every screen (each screen has its own bar over the app's one ``JobBoard``).

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


class JobBoard:
    """What every screen's status bar shows: the jobs pending or running, and the outcome
    of the last one that finished. One per app, so a bar on a screen opened mid-pull shows
    that pull at once, and every screen agrees.

    A job the user did not ask for (the quiet scan that checks the files after start-up, a
    pull or an action) is shown while it runs, but its outcome never replaces the outcome of
    one the user asked for, which they may still be reading; a job the user starts clears
    the previous outcome, so the bar shows the running job, then its own outcome, never the
    last job's next to the new one.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.active: dict[int, JobProgress] = {}
        self.started: dict[int, float] = {}
        self.last: JobProgress | None = None
        self.last_quiet = True
        self.frame = 0

    def update(self, progress: JobProgress, *, quiet: bool = False) -> None:
        job = int(progress.job_id)
        if progress.is_terminal:
            self.active.pop(job, None)
            self.started.pop(job, None)
            if not quiet or self.last is None or self.last_quiet:
                self.last, self.last_quiet = progress, quiet
            return
        if job not in self.active and not quiet:
            self.last = None
        self.active[job] = progress
        if progress.status is JobStatus.RUNNING:
            self.started.setdefault(job, self.clock())


class JobStatusBar(Static):
    """A view of the app's ``JobBoard``: one line per pending or running job, then the last
    outcome. It reads the board; ``redraw`` after the board changed (the app does)."""

    DEFAULT_CSS = """
    JobStatusBar { height: auto; min-height: 2; max-height: 6; padding: 0 1; background: $panel; }
    """

    def __init__(self, board: JobBoard, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.board = board
        self._lines = 0

    def on_mount(self) -> None:
        self.redraw()

    @property
    def active(self) -> dict[int, JobProgress]:
        return self.board.active

    @property
    def last(self) -> JobProgress | None:
        return self.board.last

    def redraw(self) -> None:
        board = self.board
        rows = Table.grid(padding=(0, 1), expand=True)
        rows.add_column(no_wrap=True)  # kind
        rows.add_column(width=24, no_wrap=True)  # bar
        rows.add_column(no_wrap=True)  # count
        rows.add_column(ratio=1, no_wrap=True, overflow="ellipsis")  # message
        rows.add_column(no_wrap=True)  # elapsed
        for job, p in sorted(board.active.items()):
            if p.status is JobStatus.PENDING:
                bar: Text | ProgressBar = Text("waiting", style="dim")
                count = ""
            elif p.percentage is None:
                bar = Text(SPINNER[board.frame % len(SPINNER)], style="bold cyan")
                count = f"{p.current:,}" if p.current else ""
            else:
                bar = ProgressBar(total=float(p.total or 1), completed=float(p.current), width=24)
                count = f"{p.current:,}/{p.total:,} {p.percentage:3.0f}%"
            # plain Text (a str cell is markup) and escaped: "remote: ..." is a server's text
            message = Text("cancelling..." if p.cancelling else one_line(p.message))
            since = board.started.get(job)
            elapsed = _elapsed(board.clock() - since) if since is not None else ""
            rows.add_row(Text(p.kind, style="bold"), bar, count, message, elapsed)
        parts: list[Table | Text] = []
        if board.active:
            parts.append(rows)
        else:
            parts.append(Text("No jobs running", style="dim"))
        if board.last is not None:
            mark, color = OUTCOME[board.last.status]
            parts.append(
                Text.assemble(
                    (f"{mark} ", color),
                    (board.last.kind, "bold"),
                    f": {one_line(board.last.message)}",
                )
            )
        # A re-layout of the screen costs 5-20 ms (the detail pane's Markdown included): do it
        # only when the height changes, not on every progress update. Two lines (one job, or
        # "No jobs running", and the last outcome or a blank) are always there, so one job
        # starting or ending does not change the height either.
        lines = min(6, max(2, max(1, len(board.active)) + (board.last is not None)))
        self.update(Group(*parts), layout=lines != self._lines)
        self._lines = lines
