"""The index's row: one per ticket file, the same tuple layout in SQLite and in memory.
Parsing a file into a row (what pool workers run), and a row back into a ``Ticket`` or a
``Summary``: every conversion between a file, a row and what callers see lives here."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from ticketflow.errors import MalformedTicketError
from ticketflow.fastparse import parse_fields, parse_ticket_fast
from ticketflow.index.reading import decode_error, open_bytes, read_error, read_text
from ticketflow.index.results import Summary
from ticketflow.model import RawHeader, Status, Ticket

if TYPE_CHECKING:
    from ticketflow.index.listing import Listing


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
LIST_ORDER = itemgetter(_PRIORITY, _NEG_CREATED, _ID, _PATH)
"""The list order of rows, the same as the SQL ``ORDER BY`` (used after merging new rows)."""
BY_PATH = itemgetter(_PATH)
BY_STAMP = itemgetter(_STAMP)
INT64 = range(-(2**63), 2**63)
"""What SQLite stores as an integer: a ticket with a larger priority is parsed every time."""

Row = tuple[Any, ...]
ParseTask = tuple[str, str, str, str, int]
"""What a worker needs to parse one file: ``(rel, abs, folder, id, stamp to store)``."""


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


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


_NO_FIELDS = (0, None, NO_DATE, 0, None, None, None, None, None, None, None, 0)
"""The ticket columns of a row for a file that does not parse."""


def _error_row(head: tuple[str, int, int, str, str], exc: MalformedTicketError) -> Row:
    error = dumps([exc.line, exc.problem, exc.hint, exc.code])
    return (*head, None, None, error, *_NO_FIELDS)


def row_error(path: str, error: str) -> MalformedTicketError:
    """The error a row's ``error`` column holds (what ``_error_row`` stored)."""
    line, problem, hint, code = json.loads(error)
    return MalformedTicketError(path, line, problem, hint, code=code)


def _parse_task(task: ParseTask) -> Row:
    rel, abs_path, folder, tid, stamp = task
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
                *(rel, stamp, size, folder, tid, status, dumps(related) if related else None),
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
            extra = dumps(pairs)
        else:
            reparse = 1  # dates, binary, sets...: the file is read again when loading
    assert t.raw is not None
    neg = NO_DATE if t.created_at is None else -t.created_at.timestamp()
    return (
        *(rel, stamp, size, folder, tid, t.status.value, dumps(t.related) if t.related else None),
        *(None, t.priority, t.description, neg, reparse, None, None),
        *(_iso(t.created_at), _iso(t.started_at), _iso(t.closed_at), t.closure_reason, extra),
        len(t.raw.text),
    )


def parse_batch(tasks: Sequence[ParseTask]) -> list[Row]:
    """Parse files into index rows: the unit of work sent to a pool worker."""
    return [_parse_task(task) for task in tasks]


# --- rows -> tickets ------------------------------------------------------------------------

_fromiso = datetime.fromisoformat


def row_ticket(row: Row) -> Ticket:
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


SUMMARY_OF_ROW = itemgetter(
    *(_ID, _STATUS, _PRIORITY, _DESCRIPTION, _CREATED, _RELATED, _PATH, _FOLDER, _ERROR)
)
"""A full row's columns in the order of the ``summaries`` query."""


def summaries_of(
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
            failed.append((order[folder], path, row_error(path, error)))
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


def build_tickets(
    rows: list[Row], listing: Listing, bodies: bool
) -> tuple[list[Ticket], list[MalformedTicketError]]:
    tickets: list[Ticket] = []
    failed: list[tuple[int, str, MalformedTicketError]] = []
    order = {s.value: i for i, s in enumerate(Status)}
    for row in rows:
        if row[_STATUS] is None:
            failed.append((order[row[_FOLDER]], row[_PATH], row_error(row[_PATH], row[_ERROR])))
            continue
        if bodies or row[_EXTRA_REPARSE]:
            try:
                ticket = reread(row, listing, bodies)
            except MalformedTicketError as exc:  # changed since the refresh
                failed.append((order[row[_FOLDER]], row[_PATH], exc))
                continue
        else:
            ticket = row_ticket(row)
        tickets.append(ticket)
    failed.sort(key=lambda item: item[:2])
    return tickets, [exc for _order, _path, exc in failed]


def reread(row: Row, listing: Listing, bodies: bool, force: bool = False) -> Ticket:
    """Read a ticket's file again: for its body, for extra keys JSON cannot hold, or
    (``force``) because the row at hand lacks the columns to build the ticket."""
    rel = row[_PATH]
    abs_path = listing.abs_path(rel)
    try:
        with open_bytes(abs_path) as fh:
            st = os.fstat(fh.fileno())
            data = fh.read()
    except OSError as exc:
        raise read_error(rel, abs_path, exc) from None
    stamp = hash((st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns))
    if stamp == row[_STAMP] and not row[_EXTRA_REPARSE] and not force:
        text = data.decode("utf-8")  # unchanged since it was parsed: valid
        head = row_ticket(row)
        cut = row[_HEADER_CHARS]
        return head.with_changes(
            body=text[cut:], raw=RawHeader(text=text[:cut], fields=head.header_fields())
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise decode_error(data, exc, 0, rel) from None
    ticket = parse_ticket_fast(text, path=rel, ticket_id=row[_ID])
    return ticket if bodies else ticket.with_changes(body="", raw=None)
