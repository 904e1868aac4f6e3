"""Pure values: the ticket, its status and its id. No I/O happens here.

A ``Ticket`` is a frozen dataclass; changing one means ``dataclasses.replace`` (or the helpers
below), which keeps every caller honest about what changed. The raw header a ticket was read
from rides along (``raw``) so that an unchanged ticket is written back byte for byte.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ticketflow.errors import MAX_SLUG_LENGTH, InvalidSlugError, UsageError

SLUG_RE = re.compile(r"^[a-z0-9-]+$")
"""The Go tool's rule: lower-case letters, digits and hyphens. No separator, no dot, so a
slug can never name a path outside its folder."""

ID_RE = re.compile(r"^(?P<stamp>\d{6}-\d{6})-(?P<slug>[a-z0-9-]+)$")
"""``YYMMDD-HHMMSS-<slug>``: the file name of a ticket without ``.md``."""


class Status(enum.Enum):
    """Where a ticket is in its life; derived from its timestamps, mirrored by its folder."""

    TODO = "todo"
    """Created, not started: no ``started_at`` and no ``closed_at``."""
    DOING = "doing"
    """Started (``started_at`` set), not closed."""
    DONE = "done"
    """Closed: ``closed_at`` is set, whatever else is."""

    def __str__(self) -> str:
        return self.value


HEADER_FIELDS = (
    "priority",
    "description",
    "created_at",
    "started_at",
    "closed_at",
    "closure_reason",
    "related",
)
"""The header keys the Go tool knows, in the order it writes them; ``Ticket`` has a field of
each name. The last, ``related``, is the only list."""

MISSING_PRIORITY = 0
"""The priority of a header without one (or ``priority: null``): Go's zero value, which is
what the Go tool reads and shows, so both tools list the file alike. ``scan`` warns about
it; a new ticket gets 2."""


def validate_slug(slug: str) -> str:
    """Return ``slug`` if it can name a ticket, else raise ``InvalidSlugError``.

    Rejecting here (not at the file system) is what keeps ``../x`` from writing outside
    ``tickets/``: a slug never contains a separator or a dot.
    """
    if not slug or len(slug) > MAX_SLUG_LENGTH or not SLUG_RE.match(slug):
        raise InvalidSlugError(slug)
    return slug


def make_ticket_id(slug: str, now: datetime) -> str:
    """``YYMMDD-HHMMSS-slug`` in the local time of ``now`` (as the Go tool does)."""
    validate_slug(slug)
    return f"{now:%y%m%d-%H%M%S}-{slug}"


def is_ticket_id(text: str) -> bool:
    return ID_RE.match(text) is not None


MAX_PRIORITY = 2**63 - 1
"""The Go tool reads a priority into a 64-bit integer: a larger one breaks the file for it."""


def validate_priority(priority: int) -> int:
    """Priorities are small positive integers (1 is most urgent); 0 or less is a typo."""
    if not 1 <= priority <= MAX_PRIORITY:
        shown = str(priority) if len(str(priority)) <= 20 else f"of {len(str(priority))} digits"
        raise UsageError(
            f"invalid priority {shown}: priorities are 1 (the most urgent) or more, up to "
            f"{MAX_PRIORITY}",
            hint="the default priority is 2",
        )
    return priority


def now_local() -> datetime:
    """The current time with the local UTC offset, truncated to seconds (RFC3339 precision)."""
    return datetime.now(UTC).astimezone().replace(microsecond=0)


def time_ago(when: datetime, now: datetime, *, seconds: bool = False) -> str:
    """``4 minutes ago``: how long since ``when``, in its largest whole unit, as a person
    says it. Under a minute that is "just now"; with ``seconds``, only under 5 s, and then
    "30 seconds ago" (a claim lost a moment ago says how long)."""
    elapsed = int((now - when).total_seconds())
    if elapsed < (5 if seconds else 60):
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if elapsed >= size:
            count = elapsed // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"  # pragma: no cover - elapsed >= 1 here


def format_time(value: datetime) -> str:
    """RFC3339 with seconds and offset, ``Z`` for UTC: Go's ``time.RFC3339`` layout."""
    if value.tzinfo is None:
        value = value.astimezone()
    offset = value.utcoffset() or timedelta(0)
    base = value.strftime("%Y-%m-%dT%H:%M:%S")
    if offset == timedelta(0):
        return base + "Z"
    total = int(offset.total_seconds())
    sign = "+" if total >= 0 else "-"
    total = abs(total)
    return f"{base}{sign}{total // 3600:02d}:{(total % 3600) // 60:02d}"


@dataclass(frozen=True)
class RawHeader:
    """The bytes a ticket's header was read from, and the field values they meant.

    The file format writer reuses ``text`` only while the ticket's fields still equal
    ``fields``: an unchanged ticket round-trips byte for byte, a changed one is written in
    the canonical (Go tool) layout.
    """

    text: str
    fields: tuple[Any, ...]


@dataclass(frozen=True)
class Ticket:
    """One ticket: its frontmatter fields, its Markdown body and where it lives.

    ``extra`` holds frontmatter keys ticketflow does not know, in file order, so that a
    rewrite keeps them. ``path`` is relative to the repository root, with ``/`` separators.
    """

    id: str
    priority: int = 2
    description: str = ""
    created_at: datetime | None = None
    started_at: datetime | None = None
    closed_at: datetime | None = None
    closure_reason: str | None = None
    related: tuple[str, ...] = ()
    extra: tuple[tuple[str, Any], ...] = ()
    body: str = ""
    path: str | None = None
    raw: RawHeader | None = field(default=None, compare=False, repr=False)

    @property
    def status(self) -> Status:
        if self.closed_at is not None:
            return Status.DONE
        if self.started_at is not None:
            return Status.DOING
        return Status.TODO

    @property
    def slug(self) -> str:
        match = ID_RE.match(self.id)
        return match.group("slug") if match else self.id

    @property
    def parent(self) -> str | None:
        """The first ``parent:<ID>`` relation, the one the Go tool shows as the parent."""
        for rel in self.related:
            if rel.startswith("parent:"):
                return rel.removeprefix("parent:")
        return None

    def header_fields(self) -> tuple[Any, ...]:
        """Every value that the header encodes, for comparing against ``raw.fields``."""
        return (
            self.priority,
            self.description,
            self.created_at,
            self.started_at,
            self.closed_at,
            self.closure_reason,
            self.related,
            self.extra,
        )

    def sort_key(self) -> tuple[int, float, str]:
        """List order: priority ascending, then newest ``created_at`` first, then id."""
        created = self.created_at.timestamp() if self.created_at else float("-inf")
        return (self.priority, -created, self.id)

    def with_changes(self, **changes: Any) -> Ticket:
        return dataclasses.replace(self, **changes)
