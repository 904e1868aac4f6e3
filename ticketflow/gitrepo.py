"""Everything pygit2: ticket commits, and fetch / pull / push with progress and cancel.

Commits here touch only the paths ticketflow changed: the new tree is HEAD's tree plus those
paths, so whatever else the user has staged stays staged and is not swept into a ticket
commit. The same paths are updated in the real index so ``git status`` stays clean for them.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import pygit2
from pygit2.enums import CheckoutStrategy, FileMode

from ticketflow.cancel import NEVER_CANCELLED, CancelToken, ProgressCallback, no_progress
from ticketflow.config import Config, git_dir
from ticketflow.errors import (
    CancelledError,
    ConflictError,
    GitError,
    MalformedTicketError,
    MergeConflictError,
    NetworkError,
    PushRejectedError,
)
from ticketflow.fileformat import parse_ticket, render_ticket
from ticketflow.fsutil import locked
from ticketflow.gitresults import FetchResult, PullResult, PushResult, TicketChange
from ticketflow.merge import FieldConflict, Strategy, TextMerge, merge_tickets
from ticketflow.model import Ticket, is_ticket_id
from ticketflow.quarantine import quarantined
from ticketflow.redact import redact_text, redact_url
from ticketflow.safepaths import read_no_link
from ticketflow.transfer import TransferWatch


@dataclass(frozen=True)
class PathChange:
    """A path (relative, ``/``-separated) that now exists in the work tree, or was removed."""

    path: str
    removed: bool = False


def open_repo(root: Path) -> pygit2.Repository:
    try:
        return pygit2.Repository(str(root))
    except pygit2.GitError as exc:
        raise GitError(
            f"cannot open the git repository at {root}: {exc}",
            hint="run 'git status' there to see what git thinks",
        ) from None


def signature(repo: pygit2.Repository) -> pygit2.Signature:
    """Author/committer from GIT_AUTHOR_* / GIT_COMMITTER_* first, then git config."""
    name = os.environ.get("GIT_AUTHOR_NAME") or os.environ.get("GIT_COMMITTER_NAME")
    email = os.environ.get("GIT_AUTHOR_EMAIL") or os.environ.get("GIT_COMMITTER_EMAIL")
    if name and email:
        return pygit2.Signature(name, email)
    try:
        default = repo.default_signature
    except (KeyError, pygit2.GitError):
        raise GitError(
            "git does not know who you are (user.name and user.email are not set)",
            hint='run: git config --global user.name "Your Name" && '
            "git config --global user.email you@example.com",
        ) from None
    return pygit2.Signature(name or default.name, email or default.email)


def commit_paths(root: Path, changes: Iterable[PathChange], message: str) -> str | None:
    """Commit exactly ``changes`` on top of HEAD; return the new commit id, or None if the
    tree did not change. Works on an unborn branch (the first commit of a new repository).
    """
    changes = list(changes)
    repo = open_repo(root)
    try:
        index = repo.index
        index.read()
        for change in changes:
            if change.removed:
                if change.path in index:
                    index.remove(change.path)
            else:
                index.add(change.path)
        index.write()

        if repo.head_is_unborn:
            parents: list[pygit2.Oid] = []
            base = pygit2.Index()
            base_tree_id: pygit2.Oid | None = None
        else:
            head = repo.head.peel(pygit2.Commit)
            parents = [head.id]
            base = pygit2.Index()
            base.read_tree(head.tree)
            base_tree_id = head.tree.id
        for change in changes:
            if change.removed:
                if change.path in base:
                    base.remove(change.path)
            else:
                base.add(index[change.path])
        tree_id = base.write_tree(repo)
        if tree_id == base_tree_id:
            return None
        sig = signature(repo)
        oid = repo.create_commit("HEAD", sig, sig, message, tree_id, parents)
        return str(oid)
    except pygit2.GitError as exc:
        raise GitError(
            f"git commit failed: {exc}",
            hint="the ticket file was written; commit it by hand with git once git is fixed",
        ) from None


def current_branch(root: Path) -> str | None:
    repo = open_repo(root)
    if repo.head_is_detached:
        return None
    try:
        return repo.head.shorthand
    except pygit2.GitError:
        # unborn branch: HEAD names a branch that has no commit yet
        ref = repo.references.get("HEAD")
        target = ref.target if ref is not None else None
        return str(target).removeprefix("refs/heads/") if isinstance(target, str) else None


# --- remotes: fetch, pull, push -------------------------------------------------------------

_TRANSIENT = (
    "timed out",
    "timeout",
    "connection refused",
    "connection reset",
    "could not connect",
    "failed to connect",
    "early eof",
    "unexpected eof",
    "unexpected disconnect",
    "broken pipe",
    "network is unreachable",
    "no route to host",
    "temporary failure in name resolution",
    "failed to resolve address",
    "connection aborted",
    "the remote end hung up",
    "ssl_read",
    "ssl_write",
)
_AUTH = ("auth", "credential", "401", "403")
_MISSING = ("not found", "does not appear", "404")
_NON_FAST_FORWARD = ("non-fast-forward", "non-fastforward", "fetch first", "not present locally")

_Said = Literal["non_fast_forward", "transient", "auth", "missing", "other"]


def libgit2_says(text: str) -> _Said:
    """What libgit2's words (or a server's, relayed by libgit2) mean, where nothing else
    tells: **the one place in ticketflow that reads an error's message**.

    pygit2 gives a class for what libgit2 gives a code (``AuthError``, ``CertificateError``:
    ``classify_error`` uses those), and a push's rejection is decided from the refs
    (``_Callbacks.push_negotiation``). But libgit2 reports a refused connection, a timeout,
    a reset, a 404 and a 401 over HTTP all as one ``GIT_ERROR`` whose ``error_class``
    (``OS``, ``NET``, ``HTTP``, ``SSL``) does not tell a blip from a wrong URL, and a server
    says why it refused a ref only as text (``push_update_reference``'s status)."""
    lowered = text.lower()
    if any(marker in lowered for marker in _NON_FAST_FORWARD):
        return "non_fast_forward"
    if any(pattern in lowered for pattern in _TRANSIENT):
        return "transient"
    if any(marker in lowered for marker in _AUTH):
        return "auth"
    if any(marker in lowered for marker in _MISSING):
        return "missing"
    return "other"


_HINTS: dict[_Said, str] = {
    "auth": "check your ssh key/agent, or set TICKETFLOW_GIT_USERNAME and TICKETFLOW_GIT_TOKEN",
    "missing": "check the remote's URL: git remote -v",
    "other": "run the same operation with git to see more",
}


def classify_error(exc: Exception, action: str) -> GitError:
    """A transient ``NetworkError`` (worth retrying) or a permanent ``GitError``.

    pygit2's ``AuthError`` is an authentication failure whatever its words; every other
    failure of a transfer is a plain ``GitError`` to pygit2, read by ``libgit2_says``."""
    message = redact_text(str(exc)).strip() or type(exc).__name__
    said: _Said = "auth" if isinstance(exc, pygit2.AuthError) else libgit2_says(message)
    if said == "transient":
        return NetworkError(
            f"{action} failed: {message}",
            hint="the remote did not answer; check the network or try again later",
        )
    return GitError(f"{action} failed: {message}", hint=_HINTS.get(said, _HINTS["other"]))


def apply_timeouts(seconds: int) -> None:
    """Bound a silent server: libgit2's connect and read timeouts (process-wide settings)."""
    millis = max(1, int(seconds * 1000))
    pygit2.settings.server_connect_timeout = millis
    pygit2.settings.server_timeout = millis


class _Callbacks(pygit2.RemoteCallbacks):
    """Progress, cancellation and the low-speed rule for one transfer.

    Every callback checks the token, then the rule (``TransferWatch.check``): raising there
    makes libgit2 abort the transfer (GIT_EUSER) and pygit2 re-raise the exception once
    libgit2 has unwound. The bytes libgit2 reports are counted on ``watch``.
    """

    def __init__(
        self,
        url: str,
        progress: ProgressCallback,
        cancel: CancelToken,
        watch: TransferWatch | None = None,
    ) -> None:
        super().__init__()
        self.url = url
        self.progress = progress
        self.cancel = cancel
        self.watch = watch or TransferWatch()
        self.received = 0
        self.total: int | None = None
        self.received_bytes = 0
        self.rejected: list[tuple[str, str]] = []
        self.fast_forward_in: pygit2.Repository | None = None
        """Set for a push: the repository whose objects say whether each ref update is a
        fast-forward (``push_negotiation``)."""
        self.updated: list[str] = []
        self._credential_attempts = 0

    def cancelled(self, what: str) -> CancelledError:
        """The error a cancelled transfer ends with, saying how far it got."""
        done = f"{self.received}/{self.total}" if self.total else "0"
        return CancelledError(f"{what} cancelled", partial=f"{done} objects")

    def _report(self, phase: str, current: int, total: int | None, message: str) -> None:
        """Every value goes on: the listeners coalesce (the job queue keeps the latest per
        job, the isolated child sends a held-back one later). Dropping one here would strand
        it when no callback follows (a burst of objects, then a stalled server)."""
        self.progress(current, total, message)

    def _checks(self) -> None:
        self.cancel.raise_if_cancelled()
        self.watch.check()

    def transfer_progress(self, stats: pygit2.remotes.TransferProgress) -> None:
        self.received = stats.received_objects
        self.total = stats.total_objects
        self.received_bytes = stats.received_bytes
        watch = self.watch
        watch.objects(stats.received_objects, stats.total_objects or None)
        watch.count("received", stats.received_bytes)
        if stats.total_objects and stats.received_objects >= stats.total_objects:
            watch.working()  # every object is in: libgit2 resolves deltas, no network
        self._checks()
        if stats.total_objects and stats.received_objects < stats.total_objects:
            self._report(
                "receiving",
                stats.received_objects,
                stats.total_objects,
                f"receiving objects {stats.received_objects}/{stats.total_objects} "
                f"({_human_bytes(stats.received_bytes)})",
            )
        elif stats.total_deltas:
            self._report(
                "deltas",
                stats.indexed_deltas,
                stats.total_deltas,
                f"resolving deltas {stats.indexed_deltas}/{stats.total_deltas}",
            )
        else:
            self._report(
                "receiving",
                stats.received_objects,
                stats.total_objects or None,
                f"received {stats.received_objects} objects",
            )

    def sideband_progress(self, string: str) -> None:
        self.watch.add("sideband", len(string))
        self._checks()
        text = " ".join(string.replace("\r", "\n").split("\n")[-2:]).strip()
        if text:
            self._report("remote", 0, None, f"remote: {redact_text(text)}")

    def push_transfer_progress(
        self, objects_pushed: int, total_objects: int, bytes_pushed: int
    ) -> None:
        self.received, self.total = objects_pushed, total_objects
        self.watch.objects(objects_pushed, total_objects or None)
        self.watch.count("pushed", bytes_pushed)
        self._checks()
        self._report(
            "pushing",
            objects_pushed,
            total_objects or None,
            f"writing objects {objects_pushed}/{total_objects} ({_human_bytes(bytes_pushed)})",
        )

    def push_negotiation(self, updates: list[pygit2.remotes.PushUpdate]) -> None:
        """Refuse, before anything is sent, an update of a remote ref that is not a
        fast-forward: the remote's commit (``src``, libgit2's name for the ref's current
        target) is one we do not have, or one that ours (``dst``) does not descend from.
        Raising here aborts the push (GIT_EUSER) with this error."""
        repo = self.fast_forward_in
        if repo is None:
            return
        for update in updates:
            theirs, ours = update.src, update.dst
            if theirs.raw == bytes(len(theirs.raw)) or theirs == ours:
                continue  # a new ref on the remote, or no change
            if theirs not in repo or not repo.descendant_of(ours, theirs):
                raise PushRejectedError(NOT_FAST_FORWARD, hint=REJECTED_HINT)

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.rejected.append((refname, message))

    def update_tips(self, refname: str, old: pygit2.Oid, new: pygit2.Oid) -> None:
        self.updated.append(refname)

    def credentials(
        self,
        url: str,
        username_from_url: str | None,
        allowed_types: pygit2.enums.CredentialType,
    ) -> pygit2.credentials.Username | pygit2.credentials.UserPass | pygit2.credentials.Keypair:
        self.cancel.raise_if_cancelled()
        self._credential_attempts += 1
        return credentials_for(url, username_from_url, allowed_types, self._credential_attempts)


def _human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} B"  # pragma: no cover


