"""The network side of git: fetch, push and clone with progress, cancel and the low-speed
rule (libgit2's callbacks), and what a failed transfer means (``classify_error``).

Every transfer runs against a scratch repository (``ticketflow.git.quarantine``) inside a
``TransferWatch``'s network phase (``ticketflow.git.transfer``); only then is what it made
published into the real repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pygit2

from ticketflow.cancel import NEVER_CANCELLED, CancelToken, ProgressCallback, no_progress
from ticketflow.config import Config
from ticketflow.errors import (
    CancelledError,
    GitError,
    NetworkError,
    PushRejectedError,
)
from ticketflow.git.credentials import credentials_for
from ticketflow.git.local import branch_name, open_repo, upstream
from ticketflow.git.quarantine import quarantined
from ticketflow.git.results import FetchResult, PushResult
from ticketflow.git.transfer import TransferWatch
from ticketflow.redact import redact_text, redact_url

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
        """Every value goes on: the listeners coalesce (the isolated child writes only the
        latest, the job queue publishes the latest per job at most every progress_interval).
        Dropping one here would strand it when no callback follows (a burst of objects, then a
        stalled server)."""
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


def _remote(repo: pygit2.Repository, name: str | None) -> pygit2.Remote:
    if name is None:
        name = upstream(repo)[0] if branch_name(repo) else "origin"
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
    repo: pygit2.Repository | None = None,
) -> FetchResult:
    """Fetch from the remote, reporting progress; a cancel aborts the transfer for real.

    The transfer runs against a scratch repository (``ticketflow.git.quarantine``) inside
    ``watch``'s network phase; only then are its objects and refs published here. Fewer
    than ``low_speed_bytes`` bytes in ``timeout`` seconds fail it as ``TransferStalledError``.
    ``repo``: ``root``'s repository, already open (a pull's, which goes on using it).
    """
    repo = open_repo(root) if repo is None else repo
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


NOT_FAST_FORWARD = "the remote has commits you don't have: run ticketflow pull"


REJECTED_HINT = "run ticketflow pull, then push again"


def fetch_upstream(
    root: Path,
    repo: pygit2.Repository,
    config: Config,
    *,
    remote_name: str | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
    watch: TransferWatch | None = None,
) -> tuple[str, str, FetchResult]:
    """``(remote, remote branch, fetch result)``: fetch from the current branch's upstream
    (else ``origin/<branch>``; detached: ``origin/<git.default_branch>``; ``remote_name``
    overrides the remote) with the configuration's limits. What a pull and ``ticketflow
    fetch`` both start with."""
    remote, remote_branch = upstream(repo, config.default_branch)
    if remote_name is not None:
        remote = remote_name
    fetched = fetch(
        root,
        repo=repo,
        remote_name=remote,
        progress=progress,
        cancel=cancel,
        timeout=config.git_timeout,
        low_speed_bytes=config.git_low_speed_bytes,
        watch=watch,
    )
    cancel.raise_if_cancelled()
    return remote, remote_branch, fetched


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
    branch = branch_name(repo)
    if branch is None or repo.head_is_unborn:
        raise GitError("nothing to push: no commit on a branch", hint="commit something first")
    remote, dest = upstream(repo, config.default_branch)
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
