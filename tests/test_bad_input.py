"""Hostile and broken ticket files: the scan reports each one and never crashes.

The collection is generated (a 10 MB file and random bytes have no place in git). Each case
names the outcome the scan must report: a problem code and line, or a ticket that lists.
Where the reference reader (``TicketStore.read_file``) can read the file without crashing,
the index must agree with it exactly (same message, same line); for the two nesting bombs the
reference parser itself overflows the C stack, which is why the index refuses them first.
"""

from __future__ import annotations

import json
import os
import random
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import Cli

from ticketflow.errors import MalformedTicketError
from ticketflow.index import Severity, TicketIndex
from ticketflow.model import Status
from ticketflow.store import TicketStore
from ticketflow.ticketfiles import TicketFile

OK = "ok"
MISSING_ALL = ("invalid-priority", "missing-field")
TODO = "tickets/todo"
CANON = (
    '---\npriority: 2\ndescription: fine\ncreated_at: "2025-01-02T03:04:05+09:00"\n'
    "started_at: null\nclosed_at: null\n---\n\nbody\n"
)


@dataclass(frozen=True)
class Bad:
    """One file of the collection and what the scan must say about it."""

    name: str
    content: bytes
    code: str
    """The problem code, or ``OK`` when the file is a ticket that lists."""
    line: int | None = None
    reference: bool = True
    """Whether ``TicketStore.read_file`` can be asked too (it cannot survive every file)."""
    warnings: tuple[str, ...] = ()
    """Warning codes a ticket that lists gets (fields missing or out of range)."""

    @property
    def ticket_id(self) -> str:
        return f"250101-000000-{self.name}"


def _b(text: str) -> bytes:
    return text.encode("utf-8")


