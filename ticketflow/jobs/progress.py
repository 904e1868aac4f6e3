"""Progress values and the coalescing subscription that carries them to listeners.

Workers must never wait for a listener: a terminal drawing slowly, a TUI busy with a
repaint or a script that reads once a second must not slow a fetch. So a subscription is a
mailbox holding at most one value per job: a new value replaces the unread one (the latest
progress is all a status bar needs), and because nothing follows a terminal state, the
terminal state of every job is always delivered. Memory is bounded by the number of jobs,
never by the rate of progress.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType

from ticketflow.jobs.job import JobId
from ticketflow.jobs.status import TERMINAL, JobStatus


@dataclass(frozen=True, slots=True)
class JobProgress:
    """One observation of a job: its status and how far its work has got.

    ``total`` is None while the work does not know how much there is (a fetch before the
    server announced its object count). ``cancelling`` is True between a cancel request and
    the moment the work really stops; the status stays ``RUNNING`` until then.
    ``timestamp`` is seconds since the epoch (the queue's clock).
    """

    job_id: JobId
    kind: str
    status: JobStatus
    current: int
    total: int | None
    message: str
    timestamp: float
    attempt: int = 1
    cancelling: bool = False

    @property
    def percentage(self) -> float | None:
        """0-100 when the total is known, else None (a bar shows a spinner instead)."""
        if self.total is None or self.total <= 0:
            return None
        return max(0.0, min(100.0, 100.0 * self.current / self.total))

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def to_dict(self) -> dict[str, object]:
        """The JSON shape, for ``--format json`` and scripts."""
        return {
            "job_id": self.job_id,
            "kind": self.kind,
            "status": self.status.value,
            "current": self.current,
            "total": self.total,
            "percentage": self.percentage,
            "message": self.message,
            "timestamp": self.timestamp,
            "attempt": self.attempt,
            "cancelling": self.cancelling,
        }


class Subscription:
    """An async iterator of ``JobProgress``: the latest value per job, every terminal state.

    Created by ``JobQueue.subscribe()`` or ``JobQueue.watch()`` and registered at once, so
    nothing published after that call is missed. Iteration ends after the queue shuts down
    (once what was pending is read), or, for ``watch``, after the watched jobs ended. Use it
    as ``async with`` or call ``close()`` when leaving early; a subscription nobody
    references is dropped by the queue on its own. One reader per subscription: each
    screen or progress bar takes its own.
    """

    def __init__(
        self,
        *,
        only: Iterable[JobId] | None = None,
        until_terminal: bool = False,
        detach: Callable[[Subscription], None] | None = None,
    ) -> None:
        self._only = frozenset(only) if only is not None else None
        self._remaining = set(self._only) if (until_terminal and self._only is not None) else None
        self._pending: dict[JobId, JobProgress] = {}
        self._order: deque[JobId] = deque()
        """The jobs in ``_pending``, oldest first (a replaced value keeps its place)."""
        self._waiter: asyncio.Future[None] | None = None
        self._ended = False
        self._detach = detach
        self.coalesced = 0
        """How many values were replaced before being read: how far behind the reader is."""

    # --- the queue's side ------------------------------------------------------------------

    def push(self, progress: JobProgress) -> None:
        """Store ``progress``, replacing this job's unread value; never blocks."""
        if self._ended or (self._only is not None and progress.job_id not in self._only):
            return
        pending = self._pending
        if progress.job_id in pending:
            self.coalesced += 1
        else:
            self._order.append(progress.job_id)
        pending[progress.job_id] = progress
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def end(self) -> None:
        """No more values will come (the queue shut down); readers drain what is pending."""
        self._ended = True
        self._detach = None
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- the reader's side -----------------------------------------------------------------

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> JobProgress:
        while not self._pending:
            if self._ended:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        job_id = self._order.popleft()  # not next(iter(dict)): O(n) after many pops
        progress = self._pending.pop(job_id)
        remaining = self._remaining
        if remaining is not None and progress.status in TERMINAL:
            remaining.discard(job_id)
            if not remaining:
                self.close(keep_pending=True)
        return progress

    def close(self, *, keep_pending: bool = False) -> None:
        """Stop receiving; iteration ends once pending values are read (or at once)."""
        detach, self._detach = self._detach, None
        if detach is not None:
            detach(self)
        if not keep_pending:
            self._pending.clear()
            self._order.clear()
        self.end()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
