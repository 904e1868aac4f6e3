"""What the queue keeps per job (``_Record``) and the words it uses for a job's error.

The state every part of the queue shares: the record of each job, the statuses by short
name, and ``_QueueState``, the attributes the queue's parts (``fanout``, ``lifecycle``,
``queue``) read and write, declared once so each part type-checks on its own.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ticketflow.cancel import CancelToken
from ticketflow.errors import TicketflowError
from ticketflow.jobs.errors import JobFailedError, UnknownJobError
from ticketflow.jobs.job import Job, JobId
from ticketflow.jobs.retry import RetryPolicy
from ticketflow.jobs.status import JobStatus

if TYPE_CHECKING:
    from ticketflow.jobs.progress import Subscription

PENDING = JobStatus.PENDING
RUNNING = JobStatus.RUNNING
COMPLETED = JobStatus.COMPLETED
FAILED = JobStatus.FAILED
CANCELLED = JobStatus.CANCELLED

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


class _QueueState:
    """The attributes ``JobQueue.__init__`` sets that more than one part of the queue uses."""

    _loop: asyncio.AbstractEventLoop | None
    _records: dict[JobId, _Record]
    _subs: weakref.WeakSet[Subscription]
    _shut_down: bool
    _closed: bool
    _clock: Callable[[], float]

    def _bind(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _record(self, job_id: JobId) -> _Record:
        try:
            return self._records[job_id]
        except KeyError:
            raise UnknownJobError(job_id) from None
