"""A ticket's workspace: its git branch and, with ``worktree.enabled``, its worktree.

As in the Go tool: starting a ticket gives it a branch named after its id. With worktrees
enabled the start is committed on the current branch, then a worktree is added under
``worktree.base_dir`` on a new branch ``<ID>``, the ``init_commands`` run there (no shell,
bounded by ``timeouts.init_commands``; a failure is reported, never fatal) and the worktree
gets its own ``current-ticket.md``. Without worktrees the branch is created and checked out
before the start is committed, so the start lands on the ticket's branch. Our own config key
``git.branch_on_start: false`` turns branches off altogether.

Taking it down again (``cleanup``, ``worktree clean``) never destroys uncommitted work: a
worktree with uncommitted changes, a locked one or the one the user stands in is kept, and
a branch that is not merged is deleted only when asked, with the sha that brings it back.
Worktrees are read from git's own records (``list_worktrees``), so one made by hand or by
the Go tool is seen too.
"""

from __future__ import annotations

import errno
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from ticketflow.config import Config
from ticketflow.errors import ConflictError, GitError, TicketflowError
from ticketflow.git.local import open_repo
from ticketflow.model import Status


@dataclass(frozen=True)
class CommandRun:
    """One init command's outcome (its output is kept short for display)."""

    command: str
    returncode: int | None
    output: str
    error: str = ""
    """The first line the command wrote to stderr (else to stdout): where git says what
    went wrong (``fatal: ...``), not the advice it prints after it."""
    skipped: str | None = None
    """Why the command was not run (``git fetch origin`` in a repository without origin)."""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 or self.skipped is not None

    def to_json(self) -> dict[str, object]:
        return {
            "command": self.command,
            "returncode": self.returncode,
            "output": self.output,
            "error": self.error or None,
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class Workspace:
    branch: str | None
    worktree: Path | None
    commands: tuple[CommandRun, ...] = field(default=())

    def to_json(self) -> dict[str, object]:
        return {
            "branch": self.branch,
            "worktree_path": str(self.worktree) if self.worktree else None,
            "init_commands": [c.to_json() for c in self.commands],
        }


def worktree_path(root: Path, config: Config, ticket_id: str) -> Path:
    base = Path(config.worktree_base_dir).expanduser()
    return (base if base.is_absolute() else (root / base)).resolve() / ticket_id


def checkout_new_branch(root: Path, name: str) -> str:
    """Create ``name`` at HEAD (or reuse it) and make it the current branch.

    The branch points at the commit HEAD is on, so the work tree does not change and
    uncommitted work is carried along, as ``git checkout -b`` does.
    """
    repo = open_repo(root)
    if repo.head_is_unborn:
        raise GitError("the repository has no commit yet", hint="commit something first")
    ref = f"refs/heads/{name}"
    if ref not in repo.references:
        repo.branches.local.create(name, repo.head.peel(pygit2.Commit))
    elif repo.references[ref].target != repo.head.target:
        raise GitError(
            f"branch {name} already exists at another commit",
            hint=f"switch to it (git switch {name}) or delete it, then start again",
        )
    repo.set_head(ref)
    return name


def add_worktree(root: Path, config: Config, ticket_id: str) -> Path:
    """A worktree for the ticket on branch ``<ID>`` at the current HEAD (reused if present)."""
    repo = open_repo(root)
    path = worktree_path(root, config, ticket_id)
    if ticket_id in repo.list_worktrees():
        # reused wherever it is (the Go tool, or another base_dir, may have put it there)
        existing = Path(repo.lookup_worktree(ticket_id).path)
        if existing.exists():
            return existing
        if path.exists():
            return path
    branch = repo.branches.local.get(ticket_id)
    if branch is None:
        branch = repo.branches.local.create(ticket_id, repo.head.peel(pygit2.Commit))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        repo.add_worktree(ticket_id, str(path), branch)
    except (pygit2.GitError, ValueError) as exc:
        raise GitError(
            f"the ticket is started, but its worktree could not be added at {path}: {exc}",
            hint=f"fix the cause (see 'git worktree list'), then: git worktree add {path} "
            f"{ticket_id}",
        ) from None
    return path


def run_init_commands(
    where: Path, commands: tuple[str, ...], timeout: int
) -> tuple[CommandRun, ...]:
    """Run each command in ``where`` (split like a shell, but no shell); never raises."""
    runs = []
    for command in commands:
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            runs.append(CommandRun(command, None, f"cannot parse: {exc}"))
            continue
        if not argv:
            continue
        missing = _missing_remote(where, argv)
        if missing is not None:
            runs.append(CommandRun(command, None, "", skipped=f"no remote named {missing!r}"))
            continue
        try:
            proc = subprocess.run(
                argv,
                cwd=where,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
            output = (proc.stdout + proc.stderr).strip()
            first = _first_line(proc.stderr) or _first_line(proc.stdout)
            runs.append(CommandRun(command, proc.returncode, output[-500:], first))
        except subprocess.TimeoutExpired:
            why = f"timed out after {timeout} s"
            runs.append(CommandRun(command, None, why, why))
        except OSError as exc:
            why = exc.strerror or str(exc)
            runs.append(CommandRun(command, None, why, why))
    return tuple(runs)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")[:300]


def _missing_remote(where: Path, argv: list[str]) -> str | None:
    """The remote a ``git fetch [REMOTE]`` names when ``where`` has no such remote (the Go
    tool's default init command, in a repository that was never pushed anywhere)."""
    if argv[:2] != ["git", "fetch"]:
        return None
    names = [arg for arg in argv[2:] if not arg.startswith("-")]
    if any(arg in ("--all", "--multiple") for arg in argv[2:]):
        return None
    remote = names[0] if names else "origin"
    if "/" in remote or ":" in remote:
        return None  # a URL or a path, not a remote's name
    try:
        known = {r.name for r in pygit2.Repository(str(where)).remotes}
    except pygit2.GitError:
        return None
    return None if remote in known else remote


def link_current(worktree: Path, ticket_rel: str) -> None:
    link = worktree / "current-ticket.md"
    try:
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(ticket_rel, link)
    except OSError:
        pass  # no symlinks here: the worktree still works


def restore_link(checkout: Path, ticket_rel: str) -> bool:
    """Point ``current-ticket.md`` at the top of ``checkout`` to ``ticket_rel`` (relative,
    as ``start`` makes it); False when it already does. Unlike ``link_current`` it fails
    loudly: a regular file (or folder) of that name is never replaced (ConflictError), and
    a link that cannot be made is an error, not a silent no-op."""
    from ticketflow.store import CURRENT_LINK

    link = checkout / CURRENT_LINK
    try:
        if os.readlink(link) == ticket_rel:
            return False
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise TicketflowError(f"cannot read {link}: {exc.strerror or exc}") from None
        raise ConflictError(
            f"{link} is a {'folder' if link.is_dir() else 'regular file'}, not ticketflow's "
            "link; it was left as it is",
            hint=f"look at it, move it away (mv {link} {link}.bak), then run ticketflow "
            "restore again",
            error_code="CURRENT_TICKET_NOT_A_LINK",
        ) from None
    tmp = checkout / f".{CURRENT_LINK}.tmp-{os.getpid()}"
    try:
        tmp.unlink(missing_ok=True)
        os.symlink(ticket_rel, tmp)
        os.replace(tmp, link)  # replaces the link itself, never what it points at
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise TicketflowError(
            f"cannot make the link {link}: {exc.strerror or exc}",
            hint="a file system without symbolic links has no current-ticket.md; "
            "close and status take an ID there",
        ) from None
    return True


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