def _ssh_key_files() -> list[tuple[Path, Path]]:
    ssh = Path.home() / ".ssh"
    pairs = []
    for name in ("id_ed25519", "id_ecdsa", "id_rsa"):
        private = ssh / name
        public = ssh / f"{name}.pub"
        if private.is_file() and public.is_file():
            pairs.append((public, private))
    return pairs


def git_credential_fill(url: str) -> tuple[str, str] | None:
    """Ask git's configured credential helper for ``url`` (``git credential fill``)."""
    parsed = urlsplit(url)
    request = f"protocol={parsed.scheme}\nhost={parsed.hostname or ''}"
    if parsed.port:
        request += f":{parsed.port}"
    request += f"\npath={parsed.path.lstrip('/')}\n\n"
    try:
        proc = subprocess.run(
            ["git", "credential", "fill"],
            input=request,
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    if "username" in values and "password" in values:
        return values["username"], values["password"]
    return None


def credentials_for(
    url: str,
    username_from_url: str | None,
    allowed: pygit2.enums.CredentialType,
    attempt: int,
) -> pygit2.credentials.Username | pygit2.credentials.UserPass | pygit2.credentials.Keypair:
    """Credentials for ``url``: libgit2 asks again after each rejection, so ``attempt``
    walks through the sources (ssh agent, then key files; environment, then git's
    credential helper) and stops with a permanent error when they are used up."""
    from pygit2.enums import CredentialType

    if allowed & CredentialType.SSH_KEY:
        user = username_from_url or "git"
        sources: list[pygit2.credentials.Keypair] = []
        if os.environ.get("SSH_AUTH_SOCK"):
            sources.append(pygit2.KeypairFromAgent(user))
        passphrase = os.environ.get("TICKETFLOW_SSH_PASSPHRASE", "")
        sources += [
            pygit2.Keypair(user, str(pub), str(priv), passphrase) for pub, priv in _ssh_key_files()
        ]
        if attempt <= len(sources):
            return sources[attempt - 1]
        raise GitError(
            f"ssh authentication to {redact_url(url)} failed",
            hint="load your key into ssh-agent (ssh-add) or put it in ~/.ssh/id_ed25519",
        )
    if allowed & CredentialType.USERPASS_PLAINTEXT:
        env_user = os.environ.get("TICKETFLOW_GIT_USERNAME") or username_from_url
        env_token = os.environ.get("TICKETFLOW_GIT_TOKEN")
        candidates: list[tuple[str, str]] = []
        if env_user and env_token:
            candidates.append((env_user, env_token))
        if attempt > len(candidates) and attempt == len(candidates) + 1:
            filled = git_credential_fill(url)
            if filled is not None:
                return pygit2.UserPass(*filled)
        elif attempt <= len(candidates):
            return pygit2.UserPass(*candidates[attempt - 1])
        raise GitError(
            f"authentication to {redact_url(url)} failed",
            hint="set TICKETFLOW_GIT_USERNAME and TICKETFLOW_GIT_TOKEN, or configure a git "
            "credential helper",
        )
    if allowed & CredentialType.USERNAME:
        return pygit2.Username(username_from_url or "git")
    raise GitError(f"{redact_url(url)} asks for an authentication ticketflow cannot provide")


def _remote(repo: pygit2.Repository, name: str | None) -> pygit2.Remote:
    if name is None:
        name = _upstream(repo)[0] if _branch_name(repo) else "origin"
    try:
        return repo.remotes[name]
    except (KeyError, ValueError):
        known = ", ".join(r.name or "" for r in repo.remotes) or "none"
        raise GitError(
            f"no remote named {redact_text(repr(name))} (remotes: {known})",
            hint="add one: git remote add origin <url>",
        ) from None


def fetch(
    root: Path,
    *,
    remote_name: str | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
    timeout: int = 30,
    low_speed_bytes: int = 1000,
    watch: TransferWatch | None = None,
) -> FetchResult:
    """Fetch from the remote, reporting progress; a cancel aborts the transfer for real.

    The transfer runs against a scratch repository (``ticketflow.quarantine``) inside
    ``watch``'s network phase; only then are its objects and refs published here. Fewer
    than ``low_speed_bytes`` bytes in ``timeout`` seconds fail it as ``TransferStalledError``.
    """
    repo = open_repo(root)
    remote = _remote(repo, remote_name)
    name = remote.name or ""
    url = redact_url(remote.url or "")
    apply_timeouts(timeout)
    cancel.raise_if_cancelled()
    watch = watch or TransferWatch()
    callbacks = _Callbacks(url, progress, cancel, watch)
    progress(0, None, f"connecting to {url}")
    with quarantined(repo) as scratch:
        try:
            with watch.network("fetch", f"fetch from {url}", low_speed_bytes, timeout):
                stats = scratch.remote(name).fetch(
                    callbacks=callbacks, message=f"ticketflow: fetch {name}"
                )
        except CancelledError:
            raise callbacks.cancelled("fetch") from None
        except GitError:
            raise
        except (pygit2.GitError, OSError) as exc:
            raise classify_error(exc, f"fetch from {url}") from None
        scratch.publish(f"ticketflow: fetch {name}")
    progress(stats.received_objects, stats.total_objects or None, "fetched")
    return FetchResult(
        remote=name,
        url=url,
        received_objects=stats.received_objects,
        total_objects=stats.total_objects,
        received_bytes=stats.received_bytes,
        updated_refs=tuple(callbacks.updated),
    )


def _branch_name(repo: pygit2.Repository) -> str | None:
    if repo.head_is_detached:
        return None
    ref = repo.references.get("HEAD")
    target = ref.target if ref is not None else None
    if isinstance(target, str) and target.startswith("refs/heads/"):
        return target.removeprefix("refs/heads/")
    return None


def _upstream(repo: pygit2.Repository, default_branch: str = "main") -> tuple[str, str]:
    """(remote name, remote branch) for the current branch: its configured upstream, else
    the branch of the same name on ``origin`` (so the default branch maps to
    ``origin/<git.default_branch>`` and a ticket branch never lands on main)."""
    branch = _branch_name(repo)
    if branch is None:
        return "origin", default_branch
    config = repo.config
    remote_key = f"branch.{branch}.remote"
    merge_key = f"branch.{branch}.merge"
    if remote_key in config and merge_key in config:
        return str(config[remote_key]), str(config[merge_key]).removeprefix("refs/heads/")
    return "origin", branch


_TicketEntry = tuple[str, pygit2.Oid]


class _TicketPaths:
    """Which repository paths are ticket files, by the configuration's folders."""

    def __init__(self, config: Config) -> None:
        self.dirs = {
            f"{config.tickets_dir}/{folder}".strip("/"): status
            for status, folder in config.status_dirs().items()
        }
        self.prefix = config.tickets_dir.strip("/") + "/"

    def ticket_id(self, path: str) -> str | None:
        folder, _, name = path.rpartition("/")
        if folder in self.dirs and name.endswith(".md") and is_ticket_id(name[:-3]):
            return name[:-3]
        return None

    def entries(self, repo: pygit2.Repository, tree: pygit2.Tree | None) -> dict[str, _TicketEntry]:
        out: dict[str, _TicketEntry] = {}
        if tree is None:
            return out
        for folder in self.dirs:
            try:
                sub = tree[folder]
            except KeyError:
                continue
            if not isinstance(sub, pygit2.Tree):
                continue
            for entry in sub:
                path = f"{folder}/{entry.name}"
                tid = self.ticket_id(path)
                if tid is not None and entry.type_str == "blob":
                    out[tid] = (path, entry.id)
        return out


def text_merge_for(root: Path) -> TextMerge:
    """libgit2's three-way text merge (what ``git merge-file`` does), for ticket bodies."""
    return _text_merge(open_repo(root))


def _text_merge(repo: pygit2.Repository) -> TextMerge:
    def merge(base: str, ours: str, theirs: str) -> tuple[str, bool]:
        entries = [
            pygit2.IndexEntry("body.md", repo.create_blob(text.encode("utf-8")), FileMode.BLOB)
            for text in (base, ours, theirs)
        ]
        result = repo.merge_file_from_index(entries[0], entries[1], entries[2])
        assert not isinstance(result, str)
        return result.contents, result.automergeable

    return merge


def _read_ticket(repo: pygit2.Repository, entry: _TicketEntry, tid: str) -> Ticket:
    blob = repo[entry[1]]
    assert isinstance(blob, pygit2.Blob)
    try:
        return parse_ticket(blob.data.decode("utf-8"), path=entry[0], ticket_id=tid)
    except UnicodeDecodeError:
        raise MalformedTicketError(
            entry[0], None, "not valid UTF-8 text", code="not-utf8"
        ) from None


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
    """What the pull brought, ticket by ticket (``gitchanges``)."""
    from ticketflow.gitchanges import ticket_changes

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


NOT_FAST_FORWARD = "the remote has commits you don't have: run ticketflow pull"
REJECTED_HINT = "run ticketflow pull, then push again"


def push(
    root: Path,
    config: Config,
    *,
    remote_name: str | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
    watch: TransferWatch | None = None,
) -> PushResult:
    """Push the current branch to its upstream (default ``origin/<git.default_branch>``).

    Like a fetch, the push runs from a scratch repository, so the only local change, the
    remote-tracking ref, is published after the network phase."""
    repo = open_repo(root)
    branch = _branch_name(repo)
    if branch is None or repo.head_is_unborn:
        raise GitError("nothing to push: no commit on a branch", hint="commit something first")
    remote, dest = _upstream(repo, config.default_branch)
    if remote_name is not None:
        remote = remote_name
    target = _remote(repo, remote)
    url = redact_url(target.push_url or target.url or "")
    apply_timeouts(config.git_timeout)
    cancel.raise_if_cancelled()
    watch = watch or TransferWatch()
    callbacks = _Callbacks(url, progress, cancel, watch)
    local = repo.references[f"refs/heads/{branch}"].target
    progress(0, None, f"pushing {branch} to {remote}/{dest}")
    with quarantined(repo) as scratch:
        callbacks.fast_forward_in = scratch.scratch
        try:
            with watch.network(
                "push", f"push to {url}", config.git_low_speed_bytes, config.git_timeout
            ):
                scratch.remote(remote).push(
                    [f"refs/heads/{branch}:refs/heads/{dest}"], callbacks=callbacks
                )
        except CancelledError:
            raise callbacks.cancelled("push") from None
        except GitError:
            raise
        except (pygit2.GitError, OSError) as exc:
            if libgit2_says(str(exc)) == "non_fast_forward":  # libgit2's own check
                raise PushRejectedError(NOT_FAST_FORWARD, hint=REJECTED_HINT) from None
            raise classify_error(exc, f"push to {url}") from None
        if callbacks.rejected:  # the server said no to a ref, in its words
            reason = "; ".join(f"{ref}: {msg}" for ref, msg in callbacks.rejected)
            if libgit2_says(reason) == "non_fast_forward":
                raise PushRejectedError(NOT_FAST_FORWARD, hint=REJECTED_HINT)
            raise PushRejectedError(f"the remote rejected the push: {redact_text(reason)}")
        scratch.publish(f"ticketflow: push to {remote}")
    progress(1, 1, f"pushed {branch} to {remote}/{dest}")
    return PushResult(remote, url, dest, str(local), callbacks.total or 0)


def clone(
    url: str,
    dest: Path,
    *,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
    timeout: int = 30,
    low_speed_bytes: int = 1000,
) -> Path:
    """Clone ``url`` into ``dest`` (which must not exist); a cancel, an error or a stall
    (``low_speed_bytes`` in ``timeout`` seconds, checked at libgit2's callbacks) removes
    what was made."""
    import shutil

    if dest.exists():
        raise GitError(f"{dest} already exists", hint="choose a new folder to clone into")
    shown = redact_url(url)
    apply_timeouts(timeout)
    watch = TransferWatch()
    callbacks = _Callbacks(shown, progress, cancel, watch)
    progress(0, None, f"cloning {shown}")
    try:
        with watch.network("clone", f"clone of {shown}", low_speed_bytes, timeout):
            pygit2.clone_repository(url, str(dest), callbacks=callbacks)
    except CancelledError:
        shutil.rmtree(dest, ignore_errors=True)
        raise callbacks.cancelled("clone") from None
    except GitError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    except (pygit2.GitError, OSError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise classify_error(exc, f"clone of {shown}") from None
    return dest
