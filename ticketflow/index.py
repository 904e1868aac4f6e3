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
- ``entries(view)``: one small ``Entry`` per ticket (id, status, priority, description,
  path), no ``Ticket`` built, plus a cached rendering per ticket when a ``View`` is given.
- ``rendered(view, ...)``: only the cached renderings of the selected tickets; when nothing
  changed, SQLite selects and orders them and Python builds nothing per ticket. This is what
  makes ``list --format json`` of 100,000 tickets take about a second.

``scan()`` is the lint: per-file problems (the parse errors, with lines), status/folder
mismatches, duplicate ids, dangling relations and parent cycles.
"""

from __future__ import annotations

import codecs
import contextlib
import enum
import json
import math
import os
import re
import sqlite3
import stat as stat_module
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ticketflow import __version__
from ticketflow.cancel import NEVER_CANCELLED, CancelToken, ProgressCallback, no_progress
from ticketflow.config import git_dir
from ticketflow.errors import CancelledError, MalformedTicketError, TicketflowError, quoted
from ticketflow.fastparse import parse_fields, parse_ticket_fast
from ticketflow.fsutil import is_temp_file, remove_stale_temp_files
from ticketflow.model import ID_RE, RawHeader, Status, Ticket
from ticketflow.safepaths import LINK_ERRNOS, O_NOFOLLOW, symlink_error

if TYPE_CHECKING:
    from concurrent.futures import Executor, Future

    from ticketflow.store import LoadResult, TicketStore

SCHEMA_VERSION = 1
APPLICATION_ID = 0x54464958
"""``PRAGMA application_id`` of our database ("TFIX"): any other value is a foreign file."""
INDEX_NAME = "index.sqlite"

STREAM_THRESHOLD = 1 << 20
"""Files larger than this are read in pieces: only the header is kept in memory."""
HEADER_PREFIX_BYTES = 2 << 20
"""How much of a large file is decoded to find its header (a header is at most 256 Ki
characters, at most 1 MiB of UTF-8)."""
MAX_UNCERTAIN_BYTES = 64 << 20
"""A large file whose header is not found in the prefix is read whole only up to this."""
LARGE_FILE_BYTES = 1 << 20
"""Ticket files larger than this are reported (a warning): they slow every tool down."""

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

_FINE_RACY_NS = 50_000_000
_COARSE_RACY_NS = 2_000_000_000
RACY = -1
"""The stamp stored for a file modified too close to its scan: matches no ``stat``."""

NAME_RE = re.compile(r"\d{6}-\d{6}-[a-z0-9-]+\n?\.md\Z")
"""A ticket file name: exactly what ``TicketStore.iter_files`` accepts (``model.ID_RE`` ends
in ``$``, which also matches before a final newline; mirrored here on purpose)."""

# --- rows ---------------------------------------------------------------------------------
# One row per ticket file, the same tuple layout in SQLite and in memory.
COLUMNS = (
    ("path", "TEXT NOT NULL"),
    ("stamp", "INTEGER NOT NULL"),
    ("size", "INTEGER NOT NULL"),
    ("folder", "TEXT NOT NULL"),
    ("id", "TEXT NOT NULL"),
    ("status", "TEXT"),
    ("related", "TEXT"),
    ("error", "TEXT"),
    ("priority", "INTEGER NOT NULL"),
    ("description", "TEXT"),
    ("neg_created", "REAL NOT NULL"),
    ("extra_reparse", "INTEGER NOT NULL"),
    ("view_key", "TEXT"),
    ("view_text", "TEXT"),
    ("created_at", "TEXT"),
    ("started_at", "TEXT"),
    ("closed_at", "TEXT"),
    ("closure_reason", "TEXT"),
    ("extra", "TEXT"),
    ("header_chars", "INTEGER NOT NULL"),
)
_PATH, _STAMP, _SIZE, _FOLDER, _ID, _STATUS, _RELATED, _ERROR = range(8)
_PRIORITY, _DESCRIPTION, _NEG_CREATED, _EXTRA_REPARSE, _VIEW_KEY, _VIEW_TEXT = range(8, 14)
_CREATED, _STARTED, _CLOSED, _REASON, _EXTRA, _HEADER_CHARS = range(14, 20)
LINT_COLUMNS = _NEG_CREATED + 1
ENTRY_COLUMNS = _VIEW_TEXT + 1
"""Each query reads a prefix of the columns (the stamps; what the lint needs; what ``entries``
needs; everything), so rows from SQLite and rows just parsed share one layout. ``status`` is
None for a file that does not parse; ``error`` is then the JSON list ``[line, problem, hint,
code]``. Times are the text ``datetime.fromisoformat`` read. ``neg_created`` is
``-created_at.timestamp()`` (``NO_DATE`` without one): the table's primary key is
(priority, neg_created, id, path), ``Ticket.sort_key`` plus the path, so SQLite hands rows
over in list order without sorting. ``view_*`` cache one rendering per ticket (``View``)."""

NO_DATE = 1e300
"""``neg_created`` of a ticket without ``created_at``: after every dated one, as in
``Ticket.sort_key`` (which uses infinity)."""
_ORDER = itemgetter(_PRIORITY, _NEG_CREATED, _ID, _PATH)
"""The list order of rows, the same as the SQL ``ORDER BY`` (used after merging new rows)."""
_BY_PATH = itemgetter(_PATH)
_BY_STAMP = itemgetter(_STAMP)
_INT64 = range(-(2**63), 2**63)
"""What SQLite stores as an integer: a ticket with a larger priority is parsed every time."""

Row = tuple[Any, ...]
Job = tuple[str, str, str, str, int]
"""What a worker needs to parse one file: ``(rel, abs, folder, id, stamp to store)``."""


# --- problems -----------------------------------------------------------------------------


class Severity(enum.Enum):
    """How bad a lint finding is; only errors make ``ticketflow scan`` exit 1."""

    ERROR = "error"
    """The file cannot be used as the user meant it (it does not parse, it contradicts
    itself or another ticket)."""
    WARNING = "warning"
    """Worth a look, but every tool still reads the ticket."""


@dataclass(frozen=True)
class Problem:
    """One lint finding: where (path relative to the root, 1-based line or None) and what."""

    path: str
    line: int | None
    code: str
    message: str
    severity: Severity
    hint: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "hint": self.hint,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Problem:
        return cls(
            data["path"],
            data["line"],
            data["code"],
            data["message"],
            Severity(data["severity"]),
            data["hint"],
        )

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.severity.value}: {self.message} [{self.code}]"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


@dataclass(frozen=True)
class ScanCounts:
    """What a scan found. ``files`` are the ticket files in the three status folders;
    ``tickets`` those that parse (by status from their timestamps); ``ignored`` everything
    else under the tickets folder (other folders, other names), which is never read."""

    files: int
    tickets: int
    todo: int
    doing: int
    done: int
    malformed: int
    ignored: int
    parsed: int
    """Files parsed by this scan (new or changed since the cached index)."""
    reused: int
    """Files answered from the cache without reading them."""
    removed: int
    """Rows dropped because their file is gone."""

    def summary(self) -> dict[str, int]:
        """The counts ``list`` and ``status`` show (``cli.summarize``'s shape)."""
        return {"todo": self.todo, "doing": self.doing, "done": self.done, "total": self.tickets}


@dataclass(frozen=True)
class ScanTimings:
    """Seconds spent in each phase, and how the parsing ran."""

    listing: float
    parsing: float
    saving: float
    linting: float
    total: float
    mode: str
    """``"in-process"``, ``"pool"`` or ``"none"`` (nothing to parse)."""
    workers: int


class CacheState(enum.Enum):
    """What happened to the on-disk index during a refresh."""

    WARM = "warm"
    """The cache was valid and used."""
    CREATED = "created"
    """There was no cache; it was created."""
    REBUILT = "rebuilt"
    """The cache was corrupt, foreign, or from another parser or configuration."""
    BUSY = "busy"
    """Another process held the database too long: the results were not saved."""
    UNAVAILABLE = "unavailable"
    """The database could not be opened or written (read-only, no space): a plain scan."""


@dataclass(frozen=True)
class ScanResult:
    """A scan's lint report: counts, problems (sorted by path and line), timings."""

    counts: ScanCounts
    problems: tuple[Problem, ...]
    timings: ScanTimings
    cache: CacheState

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.WARNING)

    @property
    def clean(self) -> bool:
        return not self.errors

    @property
    def exit_code(self) -> int:
        """0 when no error was found (warnings allowed), 1 otherwise."""
        return 0 if self.clean else 1

    def to_json(self) -> dict[str, Any]:
        """The shape ``ticketflow scan --format json`` prints."""
        c, t = self.counts, self.timings
        return {
            "clean": self.clean,
            "summary": {
                **c.summary(),
                "files": c.files,
                "malformed": c.malformed,
                "ignored": c.ignored,
                "errors": len(self.errors),
                "warnings": len(self.warnings),
            },
            "index": {
                "cache": self.cache.value,
                "parsed": c.parsed,
                "reused": c.reused,
                "removed": c.removed,
                "mode": t.mode,
                "workers": t.workers,
                "seconds": {
                    "listing": round(t.listing, 4),
                    "parsing": round(t.parsing, 4),
                    "saving": round(t.saving, 4),
                    "linting": round(t.linting, 4),
                    "total": round(t.total, 4),
                },
            },
            "problems": [p.to_json() for p in self.problems],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScanResult:
        """The result ``to_json`` printed (how a scan run in another process reports)."""
        summary, index = data["summary"], data["index"]
        seconds = index["seconds"]
        return cls(
            counts=ScanCounts(
                files=summary["files"],
                tickets=summary["total"],
                todo=summary["todo"],
                doing=summary["doing"],
                done=summary["done"],
                malformed=summary["malformed"],
                ignored=summary["ignored"],
                parsed=index["parsed"],
                reused=index["reused"],
                removed=index["removed"],
            ),
            problems=tuple(Problem.from_json(p) for p in data["problems"]),
            timings=ScanTimings(
                listing=seconds["listing"],
                parsing=seconds["parsing"],
                saving=seconds["saving"],
                linting=seconds["linting"],
                total=seconds["total"],
                mode=index["mode"],
                workers=index["workers"],
            ),
            cache=CacheState(index["cache"]),
        )

    def to_text(self) -> str:
        """A plain-text report for people (no colour: the CLI may add its own)."""
        c = self.counts
        lines = [
            f"Scanned {_count(c.files, 'ticket file')}: {_count(c.tickets, 'ticket')} "
            f"({c.todo:,} todo, {c.doing:,} doing, {c.done:,} done), "
            f"{c.malformed:,} malformed, {_count(c.ignored, 'other file')} ignored.",
            f"Index {self.cache.value}: {c.parsed:,} parsed, {c.reused:,} from cache, "
            f"{c.removed:,} removed in {self.timings.total:.2f} s.",
        ]
        lines += [str(p) for p in self.problems]
        errors, warnings = len(self.errors), len(self.warnings)
        if not self.problems:
            lines.append("No problems found.")
        else:
            lines.append(
                f"{errors} error{'s' if errors != 1 else ''}, "
                f"{warnings} warning{'s' if warnings != 1 else ''}."
            )
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class View:
    """A rendering of one ticket that the index caches in the ticket's row.

    Rendering ten thousand tickets (``list --format json``) costs more than reading them
    from the cache, so the rendering is cached too. ``key`` names the rendering and its
    version: the index keeps one rendering per ticket and renders again whenever the file or
    the key changes, so give each distinct output (pretty or compact, a new field) its own
    key. ``render`` receives a header-only ticket (empty body, no ``raw``)."""

    key: str
    render: Callable[[Ticket], str]


class Entry(NamedTuple):
    """A listed ticket without a ``Ticket`` object: what ``list`` filters and shows as text,
    and ``text``, the view's rendering. ``status`` is a ``Status`` value."""

    id: str
    status: str
    priority: int
    description: str
    path: str
    text: str


@dataclass(frozen=True)
class EntryList:
    """``TicketIndex.entries``' answer: entries in list order, the counts ``list`` and
    ``status`` show (over every readable ticket), and the files that do not parse (the
    ``problems`` of ``TicketStore.load_all``)."""

    entries: list[Entry]
    summary: dict[str, int]
    problems: list[MalformedTicketError]


class Summary(NamedTuple):
    """A ticket as a list shows it, read from the index without building a ``Ticket`` or
    reading the file: the TUI's rows (``TicketIndex.summaries``). ``status`` is a ``Status``
    value, ``created`` the ``created_at`` as ISO 8601 text ("" when unset), ``parent`` the
    first ``parent:<ID>`` relation ("" when none), ``path`` relative to the repository."""

    id: str
    status: str
    priority: int
    description: str
    created: str
    parent: str
    path: str

    @property
    def slug(self) -> str:
        match = ID_RE.match(self.id)
        return match.group("slug") if match else self.id

    @classmethod
    def of(cls, ticket: Ticket) -> Summary:
        """The summary of a ticket in hand (the same values the index gives)."""
        return cls(
            ticket.id,
            ticket.status.value,
            ticket.priority,
            ticket.description,
            "" if ticket.created_at is None else ticket.created_at.isoformat(),
            ticket.parent or "",
            ticket.path or "",
        )


@dataclass(frozen=True)
class SummaryList:
    """``TicketIndex.summaries``' answer: summaries in list order, the counts (``todo``,
    ``doing``, ``done``, ``total``) and the files that do not parse. ``validated`` is False
    when the rows came from the cache as it was, without looking at the files."""

    items: list[Summary]
    counts: dict[str, int]
    problems: list[MalformedTicketError]
    validated: bool


@dataclass(frozen=True)
class Rendered:
    """``TicketIndex.rendered``'s answer: the view's texts of the selected tickets in list
    order, with the same summary and problems as ``EntryList``."""

    texts: list[str]
    summary: dict[str, int]
    problems: list[MalformedTicketError]


ALL_STATUSES = ("todo", "doing", "done")


# --- reading and parsing one file (runs in worker processes too) -------------------------


def _decode_error(data: bytes, exc: UnicodeDecodeError, before: int, rel: str) -> Exception:
    line = before + data[: exc.start].count(b"\n") + 1
    return MalformedTicketError(rel, line, "not valid UTF-8 text", code="not-utf8")


def _read_large(fh: Any, first: bytes, rel: str) -> tuple[str, int]:
    """``(text, size)`` of a large file, keeping only its header in memory when possible.

    UTF-8 is checked over the whole file first (the same error and line as
    ``TicketStore.read_file``), then the header alone is returned: parsing it gives the same
    fields as parsing the whole file, and the index keeps no body.
    """
    from ticketflow.fileformat import MAX_FRONTMATTER_CHARS, split_file

    decoder = codecs.getincrementaldecoder("utf-8")()
    prefix = first + fh.read(HEADER_PREFIX_BYTES - len(first))
    size = len(prefix)
    try:
        text = decoder.decode(prefix)
    except UnicodeDecodeError as exc:
        raise _decode_error(exc.object, exc, 0, rel) from None
    newlines = prefix.count(b"\n")
    del prefix
    start = 1 if text.startswith("\ufeff") else 0
    # split_file decides within MAX_FRONTMATTER_CHARS characters plus one line; when that
    # line ends inside the prefix, the prefix gives the whole file's answer
    certain = text.find("\n", start + MAX_FRONTMATTER_CHARS, max(0, len(text) - 2)) >= 0
    if not certain:
        rest = fh.read(MAX_UNCERTAIN_BYTES)
        if fh.read(1):
            raise MalformedTicketError(
                rel,
                None,
                f"too large to read (over {MAX_UNCERTAIN_BYTES >> 20} MiB)",
                code="too-large",
            )
        try:
            text += decoder.decode(rest, final=True)
        except UnicodeDecodeError as exc:
            raise _decode_error(exc.object, exc, newlines, rel) from None
        return text, size + len(rest)
    while True:
        block = fh.read(STREAM_THRESHOLD)
        try:
            decoder.decode(block, final=not block)
        except UnicodeDecodeError as exc:
            raise _decode_error(exc.object, exc, newlines, rel) from None
        if not block:
            break
        size += len(block)
        newlines += block.count(b"\n")
    return split_file(text, rel)[0], size


_READ_FLAGS = os.O_RDONLY | O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _read_error(rel: str, abs_path: str, exc: OSError) -> MalformedTicketError:
    """``TicketStore.read_file``'s error for a file that cannot be opened or read."""
    if exc.errno in LINK_ERRNOS:
        return symlink_error(rel, abs_path)
    return MalformedTicketError(rel, None, f"cannot read: {exc.strerror or exc}", code="unreadable")


def _open_bytes(abs_path: str) -> Any:
    """A file object on ``abs_path``, never through a link."""
    return os.fdopen(os.open(abs_path, _READ_FLAGS), "rb")


def read_text(abs_path: str, rel: str) -> tuple[str, int]:
    """``(text, size in bytes)`` of a ticket file, decoded as ``TicketStore.read_file``
    decodes it (same errors). For a file over ``STREAM_THRESHOLD`` the text may be its header
    only: memory stays bounded whatever the file holds. (Plain ``os`` calls: a file object
    costs a quarter more per file, and a cold scan is mostly these calls.)"""
    try:
        fd = os.open(abs_path, _READ_FLAGS)  # never through a link (see safepaths)
        try:
            size = os.fstat(fd).st_size
            data = os.read(fd, min(size, STREAM_THRESHOLD) + 1)
            if len(data) != size:  # a short read, or it changed since the fstat: read on
                with os.fdopen(fd, "rb", closefd=False) as fh:
                    data += fh.read(STREAM_THRESHOLD + 1 - len(data))
                    if len(data) > STREAM_THRESHOLD:
                        return _read_large(fh, data, rel)
        finally:
            os.close(fd)
    except OSError as exc:
        raise _read_error(rel, abs_path, exc) from None
    try:
        return data.decode("utf-8"), len(data)
    except UnicodeDecodeError as exc:
        raise _decode_error(data, exc, 0, rel) from None


_JSON_SCALARS = (str, int, float, bool, type(None))


def _json_exact(value: Any) -> bool:
    """True when JSON gives back exactly this value (same types), so it may be cached."""
    kind = type(value)
    if kind is float:
        return math.isfinite(value)
    if kind in _JSON_SCALARS:
        return True
    if kind is list:
        return all(_json_exact(v) for v in value)
    if kind is dict:
        return all(type(k) is str and _json_exact(v) for k, v in value.items())
    return False


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


_NO_FIELDS = (0, None, NO_DATE, 0, None, None, None, None, None, None, None, 0)
"""The ticket columns of a row for a file that does not parse."""


def _error_row(head: tuple[str, int, int, str, str], exc: MalformedTicketError) -> Row:
    error = _dumps([exc.line, exc.problem, exc.hint, exc.code])
    return (*head, None, None, error, *_NO_FIELDS)


def _row_error(path: str, error: str) -> MalformedTicketError:
    """The error a row's ``error`` column holds (what ``_error_row`` stored)."""
    line, problem, hint, code = json.loads(error)
    return MalformedTicketError(path, line, problem, hint, code=code)


def _parse_job(job: Job) -> Row:
    rel, abs_path, folder, tid, stamp = job
    size = 0
    try:
        text, size = read_text(abs_path, rel)
        fields = parse_fields(text)
        if fields is not None:  # the Go layout: no Ticket needed
            (header_chars, priority, description, reason, related) = fields[:5]
            created, started, closed = fields[8:11]
            status = "done" if closed is not None else "doing" if started is not None else "todo"
            when = fields[5]
            neg = NO_DATE if when is None else -when.timestamp()
            return (
                *(rel, stamp, size, folder, tid, status, _dumps(related) if related else None),
                *(None, priority, description, neg, 0, None, None),
                *(created, started, closed, reason, None, header_chars),
            )
        t = parse_ticket_fast(text, path=rel, ticket_id=tid)
    except MalformedTicketError as exc:
        return _error_row((rel, stamp, size, folder, tid), exc)
    except RecursionError:
        problem = MalformedTicketError(
            rel, None, "the frontmatter nests too deeply to read", code="too-deep"
        )
        return _error_row((rel, stamp, size, folder, tid), problem)
    extra: str | None = None
    reparse = 0
    if t.extra:
        pairs = [list(pair) for pair in t.extra]
        if _json_exact(pairs):
            extra = _dumps(pairs)
        else:
            reparse = 1  # dates, binary, sets...: the file is read again when loading
    assert t.raw is not None
    neg = NO_DATE if t.created_at is None else -t.created_at.timestamp()
    return (
        *(rel, stamp, size, folder, tid, t.status.value, _dumps(t.related) if t.related else None),
        *(None, t.priority, t.description, neg, reparse, None, None),
        *(_iso(t.created_at), _iso(t.started_at), _iso(t.closed_at), t.closure_reason, extra),
        len(t.raw.text),
    )


def parse_batch(jobs: Sequence[Job]) -> list[Row]:
    """Parse files into index rows: the unit of work sent to a pool worker."""
    return [_parse_job(job) for job in jobs]


# --- rows -> tickets ------------------------------------------------------------------------

_fromiso = datetime.fromisoformat


def _row_ticket(row: Row) -> Ticket:
    """Rebuild a (header-only) ticket from a row. Raises ValueError/TypeError on a row no
    parse could have written, which the caller treats as a corrupt cache."""
    created, started, closed, related, extra = (
        row[_CREATED],
        row[_STARTED],
        row[_CLOSED],
        row[_RELATED],
        row[_EXTRA],
    )
    priority = row[_PRIORITY]
    if type(priority) is not int:
        raise TypeError("priority is not an integer")
    return Ticket(
        id=row[_ID],
        priority=priority,
        description=row[_DESCRIPTION],
        created_at=None if created is None else _fromiso(created),
        started_at=None if started is None else _fromiso(started),
        closed_at=None if closed is None else _fromiso(closed),
        closure_reason=row[_REASON],
        related=tuple(json.loads(related)) if related is not None else (),
        extra=tuple((k, v) for k, v in json.loads(extra)) if extra is not None else (),
        path=row[_PATH],
    )


_SUMMARY_OF_ROW = itemgetter(
    *(_ID, _STATUS, _PRIORITY, _DESCRIPTION, _CREATED, _RELATED, _PATH, _FOLDER, _ERROR)
)
"""A full row's columns in the order of the ``summaries`` query."""


def _summaries(
    rows: Iterable[Row],
) -> tuple[list[Summary], dict[str, int], list[MalformedTicketError]]:
    """Summaries, counts and unreadable files from rows in the ``summaries`` query's
    layout. Raises ValueError/TypeError on a row no parse could have written."""
    items: list[Summary] = []
    append = items.append
    counts = {"todo": 0, "doing": 0, "done": 0}
    failed: list[tuple[int, str, MalformedTicketError]] = []
    order = {s.value: i for i, s in enumerate(Status)}
    make = Summary
    for tid, status, priority, description, created, related, path, folder, error in rows:
        if status is None:
            failed.append((order[folder], path, _row_error(path, error)))
            continue
        if type(priority) is not int or type(tid) is not str:
            raise TypeError("a row with the wrong types")
        counts[status] += 1
        parent = ""
        if related is not None:
            parent = next((r[7:] for r in json.loads(related) if r.startswith("parent:")), "")
        append(make(tid, status, priority, description, created or "", parent, path))
    counts["total"] = len(items)
    failed.sort(key=lambda item: item[:2])
    return items, counts, [problem for _order, _path, problem in failed]


# --- the SQLite cache -----------------------------------------------------------------------


class _CacheError(Exception):
    """The cache cannot be used for this command; ``state`` says why."""

    def __init__(self, state: CacheState) -> None:
        super().__init__(state.value)
        self.state = state


_BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")
_UNAVAILABLE = (
    *("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL"),
    *("SQLITE_PERM", "SQLITE_AUTH", "SQLITE_NOLFS", "SQLITE_NOMEM"),
)


def _sqlite_state(exc: sqlite3.Error) -> CacheState | None:
    """BUSY or UNAVAILABLE for errors of circumstance; None for a corrupt or foreign file."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(_BUSY):
        return CacheState.BUSY
    if name.startswith(_UNAVAILABLE):
        return CacheState.UNAVAILABLE
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return CacheState.BUSY
    return None


_STRICT = ", STRICT" if sqlite3.sqlite_version_info >= (3, 37) else ""
_ORDER_BY = " ORDER BY priority, neg_created, id, path"
_SCHEMA = (
    "CREATE TABLE files ("
    + ", ".join(f"{name} {kind}" for name, kind in COLUMNS)
    + f", PRIMARY KEY (priority, neg_created, id, path)) WITHOUT ROWID{_STRICT}",
    # by path, and covering the stamps query (scanning it beats scanning the wide rows)
    "CREATE INDEX files_path ON files (path, stamp)",
    f"CREATE TABLE meta (key TEXT PRIMARY KEY, value ANY){_STRICT}",
)
_INSERT = f"INSERT INTO files VALUES ({', '.join('?' * len(COLUMNS))})"  # noqa: S608
_NAMES = [name for name, _kind in COLUMNS]
_NO_VIEW = [("NULL" if name.startswith("view_") else name) for name in _NAMES]
_SUMMARY_NAMES = (
    *("id", "status", "priority", "description", "created_at", "related", "path", "folder"),
    "error",
)
_SELECT = {  # built from the constant column names
    "stamps": "SELECT path, stamp FROM files",
    "lint": f"SELECT {', '.join(_NAMES[:LINT_COLUMNS])} FROM files",  # noqa: S608
    "entries": f"SELECT {', '.join(_NAMES[:ENTRY_COLUMNS])} FROM files{_ORDER_BY}",  # noqa: S608
    "load": f"SELECT {', '.join(_NO_VIEW)} FROM files{_ORDER_BY}",  # noqa: S608
    "row": f"SELECT {', '.join(_NAMES)} FROM files WHERE path = ?",  # noqa: S608
    "all": f"SELECT {', '.join(_NAMES)} FROM files",  # noqa: S608
    # one pass for ``rendered``: the path, folder and error only where there is an error
    "summaries": f"SELECT {', '.join(_SUMMARY_NAMES)} FROM files{_ORDER_BY}",  # noqa: S608
    "rendered": "SELECT status, priority, view_key IS ?, view_text,"  # noqa: S608
    " CASE WHEN status IS NULL THEN path END, CASE WHEN status IS NULL THEN folder END, error"
    f" FROM files{_ORDER_BY}",
}
"""``entries`` and ``load`` come in primary-key order: SQLite does not sort."""


class _Snapshot:
    """What one read transaction saw: rows, the write generation, the cached lint.
    (Internal records are plain classes: a dataclass costs an ``exec`` at import, and
    ``list`` pays every millisecond of import time.)"""

    __slots__ = ("generation", "lint", "rows")

    def __init__(self, rows: list[Row], generation: int, lint: dict[str, Any] | None) -> None:
        self.rows = rows
        self.generation = generation
        self.lint = lint


class _Cache:
    """One connection to the index database for one refresh (opened, used, closed)."""

    def __init__(self, path: Path, fingerprint: str, busy_timeout: float) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.busy_timeout = busy_timeout
        self.conn: sqlite3.Connection | None = None
        self.state = CacheState.WARM

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            str(self.path),
            timeout=self.busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _check(self, conn: sqlite3.Connection) -> str:
        """``"ok"``, ``"empty"`` (a new file), ``"stale"`` (ours, from another parser, schema
        or folder layout: rebuilt like a foreign file) or ``"foreign"``. Raises
        sqlite3.DatabaseError on a file that is not a database."""
        app = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if app == 0 and version == 0:
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            return "empty" if tables == 0 else "foreign"
        if app != APPLICATION_ID or version != SCHEMA_VERSION:
            return "foreign"
        row = conn.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
        if row is None:
            return "foreign"
        return "ok" if row[0] == self.fingerprint else "stale"

    def open(self) -> None:
        """Open a valid cache, creating or rebuilding it as needed; raises ``_CacheError``."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            raise _CacheError(CacheState.UNAVAILABLE) from None
        conn: sqlite3.Connection | None = None
        try:
            conn = self._connect()
            if self._check(conn) == "ok":
                self.conn = conn
                return
        except sqlite3.Error as exc:
            state = _sqlite_state(exc)
            if state is not None:
                _close(conn)
                raise _CacheError(state) from None
        _close(conn)
        self._repair()

    def _repair(self) -> None:
        """Create, reset or rebuild the database under a lock, so that two processes never
        delete each other's fresh database. The slow path, taken once."""
        from ticketflow.fsutil import RepoLock

        lock = RepoLock(self.path.with_name("index.lock"), timeout=self.busy_timeout)
        try:
            lock.acquire()
        except (TicketflowError, OSError):
            raise _CacheError(CacheState.BUSY) from None
        conn: sqlite3.Connection | None = None
        try:
            for attempt in range(2):
                try:
                    conn = self._connect()
                    verdict = self._check(conn)
                    if verdict == "ok":
                        self.conn = conn
                        return
                    if verdict == "empty":
                        self._create(conn)
                        if self.state is not CacheState.REBUILT:
                            self.state = CacheState.CREATED
                        self.conn = conn
                        return
                except sqlite3.Error as exc:
                    state = _sqlite_state(exc)
                    if state is not None or attempt:
                        raise _CacheError(state or CacheState.UNAVAILABLE) from None
                _close(conn)
                conn = None
                self.discard()
                self.state = CacheState.REBUILT
            raise _CacheError(CacheState.UNAVAILABLE)
        except BaseException:
            _close(conn)
            raise
        finally:
            lock.release()

    def _create(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [("fingerprint", self.fingerprint), ("ticketflow", __version__), ("generation", 0)],
            )
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def discard(self) -> None:
        """Delete a corrupt or foreign database and its journal files."""
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.unlink(f"{self.path}{suffix}")
            except FileNotFoundError:
                pass
            except OSError:
                raise _CacheError(CacheState.UNAVAILABLE) from None

    def snapshot(self, columns: str, with_lint: bool) -> _Snapshot:
        """Rows, generation and cached lint, read in one transaction (one consistent view)."""
        assert self.conn is not None
        conn = self.conn
        conn.execute("BEGIN")
        try:
            rows = conn.execute(_SELECT[columns]).fetchall()
            generation = _meta(conn, "generation")
            lint = _meta(conn, "lint") if with_lint else None
        finally:
            conn.execute("COMMIT")
        if type(generation) is not int:
            raise sqlite3.DatabaseError("the generation is missing")
        cached = json.loads(lint) if isinstance(lint, str) else None
        if not isinstance(cached, dict) or cached.get("generation") != generation:
            cached = None
        return _Snapshot(rows, generation, cached)

    def write(
        self,
        rows: Sequence[Row],
        removed: Sequence[str],
        seen_generation: int,
        lint: dict[str, Any] | None = None,
    ) -> None:
        """Replace changed rows and drop removed ones in one transaction; store ``lint``
        only if nobody else wrote since ``seen_generation`` (it describes exactly the rows
        this process saw plus its own changes)."""
        if self.conn is None or (not rows and not removed and lint is None):
            return
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            generation = _meta(conn, "generation")
            if rows or removed:
                # a path's old row goes first (its key may differ: the path index is not
                # unique, so that it can also cover the stamps query)
                gone = sorted([*removed, *(row[_PATH] for row in rows)])
                conn.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in gone])
                if rows:
                    conn.executemany(_INSERT, sorted(rows, key=_ORDER))  # primary-key order
                conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
            if lint is not None and generation == seen_generation:
                new_generation = generation + 1 if (rows or removed) else generation
                conn.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('lint', ?)",
                    (_dumps({**lint, "generation": new_generation}),),
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        _close(self.conn)
        self.conn = None


