"""A job's life in the queue: dispatch, attempts and retries, its ending, its history entry.

Part of ``JobQueue`` (a base class of it); see the queue's module docstring for the rules.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
from collections import deque
from collections.abc import Coroutine
from concurrent.futures import Future as ConcurrentFuture
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ticketflow.errors import CancelledError, TicketflowError
from ticketflow.jobs.errors import JobFailedError
from ticketflow.jobs.fanout import _FanOut
from ticketflow.jobs.history import HistoryEntry, JobHistory
from ticketflow.jobs.job import JobContext, JobId
from ticketflow.jobs.record import (
    CANCELLED,
    COMPLETED,
    FAILED,
    PENDING,
    RUNNING,
    Sleep,
    _Abandoned,
    _error_text,
    _ReadyEntry,
    _Record,
    describe_error,
)
from ticketflow.jobs.retry import format_delay
from ticketflow.jobs.runners import Runner
from ticketflow.jobs.status import TERMINAL, JobStatus

log = logging.getLogger("ticketflow.jobs")

_DISPATCH_BATCH = 512
"""Most jobs started per loop callback, so a burst of submitted jobs cannot starve the loop."""


class _Lifecycle(_FanOut):
    """Scheduling, running and ending jobs, for ``JobQueue``."""

    workers: int
    runner: Runner
    history: JobHistory | None
    _sleep: Sleep
    _rng: random.Random
    _keep_finished: int | None
    _finished: deque[JobId]
    _ready: list[_ReadyEntry]
    _blocked: dict[str, list[_ReadyEntry]]
    _held: set[str]
    _running: int
    _active: int
    _idle: asyncio.Event | None
    _dispatch_scheduled: bool
    _cascade: list[_Record]
    _cascading: bool
    _tasks: set[asyncio.Task[None]]
    _executor: ThreadPoolExecutor | None
    _history_executor: ThreadPoolExecutor | None
    _history_buffer: list[HistoryEntry]
    _history_flush: asyncio.Future[int] | None
    _abandon: float | None

    # --- scheduling ---------------------------------------------------------------------------

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
        self._spawn(rec, self._drive(rec))

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
            rec.job_id,
            rec.kind,
            rec.attempt,
            rec.policy.attempts,
            rec.token,
            self._reporter(rec),
            self.runner,
        )

    async def _drive(self, rec: _Record) -> None:
        """Attempts, retry delays and the job's ending, inside the job's task."""
        try:
            while True:
                try:
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
                await self._sleep(delay)
                if rec.token.cancelled:
                    self._end_cancelled(rec, None)
                    return
        except asyncio.CancelledError:
            # Only a retry delay is interrupted this way (a thread is waited for in
            # _await_thread), so the work has stopped.
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
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.workers, thread_name_prefix="ticketflow-job"
            )
        return await self._await_thread(rec, self._executor.submit(rec.job.run, ctx))

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
            said = error.reason
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
