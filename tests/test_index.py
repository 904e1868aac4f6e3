"""The index: the fast parser's equivalence, incremental scans, the cache's robustness, lint.

Tests assert behaviour (what was parsed, what was reused, what is reported), never time.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS, DATA, git

from ticketflow.cancel import CancelToken
from ticketflow.cli.listing import summarize
from ticketflow.cli.output import dumps_json, ticket_json
from ticketflow.errors import CancelledError, MalformedTicketError
from ticketflow.fastparse import parse_fast, parse_ticket_fast
from ticketflow.fileformat import parse_ticket, render_ticket
from ticketflow.index import (
    CacheState,
    ScanResult,
    Severity,
    TicketIndex,
    View,
)
from ticketflow.model import Ticket
from ticketflow.store import TicketStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from gen_tickets import generate, make_ticket

TID = "250101-000000-x"


def outcome(parse: Any, text: str) -> tuple[Any, ...]:
    """What a parser makes of ``text``: the ticket and its raw header, or the error."""
    try:
        ticket = parse(text, path="tickets/todo/x.md", ticket_id=TID)
    except MalformedTicketError as exc:
        return ("error", exc.message, exc.line, exc.hint)
    return ("ok", ticket, ticket.raw)


def assert_same(text: str) -> None:
    assert outcome(parse_ticket_fast, text) == outcome(parse_ticket, text), repr(text[:300])


# --- the fast parser ------------------------------------------------------------------------

CORPUS_FILES = sorted((CORPUS / "tickets").glob("*/*.md"))


def test_fast_parser_equals_reference_on_the_corpus() -> None:
    fast = 0
    for path in CORPUS_FILES:
        text = path.read_text(encoding="utf-8")
        assert_same(text)
        fast += parse_fast(text, path="p", ticket_id=TID) is not None
    assert len(CORPUS_FILES) == 121
    assert fast == 120  # every ticket, hand-formatted ones too; only the README falls back


def test_fast_parser_equals_reference_on_generated_tickets() -> None:
    rng = random.Random(5)  # noqa: S311 - reproducible data
    base = datetime(2024, 1, 1, tzinfo=UTC)
    ids: list[str] = []
    for i in range(400):
        ticket = make_ticket(i, rng, base, ids)
        ids.append(ticket.id)
        text = render_ticket(ticket)
        assert_same(text)
        assert parse_fast(text, path="p", ticket_id=TID) is not None


GOLDEN = json.loads((DATA / "yamlv3_golden.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("entry", GOLDEN, ids=lambda e: repr(e["value"])[:40])
def test_fast_parser_equals_reference_on_golden_strings(entry: dict[str, str]) -> None:
    value = entry["value"]
    ticket = Ticket(
        id=TID,
        description=value,
        related=(value,) if value else (),
        closure_reason=value or None,
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
    assert_same(render_ticket(ticket))
    assert_same("---\n" + entry["yaml"] + "---\n\nbody\n")


_ATOMS = (
    *("a", "x y", "1:30", "yes", "null", "~", "Null", "", " ", "#", "a #b", "a#b", "a: b"),
    *("a:", ":a", "-", "- a", "-a", "?", "? a", "[x]", "{a: 1}", "'q'", "'it''s'", "'bad"),
    *('"dq"', '"esc\\n"', '"a"b"', "*alias", "&anc x", "!tag x", "!!str x", "|", ">", "%x"),
    *("@x", "`x", "2025-01-02T03:04:05+09:00", '"2025-01-02T03:04:05+09:00"', "2025-01-02"),
    *('"2025-01-02T03:04:05"', '"2025-13-45T00:00:00Z"', '" 2025-01-02T03:04:05Z "', "12"),
    *("0x1f", "007", "-3", "1_000", "1.5", "true", "\u00e9t\u00e9", "\u2028", "\x85", "\ufeff"),
    *("\x07", "a\tb", "...", "---", "<<", "=", "a, b", "a]", "parent:250101-000000-a", "''"),
    *("  lead", "trail  ", "\xa0x\xa0", '""', "'a''b'''", "[]", "{}", '"a\\\\b"', "null "),
)
_SAFE_TEXT = ("fix it", "a:b", "C#", "it's", "'quoted'", '"dq"', "null", "3", "")
_SAFE_TIME = ('"2025-01-02T03:04:05Z"', "null", '""', "2025-01-02T03:04:05+09:00", "~")
_SAFE = {"priority": ("1", "2", "3", "~", "")} | dict.fromkeys(
    ("created_at", "started_at", "closed_at"), _SAFE_TIME
)
_KEYS = ("priority", "description", "created_at", "started_at", "closed_at", "closure_reason")


def _random_header(rng: random.Random) -> str:
    """Headers near the Go layout, with one twist or another (order, quoting, spacing,
    indentation, unknown keys, comments, duplicates, CRLF, fences)."""
    keys = rng.sample(_KEYS, rng.randint(0, 6))
    if rng.random() < 0.5:
        keys = [k for k in _KEYS if k in keys]  # the canonical order
    safe = rng.random() < 0.5
    seps = (": ",) if safe else (": ", ": ", ":  ", ":")
    atoms = _SAFE_TEXT if safe else _ATOMS
    lines = [
        f"{k}{rng.choice(seps)}{rng.choice(_SAFE.get(k, atoms) if safe else atoms)}" for k in keys
    ]
    if rng.random() < 0.5:
        indent = rng.choice(("", "  ", "    ", "    ", "\t"))
        items = [
            f"{indent}{rng.choice(('- ', '- ', '-  ', '-'))}{rng.choice(atoms)}"
            for _ in range(rng.randint(0, 3))
        ]
        lines.insert(rng.randint(0, len(lines)), "\n".join(["related:", *items]))
    if rng.random() < 0.1 and not safe:
        lines.insert(rng.randint(0, len(lines)), rng.choice(("# c", "", "x: 1", "priority: 3")))
    text = (
        "---\n"
        + "".join(f"{line}\n" for line in lines)
        + ("---" if safe else rng.choice(("---", "--- ", "----")))
    )
    text += rng.choice(("\n", "\n", "", "\n\nbody\n", "\r\nbody"))
    return text.replace("\n", "\r\n") if rng.random() < 0.03 else text


def test_fast_parser_equals_reference_on_random_headers() -> None:
    rng = random.Random(1234)  # noqa: S311 - reproducible data
    fast = 0
    for _ in range(6000):
        text = _random_header(rng)
        assert_same(text)
        fast += parse_fast(text, path="p", ticket_id=TID) is not None
    assert fast > 1000  # the fast path was exercised, not only the fallback


def test_fast_parser_refuses_deep_nesting_without_crashing() -> None:
    # libyaml's composer overflows the C stack on such input; the guard refuses it first
    text = "---\na: " + "[" * 50_000 + "]" * 50_000 + "\n---\n"
    with pytest.raises(MalformedTicketError, match="nests more than") as info:
        parse_ticket_fast(text, path="x.md", ticket_id=TID)
    assert info.value.line == 2
    shallow = "---\nx: " + "[" * 50 + "]" * 50 + "\n" + "# -\n" * 300 + "---\n"
    assert_same(shallow)


# --- helpers ----------------------------------------------------------------------------------

CANON = (
    '---\npriority: {p}\ndescription: {d}\ncreated_at: "2025-01-0{n}T03:04:05+09:00"\n'
    "started_at: {s}\nclosed_at: {c}\n{extra}---\n\nbody of {d}\n"
)


def write_ticket(
    repo: Path,
    tid: str,
    folder: str = "todo",
    *,
    priority: int = 2,
    description: str | None = None,
    started: bool = False,
    closed: bool = False,
    extra: str = "",
) -> Path:
    path = repo / "tickets" / folder / f"{tid}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = '"2025-02-01T00:00:00Z"'
    path.write_text(
        CANON.format(
            p=priority,
            d=description or tid[14:],
            n=int(tid[5]) or 1,
            s=stamp if started or closed else "null",
            c=stamp if closed else "null",
            extra=extra,
        ),
        encoding="utf-8",
    )
    return path


def age(*paths: Path) -> None:
    """Move mtimes an hour back: out of the racy window, as files are in real life."""
    for path in paths:
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 3_600_000_000_000))


def age_all(repo: Path) -> None:
    age(*(p for p in (repo / "tickets").rglob("*.md") if p.is_file()))


def headers_only(tickets: list[Ticket]) -> list[Ticket]:
    return [t.with_changes(body="", raw=None) for t in tickets]


@pytest.fixture
def small(repo: Path) -> Path:
    for n in range(1, 6):
        write_ticket(repo, f"25010{n}-000000-todo-{n}", priority=n % 3 + 1)
    write_ticket(repo, "250106-000000-doing", "doing", started=True)
    write_ticket(repo, "250107-000000-done", "done", closed=True)
    age_all(repo)
    return repo


def open_index(repo: Path, **options: Any) -> TicketIndex:
    return TicketIndex.open(TicketStore.open(repo), **options)


# --- incremental scans -------------------------------------------------------------------------


def test_cold_then_warm_then_incremental(small: Path) -> None:
    index = open_index(small)
    cold = index.scan()
    assert (cold.cache, cold.counts.parsed, cold.counts.reused) == (CacheState.CREATED, 7, 0)
    assert (cold.counts.todo, cold.counts.doing, cold.counts.done) == (5, 1, 1)
    assert index.path == small / ".git" / "ticketflow" / "index.sqlite"
    warm = index.scan()
    assert (warm.cache, warm.counts.parsed, warm.counts.reused) == (CacheState.WARM, 0, 7)
    changed = write_ticket(small, "250101-000000-todo-1", description="changed")
    added = write_ticket(small, "250108-000000-new")
    (small / "tickets/todo/250102-000000-todo-2.md").unlink()
    age(changed, added)
    after = index.scan()
    assert (after.counts.parsed, after.counts.reused, after.counts.removed) == (2, 5, 1)
    assert after.counts.files == 7
    assert index.scan().counts.parsed == 0
    assert [t.description for t in index.load().tickets if t.id.startswith("250101")] == ["changed"]


def test_load_equals_load_all(small: Path, corpus_repo: Path) -> None:
    for repo in (small, corpus_repo):
        store = TicketStore.open(repo)
        index = TicketIndex.open(store)
        reference = store.load_all()
        for _ in range(2):  # cold, then from the cache
            loaded = index.load()
            assert loaded.tickets == headers_only(reference.tickets)
            assert [t.raw for t in loaded.tickets] == [None] * len(loaded.tickets)
            full = index.load(bodies=True)
            assert full.tickets == reference.tickets
            assert [t.raw for t in full.tickets] == [t.raw for t in reference.tickets]
            assert [p.message for p in loaded.problems] == [p.message for p in reference.problems]


def test_the_corpus_scan(corpus_repo: Path) -> None:
    result = open_index(corpus_repo).scan()
    assert result.counts.files == 101
    assert (result.counts.todo, result.counts.doing, result.counts.done) == (3, 1, 97)
    assert result.counts.ignored == 20  # tickets/cancelled: 19 tickets and a README
    assert result.clean
    assert result.exit_code == 0


def test_extra_keys_survive_the_cache(repo: Path) -> None:
    write_ticket(repo, "250101-000000-json", extra="assignee: alice\nlabels:\n    - ui\n")
    write_ticket(repo, "250102-000000-dates", extra="due: 2025-03-01\nsize: 1.5\n")
    store = TicketStore.open(repo)
    index = TicketIndex.open(store)
    index.scan()
    reference = headers_only(store.load_all().tickets)
    loaded = index.load().tickets
    assert loaded == reference
    assert {t.id[14:]: t.extra for t in loaded} == {
        "json": (("assignee", "alice"), ("labels", ["ui"])),
        "dates": (("due", datetime(2025, 3, 1).date()), ("size", 1.5)),
    }


def test_same_size_rewrite_with_the_old_mtime_is_seen(small: Path) -> None:
    index = open_index(small)
    index.scan()
    path = small / "tickets/todo/250103-000000-todo-3.md"
    before = path.stat()
    path.write_text(path.read_text().replace("todo-3", "todo-X"), encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert index.scan().counts.parsed == 1
    assert "todo-X" in [t.description for t in index.load().tickets]


def test_a_file_written_during_the_scan_window_is_parsed_again(small: Path) -> None:
    index = open_index(small)
    index.scan()
    fresh = write_ticket(small, "250109-000000-fresh")  # mtime: now
    assert index.scan().counts.parsed == 1
    assert index.scan().counts.parsed == 1  # racy: stored so that it never matches
    age(fresh)
    assert index.scan().counts.parsed == 1
    assert index.scan().counts.parsed == 0


def test_progress_reports_files_done_of_total(repo: Path) -> None:
    for n in range(300):
        write_ticket(repo, f"250101-{n:06d}-t")
    seen: list[tuple[int, int | None, str]] = []
    open_index(repo).scan(progress=lambda c, t, m: seen.append((c, t, m)))
    parsing = [(c, t) for c, t, m in seen if m == "parsing tickets"]
    assert parsing[0] == (0, 300)
    assert parsing[-1] == (300, 300)
    assert [c for c, _t in parsing] == sorted(c for c, _t in parsing)


def test_cancel_stops_between_chunks_and_keeps_what_was_parsed(repo: Path) -> None:
    for n in range(1000):
        write_ticket(repo, f"250101-{n:06d}-t")
    age_all(repo)
    index = open_index(repo)
    token = CancelToken()

    def progress(current: int, total: int | None, message: str) -> None:
        if message == "parsing tickets" and current >= 256:
            token.cancel("stop")

    with pytest.raises(CancelledError) as info:
        index.scan(progress=progress, cancel=token)
    assert info.value.partial == "256 of 1,000 tickets scanned"
    assert info.value.message == "stop after 256 of 1,000 tickets scanned"
    resumed = index.scan()
    assert (resumed.counts.parsed, resumed.counts.reused) == (744, 256)


def test_the_pool_gives_the_same_rows(small: Path) -> None:
    for n in range(10, 200):
        write_ticket(small, f"2501{n:02d}-000000-p" if n < 100 else f"250201-{n:06d}-p")
    age_all(small)
    store = TicketStore.open(small)
    in_process = TicketIndex.open(store, path=small / "a.sqlite", workers=1).scan()
    pooled = TicketIndex.open(store, path=small / "b.sqlite", workers=2, pool_min_files=1)
    result = pooled.scan()
    assert (in_process.timings.mode, result.timings.mode) == ("in-process", "pool")
    assert result.problems == in_process.problems
    assert result.counts == in_process.counts
    assert pooled.load().tickets == headers_only(store.load_all().tickets)
    with ThreadPoolExecutor(2) as executor:  # the job queue may bring its own executor
        shared = TicketIndex.open(store, path=small / "c.sqlite", pool_min_files=1)
        assert shared.scan(executor=executor).counts == in_process.counts


# --- the cache: corrupt, foreign, stale, locked, unavailable ---------------------------------


def test_garbage_bytes_in_the_cache_are_rebuilt(small: Path) -> None:
    index = open_index(small)
    expected = index.load().tickets
    index.path.write_bytes(os.urandom(8192))
    for suffix in ("-wal", "-shm"):
        Path(f"{index.path}{suffix}").unlink(missing_ok=True)
    result = index.scan()
    assert result.cache is CacheState.REBUILT
    assert result.counts.parsed == 7
    assert index.load().tickets == expected
    assert index.scan().cache is CacheState.WARM


def test_a_truncated_cache_is_rebuilt(small: Path) -> None:
    index = open_index(small)
    index.scan()
    index.clear()
    index.scan()  # a cache written without WAL leftovers
    sqlite3.connect(index.path).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    data = index.path.read_bytes()
    index.path.write_bytes(data[: len(data) // 2])
    assert open_index(small).load().tickets == headers_only(
        TicketStore.open(small).load_all().tickets
    )


def test_a_foreign_database_is_replaced_not_trusted(small: Path) -> None:
    index = open_index(small)
    index.path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(index.path)
    conn.execute("CREATE TABLE files (path TEXT, stamp INTEGER)")
    conn.execute("INSERT INTO files VALUES ('tickets/todo/250101-000000-todo-1.md', 0)")
    conn.commit()
    conn.close()
    result = index.scan()
    assert result.cache is CacheState.REBUILT
    assert result.counts.parsed == 7


def test_another_schema_version_is_rebuilt(small: Path) -> None:
    index = open_index(small)
    index.scan()
    conn = sqlite3.connect(index.path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    assert index.scan().cache is CacheState.REBUILT


def test_rows_from_another_parser_are_dropped(small: Path) -> None:
    index = open_index(small)
    index.scan()
    conn = sqlite3.connect(index.path)
    conn.execute("UPDATE meta SET value = 'an older ticketflow' WHERE key = 'fingerprint'")
    conn.commit()
    conn.close()
    result = index.scan()
    assert (result.cache, result.counts.parsed) == (CacheState.REBUILT, 7)


def test_a_tampered_row_is_not_believed(small: Path) -> None:
    index = open_index(small)
    index.scan()
    conn = sqlite3.connect(index.path)
    conn.execute("UPDATE files SET created_at = 'not a time'")
    conn.commit()
    conn.close()
    assert index.load().tickets == headers_only(TicketStore.open(small).load_all().tickets)


def test_a_locked_database_does_not_fail_a_read(small: Path) -> None:
    index = open_index(small, busy_timeout=0.05)
    expected = index.load().tickets
    write_ticket(small, "250108-000000-while-locked")
    blocker = sqlite3.connect(index.path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        loaded = index.load()
        result = index.scan()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert len(loaded.tickets) == len(expected) + 1
    assert result.cache is CacheState.BUSY
    assert result.counts.files == 8


def test_an_unusable_location_means_a_plain_scan(small: Path) -> None:
    (small / "not-a-folder").write_text("x")
    index = open_index(small, path=small / "not-a-folder" / "index.sqlite")
    result = index.scan()
    assert result.cache is CacheState.UNAVAILABLE
    assert result.counts.tickets == 7
    assert index.load().tickets == headers_only(TicketStore.open(small).load_all().tickets)


def test_the_index_follows_a_worktree_git_dir(small: Path, tmp_path: Path) -> None:
    git(small, "add", "-A")
    git(small, "commit", "-q", "-m", "tickets")
    worktree = tmp_path / "wt"
    git(small, "worktree", "add", "-q", str(worktree))
    index = open_index(worktree)
    assert index.scan().counts.files == 7
    assert index.path.is_relative_to(small / ".git" / "worktrees")


SCRIPT = """
import sys
from pathlib import Path
from ticketflow.index import TicketIndex
from ticketflow.store import TicketStore
index = TicketIndex.open(TicketStore.open(Path(sys.argv[1])))
if sys.argv[2] == "reuse":
    print(index.scan().counts.parsed)
    raise SystemExit
