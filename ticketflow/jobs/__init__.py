"""The job queue: background work (pull, push, scan) with progress, cancel, retry, history.

The public names are re-exported here; the pieces live in one module each:
``status`` (JobStatus), ``job`` (Job, FunctionJob, JobContext), ``progress`` (JobProgress,
Subscription), ``retry`` (RetryPolicy), ``queue`` (JobQueue, its public face), ``record``
(what it keeps per job), ``fanout`` (progress from the worker to the subscribers),
``lifecycle`` (dispatch, attempts, endings), ``history`` (JobHistory, load_history),
``settings`` (the ``jobs:`` config section), ``work`` (what a job runs, by kind),
``runners`` (in this process or in a child), ``actions`` (the TUI's ticket actions),
``scan`` (ScanJob), ``git`` (pull, push, sync).
Nothing here imports textual, rich or pygit2.
"""

from __future__ import annotations

from ticketflow.jobs.errors import JobFailedError, QueueClosedError, UnknownJobError
from ticketflow.jobs.history import HistoryEntry, JobHistory, history_path, load_history
from ticketflow.jobs.job import FunctionJob, Job, JobContext, JobId, WorkJob
from ticketflow.jobs.progress import JobProgress, Subscription
from ticketflow.jobs.queue import JobQueue, describe_error
from ticketflow.jobs.retry import NO_RETRY, RetryPolicy, format_delay
from ticketflow.jobs.runners import IN_PROCESS, ISOLATED, Runner
from ticketflow.jobs.settings import JobSettings, parse_job_settings
from ticketflow.jobs.status import ACTIVE, TERMINAL, JobStatus
from ticketflow.jobs.work import Work

__all__ = [
    "ACTIVE",
    "IN_PROCESS",
    "ISOLATED",
    "NO_RETRY",
    "TERMINAL",
    "FunctionJob",
    "HistoryEntry",
    "Job",
    "JobContext",
    "JobFailedError",
    "JobHistory",
    "JobId",
    "JobProgress",
    "JobQueue",
    "JobSettings",
    "JobStatus",
    "QueueClosedError",
    "RetryPolicy",
    "Runner",
    "Subscription",
    "UnknownJobError",
    "Work",
    "WorkJob",
    "describe_error",
    "format_delay",
    "history_path",
    "load_history",
    "parse_job_settings",
]
