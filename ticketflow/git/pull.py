"""``pull``: fetch, then bring the current branch up to date: nothing, a fast-forward, or
a merge in which tickets changed on both sides are merged field by field.

In two steps, so that what a pull will do can be read apart from doing it: ``plan_pull``
works out a ``PullPlan`` (which local ticket edits to commit first, whether to
fast-forward, merge or check out the remote branch, the merged tree, or the conflict that
stops the pull) without changing the branch, the index or the work tree (it only adds
blobs and trees to the object store, which nothing refers to until a commit does);
``apply_plan`` then does it. One open repository goes through the whole pull, the fetch
included.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

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
    branch_name,
    commit_in,
    open_repo,
    signature,
)
from ticketflow.git.results import FetchResult, PullResult, TicketChange
from ticketflow.git.tickets import TicketEntry, TicketPaths, read_ticket, text_merge
from ticketflow.git.transfer import TransferWatch
from ticketflow.git.transport import fetch_upstream
from ticketflow.merge import FieldConflict, Strategy, merge_tickets
from ticketflow.safepaths import read_no_link


def _dirty(repo: pygit2.Repository, paths: TicketPaths) -> tuple[dict[str, bool], set[str]]:
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


def _overwrite(changed: set[str], others: frozenset[str]) -> ConflictError | None:
    """The refusal of a pull that would overwrite uncommitted changes (None: it would not)."""
    overlap = sorted(changed & others)
    if not overlap:
        return None
    shown = ", ".join(overlap[:5]) + (" ..." if len(overlap) > 5 else "")
    return ConflictError(
        f"pull would overwrite your uncommitted changes to {shown}; nothing was changed",
        hint="commit or stash those changes (git stash), then pull again",
        error_code="GIT_DIRTY_WORKSPACE",
    )


@dataclass(frozen=True)
class Upstream:
    """The branch a pull brings up to date, and the remote branch it takes."""

    branch: str
    remote: str
    remote_branch: str

    @property
    def theirs(self) -> str:
        return f"{self.remote}/{self.remote_branch}"


@dataclass(frozen=True)
class _Local:
    """The work tree a pull starts from: which paths are tickets, the uncommitted ticket
    edits (path -> removed?) a merge takes in as ours, the other changed paths it must not
    overwrite."""

    root: Path
    paths: TicketPaths
    dirty_tickets: dict[str, bool]
    other_dirty: frozenset[str]

    @classmethod
    def read(cls, repo: pygit2.Repository, root: Path, config: Config) -> _Local:
        paths = TicketPaths(config)
        dirty_tickets, other_dirty = _dirty(repo, paths)
        if not config.auto_commit:  # never commit for the user: their edits are left alone
            other_dirty |= set(dirty_tickets)
            dirty_tickets = {}
        return cls(root, paths, dirty_tickets, frozenset(other_dirty))

    @property
    def edits(self) -> tuple[PathChange, ...]:
        return tuple(PathChange(p, removed=r) for p, r in sorted(self.dirty_tickets.items()))

    def overwrite(self, changed: set[str]) -> ConflictError | None:
        return _overwrite(changed, self.other_dirty)


Move = Literal["none", "create", "fast-forward", "merge"]


@dataclass(frozen=True)
class PullPlan:
    """What a pull will do, worked out before it changes anything (``plan_pull``)."""

    outcome: Literal["up-to-date", "fast-forward", "merged"]
    paths: TicketPaths
    refusal: ConflictError | None = None
    """Why the pull cannot go on (a conflict, unrelated histories, uncommitted changes it
    would overwrite): ``apply_plan`` raises it, and nothing has changed."""
    commit_first: tuple[PathChange, ...] = ()
    """The uncommitted ticket edits committed (``Update tickets``) before the rest."""
    move: Move = "none"
    """What happens to the branch: nothing, created at ``theirs`` (an empty clone),
    fast-forwarded to ``theirs``, or given a merge commit of ``tree``."""
    cancellable: bool = False
    """A cancel is honoured right before the first change (a fast-forward, a merge)."""
    theirs: pygit2.Commit | None = None
    tree: pygit2.Tree | None = None
    """The tree the work tree and the branch end with (None: they stay as they are)."""
    before: pygit2.Tree | None = None
    """The tree the pull started from (ours, uncommitted ticket edits included), to tell
    the news from; with ``since``, the commit before the pull."""
    since: pygit2.Oid | None = None
    changed: tuple[str, ...] = ()
    merged: tuple[str, ...] = ()
    """The tickets merged field by field."""


def plan_pull(
    repo: pygit2.Repository,
    root: Path,
    config: Config,
    target: Upstream,
    strategy: Strategy | None,
) -> PullPlan:
    """What bringing ``target.branch`` up to date with the fetched remote branch takes.

    Uncommitted ticket edits count as ours (a merge takes them in; they are committed
    first only when ``git.auto_commit`` is on); uncommitted changes elsewhere are never
    touched, and a pull that would overwrite one is refused."""
    local = _Local.read(repo, root, config)
    paths = local.paths
    theirs_ref = repo.references.get(f"refs/remotes/{target.remote}/{target.remote_branch}")
    head_commit = None if repo.head_is_unborn else repo.head.peel(pygit2.Commit)
    if theirs_ref is None:
        return PullPlan("up-to-date", paths, commit_first=local.edits)
    theirs = theirs_ref.peel(pygit2.Commit)

    if head_commit is None:  # an empty clone: take the remote's branch as it is
        return PullPlan(
            "fast-forward",
            paths,
            refusal=local.overwrite({str(e.path) for e in _walk(theirs.tree)}),
            move="create",
            theirs=theirs,
            tree=theirs.tree,
        )

    if theirs.id == head_commit.id or repo.descendant_of(head_commit.id, theirs.id):
        return PullPlan("up-to-date", paths, commit_first=local.edits, theirs=theirs)

    base_id = repo.merge_base(head_commit.id, theirs.id)
    if base_id is None:
        unrelated = ConflictError(
            f"{target.theirs} shares no history with {target.branch}; nothing was changed",
            hint="if that is expected, merge once with git: "
            f"git pull --allow-unrelated-histories {target.remote} {target.remote_branch}",
            error_code="GIT_MERGE_FAILED",
        )
        return PullPlan("merged", paths, refusal=unrelated)
    if base_id == head_commit.id and not local.dirty_tickets:
        changed = _changed_paths(repo, head_commit.tree, theirs.tree)
        return PullPlan(
            "fast-forward",
            paths,
            refusal=local.overwrite(changed),
            move="fast-forward",
            cancellable=True,
            theirs=theirs,
            tree=theirs.tree,
            before=head_commit.tree,
            since=head_commit.id,
            changed=tuple(sorted(changed)),
        )
    return _plan_merge(repo, config, local, head_commit, theirs, base_id, strategy)


def _ours(repo: pygit2.Repository, local: _Local, head: pygit2.Commit) -> pygit2.Tree:
    """HEAD's tree plus the uncommitted ticket edits: "ours" in a merge."""
    ours_index = pygit2.Index()
    ours_index.read_tree(head.tree)
    for path, removed in local.dirty_tickets.items():
        if removed:
            if path in ours_index:
                ours_index.remove(path)
        else:
            data = read_no_link(local.root / path, path)  # a local link is not its target's text
            ours_index.add(pygit2.IndexEntry(path, repo.create_blob(data), FileMode.BLOB))
    ours_tree = repo[ours_index.write_tree(repo)]
    assert isinstance(ours_tree, pygit2.Tree)
    return ours_tree


