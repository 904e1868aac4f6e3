"""The job queue with fake jobs: statuses, progress, cancel, resources, ordering, retry,
shutdown, history. Jobs coordinate with the test through events, never through timing."""

# ruff: noqa: S311  (seeded random numbers make jitter reproducible; nothing here is secret)

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from ticketflow.config import Config
from ticketflow.errors import (
    CancelledError,
    ConfigError,
    GitError,
    NetworkError,
    UsageError,
)
from ticketflow.jobs import (
    ACTIVE,
    TERMINAL,
    FunctionJob,
    HistoryEntry,
    Job,
    JobContext,
    JobFailedError,
    JobHistory,
    JobId,
    JobProgress,
    JobQueue,
    JobSettings,
    JobStatus,
    QueueClosedError,
    RetryPolicy,
    UnknownJobError,
    format_delay,
    history_path,
    load_history,
    parse_job_settings,
)
from ticketflow.jobs.scan import ScanJob, ScanResult
from ticketflow.store import TicketStore

WAIT = 10.0
"""Upper bound for anything awaited in a test: a hang fails instead of blocking the suite.
No test depends on how fast anything is."""


async def until(predicate: Callable[[], bool], what: str = "condition") -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)


async def instant_sleep(delay: float) -> None:
    await asyncio.sleep(0)


class Gate:
    """A blocking job body that says when it started and runs until released."""

    def __init__(self, result: object = None) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.result = result
        self.thread: int | None = None

    def __call__(self, ctx: JobContext) -> object:
        self.thread = threading.get_ident()
        self.started.set()
        assert self.release.wait(WAIT), "gate never released"
        return self.result


def gate_job(kind: str = "gate", result: object = None, **kw: object) -> tuple[Job, Gate]:
    gate = Gate(result)
    return FunctionJob(kind, gate, **kw), gate  # type: ignore[arg-type]


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Whatever a test's queue started (threads) must be gone when it is done."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + WAIT
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert set(threading.enumerate()) - before == set()


@pytest.fixture
async def queue(no_leaks: None) -> AsyncIterator[JobQueue]:
    q = JobQueue(workers=4, sleep=instant_sleep, rng=random.Random(7))
    async with q:
        yield q
    assert asyncio.all_tasks() == {asyncio.current_task()}


# --- values -----------------------------------------------------------------------------------


def test_status_sets_are_derived() -> None:
    assert {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED} == TERMINAL
    assert {JobStatus.PENDING, JobStatus.RUNNING} == ACTIVE
    assert JobStatus.FAILED.is_terminal and not JobStatus.RUNNING.is_terminal


def test_every_status_member_has_a_docstring() -> None:
    import ast
    import inspect

    from ticketflow.jobs import status

    tree = ast.parse(inspect.getsource(status))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "JobStatus")
    documented = {
        stmt.targets[0].id  # type: ignore[attr-defined]
        for stmt, nxt in zip(cls.body, cls.body[1:], strict=False)
        if isinstance(stmt, ast.Assign)
        and isinstance(nxt, ast.Expr)
        and isinstance(nxt.value, ast.Constant)
    }
    assert documented == {m.name for m in JobStatus}


def test_progress_percentage_and_json() -> None:
    p = JobProgress(JobId(1), "scan", JobStatus.RUNNING, 45, 120, "objects", 1.0)
    assert p.percentage == 37.5
    assert JobProgress(JobId(1), "f", JobStatus.RUNNING, 3, None, "", 1.0).percentage is None
    assert JobProgress(JobId(1), "f", JobStatus.RUNNING, 9, 0, "", 1.0).percentage is None
    assert JobProgress(JobId(1), "f", JobStatus.RUNNING, 9, 4, "", 1.0).percentage == 100.0
    data = p.to_dict()
    assert data["status"] == "running" and data["percentage"] == 37.5
    json.dumps(data)


