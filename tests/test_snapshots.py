"""SVG snapshots of the TUI at a fixed size, with a frozen clock and fixed data.

Update only for an intended change (``pytest tests/test_snapshots.py --snapshot-update``),
and look at every changed SVG before committing it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import settle_app

from ticketflow.errors import NetworkError
from ticketflow.jobs import JobId, JobProgress, JobStatus
from ticketflow.store import TicketStore
from ticketflow.tui.app import TicketflowApp, create_app

SIZE = (110, 32)


@pytest.fixture(autouse=True)
def no_animation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")


@pytest.fixture
def app(store: TicketStore) -> TicketflowApp:
    store.create("fix-login-timeout", priority=1, description="Login times out after 5 s")
    store.create("dark-mode", description="Offer a dark theme", parent="fix-login")
    store.create("export-csv", priority=3, description="Export the list as CSV")
    store.start("dark-mode")
    store.create("flaky-tests", description="Quarantine the flaky sync tests")
    store.close("flaky-tests", reason="duplicate of #12")
    app = create_app(store, clock=lambda: 100.0)
    app.animation_level = "none"  # the tabs' underline would otherwise slide mid-capture
    return app


async def settle(pilot: Any) -> None:
    await settle_app(pilot.app, pilot)


def run_before(*keys: str, then: Callable[[Any], Awaitable[None]] | None = None) -> Any:
    async def before(pilot: Any) -> None:
        await settle(pilot)
        if keys:
            await pilot.press(*keys)
            await settle(pilot)
        if then is not None:
            await then(pilot)
            await pilot.pause()

    return before


def test_main_screen(snap_compare: Any, app: TicketflowApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before())


def test_detail_screen(snap_compare: Any, app: TicketflowApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before("enter"))


def test_search(snap_compare: Any, app: TicketflowApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before("slash", *"login"))


def test_new_ticket_form(snap_compare: Any, app: TicketflowApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before("n", *"Bad"))


def test_close_dialog(snap_compare: Any, app: TicketflowApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before("c"))


def test_board(snap_compare: Any, app: TicketflowApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before("b"))


def test_help(snap_compare: Any, app: TicketflowApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before("question_mark"))


def test_jobs_screen(snap_compare: Any, app: TicketflowApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before("J"))


async def _running_job(pilot: Any) -> None:
    pilot.app.show_job(
        JobProgress(
            JobId(7),
            "pull",
            JobStatus.RUNNING,
            45,
            120,
            "receiving objects 45/120 (2.2 MiB)",
            100.0,
        )
    )


def test_running_job_at_fixed_progress(snap_compare: Any, app: TicketflowApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before(then=_running_job))


async def _failed_job(pilot: Any) -> None:
    pilot.app.show_job(
        JobProgress(
            JobId(8),
            "push",
            JobStatus.FAILED,
            0,
            None,
            "failed: push to git://example.invalid/team.git failed: timed out",
            100.0,
        )
    )
    pilot.app.show_error(
        NetworkError(
            "push to git://example.invalid/team.git failed: timed out",
            hint="the remote did not answer; check the network or try again later",
        )
    )


SMALL = (80, 24)
"""A first-class size: the list takes the width (no detail pane), the footer keeps ? and q."""


def test_main_screen_at_80x24(snap_compare: Any, app: TicketflowApp) -> None:
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before())


def test_detail_screen_with_a_running_job(snap_compare: Any, app: TicketflowApp) -> None:
    # the pull goes on while a ticket is read: its progress shows here too, x cancels
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before("enter", then=_running_job))


def test_search_that_matches_nothing(snap_compare: Any, app: TicketflowApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before("slash", *"xyz"))


def test_failed_job_notification(snap_compare: Any, app: TicketflowApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before(then=_failed_job))


def test_snapshot_data_is_fixed(app: TicketflowApp, repo: Path) -> None:
    """The snapshots depend on these exact ids and names: a change here is a change there."""
    names = sorted(p.name for p in (repo / "tickets").rglob("*.md"))
    assert names == [
        "250809-115810-fix-login-timeout.md",
        "250809-115811-dark-mode.md",
        "250809-115812-export-csv.md",
        "250809-115814-flaky-tests.md",
    ]
    assert repo.name == "repo"


def test_new_ticket_form_at_80x24(snap_compare: Any, app: TicketflowApp) -> None:
    # every field and both buttons inside the screen at the smallest size we support
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before("n", *"fix-it"))


def test_help_at_80x24(snap_compare: Any, app: TicketflowApp) -> None:
    # the box fits the screen (its border shows) and scrolls for the rows that do not
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before("question_mark"))