for n in range(int(sys.argv[2])):
    assert len(index.load().tickets) >= 200, "tickets lost"
    index.scan()
    if n % 3 == 0:
        index.clear()
print("ok")
"""


def test_processes_scanning_at_once_never_fail(repo: Path) -> None:
    for n in range(200):
        write_ticket(repo, f"250101-{n:06d}-t")
    age_all(repo)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(repo), "6"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(4)
    ]
    stop = threading.Event()

    def churn() -> None:  # and files change underneath them
        n = 0
        while not stop.is_set():
            write_ticket(repo, f"250102-{n % 20:06d}-churn", description=f"v{n}")
            n += 1

    writer = threading.Thread(target=churn)
    writer.start()
    try:
        outputs = [p.communicate(timeout=120) for p in procs]
    finally:
        stop.set()
        writer.join()
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == "ok"
    age_all(repo)
    store = TicketStore.open(repo)
    assert TicketIndex.open(store).load().tickets == headers_only(store.load_all().tickets)
    # and a new process trusts what this one wrote (stamps do not depend on hash seeds)
    reuse = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(repo), "reuse"],
        capture_output=True,
        text=True,
        env={**env, "PYTHONHASHSEED": "12345"},
        check=True,
    )
    assert reuse.stdout.strip() == "0"


# --- the lint ------------------------------------------------------------------------------------


def test_lint_finds_cross_ticket_problems(repo: Path) -> None:
    write_ticket(repo, "250101-000000-closed-in-todo", "todo", closed=True)
    write_ticket(repo, "250102-000000-twice", "todo")
    write_ticket(repo, "250102-000000-twice", "doing", started=True)
    parent = "related:\n    - parent:{}\n"
    write_ticket(repo, "250103-000000-a", extra=parent.format("250104-000000-b"))
    write_ticket(repo, "250104-000000-b", extra=parent.format("250103-000000-a"))
    write_ticket(repo, "250105-000000-self", extra=parent.format("250105-000000-self"))
    write_ticket(
        repo,
        "250106-000000-refs",
        extra="related:\n    - blocks:250199-000000-gone\n    - 250103-000000-a\n    - 'parent:'\n",
    )
    (repo / "tickets/todo/250107-000000-bad.md").write_text("---\npriority: high\n---\n")
    age_all(repo)
    result = open_index(repo).scan()
    found = {(p.path.rsplit("/", 1)[-1][:-3], p.code, p.line) for p in result.problems}
    assert found == {
        ("250101-000000-closed-in-todo", "status-mismatch", None),
        ("250102-000000-twice", "duplicate-id", None),
        ("250103-000000-a", "parent-cycle", 8),
        ("250105-000000-self", "parent-cycle", 8),
        ("250106-000000-refs", "dangling-related", 8),
        ("250106-000000-refs", "invalid-related", 10),
        ("250107-000000-bad", "wrong-type", 2),
    }
    assert len([p for p in result.problems if p.code == "duplicate-id"]) == 2
    cycle = next(p for p in result.problems if p.path.endswith("250103-000000-a.md"))
    assert cycle.message == "parent cycle: 250103-000000-a -> 250104-000000-b -> 250103-000000-a"
    warnings = {p.code for p in result.problems if p.severity is Severity.WARNING}
    assert warnings == {"dangling-related", "invalid-related"}
    assert result.exit_code == 1
    assert (result.counts.tickets, result.counts.malformed, result.counts.files) == (7, 1, 8)


def test_warnings_alone_exit_zero(repo: Path) -> None:
    write_ticket(repo, "250101-000000-a", extra="related:\n    - blocks:250199-000000-gone\n")
    result = open_index(repo).scan()
    assert [p.code for p in result.problems] == ["dangling-related"]
    assert result.clean
    assert result.exit_code == 0


def test_scan_json_and_text(repo: Path) -> None:
    write_ticket(repo, "250101-000000-ok")
    (repo / "tickets/todo/250102-000000-bad.md").write_text("---\npriority: 1\n")
    result = open_index(repo).scan()
    data = result.to_json()
    json.dumps(data)  # plain JSON values only
    assert data["clean"] is False
    assert data["summary"] == {
        "todo": 1,
        "doing": 0,
        "done": 0,
        "total": 1,
        "files": 2,
        "malformed": 1,
        "ignored": 0,
        "errors": 1,
        "warnings": 0,
    }
    assert data["index"]["cache"] == "created"
    assert data["index"]["parsed"] == 2
    assert set(data["index"]["seconds"]) == {"listing", "parsing", "saving", "linting", "total"}
    assert data["problems"] == [
        {
            "path": "tickets/todo/250102-000000-bad.md",
            "line": 1,
            "code": "unclosed-frontmatter",
            "severity": "error",
            "message": "the frontmatter opened on line 1 is never closed by a line '---'",
            "hint": "add a line '---' after the last frontmatter key",
        }
    ]
    text = result.to_text()
    assert "tickets/todo/250102-000000-bad.md:1: error: the frontmatter opened" in text
    assert text.endswith("1 error, 0 warnings.\n")


def test_problem_codes_come_from_where_the_error_is_raised() -> None:
    # the code is data on the error, not looked up from its wording: the same code whatever
    # the message says, and it reaches the JSON error object
    cases = {
        "---\npriority: x\n---\n": "wrong-type",
        '---\ncreated_at: "2025"\n---\n': "invalid-time",
        "---\npriority: 1\npriority: 2\n---\n": "duplicate-key",
        "---\n? [a]\n: b\n---\n": "invalid-key",
        "---\nx: !custom 1\n---\n": "unsupported-tag",
        "---\nx: !!int abc\n---\n": "invalid-value",
        "---\n- a\n---\n": "not-a-mapping",
        "---\na: [b\n---\n": "invalid-yaml",
        "no header\n": "no-frontmatter",
        "---\npriority: 1\n": "unclosed-frontmatter",
    }
    for text, code in cases.items():
        with pytest.raises(MalformedTicketError) as info:
            parse_ticket(text, path="x.md", ticket_id=TID)
        assert info.value.code == code, text
        assert info.value.to_dict()["error"]["problem_code"] == code  # type: ignore[index]


@pytest.mark.parametrize("loader", ["C", "pure-Python"])
def test_deep_nesting_gets_one_answer_whatever_libyaml_does(
    loader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PyYAML 6.0.4's libyaml refuses deep flow input with its own error, raised while its
    # scanner reads ahead; older ones do not; the pure-Python parser has no limit
    import yaml

    from ticketflow import fileformat

    if loader == "pure-Python":
        monkeypatch.setattr(fileformat, "_SafeLoader", yaml.SafeLoader)
    bombs = {
        "---\na: " + "[" * 50_000 + "]" * 50_000 + "\n---\n": 2,
        "---\na:\n  " + "- " * 40_000 + "x\n---\n": 3,
        "---\na: " + "{" * 5_000 + "\n---\n": 2,
        # a syntax error first (line 3), the deep stretch after it: libyaml may stop on
        # either; the depth is what is reported
        "---\na: b\n- x\nc: " + "[" * 2_000 + "\n---\n": 4,
    }
    for text, line in bombs.items():
        with pytest.raises(MalformedTicketError) as info:
            parse_ticket(text, path="x.md", ticket_id=TID)
        assert (info.value.code, info.value.line) == ("too-deep", line)
        assert info.value.problem == "the frontmatter nests more than 200 levels deep"
    # a real syntax error in a long header is still reported as what it is
    broken = "---\n" + "".join(f"k{i}: v\n" for i in range(300)) + "x: [a\n---\n"
    with pytest.raises(MalformedTicketError) as info:
        parse_ticket(broken, path="x.md", ticket_id=TID)
    assert info.value.code == "invalid-yaml"


def test_scan_result_is_a_frozen_value(small: Path) -> None:
    result = open_index(small).scan()
    assert isinstance(result, ScanResult)
    with pytest.raises(AttributeError):
        result.cache = CacheState.BUSY  # type: ignore[misc]


def test_generated_repository_scan_matches_the_store(tmp_path: Path) -> None:
    root = tmp_path / "gen"
    generate(300, root, seed=7, commit=False)
    git(root, "init", "-q")
    store = TicketStore.open(root)
    index = TicketIndex.open(store)
    result = index.scan()
    assert result.counts.files == 300
    assert result.clean
    assert index.load().tickets == headers_only(store.load_all().tickets)


# --- cached views ---------------------------------------------------------------------------


class CountingView:
    """A view that counts how often it renders (the cache should spare most calls)."""

    def __init__(self, key: str) -> None:
        self.calls = 0
        self.view = View(key, self.render)

    def render(self, ticket: Ticket) -> str:
        self.calls += 1
        return f"{ticket.id}|{ticket.status.value}|{ticket.priority}|{ticket.extra}"


def test_rendered_views_are_load_rendered(small: Path, corpus_repo: Path) -> None:
    """What ``rendered`` gives (rendered after a refresh, then from the cache) is the view
    of each ticket ``load`` gives, in list order, with the same counts and problems."""

    def fields(ticket: Ticket) -> str:
        shown = (ticket.id, ticket.status.value, ticket.priority, ticket.description, ticket.path)
        return "|".join(map(str, shown))

    view = View("fields", fields)
    for repo in (small, corpus_repo):
        store = TicketStore.open(repo)
        index = TicketIndex.open(store)
        for _ in range(2):
            listed = index.rendered(view)
            loaded = index.load()
            assert listed.texts == [fields(t) for t in loaded.tickets]
            assert listed.summary == summarize(loaded.tickets)
            assert [p.message for p in listed.problems] == [p.message for p in loaded.problems]


def test_views_are_rendered_once_per_change(small: Path) -> None:
    write_ticket(small, "250108-000000-dated", extra="due: 2025-03-01\n")  # re-read to render
    age_all(small)
    index = open_index(small)
    counting = CountingView("v1")
    first = index.rendered(counting.view)
    assert counting.calls == 8
    tickets = index.load().tickets
    assert first.texts == [counting.render(t) for t in tickets]
    counting.calls = 0
    assert index.rendered(counting.view) == first
    assert counting.calls == 0
    age(write_ticket(small, "250101-000000-todo-1", description="changed", priority=3))
    again = index.rendered(counting.view)
    assert counting.calls == 1
    assert len(again.texts) == 8
    other = CountingView("v2")
    index.rendered(other.view)
    assert other.calls == 8  # a new key renders everything again


def test_views_still_render_when_the_cache_is_locked(small: Path) -> None:
    index = open_index(small, busy_timeout=0.05)
    index.scan()
    counting = CountingView("v1")
    blocker = sqlite3.connect(index.path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        locked = index.rendered(counting.view)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert len(locked.texts) == 7
    assert all(locked.texts)


def _list_view(pretty: bool) -> View:
    def fragment(ticket: Ticket) -> str:
        text = dumps_json(ticket_json(ticket), pretty)
        return "    " + text.replace("\n", "\n    ") if pretty else text

    return View(f"list-json-{pretty}", fragment)


def _list_json(index: TicketIndex, pretty: bool) -> str:
    """The recipe proposed for ``ticketflow list --format json`` (see the issue's report)."""
    listed = index.rendered(_list_view(pretty))
    texts = listed.texts
    summary = dumps_json(listed.summary, pretty)
    if not pretty:
        return '{"summary":' + summary + ',"tickets":[' + ",".join(texts) + "]}"
    tickets = "[\n" + ",\n".join(texts) + "\n  ]" if texts else "[]"
    return '{\n  "summary": ' + summary.replace("\n", "\n  ") + ',\n  "tickets": ' + tickets + "\n}"


@pytest.mark.parametrize("pretty", [True, False])
def test_list_json_from_cached_views_is_byte_identical(
    corpus_repo: Path, repo: Path, pretty: bool
) -> None:
    for root in (corpus_repo, repo):
        store = TicketStore.open(root)
        tickets = store.load_all().tickets
        expected = dumps_json(
            {"tickets": [ticket_json(t) for t in tickets], "summary": summarize(tickets)}, pretty
        )
        index = TicketIndex.open(store)
        assert _list_json(index, pretty) == expected
        assert _list_json(index, pretty) == expected  # from the cache


def test_rendered_from_the_cache_equals_the_full_path(small: Path) -> None:
    (small / "tickets/todo/250109-000000-broken.md").write_text("---\npriority: x\n---\n")
    age_all(small)
    index = open_index(small)
    view = _list_view(True)
    cases: list[dict[str, Any]] = [
        {},
        {"statuses": ("todo", "doing")},
        {"statuses": ("done",)},
        {"priority": 2},
        {"limit": 3},
        {"statuses": ("todo",), "priority": 1, "limit": 1},
    ]
    for options in cases:
        slow = index.rendered(view, **options)  # the first call renders and stores
        fast = index._rendered_from_cache(
            view,
            options.get("statuses", ("todo", "doing", "done")),
            options.get("priority"),
            options.get("limit", 0),
        )
        assert fast is not None, options
        assert (fast.texts, fast.summary) == (slow.texts, slow.summary), options
        assert [p.message for p in fast.problems] == [p.message for p in slow.problems]
        assert [p.message for p in fast.problems] == [
            "tickets/todo/250109-000000-broken.md:2: priority: expected an integer, got 'x'"
        ]
    age(write_ticket(small, "250101-000000-todo-1", description="changed"))
    assert index._rendered_from_cache(view, ("todo",), None, 0) is None  # a file changed
    changed = index.rendered(view)
    assert any('"description": "changed"' in text for text in changed.texts)
    assert index._rendered_from_cache(view, ("todo", "doing", "done"), None, 0) is not None
    assert index._rendered_from_cache(_list_view(False), ("todo",), None, 0) is None  # new key
