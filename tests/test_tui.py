"""The TUI driven by keys (Textual pilot), asserting on state."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest
from conftest import git, settle_app
from textual.binding import Binding
from textual.widgets import Input, Tabs

from ticketflow.model import Status
from ticketflow.store import TicketStore
from ticketflow.tui.app import TicketflowApp, create_app
from ticketflow.tui.screens.forms import CloseTicketScreen, EditRejectedScreen, NewTicketScreen
from ticketflow.tui.screens.info import BoardScreen, DetailScreen, HelpScreen
from ticketflow.tui.widgets.detail import DetailPane
from ticketflow.tui.widgets.ticket_list import TicketList

SIZE = (120, 34)


@pytest.fixture
def filled(store: TicketStore) -> TicketStore:
    store.create("alpha", priority=1, description="first thing")
    store.create("beta", description="second thing", parent="alpha")
    store.create("gamma", priority=3, description="unrelated")
    store.start("beta")
    return store


async def settle(app: TicketflowApp, pilot: object) -> None:
    await settle_app(app, pilot)


def shown(app: TicketflowApp) -> str:
    """The screen's text, line by line, as a person reads it."""
    import html
    import re

    svg = app.export_screenshot()
    lines: dict[str, list[str]] = {}
    for line, text in re.findall(r'clip-path="url\(#[^)]*-line-(\d+)\)">([^<]*)<', svg):
        lines.setdefault(line, []).append(html.unescape(text).replace("\xa0", " "))
    return "\n".join("".join(lines[k]) for k in sorted(lines, key=int))


def ids(app: TicketflowApp) -> list[str]:
    return [t.slug for t in app.main.query_one(TicketList).tickets]


async def test_list_tabs_and_detail(filled: TicketStore) -> None:
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert ids(app) == ["alpha", "beta", "gamma"]
        detail = app.main.query_one(DetailPane)
        assert detail.ticket is not None and detail.ticket.slug == "alpha"
        await pilot.press("j")
        assert detail.ticket is not None and detail.ticket.slug == "beta"
        await pilot.press("G")
        assert app.main.query_one(TicketList).cursor == 2
        await pilot.press("g")
        assert app.main.query_one(TicketList).cursor == 0
        await pilot.press("2")
        assert ids(app) == ["beta"]
        await pilot.press("1")
        assert ids(app) == ["alpha", "gamma"]
        await pilot.press("tab")
        assert app.main.tab == "doing"
        await pilot.press("shift+tab", "shift+tab")
        assert app.main.tab == "all"
        assert str(app.main.query_one(Tabs).query_one("#tab-todo").label) == "Todo"
        assert app.sub_title.endswith("3 tickets (2 todo, 1 doing, 0 done)")
        await pilot.press("a", "enter")
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("escape")
        assert app.screen is app.main


async def test_search_filters_and_escape_clears(filled: TicketStore) -> None:
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("slash")
        assert app.main.query_one("#search", Input).has_focus
        await pilot.press(*"thing")
        assert ids(app) == ["alpha", "beta"]
        await pilot.press("backspace", "backspace", "backspace", "backspace", "backspace")
        await pilot.press(*"sec")
        assert ids(app) == ["beta"]
        await pilot.press("enter")
        assert app.main.query_one(TicketList).has_focus
        await pilot.press("escape")
        assert ids(app) == ["alpha", "beta", "gamma"]
        assert not app.main.query_one("#search", Input).display


async def test_new_ticket_form_validates_as_you_type(filled: TicketStore) -> None:
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("n")
        form = app.screen
        assert isinstance(form, NewTicketScreen)
        await pilot.press(*"Bad Slug")
        assert "invalid slug" in str(form.query_one("#problem").render())
        assert form.query_one("#create").disabled
        form.query_one("#slug", Input).value = ""
        await pilot.click("#slug")
        await pilot.press(*"delta")
        await pilot.pause()
        assert not form.query_one("#create").disabled
        form.query_one("#parent", Input).value = "nope"
        await pilot.pause()
        assert "parent: no ticket matches" in str(form.query_one("#problem").render())
        form.query_one("#parent", Input).value = "alpha"
        form.query_one("#description", Input).value = "from the form"
        await pilot.pause()
        await pilot.click("#create")
        await settle(app, pilot)
        assert app.screen is app.main
        created = filled.get("delta")
        assert created.description == "from the form"
        assert created.parent is not None and created.parent.endswith("alpha")
        assert "delta" in ids(app)


