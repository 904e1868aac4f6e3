"""The worktrees and branches start made, seen from git's own records: listing them,
finding a ticket's, what is uncommitted in one, and taking them down again (``cleanup``,
``worktree clean``, ``start --force``).

Taking them down never destroys uncommitted work: a worktree with uncommitted changes, a
locked one or the one the user stands in is kept, and a branch that is not merged is
deleted only when asked, with the sha that brings it back. Worktrees are read from git's
records (``list_worktrees``), so one made by hand or by the Go tool is seen too.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pygit2

from ticketflow.config import Config
from ticketflow.errors import (
    ConflictError,
    GitError,
    InvalidTransitionError,
    UncommittedChangesError,
)
from ticketflow.git.local import open_repo
from ticketflow.model import Status

if TYPE_CHECKING:
    from ticketflow.model import Ticket
    from ticketflow.store import TicketStore
    from ticketflow.workspace import Workspace


def has_workspace(root: Path, ticket_id: str) -> bool:
    """A branch or a worktree named after the ticket (packed refs included): what
    ``cleanup`` would remove."""
    from ticketflow.git.local import open_repo

    repo = open_repo(root)
    return repo.branches.local.get(ticket_id) is not None or ticket_id in repo.list_worktrees()


def uncommitted_changes(path: Path) -> list[str]:
    """The files with uncommitted work in the checkout at ``path`` (changed, staged or
    untracked; ignored files and the ``current-ticket.md`` link do not count), sorted.
    What ``close`` refuses to leave behind without ``--force`` and what ``cleanup`` never
    removes."""
    if not path.exists():
        return []
    status = pygit2.Repository(str(path)).status()
    return sorted(
        name
        for name, flags in status.items()
        if flags != pygit2.enums.FileStatus.IGNORED and name != "current-ticket.md"
    )


def refuse_uncommitted(store: TicketStore, ticket_id: str, *, is_current: bool) -> None:
    """The Go tool's close check: uncommitted work in the ticket's worktree, or (for the
    current ticket without a worktree) in this checkout, stops the close. Ticket files and
    the current-ticket link are ticketflow's own business and do not count."""
    worktree = find_worktree(store.root, ticket_id)
    where = worktree.path if worktree is not None and not worktree.missing else None
    if where is None and is_current:
        where = store.root
    if where is None:
        return
    prefix = store.config.tickets_dir.rstrip("/") + "/"
    files = [f for f in uncommitted_changes(where) if not f.startswith(prefix)]
    if files:
        raise UncommittedChangesError(
            ticket_id,
            str(where),
            files,
            outcome=f"ticket {ticket_id} was not closed",
            hint=f"commit them first (cd {where} && git add -A && git commit), or close anyway: "
            f"ticketflow close {ticket_id} --force",
        )


# --- every worktree: list, clean, cleanup ------------------------------------------------


@dataclass(frozen=True)
class WorktreeInfo:
    """One git worktree, as ``git worktree list`` shows it. ``name`` is git's name for a
    linked worktree (its folder under ``<git dir>/worktrees``), None for the main one."""

    path: Path
    branch: str
    """The short branch name, ``""`` when HEAD is detached."""
    head: str
    """The full sha HEAD points at, ``""`` on a branch with no commit yet."""
    name: str | None = None
    locked: bool = False
    missing: bool = False
    """The folder is gone: only git's record of it is left (what ``git worktree prune``
    removes)."""

    @property
    def main(self) -> bool:
        return self.name is None

    def to_json(self) -> dict[str, object]:
        # the Go tool's WorktreeInfo has no json tags: its keys are the field names
        return {"Path": str(self.path), "Branch": self.branch, "HEAD": self.head}


def _common_repo(root: Path) -> pygit2.Repository:
    """The repository every worktree shares (the main checkout's), opened from any of them."""
    from ticketflow.config import git_dir

    gd = git_dir(root)
    try:
        common = Path((gd / "commondir").read_text(encoding="utf-8").strip())
    except OSError:
        return open_repo(gd)
    return open_repo(common if common.is_absolute() else (gd / common).resolve())


def _head(repo: pygit2.Repository, head_file: Path) -> tuple[str, str]:
    try:
        text = head_file.read_text(encoding="utf-8").strip()
    except OSError:
        return "", ""
    if not text.startswith("ref: "):
        return "", text
    ref = text.removeprefix("ref: ").strip()
    try:
        target = str(repo.references[ref].resolve().target)
    except (KeyError, pygit2.GitError):
        target = ""  # a branch with no commit yet
    return ref.removeprefix("refs/heads/"), target


