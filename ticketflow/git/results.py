"""What a fetch, a pull and a push report: plain records with a JSON form.

Kept apart from the rest of ``ticketflow.git`` so that reading a result (``from_json``: a
pull that ran in a child process, see ``ticketflow.isolated``) does not import pygit2,
whose import holds the GIL for tens of milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FetchResult:
    remote: str
    url: str
    received_objects: int
    total_objects: int
    received_bytes: int
    updated_refs: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "url": self.url,
            "received_objects": self.received_objects,
            "total_objects": self.total_objects,
            "received_bytes": self.received_bytes,
            "updated_refs": list(self.updated_refs),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FetchResult:
        return cls(**{**data, "updated_refs": tuple(data["updated_refs"])})


CHANGE_KINDS = ("added", "started", "closed", "reopened", "edited", "removed")
"""What happened to a ticket, in the order a summary lists them."""

_SAID = {
    "added": ("new ticket", "new tickets"),
    "started": ("started", "started"),
    "closed": ("closed", "closed"),
    "reopened": ("reopened", "reopened"),
    "edited": ("edited", "edited"),
    "removed": ("removed", "removed"),
}


@dataclass(frozen=True)
class TicketChange:
    """One ticket a pull brought a change to: what happened, which fields (``body``
    included) differ, and who did it, when (the newest remote commit that touched it)."""

    id: str
    change: str
    """One of ``CHANGE_KINDS``."""
    fields: tuple[str, ...] = ()
    author: str | None = None
    time: str | None = None
    """RFC3339, the commit's own offset."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "change": self.change,
            "fields": list(self.fields),
            "author": self.author,
            "time": self.time,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TicketChange:
        return cls(**{**data, "fields": tuple(data["fields"])})


def describe_changes(changes: tuple[TicketChange, ...]) -> str:
    """What a pull changed, as a person says it: "2 new tickets, 1 closed by Ana", "1 new
    ticket and 1 edited, by Ana" (one author for everything), or each kind with its author
    when one person made every change of it; "" for nothing."""
    kinds = [k for k in CHANGE_KINDS if any(c.change == k for c in changes)]
    everyone = {c.author for c in changes}
    one_author = everyone.pop() if len(everyone) == 1 else None
    parts = []
    for kind in kinds:
        of_kind = [c for c in changes if c.change == kind]
        one, many = _SAID[kind]
        text = f"{len(of_kind)} {one if len(of_kind) == 1 else many}"
        authors = {c.author for c in of_kind}
        if one_author is None and len(authors) == 1 and None not in authors:
            text += f" by {authors.pop()}"
        parts.append(text)
    if one_author is None:
        return ", ".join(parts)
    if len(parts) == 1:
        return f"{parts[0]} by {one_author}"
    return f"{', '.join(parts[:-1])} and {parts[-1]}, by {one_author}"


@dataclass(frozen=True)
class PullResult:
    outcome: str
    """``up-to-date``, ``fast-forward`` or ``merged``."""
    fetch: FetchResult
    commit: str | None
    committed_local_edits: bool
    merged_tickets: tuple[str, ...]
    changed_paths: tuple[str, ...]
    changes: tuple[TicketChange, ...] = ()
    """What the pull brought, ticket by ticket (our own uncommitted edits are not in it)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "fetch": self.fetch.to_json(),
            "commit": self.commit,
            "committed_local_edits": self.committed_local_edits,
            "merged_tickets": list(self.merged_tickets),
            "changed_paths": list(self.changed_paths),
            "changes": [c.to_json() for c in self.changes],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PullResult:
        """The result ``to_json`` gave (a pull run in another process reports it so)."""
        return cls(
            **{
                **data,
                "fetch": FetchResult.from_json(data["fetch"]),
                "merged_tickets": tuple(data["merged_tickets"]),
                "changed_paths": tuple(data["changed_paths"]),
                "changes": tuple(TicketChange.from_json(c) for c in data.get("changes", ())),
            }
        )


@dataclass(frozen=True)
class FetchReport:
    """What ``ticketflow fetch`` found: the remote branch the current branch follows, how
    far the two have gone apart, and the remote's ticket changes we do not have yet (the
    same ``TicketChange`` values, computed by the same ``git.changes``, as a pull's)."""

    remote: str
    branch: str
    """The remote branch compared with (``<remote>/<branch>``)."""
    ahead: int
    """Our commits (all of them, not only ticket commits) not on the remote branch."""
    behind: int
    """The remote branch's commits not on ours."""
    changes: tuple[TicketChange, ...]
    fetch: FetchResult
    fetched_at: str
    """RFC3339, UTC: when the fetch ended."""
    exists: bool = True
    """False: the remote has no such branch (nothing pushed yet): ``behind`` is 0."""

    def to_json(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "branch": self.branch,
            "ahead": self.ahead,
            "behind": self.behind,
            "changes": [c.to_json() for c in self.changes],
            "exists": self.exists,
            "fetch": self.fetch.to_json(),
            "fetched_at": self.fetched_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FetchReport:
        return cls(
            **{
                **data,
                "changes": tuple(TicketChange.from_json(c) for c in data["changes"]),
                "fetch": FetchResult.from_json(data["fetch"]),
            }
        )


@dataclass(frozen=True)
class PushResult:
    remote: str
    url: str
    branch: str
    commit: str
    pushed_objects: int

    def to_json(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "url": self.url,
            "branch": self.branch,
            "commit": self.commit,
            "pushed_objects": self.pushed_objects,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PushResult:
        return cls(**data)
