"""The git jobs: pull, push, and sync (a pull, then a push that runs after it).

Each holds the ``repo`` resource, so two of them never run at once, while a scan may run
beside them. They call ``ticketflow.git`` with the job's progress callback and cancel token, so a
cancel stops the transfer inside libgit2. With ``isolated=True`` the same call runs in a
child process (``ticketflow.isolated``): the choice of the TUI (pygit2's checkout, diff and
index calls hold the GIL for tenths of a second on a large repository) and of the CLI's
pull, push and sync, because only there can a transfer stuck in a blocking read be
abandoned at once (a cancel, the low-speed rule).
"""

from __future__ import annotations

from pathlib import Path

from ticketflow.config import Config
from ticketflow.git.results import PullResult, PushResult, describe_changes
from ticketflow.jobs.job import FunctionJob, JobContext, JobId
from ticketflow.jobs.queue import JobQueue
from ticketflow.merge import Strategy

REPO = "repo"


def _summary(result: object) -> str | None:
    """One line for the history and the TUI's notification: what changed for the user."""
    if isinstance(result, PullResult):
        news = describe_changes(result.changes)
        if not news:
            news = "nothing new" if result.outcome == "up-to-date" else "no ticket changed"
        return f"{result.outcome}: {news} ({result.fetch.received_objects} objects received)"
    branch = getattr(result, "branch", None)
    if branch is not None:
        return f"pushed to {getattr(result, 'remote', '?')}/{branch}"
    return None


def pull_job(
    root: Path,
    config: Config,
    *,
    remote: str | None = None,
    strategy: Strategy | None = None,
    isolated: bool = False,
) -> FunctionJob:
    def run(ctx: JobContext) -> PullResult:
        if isolated:  # pygit2 is imported by the child only
            from ticketflow.isolated import run_isolated

            options = {"remote": remote, "strategy": strategy}
            data = run_isolated("pull", root, ctx.progress, ctx.cancel, options)
            return PullResult.from_json(data)
        from ticketflow.git.pull import pull

        return pull(
            root,
            config,
            remote_name=remote,
            strategy=strategy,
            progress=ctx.progress,
            cancel=ctx.cancel,
        )

    return FunctionJob(
        "pull",
        run,
        resources={REPO},
        arguments={"remote": remote, "strategy": strategy},
        summarize=_summary,
    )


def push_job(
    root: Path, config: Config, *, remote: str | None = None, isolated: bool = False
) -> FunctionJob:
    def run(ctx: JobContext) -> PushResult:
        if isolated:
            from ticketflow.isolated import run_isolated

            data = run_isolated("push", root, ctx.progress, ctx.cancel, {"remote": remote})
            return PushResult.from_json(data)
        from ticketflow.git.transport import push

        return push(root, config, remote_name=remote, progress=ctx.progress, cancel=ctx.cancel)

    return FunctionJob(
        "push", run, resources={REPO}, arguments={"remote": remote}, summarize=_summary
    )


def submit_sync(
    queue: JobQueue,
    root: Path,
    config: Config,
    *,
    remote: str | None = None,
    strategy: Strategy | None = None,
    isolated: bool = False,
) -> tuple[JobId, JobId]:
    """Sync = a pull, then a push after it (cancelled if the pull fails)."""
    pull = queue.submit(pull_job(root, config, remote=remote, strategy=strategy, isolated=isolated))
    push = queue.submit(push_job(root, config, remote=remote, isolated=isolated), after=[pull])
    return pull, push
