"""``pull``: fetch, then bring the current branch up to date: nothing, a fast-forward, or
a merge in which tickets changed on both sides are merged field by field.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pygit2
from pygit2.enums import CheckoutStrategy, FileMode

from ticketflow.cancel import NEVER_CANCELLED, CancelToken, ProgressCallback, no_progress
from ticketflow.config import Config, git_dir
from ticketflow.errors import (
    ConflictError,
    GitError,
    MergeConflictError,
)
from ticketflow.fileformat import render_ticket
from ticketflow.fsutil import locked
from ticketflow.git.local import (
    PathChange,
    _branch_name,
    _upstream,
    commit_paths,
    open_repo,
    signature,
)
from ticketflow.git.results import FetchResult, PullResult, TicketChange
from ticketflow.git.tickets import _read_ticket, _text_merge, _TicketEntry, _TicketPaths
from ticketflow.git.transfer import TransferWatch
from ticketflow.git.transport import fetch
from ticketflow.merge import FieldConflict, Strategy, merge_tickets
from ticketflow.safepaths import read_no_link


def _dirty(repo: pygit2.Repository, paths: _TicketPaths) -> tuple[dict[str, bool], set[str]]:
    """(ticket paths changed in the work tree -> removed?, other changed paths)."""
    from pygit2.enums import FileStatus

    tickets: dict[str, bool] = {}
    others: set[str] = set()
    for path, flags in repo.status().items():
        if flags == FileStatus.CURRENT or flags & FileStatus.IGNORED:
            continue
        if paths.ticket_id(path) is not None:
            tickets[path] = bool(flags & (FileStatus.WT_DELETED | FileStatus.INDEX_DELETED))
        else:
            others.add(path)
    return tickets, others


def _changed_paths(repo: pygit2.Repository, old: pygit2.Tree, new: pygit2.Tree) -> set[str]:
    changed: set[str] = set()
    for delta in old.diff_to_tree(new).deltas:
        changed.add(delta.old_file.path)
        changed.add(delta.new_file.path)
    return changed


def _checkout(repo: pygit2.Repository, tree: pygit2.Tree) -> None:
    """Safe checkout: updates only files that match HEAD; never overwrites a local change."""
    repo.checkout_tree(tree, strategy=CheckoutStrategy.SAFE)  # type: ignore[no-untyped-call]


def _refuse_overwrite(changed: set[str], others: set[str]) -> None:
    overlap = sorted(changed & others)
    if overlap:
        shown = ", ".join(overlap[:5]) + (" ..." if len(overlap) > 5 else "")
        raise ConflictError(
            f"pull would overwrite your uncommitted changes to {shown}; nothing was changed",
            hint="commit or stash those changes (git stash), then pull again",
            error_code="GIT_DIRTY_WORKSPACE",
        )


def pull(
    root: Path,
    config: Config,
    *,
    remote_name: str | None = None,
    strategy: Strategy | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
    watch: TransferWatch | None = None,
) -> PullResult:
    """Fetch, then bring the current branch up to date: nothing, a fast-forward, or a merge
    in which tickets changed on both sides are merged field by field.

    A conflict (or a cancel before the merge) leaves HEAD, the index and the work tree as
    they were. Uncommitted ticket edits are committed (``Update tickets``) only once the
    merge is known to succeed; uncommitted changes elsewhere are never touched.
    """
    repo = open_repo(root)
    branch = _branch_name(repo)
    if branch is None:
        raise GitError("HEAD is detached: pull needs a branch", hint="git switch <branch>")
    remote, remote_branch = _upstream(repo, config.default_branch)
    if remote_name is not None:
        remote = remote_name
    fetched = fetch(
        root,
        remote_name=remote,
        progress=progress,
        cancel=cancel,
        timeout=config.git_timeout,
        low_speed_bytes=config.git_low_speed_bytes,
        watch=watch,
    )
    cancel.raise_if_cancelled()
    paths = _TicketPaths(config)
    with locked(git_dir(root) / "ticketflow.lock"):  # other ticketflow writers wait
        return _merge_fetched(
            root,
            config,
            fetched,
            branch,
            remote,
            remote_branch,
            paths,
            strategy,
            progress,
            cancel,
        )


def _merge_fetched(
    root: Path,
    config: Config,
    fetched: FetchResult,
    branch: str,
    remote: str,
    remote_branch: str,
    paths: _TicketPaths,
    strategy: Strategy | None,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> PullResult:
    repo = open_repo(root)
    dirty_tickets, other_dirty = _dirty(repo, paths)
    if not config.auto_commit:  # never commit for the user: their edits are left alone
        other_dirty |= set(dirty_tickets)
        dirty_tickets = {}

    def commit_local_edits() -> bool:
        if not dirty_tickets:
            return False
        commit_paths(
            root,
            [PathChange(p, removed=r) for p, r in sorted(dirty_tickets.items())],
            "Update tickets",
        )
        return True

    theirs_ref = repo.references.get(f"refs/remotes/{remote}/{remote_branch}")
    head_commit = None if repo.head_is_unborn else repo.head.peel(pygit2.Commit)
    if theirs_ref is None:
        committed = commit_local_edits()
        return PullResult("up-to-date", fetched, None, committed, (), ())
    theirs = theirs_ref.peel(pygit2.Commit)

    if head_commit is None:  # an empty clone: take the remote's branch as it is
        _refuse_overwrite({str(e.path) for e in _walk(theirs.tree)}, other_dirty)
        _checkout(repo, theirs.tree)
        repo.references.create(f"refs/heads/{branch}", theirs.id, force=True)
        progress(1, 1, "checked out the remote branch")
        news = _news(repo, paths, None, theirs.tree, theirs, None)
        return PullResult("fast-forward", fetched, str(theirs.id), False, (), (), news)

    if theirs.id == head_commit.id or repo.descendant_of(head_commit.id, theirs.id):
        committed = commit_local_edits()
        progress(1, 1, "already up to date")
        return PullResult("up-to-date", fetched, str(repo.head.target), committed, (), ())

    base_id = repo.merge_base(head_commit.id, theirs.id)
    if base_id is None:
        raise ConflictError(
            f"{remote}/{remote_branch} shares no history with {branch}; nothing was changed",
            hint="if that is expected, merge once with git: "
            f"git pull --allow-unrelated-histories {remote} {remote_branch}",
            error_code="GIT_MERGE_FAILED",
        )
    if base_id == head_commit.id and not dirty_tickets:
        changed = _changed_paths(repo, head_commit.tree, theirs.tree)
        _refuse_overwrite(changed, other_dirty)
        cancel.raise_if_cancelled()
        _checkout(repo, theirs.tree)
        repo.references[f"refs/heads/{branch}"].set_target(
            theirs.id, f"ticketflow pull: fast-forward to {remote}/{remote_branch}"
        )
        progress(1, 1, "fast-forwarded")
        news = _news(repo, paths, head_commit.tree, theirs.tree, theirs, head_commit.id)
        return PullResult(
            "fast-forward", fetched, str(theirs.id), False, (), tuple(sorted(changed)), news
        )

    # a merge: "ours" is HEAD plus the uncommitted ticket edits
    ours_index = pygit2.Index()
    ours_index.read_tree(head_commit.tree)
    for path, removed in dirty_tickets.items():
        if removed:
            if path in ours_index:
                ours_index.remove(path)
        else:
            data = read_no_link(root / path, path)  # a local link is not its target's text
            ours_index.add(pygit2.IndexEntry(path, repo.create_blob(data), FileMode.BLOB))
    ours_tree = repo[ours_index.write_tree(repo)]
    assert isinstance(ours_tree, pygit2.Tree)
    base_tree = repo[base_id].peel(pygit2.Tree)
    merged_index = repo.merge_trees(base_tree, ours_tree, theirs.tree)

    outside = sorted(
        {
            e.path
            for triple in (merged_index.conflicts or ())
            for e in triple
            if e is not None and paths.ticket_id(e.path) is None
        }
    )
    if outside:
        raise MergeConflictError(files=tuple(outside), tickets_dir=config.tickets_dir)

    base_map = paths.entries(repo, base_tree)
    ours_map = paths.entries(repo, ours_tree)
    theirs_map = paths.entries(repo, theirs.tree)
    final: dict[str, _TicketEntry | None] = {}
    conflicts: list[FieldConflict] = []
    merged_ids: list[str] = []
    text_merge = _text_merge(repo)
    for tid in sorted(set(base_map) | set(ours_map) | set(theirs_map)):
        b, o, t = base_map.get(tid), ours_map.get(tid), theirs_map.get(tid)
        if o == t:
            final[tid] = o
        elif o == b:
            final[tid] = t
        elif t == b:
            final[tid] = o
        elif o is None or t is None:
            if strategy is not None:
                final[tid] = o if strategy == "ours" else t
            else:
                conflicts.append(
                    FieldConflict(
                        tid,
                        "file",
                        "deleted" if o is None else "changed",
                        "deleted" if t is None else "changed",
                    )
                )
        else:
            result = merge_tickets(
                _read_ticket(repo, b, tid) if b is not None else None,
                _read_ticket(repo, o, tid),
                _read_ticket(repo, t, tid),
                text_merge=text_merge,
                strategy=strategy,
            )
            if result.ticket is None:
                conflicts.extend(result.conflicts)
                continue
            merged = result.ticket
            folder = f"{config.tickets_dir}/{config.status_dirs()[merged.status.value]}"
            target = f"{folder.strip('/')}/{tid}.md"
            data = render_ticket(merged).encode("utf-8")
            final[tid] = (target, repo.create_blob(data))
            merged_ids.append(tid)
    if conflicts:
        raise MergeConflictError(conflicts=tuple(conflicts))

    # replace whatever libgit2 made of ticket files with the ticket-level result
    # (only ticket paths can still be in conflict here: any other conflict aborted above)
    for path in {
        str(e.path) for triple in (merged_index.conflicts or ()) for e in triple if e is not None
    }:
        del merged_index.conflicts[path]
    for path in [str(e.path) for e in merged_index if paths.ticket_id(str(e.path)) is not None]:
        merged_index.remove(path)
    for entry in final.values():
        if entry is not None:
            merged_index.add(pygit2.IndexEntry(entry[0], entry[1], FileMode.BLOB))
    tree_id = merged_index.write_tree(repo)
    merged_tree = repo[tree_id]
    assert isinstance(merged_tree, pygit2.Tree)
    changed = _changed_paths(repo, ours_tree, merged_tree)
    _refuse_overwrite(changed, other_dirty)
    cancel.raise_if_cancelled()  # the last point at which nothing has changed

    committed = commit_local_edits()
    repo = open_repo(root)
    sig = signature(repo)
    head_id = repo.head.target
    message = f"Merge {remote}/{remote_branch} into {branch} (ticketflow pull)"
    commit_id = repo.create_commit(None, sig, sig, message, tree_id, [head_id, theirs.id])
    final_tree = repo[tree_id]
    assert isinstance(final_tree, pygit2.Tree)
    _checkout(repo, final_tree)
    repo.references[f"refs/heads/{branch}"].set_target(commit_id, f"ticketflow pull: {message}")
    field_by_field = f"{len(merged_ids)} ticket{'' if len(merged_ids) == 1 else 's'}"
    progress(1, 1, f"merged ({field_by_field} field by field)")
    news = _news(repo, paths, ours_tree, merged_tree, theirs, head_commit.id)
    return PullResult(
        "merged",
        fetched,
        str(commit_id),
        committed,
        tuple(merged_ids),
        tuple(sorted(changed)),
        news,
    )


def _news(
    repo: pygit2.Repository,
    paths: _TicketPaths,
    before: pygit2.Tree | None,
    after: pygit2.Tree,
    theirs: pygit2.Commit,
    since: pygit2.Oid | None,
) -> tuple[TicketChange, ...]:
    """What the pull brought, ticket by ticket (``git.changes``)."""
    from ticketflow.git.changes import ticket_changes

    return ticket_changes(
        repo,
        paths.entries(repo, before),
        paths.entries(repo, after),
        lambda entry, tid: _read_ticket(repo, entry, tid),
        theirs,
        since,
    )


def _walk(tree: pygit2.Tree, prefix: str = "") -> Iterator[pygit2.IndexEntry]:
    for entry in tree:
        path = f"{prefix}{entry.name}"
        if isinstance(entry, pygit2.Tree):
            yield from _walk(entry, path + "/")
        else:
            yield pygit2.IndexEntry(path, entry.id, FileMode.BLOB)
