"""Incremental ticket search: fuzzy over id and description first, then the body.

Plain Python over pre-lowered strings, so a keystroke over 100,000 tickets stays in tens of
milliseconds: substring matches rank first, then in-order (fuzzy) matches of id and
description, then body matches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar


class _Searchable(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def description(self) -> str: ...


T = TypeVar("T", bound=_Searchable)


class SearchIndex(Generic[T]):
    """Lower-cased haystacks for one list of tickets (``Ticket`` or ``Summary``), built once
    per list; ``body_of`` gives a ticket's body."""

    def __init__(self, tickets: Sequence[T], body_of: Callable[[T], str]) -> None:
        self.tickets = list(tickets)
        self.heads = [f"{t.id} {t.description}".lower() for t in self.tickets]
        self._body_of = body_of
        self._bodies: list[str] | None = None

    @property
    def bodies(self) -> list[str]:
        """Built on the first search that reaches the bodies (index rows have none, so
        this reads each file once)."""
        if self._bodies is None:
            self._bodies = [self._body_of(t).lower() for t in self.tickets]
        return self._bodies

    def search(self, query: str) -> list[T]:
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
        seen = set(exact) | set(fuzzy)
        body = [i for i, text in enumerate(self.bodies) if i not in seen and q in text]
        return [self.tickets[i] for i in (*exact, *fuzzy, *body)]
