"""Ticket files inside git trees: which paths are tickets (by the configuration's folders),
their blobs, reading one as a ``Ticket``, and libgit2's three-way text merge for bodies.

What a pull merges and what it reports (``git.pull``, ``git.changes``) both read trees so.
"""

from __future__ import annotations

from pathlib import Path

import pygit2
from pygit2.enums import FileMode

from ticketflow.config import Config
from ticketflow.errors import (
    MalformedTicketError,
)
from ticketflow.fileformat import parse_ticket
from ticketflow.git.local import open_repo
from ticketflow.merge import TextMerge
from ticketflow.model import Ticket, is_ticket_id

TicketEntry = tuple[str, pygit2.Oid]


class TicketPaths:
    """Which repository paths are ticket files, by the configuration's folders."""

    def __init__(self, config: Config) -> None:
        self.dirs = {
            f"{config.tickets_dir}/{folder}".strip("/"): status
            for status, folder in config.status_dirs().items()
        }
        self.prefix = config.tickets_dir.strip("/") + "/"

    def ticket_id(self, path: str) -> str | None:
        folder, _, name = path.rpartition("/")
        if folder in self.dirs and name.endswith(".md") and is_ticket_id(name[:-3]):
            return name[:-3]
        return None

    def entries(self, repo: pygit2.Repository, tree: pygit2.Tree | None) -> dict[str, TicketEntry]:
        out: dict[str, TicketEntry] = {}
        if tree is None:
            return out
        for folder in self.dirs:
            try:
                sub = tree[folder]
            except KeyError:
                continue
            if not isinstance(sub, pygit2.Tree):
                continue
            for entry in sub:
                path = f"{folder}/{entry.name}"
                tid = self.ticket_id(path)
                if tid is not None and entry.type_str == "blob":
                    out[tid] = (path, entry.id)
        return out


def text_merge_for(root: Path) -> TextMerge:
    """libgit2's three-way text merge (what ``git merge-file`` does), for ticket bodies."""
    return text_merge(open_repo(root))


def text_merge(repo: pygit2.Repository) -> TextMerge:
    def merge(base: str, ours: str, theirs: str) -> tuple[str, bool]:
        entries = [
            pygit2.IndexEntry("body.md", repo.create_blob(text.encode("utf-8")), FileMode.BLOB)
            for text in (base, ours, theirs)
        ]
        result = repo.merge_file_from_index(entries[0], entries[1], entries[2])
        assert not isinstance(result, str)
        return result.contents, result.automergeable

    return merge


def read_ticket(repo: pygit2.Repository, entry: TicketEntry, tid: str) -> Ticket:
    blob = repo[entry[1]]
    assert isinstance(blob, pygit2.Blob)
    try:
        return parse_ticket(blob.data.decode("utf-8"), path=entry[0], ticket_id=tid)
    except UnicodeDecodeError:
        raise MalformedTicketError(
            entry[0], None, "not valid UTF-8 text", code="not-utf8"
        ) from None
