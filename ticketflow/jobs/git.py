"""The git jobs: fetch, pull, push, and sync (a pull, then a push that runs after it).

Each holds the ``repo`` resource, so two of them never run at once, while a scan may run
beside them. They describe their work (``jobs.work``: the ``ticketflow.git`` call with the job's
progress callback and cancel token, so a cancel stops the transfer inside libgit2); the
queue's runner runs it: isolated for the TUI, and for the CLI's pull, push and sync, because
only in a child can a transfer stuck in a blocking read be abandoned at once (a cancel, the
low-speed rule); in process for the CLI's scan and the library.
"""

from __future__ import annotations

from pathlib import Path

from ticketflow.config import Config
from ticketflow.git.results import FetchReport, PullResult, describe_changes
from ticketflow.jobs.job import JobId, WorkJob
from ticketflow.jobs.queue import JobQueue
from ticketflow.jobs.work import Work
from ticketflow.merge import Strategy
from ticketflow.store import TicketStore

REPO = "repo"


def _summary(result: object) -> str | None:
    """One line for the history and the TUI's notification: what changed for the user."""
    if isinstance(result, PullResult):
        news = describe_changes(result.changes)
        if not news:
            news = "nothing new" if result.outcome == "up-to-date" else "no ticket changed"
        return f"{result.outcome}: {news} ({result.fetch.received_objects} objects received)"
    if isinstance(result, FetchReport):
        news = describe_changes(result.changes)
        if not news:
            return fetch_headline(result) + (": no ticket changed" if result.behind else "")
        return f"{fetch_headline(result)}: {news}"
    branch = getattr(result, "branch", None)
    if branch is not None:
        return f"pushed to {getattr(result, 'remote', '?')}/{branch}"
    return None


def fetch_headline(report: FetchReport) -> str:
    """ "origin/main: 2 behind, 1 ahead" (the CLI's first line and the history's)."""
    where = f"{report.remote}/{report.branch}"
    if not report.exists:
        return f"{where} does not exist yet ({report.ahead} ahead)"
    if not report.ahead and not report.behind:
        return f"{where}: up to date"
    return f"{where}: {report.behind} behind, {report.ahead} ahead"


def fetch_job(root: Path, config: Config, *, remote: str | None = None) -> WorkJob:
    """Fetch only: the remote-tracking ref moves, nothing else (``git.fetchreport``)."""
    return WorkJob(
        Work("fetch", TicketStore(root, config), {"remote": remote}),
        resources={REPO},
        arguments={"remote": remote},
        summarize=_summary,
    )


def pull_job(
    root: Path,
    config: Config,
    *,
    remote: str | None = None,
    strategy: Strategy | None = None,
) -> WorkJob:
    arguments: dict[str, object] = {"remote": remote, "strategy": strategy}
    return WorkJob(
        Work("pull", TicketStore(root, config), {"remote": remote, "strategy": strategy}),
        resources={REPO},
        arguments=arguments,
        summarize=_summary,
    )


def push_job(root: Path, config: Config, *, remote: str | None = None) -> WorkJob:
    return WorkJob(
        Work("push", TicketStore(root, config), {"remote": remote}),
        resources={REPO},
        arguments={"remote": remote},
        summarize=_summary,
    )


def submit_sync(
    queue: JobQueue,
    root: Path,
    config: Config,
    *,
    remote: str | None = None,
    strategy: Strategy | None = None,
) -> tuple[JobId, JobId]:
    """Sync = a pull, then a push after it (cancelled if the pull fails)."""
    pull = queue.submit(pull_job(root, config, remote=remote, strategy=strategy))
    push = queue.submit(push_job(root, config, remote=remote), after=[pull])
    return pull, push