async def test_start_close_reopen(filled: TicketStore, repo: Path) -> None:
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("G")  # gamma, todo
        await pilot.press("s")
        await settle(app, pilot)
        assert filled.get("gamma").status is Status.DOING
        await pilot.press("c")
        dialog = app.screen
        assert isinstance(dialog, CloseTicketScreen)
        await pilot.press(*"done now", "enter")
        await settle(app, pilot)
        closed = filled.get("gamma")
        assert closed.status is Status.DONE and closed.closure_reason == "done now"
        assert git(repo, "branch", "--list", closed.id).strip()  # the start made a branch
        assert any(  # so closing says how to remove it
            n.message == f"Its branch/worktree remain: ticketflow cleanup {closed.id}"
            for n in app._notifications
        )
        await pilot.press("o")
        await settle(app, pilot)
        assert filled.get("gamma").status is Status.DOING
        assert "Reopen ticket:" in git(repo, "log", "-1", "--format=%s")


async def test_close_refuses_uncommitted_work_as_the_cli_does(
    filled: TicketStore, repo: Path
) -> None:
    from ticketflow.worktrees import find_worktree

    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("G")  # gamma, todo
        await pilot.press("s")  # started: in a worktree of its own
        await settle(app, pilot)
        ticket = filled.get("gamma")
        assert ticket.status is Status.DOING
        worktree = find_worktree(repo, ticket.id)
        assert worktree is not None
        dirty = worktree.path / "notes.txt"
        dirty.write_text("not committed\n")
        await pilot.press("c", *"done", "enter")
        await settle(app, pilot)
        assert filled.get("gamma").status is Status.DOING  # not closed
        errors = [n.message for n in app._notifications if n.severity == "error"]
        assert any("uncommitted changes (notes.txt)" in m for m in errors), errors
        assert any("commit the changes in its worktree first" in m for m in errors), errors
        dirty.unlink()
        await pilot.press("c", *"done", "enter")
        await settle(app, pilot)
        assert filled.get("gamma").status is Status.DONE


async def test_closing_a_todo_ticket_needs_a_reason(filled: TicketStore) -> None:
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("c")  # alpha is todo
        dialog = app.screen
        assert isinstance(dialog, CloseTicketScreen) and dialog.reason_required
        await pilot.press("enter")
        assert "a reason is required" in str(dialog.query_one("#problem").render())
        await pilot.press("escape")
        assert app.screen is app.main
        assert filled.get("alpha").status is Status.TODO


async def test_errors_become_notifications(filled: TicketStore) -> None:
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("j", "s")  # beta is already started
        await settle(app, pilot)
        assert any("already started" in n.message for n in app._notifications)


