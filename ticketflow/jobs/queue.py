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

Cancelling a pending job ends it at once. Cancelling a running job sets its token (seen by
pygit2 callbacks and per-file loops), cancels its task (ending an awaited retry delay or an
asynchronous job) and marks it *cancelling*; it is reported cancelled only when its thread
has returned, so "cancelled" always means the work stopped and the resources it held are
free. Jobs whose ``run`` is instant (``blocking = False``) run on the loop itself, which
keeps trivial jobs at tens of thousands per second instead of one thread hand-off each.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import inspect
import logging
import random
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from concurrent.futures import Future as ConcurrentFuture
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

from ticketflow.cancel import CancelToken, ProgressCallback
from ticketflow.errors import CancelledError, TicketflowError
from ticketflow.jobs.errors import JobFailedError, QueueClosedError, UnknownJobError
from ticketflow.jobs.history import HistoryEntry, JobHistory
from ticketflow.jobs.job import Job, JobContext, JobId
from ticketflow.jobs.progress import JobProgress, Subscription
from ticketflow.jobs.retry import RetryPolicy, format_delay
from ticketflow.jobs.settings import JobSettings
from ticketflow.jobs.status import ACTIVE, TERMINAL, JobStatus

log = logging.getLogger("ticketflow.jobs")

PENDING = JobStatus.PENDING
RUNNING = JobStatus.RUNNING
COMPLETED = JobStatus.COMPLETED
FAILED = JobStatus.FAILED
CANCELLED = JobStatus.CANCELLED

_DISPATCH_BATCH = 512
"""Most jobs started per loop callback, so a burst of instant jobs cannot starve the loop."""

Sleep = Callable[[float], Awaitable[object]]
_ReadyEntry = tuple[int, int, "_Record"]
_ProgressValue = tuple[int, int | None, str, float]


class _Abandoned(BaseException):
    """Raised inside a job's task when shutdown gave up waiting for its thread."""


def describe_error(error: BaseException) -> dict[str, object]:
    """The JSON shape of a job's error for the history: its type, message and hint."""
    if isinstance(error, JobFailedError):
        return {"type": error.error_type, "message": str(error.original)}
    if isinstance(error, TicketflowError):
        info: dict[str, object] = {"type": error.kind, "message": error.message}
        if error.hint:
            info["hint"] = error.hint
        info.update(error.details())
        return info
    return {"type": type(error).__name__, "message": str(error)}


def _error_text(error: BaseException) -> str:
    if isinstance(error, JobFailedError):
        return f"{error.error_type}: {error.original}"
    if isinstance(error, TicketflowError):
        return error.message
    return f"{type(error).__name__}: {error}"


def _without_partial(error: CancelledError) -> str:
    """The reason a ``CancelledError`` gives, without the " after <partial>" it appends."""
    suffix = f" after {error.partial}" if error.partial else ""
    text = error.message
    return text[: -len(suffix)] if suffix and text.endswith(suffix) else text


class _Record:
    """Everything the queue knows about one job; touched only on the loop's thread, except
    ``pending_progress`` and ``flush_scheduled`` (see ``JobQueue._reporter``)."""

    __slots__ = (
        "applied_progress",
        "attempt",
        "attempts_made",
        "cancelling",
        "current",
        "dependents",
        "ended_at",
        "error",
        "flush_scheduled",
        "holds",
        "job",
        "job_id",
        "kind",
        "message",
        "pending_progress",
        "policy",
        "priority",
        "resources",
        "result",
        "started_at",
        "status",
        "submitted_at",
        "summary",
        "task",
        "timestamp",
        "token",
        "total",
        "waiters",
        "waiting_on",
    )

    def __init__(
        self, job_id: JobId, job: Job, priority: int, now: float, policy: RetryPolicy
    ) -> None:
        self.job_id = job_id
        self.job = job
        self.kind = job.kind
        self.resources = frozenset(job.resources)
        self.priority = priority
        self.policy = policy
        self.status = PENDING
        self.current = 0
        self.total: int | None = None
        self.message = "pending"
        self.timestamp = now
        self.submitted_at = now
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.attempt = 1
        self.attempts_made = 0
        self.cancelling = False
        self.token = CancelToken()
        self.task: asyncio.Task[None] | None = None
        self.waiters: list[asyncio.Future[None]] | None = None
        self.dependents: list[_Record] | None = None
        self.waiting_on = 0
        self.holds = False
        self.result: object = None
        self.error: BaseException | None = None
        self.summary: str | None = None
        self.pending_progress: _ProgressValue | None = None
        self.applied_progress: _ProgressValue | None = None
        self.flush_scheduled = False