def _alias_bomb() -> bytes:
    lines = ["---", 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return _b("\n".join(lines) + "\n---\n\nbody\n")


def _binary(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)  # noqa: S311 - reproducible junk


def bad_inputs(marker: Path) -> list[Bad]:
    """The collection; ``marker`` is a file that code execution would create."""
    big_body = "x" * 99 + "\n"
    return [
        Bad(
            "no-closing-fence",
            _b("---\npriority: 2\ndescription: x\n\nbody\n"),
            "unclosed-frontmatter",
            1,
        ),
        Bad("only-opening-fence", b"---", "unclosed-frontmatter", 1),
        Bad("no-frontmatter", _b("# Just a title\n\nSome text\n"), "no-frontmatter", 1),
        Bad("empty-file", b"", "no-frontmatter", 1),
        Bad(
            "frontmatter-only",
            _b("---\npriority: 1\ndescription: header only\n---\n"),
            OK,
            warnings=("missing-field",),
        ),
        Bad("empty-frontmatter", _b("---\n---\n"), OK, warnings=MISSING_ALL),
        Bad(
            "priority-below-one",
            _b('---\npriority: -3\ncreated_at: "2025-01-02T03:04:05Z"\n---\n'),
            OK,
            warnings=("invalid-priority",),
        ),
        Bad(
            "tab-indented-list",
            _b("---\npriority: 2\nrelated:\n\t- parent:x\n---\n"),
            "invalid-yaml",
            4,
        ),
        Bad(
            "tab-before-value",
            _b("---\npriority: 2\ndescription:\tafter a tab\n---\n"),
            OK,
            warnings=("missing-field",),
        ),
        Bad("crlf", CANON.replace("\n", "\r\n").encode(), OK),
        Bad("bom", b"\xef\xbb\xbf" + CANON.encode(), OK),
        Bad("bom-crlf", b"\xef\xbb\xbf" + CANON.replace("\n", "\r\n").encode(), OK),
        Bad("cr-only", CANON.replace("\n", "\r").encode(), "no-frontmatter", 1),
        Bad(
            "invalid-date", _b('---\ncreated_at: "2025-13-45T00:00:00Z"\n---\n'), "invalid-time", 2
        ),
        Bad(
            "date-without-offset",
            _b('---\nstarted_at: "2025-01-02T03:04:05"\n---\n'),
            "invalid-time",
            2,
        ),
        Bad("date-words", _b("---\nclosed_at: yesterday\n---\n"), "invalid-time", 2),
        Bad("priority-word", _b("---\npriority: high\n---\n"), "wrong-type", 2),
        Bad("priority-float", _b("---\npriority: 1.5\n---\n"), "wrong-type", 2),
        Bad("priority-quoted", _b('---\npriority: "1"\n---\n'), "wrong-type", 2),
        Bad("priority-bool", _b("---\ndescription: x\npriority: true\n---\n"), "wrong-type", 3),
        Bad(
            "priority-beyond-int64",
            _b("---\npriority: 99999999999999999999\n---\n"),
            OK,
            warnings=("missing-field",),
        ),
        Bad(
            "priority-5000-digits", _b("---\npriority: " + "9" * 5000 + "\n---\n"), "wrong-type", 2
        ),
        Bad("description-list", _b("---\ndescription: [a, b]\n---\n"), "wrong-type", 2),
        Bad("related-scalar", _b("---\nrelated: parent:x\n---\n"), "wrong-type", 2),
        Bad("related-mapping-item", _b("---\nrelated:\n    - {a: 1}\n---\n"), "wrong-type", 2),
        Bad(
            "python-object-apply",
            _b(f"---\nx: !!python/object/apply:os.system ['touch {marker}']\n---\n"),
            "unsupported-tag",
            2,
        ),
        Bad(
            "python-object-new",
            _b(f"---\npriority: 2\nx: !!python/object/new:os.system ['touch {marker}']\n---\n"),
            "unsupported-tag",
            3,
        ),
        Bad("python-name", _b("---\nx: !!python/name:os.system\n---\n"), "unsupported-tag", 2),
        Bad("alias-bomb", _alias_bomb(), "too-large", 6),
        Bad("duplicate-key", _b("---\npriority: 1\npriority: 2\n---\n"), "duplicate-key", 3),
        Bad("list-frontmatter", _b("---\n- a\n- b\n---\n"), "not-a-mapping", 2),
        Bad("scalar-frontmatter", _b("---\njust words\n---\n"), "not-a-mapping", 2),
        Bad(
            "unclosed-flow",
            _b("---\npriority: 2\ndescription: [unclosed\n---\n"),
            "invalid-yaml",
            4,
        ),
        Bad("nul-in-header", _b("---\ndescription: a\x00b\n---\n"), "invalid-yaml", None),
        Bad("huge-int-extra", _b("---\nestimate: " + "9" * 5000 + "\n---\n"), "invalid-value", 2),
        Bad("binary-garbage", _binary(1, 4096), "not-utf8", 1),
        Bad("binary-nul-ascii", bytes(range(0, 128)) * 8, "no-frontmatter", 1),
        Bad("latin1-description", b"---\npriority: 2\ndescription: caf\xe9\n---\n", "not-utf8", 3),
        Bad(
            "latin1-deep-in-10mb",
            b"---\npriority: 2\n---\n\n" + big_body.encode() * 100_000 + b"caf\xe9\n",
            "not-utf8",
            100_005,
        ),
        Bad("ten-mb-body", CANON.encode() + big_body.encode() * 100_000, "large-file"),
        Bad("three-mb-one-line", b"x" * (3 << 20), "no-frontmatter", 1),
        Bad(
            "huge-unclosed-header",
            _b("---\n" + "".join(f"k{i}: v\n" for i in range(40_000))),
            "unclosed-frontmatter",
            1,
        ),
        Bad(
            "deep-flow-nesting",
            _b("---\na: " + "[" * 50_000 + "]" * 50_000 + "\n---\n"),
            "too-deep",
            2,
            False,
        ),
        Bad(
            "deep-dash-nesting",
            _b("---\na:\n  " + "- " * 40_000 + "x\n---\n"),
            "too-deep",
            3,
            False,
        ),
    ]


@pytest.fixture
def bad_repo(repo: Path, tmp_path: Path) -> tuple[Path, list[Bad], Path]:
    marker = tmp_path / "pwned"
    cases = bad_inputs(marker)
    todo = repo / TODO
    todo.mkdir(parents=True)
    for case in cases:
        (todo / f"{case.ticket_id}.md").write_bytes(case.content)
    for n in range(3):  # the good tickets that must still list
        (todo / f"250101-00000{n}-good-{n}.md").write_text(CANON, encoding="utf-8")
    return repo, cases, marker


def test_the_collection_is_large_enough_and_distinct() -> None:
    cases = bad_inputs(Path("/nonexistent"))
    assert len(cases) >= 30
    assert len({c.name for c in cases}) == len(cases)


def test_every_bad_file_is_reported_and_the_rest_still_lists(
    bad_repo: tuple[Path, list[Bad], Path],
) -> None:
    repo, cases, marker = bad_repo
    index = TicketIndex.open(TicketStore.open(repo))
    result = index.scan()
    by_path: dict[str, list[tuple[str, int | None]]] = {}
    warned: dict[str, set[str]] = {}
    for problem in result.problems:
        if problem.severity is Severity.WARNING and problem.code != "large-file":
            warned.setdefault(problem.path, set()).add(problem.code)
        else:
            by_path.setdefault(problem.path, []).append((problem.code, problem.line))
    wrong = []
    for case in cases:
        rel = f"{TODO}/{case.ticket_id}.md"
        found = by_path.get(rel, [])
        if (found != []) if case.code == OK else ((case.code, case.line) not in found):
            wrong.append((case.name, found))
        if warned.get(rel, set()) != set(case.warnings):
            wrong.append((case.name, sorted(warned.get(rel, ()))))
    assert wrong == []
    assert not marker.exists(), "a YAML tag ran code"
    loaded = index.load()
    listed = {t.id for t in loaded.tickets}
    assert {f"250101-00000{n}-good-{n}" for n in range(3)} <= listed
    for case in cases:
        malformed = case.code not in (OK, "large-file")
        assert (case.ticket_id in listed) is not malformed, case.name
    assert len(loaded.problems) == sum(c.code not in (OK, "large-file") for c in cases)
    assert result.exit_code == 1
    assert result.counts.malformed == len(loaded.problems)
    large = [p for p in result.problems if p.code == "large-file"]
    assert all(p.severity is Severity.WARNING for p in large)


def test_the_index_reads_bad_files_exactly_as_the_store_does(
    bad_repo: tuple[Path, list[Bad], Path],
) -> None:
    repo, cases, _marker = bad_repo
    store = TicketStore.open(repo)
    loaded = TicketIndex.open(store).load(bodies=True)
    tickets = {t.id: t for t in loaded.tickets}
    problems = {p.path: p for p in loaded.problems}
    for case in cases:
        if not case.reference:
            continue
        rel = f"{TODO}/{case.ticket_id}.md"
        tf = TicketFile(case.ticket_id, Status.TODO, repo / rel)
        try:
            expected = store.read_file(tf)
        except MalformedTicketError as exc:
            got = problems[rel]
            assert (got.message, got.line, got.hint) == (exc.message, exc.line, exc.hint)
        else:
            assert tickets[case.ticket_id] == expected, case.name
            assert tickets[case.ticket_id].raw == expected.raw, case.name


def test_a_second_scan_reports_the_same_from_the_cache(
    bad_repo: tuple[Path, list[Bad], Path],
) -> None:
    repo, _cases, _marker = bad_repo
    index = TicketIndex.open(TicketStore.open(repo))
    first = index.scan()
    _age_files(repo)
    index.scan()  # files were touched: parsed again, lint cached
    again = index.scan()
    assert again.counts.parsed == 1  # only the priority SQLite cannot store as an integer
    assert again.problems == first.problems


def test_memory_stays_bounded_on_huge_files(repo: Path) -> None:
    todo = repo / TODO
    todo.mkdir(parents=True)
    body = ("y" * 99 + "\n") * 300_000  # 30 MB
    (todo / "250101-000000-huge.md").write_text(CANON + body, encoding="utf-8")
    (todo / "250101-000001-huge-bad-end.md").write_bytes(CANON.encode() + body.encode() + b"\xff")
    del body
    index = TicketIndex.open(TicketStore.open(repo))
    tracemalloc.start()
    try:
        result = index.scan()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12 << 20, f"peak {peak >> 20} MiB while scanning 30 MB files"
    codes = {(p.path.rsplit("/", 1)[-1], p.code) for p in result.problems}
    assert ("250101-000000-huge.md", "large-file") in codes
    assert ("250101-000001-huge-bad-end.md", "not-utf8") in codes
    assert result.counts.tickets == 1


def test_special_entries_are_ignored_and_counted(repo: Path) -> None:
    todo = repo / TODO
    todo.mkdir(parents=True)
    (todo / "250101-000000-real.md").write_text(CANON, encoding="utf-8")
    (todo / "250101-000001-a-folder.md").mkdir()
    (todo / "250101-000001-a-folder.md" / "inside.txt").write_text("x")
    os.symlink(todo / "missing.md", todo / "250101-000002-broken-link.md")
    (todo / ".tf-tmp-250101-000003-x.md.abc").write_text(CANON)
    (todo / "README.md").write_text("# notes\n")
    (repo / "tickets" / "cancelled").mkdir()
    (repo / "tickets" / "cancelled" / "250101-000004-old.md").write_text(CANON)
    (repo / "tickets" / "notes.txt").write_text("x")
    result = TicketIndex.open(TicketStore.open(repo)).scan()
    # a link with a ticket's name is never followed, whatever it points at (here nothing):
    # it is reported, not silently ignored (tests/test_hostile.py)
    assert result.counts.files == 2
    assert result.counts.tickets == 1
    assert [(p.path.rsplit("/", 1)[1], p.code) for p in result.problems] == [
        ("250101-000002-broken-link.md", "symlink")
    ]
    # the folder's file, the temp file, README, cancelled/, notes.txt
    assert result.counts.ignored == 5


def _age_files(repo: Path) -> None:
    """Move every ticket's mtime an hour back, out of the racy window of the next scan."""
    for path in (repo / "tickets").rglob("*.md"):
        if path.is_file() and not path.is_symlink():
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 3_600_000_000_000))


