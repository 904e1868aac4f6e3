"""The ticket list's columns, laid out from the width the list has.

A fixed 40-character id column left no room for anything at 80 columns. Here the width is
shared out in order of what a person needs to tell tickets apart and act on them:

1. the id's date part (``YYMMDD-HHMMSS``, 13 characters) and the description (at least
   ``DESCRIPTION_SHARE`` of the width, never under ``MIN_DESCRIPTION``): always;
2. status, then priority: when there is room for them beside those;
3. the rest of the id (its slug), as much as fits: the whole id is in the detail pane;
4. created, then parent: only when the description keeps ``ROOMY_DESCRIPTION`` beside them.

The description always gets whatever is left over.
"""

from __future__ import annotations

from typing import NamedTuple

DATE_PART = 13
"""``YYMMDD-HHMMSS``: enough to name a ticket uniquely in practice, and to sort by eye."""
MIN_DESCRIPTION = 16
DESCRIPTION_SHARE = 0.35
"""Long slugs (``palette-config-progress-1995``) must not squeeze the description to a word."""
ROOMY_DESCRIPTION = 40
GAP = 2
STATUS = 5
PRIORITY = 3
CREATED = 10
PARENT = DATE_PART


class Columns(NamedTuple):
    """Widths of the columns shown, in screen order; 0 means the column is not shown."""

    id: int
    priority: int
    status: int
    description: int
    created: int
    parent: int

    def render(self, cells: tuple[str, str, str, str, str, str]) -> str:
        """One line: each cell cut or padded to its column (priority right-aligned)."""
        tid, pri, status, desc, created, parent = cells
        parts = [_fit(tid, self.id)]
        if self.priority:
            parts.append(pri[-self.priority :].rjust(self.priority))
        if self.status:
            parts.append(_fit(status, self.status))
        parts.append(_fit(desc, self.description))
        if self.created:
            parts.append(_fit(created, self.created))
        if self.parent:
            parts.append(_fit(parent, self.parent))
        return (" " * GAP).join(parts)

    def status_span(self) -> tuple[int, int] | None:
        """Where the status cell is in a rendered line (it gets its own colour)."""
        if not self.status:
            return None
        start = self.id + GAP + (self.priority + GAP if self.priority else 0)
        return start, start + self.status


def _fit(text: str, width: int) -> str:
    if len(text) <= width:
        return text.ljust(width)
    return text[: max(0, width - 1)] + "…" if width > 1 else text[:width]


def layout(width: int, id_length: int) -> Columns:
    """The columns for a list ``width`` characters wide whose longest id is ``id_length``."""
    id_length = max(DATE_PART, id_length)
    least = max(MIN_DESCRIPTION, int(width * DESCRIPTION_SHARE))
    room = width - DATE_PART - GAP - least
    status = STATUS if room >= STATUS + GAP else 0
    room -= status + GAP if status else 0
    priority = PRIORITY if room >= PRIORITY + GAP else 0
    room -= priority + GAP if priority else 0
    id_width = DATE_PART + min(max(0, room), id_length - DATE_PART)
    room -= id_width - DATE_PART
    created = CREATED if least + room - (CREATED + GAP) >= ROOMY_DESCRIPTION else 0
    room -= created + GAP if created else 0
    parent = PARENT if least + room - (PARENT + GAP) >= ROOMY_DESCRIPTION else 0
    room -= parent + GAP if parent else 0
    description = max(1, least + room)
    return Columns(id_width, priority, status, description, created, parent)