class JobQueue:
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
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self.retry = retry or RetryPolicy()
        self.history = history
        self.shutdown_timeout = shutdown_timeout
        self.progress_interval = progress_interval
        """Least seconds between two published progress values of one job (see _reporter)."""
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

    async def __aenter__(self) -> JobQueue:
        self._bind()
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

    def subscribe(self, *, replay: bool = True) -> Subscription:
        """Progress of every job from now on (coalesced per job; see ``Subscription``).

        ``replay`` first delivers the current state of every unfinished job, so a screen
        opened late starts complete.
        """
        sub = Subscription(detach=self._subs.discard)
        if self._shut_down:
            sub.end()
            return sub
        if replay:
            for rec in self._records.values():
                if rec.status in ACTIVE:
                    sub.push(self._snapshot(rec))
        self._subs.add(sub)
        return sub

    def watch(self, *job_ids: JobId) -> Subscription:
        """Progress of the given jobs, starting with their current state; iteration ends
        once each of them reached a terminal status (the CLI's progress bar)."""
        records = [self._record(job_id) for job_id in job_ids]
        sub = Subscription(only=job_ids, until_terminal=True, detach=self._subs.discard)
        for rec in records:
            sub.push(self._snapshot(rec))
        if any(rec.status in ACTIVE for rec in records) and not self._shut_down:
            self._subs.add(sub)
        else:
            sub.end()
        return sub

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

    # --- bookkeeping ------------------------------------------------------------------------

    def _bind(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _record(self, job_id: JobId) -> _Record:
        try:
            return self._records[job_id]
        except KeyError:
            raise UnknownJobError(job_id) from None

    def _snapshot(self, rec: _Record) -> JobProgress:
        return JobProgress(
            rec.job_id,
            rec.kind,
            rec.status,
            rec.current,
            rec.total,
            rec.message,
            rec.timestamp,
            rec.attempt,
            rec.cancelling,
        )

    def _publish(self, rec: _Record) -> None:
        subs = self._subs
        if not subs:
            return
        progress = self._snapshot(rec)
        for sub in subs:
            sub.push(progress)

    def _make_ready(self, rec: _Record) -> None:
        heapq.heappush(self._ready, (-rec.priority, rec.job_id, rec))
        self._schedule_dispatch()

    def _schedule_dispatch(self) -> None:
        if not self._dispatch_scheduled and self._loop is not None:
            self._dispatch_scheduled = True
            self._loop.call_soon(self._dispatch)

    def _dispatch(self) -> None:
        """Start what may start: free workers, free resources, highest priority first.

        A job that finds one of its resources held waits in that resource's own heap, so it
        is not looked at again on every pass. When the resource is free again only the best
        waiter goes back to the ready heap (one job can take the resource; waking all of
        them would re-block all but one, quadratic with a long queue of pulls); if that
        waiter cannot start after all, the next one is woken on the next turn of the loop.
        """
        self._dispatch_scheduled = False
        ready = self._ready
        held = self._held
        blocked = self._blocked
        started = 0
        while self._running < self.workers and not self._closed:
            if blocked:
                for name in [name for name in blocked if name not in held]:
                    waiting = blocked[name]
                    heapq.heappush(ready, heapq.heappop(waiting))
                    if not waiting:
                        del blocked[name]
            if not ready:
                return
            if started >= _DISPATCH_BATCH:
                self._schedule_dispatch()
                return
            entry = heapq.heappop(ready)
            rec = entry[2]
            if rec.status is not PENDING:
                continue  # cancelled while it waited
            if rec.resources and not held.isdisjoint(rec.resources):
                busy = next(iter(rec.resources & held))
                heapq.heappush(blocked.setdefault(busy, []), entry)
                continue
            started += 1
            self._start(rec)

    def _release(self, rec: _Record) -> None:
        rec.holds = False
        self._held.difference_update(rec.resources)
        if self._blocked:
            self._schedule_dispatch()

    # --- running ----------------------------------------------------------------------------

    def _start(self, rec: _Record) -> None:
        now = self._clock()
        rec.status = RUNNING
        rec.started_at = rec.timestamp = now
        rec.message = "running"
        if rec.resources:
            self._held.update(rec.resources)
            rec.holds = True
        self._running += 1
        self._publish(rec)
        job = rec.job
        if job.blocking:
            self._spawn(rec, self._drive(rec))
            return
        try:  # an instant job: its first attempt runs right here, without a task
            value = job.run(self._context(rec))
        except Exception as exc:
            if self._retry_delay(rec, exc) is None:
                self._end_with_error(rec, exc)
            else:
                self._spawn(rec, self._drive(rec, error=exc))
            return
        if inspect.isawaitable(value):
            self._spawn(rec, self._drive(rec, first=value))
            return
        self._complete(rec, value)

    def _spawn(self, rec: _Record, coro: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coro, name=f"ticketflow-job-{rec.job_id}-{rec.kind}")
        rec.task = task
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._task_done(rec, t))

    def _task_done(self, rec: _Record, task: asyncio.Task[None]) -> None:
        """The safety net: a task that ended without settling its job (cancelled before its
        first step, or a bug in the queue) still leaves the job in a terminal state."""
        self._tasks.discard(task)
        if rec.status in TERMINAL:
            return
        if task.cancelled():
            self._end_cancelled(rec, None)
        else:
            exc = task.exception()
            self._end_with_error(rec, exc if isinstance(exc, Exception) else RuntimeError(exc))

    def _context(self, rec: _Record) -> JobContext:
        rec.attempts_made += 1
        # a new callback per attempt, not one kept on the record: record -> callback ->
        # record would be a reference cycle per job, left for the cyclic GC to find
        return JobContext(
            rec.job_id, rec.kind, rec.attempt, rec.policy.attempts, rec.token, self._reporter(rec)
        )

    def _reporter(self, rec: _Record) -> ProgressCallback:
        """The job's ``ctx.progress``: callable from any thread, never blocks.

        It parks the value on the record and wakes the loop only when no wake-up is pending.
        After publishing, the loop keeps the flag set for ``progress_interval`` and then
        publishes whatever arrived meanwhile, so a job reporting millions of times a second
        costs the loop (and, through the GIL, the job) a few dozen wake-ups a second, while
        the first value after a quiet spell still shows at once. The flag is cleared before
        the value is read again, and the job stores the value before testing the flag, so
        the last value is never stranded.
        """
        loop = self._loop
        assert loop is not None
        flush = self._flush_progress
        clock = self._clock

        def progress(current: int, total: int | None, message: str) -> None:
            rec.pending_progress = (current, total, message, clock())
            if not rec.flush_scheduled:
                rec.flush_scheduled = True
                # a closed loop (a thread outliving its queue): nobody is listening any more
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(flush, rec)

        return progress

    def _flush_progress(self, rec: _Record) -> None:
        """Publish the parked value, then hold further wake-ups for ``progress_interval``."""
        if rec.status is not RUNNING:
            rec.flush_scheduled = False
            return
        self._apply_progress(rec)
        self._publish(rec)
        assert self._loop is not None
        self._loop.call_later(self.progress_interval, self._progress_tick, rec)

    def _progress_tick(self, rec: _Record) -> None:
        if rec.status is RUNNING and rec.pending_progress is not rec.applied_progress:
            self._flush_progress(rec)  # more came meanwhile: publish it, wait again
            return
        rec.flush_scheduled = False
        if rec.status is RUNNING and rec.pending_progress is not rec.applied_progress:
            rec.flush_scheduled = True  # it arrived just as we cleared the flag
            self._flush_progress(rec)

    def _apply_progress(self, rec: _Record) -> None:
        value = rec.pending_progress
        if value is None or value is rec.applied_progress:
            return
        rec.applied_progress = value
        rec.current, rec.total, message, rec.timestamp = value
        if rec.cancelling:  # keep saying so until the work has really stopped
            message = f"cancelling ({message})" if message else "cancelling"
        rec.message = message

    async def _drive(
        self,
        rec: _Record,
        *,
        first: Awaitable[object] | None = None,
        error: Exception | None = None,
    ) -> None:
        """Attempts, retry delays and the job's ending, inside the job's task."""
        try:
            while True:
                if error is None:
                    try:
                        if first is not None:
                            awaitable, first = first, None
                            value = await awaitable
                        else:
                            value = await self._attempt(rec)
                    except Exception as exc:
                        error = exc
                    else:
                        self._complete(rec, value)
                        return
                delay = self._retry_delay(rec, error)
                if delay is None:
                    self._end_with_error(rec, error)
                    return
                rec.attempt += 1
                rec.message = (
                    f"retrying in {format_delay(delay)} "
                    f"(attempt {rec.attempt}/{rec.policy.attempts}): {_error_text(error)}"
                )
                rec.timestamp = self._clock()
                self._publish(rec)
                error = None
                await self._sleep(delay)
                if rec.token.cancelled:
                    self._end_cancelled(rec, None)
                    return
        except asyncio.CancelledError:
            # Only a retry delay or an asynchronous job is interrupted this way (a thread is
            # waited for in _await_thread), so the work has stopped.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            self._end_cancelled(rec, None)
        except _Abandoned:
            self._end_with_error(
                rec,
                TicketflowError(
                    f"{rec.kind} job {rec.job_id} did not stop within "
                    f"{self._abandon or 0:g} s of the shutdown; abandoned",
                    hint="its thread ignores the cancel token: a bug in the job",
                ),
                force_failed=True,
            )

    async def _attempt(self, rec: _Record) -> object:
        ctx = self._context(rec)
        job = rec.job
        if not job.blocking:
            value = job.run(ctx)
            if inspect.isawaitable(value):
                value = await value
            return value
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.workers, thread_name_prefix="ticketflow-job"
            )
        return await self._await_thread(rec, self._executor.submit(job.run, ctx))

    async def _await_thread(self, rec: _Record, work: ConcurrentFuture[object]) -> object:
        """The thread's result; a cancel of the task does not stop the wait, because the
        job may only be reported cancelled once its thread has returned."""
        future = asyncio.wrap_future(work, loop=self._loop)
        while True:
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
                if work.cancelled() or work.cancel():  # it never started: nothing to wait for
                    raise CancelledError(rec.token.reason or "cancelled") from None
                if self._abandon is not None:
                    raise _Abandoned from None
                if not rec.token.cancelled:  # the task was cancelled by someone else
                    rec.token.cancel()

    def _retry_delay(self, rec: _Record, error: Exception) -> float | None:
        """Seconds before the next attempt, or None if ``error`` must end the job."""
        if rec.token.cancelled or isinstance(error, CancelledError):
            return None
        if not (isinstance(error, TicketflowError) and error.transient):
            return None
        if rec.attempt >= rec.policy.attempts:
            return None
        return rec.policy.delay_before(rec.attempt + 1, self._rng)

    # --- endings ----------------------------------------------------------------------------

    def _complete(self, rec: _Record, value: object) -> None:
        try:
            summary = rec.job.summarize(value)
        except Exception as exc:  # a broken summary must not lose the result
            summary = f"(no summary: {type(exc).__name__}: {exc})"
        rec.summary = summary
        message = f"completed: {summary}" if summary else "completed"
        self._finish(rec, COMPLETED, result=value, message=message)

    def _end_with_error(
        self, rec: _Record, error: Exception, *, force_failed: bool = False
    ) -> None:
        if not force_failed and (rec.token.cancelled or isinstance(error, CancelledError)):
            self._end_cancelled(rec, error)
            return
        if not isinstance(error, TicketflowError):
            wrapped = JobFailedError(rec.job_id, rec.kind, error)
            wrapped.__cause__ = error
            error = wrapped
        self._finish(rec, FAILED, error=error, message=f"failed: {_error_text(error)}")

    def _end_cancelled(self, rec: _Record, error: Exception | None) -> None:
        """Cancelled, keeping what the job said it got done (``partial``)."""
        if rec.status is RUNNING:
            self._apply_progress(rec)  # the partial may come from the last parked value
        partial: str | None = None
        detail: str | None = None
        reason = rec.token.reason or "cancelled"
        if isinstance(error, CancelledError):
            partial = error.partial
            said = _without_partial(error)
            if said not in ("cancelled", reason) and not partial:  # "fetch cancelled" adds
                detail = said  # nothing to "cancelled: 45/120 objects"; other words might
            reason = said
        elif error is not None:  # the cancel surfaced as another error (a libgit2 abort)
            detail = _error_text(error)
        if partial is None and rec.current:
            partial = f"{rec.current:,}/{rec.total:,}" if rec.total else f"{rec.current:,}"
        message = "cancelled"
        if partial:
            message += f": {partial}"
        if detail:
            message += f" ({detail})"
        if isinstance(error, CancelledError) and (error.partial or not partial):
            final = error
        else:
            final = CancelledError(reason, partial=partial)
            final.__cause__ = error
        self._finish(rec, CANCELLED, error=final, message=message)

    def _cancel_dependent(self, rec: _Record, dep: _Record) -> None:
        what = "failed" if dep.status is FAILED else "was cancelled"
        reason = f"dependency {dep.job_id} ({dep.kind}) {what}"
        rec.token.cancel(reason)
        self._finish(rec, CANCELLED, error=CancelledError(reason), message=f"cancelled: {reason}")

    def _finish(
        self,
        rec: _Record,
        status: JobStatus,
        *,
        result: object = None,
        error: BaseException | None = None,
        message: str,
    ) -> None:
        was_running = rec.status is RUNNING
        if was_running:  # the last progress may still be parked: the final state shows it
            self._apply_progress(rec)
        rec.status = status
        rec.message = message
        rec.result = result
        rec.error = error
        rec.cancelling = False
        rec.ended_at = rec.timestamp = self._clock()
        rec.task = None
        if rec.holds:
            self._release(rec)
        if was_running:
            self._running -= 1
            self._schedule_dispatch()
        self._active -= 1
        waiters, rec.waiters = rec.waiters, None
        if waiters:
            for future in waiters:
                if not future.done():
                    future.set_result(None)
        self._publish(rec)
        if self.history is not None:
            self._remember(rec)
        if rec.dependents:
            self._settle_dependents(rec)
        if self._keep_finished is not None:
            finished = self._finished
            finished.append(rec.job_id)
            if len(finished) > self._keep_finished:
                self._records.pop(finished.popleft(), None)
        if self._active == 0 and self._idle is not None:
            self._idle.set()

    def _settle_dependents(self, rec: _Record) -> None:
        """Release or cancel the jobs waiting for ``rec``, without recursion (a chain of
        10,000 ``after`` jobs cancels in a loop, not 10,000 frames deep)."""
        self._cascade.append(rec)
        if self._cascading:
            return
        self._cascading = True
        try:
            while self._cascade:
                done = self._cascade.pop()
                dependents, done.dependents = done.dependents, None
                for dep in dependents or ():
                    if dep.status is not PENDING:
                        continue
                    if done.status is COMPLETED:
                        dep.waiting_on -= 1
                        if dep.waiting_on == 0:
                            self._make_ready(dep)
                    else:
                        self._cancel_dependent(dep, done)
        finally:
            self._cascading = False

    # --- history ------------------------------------------------------------------------------

    def _remember(self, rec: _Record) -> None:
        try:
            arguments = rec.job.arguments()
        except Exception as exc:
            arguments = {"error": f"arguments() failed: {type(exc).__name__}: {exc}"}
        assert rec.ended_at is not None
        self._history_buffer.append(
            HistoryEntry(
                job_id=rec.job_id,
                kind=rec.kind,
                arguments=arguments,
                status=rec.status.value,
                priority=rec.priority,
                attempts=rec.attempts_made,
                submitted_at=rec.submitted_at,
                started_at=rec.started_at,
                ended_at=rec.ended_at,
                result=rec.summary,
                error=None if rec.error is None else describe_error(rec.error),
            )
        )
        if self._history_flush is None:
            self._start_history_flush()

    def _start_history_flush(self) -> None:
        """Write what is buffered in one transaction on the history thread; entries that
        arrive meanwhile form the next batch, so a burst of jobs costs a few writes."""
        assert self._loop is not None and self.history is not None
        batch, self._history_buffer = self._history_buffer, []
        if self._history_executor is None:
            self._history_executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="ticketflow-history"
            )
        future = self._loop.run_in_executor(self._history_executor, self.history.append, batch)
        self._history_flush = future
        future.add_done_callback(self._history_flushed)

    def _history_flushed(self, future: asyncio.Future[int]) -> None:
        self._history_flush = None
        if not future.cancelled() and future.exception() is not None:
            log.error("job history: writing failed", exc_info=future.exception())
        if self._history_buffer and not self._shut_down:
            self._start_history_flush()

    async def _flush_history_now(self) -> None:
        if self.history is None:
            return
        while self._history_flush is not None or self._history_buffer:
            if self._history_flush is None:
                self._start_history_flush()
            assert self._history_flush is not None
            await asyncio.wait([self._history_flush])
        if self._history_executor is not None:
            await self._bind().run_in_executor(self._history_executor, self.history.close)