def list_worktrees(root: Path) -> list[WorktreeInfo]:
    """Every worktree of the repository ``root`` belongs to: the main one first, then the
    linked ones by path. Read from git's records, so a worktree whose folder is gone is
    listed too (``missing``)."""
    repo = _common_repo(root)
    admin = Path(repo.path)
    found = []
    if repo.workdir:
        found.append(WorktreeInfo(Path(repo.workdir.rstrip("/")), *_head(repo, admin / "HEAD")))
    linked = []
    for name in repo.list_worktrees():
        try:
            path = Path(repo.lookup_worktree(name).path)
        except pygit2.GitError:
            continue  # a record git itself cannot read
        folder = admin / "worktrees" / name
        branch, head = _head(repo, folder / "HEAD")
        locked = (folder / "locked").exists()
        linked.append(WorktreeInfo(path, branch, head, name, locked, not path.exists()))
    return found + sorted(linked, key=lambda w: str(w.path))


def find_worktree(root: Path, ticket_id: str) -> WorktreeInfo | None:
    """The ticket's linked worktree (git's name for it, or the branch it has checked out,
    is the ticket's id), wherever it was made; None when it has none."""
    return next(
        (w for w in list_worktrees(root) if not w.main and ticket_id in (w.name, w.branch)),
        None,
    )


@dataclass(frozen=True)
class Kept:
    """Something a cleanup left in place, and why (never an error: keeping is safe)."""

    branch: str
    path: Path | None
    reason: str

    def to_json(self) -> dict[str, object]:
        return {
            "branch": self.branch,
            "path": str(self.path) if self.path else None,
            "reason": self.reason,
        }


def standing_in(path: Path, root: Path) -> bool:
    """The current folder is ``path`` or inside it, or ``path`` is the checkout this run
    works on: removing it would pull the floor from under the user."""
    here = Path.cwd().resolve()
    target = path.resolve()
    return target in (here, root.resolve()) or target in here.parents


def _why_keep(worktree: WorktreeInfo, root: Path) -> str | None:
    """Why a worktree must not be removed, or None when removing it loses nothing."""
    if standing_in(worktree.path, root):
        return "you are in it (run cleanup from the main checkout)"
    if worktree.locked:
        return f"it is locked (git worktree unlock {worktree.path})"
    if worktree.missing:
        return None  # only git's record is left: nothing to lose
    try:
        dirty = uncommitted_changes(worktree.path)
    except pygit2.GitError as exc:
        return f"git cannot read its status ({exc})"
    if dirty:
        shown = ", ".join(dirty[:3]) + (f" and {len(dirty) - 3} more" if len(dirty) > 3 else "")
        return f"it has uncommitted changes ({shown})"
    return None


def _remove(root: Path, worktree: WorktreeInfo) -> str | None:
    """Delete the worktree's folder, then git's record of it; why not, or None when done.
    A folder that cannot be deleted keeps its record, so git still knows it."""
    if not worktree.missing:
        try:
            shutil.rmtree(worktree.path)
        except OSError as exc:
            return f"it could not be removed ({exc.strerror or exc})"
    repo = _common_repo(root)
    if worktree.name is not None and worktree.name in repo.list_worktrees():
        repo.lookup_worktree(worktree.name).prune(True)
    return None


def remove_worktree(root: Path, worktree: WorktreeInfo) -> None:
    """Remove the worktree's folder and git's record of it (``start --force``); GitError
    when the folder cannot be removed. The caller checks first what must be kept."""
    why = _remove(root, worktree)
    if why is not None:
        raise GitError(f"the worktree {worktree.path} was kept: {why}")


@dataclass(frozen=True)
class WorktreeClean:
    """What ``worktree clean`` did (or, with ``dry_run``, would do)."""

    removed: tuple[WorktreeInfo, ...]
    kept: tuple[Kept, ...]
    """Worktrees the Go tool would remove and we keep: uncommitted work, in use, locked, or
    on a branch that names no ticket."""
    pruned: tuple[Path, ...]
    total: int
    """Worktrees on a branch other than the default branch (the Go tool's count)."""
    dry_run: bool


