"""The job history: one SQLite file under ``.git/ticketflow/``, kept across restarts.

SQLite because several ticketflow processes (a TUI and a CLI in another terminal) may add to
the history at once, and it gives atomic appends, an id sequence shared by those processes
and cheap pruning without a lock file of our own. It lives in the git dir so it is never
committed. The history is a convenience, never a reason to fail: a corrupt file is moved
aside (``jobs.sqlite.corrupt``) and rebuilt empty, and other database errors are logged and
kept in ``problems`` while the jobs themselves go on.

The file is only touched from worker threads (the queue batches entries and writes them
with one transaction per batch), so the event loop never waits for the disk.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from ticketflow.config import git_dir
from ticketflow.redact import redact_data, redact_text

log = logging.getLogger("ticketflow.jobs")

SCHEMA_VERSION = 1
HISTORY_FILE = "jobs.sqlite"
_CORRUPT_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    arguments TEXT NOT NULL,
    status TEXT NOT NULL,
    priority INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    submitted_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL NOT NULL,
    result TEXT,
    error TEXT
)
"""
_INSERT = (
    "INSERT INTO jobs (job_id, kind, arguments, status, priority, attempts, submitted_at, "
    "started_at, ended_at, result, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SELECT = (
    "SELECT id, job_id, kind, arguments, status, priority, attempts, submitted_at, "
    "started_at, ended_at, result, error FROM jobs ORDER BY id DESC LIMIT ?"
)


