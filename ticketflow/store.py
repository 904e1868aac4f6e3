"""TicketStore: the one place tickets are created, changed, moved and committed.

Every write happens under the repository lock (``<git dir>/ticketflow.lock``), is atomic
(temp file, fsync, ``os.replace``) and, unless turned off, is committed through pygit2 with
the Go tool's messages. Reads never take the lock: atomic writes mean a reader always sees a
whole file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ticketflow.config import (
    CONFIG_NAME,
    Config,
    find_root,
    git_dir,
    load_config,
    read_head_branch,
)
from ticketflow.errors import (
    DuplicateTicketError,
    EditConflictError,
    InvalidTransitionError,
    LockBusyError,
    MalformedTicketError,
    NotFoundError,
    TicketVanishedError,
    UsageError,
)
from ticketflow.fsutil import atomic_move, atomic_write, locked
from ticketflow.model import (
    Status,
    Ticket,
    is_ticket_id,
    make_ticket_id,
    now_local,
    validate_priority,
    validate_slug,
)
from ticketflow.safepaths import LINK_ERRNOS, O_NOFOLLOW, check_folder, symlink_error
from ticketflow.ticketfiles import TicketFile, exact_file, find_file, iter_files

if TYPE_CHECKING:
    from ticketflow.workspace import Workspace

Clock = Callable[[], datetime]
T = TypeVar("T")
CURRENT_LINK = "current-ticket.md"
"""The Go tool's pointer to the ticket being worked on: a relative symlink (git-ignored)."""


@dataclass(frozen=True)
class LoadResult:
    """Every ticket that parsed, and every file that did not (the others still list)."""

    tickets: list[Ticket]
    problems: list[MalformedTicketError]


def _log(what: str, /, **fields: object) -> None:
    """An INFO line for ``--log-level``. No one can listen before ``logging`` is loaded
    (``ticketflow.logs`` loads it when a command asks for a log), so a plain command does
    not import it just to log nothing."""
    if "logging" in sys.modules:
        from ticketflow.logs import log

        log(20, what, **fields)


