"""What a pull brought, ticket by ticket: new, started, closed, reopened, edited, removed,
with the fields that differ and who did it.

"merged (25 objects received)" told a person nothing they cared about. The pull compares
the ticket files of the tree it started from (ours, our uncommitted ticket edits included,
so they are not reported as news) with the tree it ends with, and names each change. The
author and time are those of the newest commit from the remote that touched the ticket's
file, found by walking the commits the pull brought (at most ``MAX_WALK`` of them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone

import pygit2

from ticketflow.errors import MalformedTicketError
from ticketflow.git.results import TicketChange
from ticketflow.model import HEADER_FIELDS, Status, Ticket, format_time

Entry = tuple[str, pygit2.Oid]
"""A ticket's path in a tree and its blob."""
Reader = Callable[[Entry, str], Ticket]

MAX_WALK = 500
"""Commits looked at for authors; beyond them a change is reported without one."""


def ticket_changes(
    repo: pygit2.Repository,
    before: Mapping[str, Entry],
    after: Mapping[str, Entry],
    read: Reader,
    theirs: pygit2.Commit,
    since: pygit2.Oid | None,
) -> tuple[TicketChange, ...]:
    """The changes from ``before`` to ``after`` (ticket id -> entry), in id order; authors
    from the commits reachable from ``theirs`` and not from ``since``."""
    found: list[tuple[str, str, tuple[str, ...], str]] = []  # id, change, fields, path
    for tid in sorted(set(before) | set(after)):
        old, new = before.get(tid), after.get(tid)
        if old == new:
            continue
        if old is None:
            assert new is not None
            found.append((tid, "added", (), new[0]))
        elif new is None:
            found.append((tid, "removed", (), old[0]))
        else:
            change, fields = _compare(read, old, new, tid)
            found.append((tid, change, fields, new[0]))
    if not found:
        return ()
    authors = _authors(repo, theirs, since, {path for *_rest, path in found})
    out = []
    for tid, change, fields, path in found:
        author, when = authors.get(path, (None, None))
        out.append(TicketChange(tid, change, fields, author, when))
    return tuple(out)


def _compare(read: Reader, old: Entry, new: Entry, tid: str) -> tuple[str, tuple[str, ...]]:
    try:
        before, after = read(old, tid), read(new, tid)
    except MalformedTicketError:
        return "edited", ()  # one side does not parse: the file changed, that is all we know
    fields = tuple(f for f in HEADER_FIELDS if getattr(before, f) != getattr(after, f))
    extra_before, extra_after = dict(before.extra), dict(after.extra)
    fields += tuple(
        sorted(
            k
            for k in set(extra_before) | set(extra_after)
            if extra_before.get(k) != extra_after.get(k)
        )
    )
    if before.body != after.body:
        fields += ("body",)
    if after.status is Status.DONE and before.status is not Status.DONE:
        return "closed", fields
    if before.status is Status.DONE:
        return ("reopened" if after.status is not Status.DONE else "edited"), fields
    if before.status is Status.TODO and after.status is Status.DOING:
        return "started", fields
    return "edited", fields


def _authors(
    repo: pygit2.Repository, theirs: pygit2.Commit, since: pygit2.Oid | None, wanted: set[str]
) -> dict[str, tuple[str, str]]:
    """Path -> (author, RFC3339 time) of the newest commit that touched it."""
    from pygit2.enums import SortMode

    out: dict[str, tuple[str, str]] = {}
    walker = repo.walk(theirs.id, SortMode.TOPOLOGICAL | SortMode.TIME)
    if since is not None:
        walker.hide(since)
    for count, commit in enumerate(walker):
        if count >= MAX_WALK or len(out) == len(wanted):
            break
        parent_tree = commit.parents[0].tree if commit.parents else None
        diff = (
            commit.tree.diff_to_tree(parent_tree, swap=True)
            if parent_tree is not None
            else commit.tree.diff_to_tree(swap=True)
        )
        for delta in diff.deltas:
            for path in (delta.new_file.path, delta.old_file.path):
                if path in wanted and path not in out:
                    out[path] = (commit.author.name, _time(commit))
    return out


def _time(commit: pygit2.Commit) -> str:
    zone = timezone(timedelta(minutes=commit.author.offset))
    return format_time(datetime.fromtimestamp(commit.author.time, zone))
