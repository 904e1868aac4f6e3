"""Pull, push and sync jobs through the JobQueue against a real git daemon."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Cli, Team, edit_ticket, git, snapshot

from ticketflow.errors import CancelledError, ConflictError, MergeConflictError
from ticketflow.git.results import PullResult, PushResult
from ticketflow.git.transport import push
from ticketflow.jobs import ISOLATED, JobProgress, JobQueue, JobStatus, load_history
from ticketflow.jobs.git import pull_job, push_job, submit_sync
from ticketflow.store import TicketStore


async def test_pull_and_push_jobs(team: Team) -> None:
    bob = team.store(team.bob)
    bob.create("via-queue")
    alice = team.store(team.alice)
    async with JobQueue.for_repo(team.bob) as queue:
        pushed = await queue.wait(queue.submit(push_job(team.bob, bob.config)))
    assert isinstance(pushed, PushResult)
    seen: list[JobProgress] = []
    async with JobQueue.for_repo(team.alice) as queue:
        job = queue.submit(pull_job(team.alice, alice.config))
        async for progress in queue.watch(job):
            seen.append(progress)
        result = await queue.wait(job)
        assert queue.status(job) is JobStatus.COMPLETED
    assert isinstance(result, PullResult) and result.outcome == "fast-forward"
    assert seen[-1].status is JobStatus.COMPLETED
    assert any(p.status is JobStatus.RUNNING for p in seen)
    assert "via-queue" in {t.slug for t in alice.load_all().tickets}
    history = load_history(team.alice)
    assert history[0]["kind"] == "pull" and history[0]["status"] == "completed"


async def test_sync_job_cancels_the_push_when_the_pull_fails(team: Team) -> None:
    alice, bob = team.store(team.alice), team.store(team.bob)
    edit_ticket(bob, "shared", priority=1)
    push(team.bob, bob.config)
    edit_ticket(alice, "shared", priority=3)
    async with JobQueue.for_repo(team.alice) as queue:
        pull_id, push_id = submit_sync(queue, team.alice, alice.config)
        with pytest.raises(MergeConflictError):
            await queue.wait(pull_id)
        with pytest.raises(CancelledError):
            await queue.wait(push_id)
        assert queue.status(pull_id) is JobStatus.FAILED
        assert queue.status(push_id) is JobStatus.CANCELLED
        assert "dependency" in queue.progress(push_id).message


async def test_cancel_a_pull_job_mid_fetch(slow_clone: Path) -> None:
    client = slow_clone
    before = snapshot(client)
    store = TicketStore.open(client)
    async with JobQueue.for_repo(client) as queue:
        job = queue.submit(pull_job(client, store.config))
        statuses: list[JobProgress] = []
        async for progress in queue.watch(job):
            statuses.append(progress)
            if progress.total and progress.current > 0 and not progress.cancelling:
                queue.cancel(job)
        with pytest.raises(CancelledError) as info:
            await queue.wait(job)
        assert queue.status(job) is JobStatus.CANCELLED
    final = statuses[-1]
    assert final.status is JobStatus.CANCELLED
    assert final.message.startswith("cancelled: ") and final.message.endswith("/203 objects")
    assert info.value.partial is not None
    assert snapshot(client) == before
    assert "refs/remotes/origin/main" not in git(client, "for-each-ref")
    git(client, "fsck", "--strict")


def test_cli_pull_is_recorded_in_jobs(team: Team, run: Cli) -> None:
    assert run(team.alice, "pull").exit_code == 0
    assert run(team.alice, "push").exit_code == 0
    listed = run(team.alice, "jobs", "-o", "json")
    assert listed.exit_code == 0, listed.output
    kinds = [(j["kind"], j["status"]) for j in json.loads(listed.stdout)["jobs"]]
    assert kinds == [("push", "completed"), ("pull", "completed")]
    text = run(team.alice, "jobs").stdout
    assert text.splitlines()[0].split()[:3] == ["ID", "KIND", "STATUS"]
    assert "pull" in text and "completed" in text


def test_jobs_without_history(repo: Path, run: Cli) -> None:
    assert run(repo, "jobs").stdout == "No jobs yet\n"


# --- the same jobs in a child process (the TUI's) ------------------------------------------


async def test_isolated_pull_and_push_jobs(team: Team) -> None:
    bob = team.store(team.bob)
    bob.create("via-child")
    alice = team.store(team.alice)
    async with JobQueue.for_repo(team.bob, runner=ISOLATED) as queue:
        pushed = await queue.wait(queue.submit(push_job(team.bob, bob.config)))
    assert isinstance(pushed, PushResult) and pushed.branch == "main"
    assert git(team.daemon.base / "team.git", "rev-parse", "main").strip() == pushed.commit
    seen: list[JobProgress] = []
    async with JobQueue.for_repo(team.alice, runner=ISOLATED) as queue:
        job = queue.submit(pull_job(team.alice, alice.config))
        async for progress in queue.watch(job):
            seen.append(progress)
        result = await queue.wait(job)
    assert isinstance(result, PullResult) and result.outcome == "fast-forward"
    assert result.fetch.received_objects > 0
    assert any(p.status is JobStatus.RUNNING and p.message for p in seen)  # child's progress
    assert "via-child" in {t.slug for t in alice.load_all().tickets}


async def test_isolated_errors_are_the_same_errors(team: Team) -> None:
    """A conflict in the child is a ConflictError here, with its exit code and details,
    and the repository is left as it was; a rejected push likewise."""
    alice, bob = team.store(team.alice), team.store(team.bob)
    edit_ticket(bob, "shared", priority=1)
    push(team.bob, bob.config)
    edit_ticket(alice, "shared", priority=3)
    before = snapshot(team.alice)
    async with JobQueue.for_repo(team.alice, runner=ISOLATED) as queue:
        with pytest.raises(ConflictError) as conflict:
            await queue.wait(queue.submit(pull_job(team.alice, alice.config)))
        with pytest.raises(ConflictError) as rejected:
            await queue.wait(queue.submit(push_job(team.alice, alice.config)))
    assert conflict.value.exit_code == 3
    assert conflict.value.details()["conflicts"] == [
        {"ticket": team.ticket.id, "field": "priority", "ours": 3, "theirs": 1}
    ]
    assert "--strategy" in (conflict.value.hint or "")
    assert snapshot(team.alice) == before
    assert rejected.value.message == "the remote has commits you don't have: run ticketflow pull"


def test_error_from_json_keeps_class_and_retry() -> None:
    from ticketflow.errors import MalformedTicketError, NetworkError, TicketflowError

    sent = NetworkError("timed out", hint="try again")
    network = TicketflowError.from_dict(sent.to_dict(transport=True))
    assert isinstance(network, NetworkError) and network.transient
    assert (network.message, network.hint, network.exit_code) == ("timed out", "try again", 9)
    bad = MalformedTicketError("t.md", 3, "bad", code="invalid-yaml")
    odd = TicketflowError.from_dict(bad.to_dict(transport=True))
    assert type(odd) is MalformedTicketError
    assert (odd.kind, odd.exit_code, odd.transient) == ("malformed_ticket", 6, False)


async def test_cancel_an_isolated_pull_mid_fetch(slow_clone: Path) -> None:
    """ESC in the TUI: the child stops at libgit2's next callback; nothing changed."""
    client = slow_clone
    before = snapshot(client)
    store = TicketStore.open(client)
    async with JobQueue.for_repo(client, runner=ISOLATED) as queue:
        job = queue.submit(pull_job(client, store.config))
        async for progress in queue.watch(job):
            if progress.total and progress.current > 0 and not progress.cancelling:
                queue.cancel(job)
        with pytest.raises(CancelledError) as info:
            await queue.wait(job)
    assert info.value.partial is not None and info.value.partial.endswith("/203 objects")
    assert snapshot(client) == before
    assert "refs/remotes/origin/main" not in git(client, "for-each-ref")
    git(client, "fsck", "--strict")
