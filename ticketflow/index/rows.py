"""The index's row: one per ticket file, the same tuple layout in SQLite and in memory.
Parsing a file into a row (what pool workers run), and a row back into a ``Ticket`` or a
``Summary``: every conversion between a file, a row and what callers see lives here."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import partial
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from ticketflow.errors import MalformedTicketError
from ticketflow.fastparse import parse_fields, parse_ticket_fast
from ticketflow.index.listing import stamp_of
from ticketflow.index.reading import decode_error, open_bytes, read_error, read_text
from ticketflow.index.results import Summary
from ticketflow.model import RawHeader, Status, Ticket

if TYPE_CHECKING:
    from ticketflow.index.listing import Listing


NO_DATE = 1e300
"""``neg_created`` of a ticket without ``created_at``: after every dated one, as in
``Ticket.sort_key`` (which uses infinity)."""


class Row(NamedTuple):
    """One ticket file as the index keeps it, in SQLite and in memory (the table's columns,
    in order: ``COLUMNS`` is made from these annotations).

    ``status`` is None for a file that does not parse; ``error`` is then the JSON list
    ``[line, problem, hint, code]`` and the ticket fields keep their defaults. Times are the
    text ``datetime.fromisoformat`` reads. ``neg_created`` is ``-created_at.timestamp()``
    (``NO_DATE`` without one): the table's primary key is (priority, neg_created, id, path),
    ``Ticket.sort_key`` plus the path, so SQLite hands rows over in list order without
    sorting. ``extra_reparse`` is 1 when the extra keys cannot be cached as JSON (the file
    is read again to build the ticket); ``view_*`` cache one rendering per ticket (``View``);
    ``header_chars`` is where the body starts."""

    path: str
    stamp: int
    size: int
    folder: str
    id: str
    status: str | None = None
    related: str | None = None
    error: str | None = None
    priority: int = 0
    description: str | None = None
    neg_created: float = NO_DATE
    extra_reparse: int = 0
    view_key: str | None = None
    view_text: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    closed_at: str | None = None
    closure_reason: str | None = None
    extra: str | None = None
    header_chars: int = 0


_SQL_TYPES = {
    "str": "TEXT NOT NULL",
    "str | None": "TEXT",
    "int": "INTEGER NOT NULL",
    "float": "REAL NOT NULL",
}
COLUMNS = tuple(
    # the annotations are text (``from __future__``), which NamedTuple wraps in a ForwardRef
    (name, _SQL_TYPES[str(getattr(kind, "__forward_arg__", kind))])
    for name, kind in Row.__annotations__.items()
)
"""The table's columns and their SQLite types, from ``Row``'s annotations."""
as_row: Callable[[Iterable[Any]], Row] = partial(tuple.__new__, Row)
"""A ``Row`` from a ``Stored`` tuple, without ``Row()``'s argument parsing."""

Stored = tuple[Any, ...]
"""A row as SQLite hands it over: a plain tuple in ``COLUMNS`` order (or the first of them,
see ``cache.SELECT``), or a ``Row``. Making each a ``Row`` costs about half a microsecond
a row, a tenth of a cached read, so the bulk readers (the refresh, the lint, the summaries,
the ticket builder) take the columns they need by name with ``columns``; a ``Row`` is made
(``as_row``) where a row is used field by field (a rendering, a file read again)."""


def columns(*names: str) -> itemgetter[Any]:
    """Read the named columns of a ``Row`` or a ``Stored`` tuple alike (one C call)."""
    return itemgetter(*(Row._fields.index(name) for name in names))


PATH_OF = columns("path")
STAMP_OF = columns("stamp")
PRIORITY_OF = columns("priority")
LINT_COLUMNS = (
    *("path", "size", "folder", "id", "status", "related", "error", "priority"),
    "neg_created",
)
"""What the lint reads of a row (``LINT_OF_ROW``, in this order)."""
LINT_OF_ROW = columns(*LINT_COLUMNS)
LINT_PREFIX = Row._fields[: max(map(Row._fields.index, LINT_COLUMNS)) + 1]
"""The first columns, up to the last the lint reads: what a scan reads of unchanged rows
(the rest is most of the bytes)."""

