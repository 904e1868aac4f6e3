"""Errors of the job queue, members of the one ``TicketflowError`` family.

They live beside the queue because only the queue raises them; the CLI maps them to exit
codes through the family's ``exit_code`` like any other error.
"""

from __future__ import annotations

from ticketflow.errors import TicketflowError


class UnknownJobError(TicketflowError):
    """A job id this queue never issued, or one so old its record was dropped."""

    exit_code = 4
    kind = "unknown_job"
    error_code = "JOB_NOT_FOUND"

    def __init__(self, job_id: int) -> None:
        super().__init__(
            f"no job {job_id} in this queue",
            hint="run 'ticketflow jobs' to see the jobs that ran",
        )
        self.job_id = job_id

    def details(self) -> dict[str, object]:
        return {"job_id": self.job_id}


class QueueClosedError(TicketflowError):
    """``submit`` after ``shutdown``: a closed queue would never run the job."""

    kind = "queue_closed"
    error_code = "QUEUE_CLOSED"


class JobFailedError(TicketflowError):
    """A job failed with an exception outside the ``TicketflowError`` family (a bug).

    The original exception is kept as ``original`` and as ``__cause__`` so its traceback is
    not lost, while callers (the CLI, the TUI) still receive one error family with a message
    that names the exception's type.
    """

    kind = "job_failed"
    error_code = "JOB_FAILED"

    def __init__(self, job_id: int, job_kind: str, original: BaseException) -> None:
        self.error_type = type(original).__name__
        super().__init__(
            f"{job_kind} job {job_id} failed: {self.error_type}: {original}",
            hint="this is a bug in ticketflow; please report it with the message above",
        )
        self.job_id = job_id
        self.original = original

    def details(self) -> dict[str, object]:
        return {"job_id": self.job_id, "error_type": self.error_type}
