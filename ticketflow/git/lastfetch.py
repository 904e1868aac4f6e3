"""The last ``ticketflow fetch``'s summary, kept in ``<git dir>/ticketflow/last-fetch.json``
so that ``ticketflow status`` can say how far the branch and its remote had gone apart, and
how long ago that was known, without touching the network or loading pygit2.

A file of its own rather than the job history (``jobs.history``): the history keeps one
summary line per job and is pruned by count, while status needs the numbers of the last
fetch whoever ran it (the CLI, later the TUI's background fetch, the library). It is
replaced atomically (``fsutil.atomic_write``), so a reader sees the old summary or the new
one, never half of one. A missing or unreadable file means "never fetched": status is a
read-only command and must not fail because of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ticketflow.config import git_dir
from ticketflow.errors import TicketflowError
from ticketflow.fsutil import atomic_write
from ticketflow.git.results import FetchReport

LAST_FETCH_FILE = "last-fetch.json"


def last_fetch_path(root: Path) -> Path:
    return git_dir(root) / "ticketflow" / LAST_FETCH_FILE


@dataclass(frozen=True)
class LastFetch:
    """What status shows of the last fetch: where from, the counts, and when."""

    remote: str
    branch: str
    ahead: int
    behind: int
    changes: int
    fetched_at: str
    exists: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "branch": self.branch,
            "ahead": self.ahead,
            "behind": self.behind,
            "changes": self.changes,
            "exists": self.exists,
            "fetched_at": self.fetched_at,
        }


def save_last_fetch(root: Path, report: FetchReport) -> None:
    data = LastFetch(
        report.remote,
        report.branch,
        report.ahead,
        report.behind,
        len(report.changes),
        report.fetched_at,
        report.exists,
    ).to_json()
    text = json.dumps(data, sort_keys=True, indent=2) + "\n"
    path = last_fetch_path(root)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TicketflowError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint="check the permissions of the repository's git dir",
        ) from None
    atomic_write(path, text.encode("utf-8"))


def load_last_fetch(root: Path) -> LastFetch | None:
    """The last fetch's summary; None if there was none or the file is not one we wrote."""
    try:
        data = json.loads(last_fetch_path(root).read_text(encoding="utf-8"))
        found = LastFetch(
            remote=str(data["remote"]),
            branch=str(data["branch"]),
            ahead=int(data["ahead"]),
            behind=int(data["behind"]),
            changes=int(data["changes"]),
            fetched_at=str(data["fetched_at"]),
            exists=bool(data.get("exists", True)),
        )
        datetime.fromisoformat(found.fetched_at)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return found


def age(fetched_at: str, now: datetime) -> str:
    """How long ago the fetch was: "just now", "5 minutes ago", "3 days ago"."""
    from ticketflow.model import time_ago

    return time_ago(datetime.fromisoformat(fetched_at), now)
