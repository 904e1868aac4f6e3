"""Where the index parses: in this process for a few files, or in a process pool that
this process helps, for a large cold scan; chunked so that progress and cancel stay live."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ticketflow.cancel import CancelToken, ProgressCallback
from ticketflow.errors import TicketflowError
from ticketflow.index.rows import ParseTask, Stored, parse_batch

if TYPE_CHECKING:
    from concurrent.futures import Executor, Future


POOL_MIN_FILES = 20000
"""Parse in a process pool only when at least this many files changed (and 2+ CPUs).
``benchmarks/bench_scan.py --crossover`` measured the project's 2-core machine: the pool
(starting at ~30 ms) never wins below 16,000 changed files and breaks even from there; a scan
there is bound by per-file system calls (~9 µs a file), parsing is ~3 µs. Where system calls
are cheaper, the parse's share and the pool's gain grow: pass ``pool_min_files`` to tune."""
POOL_MIN_FILES_NO_FORK = 50000
"""The same threshold when workers cannot be forked (each must import ticketflow first)."""
CHUNK = 128
"""Files parsed between two progress reports and cancel checks, in-process."""


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _pool_context() -> tuple[Any, bool]:
    """Fork when it is safe (no other thread alive): workers start in milliseconds and
    inherit the loaded modules. Otherwise forkserver (or spawn), which costs an import."""
    import multiprocessing
    import threading

    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork"), True
    if "forkserver" in methods:
        return multiprocessing.get_context("forkserver"), False
    return multiprocessing.get_context("spawn"), False


def parse_tasks(
    tasks: list[ParseTask],
    parsed: list[Stored],
    report: ProgressCallback,
    token: CancelToken,
    executor: Executor | None,
    workers: int,
    pool_min_files: int | None,
) -> tuple[str, int]:
    """Parse ``tasks`` into ``parsed``, in this process or with a pool (``executor``, or one
    started for many files); returns the mode and the number of processes that parsed."""
    total = len(tasks)
    context: Any = None
    threshold = pool_min_files
    if executor is None and workers > 1 and total >= (threshold or POOL_MIN_FILES):
        context, fork_ok = _pool_context()
        if threshold is None and not fork_ok:
            threshold = POOL_MIN_FILES_NO_FORK
    if threshold is None:
        threshold = POOL_MIN_FILES
    if (executor is None and workers < 2) or total < threshold:
        report(0, total, "parsing tickets")
        for start in range(0, total, CHUNK):
            token.raise_if_cancelled()
            parsed.extend(parse_batch(tasks[start : start + CHUNK]))
            report(len(parsed), total, "parsing tickets")
        return "in-process", 1
    own = executor is None
    if executor is None:
        from concurrent.futures import ProcessPoolExecutor

        helpers = max(1, workers - 1)  # this process parses too
        executor = ProcessPoolExecutor(max_workers=helpers, mp_context=context)
    else:
        helpers = max(1, getattr(executor, "_max_workers", 1))
    try:
        _parse_hybrid(tasks, parsed, executor, helpers, report, token)
    except BaseException:
        if own:  # do not wait for chunks nobody will read (at most one per worker)
            executor.shutdown(wait=False, cancel_futures=True)
        raise
    if own:
        executor.shutdown(wait=True)
    return "pool", helpers + 1


POOL_CHUNK = 512
"""Files per task sent to a worker process (larger amortises the pickling round trip)."""


def _parse_hybrid(
    tasks: list[ParseTask],
    parsed: list[Stored],
    executor: Executor,
    helpers: int,
    report: ProgressCallback,
    token: CancelToken,
) -> None:
    """Parse with the pool's workers and this process together, taking chunks from one
    queue, so that neither waits while the other works (this process would otherwise sit
    idle, and on two cores one worker plus this process beats two workers)."""
    from concurrent.futures import FIRST_COMPLETED, wait

    total = len(tasks)
    chunk = max(CHUNK, min(POOL_CHUNK, -(-total // (helpers * 4))))
    queue = [tasks[start : start + chunk] for start in range(0, total, chunk)]
    queue.reverse()  # pop() from the end takes them in order
    in_flight: set[Future[list[Stored]]] = set()
    report(0, total, "parsing tickets")
    try:
        while queue or in_flight:
            while queue and len(in_flight) < helpers * 2:
                in_flight.add(executor.submit(parse_batch, queue.pop()))
            if queue:
                mine = queue.pop()
                for start in range(0, len(mine), CHUNK):
                    parsed.extend(parse_batch(mine[start : start + CHUNK]))
                    if token.cancelled:
                        break
                done = {f for f in in_flight if f.done()}
            else:
                done, _pending = wait(in_flight, timeout=0.05, return_when=FIRST_COMPLETED)
            for future in done:
                in_flight.discard(future)
                parsed.extend(_chunk_result(future))
            report(len(parsed), total, "parsing tickets")
            if token.cancelled:
                token.raise_if_cancelled()
    except BaseException:
        for future in in_flight:
            future.cancel()
        raise


def _chunk_result(future: Future[list[Stored]]) -> list[Stored]:
    from concurrent.futures.process import BrokenProcessPool

    try:
        return future.result()
    except BrokenProcessPool:
        raise TicketflowError(
            "a ticket parsing worker died during the scan",
            hint="run the scan again; if it keeps failing, report the ticket files it stops on",
        ) from None
