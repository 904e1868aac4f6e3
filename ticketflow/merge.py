"""Field-level three-way merge of two edits of one ticket.

Plain git merges ticket files line by line, so two people changing adjacent frontmatter lines
(priority here, description there) conflict although they touched different fields. Here
each field is merged on its own: a field changed on one side takes that side, both sides to
the same value is fine, both to different values is a conflict (settled by ``strategy`` when
the user asks). ``related`` merges as a set of additions and removals; unknown keys merge key
by key; the body goes through a three-way text merge supplied by the caller (libgit2's file
merge in practice), so this module stays pure and testable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ticketflow.model import HEADER_FIELDS, Ticket

Strategy = Literal["ours", "theirs"]
TextMerge = Callable[[str, str, str], "tuple[str, bool]"]
"""``(base, ours, theirs) -> (merged text, clean)``; not clean means conflict markers."""

_NO_BASE = object()
"""The base of every field when the ticket did not exist in the common ancestor."""
_ABSENT = object()
"""An unknown key that one version does not have (added or removed there)."""

SCALAR_FIELDS = HEADER_FIELDS[:-1]
"""Every header field but ``related``, which merges as a set."""


@dataclass(frozen=True)
class FieldConflict:
    """Both sides changed one field of one ticket to different values."""

    ticket_id: str
    field: str
    ours: Any
    theirs: Any

    def to_json(self) -> dict[str, Any]:
        def show(value: Any) -> Any:
            if value is None or isinstance(value, (str, int, float, bool, list, dict)):
                return value
            if isinstance(value, tuple):
                return list(value)
            return str(value)

        return {
            "ticket": self.ticket_id,
            "field": self.field,
            "ours": show(self.ours),
            "theirs": show(self.theirs),
        }


@dataclass(frozen=True)
class TicketMerge:
    """The merged ticket, or the conflicts that prevent one."""

    ticket: Ticket | None
    conflicts: tuple[FieldConflict, ...]

    @property
    def clean(self) -> bool:
        return self.ticket is not None


def _merge_value(
    ticket_id: str,
    field: str,
    base: Any,
    ours: Any,
    theirs: Any,
    strategy: Strategy | None,
    conflicts: list[FieldConflict],
) -> Any:
    if ours == theirs:
        return ours
    if base is not _NO_BASE and ours == base:
        return theirs
    if base is not _NO_BASE and theirs == base:
        return ours
    if strategy == "ours":
        return ours
    if strategy == "theirs":
        return theirs
    conflicts.append(FieldConflict(ticket_id, field, ours, theirs))
    return ours


def merge_related(
    base: tuple[str, ...], ours: tuple[str, ...], theirs: tuple[str, ...]
) -> tuple[str, ...]:
    """Keep what either side added, drop what either side removed; ours' order first."""
    removed = {r for r in base if r not in ours or r not in theirs}
    merged = [r for r in ours if r not in removed]
    merged += [r for r in theirs if r not in removed and r not in merged]
    return tuple(merged)


def _merge_extra(
    ticket_id: str,
    base: tuple[tuple[str, Any], ...] | None,
    ours: tuple[tuple[str, Any], ...],
    theirs: tuple[tuple[str, Any], ...],
    strategy: Strategy | None,
    conflicts: list[FieldConflict],
) -> tuple[tuple[str, Any], ...]:
    base_d = dict(base) if base is not None else {}
    ours_d, theirs_d = dict(ours), dict(theirs)
    keys = list(ours_d) + [k for k in theirs_d if k not in ours_d]
    keys += [k for k in base_d if k not in keys]
    out: list[tuple[str, Any]] = []
    for key in keys:
        value = _merge_value(
            ticket_id,
            key,
            base_d.get(key, _ABSENT) if base is not None else _NO_BASE,
            ours_d.get(key, _ABSENT),
            theirs_d.get(key, _ABSENT),
            strategy,
            conflicts,
        )
        if value is not _ABSENT:
            out.append((key, value))
    return tuple(out)


def merge_tickets(
    base: Ticket | None,
    ours: Ticket,
    theirs: Ticket,
    *,
    text_merge: TextMerge,
    strategy: Strategy | None = None,
) -> TicketMerge:
    """Merge two edits of one ticket; ``base`` is None when both sides created it."""
    if ours.header_fields() == theirs.header_fields() and ours.body == theirs.body:
        return TicketMerge(ours, ())
    conflicts: list[FieldConflict] = []
    values: dict[str, Any] = {}
    for name in SCALAR_FIELDS:
        values[name] = _merge_value(
            ours.id,
            name,
            getattr(base, name) if base is not None else _NO_BASE,
            getattr(ours, name),
            getattr(theirs, name),
            strategy,
            conflicts,
        )
    if base is not None:
        values["related"] = merge_related(base.related, ours.related, theirs.related)
    else:
        values["related"] = merge_related((), ours.related, theirs.related)
    values["extra"] = _merge_extra(
        ours.id,
        base.extra if base is not None else None,
        ours.extra,
        theirs.extra,
        strategy,
        conflicts,
    )

    body_base = base.body if base is not None else ""
    if ours.body == theirs.body:
        body = ours.body
    elif base is not None and ours.body == body_base:
        body = theirs.body
    elif base is not None and theirs.body == body_base:
        body = ours.body
    else:
        body, clean = text_merge(body_base, ours.body, theirs.body)
        if not clean:
            if strategy == "ours":
                body = ours.body
            elif strategy == "theirs":
                body = theirs.body
            else:
                conflicts.append(FieldConflict(ours.id, "body", ours.body, theirs.body))
    if conflicts:
        return TicketMerge(None, tuple(conflicts))
    merged = ours.with_changes(body=body, raw=None, **values)
    # keep a side's exact bytes when the merge equals that side
    for side in (ours, theirs):
        if merged.header_fields() == side.header_fields() and merged.body == side.body:
            return TicketMerge(side, ())
    return TicketMerge(merged, ())