def _plan_merge(
    repo: pygit2.Repository,
    config: Config,
    local: _Local,
    head: pygit2.Commit,
    theirs: pygit2.Commit,
    base_id: pygit2.Oid,
    strategy: Strategy | None,
) -> PullPlan:
    """A merge: libgit2 merges the trees, then every ticket changed on both sides is
    replaced by the ticket-level merge (``merge_tickets``), field by field."""
    paths = local.paths
    ours_tree = _ours(repo, local, head)
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
        refusal = MergeConflictError(files=tuple(outside), tickets_dir=config.tickets_dir)
        return PullPlan("merged", paths, refusal=refusal)

    final, conflicts, merged_ids = _merge_tickets(
        repo, config, paths, (base_tree, ours_tree, theirs.tree), strategy
    )
    if conflicts:
        return PullPlan("merged", paths, refusal=MergeConflictError(conflicts=conflicts))

    # replace whatever libgit2 made of ticket files with the ticket-level result
    # (only ticket paths can still be in conflict here: any other conflict stopped above)
    for path in {
        str(e.path) for triple in (merged_index.conflicts or ()) for e in triple if e is not None
    }:
        del merged_index.conflicts[path]
    for path in [str(e.path) for e in merged_index if paths.ticket_id(str(e.path)) is not None]:
        merged_index.remove(path)
    for entry in final.values():
        if entry is not None:
            merged_index.add(pygit2.IndexEntry(entry[0], entry[1], FileMode.BLOB))
    merged_tree = repo[merged_index.write_tree(repo)]
    assert isinstance(merged_tree, pygit2.Tree)
    changed = _changed_paths(repo, ours_tree, merged_tree)
    return PullPlan(
        "merged",
        paths,
        refusal=local.overwrite(changed),
        commit_first=local.edits,
        move="merge",
        cancellable=True,
        theirs=theirs,
        tree=merged_tree,
        before=ours_tree,
        since=head.id,
        changed=tuple(sorted(changed)),
        merged=merged_ids,
    )