def history_path(root: Path) -> Path:
    """Where a repository's job history lives: inside the git dir, never committed."""
    return git_dir(root) / "ticketflow" / HISTORY_FILE


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One finished job as remembered. ``id`` is the history's own number (unique across
    processes and restarts); ``job_id`` is the number the job had in its queue."""

    job_id: int
    kind: str
    arguments: Mapping[str, object]
    status: str
    priority: int
    attempts: int
    submitted_at: float
    started_at: float | None
    ended_at: float
    result: str | None = None
    error: Mapping[str, object] | None = None
    id: int | None = None

    @property
    def duration(self) -> float | None:
        """Seconds the work ran (None for a job that never started)."""
        return None if self.started_at is None else max(0.0, self.ended_at - self.started_at)

    def to_dict(self) -> dict[str, object]:
        """The JSON shape ``ticketflow jobs --format json`` prints."""
        return {
            "id": self.id,
            "job_id": self.job_id,
            "kind": self.kind,
            "arguments": dict(self.arguments),
            "status": self.status,
            "priority": self.priority,
            "attempts": self.attempts,
            "submitted_at": _iso(self.submitted_at),
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
            "duration": None if self.duration is None else round(self.duration, 3),
            "result": self.result,
            "error": dict(self.error) if self.error is not None else None,
        }


def _dumps(value: object) -> str:
    return json.dumps(value, default=str, sort_keys=True, ensure_ascii=False)


def _loads_mapping(text: str | None) -> dict[str, object] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return {"unreadable": text}
    return value if isinstance(value, dict) else {"value": value}


def _is_corrupt(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _CORRUPT_CODES
    return type(exc) is sqlite3.DatabaseError


class JobHistory:
    """The history file of one repository; every method blocks, so call it from a thread.

    ``max_entries`` bounds the file: each append drops the oldest rows beyond it.
    """

    def __init__(self, path: Path, *, max_entries: int = 1000, busy_timeout: float = 5.0) -> None:
        self.path = path
        self.max_entries = max_entries
        self.busy_timeout = busy_timeout
        """Seconds to wait for another process's write before giving up on this one."""
        self.problems: list[str] = []
        """Database errors met and survived (also logged), newest last."""
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_repo(cls, root: Path, *, max_entries: int = 1000) -> JobHistory:
        return cls(history_path(root), max_entries=max_entries)

    # --- the connection ---------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, check_same_thread=False, isolation_level=None
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            check = conn.execute("PRAGMA quick_check").fetchall()
            if check != [("ok",)]:
                raise sqlite3.DatabaseError(f"quick_check: {check[0][0] if check else '?'}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                if version != 0:  # a layout we cannot read: start over
                    conn.execute("DROP TABLE IF EXISTS jobs")
                conn.execute(_SCHEMA)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _rebuild(self, reason: sqlite3.Error) -> None:
        """Move the unreadable file aside (for a post-mortem) and start an empty one."""
        self._close_conn()
        self._note(
            f"{self.path} was unreadable ({reason}); moved to "
            f"{self.path.name}.corrupt and started a new history"
        )
        aside = self.path.with_name(self.path.name + ".corrupt")
        with contextlib.suppress(FileNotFoundError):
            self.path.replace(aside)
        for suffix in ("-wal", "-shm", "-journal"):
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)

    def _note(self, problem: str) -> None:
        self.problems.append(problem)
        del self.problems[:-20]
        log.warning("job history: %s", problem)

    def _close_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _guarded(self, action: Callable[[sqlite3.Connection], T], default: T, what: str) -> T:
        """Run ``action``; rebuild once on corruption; log and return ``default`` otherwise."""
        with self._lock:
            for tries in (1, 2):
                try:
                    return action(self._open())
                except sqlite3.Error as exc:
                    if tries == 1 and _is_corrupt(exc):
                        self._rebuild(exc)
                        continue
                    self._close_conn()
                    self._note(f"cannot {what} {self.path}: {exc}")
                    return default
                except OSError as exc:
                    self._note(f"cannot {what} {self.path}: {exc.strerror or exc}")
                    return default
            return default

    # --- reading and writing ------------------------------------------------------------------

    def append(self, entries: Sequence[HistoryEntry]) -> int:
        """Add ``entries`` in one transaction and prune; returns how many were written.

        Every URL in the arguments, the result and the error is redacted first (a remote
        given as a URL, an error quoting one): no password or token reaches the file."""
        if not entries:
            return 0
        rows = [
            (
                e.job_id,
                e.kind,
                _dumps(redact_data(dict(e.arguments))),
                e.status,
                e.priority,
                e.attempts,
                e.submitted_at,
                e.started_at,
                e.ended_at,
                None if e.result is None else redact_text(e.result),
                None if e.error is None else _dumps(redact_data(dict(e.error))),
            )
            for e in entries
        ]

        def write(conn: sqlite3.Connection) -> int:
            with conn:  # one transaction: BEGIN ... COMMIT, or ROLLBACK on error
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(_INSERT, rows)
                conn.execute(
                    "DELETE FROM jobs WHERE id <= (SELECT max(id) FROM jobs) - ?",
                    (self.max_entries,),
                )
            return len(rows)

        return self._guarded(write, 0, "write the job history to")

    def entries(self, limit: int | None = 50) -> list[HistoryEntry]:
        """The newest ``limit`` entries (all when None), newest first."""

        def read(conn: sqlite3.Connection) -> list[HistoryEntry]:
            cursor = conn.execute(_SELECT, (-1 if limit is None else limit,))
            return [
                HistoryEntry(
                    id=row[0],
                    job_id=row[1],
                    kind=row[2],
                    arguments=_loads_mapping(row[3]) or {},
                    status=row[4],
                    priority=row[5],
                    attempts=row[6],
                    submitted_at=row[7],
                    started_at=row[8],
                    ended_at=row[9],
                    result=row[10],
                    error=_loads_mapping(row[11]),
                )
                for row in cursor
            ]

        return self._guarded(read, [], "read the job history from")

    def close(self) -> None:
        with self._lock:
            self._close_conn()


def load_history(root: Path, *, limit: int | None = 50) -> list[dict[str, object]]:
    """The newest ``limit`` jobs of the repository at ``root`` as JSON-able dicts, newest
    first: what ``ticketflow jobs [--format json]`` shows. No history file means no jobs."""
    path = history_path(root)
    if not path.exists():
        return []
    history = JobHistory(path)
    try:
        return [entry.to_dict() for entry in history.entries(limit)]
    finally:
        history.close()
