"""The runners: the same work in this process and in a child gives the same result, the same
error (with its remedy) and the last progress value; the queue hands jobs its runner."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from conftest import git

from ticketflow.cancel import CancelToken
from ticketflow.errors import InvalidTransitionError, TicketflowError, UsageError
from ticketflow.jobs import FunctionJob, JobContext, JobQueue
from ticketflow.jobs.actions import ActionResult
from ticketflow.jobs.git import pull_job
from ticketflow.jobs.runners import IN_PROCESS, ISOLATED, Runner
from ticketflow.jobs.scan import ScanJob
from ticketflow.jobs.work import Work
from ticketflow.model import Status
from ticketflow.store import TicketStore

RUNNERS = pytest.mark.parametrize("runner", [IN_PROCESS, ISOLATED], ids=repr)


def ignore(current: int, total: int | None, message: str) -> None:
    return None


@RUNNERS
def test_ticket_actions_do_the_same_in_either_runner(
    store: TicketStore, repo: Path, runner: Runner
) -> None:
    def run(kind: str, **options: object) -> ActionResult:
        result = runner.run(Work(kind, store, options), ignore, CancelToken())
        assert isinstance(result, ActionResult)
        return result

    created = run("new", slug="from-a-runner", description="made", priority=1, parent=None)
    ticket = store.get(created.ticket_id)
    assert (ticket.slug, ticket.description, ticket.priority) == ("from-a-runner", "made", 1)
    assert git(repo, "log", "-1", "--format=%s") == f"Add ticket: {created.ticket_id}\n"

    started = run("start", ref=created.ticket_id)
    assert started.workspace and started.branch == created.ticket_id
    assert store.get(created.ticket_id).status is Status.DOING

    closed = run("close", ref=created.ticket_id, reason="done now")
    assert closed.workspace_remains  # its branch stays: the TUI says how to remove it
    assert store.get(created.ticket_id).closure_reason == "done now"

    reopened = run("reopen", ref=created.ticket_id)
    assert reopened == ActionResult(created.ticket_id)
    assert store.get(created.ticket_id).status is Status.DOING


@RUNNERS
def test_a_store_error_comes_back_with_its_kind_code_and_remedy(
    store: TicketStore, runner: Runner
) -> None:
    ticket = store.create("finished")
    store.close(ticket.id, reason="not needed")
    with pytest.raises(TicketflowError) as info:
        runner.run(Work("start", store, {"ref": ticket.id}), ignore, CancelToken())
    error = info.value
    assert error.kind == InvalidTransitionError.kind
    assert error.exit_code == InvalidTransitionError.exit_code
    assert error.remedy == "reopen"  # the TUI words its hint from it: "press o"
    assert "is closed" in error.message


@RUNNERS
def test_an_unknown_kind_is_a_usage_error(store: TicketStore, runner: Runner) -> None:
    with pytest.raises(UsageError):
        runner.run(Work("nonsense", store), ignore, CancelToken())


def test_the_last_progress_value_gets_through_the_child(corpus_repo: Path) -> None:
    """Nothing on the way holds a value back for time: the child writes the latest value
    as soon as the previous line is out, the parent keeps the newest of each read, and the
    last one the work reported is the last one the caller sees."""
    store = TicketStore.open(corpus_repo)
    in_process: list[tuple[int, int | None, str]] = []
    IN_PROCESS.run(Work("scan", store), lambda *v: in_process.append(v), CancelToken())
    shutil.rmtree(corpus_repo / ".git" / "ticketflow", ignore_errors=True)  # parse again
    isolated: list[tuple[int, int | None, str]] = []
    ISOLATED.run(Work("scan", store), lambda *v: isolated.append(v), CancelToken())
    assert in_process and isolated
    assert isolated[-1][:2] == in_process[-1][:2]


def test_the_queue_gives_each_job_its_runner(store: TicketStore) -> None:
    """The queue's runner unless the job names one (the CLI's isolated pull)."""
    seen: list[Runner] = []

    def which(ctx: JobContext) -> None:
        seen.append(ctx.runner)

    async def main() -> None:
        async with JobQueue(runner=ISOLATED) as queue:
            await queue.wait(queue.submit(FunctionJob("x", which)))
        async with JobQueue() as queue:
            await queue.wait(queue.submit(FunctionJob("x", which)))

    asyncio.run(main())
    assert seen == [ISOLATED, IN_PROCESS]
    # a job names no runner of its own: the queue chooses
    assert not hasattr(ScanJob(store), "runner")
    assert not hasattr(pull_job(store.root, store.config), "runner")


def test_a_scan_job_runs_where_its_queue_says(corpus_repo: Path) -> None:
    store = TicketStore.open(corpus_repo)
    kinds: list[str] = []

    class Recording:
        def run(self, work: Work, progress: object, cancel: CancelToken) -> object:
            kinds.append(work.kind)
            return IN_PROCESS.run(work, ignore, cancel)

    async def main() -> object:
        async with JobQueue(runner=Recording()) as queue:
            return await queue.wait(queue.submit(ScanJob(store)))

    result = asyncio.run(main())
    assert kinds == ["scan"]
    assert getattr(result, "counts").files == 101  # noqa: B009