def test_retry_delays_grow_and_cap() -> None:
    policy = RetryPolicy(attempts=6, delay=2, max_delay=10, jitter=0)
    rng = random.Random(1)
    assert [policy.delay_before(n, rng) for n in range(2, 7)] == [2, 4, 8, 10, 10]
    jittered = RetryPolicy(delay=2, jitter=0.2)
    values = [jittered.delay_before(2, rng) for _ in range(200)]
    assert all(1.6 <= v <= 2.4 for v in values) and len(set(values)) > 100
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)


def test_format_delay() -> None:
    assert [format_delay(s) for s in (2.0, 1.84, 12.4, 0.25)] == ["2 s", "1.8 s", "12 s", "0.25 s"]


def test_job_settings_from_config() -> None:
    assert JobSettings.from_config(Config()) == JobSettings()
    raw = {"jobs": {"workers": 2, "history_size": 10, "retry": {"attempts": 5, "delay": 0.5}}}
    settings = JobSettings.from_config(Config(raw=raw))
    assert settings.workers == 2 and settings.history_size == 10
    assert settings.retry.attempts == 5 and settings.retry.delay == 0.5
    for bad in (
        {"workers": 0},
        {"workers": "4"},
        {"retry": {"attempts": True}},
        {"retry": {"delay": -1}},
        {"retry": {"delay": 10, "max_delay": 5}},
        {"retry": []},
        [],
    ):
        with pytest.raises(ConfigError):
            parse_job_settings(bad)


def test_function_job_defaults() -> None:
    job = FunctionJob("pull", lambda ctx: 1, resources=["repo"], arguments={"remote": "o"})
    assert job.resources == {"repo"} and job.arguments() == {"remote": "o"}
    assert job.summarize("x" * 500) is not None and len(job.summarize("x" * 500) or "") == 200


# --- running, waiting, statuses -------------------------------------------------------------


async def test_blocking_job_runs_in_a_worker_thread(queue: JobQueue) -> None:
    job, gate = gate_job(result={"fetched": 3})
    job_id = queue.submit(job)
    assert queue.status(job_id) is JobStatus.PENDING
    await until(gate.started.is_set)
    assert queue.status(job_id) is JobStatus.RUNNING
    gate.release.set()
    assert await queue.wait(job_id) == {"fetched": 3}
    assert queue.status(job_id) is JobStatus.COMPLETED
    assert gate.thread != threading.get_ident()
    assert queue.progress(job_id).message == "completed: {'fetched': 3}"


async def test_every_transition_is_observed(queue: JobQueue) -> None:
    blocker, block_gate = gate_job("blocker", resources={"repo"})
    queue.submit(blocker)
    job, gate = gate_job("pull", resources={"repo"})
    job_id = queue.submit(job)
    seen: list[JobStatus] = []
    async with queue.watch(job_id) as updates:
        async for p in updates:
            if not seen or seen[-1] is not p.status:
                seen.append(p.status)
            if p.status is JobStatus.PENDING:
                block_gate.release.set()
            elif p.status is JobStatus.RUNNING:
                gate.release.set()
    assert seen == [JobStatus.PENDING, JobStatus.RUNNING, JobStatus.COMPLETED]


async def test_unknown_ids_and_finished_jobs(queue: JobQueue) -> None:
    with pytest.raises(UnknownJobError) as info:
        queue.status(JobId(99))
    assert info.value.exit_code == 4
    with pytest.raises(UnknownJobError):
        await queue.wait(JobId(99))
    job_id = queue.submit(FunctionJob("x", lambda ctx: 1))
    await queue.wait(job_id)
    assert queue.cancel(job_id) is False


# --- cancelling -------------------------------------------------------------------------------


async def test_cancel_pending_ends_it_at_once(queue: JobQueue) -> None:
    blocker, gate = gate_job(resources={"repo"})
    queue.submit(blocker)
    ran: list[int] = []
    job_id = queue.submit(FunctionJob("push", lambda ctx: ran.append(1), resources={"repo"}))
    await until(gate.started.is_set)
    assert queue.cancel(job_id) is True
    assert queue.status(job_id) is JobStatus.CANCELLED
    assert queue.progress(job_id).message == "cancelled before it started"
    with pytest.raises(CancelledError):
        await queue.wait(job_id)
    gate.release.set()
    await queue.join()
    assert ran == []