def test_a_header_without_fields_lists_with_the_go_tools_values(repo: Path, run: Cli) -> None:
    # the Go tool reads ``---\n---\n`` as priority 0 (Go's zero value) and no creation time;
    # we list the same values, not defaults of our own, and scan says what is missing
    todo = repo / TODO
    todo.mkdir(parents=True)
    (todo / "250101-000000-empty.md").write_text("---\n---\n", encoding="utf-8")
    (todo / "250101-000001-fine.md").write_text(CANON.replace("priority: 2", "priority: 1"))
    listed = json.loads(run(repo, "list", "--format", "json").output)
    assert [(t["id"], t["priority"], t["created_at"]) for t in listed["tickets"]] == [
        ("250101-000000-empty", 0, None),
        ("250101-000001-fine", 1, "2025-01-02T03:04:05+09:00"),
    ]
    shown = json.loads(run(repo, "show", "250101-000000", "--format", "json").output)
    assert shown["ticket"]["priority"] == 0
    scan = run(repo, "scan", "--format", "json")
    assert scan.exit_code == 0  # warnings only
    found = {(p["code"], p["severity"]) for p in json.loads(scan.output)["problems"]}
    assert found == {("missing-field", "warning"), ("invalid-priority", "warning")}


def test_an_oversized_header_says_it_is_too_large_not_unclosed(repo: Path) -> None:
    todo = repo / TODO
    todo.mkdir(parents=True)
    long_header = "---\n" + "".join(f"k{i}: {'v' * 60}\n" for i in range(5000)) + "---\n\nb\n"
    (todo / "250101-000000-long.md").write_text(long_header)
    unclosed = "---\n" + "".join(f"k{i}: {'v' * 60}\n" for i in range(5000)) + "\nb\n"
    (todo / "250101-000001-open.md").write_text(unclosed)
    store = TicketStore.open(repo)
    found = {
        p.path.rsplit("/", 1)[-1]: (p.code, p.message)
        for p in TicketIndex.open(store).scan().problems
    }
    code, message = found["250101-000000-long.md"]
    assert code == "too-large"
    assert "longer than 256 KiB" in message
    assert found["250101-000001-open.md"][0] == "unclosed-frontmatter"
    with pytest.raises(MalformedTicketError) as info:
        store.get("250101-000000")
    assert info.value.code == "too-large"


@pytest.mark.parametrize(
    "args",
    [
        ["new", "a" * 10_000 + "B"],
        ["new", "x", "--priority", "9" * 5000],
        ["show", "z" * 10_000],
        ["list", "--priority", "1" * 5000],
    ],
)
def test_errors_never_echo_unbounded_input(repo: Path, run: Cli, args: list[str]) -> None:
    result = run(repo, *args)
    assert result.exit_code != 0
    assert len(result.output) < 600, result.output
    assert "characters)" in result.output  # says how long the value was


def test_a_wrong_type_quotes_only_the_start_of_the_value(repo: Path) -> None:
    todo = repo / TODO
    todo.mkdir(parents=True)
    (todo / "250101-000000-x.md").write_text("---\ncreated_at: " + "y" * 10_000 + "\n---\n")
    with pytest.raises(MalformedTicketError) as info:
        TicketStore.open(repo).get("250101-000000")
    assert info.value.code == "invalid-time"
    assert len(info.value.message) < 200
