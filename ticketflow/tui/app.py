"""The Textual app: thin. Flows live in the screens; loading and errors are here.

``create_app`` is the one factory the CLI and the tests use. Tickets load in a thread
worker so the first frame paints at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import Provider

from ticketflow.errors import TicketflowError
from ticketflow.jobs import Job, JobId, JobQueue, JobSettings, JobStatus
from ticketflow.model import Ticket
from ticketflow.store import LoadResult, TicketFile, TicketStore
from ticketflow.tui.bridge import pump_progress
from ticketflow.tui.commands import TicketflowCommands
from ticketflow.tui.messages import JobUpdate
from ticketflow.tui.screens.jobs import JobsScreen
from ticketflow.tui.screens.main import MainScreen
from ticketflow.tui.widgets.jobs_bar import JobStatusBar
from ticketflow.tui.widgets.ticket_list import TicketList

Loader = Callable[[], LoadResult]


class TicketflowApp(App[None]):
    """ticketflow's terminal UI over one repository."""

    TITLE = "ticketflow"
    CSS_PATH = Path(__file__).with_name("app.tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]
    COMMANDS: ClassVar[set[type[Provider] | Callable[[], type[Provider]]]] = {TicketflowCommands}

    def __init__(
        self,
        store: TicketStore,
        *,
        loader: Loader | None = None,
        clock: Callable[[], float] = time.monotonic,
        queue: JobQueue | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.loader: Loader = loader or self._load_from_index
        self.clock = clock
        self.queue: JobQueue | None = queue
        self.main = MainScreen()
        self.problems: list[str] = []
        self.settings = JobSettings.from_config(store.config)  # a bad jobs: section fails here
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")

    async def on_mount(self) -> None:
        self.sub_title = f"{self.store.root.name}: loading tickets..."
        if self.queue is None:
            self.queue = JobQueue.for_repo(self.store.root, self.settings)
        await self.queue.__aenter__()
        self.run_worker(pump_progress(self.queue, self), group="bridge", exit_on_error=False)
        self.set_interval(0.1, self._tick)
        self._folders = self._folder_stamp()
        self.set_interval(2.0, self._watch_folders)
        self.push_screen(self.main)  # it starts the first load once it is drawn

    def _folder_stamp(self) -> tuple[int, ...]:
        """The status folders' mtimes: a ticket written, moved or removed (by an editor, a
        pull, the Go tool) changes them, since files are replaced by rename."""
        stamps = []
        for folder in self.store.config.status_dirs().values():
            try:
                stamps.append((self.store.tickets_root / folder).stat().st_mtime_ns)
            except OSError:
                stamps.append(0)
        return tuple(stamps)

    def _watch_folders(self) -> None:
        stamp = self._folder_stamp()
        if stamp != self._folders:
            self._folders = stamp
            current = self.main.query(TicketList).results(TicketList)
            keep = next((t.current.id for t in current if t.current is not None), None)
            self.reload(keep)

    def _tick(self) -> None:
        for bar in self.main.query(JobStatusBar).results(JobStatusBar):  # none once unmounted
            bar.tick()

    # --- jobs ------------------------------------------------------------------------------

    def submit(self, job: Job, *, after: tuple[JobId, ...] = ()) -> JobId | None:
        if self.queue is None or self.queue.closed:
            return None
        return self.queue.submit(job, after=after)

    def on_job_update(self, message: JobUpdate) -> None:
        progress = message.progress
        for bar in self.main.query(JobStatusBar).results(JobStatusBar):
            bar.update_job(progress)
        if isinstance(self.screen, JobsScreen):
            self.screen.refill()
        if not progress.is_terminal:
            return
        if progress.status is JobStatus.COMPLETED:
            self.notify(f"{progress.kind}: {progress.message}", title="Job done")
            if progress.kind in ("pull", "scan"):
                self.reload()
        elif progress.status is JobStatus.FAILED:
            self._report_failure(progress.job_id)
        else:
            self.notify(f"{progress.kind} {progress.message}", severity="warning")

    @work(group="failures")
    async def _report_failure(self, job_id: JobId) -> None:
        """Show the failed job's error with its hint (the queue keeps the exception)."""
        assert self.queue is not None
        try:
            await self.queue.wait(job_id)
        except TicketflowError as exc:
            self.show_error(exc)
        except Exception as exc:
            self.notify(f"{type(exc).__name__}: {exc}", title="Job failed", severity="error")

    def active_jobs(self) -> list[JobId]:
        if self.queue is None:
            return []
        return [p.job_id for p in self.queue.jobs(active_only=True)]

    def cancel_active_job(self) -> None:
        """ESC with nothing else to close: cancel the newest running (else pending) job."""
        if self.queue is None:
            return
        active = self.queue.jobs(active_only=True)
        running = [p for p in active if p.status is JobStatus.RUNNING and not p.cancelling]
        pending = [p for p in active if p.status is JobStatus.PENDING]
        candidates = running or pending
        if not candidates:
            self.notify("No job is running", severity="information", timeout=2)
            return
        self.queue.cancel(candidates[-1].job_id, "cancelled with ESC")

    async def action_quit(self) -> None:
        """Quit; a running job is cancelled first and waited for (at most a second)."""
        if self.queue is not None and not self.queue.closed:
            await self.queue.shutdown(timeout=1.0)
        self.exit()

    async def on_unmount(self) -> None:
        if self.queue is not None and not self.queue.closed:
            await self.queue.shutdown(timeout=1.0)

    def _load_from_index(self) -> LoadResult:
        from ticketflow.index import TicketIndex
        from ticketflow.jobs.scan import IN_PROCESS

        # no process pool under Textual (see IN_PROCESS)
        return TicketIndex.open(self.store, pool_min_files=IN_PROCESS).load()

    def full_ticket(self, ticket: Ticket) -> Ticket:
        """The ticket with its body: index rows carry the fields only (one file read)."""
        if ticket.body or ticket.raw is not None or ticket.path is None:
            return ticket
        try:
            tf = TicketFile(ticket.id, ticket.status, self.store.root / ticket.path)
            return self.store.read_file(tf)
        except TicketflowError:
            return ticket

    @work(thread=True, exclusive=True, group="load")
    def reload(self, keep: str | None = None) -> None:
        result = self.loader()
        self.call_from_thread(self._loaded, result, keep)

    def _loaded(self, result: LoadResult, keep: str | None) -> None:
        self.problems = [p.message for p in result.problems]
        self.main.set_tickets(result.tickets)
        if keep is not None:
            self.main.query_one(TicketList).set_tickets(self.main._visible(), keep=keep)
        skipped = f", {len(self.problems)} unreadable" if self.problems else ""
        counts = {status: 0 for status in ("todo", "doing", "done")}
        for ticket in result.tickets:
            counts[ticket.status.value] += 1
        self.sub_title = (
            f"{self.store.root.name}: {len(result.tickets)} tickets "
            f"({counts['todo']} todo, {counts['doing']} doing, {counts['done']} done){skipped}"
        )
        if self.problems:
            self.notify(
                "\n".join(self.problems[:3]) + ("\n..." if len(self.problems) > 3 else ""),
                title=f"{len(self.problems)} ticket files could not be read",
                severity="warning",
            )

    def show_error(self, exc: TicketflowError) -> None:
        message = exc.message + (f"\n{exc.hint}" if exc.hint else "")
        self.notify(message, title="Error", severity="error", timeout=8)


def create_app(
    store: TicketStore,
    *,
    loader: Loader | None = None,
    clock: Callable[[], float] = time.monotonic,
    queue: JobQueue | None = None,
) -> TicketflowApp:
    return TicketflowApp(store, loader=loader, clock=clock, queue=queue)


def run_tui(store: TicketStore) -> None:
    create_app(store).run()