def counting_job(
    kind: str, items: int, step: threading.Event, stop_gate: threading.Event
) -> FunctionJob:
    """A scan-like job: one item per token check; after the first cancel check it holds
    until ``stop_gate`` so the test can see the *cancelling* state."""

    def run(ctx: JobContext) -> int:
        for done in range(items):
            if ctx.cancel.cancelled:
                assert stop_gate.wait(WAIT)
                raise CancelledError(
                    ctx.cancel.reason, partial=f"{done:,} of {items:,} tickets scanned"
                )
            ctx.progress(done, items, f"{done} scanned")
            if done == 4_000:
                step.set()
                ctx.cancel.wait(WAIT)
        return items

    return FunctionJob(kind, run)


async def test_cancel_running_waits_for_the_thread_and_keeps_partial(queue: JobQueue) -> None:
    step, stop_gate = threading.Event(), threading.Event()
    job_id = queue.submit(counting_job("scan", 10_000, step, stop_gate))
    await until(step.is_set)
    assert queue.cancel(job_id) is True
    assert queue.cancel(job_id) is False  # already cancelling
    await asyncio.sleep(0.01)  # whatever the loop does meanwhile, the thread is still working
    state = queue.progress(job_id)
    assert state.status is JobStatus.RUNNING and state.cancelling
    assert state.message.startswith("cancelling")
    stop_gate.set()
    with pytest.raises(CancelledError) as info:
        await queue.wait(job_id)
    assert info.value.partial == "4,001 of 10,000 tickets scanned"
    final = queue.progress(job_id)
    assert final.status is JobStatus.CANCELLED and not final.cancelling
    assert final.message == "cancelled: 4,001 of 10,000 tickets scanned"


async def test_cancel_without_partial_uses_last_progress(queue: JobQueue) -> None:
    def run(ctx: JobContext) -> None:
        ctx.progress(45, 120, "receiving objects")
        ctx.cancel.wait(WAIT)
        ctx.cancel.raise_if_cancelled()

    job_id = queue.submit(FunctionJob("fetch", run))
    await until(lambda: queue.progress(job_id).current == 45)
    queue.cancel(job_id)
    with pytest.raises(CancelledError) as info:
        await queue.wait(job_id)
    assert info.value.partial == "45/120"
    assert queue.progress(job_id).message == "cancelled: 45/120"


async def test_cancel_surfacing_as_another_error_is_still_cancelled(queue: JobQueue) -> None:
    def run(ctx: JobContext) -> None:
        ctx.cancel.wait(WAIT)
        raise GitError("libgit2 aborted: user callback")

    job_id = queue.submit(FunctionJob("fetch", run))
    await until(lambda: queue.status(job_id) is JobStatus.RUNNING)
    queue.cancel(job_id)
    with pytest.raises(CancelledError) as info:
        await queue.wait(job_id)
    assert isinstance(info.value.__cause__, GitError)
    assert "libgit2 aborted" in queue.progress(job_id).message


async def test_cancel_a_job_that_finishes_anyway(queue: JobQueue) -> None:
    job, gate = gate_job(result="done anyway")  # ignores its token
    b = queue.submit(job)
    await until(gate.started.is_set)
    queue.cancel(b)
    gate.release.set()
    assert await queue.wait(b) == "done anyway"
    assert queue.status(b) is JobStatus.COMPLETED


# --- progress -------------------------------------------------------------------------------


async def test_progress_is_streamed(queue: JobQueue) -> None:
    steps = [threading.Event() for _ in range(3)]
    acks = [threading.Event() for _ in range(3)]

    def run(ctx: JobContext) -> str:
        for i in range(3):
            ctx.progress(i + 1, 3, f"step {i + 1}")
            assert acks[i].wait(WAIT)
        return "ok"

    job_id = queue.submit(FunctionJob("steps", run))
    got: list[tuple[int, int | None, str, float | None]] = []
    async for p in queue.watch(job_id):
        if p.status is JobStatus.RUNNING and p.current:
            got.append((p.current, p.total, p.message, p.percentage))
            acks[p.current - 1].set()
            steps[p.current - 1].set()
    assert got == [
        (1, 3, "step 1", pytest.approx(100 / 3)),
        (2, 3, "step 2", pytest.approx(200 / 3)),
        (3, 3, "step 3", 100.0),
    ]
    assert queue.status(job_id) is JobStatus.COMPLETED