class TicketStore:
    """Tickets of one repository: ``root`` holds ``.ticketflow.yaml`` and ``.git``."""

    def __init__(self, root: Path, config: Config, *, clock: Clock = now_local) -> None:
        self.root = root
        self.config = config
        self.clock = clock
        self._held = threading.local()  # how deep this thread is in lock()

    @classmethod
    def open(cls, start: Path | None = None, *, clock: Clock = now_local) -> TicketStore:
        root = find_root(start)
        return cls(root, load_config(root / CONFIG_NAME), clock=clock)

    # --- paths --------------------------------------------------------------------------

    @property
    def tickets_root(self) -> Path:
        return self.root / self.config.tickets_dir

    def status_dir(self, status: Status) -> Path:
        """The folder of ``status``, checked: it must resolve inside the work tree and out
        of the git dir (``UnsafePathError`` otherwise; see ``safepaths``). Every listing and
        every write asks, so a link planted there stops the command instead of leading it
        out of the repository."""
        return check_folder(self.root, self.tickets_root / self.config.status_dirs()[status.value])

    def relpath(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """The repository lock: every write, and every read-check-write, happens inside it.

        Re-entrant within a thread (a flock taken twice by one process would wait for
        itself), so a locked operation may call another."""
        depth = getattr(self._held, "depth", 0)
        if depth:
            self._held.depth = depth + 1
            try:
                yield
            finally:
                self._held.depth = depth
            return
        with locked(git_dir(self.root) / "ticketflow.lock"):
            self._held.depth = 1
            try:
                yield
            finally:
                self._held.depth = 0

    def _consistent(self, read: Callable[[], T]) -> T:
        """``read()``, looked at again once writers are done if it saw a change half made.

        Reads take no lock, and a status change writes the new file before it removes the
        old one: a reader in between sees the ticket in two folders, a file that is gone
        when opened, or (having listed the old folder before the write and the new one
        after the removal) no ticket at all. Waiting for the lock waits for that writer; the
        second look is then consistent, and what it finds (a real duplicate, no such ticket)
        is the answer. Where the lock cannot be had (a read-only checkout) the first answer
        stands.
        """
        try:
            return read()
        except (DuplicateTicketError, NotFoundError) as exc:  # TicketVanishedError included
            if getattr(self._held, "depth", 0):
                raise
            first = exc
        locked = False
        try:
            with self.lock():
                locked = True
                return read()
        except (OSError, LockBusyError):
            if locked:
                raise
            raise first from None

    # --- reading ------------------------------------------------------------------------

    def iter_files(self) -> Iterator[TicketFile]:
        """Ticket files in the three status folders (see ``ticketfiles.iter_files``)."""
        return iter_files(self)

    def read_file(self, tf: TicketFile) -> Ticket:
        """The ticket in ``tf``'s file; never through a symbolic link (``O_NOFOLLOW``)."""
        rel = self.relpath(tf.path)
        data = self._read_bytes(tf)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise MalformedTicketError(rel, line, "not valid UTF-8 text", code="not-utf8") from None
        from ticketflow.fileformat import parse_ticket

        return parse_ticket(text, path=rel, ticket_id=tf.id)

    def load_all(self) -> LoadResult:
        tickets: list[Ticket] = []
        problems: list[MalformedTicketError] = []
        for tf in self.iter_files():
            try:
                tickets.append(self.read_file(tf))
            except MalformedTicketError as exc:
                problems.append(exc)
            except TicketVanishedError:
                continue  # moved meanwhile: the listing of its new folder has it, or not
        tickets.sort(key=Ticket.sort_key)
        return LoadResult(tickets, problems)

    def resolve(self, ref: str) -> TicketFile:
        """Find a ticket by id or any unambiguous prefix of its id (``2508`` or
        ``250809-1158``), else of its slug (``fix-lo``). A path or ``.md`` is accepted."""
        return self._consistent(lambda: find_file(self, ref))

    def get(self, ref: str) -> Ticket:
        return self._consistent(lambda: self.read_file(find_file(self, ref)))

    def get_bytes(self, ref: str) -> tuple[TicketFile, bytes]:
        """The ticket's file and its exact bytes, read consistently (what an edit starts
        from, compared again under the lock when the edit is stored)."""

        def read() -> tuple[TicketFile, bytes]:
            tf = find_file(self, ref)
            return tf, self._read_bytes(tf)

        return self._consistent(read)

    def current_branch(self) -> str | None:
        return read_head_branch(self.root)

    def current_ticket_id(self) -> str | None:
        """The ticket being worked on: ``current-ticket.md``'s target, else a branch named
        after a ticket (as the Go tool's worktree flow leaves it), else None."""
        try:
            target = os.readlink(self.root / CURRENT_LINK)
        except OSError:
            target = None
        if target is not None:
            stem = Path(target).name.removesuffix(".md")
            if is_ticket_id(stem):
                return stem
        branch = self.current_branch()
        if branch and is_ticket_id(branch) and any(tf.id == branch for tf in self.iter_files()):
            return branch
        return None

    def set_current(self, ticket: Ticket) -> None:
        assert ticket.path is not None
        link = self.root / CURRENT_LINK
        tmp = self.root / f".{CURRENT_LINK}.tmp-{os.getpid()}"
        try:
            tmp.unlink(missing_ok=True)
            os.symlink(ticket.path, tmp)
            os.replace(tmp, link)
        except OSError:
            tmp.unlink(missing_ok=True)  # a file system without symlinks: no current ticket

    def _clear_current(self, ticket_id: str) -> None:
        link = self.root / CURRENT_LINK
        try:
            if Path(os.readlink(link)).name.removesuffix(".md") == ticket_id:
                link.unlink()
        except OSError:
            pass

    # --- writing ------------------------------------------------------------------------

    def _commit(self, message: str, changes: list[tuple[str, bool]], commit: bool | None) -> None:
        files = [p for p, _ in changes]
        if not (self.config.auto_commit if commit is None else commit):
            _log("ticket written, not committed", message=message, files=files)
            return
        from ticketflow.git.local import PathChange, commit_paths

        commit_paths(self.root, [PathChange(p, removed=r) for p, r in changes], message)
        _log("ticket committed", message=message, files=files)

    def _write(self, ticket: Ticket, old_path: Path | None) -> Ticket:
        """Write ``ticket`` into the folder of its status (moving it if needed)."""
        target = self.status_dir(ticket.status) / f"{ticket.id}.md"
        stored = ticket.with_changes(path=self.relpath(target))
        from ticketflow.fileformat import render_ticket

        data = render_ticket(stored).encode("utf-8")
        # with root: the folders are opened link by link and must stay in the repository,
        # and the target may not be a link (see fsutil and safepaths)
        if old_path is None:
            atomic_write(target, data, root=self.root)
        else:
            atomic_move(old_path, target, data, root=self.root)
        return stored

    def create(
        self,
        slug: str,
        *,
        parent: str | None = None,
        priority: int = 2,
        description: str = "",
        commit: bool | None = None,
    ) -> Ticket:
        validate_slug(slug)
        validate_priority(priority)
        with self.lock():
            now = self.clock()
            ticket_id = make_ticket_id(slug, now)
            related: tuple[str, ...] = ()
            if parent:
                parent_id = self.resolve(parent).id
                related = (f"parent:{parent_id}",)
            if any(tf.id.startswith(ticket_id) for tf in self.iter_files()):
                # as the Go tool: refuse a new id that is a prefix of an existing one, so
                # that every prefix a user types keeps meaning what it meant before
                raise UsageError(
                    f"ticket {ticket_id} already exists (or is a prefix of an existing id)",
                    hint="wait a second or choose another slug",
                )
            body = self.config.template  # verbatim, as the Go tool does
            ticket = Ticket(
                id=ticket_id,
                priority=priority,
                description=description,
                created_at=now,
                related=related,
                body=body,
            )
            stored = self._write(ticket, None)
            assert stored.path is not None
            self._commit(f"Add ticket: {ticket_id}", [(stored.path, False)], commit)
            return stored

    def _transition(
        self,
        ref: str,
        change: Callable[[Ticket, datetime], Ticket],
        message: Callable[[Ticket], str],
        commit: bool | None,
        before_write: Callable[[Ticket], None] | None = None,
    ) -> Ticket:
        with self.lock():
            return self._transition_locked(ref, change, message, commit, before_write)

    def _transition_locked(
        self,
        ref: str,
        change: Callable[[Ticket, datetime], Ticket],
        message: Callable[[Ticket], str],
        commit: bool | None,
        before_write: Callable[[Ticket], None] | None = None,
    ) -> Ticket:
        tf = self.resolve(ref)
        ticket = self.read_file(tf)
        updated = change(ticket, self.clock())
        if before_write is not None:
            before_write(updated)
        stored = self._write(updated, tf.path)
        assert stored.path is not None
        changes = [(stored.path, False)]
        old_rel = self.relpath(tf.path)
        if old_rel != stored.path:
            changes.append((old_rel, True))
        self._commit(message(stored), changes, commit)
        return stored

    def start(self, ref: str, *, commit: bool | None = None) -> Ticket:
        """Start a ticket without touching branches (see ``start_ticket``)."""
        return self.start_ticket(ref, commit=commit, workspace=False)[0]

    def start_ticket(
        self,
        ref: str,
        *,
        commit: bool | None = None,
        workspace: bool | None = None,
    ) -> tuple[Ticket, Workspace | None]:
        """Start a ticket and, as the Go tool does, give it its branch (and worktree).

        ``workspace`` None follows ``git.branch_on_start``. Without worktrees the branch is
        checked out before the start is committed, so the commit lands on it; with worktrees
        the start is committed here and the worktree is added on a new branch afterwards.
        ``worktrees.recreate_worktree`` is the Go tool's ``start --force`` on a ticket
        in doing.
        """
        use_workspace = self.config.branch_on_start if workspace is None else workspace
        worktrees = use_workspace and self.config.worktree_enabled

        def change(t: Ticket, now: datetime) -> Ticket:
            if t.status is Status.DOING:
                hint = f"close it: ticketflow close {t.id}"
                if worktrees:
                    hint += f"; or rebuild its worktree: ticketflow start {t.id} --force"
                raise InvalidTransitionError(
                    f"ticket {t.id} is already started",
                    hint=hint,
                    remedy="close",
                    error_code="TICKET_ALREADY_STARTED",
                )
            if t.status is Status.DONE:
                raise InvalidTransitionError(
                    f"ticket {t.id} is closed",
                    hint=f"reopen it first: ticketflow reopen {t.id}",
                    remedy="reopen",
                    error_code="TICKET_ALREADY_CLOSED",
                )
            return t.with_changes(started_at=now)

        def before_write(t: Ticket) -> None:
            if use_workspace and not worktrees:
                from ticketflow.workspace import checkout_new_branch

                checkout_new_branch(self.root, t.id)

        with self.lock():
            started = self._transition_locked(
                ref, change, lambda t: f"Start ticket: {t.id}", commit, before_write
            )
            self.set_current(started)
            if not use_workspace:
                return started, None
            from ticketflow.workspace import Workspace

            if not worktrees:
                return started, Workspace(branch=started.id, worktree=None)
            return started, self.make_worktree(started)

    def add_workspace(self, ticket: Ticket) -> Workspace:
        """The branch (and worktree) of a ticket already started and committed, as
        ``start_ticket`` would have made it: a claim makes them only once the remote has
        the start. Without worktrees the branch is made at HEAD and checked out."""
        from ticketflow.workspace import Workspace, checkout_new_branch

        if self.config.worktree_enabled:
            return self.make_worktree(ticket)
        checkout_new_branch(self.root, ticket.id)
        return Workspace(branch=ticket.id, worktree=None)

    def make_worktree(self, ticket: Ticket) -> Workspace:
        from ticketflow.workspace import Workspace, add_worktree, link_current, run_init_commands

        path = add_worktree(self.root, self.config, ticket.id)
        assert ticket.path is not None
        link_current(path, ticket.path)
        runs = run_init_commands(path, self.config.init_commands, self.config.init_commands_timeout)
        return Workspace(branch=ticket.id, worktree=path, commands=runs)

    def close(self, ref: str, *, reason: str | None = None, commit: bool | None = None) -> Ticket:
        reason = (reason or "").strip() or None

        def change(t: Ticket, now: datetime) -> Ticket:
            if t.status is Status.DONE:
                raise InvalidTransitionError(
                    f"ticket {t.id} is already closed", error_code="TICKET_ALREADY_CLOSED"
                )
            if t.status is Status.TODO and reason is None:
                raise InvalidTransitionError(
                    f"ticket {t.id} was never started; closing it needs a reason",
                    hint=f'ticketflow close {t.id} --reason "duplicate of ..."',
                    remedy="close_with_reason",
                    error_code="VALIDATION_ERROR",
                )
            body = t.body
            if reason is not None:
                body = append_closure_note(body, now, reason)
            return t.with_changes(closed_at=now, closure_reason=reason, body=body)

        def message(t: Ticket) -> str:
            return f"Close ticket: {t.id}" + (f" ({reason})" if reason else "")

        with self.lock():
            closed = self._transition_locked(ref, change, message, commit)
            self._clear_current(closed.id)
        return closed

    def reopen(self, ref: str, *, commit: bool | None = None) -> Ticket:
        def change(t: Ticket, now: datetime) -> Ticket:
            if t.status is not Status.DONE:
                raise InvalidTransitionError(
                    f"ticket {t.id} is not closed (it is {t.status.value})",
                    hint="only closed tickets can be reopened",
                    error_code="TICKET_NOT_DONE",
                )
            return t.with_changes(closed_at=None, closure_reason=None)

        return self._transition(ref, change, lambda t: f"Reopen ticket: {t.id}", commit)

    def replace_text(self, tf: TicketFile, text: str, *, commit: bool | None = None) -> Ticket:
        """Store a ticket's new text (already validated by the caller) and commit it.

        The ticket is found again under the lock, by its id: it may have moved since
        ``tf`` was listed, and the text goes where its timestamps say, from wherever it is
        now (never next to a copy in its old folder)."""
        with self.lock():
            return self._store_text(exact_file(self, tf.id), text, commit)

    def apply_edit(
        self,
        ticket_id: str,
        original: bytes,
        edited: str,
        *,
        commit: bool | None = None,
        kept: str | None = None,
    ) -> Ticket:
        """Store an edit of ``original`` (the bytes the editor started from) under the lock.

        If the ticket changed or moved meanwhile (a ``close`` while the editor was open),
        the edit is merged field by field into the ticket as it is now, as a pull merges:
        the other command's fields and the edit's both survive. When both touched the same
        field, nothing is written and ``EditConflictError`` names the fields (``kept``, the
        edited copy, goes in its hint)."""
        with self.lock():
            try:
                tf = exact_file(self, ticket_id)
            except NotFoundError:
                raise EditConflictError(ticket_id, ["file: removed"], kept) from None
            current = self._read_bytes(tf)
            if current != original:
                edited = self._merge_edit(tf, original, current, edited, kept)
            return self._store_text(tf, edited, commit)

    def _read_bytes(self, tf: TicketFile) -> bytes:
        """A ticket file's bytes, never through a symbolic link; a file gone since it was
        listed is ``TicketVanishedError`` (a move half seen: readers look again)."""
        rel = self.relpath(tf.path)
        if tf.link:
            raise symlink_error(rel, tf.path)
        try:
            fd = os.open(tf.path, os.O_RDONLY | O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
            with os.fdopen(fd, "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            raise TicketVanishedError(rel) from None
        except OSError as exc:
            if exc.errno in LINK_ERRNOS:
                raise symlink_error(rel, tf.path) from None
            problem = f"cannot read: {exc.strerror or exc}"
            if exc.errno == errno.EISDIR:
                problem = "cannot read: it is a folder"
            raise MalformedTicketError(rel, None, problem, code="unreadable") from None

    def _merge_edit(
        self, tf: TicketFile, original: bytes, current: bytes, edited: str, kept: str | None
    ) -> str:
        from ticketflow.fileformat import parse_ticket
        from ticketflow.fileformat import render_ticket as render
        from ticketflow.git.tickets import text_merge_for
        from ticketflow.merge import merge_tickets

        rel = self.relpath(tf.path)
        try:
            base = parse_ticket(original.decode("utf-8"), path=rel, ticket_id=tf.id)
            theirs = self.read_file(tf)
        except (MalformedTicketError, UnicodeDecodeError):
            raise EditConflictError(tf.id, ["file: no longer readable"], kept) from None
        ours = parse_ticket(edited, path=rel, ticket_id=tf.id)
        merged = merge_tickets(base, ours, theirs, text_merge=text_merge_for(self.root))
        if merged.ticket is None:
            raise EditConflictError(tf.id, [c.field for c in merged.conflicts], kept)
        return render(merged.ticket)

    def _store_text(self, tf: TicketFile, text: str, commit: bool | None) -> Ticket:
        from ticketflow.fileformat import parse_ticket

        ticket = parse_ticket(text, path=self.relpath(tf.path), ticket_id=tf.id)
        target = self.status_dir(ticket.status) / f"{tf.id}.md"
        atomic_move(tf.path, target, text.encode("utf-8"), root=self.root)
        changes = [(self.relpath(target), False)]
        if target != tf.path:
            changes.append((self.relpath(tf.path), True))
        self._commit(f"Update ticket: {tf.id}", changes, commit)
        stored = ticket.with_changes(path=self.relpath(target))
        if self.current_ticket_id() == tf.id:
            if stored.status is Status.DOING:
                self.set_current(stored)
            else:
                self._clear_current(tf.id)
        return stored


def append_closure_note(body: str, when: datetime, reason: str) -> str:
    """The Go tool's closure section: trailing newlines trimmed, a blank line, the note."""
    return (
        body.rstrip("\n")
        + f"\n\n## Closure Note\n**Closed on**: {when:%Y-%m-%d}\n**Reason**: {reason}\n"
    )
