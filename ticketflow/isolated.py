"""Jobs in a process of their own: the TUI's scans, pulls and pushes.

Why: the TUI's event loop shares the GIL with the job threads of its process. Parsing a
hundred thousand files is Python work that holds the GIL; most of pygit2's calls (a checkout,
a diff, reading the index: 0.1-0.5 s each on a 100,000-ticket repository) hold it too. In a
thread of the TUI's process they stall every frame for as long. In a child process the
TUI's process has nothing to compete with, and the child runs at a lower priority
(``NICENESS``), so on a busy machine the interface still gets the CPU first. (A process pool
also cannot be started from inside a running Textual app; the child may start one.)

``python -m ticketflow.isolated KIND ROOT [OPTIONS-JSON]`` with KIND ``scan``, ``pull`` or
``push`` runs the same core function the in-process job runs, and writes one JSON object per
line on its standard output:

- ``{"progress": [current, total, message]}``, at most every ``PROGRESS_INTERVAL`` seconds;
- then exactly one of ``{"result": <the result's to_json()>}``,
  ``{"cancelled": <partial or null>}`` or ``{"error": {kind, message, hint, exit_code,
  transient}}``.

A line on its standard input (``cancel``) cancels the work through its ``CancelToken``,
exactly as a cancel of the in-process job does (a transfer stops at libgit2's next callback;
a scan keeps what it parsed); the end of its input or output (the parent is gone), SIGTERM
and SIGINT do too. It runs in a session of its own, so a Ctrl+C typed in the terminal never
reaches it. The parent side is
``run_isolated``, which turns the last line back into a result or the same error.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import IO, Any

from ticketflow.cancel import CancelToken, ProgressCallback
from ticketflow.errors import (
    CancelledError,
    ConfigError,
    ConflictError,
    EditorError,
    GitError,
    InvalidTransitionError,
    LockBusyError,
    NetworkError,
    NotARepoError,
    TicketflowError,
    UsageError,
)
from ticketflow.redact import redact_text

NICENESS = 5
"""How much lower the child's scheduling priority is than the interface's."""
PROGRESS_INTERVAL = 0.05
POLL = 0.02
"""How often the parent looks at its cancel token while the child is quiet (seconds)."""
STOP_GRACE = 10.0
"""After a cancel, how long the child may take to stop before it is killed (seconds).
It stops within one chunk of files; the kill is for a child that hangs."""


# --- the child ------------------------------------------------------------------------------


def _work(kind: str, root: Path, options: dict[str, Any]) -> Callable[..., Any]:
    """The core function behind ``kind``, taking ``progress`` and ``cancel``."""
    from ticketflow.store import TicketStore

    store = TicketStore.open(root)
    if kind == "scan":
        from ticketflow.index import TicketIndex

        return TicketIndex.open(store).scan
    from ticketflow import gitrepo

    if kind == "pull":
        return partial(
            gitrepo.pull,
            store.root,
            store.config,
            remote_name=options.get("remote"),
            strategy=options.get("strategy"),
        )
    if kind == "push":
        return partial(gitrepo.push, store.root, store.config, remote_name=options.get("remote"))
    raise UsageError(f"unknown isolated job kind: {kind}")


def child_main(argv: list[str]) -> int:
    """``python -m ticketflow.isolated KIND ROOT [OPTIONS-JSON]``: see the module's text."""
    token = CancelToken()

    def on_signal(signum: int, _frame: object) -> None:
        token.cancel("cancelled")

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)

    def listen() -> None:
        """The parent cancels by writing a line (not by a signal: a signal interrupts
        libgit2's poll() on the socket, which then fails the transfer as a network error);
        the end of the input means the parent is gone."""
        try:  # the raw descriptor: a buffered reader's lock would stall the exit by 1 s
            line = os.read(0, 64)
        except OSError:
            line = b""
        token.cancel("cancelled" if line else "the parent process is gone")

    threading.Thread(target=listen, daemon=True, name="cancel-listener").start()
    with contextlib.suppress(OSError, AttributeError):
        os.nice(NICENESS)
    out = sys.stdout

    def emit(message: dict[str, Any]) -> None:
        try:
            out.write(json.dumps(message, ensure_ascii=False) + "\n")
            out.flush()
        except (BrokenPipeError, ValueError, OSError):
            token.cancel("the parent process is gone")

    last = 0.0

    def progress(current: int, total: int | None, message: str) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PROGRESS_INTERVAL or (total is not None and current >= total):
            last = now
            emit({"progress": [current, total, message]})

    try:
        kind, root = argv[0], Path(argv[1])
        options = json.loads(argv[2]) if len(argv) > 2 else {}
        result = _work(kind, root, options)(progress=progress, cancel=token)
    except CancelledError as exc:
        emit({"cancelled": exc.partial})
    except TicketflowError as exc:
        emit({"error": _error_json(exc)})
    else:
        emit({"result": result.to_json()})
    return 0


