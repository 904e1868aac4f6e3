"""The one error family of ticketflow.

Every failure a user can meet is a ``TicketflowError`` carrying a message (what went wrong)
and a hint (what to do about it). The CLI maps each class to a documented exit code
(``docs/commands.md``); the TUI turns it into a notification. Nothing in the core raises a
raw ``OSError``/``yaml.YAMLError``/``pygit2.GitError`` at its callers: those are wrapped here.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_SLUG_LENGTH = 100
SHOWN_CHARS = 60
"""How much of a value a user typed or a file holds an error message quotes."""


def quoted(value: object, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)``, cut to about ``limit`` characters with the full length said, so an
    error never echoes a 10,000-character slug or a 5,000-digit number back at the user
    (a value that is not a string is cut in its ``repr``)."""
    if not isinstance(value, str):
        text = repr(value)
        return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value):,} characters)"


class TicketflowError(Exception):
    """Base of every error a user can be shown.

    ``exit_code`` is the process exit status the CLI uses for the class, so scripts can tell
    failures apart without parsing text.
    """

    exit_code: int = 1
    kind: str = "error"
    error_code: str = "ERROR"
    """The Go tool's error code (``TICKET_NOT_FOUND``, ``GIT_DIRTY_WORKSPACE``...; ours in its
    style where the Go tool has none), the JSON error's ``code``. A class gives its usual
    one; a raise site that knows better passes ``error_code=``."""
    transient: bool = False
    """True when trying again later may succeed (a timeout, a refused or reset connection);
    the job queue retries only these. User errors are never transient."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        remedy: str | None = None,
        error_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if error_code is not None:
            self.error_code = error_code
        self.remedy = remedy
        """The action that would help, by name (``start``, ``close``, ``reopen``, ``pull``):
        ``hint`` says it as a command line; a face with other means (the TUI's keys) words
        it its own way from this, never from the hint's text."""

    def details(self) -> dict[str, object]:
        """Structured facts for scripts, added to the JSON error object."""
        return {}

    def to_dict(self) -> dict[str, object]:
        """The JSON shape of the error, for ``--format json``: the Go tool's ``code``,
        ``message`` and ``suggestions`` (the hint, when there is one), our ``type`` (the
        class) and ``hint``, and the class's details."""
        error: dict[str, object] = {
            "code": self.error_code,
            "type": self.kind,
            "message": self.message,
        }
        if self.hint:
            error["hint"] = self.hint
            error["suggestions"] = [self.hint]
        error.update(self.details())
        return {"error": error}


class UsageError(TicketflowError):
    """The command was called with values that can never work (bad slug, bad priority)."""

    exit_code = 2
    kind = "usage"
    error_code = "VALIDATION_ERROR"


class InvalidSlugError(UsageError):
    kind = "invalid_slug"

    def __init__(self, slug: str) -> None:
        super().__init__(
            f"invalid slug {quoted(slug)}: use lower-case letters, digits and hyphens only "
            f"(at most {MAX_SLUG_LENGTH} characters)",
            hint="for example: ticketflow new fix-login-timeout",
        )
        self.slug = slug


class ConflictError(TicketflowError):
    """Work that cannot proceed without the user choosing: a merge conflict, a rejected
    push, a pull that would overwrite uncommitted changes."""

    exit_code = 3
    kind = "conflict"
    error_code = "CONFLICT"


class NotFoundError(TicketflowError):
    """A ticket id or prefix names no ticket."""

    exit_code = 4
    kind = "not_found"
    error_code = "TICKET_NOT_FOUND"

    def __init__(self, ticket_ref: str) -> None:
        super().__init__(
            f"no ticket matches {quoted(ticket_ref)}",
            hint="run 'ticketflow list --status all' to see ticket ids",
        )
        self.ticket_ref = ticket_ref


class AmbiguousIdError(TicketflowError):
    """A prefix names more than one ticket; the candidates are listed."""

    exit_code = 4
    kind = "ambiguous_id"
    error_code = "TICKET_AMBIGUOUS"

    def __init__(self, ticket_ref: str, candidates: Sequence[str]) -> None:
        shown = list(candidates[:10])
        more = len(candidates) - len(shown)
        listing = "\n  ".join(shown) + (f"\n  ... and {more} more" if more > 0 else "")
        super().__init__(
            f"{quoted(ticket_ref)} matches {len(candidates)} tickets:\n  {listing}",
            hint="give more characters of the id",
        )
        self.ticket_ref = ticket_ref
        self.candidates = tuple(candidates)

    def details(self) -> dict[str, object]:
        return {"candidates": list(self.candidates)}


class TicketVanishedError(NotFoundError):
    """A ticket file was listed, then gone when it was read: another command moved or
    removed it at that moment. Readers look again once that command is done."""

    def __init__(self, path: str) -> None:
        TicketflowError.__init__(
            self,
            f"{path} was moved or removed while it was being read",
            hint="another ticketflow command changed it; run yours again",
        )
        self.ticket_ref = path
        self.path = path


class DuplicateTicketError(TicketflowError):
    """One ticket id has a file in more than one status folder (a hand-made copy, or a
    crash between writing the new file and removing the old one)."""

    exit_code = 6
    kind = "duplicate_ticket"
    error_code = "TICKET_DUPLICATE"

    def __init__(self, ticket_id: str, paths: Sequence[str]) -> None:
        super().__init__(
            f"ticket {ticket_id} exists in more than one folder: {', '.join(paths)}",
            hint="keep the copy in the folder that matches its timestamps and delete the other",
        )
        self.ticket_id = ticket_id
        self.paths = tuple(paths)

    def details(self) -> dict[str, object]:
        return {
            "ticket_id": self.ticket_id,
            "paths": list(self.paths),
            "problem_code": "duplicate-id",
        }


class NotARepoError(TicketflowError):
    """The current directory is not inside an initialised ticketflow repository."""

    exit_code = 5
    kind = "not_a_repo"
    error_code = "NOT_GIT_REPO"


class MalformedTicketError(TicketflowError):
    """A ticket file that cannot be read: the path, the line, what is wrong and its code.

    ``code`` is the stable name of the problem (``invalid-yaml``, ``wrong-type``...; the
    list is in docs/commands.md under ``scan``). It is given where the error is raised,
    never worked out from the message afterwards: wording changes (ours, or a new PyYAML's)
    must not change what a script sees.
    """

    exit_code = 6
    kind = "malformed_ticket"
    error_code = "TICKET_INVALID"

    def __init__(
        self,
        path: str,
        line: int | None,
        problem: str,
        hint: str | None = None,
        *,
        code: str = "malformed",
    ) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(
            f"{where}: {problem}",
            hint=hint or "fix the file by hand; the format is in docs/file-format.md",
        )
        self.path = path
        self.line = line
        self.problem = problem
        self.code = code

    def details(self) -> dict[str, object]:
        # ``code`` is the Go tool's error code; the problem's own name is ``problem_code``
        return {"path": self.path, "line": self.line, "problem_code": self.code}


class UnsafePathError(MalformedTicketError):
    """A ticket file or folder that ticketflow will not read or write through: a ticket file
    that is a symbolic link (``code`` ``symlink``), or a ticket folder that leads outside
    the repository's work tree or into its git dir (``unsafe-folder``). See
    ``ticketflow.safepaths``. A file's problem is reported like a file that does not parse,
    so the other tickets still list; a folder's stops every command that lists tickets."""

    kind = "unsafe_path"
    error_code = "UNSAFE_PATH"


class ConfigError(TicketflowError):
    """``.ticketflow.yaml`` is not valid."""

    exit_code = 6
    kind = "config"
    error_code = "CONFIG_INVALID"


class InvalidTransitionError(TicketflowError):
    """A status change that the ticket's current state does not allow."""

    exit_code = 7
    kind = "invalid_transition"
    error_code = "INVALID_TRANSITION"


class LockBusyError(TicketflowError):
    """Another ticketflow process holds the repository lock for too long."""

    exit_code = 8
    kind = "lock_busy"
    error_code = "LOCK_BUSY"


class GitError(TicketflowError):
    """git refused or failed (commit, open, read)."""

    exit_code = 9
    kind = "git"
    error_code = "GIT_ERROR"


class NetworkError(GitError):
    """The remote could not be reached or stopped answering: worth retrying."""

    kind = "network"
    error_code = "NETWORK_ERROR"
    transient = True


class CancelledError(TicketflowError):
    """The work was cancelled (ESC in the TUI, Ctrl+C on the command line, a job cancel).

    ``partial`` describes what was done before the stop ("45/120 objects").
    """

    exit_code = 130
    kind = "cancelled"
    error_code = "CANCELLED"

    def __init__(self, message: str = "cancelled", partial: str | None = None) -> None:
        super().__init__(f"{message} after {partial}" if partial else message)
        self.partial = partial

    def details(self) -> dict[str, object]:
        return {"partial": self.partial} if self.partial else {}


class EditConflictError(ConflictError):
    """An edit made in the editor and a change another command made to the same ticket
    meanwhile touch the same field: the edit is not applied, its copy is kept."""

    kind = "edit_conflict"
    error_code = "EDIT_CONFLICT"

    def __init__(self, ticket_id: str, fields: Sequence[str], kept: str | None) -> None:
        what = ", ".join(fields)
        super().__init__(
            f"ticket {ticket_id} changed while you were editing it, in the same fields as "
            f"your edit ({what}); your edit was not applied",
            hint=(f"your edit is kept in {kept}; " if kept else "")
            + f"look at the ticket now (ticketflow show {ticket_id}) and edit it again",
            remedy="edit",
        )
        self.ticket_id = ticket_id
        self.fields = tuple(fields)
        self.kept = kept

    def details(self) -> dict[str, object]:
        return {"ticket_id": self.ticket_id, "fields": list(self.fields), "kept": self.kept}


class EditorError(TicketflowError):
    """The editor could not be run, or the edit produced a broken ticket."""

    exit_code = 10
    kind = "editor"
    error_code = "EDITOR_ERROR"


class UncommittedChangesError(ConflictError):
    """A checkout holds uncommitted work that the command would leave behind or destroy:
    ``close`` (``--force`` closes anyway) or ``start --force`` rebuilding a worktree (never
    over uncommitted work)."""

    kind = "uncommitted_changes"
    error_code = "GIT_DIRTY_WORKSPACE"

    def __init__(
        self, ticket_id: str, where: str, files: Sequence[str], *, outcome: str, hint: str
    ) -> None:
        shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
        super().__init__(
            f"{where} has uncommitted changes ({shown}); {outcome}", hint=hint, remedy="commit"
        )
        self.ticket_id = ticket_id
        self.where = where
        self.files = tuple(files)

    def details(self) -> dict[str, object]:
        return {"ticket_id": self.ticket_id, "worktree_path": self.where, "files": list(self.files)}
