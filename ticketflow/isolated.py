"""Work in a process of their own: the TUI's scans, pulls, pushes and ticket actions.

Why: the TUI's event loop shares the GIL with the job threads of its process. Parsing a
hundred thousand files is Python work that holds the GIL; most of pygit2's calls (a checkout,
a diff, reading the index, a commit: 0.1-0.5 s each on a 100,000-ticket repository) hold it
too. In a thread of the TUI's process they stall every frame for as long. In a child process
the TUI's process has nothing to compete with, and the child runs at a lower priority
(``NICENESS``), so on a busy machine the interface still gets the CPU first. (A process pool
also cannot be started from inside a running Textual app; the child may start one.) The
parent side is ``jobs.runners.ISOLATED``.

``python -m ticketflow.isolated KIND ROOT [OPTIONS-JSON]`` with a KIND of the
``jobs.work.KINDS`` table (``scan``, ``fetch``, ``pull``, ``push``, ``new``, ``start``, ``close``,
``reopen``) runs the same entry the in-process runner runs, and writes one JSON object per
line on its standard output:

- ``{"progress": [current, total, message]}``: the latest value, written as soon as the
  previous line is out (a value that comes while one is being written replaces the one
  waiting; nothing here is held back for time: the job queue's ``progress_interval`` is
  the one throttle on the way to the screen);
- then exactly one of ``{"result": <the result's to_json()>}``,
  ``{"cancelled": <partial or null>, "message": ...}`` or the error's
  ``to_dict(transport=True)`` (``{"error": {...}, "class": ..., ...}``, see ``errors``).

A line on its standard input (``cancel``) cancels the work; the end of its input or output
(the parent is gone), SIGTERM and SIGINT do too. It runs in a session of its own, so a
Ctrl+C typed in the terminal never reaches it. The parent side is ``run_isolated``, which
turns the last line back into a result or the same error (``TicketflowError.from_dict``:
an instance of the very class).

**A pull or push is abandoned at once while it is in its network phase** (see
``ticketflow.git.transfer``): the transfer runs against a scratch repository, so the child
writes its last line (``cancelled``), removes its scratch folder and ends itself
(``os._exit``) without waiting for libgit2, which may sit in a blocking read until
``timeouts.git``. In the local phase (publishing the fetched refs, the merge, the checkout)
the cancel is cooperative: the core stops at its next check, or finishes if it is past the
point where nothing has changed. A watchdog thread enforces the low-speed rule the same way:
a transfer that moved too few bytes in ``timeouts.git`` seconds ends with a transient
``TransferStalledError``, even when libgit2 calls back nothing (a silent or trickling server).

The parent never kills a pull or push child (it might be past the point of no return); it
removes whatever scratch folder the child left. A scan child that ignores a cancel for
``STOP_GRACE`` is killed (its writes are SQLite transactions).
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
from ticketflow.errors import CancelledError, TicketflowError
from ticketflow.git.transfer import SocketCounter, TransferWatch, remove_scratch
from ticketflow.redact import redact_text

NICENESS = 5
"""How much lower the child's scheduling priority is than the interface's."""
POLL = 0.02
"""How often the parent looks at its cancel token while the child is quiet (seconds); a
line from the child is read as soon as it comes, so this is no throttle on progress."""
STOP_GRACE = 10.0
"""After a cancel, how long a scan child may take to stop before it is killed (seconds).
It stops within one chunk of files; the kill is for a child that hangs. Transfer children
are never killed: they end themselves (module text)."""
WATCHDOG_INTERVAL = 0.1
"""How often the child's watchdog looks at the low-speed rule (seconds)."""
TRANSFERS = frozenset({"pull", "push"})
PROGRESS_LINE = b'{"progress": '
"""How every progress line the child writes begins (``json.dumps``' own spacing)."""


# --- the child ------------------------------------------------------------------------------


def _work(
    kind: str, root: Path, options: dict[str, Any], watch: TransferWatch
) -> Callable[..., Any]:
    """The core function behind ``kind``, taking ``progress`` and ``cancel``."""
    from ticketflow.jobs.work import kind_of
    from ticketflow.store import TicketStore

    store = TicketStore.open(root)
    return partial(kind_of(kind).call, store, options, watch=watch)