async def test_progress_wakeups_are_rate_limited_and_the_last_value_kept(
    no_leaks: None,
) -> None:
    async with JobQueue(progress_interval=3600) as q:  # after the first value, hold the rest
        release = threading.Event()

        def chatty(ctx: JobContext) -> str:
            ctx.progress(0, 1000, "first")
            assert release.wait(WAIT)
            for i in range(1, 1000):
                ctx.progress(i, 1000, f"item {i}")
            return "ok"

        job_id = q.submit(FunctionJob("scan", chatty))
        await until(lambda: q.progress(job_id).message == "first")
        release.set()
        await q.wait(job_id)
        assert (q.progress(job_id).current, q.progress(job_id).total) == (999, 1000)

        def stops(ctx: JobContext) -> None:
            ctx.progress(1, 10, "one")
            assert release.wait(WAIT)
            ctx.progress(7, 10, "seven")  # parked, not yet published
            ctx.cancel.wait(WAIT)
            ctx.cancel.raise_if_cancelled()

        release.clear()
        job_id = q.submit(FunctionJob("fetch", stops))
        await until(lambda: q.progress(job_id).message == "one")
        release.set()
        q.cancel(job_id)
        with pytest.raises(CancelledError) as info:
            await q.wait(job_id)
        assert info.value.partial == "7/10"  # the parked value, taken when the thread ended
        assert q.progress(job_id).message == "cancelled: 7/10"


async def test_slow_subscriber_gets_latest_value_and_every_terminal_state(
    queue: JobQueue,
) -> None:
    sub = queue.subscribe()

    def chatty(ctx: JobContext) -> int:
        for i in range(20_000):
            ctx.progress(i, 20_000, "")
        return 1

    ids = [queue.submit(FunctionJob("chatty", chatty)) for _ in range(3)]
    ids += [queue.submit(FunctionJob("fail", lambda ctx: 1 / 0))]
    await queue.join()  # nobody read meanwhile: the workers never waited for the reader
    sub.end()  # read what is there now, without waiting for more
    values = [p async for p in sub]
    assert sorted(p.job_id for p in values) == ids  # one value per job
    assert {p.job_id: p.status for p in values} == {
        ids[0]: JobStatus.COMPLETED,
        ids[1]: JobStatus.COMPLETED,
        ids[2]: JobStatus.COMPLETED,
        ids[3]: JobStatus.FAILED,
    }
    assert sub.coalesced > 0
    sub.close()


async def test_subscription_ends_at_shutdown_and_unreferenced_ones_are_dropped(
    no_leaks: None,
) -> None:
    q = JobQueue(workers=1)
    async with q:
        q.subscribe()
        gc.collect()
        assert len(q._subs) == 0
        sub = q.subscribe()
        job_id = q.submit(FunctionJob("x", lambda ctx: 1))
        await q.wait(job_id)
    got = [p async for p in sub]
    assert got[-1].status is JobStatus.COMPLETED
    assert [p async for p in q.subscribe()] == []


# --- several jobs, resources, ordering ------------------------------------------------------


async def test_workers_bound_concurrency(no_leaks: None) -> None:
    async with JobQueue(workers=2) as q:
        gates = [gate_job() for _ in range(3)]
        ids = [q.submit(job) for job, _ in gates]
        await until(lambda: gates[0][1].started.is_set() and gates[1][1].started.is_set())
        await asyncio.sleep(0.01)
        assert [q.status(i) for i in ids] == [
            JobStatus.RUNNING,
            JobStatus.RUNNING,
            JobStatus.PENDING,
        ]
        gates[0][1].release.set()
        await until(gates[2][1].started.is_set)
        for _, gate in gates:
            gate.release.set()
        await q.join()
        assert all(q.status(i) is JobStatus.COMPLETED for i in ids)