async def test_board_and_help(filled: TicketStore) -> None:
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("b")
        board = app.screen
        assert isinstance(board, BoardScreen)
        columns = {s.value: board.query_one(f"#board-{s.value}", TicketList) for s in Status}
        assert [t.slug for t in columns["todo"].tickets] == ["alpha", "gamma"]
        assert [t.slug for t in columns["doing"].tickets] == ["beta"]
        await pilot.press("escape", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert app.screen is app.main


async def test_edit_in_editor(
    filled: TicketStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "ed.py"
    script.write_text(
        "import sys, pathlib\np = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('description: first thing', 'description: edited'))\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("e")
        await settle(app, pilot)
        assert filled.get("alpha").description == "edited"
        detail = app.main.query_one(DetailPane)
        assert detail.ticket is not None and detail.ticket.description == "edited"


async def test_edit_while_another_command_closes_the_ticket(
    filled: TicketStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the editor is open when a `ticketflow close` in another terminal moves the file: the
    # TUI's edit lands on the closed ticket (both changes kept, one file), not in doing/
    beta = filled.get("beta")
    script = tmp_path / "ed.py"
    script.write_text(
        "import subprocess, sys, pathlib\np = pathlib.Path(sys.argv[1])\n"
        f"subprocess.run([sys.executable, '-m', 'ticketflow', 'close', {beta.id!r}, "
        "'--reason', 'elsewhere'], check=True, capture_output=True)\n"
        "p.write_text(p.read_text().replace('description: second thing', 'description: mine'))\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    monkeypatch.chdir(filled.root)
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("down", "e")  # beta is the second row
        await settle(app, pilot)
        now = filled.get("beta")
        assert (now.description, now.status.value, now.closure_reason) == (
            "mine",
            "done",
            "elsewhere",
        )
        assert sorted(p.parent.name for p in filled.root.glob(f"tickets/*/{beta.id}.md")) == [
            "done"
        ]


async def test_unreadable_files_are_reported_not_fatal(filled: TicketStore, repo: Path) -> None:
    (repo / "tickets/todo/250101-000000-broken.md").write_text("no frontmatter\n")
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert len(ids(app)) == 3
        assert "1 unreadable" in app.sub_title
        assert any("could not be read" in (n.title or "") for n in app._notifications)
        await pilot.press("q")
    assert app.return_code == 0


# --- jobs: pull, push, ESC -------------------------------------------------------------------

from conftest import Team, snapshot  # noqa: E402

from ticketflow.git.transport import push  # noqa: E402
from ticketflow.jobs import JobProgress, JobStatus  # noqa: E402
from ticketflow.tui.screens.jobs import JobsScreen  # noqa: E402
from ticketflow.tui.widgets.jobs_bar import JobStatusBar  # noqa: E402


async def wait_until(pilot: object, condition: object, rounds: int = 600) -> None:
    for _ in range(rounds):
        if condition():  # type: ignore[operator]
            return
        await pilot.pause(0.05)  # type: ignore[attr-defined]
    raise AssertionError("condition not reached")


async def test_pull_brings_new_tickets_and_reports(team: Team) -> None:
    bob = team.store(team.bob)
    bob.create("teammate-work", description="pulled in the TUI")
    await asyncio.to_thread(push, team.bob, bob.config)
    alice = team.store(team.alice)
    app = create_app(alice)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "teammate-work" not in ids(app)
        bar = app.main.query_one(JobStatusBar)
        seen: list[JobProgress] = []
        update = app.jobs_board.update

        def record(progress: JobProgress, *, quiet: bool = False) -> None:
            seen.append(progress)
            update(progress, quiet=quiet)

        app.jobs_board.update = record  # type: ignore[method-assign]
        await pilot.press("p")
        await settle(app, pilot)
        pulls = [p for p in seen if p.kind == "pull"]
        assert pulls and pulls[-1].status is JobStatus.COMPLETED  # it reached the status bar
        assert any(p.kind == "scan" for p in seen)  # the scan after the pull ran and showed
        assert bar.last is not None and bar.last.kind == "pull"  # but the pull is what is said
        await settle(app, pilot)
        await wait_until(pilot, lambda: "teammate-work" in ids(app))
        assert any("fast-forward" in n.message for n in app._notifications)
        await pilot.press("J")
        assert isinstance(app.screen, JobsScreen)
        from textual.widgets import DataTable

        table = app.screen.query_one(DataTable)
        assert table.row_count >= 1
        rows = [table.get_row_at(i)[1:3] for i in range(table.row_count)]  # newest first
        pulled = rows.index(["pull", "completed"])
        assert rows[pulled - 1] == ["scan", "completed"]  # the pull is followed by a scan
        await pilot.press("escape")


async def test_pull_push_and_sync_keys_work_on_every_screen(team: Team) -> None:
    from ticketflow.tui.screens.info import BoardScreen, DetailScreen

    alice = team.store(team.alice)
    app = create_app(alice)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        kinds: list[str] = []
        update = app.jobs_board.update

        def record(progress: JobProgress, *, quiet: bool = False) -> None:
            if progress.is_terminal and progress.kind in ("pull", "push"):
                kinds.append(progress.kind)
            update(progress, quiet=quiet)

        app.jobs_board.update = record  # type: ignore[method-assign]
        for opener, screen, key, expected in (
            ("enter", DetailScreen, "p", ["pull"]),
            ("b", BoardScreen, "P", ["push"]),
            ("J", JobsScreen, "S", ["pull", "push"]),
        ):
            await pilot.press(opener)
            await settle(app, pilot)
            assert isinstance(app.screen, screen)
            assert key in app.screen.active_bindings
            kinds.clear()
            await pilot.press(key)
            await wait_until(pilot, lambda expected=expected: kinds == expected)
            await settle(app, pilot)
            assert isinstance(app.screen, screen)  # the key did not leave the screen
            await pilot.press("escape")
            await settle(app, pilot)
            assert app.screen is app.main


async def test_esc_cancels_a_running_pull_for_real(slow_clone: Path) -> None:
    before = snapshot(slow_clone)
    app = create_app(TicketStore.open(slow_clone))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("p")
        bar = app.main.query_one(JobStatusBar)
        await wait_until(
            pilot,
            lambda: any(p.total and p.current > 0 for p in bar.active.values()),
        )
        running = next(iter(bar.active.values()))
        assert running.kind == "pull" and running.status is JobStatus.RUNNING
        assert "objects" in running.message and running.percentage is not None
        screen = app.export_screenshot().replace("&#160;", " ")
        assert "receiving objects" in screen  # drawn in the status bar
        await pilot.press("escape")
        await wait_until(pilot, lambda: bar.last is not None and bar.last.kind == "pull")
        assert bar.last is not None and bar.last.status is JobStatus.CANCELLED
        assert bar.last.message.startswith("cancelled: ")
        assert bar.last.message.endswith("/203 objects")
    assert snapshot(slow_clone) == before
    assert "refs/remotes/origin/main" not in git(slow_clone, "for-each-ref")
    git(slow_clone, "fsck", "--strict")


async def test_jobs_screen_x_cancels_and_quit_during_a_job(slow_clone: Path) -> None:
    app = create_app(TicketStore.open(slow_clone))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("p")
        bar = app.main.query_one(JobStatusBar)
        await wait_until(pilot, lambda: any(p.current > 0 for p in bar.active.values()))
        await pilot.press("J")
        assert isinstance(app.screen, JobsScreen)
        await pilot.press("x")
        await wait_until(pilot, lambda: bar.last is not None and bar.last.kind == "pull")
        assert bar.last is not None and bar.last.status is JobStatus.CANCELLED
        await pilot.press("escape", "p")
        await wait_until(pilot, lambda: bool(bar.active))
        started = time.monotonic()
        await pilot.press("q")
        await wait_until(pilot, lambda: app.return_code is not None, rounds=200)
        waited = time.monotonic() - started
    assert app.return_code == 0
    assert app.queue is not None and app.queue.closed
    del waited  # timing is measured by the benchmark, not asserted here
    assert "refs/remotes/origin/main" not in git(slow_clone, "for-each-ref")


async def test_esc_with_no_job_says_so(filled: TicketStore) -> None:
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("escape")
        assert any("No job is running" in n.message for n in app._notifications)


async def test_changes_made_outside_show_up(filled: TicketStore) -> None:
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        other = TicketStore.open(filled.root)  # another process, an editor, a pull...
        await asyncio.to_thread(other.create, "from-outside")
        await wait_until(pilot, lambda: "from-outside" in ids(app), rounds=200)


async def test_the_tuis_scans_run_in_a_child_process(
    filled: TicketStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every scan the TUI starts (the one at start-up, ``r``) is isolated: parsing in a
    thread of the TUI's process would hold the GIL and stall the event loop, and a process
    pool cannot be started from inside a running Textual app ("bad value(s) in
    fds_to_keep"). ``r`` announces its outcome; the start-up scan is quiet."""
    from ticketflow.jobs.runners import IsolatedRunner
    from ticketflow.jobs.scan import ScanJob
    from ticketflow.jobs.work import Work

    submitted: list[object] = []
    original = TicketflowApp.submit
    isolated: list[str] = []
    run_isolated = IsolatedRunner.run

    def record(self: TicketflowApp, job: object, **kwargs: object) -> object:
        submitted.append(job)
        return original(self, job, **kwargs)  # type: ignore[arg-type]

    def record_isolated(self: IsolatedRunner, work: Work, *args: object) -> object:
        isolated.append(work.kind)
        return run_isolated(self, work, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(TicketflowApp, "submit", record)
    monkeypatch.setattr(IsolatedRunner, "run", record_isolated)
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert not [n for n in app._notifications if n.title == "Job done"]
        await pilot.press("r")
        await settle(app, pilot)
        bar = app.main.query_one(JobStatusBar)
        assert bar.last is not None and bar.last.kind == "scan"
        assert bar.last.status is JobStatus.COMPLETED
        assert "3 tickets, 0 errors, 0 files read" in bar.last.message
        assert [n.message for n in app._notifications if n.title == "Job done"] == [
            "scan: " + bar.last.message
        ]
    scans = [job for job in submitted if isinstance(job, ScanJob)]
    assert len(scans) == 2 and isolated == ["scan", "scan"]  # both ran in a child


async def test_start_up_paints_the_cached_list_then_the_scan_updates_it(
    filled: TicketStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first list is the index as it was (no file looked at); the start-up scan then
    finds the ticket written since and the list is read again."""
    from ticketflow.index import TicketIndex

    TicketIndex.open(filled).scan()
    await asyncio.to_thread(TicketStore.open(filled.root).create, "written-since")
    requests: list[object] = []
    real = TicketflowApp.request_scan

    def hold(self: TicketflowApp, **options: object) -> None:
        requests.append(options)

    monkeypatch.setattr(TicketflowApp, "request_scan", hold)
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert requests == [{}]  # the start-up scan was asked for
        assert ids(app) == ["alpha", "beta", "gamma"]  # painted from the cache alone
        assert app.sub_title.endswith("3 tickets (2 todo, 1 doing, 0 done)")
        real(app)  # now let the scan run
        await settle(app, pilot)
        assert "written-since" in ids(app)
        assert app.sub_title.endswith("4 tickets (3 todo, 1 doing, 0 done)")


async def test_first_start_without_an_index(filled: TicketStore) -> None:
    """No cache yet: the header says so, the scan builds the index, the list appears."""
    app = create_app(filled)
    titles: list[str] = []
    no_cache = app._no_cache

    def record() -> None:
        no_cache()
        titles.append(app.sub_title)

    app._no_cache = record  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert titles == ["repo: indexing the tickets (first start)..."]
        assert ids(app) == ["alpha", "beta", "gamma"]
        assert app.loaded


async def test_search_reaches_bodies_after_ids_and_descriptions(filled: TicketStore) -> None:
    """Bodies are read from the files in a thread; their matches come after the id and
    description ones, and a new query or ESC drops them."""
    gamma = filled.get("gamma")
    assert gamma.path is not None
    path = filled.root / gamma.path
    path.write_text(path.read_text(encoding="utf-8") + "\nThe first draft lives here.\n")
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"first")
        await settle(app, pilot)
        assert ids(app) == ["alpha", "gamma"]  # alpha by description, gamma by its body
        await pilot.press("backspace")
        await settle(app, pilot)
        assert ids(app) == ["alpha", "gamma"]  # "firs": the body search ran again
        await pilot.press(*"zzz")
        await settle(app, pilot)
        assert ids(app) == []
        await pilot.press("escape")
        assert ids(app) == ["alpha", "beta", "gamma"]
        search = app.main.query_one("#search", Input)
        assert search.border_subtitle == ""


async def test_palette_cancel_leaves_an_open_search_alone(filled: TicketStore) -> None:
    """The palette's "Cancel the running job" cancels (ESC would close the search first)."""
    from ticketflow.tui.commands import ACTIONS

    action = next(a for title, a, _key in ACTIONS if title == "Cancel the running job")
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"alp")
        await settle(app, pilot)
        from ticketflow.tui.commands import TicketflowCommands

        await TicketflowCommands(app.screen)._run(action)  # as the palette runs it
        await pilot.pause()
        assert app.main.query_one("#search", Input).display  # still searching
        assert ids(app) == ["alpha"]
        assert any("No job is running" in n.message for n in app._notifications)


async def test_l_and_h_move_between_the_list_and_the_detail(filled: TicketStore) -> None:
    """A long body scrolls by key once the detail pane has the focus."""
    alpha = filled.get("alpha")
    assert alpha.path is not None
    path = filled.root / alpha.path
    path.write_text(path.read_text(encoding="utf-8") + "".join(f"\nline {i}\n" for i in range(80)))
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        detail = app.main.query_one(DetailPane)
        await pilot.press("l")
        assert detail.has_focus
        await pilot.press("j", "j", "j")
        await pilot.pause()
        assert detail.scroll_y > 0
        await pilot.press("G")
        await pilot.pause()
        assert detail.scroll_y == detail.max_scroll_y > 0
        cursor = app.main.query_one(TicketList).cursor
        await pilot.press("h")
        assert app.main.query_one(TicketList).has_focus
        assert app.main.query_one(TicketList).cursor == cursor  # G scrolled, did not move
        await pilot.press("right", "g", "left")
        assert detail.scroll_y == 0 and app.main.query_one(TicketList).has_focus


def _burst(app: TicketflowApp, keys: list[str]) -> None:
    """Keys as a paste or tmux delivers them: all queued before any is handled."""
    from textual import events

    printable = {"tab": "\t", "shift+tab": None, "enter": "\r", "backspace": "\x7f"}
    for key in keys:
        app.post_message(events.Key(key, printable.get(key, key)))


@pytest.mark.parametrize("opened", ["before", "in the same burst"])
async def test_new_ticket_form_takes_a_burst_of_keys_exactly(
    filled: TicketStore, opened: str
) -> None:
    # Textual gives each key to the widget focused when it arrives, and moves the focus on
    # Tab only once the Tab has come back up from the input: without care, every key after
    # a Tab in one burst goes to the field before it (seen in tmux: "tab-testdescription")
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        keys = [*"fast-typed", "tab", *"Typed in one go", "tab", "backspace", "1"]
        keys += ["tab", *"alp", "shift+tab", "backspace", "3", "tab", "tab", "tab"]
        if opened == "before":
            await pilot.press("n")
            await pilot.pause()
            _burst(app, keys)
        else:  # right behind the n, before the form has focused anything
            _burst(app, ["n", *keys])
        await pilot.pause()
        await pilot.pause()
        form = app.screen
        assert isinstance(form, NewTicketScreen)
        values = {f: form.query_one(f"#{f}", Input).value for f in ("slug", "description")}
        values |= {f: form.query_one(f"#{f}", Input).value for f in ("priority", "parent")}
        assert values == {
            "slug": "fast-typed",
            "description": "Typed in one go",
            "priority": "3",
            "parent": "alp",
        }
        assert form.focused is form.query_one("#slug")  # three tabs: Cancel, Create, round
        _burst(app, ["enter"])
        await settle(app, pilot)
        created = filled.get("fast-typed")
        assert (created.description, created.priority) == ("Typed in one go", 3)
        assert created.parent is not None and created.parent.endswith("alpha")


async def test_the_keys_that_open_forms_are_text_in_the_search_box(filled: TicketStore) -> None:
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        _burst(app, ["slash", *"unc"])  # in one burst: the box has the focus at once
        await pilot.pause()
        await pilot.pause()
        assert app.screen is app.main  # n and c typed into the box, no form opened
        assert app.main.query_one("#search", Input).value == "unc"


async def test_new_ticket_form_says_nothing_before_the_first_key(filled: TicketStore) -> None:
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        assert str(form.query_one("#problem").render()) == ""
        await pilot.press("enter")  # submitting says why nothing happens
        assert "a slug is required" in str(form.query_one("#problem").render())
        await pilot.press(*"ok-now", "enter")
        await settle(app, pilot)
        assert filled.get("ok-now").slug == "ok-now"


async def test_a_new_ticket_is_selected_and_scrolled_into_view(store: TicketStore) -> None:
    for n in range(40):
        store.create(f"ticket-{n:02d}", priority=1, commit=False)
    app = create_app(store)
    async with app.run_test(size=(120, 20)) as pilot:
        await settle(app, pilot)
        await pilot.press("n", *"last-one", "tab", "tab", "backspace", "9", "enter")
        await settle(app, pilot)
        tickets = app.main.query_one(TicketList)
        assert tickets.current is not None and tickets.current.slug == "last-one"
        assert tickets.cursor == 40  # priority 9: the end of the list
        top = tickets.scroll_offset.y
        # rows really on screen: below the header, above any scrollbar
        assert top <= tickets.cursor < top + tickets.scrollable_content_region.height - 1
        assert not tickets.show_horizontal_scrollbar


async def test_a_search_that_matches_nothing_says_so(filled: TicketStore) -> None:
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"[b]xyz")
        await pilot.pause()
        screen = shown(app)
        assert screen.count("no tickets match '[b]xyz'") == 2  # the list and the detail pane
        assert "No ticket selected" not in screen
        await pilot.press("escape", "3")  # the done tab of this repository is empty
        await pilot.pause()
        assert "no done tickets" in shown(app)


@pytest.mark.parametrize("width", [80, 120, 200])
async def test_the_list_lays_its_columns_out_from_the_width(
    filled: TicketStore, width: int
) -> None:
    app = create_app(filled)
    async with app.run_test(size=(width, 24)) as pilot:
        await settle(app, pilot)
        tickets = app.main.query_one(TicketList)
        shown_width = tickets.scrollable_content_region.width
        header = tickets._header_text(shown_width)
        row = tickets._row_text(tickets.tickets[0], shown_width)
        assert len(row) <= shown_width  # nothing hidden under the scrollbar
        alpha = filled.get("alpha")
        assert alpha.id in row  # the whole id fits at every one of these widths
        assert "first thing" in row  # and the description always has room
        assert {"ID", "PRI", "STAT", "DESCRIPTION"} <= set(header.split())
        assert ("CREATED" in header) is (width >= 200)  # extras only beside a roomy description
        pane = app.main.query_one(DetailPane)
        assert pane.display is (width >= 100)  # at 80 the list takes the whole width
        footer = shown(app).splitlines()[-1]
        assert "Help" in footer and "Quit" in footer  # the keys that matter most stay


def test_every_key_of_the_main_screen_is_in_the_palette() -> None:
    from ticketflow.tui.commands import ACTIONS
    from ticketflow.tui.screens.main import MainScreen

    in_palette = {action.removeprefix("app.") for _title, action, _key in ACTIONS}
    for binding in MainScreen.BINDINGS:
        assert isinstance(binding, Binding)
        action = binding.action.removeprefix("app.")
        if action != "escape":  # it closes the search, else cancels: both are in there
            assert action in in_palette, f"{binding.key}: {action} is not in the palette"
    assert {"quit", "cancel_job", "open_detail"} <= in_palette


async def test_errors_in_the_tui_name_its_keys_not_commands(filled: TicketStore) -> None:
    filled.close("gamma", reason="not needed")
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("G", "s")  # gamma is last: closed, so it cannot be started
        await settle(app, pilot)
        (error,) = [n.message for n in app._notifications if n.title == "Error"]
        assert "is closed" in error
        assert "press o" in error and "ticketflow reopen" not in error


@pytest.mark.parametrize("choice", ["e", "d"])
async def test_a_broken_edit_offers_to_edit_again_or_discard(
    filled: TicketStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, choice: str
) -> None:
    # the first run of the editor breaks the YAML, the second one makes a valid change
    runs = tmp_path / "runs"
    script = tmp_path / "ed.py"
    script.write_text(
        "import sys, pathlib\np = pathlib.Path(sys.argv[1])\n"
        f"runs = pathlib.Path({str(runs)!r})\n"
        "n = int(runs.read_text()) if runs.exists() else 0\nruns.write_text(str(n + 1))\n"
        "text = p.read_text()\n"
        "if n == 0:\n    p.write_text(text.replace('priority: 1', 'priority: [1'))\n"
        "else:\n    p.write_text(text.replace('priority: [1', 'priority: 3'))\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("e")  # alpha, priority 1
        await wait_until(pilot, lambda: isinstance(app.screen, EditRejectedScreen))
        assert "invalid YAML" in shown(app)
        copies = list((filled.root / ".git/ticketflow/edit").iterdir())
        assert len(copies) == 1
        await pilot.press(choice)
        await settle(app, pilot)
        assert app.screen is app.main
        if choice == "e":
            assert filled.get("alpha").priority == 3  # the second edit was saved
            assert runs.read_text() == "2"
        else:
            assert filled.get("alpha").priority == 1  # unchanged, and the copy is gone
            assert not copies[0].exists()
            assert runs.read_text() == "1"


async def test_a_burst_of_list_keys_runs_in_order(filled: TicketStore) -> None:
    # "jjs" typed fast must start the ticket two rows down, not the one the cursor was on
    # when the keys arrived (ordinary bindings run after the key came back up; ours, all
    # priority bindings, run as the keys arrive)
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert ids(app)[2] == "gamma"
        _burst(app, ["j", "j", "s"])
        await settle(app, pilot)
        assert filled.get("gamma").status is Status.DOING
        assert filled.get("alpha").status is Status.TODO
        _burst(app, ["k", "k", "c"])  # the close dialog is for the ticket the keys reached
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, CloseTicketScreen)
        assert dialog.ticket_id == filled.get("alpha").id


async def test_the_jobs_screen_reads_the_history_on_open_and_when_a_job_ends(
    filled: TicketStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Progress updates a row from the values in memory; the history file (SQLite) is read
    when the screen opens and when a job ends, not once per progress value."""
    import threading

    from textual.widgets import DataTable

    from ticketflow.jobs import FunctionJob, JobContext
    from ticketflow.tui.screens import jobs as jobs_screen

    reads: list[int] = []
    load = jobs_screen.load_history

    def counting(*args: object, **kwargs: object) -> object:
        reads.append(1)
        return load(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jobs_screen, "load_history", counting)
    done = threading.Event()

    def chatty(ctx: JobContext) -> str:
        for n in range(1, 6):
            ctx.progress(n, 5, f"step {n}")
            done.wait(0.05)
        done.wait(30)
        return "finished"

    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("J")
        assert isinstance(app.screen, JobsScreen) and len(reads) == 1
        job_id = app.submit(FunctionJob("chatty", chatty))
        table = app.screen.query_one(DataTable)
        key = f"live-{job_id}"
        await wait_until(pilot, lambda: key in table.rows and table.get_row(key)[3] == "5/5")
        assert table.get_row(key)[2] == "running" and str(table.get_row(key)[4]) == "step 5"
        assert len(reads) == 1  # every update so far came from memory
        done.set()
        await wait_until(pilot, lambda: table.get_row(key)[2] == "completed")
        assert len(reads) == 2  # the job ended: the history is read once more


async def test_ticket_actions_run_through_the_apps_runner_in_a_child(
    filled: TicketStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """n, s, c and o go through the isolated runner, as the jobs do: the store's action and
    its commit happen in a child process, never holding the interface's GIL."""
    from ticketflow.jobs.runners import IsolatedRunner
    from ticketflow.jobs.work import Work

    kinds: list[str] = []
    run = IsolatedRunner.run

    def record(self: IsolatedRunner, work: Work, *args: object) -> object:
        kinds.append(work.kind)
        return run(self, work, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(IsolatedRunner, "run", record)
    app = create_app(filled)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("n", *"via-child", "enter")
        await settle(app, pilot)
        await pilot.press("s")
        await settle(app, pilot)
        await pilot.press("c", *"shipped", "enter")
        await settle(app, pilot)
        await pilot.press("o")
        await settle(app, pilot)
    assert [k for k in kinds if k != "scan"] == ["new", "start", "close", "reopen"]
    ticket = filled.get("via-child")
    assert ticket.status is Status.DOING and ticket.closure_reason is None
