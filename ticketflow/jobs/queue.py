"""The JobQueue: runs jobs on worker threads, streams their progress, cancels them for real.

One event loop owns all the bookkeeping (statuses, resources, dependencies, subscribers), so
none of it needs a lock; the only things that cross threads are a job's ``run`` (in a worker
thread of an executor the queue owns and shuts down), its progress (the latest value is
parked on the job's record and the loop is woken at most once per ``progress_interval``, so
a chatty job never waits for the loop or its listeners) and its cancel token.

Scheduling: a pending job starts when a worker is free, every job it runs ``after`` has
completed, and none of its resources is held by a running job; among those, higher
priority first, then submission order. A job blocked by a held resource waits on that
resource, not at the head of the line, so a scan is not held up behind a queue of pulls.

``priority`` is for work the user did not ask for: the background fetch of issue #13 is
submitted below the default (``priority=-1``), so a pull or push the user asks for while it
waits on the ``repo`` resource goes first. It orders waiting jobs only; a running job is
never pre-empted (the user's pull waits for a background fetch already under way, or
cancels it).

Cancelling a pending job ends it at once. Cancelling a running job sets its token (seen by
pygit2 callbacks and per-file loops), cancels its task (ending an awaited retry delay) and
marks it *cancelling*; it is reported cancelled only when its thread has returned, so
"cancelled" always means the work stopped and the resources it held are free.
"""

from __future__ import annotations

import asyncio
import random
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

from ticketflow.errors import CancelledError
from ticketflow.jobs.errors import QueueClosedError
from ticketflow.jobs.history import HistoryEntry, JobHistory
from ticketflow.jobs.job import Job, JobId
from ticketflow.jobs.lifecycle import _Lifecycle
from ticketflow.jobs.progress import JobProgress, Subscription
from ticketflow.jobs.record import (
    CANCELLED,
    COMPLETED,
    PENDING,
    RUNNING,
    Sleep,
    _ReadyEntry,
    _Record,
    describe_error,
)
from ticketflow.jobs.retry import RetryPolicy
from ticketflow.jobs.runners import IN_PROCESS, Runner
from ticketflow.jobs.settings import JobSettings
from ticketflow.jobs.status import ACTIVE, TERMINAL, JobStatus

__all__ = ["JobQueue", "describe_error"]