async def test_shared_resource_never_runs_twice_but_scan_runs_beside(queue: JobQueue) -> None:
    pull, pull_gate = gate_job("pull", resources={"repo"})
    push, push_gate = gate_job("push", resources={"repo"})
    scan, scan_gate = gate_job("scan", resources={"scan"})
    ids = [queue.submit(pull), queue.submit(push), queue.submit(scan)]
    await until(lambda: pull_gate.started.is_set() and scan_gate.started.is_set())
    await asyncio.sleep(0.01)
    assert queue.status(ids[1]) is JobStatus.PENDING  # a worker is free; the repo is not
    assert not push_gate.started.is_set()
    pull_gate.release.set()
    await until(push_gate.started.is_set)
    push_gate.release.set()
    scan_gate.release.set()
    await queue.join()


async def test_a_job_waiting_for_a_resource_does_not_hold_up_others(no_leaks: None) -> None:
    async with JobQueue(workers=2) as q:
        pull, gate = gate_job("pull", resources={"repo"})
        q.submit(pull)
        await until(gate.started.is_set)
        push = q.submit(FunctionJob("push", lambda ctx: 1, resources={"repo"}), priority=9)
        scan = q.submit(FunctionJob("scan", lambda ctx: "scanned"), priority=0)
        assert await q.wait(scan) == "scanned"
        assert q.status(push) is JobStatus.PENDING
        gate.release.set()
        assert await q.wait(push) == 1


async def test_a_late_subscriber_starts_with_the_current_state(queue: JobQueue) -> None:
    job, gate = gate_job()
    job_id = queue.submit(job)
    await until(gate.started.is_set)
    async with queue.subscribe() as sub:
        first = await anext(sub)
        assert (first.job_id, first.status) == (job_id, JobStatus.RUNNING)
        assert [p.job_id for p in queue.jobs(active_only=True)] == [job_id]
        gate.release.set()
        last = await anext(sub)
        assert (last.job_id, last.status) == (job_id, JobStatus.COMPLETED)
    assert queue.jobs(active_only=True) == []


async def test_higher_priority_starts_first_then_submission_order(no_leaks: None) -> None:
    order: list[str] = []
    async with JobQueue(workers=1) as q:
        blocker, gate = gate_job()
        q.submit(blocker)
        await until(gate.started.is_set)
        for name, priority in [("low", 0), ("high", 5), ("mid", 1), ("high2", 5)]:
            q.submit(
                FunctionJob(name, lambda ctx, n=name: order.append(n)),
                priority=priority,
            )
        gate.release.set()
        await q.join()
    assert order == ["high", "high2", "mid", "low"]


async def test_after_runs_in_order_and_cascades_failure(queue: JobQueue) -> None:
    order: list[str] = []
    pull, gate = gate_job("pull", resources={"repo"})
    pull_id = queue.submit(pull)
    push_id = queue.submit(
        FunctionJob("push", lambda ctx: order.append("push"), resources={"repo"}),
        after=[pull_id],
        priority=10,
    )
    await until(gate.started.is_set)
    assert queue.status(push_id) is JobStatus.PENDING
    gate.release.set()
    await queue.wait(push_id)
    assert order == ["push"]

    def fail(ctx: JobContext) -> None:
        raise GitError("merge conflict")

    bad = queue.submit(FunctionJob("pull", fail, resources={"repo"}))
    push2 = queue.submit(FunctionJob("push", lambda ctx: 1), after=[bad])
    chained = queue.submit(FunctionJob("scan", lambda ctx: 1), after=[push2, pull_id])
    with pytest.raises(CancelledError, match=rf"dependency {bad} \(pull\) failed"):
        await queue.wait(push2)
    assert queue.status(chained) is JobStatus.CANCELLED
    assert queue.progress(chained).message == f"cancelled: dependency {push2} (push) was cancelled"
    late = queue.submit(FunctionJob("push", lambda ctx: 1), after=[bad])
    assert queue.status(late) is JobStatus.CANCELLED
    with pytest.raises(UnknownJobError):
        queue.submit(FunctionJob("push", lambda ctx: 1), after=[JobId(12345)])