def _write_views(conn: sqlite3.Connection, updates: list[tuple[str, str, str, int]]) -> None:
    """Store renderings, only where the row is still the one rendered (same stamp)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(
            "UPDATE files SET view_key = ?, view_text = ? WHERE path = ? AND stamp = ?",
            sorted(updates, key=itemgetter(2)),
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _meta(conn: sqlite3.Connection, key: str) -> Any:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def _close(conn: sqlite3.Connection | None) -> None:
    if conn is not None:
        with contextlib.suppress(sqlite3.Error):  # a broken connection: nothing to protect
            conn.close()


def _parser_fingerprint() -> str:
    """Changes whenever the code that fills the rows may have changed (also in a development
    tree), so an upgraded ticketflow never believes rows an older parser wrote."""
    from ticketflow import fastparse, fileformat, model

    parts = [
        str(SCHEMA_VERSION),
        __version__,
        sys.version.split()[0],
        str(zlib.crc32(repr(_SCHEMA).encode())),
    ]
    for module_file in (fastparse.__file__, fileformat.__file__, model.__file__, __file__):
        try:
            st = os.stat(str(module_file))
            parts.append(f"{st.st_size}:{st.st_mtime_ns}")
        except (OSError, TypeError):
            parts.append("?")
    return "|".join(parts)


def _read_cache(cache: _Cache, columns: str, with_lint: bool) -> _Snapshot:
    """The cached rows, opening (creating, rebuilding) the database as needed. Never raises
    for a database problem: ``cache.state`` says why there are no rows."""
    rebuilt = False
    for attempt in range(2):
        try:
            cache.open()
            snapshot = cache.snapshot(columns, with_lint)
        except _CacheError as exc:
            cache.close()
            cache.state = exc.state
            return _Snapshot([], -1, None)
        except sqlite3.Error as exc:
            # it opened but fails to read: corrupt; rebuild it, once
            cache.close()
            state = _sqlite_state(exc)
            if state is not None or attempt:
                cache.state = state or CacheState.UNAVAILABLE
                return _Snapshot([], -1, None)
            try:
                cache.discard()
            except _CacheError as discard_error:
                cache.state = discard_error.state
                return _Snapshot([], -1, None)
            rebuilt = True
            continue
        if rebuilt:
            cache.state = CacheState.REBUILT
        return snapshot
    return _Snapshot([], -1, None)  # pragma: no cover - the loop always returns


# --- the index ----------------------------------------------------------------------------


class _Listing:
    """Every ticket file in the status folders: path -> stamp, and how to find it
    (``folders``: relative folder -> (status, absolute folder prefix))."""

    __slots__ = ("folders", "ignored", "racy", "stamps")

    def __init__(
        self,
        stamps: dict[str, int],
        racy: set[str],
        folders: dict[str, tuple[str, str]],
        ignored: int,
    ) -> None:
        self.stamps = stamps
        self.racy = racy
        self.folders = folders
        self.ignored = ignored

    def job(self, rel: str) -> Job:
        prefix, _, name = rel.rpartition("/")
        folder, abs_prefix = self.folders[prefix]
        stamp = RACY if rel in self.racy else self.stamps[rel]
        return (rel, abs_prefix + name, folder, name[:-3], stamp)

    def abs_path(self, rel: str) -> str:
        prefix, _, name = rel.rpartition("/")
        return self.folders[prefix][1] + name


class _Refresh:
    """The outcome of one refresh: every current row, and what it took."""

    def __init__(
        self, rows: list[Row], listing: _Listing, cache: CacheState, reused: int, removed: int
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


def _cpu_count() -> int:
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


def _count_files(entry: os.DirEntry[str], folder: Path) -> int:
    """1 for a file, the files below it for a folder (never following links)."""
    try:
        if entry.is_dir(follow_symlinks=False):
            below = os.walk(folder / entry.name)
            return sum(len(names) for _dir, _subdirs, names in below)
    except OSError:
        return 1
    return 1


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
        self.workers = workers if workers is not None else _cpu_count()
        self.pool_min_files = pool_min_files
        config = store.config
        layout = (config.tickets_dir, config.todo_dir, config.doing_dir, config.done_dir)
        self._fingerprint = "|".join((_parser_fingerprint(), *layout))

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

        refresh = self._refresh("load", progress, cancel, executor, lint=False)
        try:
            tickets, problems = self._build(refresh, bodies)
        except (ValueError, TypeError, KeyError, IndexError):
            # a row no parse could have written: the cache was tampered with; start over
            self.clear()
            refresh = self._refresh("load", progress, cancel, executor, lint=False)
            tickets, problems = self._build(refresh, bodies)
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
        refresh = self._refresh("load", progress, cancel, executor, lint=False)
        try:
            items, counts, problems = _summaries(map(_SUMMARY_OF_ROW, refresh.rows))
        except (ValueError, TypeError, KeyError, IndexError):
            self.clear()  # a row no parse could have written: start over
            refresh = self._refresh("load", progress, cancel, executor, lint=False)
            items, counts, problems = _summaries(map(_SUMMARY_OF_ROW, refresh.rows))
        return SummaryList(items, counts, problems, validated=True)

    def cached_summaries(self) -> SummaryList | None:
        """The summaries as the cache holds them, without looking at any ticket file: the
        TUI paints these at once and refreshes in the background. None when there is no
        usable cache (none yet, another ticketflow version or folder layout, corrupt,
        locked). Never writes. Tickets whose priority SQLite cannot store (beyond 64 bits)
        are never cached, so they are missing here; ``ScanResult.counts`` tells."""
        if not self.path.is_file():
            return None
        cache = _Cache(self.path, self._fingerprint, self.busy_timeout)
        try:
            conn = cache.conn = cache._connect()
            if cache._check(conn) != "ok":
                return None
            conn.execute("BEGIN")
            try:
                rows = conn.execute(_SELECT["summaries"]).fetchall()
            finally:
                conn.execute("COMMIT")
            items, counts, problems = _summaries(rows)
        except (sqlite3.Error, ValueError, TypeError, KeyError, IndexError):
            return None
        finally:
            cache.close()
        return SummaryList(items, counts, problems, validated=False)

    def entries(
        self,
        view: View | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        *,
        executor: Executor | None = None,
    ) -> EntryList:
        """Every readable ticket as an ``Entry`` in list order, with the summary and the
        files that do not parse: the fast path of ``list`` and ``status``, which builds no
        ``Ticket``. With a ``view``, each entry carries its cached rendering; only new or
        changed tickets (or all of them, for a new view key) are built and rendered."""
        refresh = self._refresh("entries", progress, cancel, executor, lint=False)
        try:
            return self._entries(refresh, view)
        except (ValueError, TypeError, KeyError, IndexError):
            self.clear()  # a row no parse could have written: start over
            refresh = self._refresh("entries", progress, cancel, executor, lint=False)
            return self._entries(refresh, view)

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
        second); otherwise this is ``entries(view)`` filtered, which brings the cache up to
        date for the next call.
        """
        fast = self._rendered_from_cache(view, statuses, priority, limit)
        if fast is not None:
            return fast
        listed = self.entries(view, progress, cancel)
        texts = [
            e.text
            for e in listed.entries
            if e.status in statuses and (priority is None or e.priority == priority)
        ]
        return Rendered(texts[:limit] if limit else texts, listed.summary, listed.problems)

    def _rendered_from_cache(
        self, view: View, statuses: Sequence[str], priority: int | None, limit: int
    ) -> Rendered | None:
        listing = self._list_files(False, time.time_ns())
        if listing.racy:
            return None
        cache = _Cache(self.path, self._fingerprint, self.busy_timeout)
        try:
            cache.open()
            assert cache.conn is not None
            conn = cache.conn
            conn.execute("BEGIN")  # one snapshot for every query below
            try:
                stamps = conn.execute(_SELECT["stamps"]).fetchall()
                if len(stamps) != len(listing.stamps) or dict(stamps) != listing.stamps:
                    return None  # something changed: the full refresh handles it
                rows = conn.execute(_SELECT["rendered"], (view.key,)).fetchall()
            finally:
                conn.execute("COMMIT")
        except (_CacheError, sqlite3.Error):
            return None
        finally:
            cache.close()
        wanted = frozenset(statuses)
        summary = dict.fromkeys(ALL_STATUSES, 0)
        texts: list[str] = []
        failed: list[tuple[int, str, MalformedTicketError]] = []
        order = {s.value: i for i, s in enumerate(Status)}
        for status, level, fresh, text, path, folder, error in rows:
            if status is None:
                failed.append((order[folder], path, _row_error(path, error)))
            elif not fresh or text is None:
                return None  # a rendering is missing or for another view
            else:
                summary[status] += 1
                if status in wanted and (priority is None or level == priority):
                    texts.append(text)
        summary["total"] = summary["todo"] + summary["doing"] + summary["done"]
        failed.sort(key=lambda item: item[:2])
        return Rendered(texts[:limit] if limit else texts, summary, [exc for _o, _p, exc in failed])

    def clear(self) -> None:
        """Delete the cache, so that the next refresh is cold."""
        with contextlib.suppress(_CacheError):  # if it stays, the next open rebuilds it
            _Cache(self.path, self._fingerprint, self.busy_timeout).discard()

    # --- building results ---------------------------------------------------------------

    def _entries(self, refresh: _Refresh, view: View | None) -> EntryList:
        rows = refresh.rows
        texts: dict[str, str] = {}
        failed: list[tuple[int, str, MalformedTicketError]] = []
        order = {s.value: i for i, s in enumerate(Status)}
        if view is not None:
            stale = [
                row
                for row in rows
                if row[_STATUS] is not None
                and (row[_VIEW_TEXT] is None or row[_VIEW_KEY] != view.key)
            ]
            if stale:
                for row, problem in self._render_views(stale, refresh.listing, view, texts):
                    failed.append((order[row[_FOLDER]], row[_PATH], problem))
        entries: list[Entry] = []
        summary = {"todo": 0, "doing": 0, "done": 0}
        lost = {path for _order, path, _problem in failed}
        for row in rows:
            status = row[_STATUS]
            path = row[_PATH]
            if status is None:
                failed.append((order[row[_FOLDER]], path, _row_error(row[_PATH], row[_ERROR])))
                continue
            if path in lost:
                continue
            text = "" if view is None else texts[path] if path in texts else row[_VIEW_TEXT]
            summary[status] += 1
            entries.append(Entry(row[_ID], status, row[_PRIORITY], row[_DESCRIPTION], path, text))
        summary["total"] = len(entries)
        failed.sort(key=lambda item: item[:2])
        return EntryList(entries, summary, [problem for _order, _path, problem in failed])

    def _render_views(
        self, stale: list[Row], listing: _Listing, view: View, texts: dict[str, str]
    ) -> Iterator[tuple[Row, MalformedTicketError]]:
        """Render the tickets whose cached rendering is missing or for another key, store
        the renderings (best effort: a busy cache renders again next time), and yield the
        files that no longer parse."""
        cache = _Cache(self.path, self._fingerprint, self.busy_timeout)
        try:
            with contextlib.suppress(_CacheError):  # without a cache: render, do not store
                cache.open()
            full = self._full_rows(cache, [r for r in stale if len(r) < len(COLUMNS)])
            updates = []
            for row in stale:
                whole = row if len(row) == len(COLUMNS) else full.get(row[_PATH])
                try:
                    if whole is None or whole[_STAMP] != row[_STAMP]:
                        ticket = self._reread(row, listing, False, force=True)
                    elif whole[_EXTRA_REPARSE]:
                        ticket = self._reread(whole, listing, False)
                    else:
                        ticket = _row_ticket(whole)
                except MalformedTicketError as exc:  # changed since the refresh
                    yield row, exc
                    continue
                text = texts[row[_PATH]] = view.render(ticket)
                updates.append((view.key, text, row[_PATH], row[_STAMP]))
            if cache.conn is not None and updates:
                with contextlib.suppress(sqlite3.Error):
                    _write_views(cache.conn, updates)
        finally:
            cache.close()

    @staticmethod
    def _full_rows(cache: _Cache, partial: list[Row]) -> dict[str, Row]:
        """Every column of the given rows (the ``entries`` query reads only the first ones)."""
        if cache.conn is None or not partial:
            return {}
        conn = cache.conn
        try:
            if len(partial) > 1000:
                wanted = {row[_PATH] for row in partial}
                everything = conn.execute(_SELECT["all"]).fetchall()
                return {row[_PATH]: row for row in everything if row[_PATH] in wanted}
            found = (conn.execute(_SELECT["row"], (row[_PATH],)).fetchone() for row in partial)
            return {row[_PATH]: row for row in found if row is not None}
        except sqlite3.Error:
            return {}

    def _build(
        self, refresh: _Refresh, bodies: bool
    ) -> tuple[list[Ticket], list[MalformedTicketError]]:
        tickets: list[Ticket] = []
        failed: list[tuple[int, str, MalformedTicketError]] = []
        order = {s.value: i for i, s in enumerate(Status)}
        for row in refresh.rows:
            if row[_STATUS] is None:
                failed.append(
                    (order[row[_FOLDER]], row[_PATH], _row_error(row[_PATH], row[_ERROR]))
                )
                continue
            if bodies or row[_EXTRA_REPARSE]:
                try:
                    ticket = self._reread(row, refresh.listing, bodies)
                except MalformedTicketError as exc:  # changed since the refresh
                    failed.append((order[row[_FOLDER]], row[_PATH], exc))
                    continue
            else:
                ticket = _row_ticket(row)
            tickets.append(ticket)
        failed.sort(key=lambda item: item[:2])
        return tickets, [exc for _order, _path, exc in failed]

    def _reread(self, row: Row, listing: _Listing, bodies: bool, force: bool = False) -> Ticket:
        """Read a ticket's file again: for its body, for extra keys JSON cannot hold, or
        (``force``) because the row at hand lacks the columns to build the ticket."""
        rel = row[_PATH]
        abs_path = listing.abs_path(rel)
        try:
            with _open_bytes(abs_path) as fh:
                st = os.fstat(fh.fileno())
                data = fh.read()
        except OSError as exc:
            raise _read_error(rel, abs_path, exc) from None
        stamp = hash((st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns))
        if stamp == row[_STAMP] and not row[_EXTRA_REPARSE] and not force:
            text = data.decode("utf-8")  # unchanged since it was parsed: valid
            head = _row_ticket(row)
            cut = row[_HEADER_CHARS]
            return head.with_changes(
                body=text[cut:], raw=RawHeader(text=text[:cut], fields=head.header_fields())
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _decode_error(data, exc, 0, rel) from None
        ticket = parse_ticket_fast(text, path=rel, ticket_id=row[_ID])
        return ticket if bodies else ticket.with_changes(body="", raw=None)

    # --- the refresh --------------------------------------------------------------------

    def _list_files(self, count_ignored: bool, scan_start: int) -> _Listing:
        """Stat every ticket file in the three status folders (what ``iter_files`` yields);
        with ``count_ignored``, also count every other file under the tickets folder."""
        store = self.store
        stamps: dict[str, int] = {}
        racy: set[str] = set()
        folders: dict[str, tuple[str, str]] = {}
        ignored = 0
        status_dirs = []
        leftovers: list[str] = []  # temporary files of writes that were killed
        fine_cutoff = scan_start - _FINE_RACY_NS
        coarse_cutoff = scan_start - _COARSE_RACY_NS
        match = NAME_RE.match
        regular = stat_module.S_ISREG
        is_link = stat_module.S_ISLNK
        for status in Status:
            folder = store.status_dir(status)  # refuses a folder leading out of the repository
            status_dirs.append(os.path.normpath(folder))
            rel_dir = store.relpath(folder)
            prefix = rel_dir + "/"
            folders[rel_dir] = (status.value, str(folder) + "/")
            try:
                # through a descriptor: each stat is an fstatat() relative to the folder,
                # which skips resolving the whole path again (a quarter of the time here)
                fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise TicketflowError(
                    f"cannot read {rel_dir}: {exc.strerror or exc}",
                    hint="each status folder must be a readable directory",
                ) from None
            try:
                with os.scandir(fd) as entries:
                    for entry in entries:
                        name = entry.name
                        if match(name):
                            try:
                                # the entry itself: one fstatat, as for any file (a link is
                                # listed to be reported, never followed; see safepaths)
                                st = entry.stat(follow_symlinks=False)
                            except FileNotFoundError:
                                st = None  # vanished since the folder was read
                            except OSError:  # cannot even stat it: the parse says why
                                stamps[prefix + name] = RACY
                                continue
                            if st is not None and (regular(st.st_mode) or is_link(st.st_mode)):
                                rel = prefix + name
                                mtime = st.st_mtime_ns
                                key = (mtime, st.st_size, st.st_ino, st.st_ctime_ns)
                                stamps[rel] = hash(key)
                                if mtime >= coarse_cutoff and (
                                    mtime >= fine_cutoff or not mtime % 1_000_000_000
                                ):
                                    racy.add(rel)
                                continue
                        if count_ignored:
                            ignored += _count_files(entry, folder)
                            if is_temp_file(name):
                                leftovers.append(os.path.join(folder, name))
            finally:
                os.close(fd)
        if count_ignored:
            ignored += self._count_outside(status_dirs)
            remove_stale_temp_files(leftovers)
        return _Listing(stamps, racy, folders, ignored)

    def _count_outside(self, status_dirs: list[str]) -> int:
        """Files under the tickets folder but outside the status folders (never read)."""
        root = os.path.normpath(self.store.tickets_root)
        if root == os.path.normpath(self.store.root):
            return 0  # tickets.dir is the repository itself: do not count the world
        count = 0
        for dirpath, dirnames, filenames in os.walk(root):
            if os.path.normpath(dirpath) in status_dirs:
                dirnames[:] = []
                continue
            dirnames[:] = [
                d for d in dirnames if os.path.normpath(os.path.join(dirpath, d)) not in status_dirs
            ]
            count += len(filenames)
        return count

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
        listing = self._list_files(lint, time.time_ns())
        token.raise_if_cancelled()
        cache = _Cache(self.path, self._fingerprint, self.busy_timeout)
        try:
            # a scan first reads stamps only: when nothing changed, the cached lint is the
            # answer and the wider columns are never read. (Reading in a thread while the
            # files are statted was measured slower: both halves need the GIL.)
            snapshot = _read_cache(cache, "stamps" if lint else columns, lint)
            stamps = listing.stamps
            rows: list[Row] = []
            removed: list[str] = []
            pending: set[str] = set()
            cached = snapshot.rows
            if len(cached) == len(stamps) and stamps == dict(
                zip(map(_BY_PATH, cached), map(_BY_STAMP, cached), strict=True)
            ):
                rows = cached  # nothing changed: compared in C, no loop
            else:
                pending = set(stamps)
                discard = pending.discard
                get = stamps.get
                for row in snapshot.rows:
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
            if lint and snapshot.rows:
                out.rows = rows = self._wide_rows(cache, listing, pending, removed)
                out.reused, out.removed = len(rows), len(removed)
            t1 = time.perf_counter()
            jobs = [listing.job(rel) for rel in pending]
            parsed: list[Row] = []
            try:
                if jobs:
                    self._parse(jobs, parsed, out, report, token, executor)
            except CancelledError:
                self._save(cache, parsed, removed, snapshot.generation, out, None)
                raise CancelledError(
                    token.reason, partial=f"{len(parsed):,} of {len(jobs):,} tickets scanned"
                ) from None
            t2 = time.perf_counter()
            if parsed:
                rows.extend(parsed)
                if columns in ("load", "entries"):
                    rows.sort(key=_ORDER)  # runs already in order: nearly linear
            lint_data = None
            if lint:
                report(len(jobs), len(jobs), "checking tickets")
                out.problems, out.counts = _lint(rows, self.store.root)
                problems = [p.to_json() for p in out.problems]
                lint_data = {"problems": problems, "counts": out.counts}
            t3 = time.perf_counter()
            report(len(jobs), len(jobs), "saving the index")
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
        self, cache: _Cache, listing: _Listing, pending: set[str], removed: list[str]
    ) -> list[Row]:
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
            path = row[0]
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
        cache: _Cache,
        parsed: list[Row],
        removed: list[str],
        generation: int,
        out: _Refresh,
        lint: dict[str, Any] | None,
    ) -> None:
        storable = [row for row in parsed if row[_PRIORITY] in _INT64]
        try:
            cache.write(storable, removed, generation, lint)
        except sqlite3.Error as exc:
            out.cache = _sqlite_state(exc) or CacheState.UNAVAILABLE

    def _parse(
        self,
        jobs: list[Job],
        parsed: list[Row],
        out: _Refresh,
        report: ProgressCallback,
        token: CancelToken,
        executor: Executor | None,
    ) -> None:
        total = len(jobs)
        context: Any = None
        threshold = self.pool_min_files
        if executor is None and self.workers > 1 and total >= (threshold or POOL_MIN_FILES):
            context, fork_ok = _pool_context()
            if threshold is None and not fork_ok:
                threshold = POOL_MIN_FILES_NO_FORK
        if threshold is None:
            threshold = POOL_MIN_FILES
        if (executor is None and self.workers < 2) or total < threshold:
            out.mode, out.workers = "in-process", 1
            report(0, total, "parsing tickets")
            for start in range(0, total, CHUNK):
                token.raise_if_cancelled()
                parsed.extend(parse_batch(jobs[start : start + CHUNK]))
                report(len(parsed), total, "parsing tickets")
            return
        out.mode = "pool"
        own = executor is None
        if executor is None:
            from concurrent.futures import ProcessPoolExecutor

            helpers = max(1, self.workers - 1)  # this process parses too
            executor = ProcessPoolExecutor(max_workers=helpers, mp_context=context)
        else:
            helpers = max(1, getattr(executor, "_max_workers", 1))
        out.workers = helpers + 1
        try:
            _parse_hybrid(jobs, parsed, executor, helpers, report, token)
        except BaseException:
            if own:  # do not wait for chunks nobody will read (at most one per worker)
                executor.shutdown(wait=False, cancel_futures=True)
            raise
        if own:
            executor.shutdown(wait=True)


