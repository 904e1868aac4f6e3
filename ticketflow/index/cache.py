"""The SQLite cache behind the index: opening, checking, creating and rebuilding the
database (under a lock), reading a consistent snapshot, writing rows and the cached lint.
A cache that cannot be used never fails a command: callers get ``CacheState`` instead."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
import zlib
from collections.abc import Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

from ticketflow import __version__
from ticketflow.errors import TicketflowError
from ticketflow.index.results import CacheState
from ticketflow.index.rows import (
    COLUMNS,
    LINT_PREFIX,
    LIST_ORDER,
    PATH_OF,
    SUMMARY_COLUMNS,
    Stored,
    dumps,
)

SCHEMA_VERSION = 1
APPLICATION_ID = 0x54464958
"""``PRAGMA application_id`` of our database ("TFIX"): any other value is a foreign file."""
INDEX_NAME = "index.sqlite"


# --- the SQLite cache -----------------------------------------------------------------------


class CacheError(Exception):
    """The cache cannot be used for this command; ``state`` says why."""

    def __init__(self, state: CacheState) -> None:
        super().__init__(state.value)
        self.state = state


_BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")
_UNAVAILABLE = (
    *("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL"),
    *("SQLITE_PERM", "SQLITE_AUTH", "SQLITE_NOLFS", "SQLITE_NOMEM"),
)


def sqlite_state(exc: sqlite3.Error) -> CacheState | None:
    """BUSY or UNAVAILABLE for errors of circumstance; None for a corrupt or foreign file.
    By SQLite's own error name (extended names such as SQLITE_BUSY_SNAPSHOT included),
    never by the message's words."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(_BUSY):
        return CacheState.BUSY
    if name.startswith(_UNAVAILABLE):
        return CacheState.UNAVAILABLE
    return None


_STRICT = ", STRICT" if sqlite3.sqlite_version_info >= (3, 37) else ""
_ORDER_BY = " ORDER BY priority, neg_created, id, path"
_SCHEMA = (
    "CREATE TABLE files ("
    + ", ".join(f"{name} {kind}" for name, kind in COLUMNS)
    + f", PRIMARY KEY (priority, neg_created, id, path)) WITHOUT ROWID{_STRICT}",
    # by path, and covering the stamps query (scanning it beats scanning the wide rows)
    "CREATE INDEX files_path ON files (path, stamp)",
    f"CREATE TABLE meta (key TEXT PRIMARY KEY, value ANY){_STRICT}",
)
_INSERT = f"INSERT INTO files VALUES ({', '.join('?' * len(COLUMNS))})"  # noqa: S608
_NAMES = [name for name, _kind in COLUMNS]
_NO_VIEW = [("NULL" if name.startswith("view_") else name) for name in _NAMES]
SELECT = {  # built from the constant column names
    "stamps": "SELECT path, stamp FROM files",
    "lint": f"SELECT {', '.join(LINT_PREFIX)} FROM files",  # noqa: S608
    "load": f"SELECT {', '.join(_NO_VIEW)} FROM files{_ORDER_BY}",  # noqa: S608
    "rendering": f"SELECT {', '.join(_NAMES)} FROM files{_ORDER_BY}",  # noqa: S608
    # one pass for ``rendered``: the path, folder and error only where there is an error
    "summaries": f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM files{_ORDER_BY}",  # noqa: S608
    "rendered": "SELECT status, priority, view_key IS ?, view_text,"  # noqa: S608
    " CASE WHEN status IS NULL THEN path END, CASE WHEN status IS NULL THEN folder END, error"
    f" FROM files{_ORDER_BY}",
}
"""``load`` and ``rendering`` come in primary-key order: SQLite does not sort. ``stamps``
gives ``(path, stamp)`` pairs, ``lint`` the ``LINT_PREFIX`` columns, ``load`` and
``rendering`` every column (``load`` without the cached renderings), as ``Stored`` tuples."""


