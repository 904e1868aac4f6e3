"""The Textual app: thin. Flows live in the screens; loading and errors are here.

``create_app`` is the one factory the CLI and the tests use.

Loading: the list is painted from the index as the cache holds it (``cached_summaries``, no
file is looked at), then a scan job checks the files and the list is read again only if the
scan changed something. A pull, a ticket action, ``r`` and changes seen in the status
folders all go the same way: scan, then reload.

Where work runs is chosen here, once: the app's queue and its ticket actions use the
isolated runner (``jobs.runners.ISOLATED``), so parsing and pygit2 never compete with the
event loop for the GIL.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import Provider
from textual.notifications import SeverityLevel

from ticketflow.errors import TicketflowError
from ticketflow.index import CacheState, ScanResult, Summary, SummaryList
from ticketflow.jobs import Job, JobId, JobProgress, JobQueue, JobSettings, JobStatus
from ticketflow.jobs.runners import ISOLATED, Runner
from ticketflow.model import Status, Ticket
from ticketflow.store import TicketStore
from ticketflow.textsafe import visible
from ticketflow.ticketfiles import TicketFile
from ticketflow.tui.bridge import pump_progress
from ticketflow.tui.commands import TicketflowCommands
from ticketflow.tui.messages import JobUpdate
from ticketflow.tui.screens.jobs import JobsScreen
from ticketflow.tui.screens.main import TABS, MainScreen
from ticketflow.tui.widgets.jobs_bar import JobBoard, JobStatusBar

REBUILT = (CacheState.CREATED, CacheState.REBUILT)
"""A scan that made the cache anew changed what the list shows, whatever it parsed."""

REMEDY_KEYS = {
    "start": "start it: press s",
    "close": "close it: press c",
    "close_with_reason": "press c and give a reason (it was never started)",
    "commit": "commit the changes in its worktree first (ticketflow close --force closes anyway)",
    "reopen": "reopen it first: press o",
    "pull": "pull first (p), then push again (P); or sync (S)",
    "pick_another": "pull (p) to see their change, then pick another ticket",
    "edit": "look at the ticket now, then edit it again (e)",
}
"""``TicketflowError.remedy`` -> the hint with this interface's keys."""

Loader = Callable[[], SummaryList | None]
"""Where the list comes from: the index's cached summaries, or None when there is no usable
cache yet (the first scan creates it)."""