LIST_ORDER = columns("priority", "neg_created", "id", "path")
"""The list order of rows, the same as the SQL ``ORDER BY`` (used after merging new rows)."""
INT64 = range(-(2**63), 2**63)
"""What SQLite stores as an integer: a ticket with a larger priority is parsed every time."""

SUMMARY_COLUMNS = (
    *("id", "status", "priority", "description", "created_at", "related", "path", "folder"),
    "error",
)
"""The columns a ``Summary`` is made of, in the order ``summaries_of`` reads them."""
SUMMARY_OF_ROW = columns(*SUMMARY_COLUMNS)
"""A ``Row``'s ``SUMMARY_COLUMNS`` (the ``summaries`` query selects the same from SQLite)."""

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


def _error_row(task: ParseTask, size: int, exc: MalformedTicketError) -> Row:
    rel, _abs_path, folder, tid, stamp = task
    error = dumps([exc.line, exc.problem, exc.hint, exc.code])
    return Row(rel, stamp, size, folder, tid, error=error)


def row_error(path: str, error: str | None) -> MalformedTicketError:
    """The error a row's ``error`` column holds (what ``_error_row`` stored). Raises
    TypeError/ValueError on a row no parse could have written."""
    if error is None:
        raise TypeError("a row without a status nor an error")
    line, problem, hint, code = json.loads(error)
    return MalformedTicketError(path, line, problem, hint, code=code)


def _parse_task(task: ParseTask) -> Stored:
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
            # the common case, a plain tuple in COLUMNS order: Row(...) would cost a tenth
            # more of the parse, and a Row pickles (to the pool's caller) several times slower
            return (
                *(rel, stamp, size, folder, tid, status, dumps(related) if related else None),
                *(None, priority, description, neg, 0, None, None),
                *(created, started, closed, reason, None, header_chars),
            )
        t = parse_ticket_fast(text, path=rel, ticket_id=tid)
    except MalformedTicketError as exc:
        return _error_row(task, size, exc)
    except RecursionError:
        problem = MalformedTicketError(
            rel, None, "the frontmatter nests too deeply to read", code="too-deep"
        )
        return _error_row(task, size, problem)
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
    return Row(
        rel,
        stamp,
        size,
        folder,
        tid,
        status=t.status.value,
        related=dumps(t.related) if t.related else None,
        priority=t.priority,
        description=t.description,
        neg_created=neg,
        extra_reparse=reparse,
        created_at=_iso(t.created_at),
        started_at=_iso(t.started_at),
        closed_at=_iso(t.closed_at),
        closure_reason=t.closure_reason,
        extra=extra,
        header_chars=len(t.raw.text),
    )


def parse_batch(tasks: Sequence[ParseTask]) -> list[Stored]:
    """Parse files into index rows: the unit of work sent to a pool worker."""
    return [_parse_task(task) for task in tasks]


# --- rows -> tickets ------------------------------------------------------------------------

_fromiso = datetime.fromisoformat


_TICKET_OF_ROW = columns(
    *("id", "priority", "description", "created_at", "started_at", "closed_at"),
    *("closure_reason", "related", "extra", "path"),
)


def row_ticket(row: Stored) -> Ticket:
    """Rebuild a (header-only) ticket from a row. Raises ValueError/TypeError on a row no
    parse could have written, which the caller treats as a corrupt cache."""
    tid, priority, description, created, started, closed, reason, related, extra, path = (
        _TICKET_OF_ROW(row)
    )
    if type(priority) is not int:
        raise TypeError("priority is not an integer")
    return Ticket(
        id=tid,
        priority=priority,
        description=description,
        created_at=None if created is None else _fromiso(created),
        started_at=None if started is None else _fromiso(started),
        closed_at=None if closed is None else _fromiso(closed),
        closure_reason=reason,
        related=tuple(json.loads(related)) if related is not None else (),
        extra=tuple((k, v) for k, v in json.loads(extra)) if extra is not None else (),
        path=path,
    )