async def test_long_after_chain_cancels_without_recursion(queue: JobQueue) -> None:
    first, gate = gate_job()
    previous = queue.submit(first)
    ids = [previous]
    for _ in range(5_000):
        previous = queue.submit(FunctionJob("x", lambda ctx: 1), after=[previous])
        ids.append(previous)
    queue.cancel(ids[0])
    gate.release.set()
    await queue.join()
    assert all(queue.status(i) is JobStatus.CANCELLED for i in ids[1:])


# --- errors and retry -------------------------------------------------------------------------


async def test_transient_failure_retries_with_backoff_then_succeeds(no_leaks: None) -> None:
    delays: list[float] = []
    attempts: list[int] = []

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)

    def flaky(ctx: JobContext) -> str:
        attempts.append(ctx.attempt)
        if ctx.attempt < 3:
            raise NetworkError("connection reset by peer")
        return "fetched"

    policy = RetryPolicy(attempts=3, delay=2, jitter=0)
    async with JobQueue(workers=1, retry=policy, sleep=fake_sleep) as q:
        job_id = q.submit(FunctionJob("pull", flaky))
        messages = [p.message async for p in q.watch(job_id)]
        assert await q.wait(job_id) == "fetched"
    assert attempts == [1, 2, 3] and delays == [2.0, 4.0]
    assert "retrying in 2 s (attempt 2/3): connection reset by peer" in messages
    assert "retrying in 4 s (attempt 3/3): connection reset by peer" in messages


async def test_retry_gives_up_and_jitter_comes_from_the_random_source(no_leaks: None) -> None:
    delays: list[float] = []

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)

    def down(ctx: JobContext) -> None:
        raise NetworkError("connection refused")

    for _ in range(2):
        async with JobQueue(sleep=fake_sleep, rng=random.Random(42)) as q:
            job_id = q.submit(FunctionJob("pull", down))
            with pytest.raises(NetworkError):
                await q.wait(job_id)
            assert q.progress(job_id).attempt == 3
    assert len(delays) == 4 and delays[:2] == delays[2:]  # same seed, same jitter
    assert 1.6 <= delays[0] <= 2.4 and 3.2 <= delays[1] <= 4.8


async def test_permanent_and_unexpected_errors_never_retry(queue: JobQueue) -> None:
    calls: list[str] = []

    def rejected(ctx: JobContext) -> None:
        calls.append("rejected")
        raise UsageError("bad remote name")

    def bug(ctx: JobContext) -> None:
        calls.append("bug")
        raise KeyError("oops")

    a = queue.submit(FunctionJob("push", rejected))
    b = queue.submit(FunctionJob("scan", bug))
    with pytest.raises(UsageError):
        await queue.wait(a)
    with pytest.raises(JobFailedError) as info:
        await queue.wait(b)
    assert sorted(calls) == ["bug", "rejected"]
    assert isinstance(info.value.__cause__, KeyError) and info.value.error_type == "KeyError"
    assert queue.progress(b).message == "failed: KeyError: 'oops'"
    assert queue.progress(a).message == "failed: bad remote name"


async def test_cancel_during_retry_delay(no_leaks: None) -> None:
    def down(ctx: JobContext) -> None:
        raise NetworkError("timed out")

    async with JobQueue(retry=RetryPolicy(delay=3600)) as q:  # the real sleep: an hour
        job_id = q.submit(FunctionJob("pull", down))
        await until(lambda: q.progress(job_id).message.startswith("retrying"))
        q.cancel(job_id)
        with pytest.raises(CancelledError):
            await q.wait(job_id)


# --- shutdown -------------------------------------------------------------------------------


