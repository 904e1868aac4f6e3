"""Field-level three-way merge of one ticket (pure: no git)."""

from __future__ import annotations

import difflib
from datetime import UTC, datetime

from ticketflow.merge import merge_related, merge_tickets
from ticketflow.model import Ticket

T0 = datetime(2025, 1, 1, tzinfo=UTC)
T1 = datetime(2025, 1, 2, tzinfo=UTC)


def naive_text_merge(base: str, ours: str, theirs: str) -> tuple[str, bool]:
    """Good enough for tests: clean when only one side differs from base line-wise."""
    if ours == base:
        return theirs, True
    if theirs == base:
        return ours, True
    ours_ops = difflib.SequenceMatcher(None, base, ours).get_opcodes()
    del ours_ops
    return ours + "<<<>>>" + theirs, False


BASE = Ticket(id="250101-000000-x", priority=2, description="d", created_at=T0, body="body\n")


def test_adjacent_fields_merge_cleanly() -> None:
    ours = BASE.with_changes(priority=1)
    theirs = BASE.with_changes(description="better words")
    result = merge_tickets(BASE, ours, theirs, text_merge=naive_text_merge)
    assert result.clean and result.ticket is not None
    assert result.ticket.priority == 1
    assert result.ticket.description == "better words"
    assert result.ticket.raw is None  # neither side: written canonically


def test_same_change_on_both_sides_is_fine_and_keeps_bytes() -> None:
    ours = BASE.with_changes(priority=3)
    result = merge_tickets(BASE, ours, ours.with_changes(), text_merge=naive_text_merge)
    assert result.ticket is ours


def test_different_values_conflict_and_strategy_settles() -> None:
    ours = BASE.with_changes(priority=1)
    theirs = BASE.with_changes(priority=3)
    result = merge_tickets(BASE, ours, theirs, text_merge=naive_text_merge)
    assert result.ticket is None
    assert [(c.field, c.ours, c.theirs) for c in result.conflicts] == [("priority", 1, 3)]
    assert result.conflicts[0].to_json() == {
        "ticket": BASE.id,
        "field": "priority",
        "ours": 1,
        "theirs": 3,
    }
    take_theirs = merge_tickets(BASE, ours, theirs, text_merge=naive_text_merge, strategy="theirs")
    assert take_theirs.ticket is not None and take_theirs.ticket.priority == 3
    take_ours = merge_tickets(BASE, ours, theirs, text_merge=naive_text_merge, strategy="ours")
    assert take_ours.ticket is not None and take_ours.ticket.priority == 1


def test_start_on_one_side_and_edit_on_the_other() -> None:
    ours = BASE.with_changes(started_at=T1)
    theirs = BASE.with_changes(description="clarified", body="body\nmore\n")
    result = merge_tickets(BASE, ours, theirs, text_merge=naive_text_merge)
    assert result.ticket is not None
    assert result.ticket.started_at == T1
    assert result.ticket.description == "clarified"
    assert result.ticket.body == "body\nmore\n"


def test_body_conflict_is_reported() -> None:
    ours = BASE.with_changes(body="mine\n")
    theirs = BASE.with_changes(body="yours\n")
    result = merge_tickets(BASE, ours, theirs, text_merge=naive_text_merge)
    assert [c.field for c in result.conflicts] == ["body"]
    settled = merge_tickets(BASE, ours, theirs, text_merge=naive_text_merge, strategy="ours")
    assert settled.ticket is not None and settled.ticket.body == "mine\n"


def test_related_merges_as_additions_and_removals() -> None:
    assert merge_related(("a", "b"), ("a", "b", "c"), ("b", "d")) == ("b", "c", "d")
    assert merge_related((), ("x",), ("x",)) == ("x",)


def test_unknown_keys_merge_key_by_key() -> None:
    base = BASE.with_changes(extra=(("team", "core"), ("size", "m")))
    ours = base.with_changes(extra=(("team", "ui"), ("size", "m")))
    theirs = base.with_changes(extra=(("team", "core"), ("size", "l"), ("new", 1)))
    result = merge_tickets(base, ours, theirs, text_merge=naive_text_merge)
    assert result.ticket is not None
    assert result.ticket.extra == (("team", "ui"), ("size", "l"), ("new", 1))
    gone = merge_tickets(
        base, base.with_changes(extra=(("size", "m"),)), base, text_merge=naive_text_merge
    )
    assert gone.ticket is not None and gone.ticket.extra == (("size", "m"),)


def test_added_on_both_sides_without_base() -> None:
    a = BASE.with_changes(priority=1)
    b = BASE.with_changes(priority=1, description="other")
    result = merge_tickets(None, a, b, text_merge=naive_text_merge)
    assert [c.field for c in result.conflicts] == ["description"]