def _merge_tickets(
    repo: pygit2.Repository,
    config: Config,
    paths: TicketPaths,
    trees: tuple[pygit2.Tree, pygit2.Tree, pygit2.Tree],
    strategy: Strategy | None,
) -> tuple[dict[str, TicketEntry | None], tuple[FieldConflict, ...], tuple[str, ...]]:
    """Every ticket's merged entry (None: removed), the field conflicts that stop the
    merge, and the tickets merged field by field, from the (base, ours, theirs) trees."""
    base_map, ours_map, theirs_map = (paths.entries(repo, tree) for tree in trees)
    final: dict[str, TicketEntry | None] = {}
    conflicts: list[FieldConflict] = []
    merged_ids: list[str] = []
    merge_text = text_merge(repo)
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
                read_ticket(repo, b, tid) if b is not None else None,
                read_ticket(repo, o, tid),
                read_ticket(repo, t, tid),
                text_merge=merge_text,
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
    return final, tuple(conflicts), tuple(merged_ids)


def apply_plan(
    repo: pygit2.Repository,
    plan: PullPlan,
    target: Upstream,
    fetched: FetchResult,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
) -> PullResult:
    """Do what ``plan`` says, in the order that keeps a stop harmless: the refusal and a
    cancel come before any change; the local edits are committed only once the merge is
    known to succeed."""
    if plan.refusal is not None:
        raise plan.refusal
    if plan.cancellable:
        cancel.raise_if_cancelled()  # the last point at which nothing has changed
    if plan.commit_first:
        commit_in(repo, plan.commit_first, "Update tickets")
    committed = bool(plan.commit_first)
    branch_ref = f"refs/heads/{target.branch}"
    theirs, tree = plan.theirs, plan.tree
    if plan.move == "none" or theirs is None or tree is None:
        if theirs is None:  # no remote branch to compare with
            return PullResult("up-to-date", fetched, None, committed, (), ())
        progress(1, 1, "already up to date")
        return PullResult("up-to-date", fetched, str(repo.head.target), committed, (), ())
    if plan.move == "merge":
        sig = signature(repo)
        message = f"Merge {target.theirs} into {target.branch} (ticketflow pull)"
        parents = [repo.head.target, theirs.id]
        head = repo.create_commit(None, sig, sig, message, tree.id, parents)
        _checkout(repo, tree)
        repo.references[branch_ref].set_target(head, f"ticketflow pull: {message}")
        count = len(plan.merged)
        progress(1, 1, f"merged ({count} ticket{'' if count == 1 else 's'} field by field)")
    elif plan.move == "fast-forward":
        head = theirs.id
        _checkout(repo, tree)
        repo.references[branch_ref].set_target(
            head, f"ticketflow pull: fast-forward to {target.theirs}"
        )
        progress(1, 1, "fast-forwarded")
    else:  # "create"
        head = theirs.id
        _checkout(repo, tree)
        repo.references.create(branch_ref, head, force=True)
        progress(1, 1, "checked out the remote branch")
    news = _news(repo, plan.paths, plan.before, tree, theirs, plan.since)
    return PullResult(plan.outcome, fetched, str(head), committed, plan.merged, plan.changed, news)


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
    branch = branch_name(repo)
    if branch is None:
        raise GitError("HEAD is detached: pull needs a branch", hint="git switch <branch>")
    remote, remote_branch, fetched = fetch_upstream(
        root, repo, config, remote_name=remote_name, progress=progress, cancel=cancel, watch=watch
    )
    target = Upstream(branch, remote, remote_branch)
    with locked(git_dir(root) / "ticketflow.lock"):  # other ticketflow writers wait
        plan = plan_pull(repo, root, config, target, strategy)
        result = apply_plan(repo, plan, target, fetched, progress, cancel)
    _remember(repo, root, config, fetched, remote, remote_branch)
    return result


def _remember(
    repo: pygit2.Repository,
    root: Path,
    config: Config,
    fetched: FetchResult,
    remote: str,
    remote_branch: str,
) -> None:
    """A pull fetched too: what ``status`` shows as the last fetch is now this one's.

    The pull has already changed the branch: failing it now would say it did not, so a
    summary that cannot be written is logged (``ticketflow.git``), and status shows the
    older one."""
    import logging

    from ticketflow.errors import TicketflowError
    from ticketflow.git.fetchreport import compare
    from ticketflow.git.lastfetch import save_last_fetch

    try:
        save_last_fetch(root, compare(repo, config, fetched, remote, remote_branch))
    except TicketflowError as exc:
        logging.getLogger("ticketflow.git").warning("last fetch summary not saved: %s", exc)


def _news(
    repo: pygit2.Repository,
    paths: TicketPaths,
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
        lambda entry, tid: read_ticket(repo, entry, tid),
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
