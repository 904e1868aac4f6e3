"""What the queue runs: the ``Job`` base, the context a job's work receives, ``FunctionJob``.

A job is a description (its kind, the resources it holds, its arguments for the history)
plus one ``run(ctx)``. ``run`` is plain blocking code executed in a worker thread, because
the real work (pygit2 transfers, parsing files) blocks; it reports through
``ctx.progress`` and stops when ``ctx.cancel`` is set, so it never needs to know about
asyncio. Every job runs in a worker thread: no job of ticketflow's is instant, so the queue
has one way to run work and one way to cancel it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NewType

from ticketflow.cancel import CancelToken, ProgressCallback
from ticketflow.jobs.retry import RetryPolicy

if TYPE_CHECKING:
    from ticketflow.jobs.runners import Runner
    from ticketflow.jobs.work import Work

JobId = NewType("JobId", int)
"""A job's number in its queue: issued in submit order, never reused by that queue."""


@dataclass(frozen=True, slots=True)
class JobContext:
    """What one attempt of a job's work receives.

    ``progress`` may be called from the worker thread as often as the work likes: it only
    records the latest value and never blocks (the queue publishes it on the event loop).
    ``cancel`` is shared by every attempt of the job, so a cancel during a retry delay also
    stops the next attempt. ``runner`` is where the job's ``Work`` runs: the queue's
    (``jobs.runners``).
    """

    job_id: JobId
    kind: str
    attempt: int
    """1 for the first try, 2 for the first retry, ..."""
    attempts: int
    """The most attempts this job may make (from its retry policy)."""
    cancel: CancelToken
    progress: ProgressCallback
    runner: Runner


class Job:
    """Base of every job. Subclasses set ``kind`` and implement ``run``.

    ``resources``: names of what the job needs alone; two jobs sharing a name never run at
    the same time (pull and push both hold ``"repo"``; a scan does not, so it runs beside
    them). ``retry``: None means the queue's policy.
    """

    kind: str = "job"
    resources: frozenset[str] = frozenset()
    retry: RetryPolicy | None = None

    def arguments(self) -> dict[str, object]:
        """What the job was asked to do, JSON-able, for the history and ``ticketflow jobs``."""
        return {}

    def run(self, ctx: JobContext) -> object:
        """Do the work and return its result; raise ``TicketflowError`` to fail.

        Transient errors (``error.transient``) are retried by the queue; a
        ``CancelledError(partial=...)`` raised after ``ctx.cancel`` is set reports how far the
        work got.
        """
        raise NotImplementedError

    def summarize(self, result: object) -> str | None:
        """One line about the result for the history and the final progress message."""
        if result is None:
            return None
        text = str(result)
        return text if len(text) <= 200 else text[:197] + "..."

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} {self.arguments()!r}>"


class FunctionJob(Job):
    """A job made from a function of the context: the quickest way to put work in the queue.

        FunctionJob("pull", lambda ctx: pull(root, progress=ctx.progress,
                    cancel=ctx.cancel), resources={"repo"}, arguments={"remote": "origin"})

    The function runs in a worker thread, like every job's ``run``.
    """

    def __init__(
        self,
        kind: str,
        fn: Callable[[JobContext], object],
        *,
        resources: Iterable[str] = (),
        arguments: Mapping[str, object] | None = None,
        retry: RetryPolicy | None = None,
        summarize: Callable[[object], str | None] | None = None,
    ) -> None:
        self.kind = kind
        self.fn = fn
        self.resources = frozenset(resources)
        self._arguments = dict(arguments or {})
        self.retry = retry
        self._summarize = summarize

    def arguments(self) -> dict[str, object]:
        return dict(self._arguments)

    def run(self, ctx: JobContext) -> object:
        return self.fn(ctx)

    def summarize(self, result: object) -> str | None:
        if self._summarize is not None:
            return self._summarize(result)
        return super().summarize(result)


class WorkJob(Job):
    """A job that describes its work (``jobs.work.Work``) and leaves the running to
    ``ctx.runner``, the queue's choice: the pull, push and scan jobs.
    """

    def __init__(
        self,
        work: Work,
        *,
        resources: Iterable[str] = (),
        arguments: Mapping[str, object] | None = None,
        summarize: Callable[[object], str | None] | None = None,
    ) -> None:
        self.work = work
        self.kind = work.kind
        self.resources = frozenset(resources)
        self._arguments = dict(arguments or {})
        self._summarize = summarize

    def arguments(self) -> dict[str, object]:
        return dict(self._arguments)

    def run(self, ctx: JobContext) -> object:
        return ctx.runner.run(self.work, ctx.progress, ctx.cancel)

    def summarize(self, result: object) -> str | None:
        if self._summarize is not None:
            return self._summarize(result)
        return super().summarize(result)
