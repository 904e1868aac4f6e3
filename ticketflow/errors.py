"""The one error family of ticketflow.

Every failure a user can meet is a ``TicketflowError`` carrying a message (what went wrong)
and a hint (what to do about it). The CLI maps each class to a documented exit code
(``docs/commands.md``); the TUI turns it into a notification. Nothing in the core raises a
raw ``OSError``/``yaml.YAMLError``/``pygit2.GitError`` at its callers: those are wrapped here.

**Errors are data.** ``to_dict()`` is the JSON the CLI prints; ``to_dict(transport=True)``
adds what it takes to rebuild the error elsewhere (a job that ran in a child process, see
``ticketflow.isolated``), and ``TicketflowError.from_dict`` rebuilds it: an instance of the
very class, with the same message, hint, remedy, codes, transience and details. Every
subclass is registered by its class name as it is defined (``REGISTRY``); the name, not
``kind``, is the key because ``kind`` (the JSON ``type``) is shared on purpose: a script
sees a ``TicketVanishedError`` as the ``not_found`` it is, a ``TransferStalledError`` as a
``network`` error.

The rebuild does not call the class's constructor (each takes its own arguments, from which
it words the message): ``from_dict`` makes the instance with ``cls.__new__`` and puts back
the attributes the original had (``errorcodec``: JSON values, tuples, field
conflicts). So every class round-trips, also one defined outside this module that never
said how, and no class is ever made at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ticketflow.errorcodec import decode, encode

if TYPE_CHECKING:
    from ticketflow.merge import FieldConflict

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


REGISTRY: dict[str, type[TicketflowError]] = {}
"""Every class of the family by its name: what ``from_dict`` rebuilds an error as."""

_BASE_FIELDS = frozenset(
    {"message", "hint", "remedy", "error_code", "exit_code", "transient", "kind"}
)
"""The attributes every error has; the others are its class's own (``_state``)."""