class Snapshot:
    """What one read transaction saw: rows (the columns of the query, see ``SELECT``), the
    write generation, the cached lint.
    (Internal records are plain classes: a dataclass costs an ``exec`` at import, and
    ``list`` pays every millisecond of import time.)"""

    __slots__ = ("generation", "lint", "rows")

    def __init__(self, rows: list[Stored], generation: int, lint: dict[str, Any] | None) -> None:
        self.rows = rows
        self.generation = generation
        self.lint = lint


class Cache:
    """One connection to the index database for one refresh (opened, used, closed)."""

    def __init__(self, path: Path, fingerprint: str, busy_timeout: float) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.busy_timeout = busy_timeout
        self.conn: sqlite3.Connection | None = None
        self.state = CacheState.WARM

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            str(self.path),
            timeout=self.busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _check(self, conn: sqlite3.Connection) -> str:
        """``"ok"``, ``"empty"`` (a new file), ``"stale"`` (ours, from another parser, schema
        or folder layout: rebuilt like a foreign file) or ``"foreign"``. Raises
        sqlite3.DatabaseError on a file that is not a database."""
        app = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if app == 0 and version == 0:
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            return "empty" if tables == 0 else "foreign"
        if app != APPLICATION_ID or version != SCHEMA_VERSION:
            return "foreign"
        row = conn.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
        if row is None:
            return "foreign"
        return "ok" if row[0] == self.fingerprint else "stale"

    def open(self) -> None:
        """Open a valid cache, creating or rebuilding it as needed; raises ``CacheError``."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            raise CacheError(CacheState.UNAVAILABLE) from None
        conn: sqlite3.Connection | None = None
        try:
            conn = self._connect()
            if self._check(conn) == "ok":
                self.conn = conn
                return
        except sqlite3.Error as exc:
            state = sqlite_state(exc)
            if state is not None:
                _close(conn)
                raise CacheError(state) from None
        _close(conn)
        self._repair()

    def _repair(self) -> None:
        """Create, reset or rebuild the database under a lock, so that two processes never
        delete each other's fresh database. The slow path, taken once."""
        from ticketflow.fsutil import RepoLock

        lock = RepoLock(self.path.with_name("index.lock"), timeout=self.busy_timeout)
        try:
            lock.acquire()
        except (TicketflowError, OSError):
            raise CacheError(CacheState.BUSY) from None
        conn: sqlite3.Connection | None = None
        try:
            for attempt in range(2):
                try:
                    conn = self._connect()
                    verdict = self._check(conn)
                    if verdict == "ok":
                        self.conn = conn
                        return
                    if verdict == "empty":
                        self._create(conn)
                        if self.state is not CacheState.REBUILT:
                            self.state = CacheState.CREATED
                        self.conn = conn
                        return
                except sqlite3.Error as exc:
                    state = sqlite_state(exc)
                    if state is not None or attempt:
                        raise CacheError(state or CacheState.UNAVAILABLE) from None
                _close(conn)
                conn = None
                self.discard()
                self.state = CacheState.REBUILT
            raise CacheError(CacheState.UNAVAILABLE)
        except BaseException:
            _close(conn)
            raise
        finally:
            lock.release()

    def _create(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [("fingerprint", self.fingerprint), ("ticketflow", __version__), ("generation", 0)],
            )
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def discard(self) -> None:
        """Delete a corrupt or foreign database and its journal files."""
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.unlink(f"{self.path}{suffix}")
            except FileNotFoundError:
                pass
            except OSError:
                raise CacheError(CacheState.UNAVAILABLE) from None

    def snapshot(self, columns: str, with_lint: bool) -> Snapshot:
        """Rows, generation and cached lint, read in one transaction (one consistent view)."""
        assert self.conn is not None
        conn = self.conn
        conn.execute("BEGIN")
        try:
            rows = conn.execute(SELECT[columns]).fetchall()
            generation = _meta(conn, "generation")
            lint = _meta(conn, "lint") if with_lint else None
        finally:
            conn.execute("COMMIT")
        if type(generation) is not int:
            raise sqlite3.DatabaseError("the generation is missing")
        cached = json.loads(lint) if isinstance(lint, str) else None
        if not isinstance(cached, dict) or cached.get("generation") != generation:
            cached = None
        return Snapshot(rows, generation, cached)

    def write(
        self,
        rows: Sequence[Stored],
        removed: Sequence[str],
        seen_generation: int,
        lint: dict[str, Any] | None = None,
    ) -> None:
        """Replace changed rows and drop removed ones in one transaction; store ``lint``
        only if nobody else wrote since ``seen_generation`` (it describes exactly the rows
        this process saw plus its own changes)."""
        if self.conn is None or (not rows and not removed and lint is None):
            return
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            generation = _meta(conn, "generation")
            if rows or removed:
                # a path's old row goes first (its key may differ: the path index is not
                # unique, so that it can also cover the stamps query)
                gone = sorted([*removed, *map(PATH_OF, rows)])
                conn.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in gone])
                if rows:
                    # in primary-key order; as plain tuples (a parse makes a Row now and
                    # then), which sqlite3 binds several times faster than a tuple subclass
                    ordered = sorted(rows, key=LIST_ORDER)
                    conn.executemany(_INSERT, map(tuple, ordered))
                conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
            if lint is not None and generation == seen_generation:
                new_generation = generation + 1 if (rows or removed) else generation
                conn.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('lint', ?)",
                    (dumps({**lint, "generation": new_generation}),),
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        _close(self.conn)
        self.conn = None