def clean_worktrees(
    root: Path, config: Config, statuses: Mapping[str, Status], *, dry_run: bool = False
) -> WorktreeClean:
    """Remove the orphaned worktrees: those on a branch named after a ticket that is not
    ``doing`` (``statuses`` maps every readable ticket's id to its status). Never the main
    worktree, one on the default branch or detached, one whose branch names no ticket, one
    with uncommitted changes, a locked one or the one you are in. Git's records of
    worktrees whose folder is gone are pruned first, as ``git worktree prune`` does."""
    removed: list[WorktreeInfo] = []
    kept: list[Kept] = []
    pruned: list[Path] = []
    total = 0
    for worktree in list_worktrees(root):
        if worktree.main:
            continue
        if worktree.missing and not worktree.locked:
            if not dry_run:
                _remove(root, worktree)
            pruned.append(worktree.path)
            continue
        if worktree.branch in ("", config.default_branch):
            continue
        total += 1
        status = statuses.get(worktree.branch)
        if status is Status.DOING:
            continue
        why = "its branch names no ticket" if status is None else _why_keep(worktree, root)
        if why is None and not dry_run:
            why = _remove(root, worktree)
        if why is None:
            removed.append(worktree)
        else:
            kept.append(Kept(worktree.branch, worktree.path, why))
    return WorktreeClean(tuple(removed), tuple(kept), tuple(pruned), total, dry_run)


@dataclass(frozen=True)
class DeletedBranch:
    """A branch a cleanup deleted: where it was, so ``git branch NAME SHA`` brings it back."""

    name: str
    sha: str
    merged: bool

    def to_json(self) -> dict[str, object]:
        return {"branch": self.name, "sha": self.sha, "merged": self.merged}


def _merged(repo: pygit2.Repository, branch: pygit2.Branch, default_branch: str) -> bool:
    default = repo.branches.local.get(default_branch)
    return default is not None and (
        branch.target == default.target or repo.descendant_of(default.target, branch.target)
    )


def _delete_branch(
    repo: pygit2.Repository,
    name: str,
    config: Config,
    worktrees: list[WorktreeInfo],
    *,
    force: bool,
    dry_run: bool,
) -> DeletedBranch | str | None:
    """Delete the local branch ``name`` if that is safe: the record of it, or why it was
    kept, or None when there is no such branch. It is kept while a worktree (``worktrees``,
    the ones that stay) has it checked out, and, without ``force``, unless it is merged
    into the default branch."""
    branch = repo.branches.local.get(name)
    if branch is None:
        return None
    holder = next((w for w in worktrees if w.branch == name), None)
    if holder is not None:
        return f"it is checked out in {holder.path}"
    merged = _merged(repo, branch, config.default_branch)
    if not merged and not force:
        default = config.default_branch
        return f"not merged into {default} (ticketflow cleanup {name} --force deletes it)"
    sha = str(branch.target)
    if not dry_run:
        branch.delete()
    return DeletedBranch(name, sha, merged)


@dataclass(frozen=True)
class Cleanup:
    """What ``cleanup ID`` (and ``close --cleanup``) did, or would do with ``dry_run``."""

    worktree_removed: Path | None
    branch_deleted: str | None
    kept: tuple[str, ...]
    deleted: DeletedBranch | None = None
    dry_run: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "worktree_removed": str(self.worktree_removed) if self.worktree_removed else None,
            "branch_deleted": self.branch_deleted,
            "kept": list(self.kept),
        }


def cleanup(
    root: Path, config: Config, ticket_id: str, *, force: bool = False, dry_run: bool = False
) -> Cleanup:
    """Remove the ticket's worktree (only if it has no uncommitted work and you are not in
    it) and its branch (only if merged into the default branch, or with ``force``); say
    what was kept and why. ``dry_run`` changes nothing and says what would happen."""
    kept: list[str] = []
    removed: Path | None = None
    worktrees = list_worktrees(root)
    staying = []
    for worktree in worktrees:
        if worktree.main or ticket_id not in (worktree.name, worktree.branch):
            staying.append(worktree)
            continue
        why = _why_keep(worktree, root)
        if not worktree.missing and standing_in(worktree.path, root):
            # as before: the branch checked out there stays too, and is not mentioned
            kept.append(f"worktree {worktree.path}: {why}")
            return Cleanup(None, None, tuple(kept), dry_run=dry_run)
        if why is None and not dry_run:
            why = _remove(root, worktree)
        if why is None:
            removed = worktree.path
        else:
            kept.append(f"worktree {worktree.path}: {why}")
            staying.append(worktree)
    repo = open_repo(root)
    result = _delete_branch(repo, ticket_id, config, staying, force=force, dry_run=dry_run)
    deleted = result if isinstance(result, DeletedBranch) else None
    if isinstance(result, str):
        kept.append(f"branch {ticket_id}: {result}")
    return Cleanup(
        removed, deleted.name if deleted else None, tuple(kept), deleted, dry_run=dry_run
    )