class TicketflowError(Exception):
    """Base of every error a user can be shown.

    ``exit_code`` is the process exit status the CLI uses for the class, so scripts can tell
    failures apart without parsing text.
    """

    registry: ClassVar[dict[str, type[TicketflowError]]] = REGISTRY

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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Register the class by its name, which must be new to the family: two classes of
        one name could not be told apart in a dict."""
        super().__init_subclass__(**kwargs)
        known = REGISTRY.get(cls.__name__)
        if known is not None and known is not cls:
            raise TypeError(
                f"two error classes named {cls.__name__}: {known.__module__} and {cls.__module__}"
            )
        REGISTRY[cls.__name__] = cls

    def details(self) -> dict[str, object]:
        """Structured facts for scripts, added to the JSON error object."""
        return {}

    def to_dict(self, *, transport: bool = False) -> dict[str, object]:
        """The JSON shape of the error, for ``--format json``: the Go tool's ``code``,
        ``message`` and ``suggestions`` (the hint, when there is one), our ``type`` (the
        class) and ``hint``, and the class's details.

        ``transport=True`` adds, beside ``error`` (whose content stays the CLI's), what
        ``from_dict`` needs to rebuild this very error: its class (and the family classes
        it derives from, for a reader that lacks the class), exit code, transience, remedy
        and its own attributes."""
        error: dict[str, object] = {
            "code": self.error_code,
            "type": self.kind,
            "message": self.message,
        }
        if self.hint:
            error["hint"] = self.hint
            error["suggestions"] = [self.hint]
        error.update(self.details())
        if not transport:
            return {"error": error}
        return {
            "error": error,
            "class": type(self).__name__,
            "classes": [c.__name__ for c in type(self).__mro__ if REGISTRY.get(c.__name__) is c],
            "hint": self.hint,
            "remedy": self.remedy,
            "exit_code": self.exit_code,
            "transient": self.transient,
            "state": {k: encode(v) for k, v in self._state().items()},
        }

    def _state(self) -> dict[str, object]:
        """The class's own attributes (``ticket_ref``, ``partial``...), from which its
        ``details()`` and anything a caller reads are made."""
        return {
            k: v for k, v in vars(self).items() if k not in _BASE_FIELDS and not k.startswith("__")
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TicketflowError:
        """The error ``to_dict(transport=True)`` describes, as an instance of its class.

        A class this process does not know (its module was never imported) gives way to
        the nearest one it derives from; the plain CLI shape (no ``class``) gives a
        ``TicketflowError`` with its code, message and hint."""
        error: dict[str, Any] = data.get("error") or {}
        names = [data["class"]] if "class" in data else []
        names += list(data.get("classes") or ())
        target = next((REGISTRY[n] for n in names if n in REGISTRY), TicketflowError)
        if not issubclass(target, cls):
            raise TypeError(f"{target.__name__} is not a {cls.__name__}")
        rebuilt = target.__new__(target)
        message = str(error.get("message", "the job failed"))
        Exception.__init__(rebuilt, message)
        rebuilt.message = message
        rebuilt.hint = data["hint"] if "hint" in data else error.get("hint")
        rebuilt.remedy = data.get("remedy")
        state = data.get("state") or {}
        for name, value in state.items():
            setattr(rebuilt, name, decode(value))
        for name, value in (
            ("error_code", error.get("code")),
            ("kind", error.get("type")),
            ("exit_code", data.get("exit_code")),
            ("transient", data.get("transient")),
        ):
            if value is not None and value != getattr(target, name):
                setattr(rebuilt, name, value)
        return rebuilt


REGISTRY[TicketflowError.__name__] = TicketflowError


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


class BranchNamesNoTicketError(NotFoundError):
    """``restore``: the checked-out branch is not a ticket's (or HEAD is detached)."""

    def __init__(self, message: str, hint: str) -> None:
        TicketflowError.__init__(self, message, hint=hint, remedy="start")
        self.ticket_ref = ""


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


class TransferStalledError(NetworkError):
    """The remote moved fewer bytes than the floor in a whole window: a stalled or trickling
    server, or a dead link (the low-speed rule, ``ticketflow.git.transfer``). Transient,
    like any network error: the queue retries it."""

    def __init__(self, action: str, moved: int, floor: int, window: float) -> None:
        super().__init__(
            f"{action} failed: stalled: {moved} bytes in {window:g} s, fewer than "
            f"timeouts.git_low_speed_bytes ({floor})",
            hint="the remote stopped sending; check the network or try again later "
            "(timeouts.git_low_speed_bytes: 0 turns this rule off)",
        )
        self.moved = moved
        self.floor = floor
        self.window = window

    def details(self) -> dict[str, object]:
        return {"stalled": {"bytes": self.moved, "seconds": self.window, "floor": self.floor}}


class CancelledError(TicketflowError):
    """The work was cancelled (ESC in the TUI, Ctrl+C on the command line, a job cancel).

    ``partial`` describes what was done before the stop ("45/120 objects").
    """

    exit_code = 130
    kind = "cancelled"
    error_code = "CANCELLED"

    def __init__(self, message: str = "cancelled", partial: str | None = None) -> None:
        super().__init__(f"{message} after {partial}" if partial else message)
        self.reason = message
        """What stopped the work, without " after <partial>" (to build the same cancel
        again with another class or partial)."""
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


class MergeConflictError(ConflictError):
    """A pull that cannot merge on its own; nothing in the repository was changed."""

    kind = "merge_conflict"
    error_code = "GIT_MERGE_FAILED"

    def __init__(
        self,
        conflicts: tuple[FieldConflict, ...] = (),
        files: tuple[str, ...] = (),
        tickets_dir: str = "tickets",
    ) -> None:
        lines = [f"  {c.ticket_id}: {c.field}" for c in conflicts]
        lines += [f"  {path}" for path in files]
        what = "tickets changed on both sides" if conflicts else f"files outside {tickets_dir}/"
        super().__init__(
            f"pull stopped: conflicting changes in {what}; nothing was changed:\n"
            + "\n".join(lines),
            hint="choose a side for ticket fields: ticketflow pull --strategy ours|theirs"
            if conflicts and not files
            else "merge with git (git pull), then run ticketflow again",
        )
        self.conflicts = conflicts
        self.files = files

    def details(self) -> dict[str, object]:
        return {
            "conflicts": [c.to_json() for c in self.conflicts],
            "files": list(self.files),
        }


class PushRejectedError(ConflictError):
    """The remote refused the push: it has commits we don't have (pull first), or a rule
    of its own (a hook, a protected branch) said no."""

    kind = "push_rejected"
    error_code = "GIT_PUSH_FAILED"


class TicketClaimedError(ConflictError):
    """A claim (``start --claim``, ``close --claim``) lost: on the remote, someone else had
    already started, closed, reopened or removed the ticket. The local change was undone."""

    kind = "ticket_claimed"
    error_code = "TICKET_CLAIMED"

    def __init__(
        self,
        ticket_id: str,
        action: str,
        by: str,
        when: str,
        ago: str,
        remote: str,
        commit: str | None = None,
    ) -> None:
        super().__init__(
            f"ticket {ticket_id} was already {action} by {by} {ago} on {remote}; "
            "nothing was changed here",
            hint="see their change with ticketflow pull, then pick another ticket "
            "(ticketflow list --status todo)",
            remedy="pick_another",
        )
        self.ticket_id = ticket_id
        self.action = action
        self.by = by
        self.when = when
        self.ago = ago
        self.remote = remote
        self.commit = commit

    def details(self) -> dict[str, object]:
        return {
            "ticket_id": self.ticket_id,
            "action": self.action,
            "by": self.by,
            "when": self.when,
            "remote": self.remote,
            "commit": self.commit,
        }
