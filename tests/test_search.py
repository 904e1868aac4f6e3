"""The TUI's search pieces: head matching, body matching with cancel, the body split."""

from __future__ import annotations

from typing import NamedTuple

from ticketflow.tui.search import SearchIndex, body_matches, split_body


class Row(NamedTuple):
    id: str
    description: str


ROWS = [
    Row("250101-000001-login", "Login times out"),
    Row("250101-000002-cache", "Cache the index"),
    Row("250101-000003-lagging", "Loop lag in the list"),
    Row("250101-000004-other", "Nothing to see"),
]
BODIES = {
    ROWS[0].id: "the login page",
    ROWS[1].id: "mentions LOGIN once",
    ROWS[2].id: "nothing",
    ROWS[3].id: "also the login form",
}


def test_heads_rank_substring_before_fuzzy() -> None:
    index = SearchIndex(ROWS)
    assert index.search("log") == [ROWS[0], ROWS[2]]  # "loop lag": in order, fuzzy
    assert index.search("lgn") == [ROWS[0], ROWS[2]]  # in order, not adjacent
    assert index.search("la") == [ROWS[2]]
    assert index.search("in") == [ROWS[0], ROWS[1], ROWS[2], ROWS[3]]  # all substring
    assert index.search("lt") == [ROWS[0], ROWS[2]]  # fuzzy only, in list order
    assert index.search("to") == [ROWS[3], ROWS[0]]  # substring first, then fuzzy
    assert index.search("   ") == ROWS


def test_body_matches_skip_heads_and_keep_list_order() -> None:
    found = body_matches(ROWS, "Login", {ROWS[0].id}, lambda r: BODIES.get(r.id))
    assert found == [ROWS[1], ROWS[3]]  # case-insensitive, list order, heads left out
    assert body_matches(ROWS, "  ", set(), lambda r: BODIES.get(r.id)) == []
    unreadable = body_matches(ROWS, "login", set(), lambda r: None)
    assert unreadable == []


def test_body_matches_stop_when_cancelled_and_report_progress() -> None:
    many = [Row(f"250101-{i:06d}-x", "d") for i in range(1000)]
    seen: list[tuple[int, int]] = []
    calls = 0

    def cancelled() -> bool:
        nonlocal calls
        calls += 1
        return calls > 2

    def body_of(row: Row) -> str:
        return "x"

    def progress(done: int, total: int) -> None:
        seen.append((done, total))

    assert body_matches(many, "x", set(), body_of, cancelled, progress) is None
    assert seen == [(0, 1000), (256, 1000)]


def test_split_body() -> None:
    assert split_body("---\na: 1\n---\n\n# Body\n") == "\n# Body\n"
    assert split_body("---\na: 1\n---") == ""
    assert split_body("no frontmatter") == "no frontmatter"
    assert split_body("---\nunterminated\n") == "---\nunterminated\n"