_FOLDER_ORDER = {status.value: i for i, status in enumerate(Status)}


def in_folder_order(
    failed: list[tuple[str, str, MalformedTicketError]],
) -> list[MalformedTicketError]:
    """The files that do not parse, from ``(folder, path, problem)``, in the order
    ``TicketStore.load_all`` reports them: by status folder (todo, doing, done), then path.
    Raises KeyError for a folder no parse could have written."""
    failed.sort(key=lambda item: (_FOLDER_ORDER[item[0]], item[1]))
    return [problem for _folder, _path, problem in failed]


def summaries_of(
    rows: Iterable[tuple[Any, ...]],
) -> tuple[list[Summary], dict[str, int], list[MalformedTicketError]]:
    """Summaries, counts and unreadable files from rows of ``SUMMARY_COLUMNS``. Raises
    ValueError/TypeError on a row no parse could have written."""
    items: list[Summary] = []
    append = items.append
    counts = {"todo": 0, "doing": 0, "done": 0}
    failed: list[tuple[str, str, MalformedTicketError]] = []
    make = Summary
    for tid, status, priority, description, created, related, path, folder, error in rows:
        if status is None:
            failed.append((folder, path, row_error(path, error)))
            continue
        if type(priority) is not int or type(tid) is not str:
            raise TypeError("a row with the wrong types")
        counts[status] += 1
        parent = ""
        if related is not None:
            parent = next((r[7:] for r in json.loads(related) if r.startswith("parent:")), "")
        append(make(tid, status, priority, description, created or "", parent, path))
    counts["total"] = len(items)
    return items, counts, in_folder_order(failed)


_BUILD_OF_ROW = columns("status", "folder", "path", "error", "extra_reparse")


def build_tickets(
    rows: Iterable[Stored], listing: Listing, bodies: bool
) -> tuple[list[Ticket], list[MalformedTicketError]]:
    tickets: list[Ticket] = []
    failed: list[tuple[str, str, MalformedTicketError]] = []
    for row in rows:
        status, folder, path, error, reparse = _BUILD_OF_ROW(row)
        if status is None:
            failed.append((folder, path, row_error(path, error)))
            continue
        if bodies or reparse:
            try:
                ticket = reread(as_row(row), listing, bodies)
            except MalformedTicketError as exc:  # changed since the refresh
                failed.append((folder, path, exc))
                continue
        else:
            ticket = row_ticket(row)
        tickets.append(ticket)
    return tickets, in_folder_order(failed)


def reread(row: Row, listing: Listing, bodies: bool, force: bool = False) -> Ticket:
    """Read a ticket's file again: for its body, for extra keys JSON cannot hold, or
    (``force``) because the row at hand lacks the columns to build the ticket."""
    rel = row.path
    abs_path = listing.abs_path(rel)
    try:
        with open_bytes(abs_path) as fh:
            st = os.fstat(fh.fileno())
            data = fh.read()
    except OSError as exc:
        raise read_error(rel, abs_path, exc) from None
    if stamp_of(st) == row.stamp and not row.extra_reparse and not force:
        text = data.decode("utf-8")  # unchanged since it was parsed: valid
        head = row_ticket(row)
        cut = row.header_chars
        return head.with_changes(
            body=text[cut:], raw=RawHeader(text=text[:cut], fields=head.header_fields())
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise decode_error(data, exc, 0, rel) from None
    ticket = parse_ticket_fast(text, path=rel, ticket_id=row.id)
    return ticket if bodies else ticket.with_changes(body="", raw=None)
