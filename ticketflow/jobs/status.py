"""The one status enum of a job, and the sets derived from it.

Every consumer (the CLI's progress bar, the TUI's status widget, the history) asks the same
questions: is the job still going, did it end, did it end well? Deriving ``TERMINAL`` and
``ACTIVE`` from the enum here means nobody keeps a private list that drifts when a status
is added.
"""

from __future__ import annotations

import enum


class JobStatus(enum.Enum):
    """Where a job is in its life: pending -> running -> completed | failed | cancelled.

    A pending job may also go straight to cancelled (cancelled before it started, a
    dependency that did not complete, the queue shutting down). Nothing leaves a terminal
    status.
    """

    PENDING = "pending"
    """Submitted and waiting: for a free worker, a resource another job holds, or a job it
    runs ``after``."""

    RUNNING = "running"
    """Its work has started and not yet stopped; this includes waiting between retries and
    the time between a cancel request and the moment the work really stops ("cancelling")."""

    COMPLETED = "completed"
    """The work returned a result; ``JobQueue.wait`` returns it."""

    FAILED = "failed"
    """The work raised an error that is permanent, or transient with no attempt left;
    ``JobQueue.wait`` raises it."""

    CANCELLED = "cancelled"
    """A cancel stopped the job, or it never started; any partial result is in the message and
    in the ``CancelledError`` that ``JobQueue.wait`` raises."""

    @property
    def is_terminal(self) -> bool:
        """True once the job will never change again."""
        return self in TERMINAL


TERMINAL: frozenset[JobStatus] = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}
)
"""The statuses a job ends in: its result or error is known and its work has stopped."""

ACTIVE: frozenset[JobStatus] = frozenset(set(JobStatus) - TERMINAL)
"""The statuses of a job that may still change (pending or running)."""
