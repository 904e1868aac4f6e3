"""How progress leaves a job: parked by the worker, published on the loop, fanned out.

The job's ``ctx.progress`` never blocks and never waits for a listener; the loop publishes
a snapshot to every ``Subscription``, each of which keeps the latest value per job. Part of
``JobQueue`` (a base class of it), split out so the progress path reads in one place.
"""

from __future__ import annotations

import contextlib

from ticketflow.cancel import ProgressCallback
from ticketflow.jobs.job import JobId
from ticketflow.jobs.progress import JobProgress, Subscription
from ticketflow.jobs.record import RUNNING, _QueueState, _Record
from ticketflow.jobs.status import ACTIVE


class _FanOut(_QueueState):
    """``subscribe``/``watch`` and the progress path of ``JobQueue``."""

    progress_interval: float

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

    def _reporter(self, rec: _Record) -> ProgressCallback:
        """The job's ``ctx.progress``: callable from any thread, never blocks.

        It parks the value on the record and wakes the loop only when no wake-up is pending.
        After publishing, the loop keeps the flag set for ``progress_interval`` and then
        publishes whatever arrived meanwhile, so a job reporting millions of times a second
        costs the loop (and, through the GIL, the job) a few dozen wake-ups a second, while
        the first value after a quiet spell still shows at once. The flag is cleared before
        the value is read again, and the job stores the value before testing the flag, so
        the last value is never stranded (and ``_finish`` applies a parked value before the
        terminal state is published). This is the only place progress is held back for
        time, whichever runner runs the work.
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