class JobQueue(_Lifecycle):
    """Runs jobs with at most ``workers`` at a time; see the module docstring.

        async with JobQueue(workers=4, history=JobHistory.for_repo(root)) as queue:
            pull = queue.submit(pull_job)
            push = queue.submit(push_job, after=[pull])
            async for progress in queue.watch(pull, push):
                show(progress)
            await queue.wait(push)            # the result, or raises the job's error

    All methods must be called from the event loop the queue first ran on. Leaving the
    ``async with`` block calls ``shutdown()``, which cancels whatever still runs.
    """

    def __init__(
        self,
        workers: int = 4,
        *,
        retry: RetryPolicy | None = None,
        history: JobHistory | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        keep_finished: int | None = 10_000,
        shutdown_timeout: float = 5.0,
        progress_interval: float = 0.02,
        runner: Runner = IN_PROCESS,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self.runner = runner
        """Where jobs that describe their ``Work`` run, unless a job names its own runner."""
        self.retry = retry or RetryPolicy()
        self.history = history
        self.shutdown_timeout = shutdown_timeout
        self.progress_interval = progress_interval
        """Least seconds between two published progress values of one job (see _reporter): the
        one time-based throttle between a job's work and a screen. Everything before it
        passes every value on (or, across the isolated child's pipe, the newest); what
        follows only coalesces for a slow reader (``Subscription``, the TUI's ``JobUpdate``)."""
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not secrets)
        self._keep_finished = keep_finished
        self._loop: asyncio.AbstractEventLoop | None = None
        self._records: dict[JobId, _Record] = {}
        self._finished: deque[JobId] = deque()
        self._next_id = 0
        self._ready: list[_ReadyEntry] = []
        self._blocked: dict[str, list[_ReadyEntry]] = {}
        self._held: set[str] = set()
        self._running = 0
        self._active = 0
        self._idle: asyncio.Event | None = None
        self._subs: weakref.WeakSet[Subscription] = weakref.WeakSet()
        self._dispatch_scheduled = False
        self._cascade: list[_Record] = []
        self._cascading = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._executor: ThreadPoolExecutor | None = None
        self._history_executor: ThreadPoolExecutor | None = None
        self._history_buffer: list[HistoryEntry] = []
        self._history_flush: asyncio.Future[int] | None = None
        self._closed = False
        self._abandon: float | None = None
        """Set (to the seconds waited) when shutdown gives up on threads that ignore cancel."""
        self._shut_down = False

    @classmethod
    def for_repo(cls, root: Path, settings: JobSettings | None = None, **options: Any) -> JobQueue:
        """The queue of a repository: workers and retry from the ``jobs:`` settings
        (``JobSettings.from_config(config)``) and the history under ``.git/ticketflow/``
        (none when ``history_size`` is 0). ``options`` go to the constructor."""
        settings = settings or JobSettings()
        history = (
            JobHistory.for_repo(root, max_entries=settings.history_size)
            if settings.history_size
            else None
        )
        return cls(settings.workers, retry=settings.retry, history=history, **options)

    # --- public API ---------------------------------------------------------------------------

    def start(self) -> None:
        """Bind the queue to the running event loop, for an owner that starts and stops it
        at moments of its own rather than around one block (the TUI: when it is mounted;
        ``shutdown()`` is the stop). Submitting starts it too; ``async with`` does both."""
        self._bind()

    async def __aenter__(self) -> JobQueue:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()

    @property
    def closed(self) -> bool:
        """True once ``shutdown`` has begun: ``submit`` is refused."""
        return self._closed

    def submit(self, job: Job, *, priority: int = 0, after: Iterable[JobId] = ()) -> JobId:
        """Queue ``job`` and return its id at once; it starts when allowed (module docstring).

        ``after``: ids of jobs that must complete first. If one of them fails or is
        cancelled (now or later), this job is cancelled with "dependency ... failed".
        ``priority``: higher starts first among waiting jobs; below 0 for background work
        that must yield to what the user asked for (module docstring).
        """
        if self._closed:
            raise QueueClosedError(
                f"the job queue is shut down; the {job.kind} job was not run",
                hint="submit jobs before shutdown() or leaving 'async with'",
            )
        self._bind()
        deps = [self._record(dep) for dep in after]
        self._next_id += 1
        job_id = JobId(self._next_id)
        rec = _Record(job_id, job, priority, self._clock(), job.retry or self.retry)
        self._records[job_id] = rec
        if self._active == 0 and self._idle is not None:
            self._idle.clear()
        self._active += 1
        self._publish(rec)
        for dep in deps:
            if dep.status is COMPLETED:
                continue
            if dep.status in TERMINAL:
                self._cancel_dependent(rec, dep)
                return job_id
            rec.waiting_on += 1
            if dep.dependents is None:
                dep.dependents = []
            dep.dependents.append(rec)
        if rec.waiting_on == 0:
            self._make_ready(rec)
        return job_id

    def cancel(self, job_id: JobId, reason: str = "cancelled") -> bool:
        """Ask a job to stop; False if it already ended or is already cancelling.

        A pending job is cancelled at once. A running one is *cancelling* until its work has
        really stopped; then it is cancelled (or completed/failed, if it finished anyway).
        """
        rec = self._record(job_id)
        if rec.status is PENDING:
            rec.token.cancel(reason)
            message = "cancelled before it started"
            if reason != "cancelled":
                message += f": {reason}"
            self._finish(rec, CANCELLED, error=CancelledError(reason), message=message)
            return True
        if rec.status is RUNNING and not rec.cancelling:
            rec.token.cancel(reason)
            rec.cancelling = True
            rec.message = "cancelling"
            rec.timestamp = self._clock()
            self._publish(rec)
            if rec.task is not None:
                rec.task.cancel()
            return True
        return False

    def status(self, job_id: JobId) -> JobStatus:
        return self._record(job_id).status

    def progress(self, job_id: JobId) -> JobProgress:
        """The job's latest state as a progress value."""
        return self._snapshot(self._record(job_id))

    def jobs(self, *, active_only: bool = False) -> list[JobProgress]:
        """Every job the queue remembers (the newest ``keep_finished`` finished ones and all
        unfinished ones), in submission order."""
        return [
            self._snapshot(rec)
            for rec in self._records.values()
            if not active_only or rec.status in ACTIVE
        ]

    async def wait(self, job_id: JobId) -> object:
        """The job's result once it completed; raises its error if it failed, and
        ``ticketflow.errors.CancelledError`` (with ``partial``) if it was cancelled.
        Errors that are not ``TicketflowError`` arrive wrapped in ``JobFailedError``."""
        rec = self._record(job_id)
        if rec.status not in TERMINAL:
            future: asyncio.Future[None] = self._bind().create_future()
            if rec.waiters is None:
                rec.waiters = []
            rec.waiters.append(future)
            try:
                await future
            finally:
                if not future.done() and rec.waiters is not None:
                    rec.waiters.remove(future)
        if rec.status is COMPLETED:
            return rec.result
        assert rec.error is not None
        raise rec.error

    async def join(self) -> None:
        """Wait until no job is pending or running."""
        if self._active == 0:
            return
        if self._idle is None:
            self._idle = asyncio.Event()
        await self._idle.wait()

    async def shutdown(self, timeout: float | None = None) -> list[JobId]:
        """Refuse new jobs, cancel pending and running ones, wait up to ``timeout`` seconds
        (``shutdown_timeout`` by default) for running work to stop, write the history and
        stop every thread the queue started.

        Returns the ids of jobs whose work ignored the cancel for that long: they are
        marked failed ("abandoned") and their threads are left to finish on their own.
        """
        if self._shut_down:
            return []
        self._closed = True
        if self._loop is None:
            self._shut_down = True
            return []
        for rec in list(self._records.values()):
            if rec.status is PENDING:
                self.cancel(rec.job_id, "the queue shut down")
        for rec in list(self._records.values()):
            if rec.status is RUNNING:
                self.cancel(rec.job_id, "the queue shut down")
        abandoned: list[JobId] = []
        tasks = set(self._tasks)
        if tasks:
            limit = self.shutdown_timeout if timeout is None else timeout
            _, still = await asyncio.wait(tasks, timeout=limit)
            if still:
                self._abandon = limit
                abandoned = [rec.job_id for rec in self._records.values() if rec.task in still]
                for task in still:
                    task.cancel()
                await asyncio.wait(still)
        await self._flush_history_now()
        self._shut_down = True
        for sub in list(self._subs):
            sub.end()
        self._subs = weakref.WeakSet()
        if self._executor is not None:
            self._executor.shutdown(wait=not abandoned, cancel_futures=True)
        if self._history_executor is not None:
            self._history_executor.shutdown(wait=True)
        return abandoned
