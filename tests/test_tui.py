"""The (minimal, until the TUI issue lands) Textual app, driven by keys."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from ticketflow.store import TicketStore
from ticketflow.tui.app import create_app


async def test_lists_tickets_and_reloads(store: TicketStore, repo: Path) -> None:
    a = store.create("alpha", priority=1, description="first")
    store.create("beta", parent="alpha")
    app = create_app(store)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(DataTable)
        assert table.row_count == 2
        assert table.get_row_at(0)[:4] == [a.id, "todo", "1", "first"]
        assert table.get_row_at(1)[4] == a.id  # parent column
        await pilot.press("j")
        assert table.cursor_row == 1
        await pilot.press("k")
        assert table.cursor_row == 0
        store.create("gamma")
        (repo / "tickets/todo/250101-000000-bad.md").write_text("no frontmatter\n")
        await pilot.press("r")
        assert table.row_count == 3
        assert "250101-000000-bad.md:1" in str(app.query_one("#problems").render())
        assert "3 tickets" in app.sub_title
        await pilot.press("q")
    assert app.return_code == 0
