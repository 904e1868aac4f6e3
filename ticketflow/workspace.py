"""A ticket's workspace: its git branch and, with ``worktree.enabled``, its worktree.

As in the Go tool: starting a ticket gives it a branch named after its id. With worktrees
enabled the start is committed on the current branch, then a worktree is added under
``worktree.base_dir`` on a new branch ``<ID>``, the ``init_commands`` run there (no shell,
bounded by ``timeouts.init_commands``; a failure is reported, never fatal) and the worktree
gets its own ``current-ticket.md``. Without worktrees the branch is created and checked out
before the start is committed, so the start lands on the ticket's branch. Our own config key
``git.branch_on_start: false`` turns branches off altogether.

Taking it down again is ``ticketflow.worktrees``.
"""

from __future__ import annotations

import errno
import os
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from ticketflow.config import Config
from ticketflow.errors import ConflictError, GitError, TicketflowError
from ticketflow.git.local import open_repo


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
