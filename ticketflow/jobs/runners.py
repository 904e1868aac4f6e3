"""Where work runs: in this process, or in a child process. A face chooses once.

Jobs describe what to do (``jobs.work.Work``); the runner is how. The queue hands every job
its runner through ``JobContext.runner`` (the queue's own unless the job names one), and a
face picks the queue's runner once: the TUI ``ISOLATED`` (parsing and most pygit2 calls hold
the GIL for tenths of a second on a large repository; in a thread of the TUI's process they
would freeze frames), the library and the CLI's queue ``IN_PROCESS``. The TUI's ticket
actions call the same runner from a thread worker.

A runner's ``run`` blocks until the work is done, so it is called from a worker thread (the
queue's, or a Textual thread worker), never on an event loop; it reports through
``progress`` and stops when ``cancel`` is set. Both runners return the same value for the
same work, or raise the same ``TicketflowError``.
"""

from __future__ import annotations

from typing import Protocol

from ticketflow.cancel import CancelToken, ProgressCallback
from ticketflow.jobs.work import Work, kind_of

__all__ = ["IN_PROCESS", "ISOLATED", "InProcessRunner", "IsolatedRunner", "Runner"]


class Runner(Protocol):
    """Runs a ``Work`` to its result (see the module docstring)."""

    def run(self, work: Work, progress: ProgressCallback, cancel: CancelToken) -> object: ...


class InProcessRunner:
    """The work's core call, right here in the calling thread."""

    def run(self, work: Work, progress: ProgressCallback, cancel: CancelToken) -> object:
        call = kind_of(work.kind).call
        return call(work.store, work.options, progress=progress, cancel=cancel, watch=None)

    def __repr__(self) -> str:
        return "IN_PROCESS"


class IsolatedRunner:
    """The work in a child process (``ticketflow.isolated``): progress comes back line by
    line, a cancel is a line to the child, which a transfer in its network phase obeys at
    once; the JSON result is decoded into the value the in-process call returns."""

    def run(self, work: Work, progress: ProgressCallback, cancel: CancelToken) -> object:
        from ticketflow.isolated import run_isolated  # pygit2 is imported by the child only

        kind = kind_of(work.kind)
        data = run_isolated(work.kind, work.store.root, progress, cancel, dict(work.options))
        return kind.decode(data)

    def __repr__(self) -> str:
        return "ISOLATED"


IN_PROCESS = InProcessRunner()
ISOLATED = IsolatedRunner()