POOL_CHUNK = 512
"""Files per task sent to a worker process (larger amortises the pickling round trip)."""


def _parse_hybrid(
    jobs: list[Job],
    parsed: list[Row],
    executor: Executor,
    helpers: int,
    report: ProgressCallback,
    token: CancelToken,
) -> None:
    """Parse with the pool's workers and this process together, taking chunks from one
    queue, so that neither waits while the other works (this process would otherwise sit
    idle, and on two cores one worker plus this process beats two workers)."""
    from concurrent.futures import FIRST_COMPLETED, wait

    total = len(jobs)
    chunk = max(CHUNK, min(POOL_CHUNK, -(-total // (helpers * 4))))
    queue = [jobs[start : start + chunk] for start in range(0, total, chunk)]
    queue.reverse()  # pop() from the end takes them in order
    in_flight: set[Future[list[Row]]] = set()
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


def _chunk_result(future: Future[list[Row]]) -> list[Row]:
    from concurrent.futures.process import BrokenProcessPool

    try:
        return future.result()
    except BrokenProcessPool:
        raise TicketflowError(
            "a ticket parsing worker died during the scan",
            hint="run the scan again; if it keeps failing, report the ticket files it stops on",
        ) from None


# --- the lint -------------------------------------------------------------------------------


def _line_of(path: Path, needle: str) -> int | None:
    """The first line of a file's header mentioning ``needle`` (to point at a relation)."""
    try:
        with _open_bytes(str(path)) as fh:
            head = fh.read(64 * 1024).decode("utf-8", errors="replace")
    except OSError:
        return None
    for number, line in enumerate(head.splitlines(), start=1):
        if needle in line:
            return number
        if number > 1 and line.rstrip() == "---":
            break
    return None


def _field_warnings(row: Row, root: Path) -> Iterator[Problem]:
    """Fields a person left out or wrote by hand outside their range. Both tools still
    read the ticket, with Go's zero values (priority 0, created 0001-01-01 in the Go tool,
    no date here), so it lists at the top, or last, for no reason anyone chose."""
    path = row[_PATH]
    if row[_NEG_CREATED] == NO_DATE:
        yield Problem(
            path,
            None,
            "missing-field",
            "created_at is missing: the ticket has no creation time (the Go tool shows "
            "0001-01-01), so it lists after every dated ticket of its priority",
            Severity.WARNING,
            'add a line like created_at: "2025-09-24T14:35:04+09:00" (ticketflow new '
            "writes it for you)",
        )
    priority = row[_PRIORITY]
    if type(priority) is int and priority < 1:
        yield Problem(
            path,
            _line_of(root / path, "priority:"),
            "invalid-priority",
            f"priority is {priority}: priorities are 1 (the most urgent) or more"
            + ("; a missing priority reads as 0 in both tools" if priority == 0 else ""),
            Severity.WARNING,
            "write priority: 2 (the default), or 1 for the most urgent",
        )


def _lint(rows: list[Row], root: Path) -> tuple[list[Problem], dict[str, int]]:
    """Every per-file and cross-ticket problem, and counts by status."""
    problems: list[Problem] = []
    counts = {"todo": 0, "doing": 0, "done": 0, "malformed": 0}
    paths_by_id: dict[str, list[str]] = {}
    parent_of: dict[str, str] = {}
    path_of: dict[str, str] = {}
    with_related: list[tuple[str, str, list[str]]] = []
    for row in rows:
        path, tid = row[_PATH], row[_ID]
        paths_by_id.setdefault(tid, []).append(path)
        if row[_SIZE] > LARGE_FILE_BYTES:
            problems.append(
                Problem(
                    path,
                    None,
                    "large-file",
                    f"the file is {row[_SIZE] / (1 << 20):.1f} MiB; large ticket files "
                    "slow down every tool that reads them",
                    Severity.WARNING,
                    "move attachments or logs out of the ticket and link to them",
                )
            )
        if row[_STATUS] is None:
            counts["malformed"] += 1
            line, problem, hint, code = json.loads(row[_ERROR])
            problems.append(Problem(path, line, code, problem, Severity.ERROR, hint))
            continue
        status, folder = row[_STATUS], row[_FOLDER]
        counts[status] += 1
        path_of.setdefault(tid, path)
        problems.extend(_field_warnings(row, root))
        if status != folder:
            problems.append(
                Problem(
                    path,
                    None,
                    "status-mismatch",
                    f"the timestamps say {status} but the file is in the {folder} folder",
                    Severity.ERROR,
                    f"move it to the {status} folder, or fix started_at/closed_at "
                    "(ticketflow start/close/reopen move files for you)",
                )
            )
        if row[_RELATED] is not None:
            related = json.loads(row[_RELATED])
            with_related.append((path, tid, related))
            for entry in related:
                if entry.startswith("parent:"):
                    parent_of.setdefault(tid, entry[7:])
                    break
    for tid, paths in paths_by_id.items():
        if len(paths) > 1:
            for path in paths:
                others = ", ".join(p for p in paths if p != path)
                problems.append(
                    Problem(
                        path,
                        None,
                        "duplicate-id",
                        f"ticket id {tid} is also used by {others}",
                        Severity.ERROR,
                        "keep the copy in the folder that matches its timestamps and "
                        "delete the other",
                    )
                )
    for path, _tid, related in with_related:
        for entry in related:
            kind, sep, target = entry.partition(":")
            if not sep:
                kind, target = "", entry  # a bare id, as the Go team's own tickets write
            if not target or (sep and not kind):
                problems.append(
                    Problem(
                        path,
                        _line_of(root / path, entry),
                        "invalid-related",
                        f"related entry {quoted(entry)} is not <kind>:<ID>",
                        Severity.WARNING,
                        "write it like parent:<ID>, blocks:<ID> or blocked-by:<ID>",
                    )
                )
            elif target not in paths_by_id:
                problems.append(
                    Problem(
                        path,
                        _line_of(root / path, entry),
                        "dangling-related",
                        f"related entry {quoted(entry)} names no ticket",
                        Severity.WARNING,
                        "fix the id, or remove the entry if the ticket was deleted",
                    )
                )
    problems.extend(_parent_cycles(parent_of, path_of, root))
    problems.sort(key=lambda p: (p.path, p.line or 0, p.code))
    return problems, counts


def _parent_cycles(
    parent_of: dict[str, str], path_of: dict[str, str], root: Path
) -> Iterator[Problem]:
    """Each ``parent:`` cycle once (a ticket has one parent, so walks are linear)."""
    state: dict[str, int] = {}  # 1: on the current walk, 2: finished
    for start in parent_of:
        walk: list[str] = []
        node = start
        while node in parent_of and node not in state:
            state[node] = 1
            walk.append(node)
            node = parent_of[node]
        if state.get(node) == 1:
            cycle = walk[walk.index(node) :]
            first = min(cycle)
            turn = cycle.index(first)
            ordered = cycle[turn:] + cycle[:turn]
            chain = " -> ".join([*ordered, first])
            path = path_of.get(first, first)
            yield Problem(
                path,
                _line_of(root / path, f"parent:{parent_of[first]}"),
                "parent-cycle",
                f"parent cycle: {chain}",
                Severity.ERROR,
                "a ticket cannot be its own ancestor: remove one of the parent: entries",
            )
        for visited in walk:
            state[visited] = 2