def _error_json(exc: TicketflowError) -> dict[str, Any]:
    return {
        "kind": exc.kind,
        "message": exc.message,
        "hint": exc.hint,
        "exit_code": exc.exit_code,
        "transient": exc.transient,
        "details": exc.details(),
        "kinds": [k for k in (getattr(c, "kind", None) for c in type(exc).__mro__) if k],
    }


_PLAIN_ERRORS: dict[str, type[TicketflowError]] = {
    cls.kind: cls
    for cls in (
        *(UsageError, ConflictError, NotARepoError, ConfigError, InvalidTransitionError),
        *(LockBusyError, GitError, NetworkError, EditorError),
    )
}


def error_from_json(data: dict[str, Any]) -> TicketflowError:
    """The error the child reported: an instance of the same class where its constructor
    allows (so the queue retries a transient network error, ``isinstance`` checks hold and
    the CLI exits with the same code), with the same message, hint and details."""
    message = str(data.get("message", "the job failed"))
    hint = data.get("hint")
    details = data.get("details") or {}
    kinds = data.get("kinds") or [data.get("kind")]
    # the nearest class (the error's own, else an ancestor such as ConflictError for a
    # MergeConflictError) whose constructor is (message, hint)
    base = next((_PLAIN_ERRORS[k] for k in kinds if k in _PLAIN_ERRORS), TicketflowError)
    attributes: dict[str, Any] = {
        "details": lambda self: dict(details),
        "kind": str(data.get("kind", base.kind)),
        "exit_code": int(data.get("exit_code", base.exit_code)),
        "transient": bool(data.get("transient", base.transient)),
    }
    cls = type(base.__name__, (base,), attributes)
    error: TicketflowError = cls(message, hint)
    return error


def _command(kind: str, root: Path, options: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """The child's command line, importing this very ticketflow (also from a source tree)."""
    import ticketflow

    package_parent = str(Path(ticketflow.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
    argv = [sys.executable, "-m", "ticketflow.isolated", kind, str(root), json.dumps(options)]
    return argv, env


def run_isolated(
    kind: str,
    root: Path,
    progress: ProgressCallback,
    cancel: CancelToken,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run job ``kind`` (scan, pull, push) on ``root`` in a child process; return its
    result's ``to_json()``.

    Progress is passed on as it arrives; a cancel of ``cancel`` stops the child (a line on
    its input) and raises ``CancelledError`` with the child's partial result once it has
    stopped; an error in the child is raised here as the same kind of ``TicketflowError``.
    """
    argv, env = _command(kind, root, options or {})
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=env,
            close_fds=True,
            start_new_session=True,  # Ctrl+C in a terminal (an editor, say) is not for it
        )
        assert proc.stdout is not None
        try:
            final = _follow(proc, proc.stdout, progress, cancel)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
        if final is None:
            errors.seek(0)
            tail = redact_text(errors.read()[-2000:].decode("utf-8", "replace").strip())
            if cancel.cancelled:
                raise CancelledError(cancel.reason)
            raise TicketflowError(
                f"the {kind} process ended without a result (exit status {proc.returncode})"
                + (f": {tail.splitlines()[-1]}" if tail else ""),
                hint=f"run `ticketflow {kind}` in a terminal to see the whole error",
            )
    if "result" in final:
        return final["result"]  # type: ignore[no-any-return]
    if "cancelled" in final:
        raise CancelledError(cancel.reason, partial=final["cancelled"])
    raise error_from_json(final.get("error") or {})


def _follow(
    proc: subprocess.Popen[bytes],
    stdout: IO[bytes],
    progress: ProgressCallback,
    cancel: CancelToken,
) -> dict[str, Any] | None:
    """Read the child's lines until it closes its output; the last non-progress one."""
    fd = stdout.fileno()
    buffer = b""
    final: dict[str, Any] | None = None
    stopped_at: float | None = None
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            if cancel.cancelled and stopped_at is None:
                stopped_at = time.monotonic()
                if proc.stdin is not None:
                    with contextlib.suppress(OSError):  # it may have ended already
                        proc.stdin.write(b"cancel\n")
                        proc.stdin.flush()
            if stopped_at is not None and time.monotonic() - stopped_at > STOP_GRACE:
                proc.kill()
                return None
            if not selector.select(POLL):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return final
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                try:
                    message = json.loads(line)
                except ValueError:
                    continue  # not ours (a stray print): ignore it
                if not isinstance(message, dict):
                    continue
                if "progress" in message:
                    current, total, text = message["progress"]
                    progress(int(current), None if total is None else int(total), str(text))
                else:
                    final = message


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