@contextmanager
def frozen_when_built() -> Iterator[None]:
    """Build long-lived data with the cyclic garbage collector paused, then freeze it.

    Every full collection walks every tracked object: 100,000 rows (named tuples stay
    tracked) plus Textual's own objects made each one take 50-150 ms, on whichever thread
    triggered it, holding the GIL: the interface stalled for that long every few seconds.
    ``gc.freeze()`` moves what exists into the permanent generation, which collections skip.
    The rows are still freed by reference counting when a reload replaces them (they hold
    no cycles); what freezing can keep alive is only cyclic garbage that happened to exist
    at that moment (small, once per reload).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


class Prepared:
    """A list ready to show, prepared in the loading thread so that the event loop only
    swaps references (filtering 100,000 rows by tab costs milliseconds)."""

    __slots__ = ("by_tab", "id_width", "keep", "positions", "summaries")

    def __init__(self, summaries: SummaryList, keep: str | None) -> None:
        items = summaries.items
        self.summaries = summaries
        self.keep = keep
        self.by_tab: dict[str, Sequence[Summary]] = {"all": items}
        for tab in TABS[1:]:
            self.by_tab[tab] = [t for t in items if t.status == tab]
        self.id_width = max(map(len, (t.id for t in items)), default=20)
        self.positions: dict[str, int] | None = None
        if keep is not None:
            self.positions = {
                tab: next((i for i, t in enumerate(rows) if t.id == keep), 0)
                for tab, rows in self.by_tab.items()
            }


class TicketflowApp(App[None]):
    """ticketflow's terminal UI over one repository."""

    TITLE = "ticketflow"
    CSS_PATH = Path(__file__).with_name("app.tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("x", "cancel_job", "Cancel job"),
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
        self.loader: Loader = loader or self._cached
        self.clock = clock
        self.jobs_board = JobBoard(clock)
        """What every screen's status bar shows (one board, a bar per screen)."""
        self.queue: JobQueue | None = queue
        self.runner: Runner = queue.runner if queue is not None else ISOLATED
        """Where the queue's jobs and the ticket actions run (a given queue brings its own)."""
        self.main = MainScreen()
        self.problems: list[str] = []
        self.settings = JobSettings.from_config(store.config)  # a bad jobs: section fails here
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.loaded = False
        """True once a list has been shown."""
        self._scan_queued: JobId | None = None
        self._scan_announced: set[JobId] = set()
        self._keep_after_scan: str | None = None
        self._scans_seen: set[JobId] = set()
        self._folders: tuple[int, ...] = ()

    def on_mount(self) -> None:
        self.sub_title = f"{visible(self.store.root.name)}: loading tickets..."
        if self.queue is None:
            self.queue = JobQueue.for_repo(self.store.root, self.settings, runner=self.runner)
        self.queue.start()  # shutdown() on quit or unmount is its stop
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
            self.request_scan()

    def _tick(self) -> None:
        """Advance the spinners while something runs (only the screen on top is drawn)."""
        if self.jobs_board.active:
            self.jobs_board.frame += 1
            for bar in self.screen.query(JobStatusBar).results(JobStatusBar):
                bar.redraw()

    def show_job(self, progress: JobProgress, *, quiet: bool = False) -> None:
        """Put a job's progress on the board and redraw every screen's status bar."""
        active_before = bool(self.jobs_board.active)
        self.jobs_board.update(progress, quiet=quiet)
        for screen in self.screen_stack:
            for bar in screen.query(JobStatusBar).results(JobStatusBar):
                bar.redraw()
        if bool(self.jobs_board.active) != active_before:
            self.refresh_bindings()  # "x Cancel job" shows only while a job is there

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_job":
            return bool(self.jobs_board.active)
        return True

    def action_cancel_job(self) -> None:
        """``x`` on any screen (``ESC`` on the main one): cancel the running job."""
        self.cancel_active_job()

    # --- jobs ------------------------------------------------------------------------------

    def submit(self, job: Job, *, after: tuple[JobId, ...] = ()) -> JobId | None:
        if self.queue is None or self.queue.closed:
            return None
        return self.queue.submit(job, after=after)

    # p / P / S on every screen (tui/keys.py)

    def action_pull(self) -> None:
        from ticketflow.jobs.git import pull_job

        self.submit(pull_job(self.store.root, self.store.config))

    def action_push(self) -> None:
        from ticketflow.jobs.git import push_job

        self.submit(push_job(self.store.root, self.store.config))

    def action_sync(self) -> None:
        from ticketflow.jobs.git import submit_sync

        if self.queue is not None and not self.queue.closed:
            submit_sync(self.queue, self.store.root, self.store.config)

    def on_job_update(self, message: JobUpdate) -> None:
        progress = message.progress
        self.show_job(progress, quiet=self._is_quiet(progress))
        if isinstance(self.screen, JobsScreen):
            self.screen.show_progress(progress)
        if not progress.is_terminal:
            if (
                progress.kind == "scan"
                and progress.status is JobStatus.RUNNING
                and progress.job_id not in self._scans_seen
            ):
                # it lists the files after this: what the folders show now, it will see
                self._scans_seen.add(progress.job_id)
                self._folders = self._folder_stamp()
            return
        self._scans_seen.discard(progress.job_id)
        quiet = self._is_quiet(progress)
        self._scan_announced.discard(progress.job_id)
        if progress.status is JobStatus.COMPLETED:
            if not quiet:
                self.notify(f"{progress.kind}: {progress.message}", title="Job done")
            if progress.kind == "scan":
                self._after_scan(progress.job_id)
            elif progress.kind == "pull":
                self.request_scan()
        elif progress.status is JobStatus.FAILED:
            self._report_failure(progress.job_id)
        elif not quiet:
            self.notify(f"{progress.kind} {progress.message}", severity="warning")

    def _is_quiet(self, progress: JobProgress) -> bool:
        """A scan the user did not ask for (after start-up, a pull, an action, a change in
        the folders): its outcome is not announced."""
        return progress.kind == "scan" and progress.job_id not in self._scan_announced

    def request_scan(self, *, keep: str | None = None, announce: bool = False) -> None:
        """Check the ticket files in the background (a scan job, run by the app's runner);
        the list is read again afterwards if anything changed. A scan that is still waiting
        to start covers this request too (it has not looked at the files yet)."""
        from ticketflow.jobs.scan import ScanJob

        if keep is not None:
            self._keep_after_scan = keep
        queued = self._scan_queued
        if (
            queued is not None
            and self.queue is not None
            and not self.queue.closed
            and self.queue.status(queued) is JobStatus.PENDING
        ):
            if announce:
                self._scan_announced.add(queued)
            return
        job_id = self.submit(ScanJob(self.store))
        if job_id is not None:
            self._scan_queued = job_id
            if announce:
                self._scan_announced.add(job_id)

    @work(group="scans")
    async def _after_scan(self, job_id: JobId) -> None:
        assert self.queue is not None
        try:
            result = await self.queue.wait(job_id)
        except Exception:  # reported by its own update
            return
        if not isinstance(result, ScanResult):
            return
        c = result.counts
        changed = bool(c.parsed or c.removed) or result.cache in REBUILT
        keep, self._keep_after_scan = self._keep_after_scan, None
        if changed or keep is not None or not self.loaded:
            self.reload(keep, expected=c.tickets)

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
        """Quit; a running job is cancelled first and waited for (at most a second), and
        the terminal is told so once the interface is gone."""
        said: list[str] = []
        if self.queue is not None and not self.queue.closed:
            running = [p for p in self.queue.jobs(active_only=True) if not self._is_quiet(p)]
            await self.queue.shutdown(timeout=1.0)
            for p in running:
                ended = self.queue.progress(p.job_id)
                said.append(f"{ended.kind} {ended.message}" if ended.message else ended.kind)
        self.exit(message="\n".join(said) or None)

    async def on_unmount(self) -> None:
        if self.queue is not None and not self.queue.closed:
            await self.queue.shutdown(timeout=1.0)

    def start_loading(self) -> None:
        """The first list (from the cache as it is), and the scan that checks it."""
        self.reload()
        self.request_scan()

    def _cached(self) -> SummaryList | None:
        from ticketflow.index import TicketIndex

        return TicketIndex.open(self.store).cached_summaries()

    def _validated(self) -> SummaryList:
        """The summaries after a refresh in this process: only when the cache cannot answer
        (unavailable, or tickets it cannot hold). Parsing stays in this process (no pool:
        one cannot be started from inside a running Textual app)."""
        from ticketflow.index import TicketIndex
        from ticketflow.jobs.scan import IN_PROCESS

        return TicketIndex.open(self.store, pool_min_files=IN_PROCESS).summaries()

    def full_ticket(self, summary: Summary) -> Ticket | None:
        """The whole ticket (fields and body) from its file; None if it cannot be read."""
        try:
            path = self.store.root / summary.path
            return self.store.read_file(TicketFile(summary.id, Status(summary.status), path))
        except (TicketflowError, ValueError):
            return None

    def open_detail(self, summary: Summary) -> None:
        from ticketflow.tui.screens.info import DetailScreen

        ticket = self.full_ticket(summary)
        if ticket is None:
            self.notify(
                f"{summary.path} cannot be read (changed or removed since the list was read)",
                title="Error",
                severity="error",
            )
            return
        self.push_screen(DetailScreen(ticket))

    @work(thread=True, exclusive=True, group="load")
    def reload(self, keep: str | None = None, expected: int | None = None) -> None:
        """Read the list (in a thread) and show it. ``expected``: the ticket count a scan
        just found; a cache that disagrees (or none at all, after a scan) is replaced by a
        refresh in this process."""
        keep = keep or self.main.current_id  # the cursor stays on its ticket
        with frozen_when_built():
            result = self.loader()
            if expected is not None and (result is None or result.counts["total"] != expected):
                result = self._validated()
            prepared = None if result is None else Prepared(result, keep)
        if prepared is None:
            self.call_from_thread(self._no_cache)
            return
        self.call_from_thread(self._loaded, prepared)

    def _no_cache(self) -> None:
        self.sub_title = f"{visible(self.store.root.name)}: indexing the tickets (first start)..."

    def _loaded(self, prepared: Prepared) -> None:
        result = prepared.summaries
        first = not self.loaded
        self.loaded = True
        self.main.set_tickets(prepared.by_tab, prepared.id_width, prepared.keep, prepared.positions)
        if first:  # Textual's long-lived objects exist now: out of the collector's way too
            self.call_after_refresh(gc.freeze)
        problems = [p.message for p in result.problems]
        skipped = f", {len(problems)} unreadable" if problems else ""
        c = result.counts
        self.sub_title = (
            f"{visible(self.store.root.name)}: {c['total']} "
            f"ticket{'' if c['total'] == 1 else 's'} "
            f"({c['todo']} todo, {c['doing']} doing, {c['done']} done){skipped}"
        )
        if problems and problems != self.problems:
            self.notify(
                "\n".join(problems[:3]) + ("\n..." if len(problems) > 3 else ""),
                title=f"{len(problems)} ticket files could not be read",
                severity="warning",
            )
        self.problems = problems

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every notification (the screens' and widgets' ones come here too) as plain text
        with its control characters escaped: messages quote ticket files, job results and
        a remote's own words, which must neither be read as markup nor reach the terminal.
        ``markup`` is accepted for the signature's sake and never used."""
        super().notify(
            visible(message),
            title=visible(title),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def show_error(self, exc: TicketflowError) -> None:
        """An error and what to do about it, said with this interface's keys where the
        error names its remedy (its hint is a command line for the terminal)."""
        hint = REMEDY_KEYS.get(exc.remedy or "", exc.hint)
        message = exc.message + (f"\n{hint}" if hint else "")
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
