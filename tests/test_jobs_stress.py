"""10,000 jobs with random resources, priorities, dependencies, failures and cancels: every
job ends in a terminal state, the counts add up, the rules held throughout."""

# ruff: noqa: S311  (a seeded generator makes the run reproducible; nothing here is secret)

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ticketflow.errors import CancelledError, GitError, NetworkError
from ticketflow.jobs import (
    TERMINAL,
    FunctionJob,
    JobContext,
    JobHistory,
    JobId,
    JobProgress,
    JobQueue,
    JobStatus,
    RetryPolicy,
)

JOBS = 10_000
RESOURCES = ("repo", "scan", "index")
BEHAVIOURS = ("ok", "ok", "ok", "fail", "transient", "flaky", "crash")


@dataclass(frozen=True)
class Plan:
    behaviour: str
    resources: frozenset[str]
    steps: bool
    """Whether it reports progress and checks its token in a loop, or returns at once."""
    after: tuple[JobId, ...]


@pytest.fixture
def no_leaks() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 10
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert set(threading.enumerate()) - before == set()


async def test_ten_thousand_jobs_all_end_and_the_counts_add_up(
    tmp_path: Path, no_leaks: None
) -> None:
    rng = random.Random(20261122)
    lock = threading.Lock()
    in_use: dict[str, JobId] = {}
    violations: list[str] = []
    tick = itertools.count()
    started: dict[JobId, int] = {}
    ended: dict[JobId, int] = {}

    def body(plan: Plan) -> Callable[[JobContext], object]:
        def run(ctx: JobContext) -> object:
            with lock:
                for name in plan.resources:
                    if name in in_use:
                        violations.append(f"{ctx.job_id} and {in_use[name]} share {name}")
                    in_use[name] = ctx.job_id
                started.setdefault(ctx.job_id, next(tick))
            try:
                if plan.steps:
                    for step in range(3):
                        if ctx.cancel.cancelled:
                            raise CancelledError(ctx.cancel.reason, partial=f"{step}/3 steps")
                        ctx.progress(step, 3, "working")
                        time.sleep(0)
                if plan.behaviour == "fail":
                    raise GitError("rejected")
                if plan.behaviour == "transient":
                    raise NetworkError("connection refused")
                if plan.behaviour == "flaky" and ctx.attempt == 1:
                    raise NetworkError("connection reset")
                if plan.behaviour == "crash":
                    raise ValueError("a bug")
                return ctx.job_id
            finally:
                with lock:
                    for name in plan.resources:
                        del in_use[name]
                    ended[ctx.job_id] = next(tick)

        return run

    async def no_wait(delay: float) -> None:
        await asyncio.sleep(0)

    history = JobHistory(tmp_path / "jobs.sqlite", max_entries=JOBS * 2)
    queue = JobQueue(
        workers=8,
        retry=RetryPolicy(attempts=3),
        sleep=no_wait,
        rng=random.Random(1),
        history=history,
    )
    terminal_events: Counter[JobId] = Counter()
    final_seen: dict[JobId, JobStatus] = {}

    async def slow_reader() -> None:
        async for progress in queue.subscribe():
            if progress.is_terminal:
                terminal_events[progress.job_id] += 1
                final_seen[progress.job_id] = progress.status
            if rng.random() < 0.01:
                await asyncio.sleep(0.001)

    plans: dict[JobId, Plan] = {}
    cancel_accepted: set[JobId] = set()
    async with queue:
        reader = asyncio.create_task(slow_reader())
        ids: list[JobId] = []
        for n in range(JOBS):
            after: tuple[JobId, ...] = ()
            if ids and rng.random() < 0.1:
                after = tuple(rng.sample(ids[-200:], k=min(len(ids), rng.randint(1, 2))))
            plan = Plan(
                behaviour=rng.choice(BEHAVIOURS),
                resources=frozenset(rng.sample(RESOURCES, k=rng.choice((0, 0, 1, 1, 2)))),
                steps=rng.random() < 0.2,
                after=after,
            )
            job = FunctionJob(plan.behaviour, body(plan), resources=plan.resources)
            job_id = queue.submit(job, priority=rng.randint(0, 3), after=after)
            ids.append(job_id)
            plans[job_id] = plan
            if rng.random() < 0.05:
                victim = rng.choice(ids[-100:])
                if queue.cancel(victim):
                    cancel_accepted.add(victim)
            if n % 50 == 0:
                await asyncio.sleep(rng.choice((0, 0, 0.0005)))
        await asyncio.wait_for(queue.join(), 60)
        statuses = {job_id: queue.status(job_id) for job_id in ids}
        progress: dict[JobId, JobProgress] = {job_id: queue.progress(job_id) for job_id in ids}
    await asyncio.wait_for(reader, 10)

    counts = Counter(statuses.values())
    assert set(counts) <= TERMINAL
    assert sum(counts.values()) == JOBS
    assert counts[JobStatus.COMPLETED] and counts[JobStatus.FAILED] and counts[JobStatus.CANCELLED]
    assert violations == []
    assert terminal_events == Counter(dict.fromkeys(ids, 1))  # each terminal state once
    assert final_seen == statuses

    for job_id, plan in plans.items():
        status = statuses[job_id]
        deps_ok = all(statuses[d] is JobStatus.COMPLETED for d in plan.after)
        if job_id in started:
            assert deps_ok, f"{job_id} started although a dependency did not complete"
            assert all(ended[d] < started[job_id] for d in plan.after)
        if not deps_ok:
            assert status is JobStatus.CANCELLED
            assert job_id in cancel_accepted or "dependency" in progress[job_id].message
        elif job_id in cancel_accepted:
            assert status in (JobStatus.CANCELLED, JobStatus.COMPLETED)
        else:
            expected = {
                "ok": JobStatus.COMPLETED,
                "flaky": JobStatus.COMPLETED,
                "fail": JobStatus.FAILED,
                "transient": JobStatus.FAILED,
                "crash": JobStatus.FAILED,
            }[plan.behaviour]
            assert status is expected, (job_id, plan, progress[job_id])
            if plan.behaviour in ("transient", "flaky"):
                assert progress[job_id].attempt == (3 if plan.behaviour == "transient" else 2)

    recorded = Counter(e.status for e in history.entries(limit=None))
    assert recorded == Counter(s.value for s in statuses.values())
    history.close()