def child_main(argv: list[str]) -> int:
    """``python -m ticketflow.isolated KIND ROOT [OPTIONS-JSON]``: see the module's text."""
    token = CancelToken()
    watch = TransferWatch(sockets=SocketCounter())
    out = sys.stdout
    out_lock = threading.Lock()
    root = Path(argv[1]) if len(argv) > 1 else Path.cwd()

    def emit(message: dict[str, Any]) -> None:
        try:
            with out_lock:
                out.write(json.dumps(message, ensure_ascii=False) + "\n")
                out.flush()
        except (BrokenPipeError, ValueError, OSError):
            token.cancel("the parent process is gone")

    def end(final: dict[str, Any]) -> None:
        """The last line, then the end of the process, with the transfer abandoned inside
        libgit2 (called through ``watch.abandon``: the network phase is held)."""
        out_lock.acquire()  # nothing is written after the last line; never released
        with contextlib.suppress(OSError, ValueError):
            out.write(json.dumps(final, ensure_ascii=False) + "\n")
            out.flush()
        remove_scratch(root, os.getpid())  # best effort: the parent removes it again
        os._exit(0)

    def stop(reason: str) -> None:
        """A cancel: at once inside the network phase, cooperatively after it."""
        token.cancel(reason)
        watch.abandon(
            lambda: end({"cancelled": watch.partial(), "message": f"{watch.what} cancelled"})
        )

    def on_signal(signum: int, _frame: object) -> None:
        stop("cancelled")

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
        stop("cancelled" if line else "the parent process is gone")

    latest: list[Any] | None = None
    waiting = threading.Event()
    taking = threading.Lock()
    """Held from taking a value to having written it, so lines never go out of order."""

    def progress(current: int, total: int | None, message: str) -> None:
        """Park the value for the writer: the work never waits for the pipe (a parent
        reading slowly fills it), and a value parked while one is written replaces it."""
        nonlocal latest
        latest = [current, total, message]
        waiting.set()

    def send_latest() -> None:
        nonlocal latest
        with taking:
            value, latest = latest, None
            if value is not None:
                emit({"progress": value})

    def write_progress() -> None:
        while True:
            waiting.wait()
            waiting.clear()
            send_latest()

    def watchdog() -> None:
        """The low-speed rule, also when libgit2 calls back nothing; between libgit2's
        reports the kernel's socket counters tell whether bytes still flow."""
        while True:
            time.sleep(WATCHDOG_INTERVAL)
            watch.poll()
            stalled = watch.stall()
            if stalled is not None:
                final = stalled.to_dict(transport=True)
                watch.abandon(partial(end, final))

    threading.Thread(target=listen, daemon=True, name="cancel-listener").start()
    threading.Thread(target=write_progress, daemon=True, name="progress-writer").start()
    threading.Thread(target=watchdog, daemon=True, name="stall-watchdog").start()
    with contextlib.suppress(OSError, AttributeError):
        os.nice(NICENESS)

    try:
        kind = argv[0]
        options = json.loads(argv[2]) if len(argv) > 2 else {}
        result = _work(kind, root, options, watch)(progress=progress, cancel=token)
    except CancelledError as exc:
        send_latest()  # a value parked but not yet written goes before the last line
        emit(_cancelled_json(exc))
    except TicketflowError as exc:
        send_latest()
        if token.cancelled:  # e.g. a signal made libgit2's read fail: still a cancel
            emit({"cancelled": None, "message": token.reason})
        else:
            emit(exc.to_dict(transport=True))
    else:
        send_latest()
        emit({"result": result.to_json()})
    return 0


def _cancelled_json(exc: CancelledError) -> dict[str, Any]:
    """``{"cancelled": partial, "message": reason}``; the parent builds the same
    ``CancelledError`` again from them (which adds " after <partial>" itself)."""
    return {"cancelled": exc.partial, "message": exc.reason}


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
        grace = None if kind in TRANSFERS else STOP_GRACE
        try:
            final = _follow(proc, proc.stdout, progress, cancel, grace)
        finally:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):  # the end of its input: it stops itself
                    proc.stdin.close()
            if proc.poll() is None and grace is not None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
            if kind in TRANSFERS:
                remove_scratch(root, proc.pid)
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
        # the child's words when they say more than its own token's ("fetch cancelled");
        # else the reason this side was given ("interrupted", "stop now")
        said = final.get("message")
        message = said if said and said not in ("cancelled", "the parent process is gone") else None
        raise CancelledError(message or cancel.reason, partial=final["cancelled"])
    raise TicketflowError.from_dict(final)


def _follow(
    proc: subprocess.Popen[bytes],
    stdout: IO[bytes],
    progress: ProgressCallback,
    cancel: CancelToken,
    grace: float | None,
) -> dict[str, Any] | None:
    """Read the child's lines until it closes its output; the last non-progress one.
    After a cancel, a child still running ``grace`` seconds later is killed (None: never)."""
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
            if (
                grace is not None
                and stopped_at is not None
                and time.monotonic() - stopped_at > grace
            ):
                proc.kill()
                return None
            if not selector.select(POLL):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return final
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            newest = max(
                (n for n, line in enumerate(lines) if line.startswith(PROGRESS_LINE)), default=-1
            )
            for n, line in enumerate(lines):
                if n < newest and line.startswith(PROGRESS_LINE):
                    continue  # a later value in this read replaces it: no need to parse it
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
