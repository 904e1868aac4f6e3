"""Editing a ticket in $EDITOR, shared by the CLI and the TUI.

The editor works on a copy under ``<git dir>/ticketflow/edit/`` (a new one per session, so a
rejected edit is never overwritten). The ticket is replaced only by a copy that parses; if the
ticket changed or moved on disk meanwhile, the edit is merged into it field by field, or, when
both changed the same field, refused with the copy kept where the error says: nothing is lost.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ticketflow.config import git_dir
from ticketflow.errors import EditorError, MalformedTicketError
from ticketflow.fileformat import parse_ticket
from ticketflow.fsutil import ensure_dir
from ticketflow.model import Ticket
from ticketflow.store import TicketStore
from ticketflow.ticketfiles import TicketFile


def editor_command() -> list[str]:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    return shlex.split(editor)


@dataclass(frozen=True)
class EditSession:
    ticket_file: TicketFile
    original: bytes
    work: Path
    rel: str


def begin_edit(store: TicketStore, ref: str) -> EditSession:
    tf, original = store.get_bytes(ref)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    work = git_dir(store.root) / "ticketflow" / "edit" / f"{tf.id}.{stamp}-{os.getpid()}.md"
    ensure_dir(work.parent)
    work.write_bytes(original)
    return EditSession(tf, original, work, store.relpath(tf.path))


def run_editor(session: EditSession) -> None:
    """Run the editor on the copy (the caller suspends any UI around this)."""
    cmd = [*editor_command(), str(session.work)]
    try:
        result = subprocess.run(cmd, check=False)
    except OSError as exc:
        raise EditorError(
            f"cannot run the editor {cmd[0]!r}: {exc.strerror or exc}",
            hint="set $EDITOR, for example: export EDITOR=nano",
        ) from None
    if result.returncode != 0:
        raise EditorError(
            f"the editor exited with status {result.returncode}; the ticket is unchanged",
            hint=f"your edit (if any) is kept in {session.work}",
        )


def check_edit(session: EditSession) -> str | None:
    """The edited text if it changed and parses; None if unchanged.

    Raises ``MalformedTicketError`` (the copy is kept) when it does not parse.
    """
    edited = session.work.read_bytes()
    if edited == session.original:
        return None
    try:
        text = edited.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedTicketError(
            session.rel, None, "not valid UTF-8 text", code="not-utf8"
        ) from None
    parse_ticket(text, path=session.rel, ticket_id=session.ticket_file.id)
    return text


def finish_edit(
    store: TicketStore, session: EditSession, text: str | None, *, commit: bool | None = None
) -> Ticket | None:
    """Store a checked edit (None: nothing changed) and remove the copy.

    The store compares the ticket with what the editor started from under the repository
    lock, so a command that changed or moved it meanwhile is never overwritten: the two
    changes are merged field by field, or the edit is refused (``EditConflictError``) and
    its copy kept."""
    if text is None:
        session.work.unlink(missing_ok=True)
        return None
    ticket = store.apply_edit(
        session.ticket_file.id,
        session.original,
        text,
        commit=commit,
        kept=str(session.work),
    )
    session.work.unlink(missing_ok=True)
    return ticket


def rejected(session: EditSession, problem: MalformedTicketError) -> EditorError:
    return EditorError(
        f"the edited ticket is not valid, so it was not saved: {problem.message}",
        hint=f"your edit is kept in {session.work}; fix it there and copy it over {session.rel}",
    )
