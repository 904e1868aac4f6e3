"""What a fetch, a pull and a push report: plain records with a JSON form.

Kept apart from ``gitrepo`` so that reading a result (``from_json``: a pull that ran in a
child process, see ``ticketflow.isolated``) does not import pygit2, whose import holds the
GIL for tens of milliseconds.
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


@dataclass(frozen=True)
class PullResult:
    outcome: str
    """``up-to-date``, ``fast-forward`` or ``merged``."""
    fetch: FetchResult
    commit: str | None
    committed_local_edits: bool
    merged_tickets: tuple[str, ...]
    changed_paths: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "fetch": self.fetch.to_json(),
            "commit": self.commit,
            "committed_local_edits": self.committed_local_edits,
            "merged_tickets": list(self.merged_tickets),
            "changed_paths": list(self.changed_paths),
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
