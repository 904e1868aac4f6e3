"""Claims that cannot collide: ``start --claim`` and ``close --claim``.

A claim is a start (or a close) that counts only once the team's remote has it. It fetches,
judges the ticket by the remote's version of its file (read from the fetched
remote-tracking tree, against the merge base with our branch), commits the change here and
pushes it. A push the remote rejects because it moved is followed by a new fetch and a new
judgement, a bounded number of times. When someone else got there first the local change
is undone exactly (work tree files, index, branch) and ``TicketClaimedError`` says who won,
when and where. The remote is the referee: two clones racing for one ticket cannot both win,
because the second push is not a fast-forward of the first.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pygit2

from ticketflow.cancel import NEVER_CANCELLED, CancelToken, ProgressCallback, no_progress
from ticketflow.errors import (
    ConflictError,
    GitError,
    PushRejectedError,
    TicketClaimedError,
    UsageError,
)
from ticketflow.git.local import branch_name, open_repo, upstream
from ticketflow.git.tickets import TicketEntry, TicketPaths
from ticketflow.model import Ticket

if TYPE_CHECKING:
    from ticketflow.store import TicketStore

Action = Literal["start", "close"]

ATTEMPTS = 3
"""How many times a claim fetches, judges and pushes before it gives up on a remote that
keeps moving (each rejected push undoes the local change before the next try)."""

_WALK_LIMIT = 2000


@dataclass(frozen=True)
class ClaimResult:
    """A claim that won: the ticket as committed and pushed, and where it went."""

    ticket: Ticket
    remote: str
    remote_branch: str
    commit: str
    attempts: int
    pulled: bool
    """True when the remote was ahead and was pulled in before the change was made."""

    def to_json(self) -> dict[str, object]:
        return {
            "remote": self.remote,
            "remote_branch": self.remote_branch,
            "commit": self.commit,
            "attempts": self.attempts,
            "pulled": self.pulled,
        }


def claim(
    store: TicketStore,
    ref: str,
    action: Action,
    *,
    reason: str | None = None,
    attempts: int = ATTEMPTS,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
) -> ClaimResult:
    """Start or close ``ref`` only if the remote agrees, and push the change.

    Raises ``TicketClaimedError`` (exit 3) when the remote's version was started, closed,
    reopened or removed by someone else; ``UsageError`` without a remote; a rejected push
    that is not the remote moving (a hook, a protected branch) is raised as it is. Every
    failure after the local change (Ctrl+C included) undoes it first."""
    from ticketflow.git.pull import pull
    from ticketflow.git.transport import fetch, push

    root, config = store.root, store.config
    repo = open_repo(root)
    if branch_name(repo) is None or repo.head_is_unborn:
        raise GitError("a claim needs a branch with a commit", hint="git switch <branch>")
    remote, dest = upstream(repo, config.default_branch)
    if remote not in {r.name for r in repo.remotes}:
        raise UsageError(
            f"--claim needs the team's remote, and this repository has no remote {remote!r}",
            hint="add it (git remote add origin <url>), or start without --claim "
            "(and without sync.claim: true)",
            error_code="NO_REMOTE",
        )
    tid = store.resolve(ref).id
    pulled = False
    tracking = f"refs/remotes/{remote}/{dest}"
    for attempt in range(1, max(1, attempts) + 1):
        cancel.raise_if_cancelled()
        progress(0, None, f"claim {tid}: fetching {remote} (attempt {attempt})")
        fetch(
            root,
            remote_name=remote,
            progress=progress,
            cancel=cancel,
            timeout=config.git_timeout,
            low_speed_bytes=config.git_low_speed_bytes,
        )
        repo = open_repo(root)
        theirs = _remote_tip(repo, tracking, remote, dest)
        _judge(repo, TicketPaths(store.config), tid, action, theirs, remote)
        head = repo.head.peel(pygit2.Commit).id
        if head != theirs.id and not repo.descendant_of(head, theirs.id):
            progress(0, None, f"claim {tid}: {remote} is ahead, pulling first")
            pull(root, config, remote_name=remote, progress=progress, cancel=cancel)
            pulled = True
        with store.lock():
            point = Checkpoint.take(root, store, tid)
            try:
                if action == "start":
                    ticket, _ = store.start_ticket(tid, commit=True, workspace=False)
                else:
                    ticket = store.close(tid, reason=reason, commit=True)
                progress(0, None, f"claim {tid}: pushing to {remote}/{dest}")
                pushed = push(root, config, remote_name=remote, progress=progress, cancel=cancel)
            except PushRejectedError:
                point.restore()
                if _remote_moved(root, remote, tracking, theirs.id, config.git_timeout):
                    continue  # someone pushed meanwhile: fetch and judge again
                raise
            except BaseException:
                point.restore()
                raise
        return ClaimResult(ticket, remote, dest, pushed.commit, attempt, pulled)
    raise ConflictError(
        f"could not claim {tid}: {remote} kept moving ({attempts} attempts); nothing was "
        "changed here",
        hint="try again in a moment",
        remedy="pull",
        error_code="TICKET_CLAIM_RETRIES",
    )


def _remote_tip(repo: pygit2.Repository, tracking: str, remote: str, dest: str) -> pygit2.Commit:
    ref = repo.references.get(tracking)
    if ref is None:
        raise GitError(
            f"{remote} has no branch {dest}: a claim is judged by the team's branch there",
            hint="claim where the branch the team shares is checked out (a ticket's "
            "worktree is on the ticket's branch), or push this branch first",
        )
    return repo[ref.target].peel(pygit2.Commit)


def _remote_moved(root: Path, remote: str, tracking: str, seen: pygit2.Oid, timeout: int) -> bool:
    """After a rejected push: did the remote's branch move since it was judged? If not, the
    rejection was the remote's own rule, and trying again would not help."""
    from ticketflow.git.transport import fetch

    fetch(root, remote_name=remote, timeout=timeout)
    ref = open_repo(root).references.get(tracking)
    return ref is not None and ref.target != seen


