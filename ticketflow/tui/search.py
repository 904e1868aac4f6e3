"""Incremental ticket search: fuzzy over id and description first, then the body.

The first part is plain Python over pre-lowered strings, so a keystroke over 100,000 tickets
stays in tens of milliseconds: substring matches rank first, then in-order (fuzzy) matches of
id and description. Bodies are not in memory (the list holds index rows), so the body part,
``body_matches``, reads the files; the TUI runs it in a thread after a short pause in the
typing, and a newer query cancels it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from typing import Generic, Protocol, TypeVar


class _Searchable(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def description(self) -> str: ...


T = TypeVar("T", bound=_Searchable)

CHECK_EVERY = 256
"""Files read between two looks at the cancel flag (and two progress reports)."""


class SearchIndex(Generic[T]):
    """Lower-cased "id description" of one list of tickets (``Ticket`` or ``Summary``),
    built once per list."""

    def __init__(self, tickets: Sequence[T]) -> None:
        self.tickets = tickets
        self.heads = [f"{t.id} {t.description}".lower() for t in tickets]

    def search(self, query: str) -> list[T]:
        """Substring matches of id and description, then fuzzy (in-order) ones."""
        q = query.strip().lower()
        if not q:
            return list(self.tickets)
        exact: list[int] = []
        fuzzy: list[int] = []
        pattern = re.compile(".*?".join(re.escape(ch) for ch in q if not ch.isspace()))
        for i, head in enumerate(self.heads):
            if q in head:
                exact.append(i)
            elif pattern.search(head):
                fuzzy.append(i)
        return [self.tickets[i] for i in (*exact, *fuzzy)]


def split_body(text: str) -> str:
    """The Markdown after the frontmatter (all of ``text`` when there is none)."""
    if not text.startswith("---"):
        return text
    end = text.find("\n---", 3)
    if end < 0:
        return text
    newline = text.find("\n", end + 4)
    return "" if newline < 0 else text[newline + 1 :]


def body_matches(
    tickets: Sequence[T],
    query: str,
    skip: Collection[str],
    body_of: Callable[[T], str | None],
    cancelled: Callable[[], bool] = lambda: False,
    progress: Callable[[int, int], None] | None = None,
) -> list[T] | None:
    """The tickets (in list order) whose body contains ``query`` (case-insensitive), leaving
    out the ids in ``skip`` (already found by id or description); None once ``cancelled``
    says so. ``body_of`` returns None for a file that cannot be read (it is left out)."""
    q = query.strip().lower()
    if not q:
        return []
    hits: list[T] = []
    total = len(tickets)
    for i, ticket in enumerate(tickets):
        if not i % CHECK_EVERY:
            if cancelled():
                return None
            if progress is not None:
                progress(i, total)
        if ticket.id in skip:
            continue
        body = body_of(ticket)
        if body is not None and q in body.lower():
            hits.append(ticket)
    return hits
