"""Running jobs from the command line: the job queue driven to the end with a live
progress display (a rich bar on a terminal, plain lines on a pipe, nothing in JSON mode);
Ctrl+C and SIGTERM cancel the jobs for real. The only module outside the TUI that imports
rich."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ticketflow.cli.output import EXIT_INTERRUPTED, EXIT_TERMINATED, Output
from ticketflow.errors import CancelledError, TicketflowError
from ticketflow.textsafe import one_line

if TYPE_CHECKING:
    from ticketflow.jobs import JobId, JobQueue
    from ticketflow.store import TicketStore


class _Terminated(CancelledError):
    """A job cancelled because the process got SIGTERM: the same error, exit code 143."""

    exit_code = EXIT_TERMINATED

    def details(self) -> dict[str, object]:
        return {**super().details(), "signal": "SIGTERM"}


def run_jobs(
    out: Output,
    title: str,
    store: TicketStore,
    submit: Callable[[JobQueue], list[JobId]],
    *,
    isolated: bool = False,
) -> list[object]:
    """Run jobs through the job queue with a live progress display; return their results.

    ``isolated`` gives the queue the isolated runner: the network commands take it, because
    only in a child can a transfer stuck in a blocking read be abandoned at once (a cancel,
    the low-speed rule); ``scan`` runs in this process.

    Ctrl+C (SIGINT) or SIGTERM cancels them for real: a transfer, which runs in a child
    process (``ticketflow.isolated``), is abandoned at once while in its network phase and
    stops cooperatively after it. We wait until the jobs have ended, so the job history
    records them as cancelled, and exit 130 (SIGINT) or 143 (SIGTERM). A second signal
    quits at once, without waiting (a child past its point of no return finishes alone).
    The handlers stay installed until the queue has shut down and written the history.
    """
    import asyncio
    import signal

    from ticketflow.jobs import IN_PROCESS, ISOLATED, JobQueue, JobSettings, JobStatus

    display = ProgressDisplay(out, title)
    received: list[int] = []

    async def drive() -> list[object]:
        loop = asyncio.get_running_loop()
        queue: JobQueue | None = None
        ids: list[JobId] = []

        def on_signal(signum: int) -> None:
            if received:  # a second one: quit now
                display.close()
                click.echo("\nOperation cancelled", err=True)
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED)
            received.append(signum)
            reason = "terminated" if signum == signal.SIGTERM else "interrupted"
            if queue is not None:
                for job_id in ids:
                    queue.cancel(job_id, reason)
            again = "Ctrl+C" if signum == signal.SIGINT else "signal"
            display.update(0, None, f"cancelling... ({again} again to quit at once)")

        handled = (signal.SIGINT, signal.SIGTERM)
        for signum in handled:
            loop.add_signal_handler(signum, on_signal, signum)
        try:
            async with JobQueue.for_repo(
                store.root,
                JobSettings.from_config(store.config),
                runner=ISOLATED if isolated else IN_PROCESS,
            ) as queue:
                ids = submit(queue)
                if received:  # a signal came while the queue started
                    reason = "terminated" if received[0] == signal.SIGTERM else "interrupted"
                    for job_id in ids:
                        queue.cancel(job_id, reason)

                async def redraw() -> None:  # a throttled line is printed later, never dropped
                    while True:
                        await asyncio.sleep(0.25)
                        display.refresh()

                ticker = asyncio.create_task(redraw())
                try:
                    with display:
                        async for progress in queue.watch(*ids):
                            # what a job is doing; "pending", "running" (the queue's words
                            # before the job says anything), "completed: ..." and "failed:
                            # ...": the command's own output or its Error line says those once
                            running = progress.status is JobStatus.RUNNING
                            if running and progress.message != JobStatus.RUNNING.value:
                                display.update(progress.current, progress.total, progress.message)
                            display.refresh()
                        display.refresh(final=True)
                    return [await queue.wait(job_id) for job_id in ids]
                finally:
                    ticker.cancel()
        finally:
            for signum in handled:
                loop.remove_signal_handler(signum)

    try:
        return asyncio.run(drive())
    except CancelledError as exc:
        if received and received[0] == signal.SIGTERM:
            raise _redacted(_Terminated(exc.reason, partial=exc.partial)) from None
        raise _redacted(exc) from None
    except TicketflowError as exc:
        raise _redacted(exc) from None


def _redacted(exc: TicketflowError) -> TicketflowError:
    """``exc`` with every URL in its message and hint redacted: whatever a job's error
    quotes (its sources redact already; this is the last line before stderr)."""
    from ticketflow.redact import redact_text

    exc.message = redact_text(exc.message)
    exc.hint = None if exc.hint is None else redact_text(exc.hint)
    exc.args = (exc.message,)
    return exc


class ProgressDisplay:
    """A rich progress bar on a terminal, plain lines on a pipe, nothing in JSON mode."""

    def __init__(self, out: Output, title: str) -> None:
        import threading

        self.title = title
        self.enabled = not out.json
        self.tty = self.enabled and sys.stderr.isatty()
        self._lock = threading.RLock()  # re-entrant: the SIGINT handler may update mid-refresh
        self._state: tuple[int, int | None, str] = (0, None, "")
        self._printed = ""
        self._printed_at = 0.0
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> ProgressDisplay:
        if self.tty:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.fields[title]}"),
                BarColumn(),
                TextColumn("{task.fields[message]}", markup=False),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                self.title, total=None, title=self.title, message="starting"
            )
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Take the bar off the terminal (and give the cursor back); idempotent."""
        progress, self._progress = self._progress, None
        if progress is not None:
            progress.stop()

    def update(self, current: int, total: int | None, message: str) -> None:
        from ticketflow.redact import redact_text

        with self._lock:  # a remote's own text ("remote: ...") is in some messages
            self._state = (current, total, one_line(redact_text(message)))

    def refresh(self, final: bool = False) -> None:
        """Draw the latest state (main thread only); on a pipe, at most a line a second."""

        if not self.enabled:
            return
        with self._lock:
            current, total, message = self._state
        if self._progress is not None:
            self._progress.update(self._task, completed=current, total=total, message=message)
            return
        now = time.monotonic()
        if message and message != self._printed and (final or now - self._printed_at >= 1.0):
            self._printed, self._printed_at = message, now
            click.echo(f"{self.title}: {message}", err=True)
