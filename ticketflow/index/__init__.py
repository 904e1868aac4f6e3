"""The ticket index: an incremental, concurrent scan cached in SQLite, and the lint.

Listing tens of thousands of tickets by parsing every file on every command is what makes the
other tools slow. The index keeps, per ticket file, the fields ``list`` and ``status`` need,
keyed by the file's path and a stamp of its ``stat`` (a 64-bit hash of mtime_ns, size, inode
and ctime_ns). A refresh stats every file (as ``git status`` does), re-parses only what
changed, drops what was removed, and answers the rest from the cache. A large cold scan
parses in a process pool. The lint report is cached too, for as long as no row changes.

The cache lives at ``<git dir>/ticketflow/index.sqlite``. It is a cache, never a source of
truth: a file that is not our schema (application id, version, parser and configuration
fingerprint) or that SQLite finds corrupt is deleted and rebuilt; a database that is locked
or cannot be written never fails a read, the command answers from a plain scan. Every row
used is checked against the file's current stamp, so a row another process wrote for another
version of a file is never believed.

A file modified within the file system's timestamp granularity of a scan could change again
without changing its stat ("racy git"); its row is stored with an impossible stamp, so the
next scan parses it once more.

Three ways to read, from the richest to the fastest:

- ``load()``: ``Ticket`` objects in list order, the shape of ``TicketStore.load_all()``. They
  carry the header fields only (``body`` empty, ``raw`` None) unless ``bodies=True``: they are
  for showing, never for writing back (the store re-reads a file before every change).
- ``summaries()``: one small ``Summary`` per ticket (what the TUI lists), no ``Ticket`` built;
  ``cached_summaries()`` gives them as the cache holds them, without looking at the files.
- ``rendered(view, ...)``: only the cached renderings of the selected tickets; when nothing
  changed, SQLite selects and orders them and Python builds nothing per ticket. This is what
  makes ``list --format json`` of 100,000 tickets take about a second.

``scan()`` is the lint: per-file problems (the parse errors, with lines), status/folder
mismatches, duplicate ids, dangling relations and parent cycles.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ticketflow.cancel import NEVER_CANCELLED, CancelToken, ProgressCallback, no_progress
from ticketflow.config import git_dir
from ticketflow.errors import CancelledError, MalformedTicketError
from ticketflow.index.cache import (
    INDEX_NAME,
    SELECT,
    Cache,
    CacheError,
    parser_fingerprint,
    read_cache,
    sqlite_state,
    write_views,
)
from ticketflow.index.lint import LARGE_FILE_BYTES, lint_rows
from ticketflow.index.listing import RACY, Listing, list_files
from ticketflow.index.pool import (
    CHUNK,
    POOL_MIN_FILES,
    POOL_MIN_FILES_NO_FORK,
    cpu_count,
    parse_tasks,
)
from ticketflow.index.reading import STREAM_THRESHOLD, read_text
from ticketflow.index.results import (
    ALL_STATUSES,
    CacheState,
    Problem,
    Rendered,
    ScanCounts,
    ScanResult,
    ScanTimings,
    Severity,
    Summary,
    SummaryList,
    View,
)
from ticketflow.index.rows import (
    COLUMNS,
    INT64,
    LIST_ORDER,
    PATH_OF,
    PRIORITY_OF,
    STAMP_OF,
    SUMMARY_OF_ROW,
    Row,
    Stored,
    as_row,
    build_tickets,
    in_folder_order,
    parse_batch,
    reread,
    row_error,
    row_ticket,
    summaries_of,
)

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from ticketflow.store import LoadResult, TicketStore

__all__ = [
    "ALL_STATUSES",
    "CHUNK",
    "COLUMNS",
    "INDEX_NAME",
    "LARGE_FILE_BYTES",
    "POOL_MIN_FILES",
    "POOL_MIN_FILES_NO_FORK",
    "RACY",
    "STREAM_THRESHOLD",
    "CacheState",
    "Problem",
    "Rendered",
    "ScanCounts",
    "ScanResult",
    "ScanTimings",
    "Severity",
    "Summary",
    "SummaryList",
    "TicketIndex",
    "View",
    "parse_batch",
    "read_text",
]


T = TypeVar("T")


class _Refresh:
    """The outcome of one refresh: every current row, and what it took."""

    def __init__(
        self, rows: list[Stored], listing: Listing, cache: CacheState, reused: int, removed: int
    ) -> None:
        self.rows = rows
        self.listing = listing
        self.cache = cache
        self.reused = reused
        self.removed = removed
        self.problems: list[Problem] | None = None
        self.counts: dict[str, int] | None = None
        self.parsed = 0
        self.mode = "none"
        self.workers = 0
        self.times: dict[str, float] = {}


class TicketIndex:
    """The incremental index of one repository's tickets.

    Cheap to create; every ``scan``/``load`` opens the database, refreshes it and closes it,
    so one instance may be used from any thread (not from two at once).
    """

    def __init__(
        self,
        store: TicketStore,
        *,
        path: Path | None = None,
        busy_timeout: float = 2.0,
        workers: int | None = None,
        pool_min_files: int | None = None,
    ) -> None:
        self.store = store
        self.path = path or git_dir(store.root) / "ticketflow" / INDEX_NAME
        self.busy_timeout = busy_timeout
        self.workers = workers if workers is not None else cpu_count()
        self.pool_min_files = pool_min_files
        config = store.config
        layout = (config.tickets_dir, config.todo_dir, config.doing_dir, config.done_dir)
        self._fingerprint = "|".join((parser_fingerprint(), *layout))

    @classmethod
    def open(cls, store: TicketStore, **options: Any) -> TicketIndex:
        """The index of ``store`` at ``<git dir>/ticketflow/index.sqlite``."""
        return cls(store, **options)

    # --- public API ---------------------------------------------------------------------

    def scan(
        self,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        *,
        executor: Executor | None = None,
    ) -> ScanResult:
        """Refresh the index and lint every ticket: the report ``ticketflow scan`` prints.

        ``executor`` is a process pool to parse in (the job queue's); without one, a pool is
        started only for many changed files. Raises ``CancelledError`` (with ``partial``)
        when ``cancel`` is set; the files parsed so far are kept in the index.
        """
        started = time.perf_counter()
        refresh = self._refresh("lint", progress, cancel, executor, lint=True)
        problems, counts = refresh.problems or [], refresh.counts or {}
        now = time.perf_counter()
        times = refresh.times
        return ScanResult(
            counts=ScanCounts(
                files=len(refresh.listing.stamps),
                tickets=counts["todo"] + counts["doing"] + counts["done"],
                todo=counts["todo"],
                doing=counts["doing"],
                done=counts["done"],
                malformed=counts["malformed"],
                ignored=refresh.listing.ignored,
                parsed=refresh.parsed,
                reused=refresh.reused,
                removed=refresh.removed,
            ),
            problems=tuple(problems),
            timings=ScanTimings(
                listing=times.get("listing", 0.0),
                parsing=times.get("parsing", 0.0),
                saving=times.get("saving", 0.0),
                linting=times.get("linting", 0.0),
                total=now - started,
                mode=refresh.mode,
                workers=refresh.workers,
            ),
            cache=refresh.cache,
        )

    def load(
        self,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        *,
        bodies: bool = False,
        executor: Executor | None = None,
    ) -> LoadResult:
        """Every ticket, sorted as ``list`` shows them, and every file that does not parse:
        ``TicketStore.load_all()``'s ``LoadResult``, from the index.

        Without ``bodies`` the tickets have an empty body and no ``raw`` header (what
        ``list``, ``status`` and the TUI's table need); with it, each file is read again and
        the tickets equal ``load_all()``'s exactly (for ``list --search``).
        """
        from ticketflow.store import LoadResult

        tickets, problems = self._read(
            "load",
            lambda refresh: build_tickets(refresh.rows, refresh.listing, bodies),
            progress,
            cancel,
            executor,
        )
        return LoadResult(tickets, problems)  # rows come in list order

    def summaries(
        self,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        *,
        executor: Executor | None = None,
    ) -> SummaryList:
        """Every readable ticket as a ``Summary`` in list order, after refreshing the index
        (files changed since are parsed): what the TUI lists, without ``Ticket`` objects."""
        items, counts, problems = self._read(
            "load",
            lambda refresh: summaries_of(map(SUMMARY_OF_ROW, refresh.rows)),
            progress,
            cancel,
            executor,
        )
        return SummaryList(items, counts, problems)

    def cached_summaries(self) -> SummaryList | None:
        """The summaries as the cache holds them, without looking at any ticket file: the
        TUI paints these at once and refreshes in the background. None when there is no
        usable cache (none yet, another ticketflow version or folder layout, corrupt,
        locked). Never writes. Tickets whose priority SQLite cannot store (beyond 64 bits)
        are never cached, so they are missing here; ``ScanResult.counts`` tells."""
        if not self.path.is_file():
            return None
        cache = Cache(self.path, self._fingerprint, self.busy_timeout)
        try:
            conn = cache.conn = cache._connect()
            if cache._check(conn) != "ok":
                return None
            conn.execute("BEGIN")
            try:
                rows = conn.execute(SELECT["summaries"]).fetchall()
            finally:
                conn.execute("COMMIT")
            items, counts, problems = summaries_of(rows)
        except (sqlite3.Error, ValueError, TypeError, KeyError, IndexError):
            return None
        finally:
            cache.close()
        return SummaryList(items, counts, problems)

    def rendered(
        self,
        view: View,
        *,
        statuses: Sequence[str] = ALL_STATUSES,
        priority: int | None = None,
        limit: int = 0,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> Rendered:
        """The view's texts of the tickets with one of ``statuses`` (and ``priority``), in
        list order, at most ``limit`` (0: all): ``list --format json`` in one call.

        When no file changed and every rendering is cached, SQLite selects and orders the
        texts and nothing else is built (a hundred thousand tickets list in well under a
        second); otherwise the index is refreshed and only new or changed tickets (or all of
        them, for a new view key) are built and rendered, and their renderings stored for the
        next call.
        """
        fast = self._rendered_from_cache(view, statuses, priority, limit)
        if fast is not None:
            return fast
        return self._read(
            "rendering",
            lambda refresh: self._render(refresh, view, statuses, priority, limit),
            progress,
            cancel,
            None,
        )

    def _rendered_from_cache(
        self, view: View, statuses: Sequence[str], priority: int | None, limit: int
    ) -> Rendered | None:
        listing = list_files(self.store, False, time.time_ns())
        if listing.racy:
            return None
        cache = Cache(self.path, self._fingerprint, self.busy_timeout)
        try:
            cache.open()
            assert cache.conn is not None
            conn = cache.conn
            conn.execute("BEGIN")  # one snapshot for every query below
            try:
                stamps = conn.execute(SELECT["stamps"]).fetchall()
                if len(stamps) != len(listing.stamps) or dict(stamps) != listing.stamps:
                    return None  # something changed: the full refresh handles it
                rows = conn.execute(SELECT["rendered"], (view.key,)).fetchall()
            finally:
                conn.execute("COMMIT")
        except (CacheError, sqlite3.Error):
            return None
        finally:
            cache.close()
        wanted = frozenset(statuses)
        summary = dict.fromkeys(ALL_STATUSES, 0)
        texts: list[str] = []
        failed: list[tuple[str, str, MalformedTicketError]] = []
        for status, level, fresh, text, path, folder, error in rows:
            if status is None:
                failed.append((folder, path, row_error(path, error)))
            elif not fresh or text is None:
                return None  # a rendering is missing or for another view
            else:
                summary[status] += 1
                if status in wanted and (priority is None or level == priority):
                    texts.append(text)
        summary["total"] = summary["todo"] + summary["doing"] + summary["done"]
        return Rendered(texts[:limit] if limit else texts, summary, in_folder_order(failed))

    def clear(self) -> None:
        """Delete the cache, so that the next refresh is cold."""
        with contextlib.suppress(CacheError):  # if it stays, the next open rebuilds it
            Cache(self.path, self._fingerprint, self.busy_timeout).discard()

    # --- building results ---------------------------------------------------------------

    def _read(
        self,
        columns: str,
        build: Callable[[_Refresh], T],
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
        executor: Executor | None,
    ) -> T:
        """``build`` of a refresh. A row no parse could have written (the cache was tampered
        with) makes ``build`` raise ValueError, TypeError, KeyError or IndexError: the cache
        is then deleted and the refresh made again, cold, once."""
        refresh = self._refresh(columns, progress, cancel, executor, lint=False)
        try:
            return build(refresh)
        except (ValueError, TypeError, KeyError, IndexError):
            self.clear()
            return build(self._refresh(columns, progress, cancel, executor, lint=False))

    def _render(
        self,
        refresh: _Refresh,
        view: View,
        statuses: Sequence[str],
        priority: int | None,
        limit: int,
    ) -> Rendered:
        """``rendered``'s answer from a refresh: the missing renderings made (and stored)."""
        rows = list(map(as_row, refresh.rows))
        texts: dict[str, str] = {}
        failed: list[tuple[str, str, MalformedTicketError]] = []
        stale = [
            row
            for row in rows
            if row.status is not None and (row.view_text is None or row.view_key != view.key)
        ]
        if stale:
            for row, problem in self._render_views(stale, refresh.listing, view, texts):
                failed.append((row.folder, row.path, problem))
        selected: list[str] = []
        summary = {"todo": 0, "doing": 0, "done": 0}
        lost = {path for _folder, path, _problem in failed}
        for row in rows:
            status = row.status
            path = row.path
            if status is None:
                failed.append((row.folder, path, row_error(row.path, row.error)))
                continue
            if path in lost:
                continue
            summary[status] += 1
            if status in statuses and (priority is None or row.priority == priority):
                text = texts.get(path, row.view_text)
                assert text is not None  # the rows without one were rendered above
                selected.append(text)
        summary["total"] = summary["todo"] + summary["doing"] + summary["done"]
        texts_out = selected[:limit] if limit else selected
        return Rendered(texts_out, summary, in_folder_order(failed))

    def _render_views(
        self, stale: list[Row], listing: Listing, view: View, texts: dict[str, str]
    ) -> Iterator[tuple[Row, MalformedTicketError]]:
        """Render the tickets whose cached rendering is missing or for another key, store
        the renderings (best effort: a busy cache renders again next time), and yield the
        files that no longer parse."""
        cache = Cache(self.path, self._fingerprint, self.busy_timeout)
        try:
            with contextlib.suppress(CacheError):  # without a cache: render, do not store
                cache.open()
            updates = []
            for row in stale:
                try:
                    ticket = reread(row, listing, False) if row.extra_reparse else row_ticket(row)
                except MalformedTicketError as exc:  # changed since the refresh
                    yield row, exc
                    continue
                text = texts[row.path] = view.render(ticket)
                updates.append((view.key, text, row.path, row.stamp))
            if cache.conn is not None and updates:
                with contextlib.suppress(sqlite3.Error):
                    write_views(cache.conn, updates)
        finally:
            cache.close()

    def _refresh(
        self,
        columns: str,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
        executor: Executor | None,
        lint: bool,
    ) -> _Refresh:
        report = progress or no_progress
        token = cancel or NEVER_CANCELLED
        t0 = time.perf_counter()
        report(0, None, "listing ticket files")
        listing = list_files(self.store, lint, time.time_ns())
        token.raise_if_cancelled()
        cache = Cache(self.path, self._fingerprint, self.busy_timeout)
        try:
            # a scan first reads stamps only: when nothing changed, the cached lint is the
            # answer and the wider columns are never read. (Reading in a thread while the
            # files are statted was measured slower: both halves need the GIL.)
            snapshot = read_cache(cache, "stamps" if lint else columns, lint)
            stamps = listing.stamps
            # rows, or (path, stamp) pairs for a scan: either way path and stamp come first
            cached = snapshot.rows
            rows: list[Stored] = []
            removed: list[str] = []
            pending: set[str] = set()
            if len(cached) == len(stamps) and stamps == dict(
                zip(map(PATH_OF, cached), map(STAMP_OF, cached), strict=True)
            ):
                rows = cached  # nothing changed: compared in C, no loop
            else:
                pending = set(stamps)
                discard = pending.discard
                get = stamps.get
                for row in cached:
                    path = row[0]
                    if get(path) == row[1]:
                        rows.append(row)
                        discard(path)
                    elif path not in stamps:
                        removed.append(path)
            out = _Refresh(rows, listing, cache.state, reused=len(rows), removed=len(removed))
            if lint and not pending and not removed and snapshot.lint is not None:
                t1 = time.perf_counter()
                out.problems = [Problem.from_json(p) for p in snapshot.lint["problems"]]
                out.counts = snapshot.lint["counts"]
                out.times = {"listing": t1 - t0, "linting": time.perf_counter() - t1}
                return out
            if lint and cached:
                out.rows = rows = self._wide_rows(cache, listing, pending, removed)
                out.reused, out.removed = len(rows), len(removed)
            t1 = time.perf_counter()
            tasks = [listing.task(rel) for rel in pending]
            parsed: list[Stored] = []
            try:
                if tasks:
                    out.mode, out.workers = parse_tasks(
                        tasks, parsed, report, token, executor, self.workers, self.pool_min_files
                    )
            except CancelledError:
                self._save(cache, parsed, removed, snapshot.generation, out, None)
                raise CancelledError(
                    token.reason, partial=f"{len(parsed):,} of {len(tasks):,} tickets scanned"
                ) from None
            t2 = time.perf_counter()
            if parsed:
                rows.extend(parsed)
                if not lint:
                    rows.sort(key=LIST_ORDER)  # runs already in order: nearly linear
            lint_data = None
            if lint:
                report(len(tasks), len(tasks), "checking tickets")
                out.problems, out.counts = lint_rows(rows, self.store.root)
                problems = [p.to_json() for p in out.problems]
                lint_data = {"problems": problems, "counts": out.counts}
            t3 = time.perf_counter()
            report(len(tasks), len(tasks), "saving the index")
            self._save(cache, parsed, removed, snapshot.generation, out, lint_data)
            out.parsed = len(parsed)
            out.times = {
                "listing": t1 - t0,
                "parsing": t2 - t1,
                "linting": t3 - t2,
                "saving": time.perf_counter() - t3,
            }
            return out
        finally:
            cache.close()

    def _wide_rows(
        self, cache: Cache, listing: Listing, pending: set[str], removed: list[str]
    ) -> list[Stored]:
        """The lint's columns of the unchanged rows, when the stamps alone were not enough.
        Read in a second query: the stamps must match again (another process may have
        written in between); a row that no longer matches is parsed like a changed file."""
        if cache.conn is None:
            return []
        try:
            snapshot = cache.snapshot("lint", False)
        except sqlite3.Error:
            pending.update(listing.stamps)
            return []
        stamps = listing.stamps
        rows = []
        seen = set()
        for row in snapshot.rows:
            path = row[0]  # the lint's columns start with the path and the stamp
            if path in pending:
                continue
            if stamps.get(path) == row[1]:
                rows.append(row)
                seen.add(path)
            elif path not in stamps and path not in removed:
                removed.append(path)
        pending.update(path for path in stamps if path not in seen)
        return rows

    def _save(
        self,
        cache: Cache,
        parsed: list[Stored],
        removed: list[str],
        generation: int,
        out: _Refresh,
        lint: dict[str, Any] | None,
    ) -> None:
        storable = [row for row in parsed if PRIORITY_OF(row) in INT64]
        try:
            cache.write(storable, removed, generation, lint)
        except sqlite3.Error as exc:
            out.cache = sqlite_state(exc) or CacheState.UNAVAILABLE