@dataclass(frozen=True)
class _Change:
    commit: pygit2.Commit
    entry: TicketEntry | None


def _changes(
    repo: pygit2.Repository, paths: TicketPaths, tid: str, tip: pygit2.Commit, base: pygit2.Oid
) -> list[_Change]:
    """The commits on the remote's side since ``base`` that changed the ticket's file
    (moved, edited, removed), newest first, each with the ticket's entry after it."""
    walker = repo.walk(tip.id, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.TIME)
    walker.hide(base)
    found: list[_Change] = []
    for count, commit in enumerate(walker):
        if count >= _WALK_LIMIT:
            break
        after = paths.entries(repo, commit.tree).get(tid)
        before = paths.entries(repo, commit.parents[0].tree).get(tid) if commit.parents else None
        if after != before:
            found.append(_Change(commit, after))
    return found


def _status(paths: TicketPaths, entry: TicketEntry | None) -> str | None:
    if entry is None:
        return None
    return paths.dirs.get(entry[0].rpartition("/")[0])


def _judge(
    repo: pygit2.Repository,
    paths: TicketPaths,
    tid: str,
    action: Action,
    theirs: pygit2.Commit,
    remote: str,
) -> None:
    """Refuse (``TicketClaimedError``) when the remote's version of the ticket says someone
    else already did it, or undid what we build on; return when the claim may go ahead."""
    head = repo.head.peel(pygit2.Commit)
    base_id = repo.merge_base(head.id, theirs.id)
    base = repo[base_id].peel(pygit2.Commit) if base_id is not None else None
    remote_entry = paths.entries(repo, theirs.tree).get(tid)
    base_entry = paths.entries(repo, base.tree).get(tid) if base is not None else None
    if remote_entry == base_entry:
        return  # the remote has not touched the ticket since our branch left it
    changes = _changes(repo, paths, tid, theirs, base_id) if base_id else []
    status = _status(paths, remote_entry)
    verb: str | None = None
    if remote_entry is None:
        verb = "removed" if base_entry is not None else None
    elif action == "start":
        verb = {"doing": "started", "done": "closed"}.get(status or "")
    elif status == "done":
        verb = "closed"
    elif any(_status(paths, c.entry) == "done" for c in changes) or (
        _status(paths, base_entry) == "done"
    ):
        verb = "reopened"
    elif status == "doing" and _status(paths, base_entry) == "doing":
        verb = None  # an edit of the started ticket: closing it is still ours to do
    if verb is None:
        return
    winner = changes[0].commit if changes else theirs
    when = datetime.fromtimestamp(winner.author.time, tz=UTC)
    raise TicketClaimedError(
        tid,
        verb,
        winner.author.name,
        when.isoformat().replace("+00:00", "Z"),
        ago(when),
        remote,
        str(winner.id),
    )


def ago(when: datetime, now: datetime | None = None) -> str:
    """``4 minutes ago``: how long since the teammate's commit, to the second."""
    from ticketflow.model import time_ago

    return time_ago(when, now or datetime.now(UTC), seconds=True)


_Saved = tuple[Literal["file"], bytes, int] | tuple[Literal["link"], str] | None


class Checkpoint:
    """What a start or a close changes, as it was: the ticket's file in every status folder,
    the current-ticket link, the index file and the branch HEAD is on. ``restore`` puts
    every byte back (the commit it made stays only as an unreferenced object)."""

    def __init__(
        self, root: Path, files: dict[Path, _Saved], index: Path, saved_index: bytes | None
    ) -> None:
        self.root = root
        self.files = files
        self.index = index
        self.saved_index = saved_index
        repo = open_repo(root)
        head = repo.references.get("HEAD")
        assert head is not None
        self.branch = str(head.target)
        self.target = repo.head.target

    @classmethod
    def take(cls, root: Path, store: TicketStore, tid: str) -> Checkpoint:
        from ticketflow.store import CURRENT_LINK

        paths = [
            store.tickets_root / folder / f"{tid}.md"
            for folder in store.config.status_dirs().values()
        ]
        paths.append(root / CURRENT_LINK)
        index = Path(open_repo(root).path) / "index"
        return cls(root, {p: _save(p) for p in paths}, index, _read(index))

    def restore(self) -> None:
        """Put it all back; a Ctrl+C meanwhile waits until it is done."""
        with _no_interrupt():
            for path, saved in self.files.items():
                _put(path, saved)
            if self.saved_index is None:
                self.index.unlink(missing_ok=True)
            else:
                _atomic(self.index, self.saved_index, 0o644)
            repo = open_repo(self.root)
            repo.references[self.branch].set_target(self.target, "ticketflow: claim undone")


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _save(path: Path) -> _Saved:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if os.path.islink(path):
        return ("link", os.readlink(path))
    return ("file", path.read_bytes(), st.st_mode & 0o7777)


def _put(path: Path, saved: _Saved) -> None:
    if saved is None:
        if os.path.lexists(path):
            path.unlink()
        return
    if saved[0] == "link":
        if os.path.lexists(path):
            path.unlink()
        os.symlink(saved[1], path)
        return
    _atomic(path, saved[1], saved[2])


def _atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.claim-{os.getpid()}")
    if os.path.lexists(path) and os.path.islink(path):
        path.unlink()
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


@contextmanager
def _no_interrupt() -> Iterator[None]:
    """SIGINT deferred while the undo runs (main thread only): a second Ctrl+C must not
    leave half a repository."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def handler(signum: int, frame: object) -> None:
        caught.append(signum)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            raise KeyboardInterrupt
