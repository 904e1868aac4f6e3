"""Summaries (the TUI's rows from the index) and the scan in a child process."""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from conftest import make_git_repo

from ticketflow.cancel import CancelToken
from ticketflow.errors import CancelledError, TicketflowError
from ticketflow.index import ScanResult, Summary, TicketIndex
from ticketflow.isolated import run_isolated
from ticketflow.jobs.scan import ScanJob
from ticketflow.model import Status, Ticket
from ticketflow.store import TicketStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from gen_tickets import generate


def summary_of(ticket: Ticket) -> Summary:
    """The summary of a ticket in hand: what the index should give for it."""
    return Summary(
        ticket.id,
        ticket.status.value,
        ticket.priority,
        ticket.description,
        "" if ticket.created_at is None else ticket.created_at.isoformat(),
        ticket.parent or "",
        ticket.path or "",
    )


def test_cached_summaries_need_a_cache(corpus_repo: Path) -> None:
    index = TicketIndex.open(TicketStore.open(corpus_repo))
    assert index.cached_summaries() is None  # nothing cached yet
    assert not index.path.exists()  # and asking did not create a database


def test_summaries_equal_the_tickets(corpus_repo: Path) -> None:
    """Every field of every summary equals the one made from the parsed ticket, in list
    order, and the unreadable files are the same problems ``load`` reports."""
    store = TicketStore.open(corpus_repo)
    index = TicketIndex.open(store)
    loaded = index.load()
    validated = index.summaries()
    cached = index.cached_summaries()
    assert cached is not None
    expected = [summary_of(t) for t in loaded.tickets]

    def same_instant(items: list[Summary]) -> list[Summary]:
        # the index keeps the timestamp as written ("...Z"), summary_of Python's isoformat
        return [s._replace(created=str(datetime.fromisoformat(s.created))) for s in items]

    assert same_instant(validated.items) == same_instant(expected)
    assert cached.items == validated.items
    assert [s.created[:10] for s in cached.items] == [s.created[:10] for s in expected]
    assert [str(p) for p in cached.problems] == [str(p) for p in loaded.problems]
    assert cached.counts == validated.counts
    assert cached.counts["total"] == len(expected) == 101
    assert any(s.parent for s in expected)  # the corpus has parents: the column is read
    assert all(s.slug == t.slug for s, t in zip(expected, loaded.tickets, strict=True))


def test_cached_summaries_do_not_look_at_the_files(store: TicketStore) -> None:
    """The cache as it is: a ticket written after the last scan is not there until the
    next scan (the TUI paints this at once, then scans)."""
    store.create("first")
    index = TicketIndex.open(store)
    index.scan()
    store.create("second")
    cached = index.cached_summaries()
    assert cached is not None and [s.slug for s in cached.items] == ["first"]
    result = index.scan()
    assert result.counts.parsed >= 1  # (the first file too while it is in the racy window)
    cached = index.cached_summaries()
    assert cached is not None and sorted(s.slug for s in cached.items) == ["first", "second"]


def test_cached_summaries_of_a_corrupt_or_foreign_cache(store: TicketStore) -> None:
    store.create("first")
    index = TicketIndex.open(store)
    index.scan()
    with sqlite3.connect(index.path) as conn:  # a row no parse could have written
        conn.execute("UPDATE files SET status = 'maybe'")
    assert index.cached_summaries() is None
    index.path.write_bytes(b"not a database at all" * 100)
    assert index.cached_summaries() is None
    assert index.path.read_bytes().startswith(b"not a database")  # left for a scan to fix
    assert index.scan().cache.value == "rebuilt"
    cached = index.cached_summaries()
    assert cached is not None and [s.slug for s in cached.items] == ["first"]


def test_scan_result_json_round_trip(store: TicketStore) -> None:
    store.create("good")
    bad = store.status_dir(Status.TODO) / "250101-000000-bad.md"
    bad.write_text("---\npriority: [\n---\nbody\n", encoding="utf-8")
    result = TicketIndex.open(store).scan()
    assert result.problems  # the corpus has problems: they survive the trip too
    again = ScanResult.from_json(result.to_json())
    assert again.to_json() == result.to_json()
    assert again.counts == result.counts and again.problems == result.problems


def test_isolated_scan_reports_what_an_in_process_scan_does(corpus_repo: Path) -> None:
    store = TicketStore.open(corpus_repo)
    seen: list[tuple[int, int | None, str]] = []
    data = run_isolated("scan", corpus_repo, lambda c, t, m: seen.append((c, t, m)), CancelToken())
    isolated = ScanResult.from_json(data)
    assert isolated.cache.value == "created" and isolated.counts.parsed == 101
    in_process = TicketIndex.open(store).scan()  # the child's index is this one: all cached
    assert in_process.counts.parsed == 0 and in_process.counts.reused == 101
    assert isolated.problems == in_process.problems
    assert isolated.counts.tickets == in_process.counts.tickets == 101
    assert seen and seen[0][2] == "listing ticket files"


def test_isolated_scan_job_through_the_queue(corpus_repo: Path) -> None:
    """A ``ScanJob`` on a queue with the isolated runner returns a real ``ScanResult``."""
    import asyncio

    from ticketflow.jobs import ISOLATED, JobQueue

    async def main() -> object:
        async with JobQueue(runner=ISOLATED) as queue:
            job_id = queue.submit(ScanJob(TicketStore.open(corpus_repo)))
            return await queue.wait(job_id)

    result = asyncio.run(main())
    assert isinstance(result, ScanResult) and result.counts.files == 101


def age(root: Path) -> None:
    """Move every ticket file's mtime 10 s back: out of the index's racy window, so what a
    scan parsed is stored with its real stamp and reused by the next scan."""
    past = time.time() - 10
    for path in (root / "tickets").glob("*/*.md"):
        os.utime(path, (past, past))


def test_isolated_scan_cancelled_stops_and_keeps_what_it_parsed(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "big")
    generate(8000, root, commit=False)
    age(root)
    token = CancelToken()

    def progress(current: int, total: int | None, message: str) -> None:
        if message == "parsing tickets" and current > 0:
            token.cancel("stop now")

    with pytest.raises(CancelledError) as caught:
        run_isolated("scan", root, progress, token)
    assert caught.value.partial is not None
    assert caught.value.partial.endswith("of 8,000 tickets scanned")
    assert str(caught.value).startswith("stop now after ")
    done = int(caught.value.partial.split()[0].replace(",", ""))
    assert 0 < done < 8000
    again = TicketIndex.open(TicketStore.open(root)).scan()  # the parsed part was kept
    assert again.counts.reused == done and again.counts.parsed == 8000 - done


def test_isolated_scan_cancelled_from_another_thread(tmp_path: Path) -> None:
    """The cancel arrives while the parent waits for output (the TUI's ESC)."""
    root = make_git_repo(tmp_path / "big")
    generate(8000, root, commit=False)
    token = CancelToken()
    started = threading.Event()

    def progress(current: int, total: int | None, message: str) -> None:
        if current > 0:
            started.set()

    def cancel_soon() -> None:
        started.wait(30)
        token.cancel("cancelled with ESC")

    thread = threading.Thread(target=cancel_soon)
    thread.start()
    try:
        with pytest.raises(CancelledError, match="cancelled with ESC"):
            run_isolated("scan", root, progress, token)
    finally:
        thread.join()


def test_isolated_scan_of_a_folder_that_is_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(TicketflowError) as caught:
        run_isolated("scan", tmp_path, lambda c, t, m: None, CancelToken())
    assert "git" in caught.value.message.lower()
    assert caught.value.hint  # the child's hint comes through