def write_views(conn: sqlite3.Connection, updates: list[tuple[str, str, str, int]]) -> None:
    """Store renderings, only where the row is still the one rendered (same stamp)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(
            "UPDATE files SET view_key = ?, view_text = ? WHERE path = ? AND stamp = ?",
            sorted(updates, key=itemgetter(2)),
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _meta(conn: sqlite3.Connection, key: str) -> Any:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def _close(conn: sqlite3.Connection | None) -> None:
    if conn is not None:
        with contextlib.suppress(sqlite3.Error):  # a broken connection: nothing to protect
            conn.close()


def parser_fingerprint() -> str:
    """Changes whenever the code that fills the rows may have changed (also in a development
    tree), so an upgraded ticketflow never believes rows an older parser wrote."""
    from importlib.util import find_spec

    parts = [
        str(SCHEMA_VERSION),
        __version__,
        sys.version.split()[0],
        str(zlib.crc32(repr(_SCHEMA).encode())),
    ]
    # found, not imported: a warm ``list`` never needs the YAML parser (fileformat)
    for name in (
        *("fastparse", "fileformat", "model"),
        *("index.listing", "index.reading", "index.rows", "index.cache"),
    ):
        spec = find_spec(f"ticketflow.{name}")
        module_file = spec.origin if spec is not None else None
        try:
            st = os.stat(str(module_file))
            parts.append(f"{st.st_size}:{st.st_mtime_ns}")
        except (OSError, TypeError):
            parts.append("?")
    return "|".join(parts)


def read_cache(cache: Cache, columns: str, with_lint: bool) -> Snapshot:
    """The cached rows, opening (creating, rebuilding) the database as needed. Never raises
    for a database problem: ``cache.state`` says why there are no rows."""
    rebuilt = False
    for attempt in range(2):
        try:
            cache.open()
            snapshot = cache.snapshot(columns, with_lint)
        except CacheError as exc:
            cache.close()
            cache.state = exc.state
            return Snapshot([], -1, None)
        except sqlite3.Error as exc:
            # it opened but fails to read: corrupt; rebuild it, once
            cache.close()
            state = sqlite_state(exc)
            if state is not None or attempt:
                cache.state = state or CacheState.UNAVAILABLE
                return Snapshot([], -1, None)
            try:
                cache.discard()
            except CacheError as discard_error:
                cache.state = discard_error.state
                return Snapshot([], -1, None)
            rebuilt = True
            continue
        if rebuilt:
            cache.state = CacheState.REBUILT
        return snapshot
    return Snapshot([], -1, None)  # pragma: no cover - the loop always returns
