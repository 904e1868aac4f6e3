"""A scan in a process of its own: ``ScanJob(store, isolated=True)``.

Why: parsing a hundred thousand files is CPU work in Python. In a thread of the TUI's process
it holds the GIL, and every time the event loop wakes it waits for the GIL behind the
parser: the interface stutters (tens of milliseconds per frame). In a child process the
TUI's process has nothing to compete with; the child also runs at a lower priority
(``NICENESS``), so on a busy machine the interface still gets the CPU first, and it may use
the index's process pool, which cannot be started from inside a running Textual app.

The protocol is one JSON object per line on the child's standard output:

- ``{"progress": [current, total, message]}``, at most every ``PROGRESS_INTERVAL`` seconds;
- then exactly one of ``{"result": <ScanResult.to_json()>}``,
  ``{"cancelled": <partial or null>}`` or ``{"error": {"type", "message", "hint"}}``.

SIGTERM or SIGINT cancels the scan between files or chunks (what was parsed stays in the
index, as with any cancelled scan); a closed standard output (the parent is gone) does too.
The parent side is ``run_isolated``.
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
import time
from pathlib import Path
from typing import IO, Any

from ticketflow.cancel import CancelToken, ProgressCallback
from ticketflow.errors import CancelledError, TicketflowError

NICENESS = 5
"""How much lower the child's scheduling priority is than the interface's."""
PROGRESS_INTERVAL = 0.05
POLL = 0.05
"""How often the parent looks at its cancel token while the child is quiet (seconds)."""
STOP_GRACE = 10.0
"""After a cancel, how long the child may take to stop before it is killed (seconds).
It stops within one chunk of files; the kill is for a child that hangs."""


# --- the child ------------------------------------------------------------------------------


def child_main(argv: list[str]) -> int:
    """``python -m ticketflow.scanproc ROOT``: scan ROOT's index, report on stdout."""
    from ticketflow.index import TicketIndex
    from ticketflow.store import TicketStore

    token = CancelToken()

    def on_signal(signum: int, _frame: object) -> None:
        token.cancel("cancelled")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
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
        store = TicketStore.open(Path(argv[0]))
        result = TicketIndex.open(store).scan(progress=progress, cancel=token)
    except CancelledError as exc:
        emit({"cancelled": exc.partial})
    except TicketflowError as exc:
        emit({"error": {"type": exc.kind, "message": exc.message, "hint": exc.hint}})
    else:
        emit({"result": result.to_json()})
    return 0


# --- the parent -----------------------------------------------------------------------------


def _command(root: Path) -> tuple[list[str], dict[str, str]]:
    """The child's command line, importing this very ticketflow (also from a source tree)."""
    import ticketflow

    package_parent = str(Path(ticketflow.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
    return [sys.executable, "-m", "ticketflow.scanproc", str(root)], env


def run_isolated(root: Path, progress: ProgressCallback, cancel: CancelToken) -> dict[str, Any]:
    """Run a scan of ``root`` in a child process; return its ``ScanResult.to_json()``.

    Progress is passed on as it arrives; a cancel of ``cancel`` stops the child (SIGTERM)
    and raises ``CancelledError`` with the child's partial count once it has stopped.
    """
    argv, env = _command(root)
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=env,
            close_fds=True,
        )
        assert proc.stdout is not None
        try:
            final = _follow(proc, proc.stdout, progress, cancel)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
        if final is None:
            errors.seek(0)
            tail = errors.read()[-2000:].decode("utf-8", "replace").strip()
            if cancel.cancelled:
                raise CancelledError(cancel.reason)
            raise TicketflowError(
                f"the scan process ended without a result (exit status {proc.returncode})"
                + (f": {tail.splitlines()[-1]}" if tail else ""),
                hint="run `ticketflow scan` in a terminal to see the whole error",
            )
    if "result" in final:
        return final["result"]  # type: ignore[no-any-return]
    if "cancelled" in final:
        raise CancelledError(cancel.reason, partial=final["cancelled"])
    error = final.get("error") or {}
    raise TicketflowError(str(error.get("message", "the scan failed")), error.get("hint"))


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
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
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
