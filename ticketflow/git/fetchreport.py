"""``ticketflow fetch``: fetch only, then say what the remote has that we do not, ticket by
ticket, and how far the branch and its remote branch have gone apart.

The fetch is the pull's own (``transport.fetch``: a scratch repository, then only the
remote-tracking ref and the objects are published), so HEAD, the index and the work tree
never change. The ticket changes are worked out by the pull's ``git.changes`` and worded by
the same ``describe_changes``: from the merge base (what both sides last shared) to the
remote branch, leaving out a ticket whose file on the remote is exactly ours already (a
change we made too); authors from the remote's commits that we do not have.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pygit2

from ticketflow.cancel import NEVER_CANCELLED, CancelToken, ProgressCallback, no_progress
from ticketflow.config import Config
from ticketflow.git.changes import ticket_changes
from ticketflow.git.lastfetch import save_last_fetch
from ticketflow.git.local import open_repo
from ticketflow.git.results import FetchReport, FetchResult, TicketChange
from ticketflow.git.tickets import TicketPaths, read_ticket
from ticketflow.git.transfer import TransferWatch
from ticketflow.git.transport import fetch_upstream
from ticketflow.model import format_time


def fetch_report(
    root: Path,
    config: Config,
    *,
    remote_name: str | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
    watch: TransferWatch | None = None,
) -> FetchReport:
    """Fetch from the current branch's upstream (else ``origin/<branch>``; detached:
    ``origin/<git.default_branch>``), then compare. The summary is saved for ``status``
    (``git.lastfetch``)."""
    repo = open_repo(root)
    remote, remote_branch, fetched = fetch_upstream(
        root, repo, config, remote_name=remote_name, progress=progress, cancel=cancel, watch=watch
    )
    report = compare(repo, config, fetched, remote, remote_branch)
    save_last_fetch(root, report)
    return report


def compare(
    repo: pygit2.Repository,
    config: Config,
    fetched: FetchResult,
    remote: str,
    remote_branch: str,
) -> FetchReport:
    """Ahead, behind and the remote's ticket changes, from the refs as they are now."""
    now = format_time(datetime.now(UTC))
    ref = repo.references.get(f"refs/remotes/{remote}/{remote_branch}")
    head = None if repo.head_is_unborn else repo.head.peel(pygit2.Commit)
    if ref is None:  # nothing pushed there yet: every commit of ours is ahead
        ahead = sum(1 for _ in repo.walk(head.id)) if head is not None else 0
        return FetchReport(remote, remote_branch, ahead, 0, (), fetched, now, exists=False)
    theirs = ref.peel(pygit2.Commit)
    if head is None:
        ahead, behind = 0, sum(1 for _ in repo.walk(theirs.id))
        base_tree = None
    else:
        ahead, behind = repo.ahead_behind(head.id, theirs.id)
        base_id = repo.merge_base(head.id, theirs.id)
        base_tree = repo[base_id].peel(pygit2.Tree) if base_id is not None else None
    changes: tuple[TicketChange, ...] = ()
    if behind:
        paths = TicketPaths(config)
        before = paths.entries(repo, base_tree)
        after = paths.entries(repo, theirs.tree)
        if head is not None:
            ours = paths.entries(repo, head.tree)
            for tid, entry in after.items():
                if ours.get(tid) == entry:  # we have exactly this already
                    before[tid] = entry
            for tid in set(before) - set(after) - set(ours):  # removed on both sides
                before.pop(tid)
        changes = ticket_changes(
            repo,
            before,
            after,
            lambda entry, tid: read_ticket(repo, entry, tid),
            theirs,
            head.id if head is not None else None,
        )
    return FetchReport(remote, remote_branch, ahead, behind, changes, fetched, now)