async def test_shutdown_cancels_everything_and_leaves_nothing_behind(no_leaks: None) -> None:
    tasks_before = asyncio.all_tasks()
    q = JobQueue(workers=2)
    step, stop_gate = threading.Event(), threading.Event()
    stop_gate.set()
    running = q.submit(counting_job("scan", 10_000, step, stop_gate))
    blocker, _ = gate_job(resources={"repo"})

    def respects_cancel(ctx: JobContext) -> None:
        ctx.cancel.wait(WAIT)
        ctx.cancel.raise_if_cancelled()

    also_running = q.submit(FunctionJob("fetch", respects_cancel))
    pending = q.submit(blocker)
    sub = q.subscribe()
    await until(step.is_set)
    assert await q.shutdown() == []
    assert q.status(running) is JobStatus.CANCELLED
    assert q.status(also_running) is JobStatus.CANCELLED
    assert q.status(pending) is JobStatus.CANCELLED
    assert "shut down" in q.progress(pending).message
    assert {p.job_id for p in [p async for p in sub] if p.is_terminal} == {
        running,
        also_running,
        pending,
    }
    assert asyncio.all_tasks() == tasks_before
    with pytest.raises(QueueClosedError):
        q.submit(FunctionJob("x", lambda ctx: 1))
    assert await q.shutdown() == []


async def test_shutdown_abandons_a_job_that_ignores_cancel(no_leaks: None) -> None:
    job, gate = gate_job("stubborn")
    q = JobQueue(workers=1, shutdown_timeout=0.05)
    job_id = q.submit(job)
    await until(gate.started.is_set)
    assert await q.shutdown() == [job_id]
    assert q.status(job_id) is JobStatus.FAILED
    assert "abandoned" in q.progress(job_id).message
    assert {t for t in asyncio.all_tasks() if t is not asyncio.current_task()} == set()
    gate.release.set()  # its thread ends on its own; no_leaks checks that it does


# --- history ----------------------------------------------------------------------------------


async def test_history_survives_a_restart_and_is_pruned(repo: Path, no_leaks: None) -> None:
    async with JobQueue(history=JobHistory.for_repo(repo, max_entries=5)) as q:
        ok = q.submit(FunctionJob("pull", lambda ctx: "3 commits", arguments={"remote": "origin"}))
        await q.wait(ok)
        bad = q.submit(FunctionJob("push", lambda ctx: 1 / 0))
        with pytest.raises(JobFailedError):
            await q.wait(bad)
        blocker, gate = gate_job(resources={"repo"})
        blocker_id = q.submit(blocker)
        cancelled = q.submit(FunctionJob("push", lambda ctx: 1, resources={"repo"}))
        q.cancel(cancelled)
        gate.release.set()
        await q.wait(blocker_id)
    assert history_path(repo) == repo / ".git" / "ticketflow" / "jobs.sqlite"
    rows = load_history(repo)
    assert [r["status"] for r in rows] == ["completed", "cancelled", "failed", "completed"]
    first = rows[-1]
    assert first["kind"] == "pull" and first["arguments"] == {"remote": "origin"}
    assert first["result"] == "3 commits" and first["error"] is None and first["attempts"] == 1
    assert isinstance(first["started_at"], str) and isinstance(first["duration"], float)
    assert rows[2]["error"] == {"type": "ZeroDivisionError", "message": "division by zero"}
    assert rows[1]["started_at"] is None and rows[1]["attempts"] == 0
    json.dumps(rows)

    async with JobQueue(history=JobHistory.for_repo(repo, max_entries=5)) as q:  # a restart
        for _ in range(3):
            await q.wait(q.submit(FunctionJob("scan", lambda ctx: None)))
    rows = load_history(repo, limit=None)
    assert len(rows) == 5 and [r["kind"] for r in rows] == ["scan"] * 3 + ["gate", "push"]
    ids = [r["id"] for r in rows]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 5
    assert load_history(repo, limit=2) == rows[:2]


async def test_queue_for_repo_uses_settings_and_the_repo_history(
    repo: Path, no_leaks: None
) -> None:
    settings = JobSettings(workers=2, retry=RetryPolicy(attempts=1), history_size=3)
    async with JobQueue.for_repo(repo, settings) as q:
        assert q.workers == 2 and q.retry.attempts == 1
        for _ in range(4):
            await q.wait(q.submit(FunctionJob("scan", lambda ctx: None)))
    assert len(load_history(repo)) == 3
    async with JobQueue.for_repo(repo, JobSettings(history_size=0)) as q:
        assert q.history is None