@dataclass(frozen=True)
class AutoCleanup:
    """What a bare ``cleanup`` did: the orphaned worktrees, then the stale branches."""

    worktrees: WorktreeClean | None
    """None with ``worktree.enabled: false`` (the Go tool skips them then)."""
    deleted: tuple[DeletedBranch, ...]
    kept: tuple[Kept, ...]
    """The stale branches kept."""
    dry_run: bool


def auto_cleanup(
    root: Path,
    config: Config,
    statuses: Mapping[str, Status],
    *,
    force: bool = False,
    dry_run: bool = False,
) -> AutoCleanup:
    """The Go tool's auto-cleanup, made safe: the orphaned worktrees (``clean_worktrees``,
    with worktrees enabled), then the stale branches, local branches named after a ``done``
    ticket: never the default branch, ``main``, ``master`` or a branch checked out in a
    worktree that stays; an unmerged one only with ``force``."""
    cleaned = None
    gone: set[Path] = set()
    if config.worktree_enabled:
        cleaned = clean_worktrees(root, config, statuses, dry_run=dry_run)
        gone = {w.path for w in cleaned.removed} | set(cleaned.pruned)
    staying = [w for w in list_worktrees(root) if w.path not in gone]
    repo = open_repo(root)
    deleted: list[DeletedBranch] = []
    kept: list[Kept] = []
    for name in sorted(repo.branches.local):
        if name in (config.default_branch, "main", "master"):
            continue
        if statuses.get(name) is not Status.DONE:
            continue
        result = _delete_branch(repo, name, config, staying, force=force, dry_run=dry_run)
        if isinstance(result, DeletedBranch):
            deleted.append(result)
        elif result is not None:
            kept.append(Kept(name, None, result))
    return AutoCleanup(cleaned, tuple(deleted), tuple(kept), dry_run)


def recreate_worktree(store: TicketStore, ref: str) -> tuple[Ticket, Workspace]:
    """``start --force`` on a ticket in doing: remove its worktree and add it again on
    its branch (the init commands run again), as the Go tool does. A worktree holding
    uncommitted work is never removed (UncommittedChangesError); the branch and its
    commits are kept either way. The ticket must be in doing (checked under the lock)."""
    from ticketflow.store import _log

    with store.lock():
        ticket = store.get(ref)
        if ticket.status is not Status.DOING:
            raise InvalidTransitionError(
                f"ticket {ticket.id} is {ticket.status.value}, not doing; only a started "
                "ticket's worktree can be recreated",
                hint=f"start it: ticketflow start {ticket.id}",
                error_code="TICKET_NOT_STARTED",
            )
        worktree = find_worktree(store.root, ticket.id)
        if worktree is not None:
            path = worktree.path
            dirty = [] if worktree.missing else uncommitted_changes(path)
            if dirty:
                raise UncommittedChangesError(
                    ticket.id,
                    str(path),
                    dirty,
                    outcome="its worktree was not recreated",
                    hint=f"commit or stash them there (cd {path}), then start --force again",
                )
            if not worktree.missing and standing_in(path, store.root):
                raise ConflictError(
                    f"you are in the worktree {path}: it cannot be rebuilt from inside",
                    hint=f"run it from the main checkout: ticketflow start {ticket.id} --force",
                    error_code="WORKTREE_IN_USE",
                )
            if worktree.locked:
                raise ConflictError(
                    f"the worktree {path} is locked; it was not recreated",
                    hint=f"unlock it first: git worktree unlock {path}",
                    error_code="WORKTREE_LOCKED",
                )
            remove_worktree(store.root, worktree)
            _log("worktree removed", ticket_id=ticket.id, path=path)
        store.set_current(ticket)
        return ticket, store.make_worktree(ticket)