def test_load_history_without_a_file(repo: Path) -> None:
    assert load_history(repo) == []
    assert not history_path(repo).exists()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
async def test_corrupt_history_is_rebuilt_never_a_crash(
    tmp_path: Path, damage: str, no_leaks: None
) -> None:
    path = tmp_path / "ticketflow" / "jobs.sqlite"
    history = JobHistory(path)
    history.append(
        [
            _entry(i)
            for i in range(200)  # enough rows for several pages
        ]
    )
    history.close()
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"this is not a database" * 100)
    else:
        path.write_bytes(data[:100] + b"\xff" * 4000 + data[4100:])
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    history = JobHistory(path)
    assert history.entries() == []
    assert history.problems and "unreadable" in history.problems[0]
    assert path.with_name("jobs.sqlite.corrupt").exists()
    async with JobQueue(history=history) as q:
        await q.wait(q.submit(FunctionJob("scan", lambda ctx: 1)))
    assert [e.kind for e in JobHistory(path).entries()] == ["scan"]


def test_history_write_problems_are_reported_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    history = JobHistory(path, busy_timeout=0)
    assert history.append([_entry(1)]) == 1
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process is writing
    assert history.append([_entry(2)]) == 0
    assert history.problems and "locked" in history.problems[-1]
    other.execute("ROLLBACK")
    other.close()
    assert history.append([_entry(3)]) == 1
    assert [e.job_id for e in history.entries()] == [3, 1]
    history.close()


def _entry(i: int) -> HistoryEntry:
    return HistoryEntry(
        job_id=i,
        kind="scan",
        arguments={"i": i, "path": Path("/x")},
        status="completed",
        priority=0,
        attempts=1,
        submitted_at=1.0,
        started_at=2.0,
        ended_at=3.0,
        result="x" * 50,
    )


# --- the scan job ---------------------------------------------------------------------------


async def test_scan_job_reads_every_ticket(store: TicketStore, no_leaks: None) -> None:
    for i in range(5):
        store.create(f"ticket-{i}", commit=False)
    async with JobQueue() as q:
        result = await q.wait(q.submit(ScanJob(store)))
    assert isinstance(result, ScanResult)
    assert result.counts.tickets == 5 and result.clean
    assert ScanJob(store).summarize(result) == "5 tickets, 0 errors, 5 files read"
    todo = store.root / "tickets" / "todo"
    kept, *gone = sorted(todo.glob("*.md"))
    for path in gone:  # one ticket left, and one broken file
        path.unlink()
    os.utime(kept, (1_700_000_000, 1_700_000_000))  # changed: read again, however fast we are
    (todo / "250101-000000-bad.md").write_text("no header\n")
    async with JobQueue() as q:
        result = await q.wait(q.submit(ScanJob(store)))
    assert ScanJob(store).summarize(result) == "1 ticket, 1 error, 2 files read"


async def test_scan_job_cancel_reports_how_far_it_got(store: TicketStore, no_leaks: None) -> None:
    from ticketflow.index import CHUNK

    count = CHUNK * 3  # the index checks the token between chunks
    for i in range(count):
        store.create(f"ticket-{i}", commit=False)

    class CancelMidway(ScanJob):
        """Cancels itself from its own progress, once some files are parsed."""

        def run(self, ctx):  # type: ignore[no-untyped-def]
            from ticketflow.index import TicketIndex

            def progress(current: int, total: int | None, message: str) -> None:
                ctx.progress(current, total, message)
                if current >= 4:
                    ctx.cancel.cancel()

            return TicketIndex.open(self.store, pool_min_files=10**9).scan(
                progress=progress, cancel=ctx.cancel
            )

    async with JobQueue() as q:
        job_id = q.submit(CancelMidway(store))
        with pytest.raises(CancelledError) as info:
            await q.wait(job_id)
    assert info.value.partial is not None
    done, total = info.value.partial.removesuffix(" tickets scanned").split(" of ")
    assert int(total) == count and 4 <= int(done) < count
    assert q.progress(job_id).message == f"cancelled: {info.value.partial}"
