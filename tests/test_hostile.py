"""Hostile repository contents: what a teammate's push can plant must not crash a command,
leak a file from outside the repository into it, or drive the user's terminal.

The CLI runs as a real process, on a real pseudo-terminal where what reaches a terminal
matters; the TUI runs through Textual's pilot and its rendered strips are read back.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_process, settle_app

from ticketflow.errors import UnsafePathError
from ticketflow.jobs.history import HistoryEntry, JobHistory
from ticketflow.store import TicketStore
from ticketflow.textsafe import one_line, visible

# --- escape sequences ---------------------------------------------------------------------

ESC = "\x1b"
BODY = (
    "# Report\n\n"
    f"title {ESC}]0;pwned-title\x07 end\n"
    f"clipboard {ESC}]52;c;aGFja2Vk{ESC}\\ end\n"
    f"link {ESC}]8;;https://evil.example{ESC}\\click{ESC}]8;;{ESC}\\ end\n"
    f"dcs {ESC}P1$qm{ESC}\\ end\n"
    f"csi {ESC}[31m7-bit \x9b31m red c1-osc \x9d0;t\x9c bell \x07 del \x7f cr \rOVER\n"
    "markup [link=https://evil.example]x[/link] [/] [b]\n"
)
HOSTILE = f"""---
priority: 1
description: "desc \\e]52;c;aGk=\\a \\x9b31m \\x7f [/] [link=https://evil.example]x"
created_at: "2025-01-01T00:00:00Z"
started_at: "2025-01-02T00:00:00Z"
closed_at: null
closure_reason: "why \\e]0;t\\a"
related:
    - "blocks:\\e]8;;https://evil.example\\e\\\\x"
---

{BODY}"""
HOSTILE_ID = "250101-000000-hostile"

RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Any control character but tab and newline (the pseudo-terminal's CR LF is undone first)."""
OWN_SEQUENCES = re.compile(r"\x1b\[(?:[0-9;]*m|2K|1A|\?25[lh])|\r")
"""What the progress bar (rich) itself writes on a terminal: colours, erase line, cursor up,
hide and show the cursor, carriage returns. A ticket's own ``ESC [31m`` would be removed
too, so the tests also look for its escaped form."""


def raw_control(out: str) -> str | None:
    found = RAW_CONTROL.search(OWN_SEQUENCES.sub("", out))
    return None if found is None else found.group()


def plant_hostile(repo: Path, folder: str = "doing") -> Path:
    path = repo / "tickets" / folder / f"{HOSTILE_ID}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HOSTILE, encoding="utf-8")
    return path


def on_terminal(cwd: Path, *args: str, timeout: float = 60) -> tuple[int, str]:
    """``python -m ticketflow ARGS`` with stdin, stdout and stderr on a pseudo-terminal:
    what the user's terminal would receive, decoded (line ends as the program wrote them)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ticketflow", *args],
        cwd=cwd,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "200"},
        close_fds=True,
    )
    os.close(slave)
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                data += chunk
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return code, data.decode("utf-8").replace("\r\n", "\n")


def test_visible_escapes_every_control_but_newline_and_tab() -> None:
    every = "".join(chr(c) for c in range(0xA0)) + "\ud800"
    shown = visible(every)
    assert RAW_CONTROL.search(shown) is None and "\ud800" not in shown
    assert "\n" in shown and "\t" in shown
    assert "\\x1b" in shown and "\\x07" in shown and "\\x9b" in shown and "\\x7f" in shown
    assert "\\x0d" in shown and "\\ud800" in shown
    assert visible("plain text, ünïcödé, 日本語\n\tok") == "plain text, ünïcödé, 日本語\n\tok"
    assert visible("windows\r\nline end") == "windows\r\nline end"  # CR LF moves nothing
    assert one_line("a\n\tb \x1bc") == "a b \\x1bc"


def test_cli_text_output_on_a_terminal_shows_controls_escaped(repo: Path) -> None:
    plant_hostile(repo)
    (repo / "current-ticket.md").symlink_to(f"tickets/doing/{HOSTILE_ID}.md")
    outputs = {}
    for args in (["show", "hostile"], ["list"], ["status"], ["scan"]):
        code, out = on_terminal(repo, *args)
        assert code in (0, 1), out
        outputs[args[0]] = out
        assert raw_control(out) is None, f"{args}: raw {raw_control(out)!r} in {out!r}"
    show = outputs["show"]
    assert "\\x1b]52;c;aGFja2Vk\\x1b\\ end" in show  # the clipboard write, as text
    assert "\\x1b]0;pwned-title\\x07" in show and "\\x1bP1$qm" in show
    assert "\\x1b[31m7-bit \\x9b31m" in show and "\\x9d0;t\\x9c" in show and "\\x7f" in show
    assert "cr \\x0dOVER" in show
    assert "Description: desc \\x1b]52;c;aGk=\\x07 \\x9b31m \\x7f [/]" in show
    assert "Closure reason: why \\x1b]0;t\\x07" in show
    assert "Related: blocks:\\x1b]8;;https://evil.example\\x1b\\x" in show
    assert "desc \\x1b]52;c;aGk=\\x07 \\x9b31m" in outputs["list"]
    assert "Description: desc \\x1b]52;c;aGk=" in outputs["status"]


def test_errors_and_warnings_on_a_terminal_show_controls_escaped(repo: Path) -> None:
    bad = repo / "tickets/todo/250101-000001-bad.md"
    bad.parent.mkdir(parents=True)
    # an error message that quotes the file: the unknown key's name, with ESC and BEL
    bad.write_text('---\npriority: 1\n"k\\e]0;pwn\\a": !!int x\n---\n\nbody\n')
    JobHistory.for_repo(repo).append(
        [
            HistoryEntry(
                job_id=1,
                kind="push",
                arguments={},
                status="failed",
                priority=0,
                attempts=1,
                submitted_at=time.time(),
                started_at=time.time(),
                ended_at=time.time(),
                error={"type": "push_rejected", "message": f"refused: {ESC}]52;c;aGk={ESC}\\"},
            )
        ]
    )
    outputs = {}
    for args in (["list"], ["show", "bad"], ["scan"], ["jobs"], ["show", f"{ESC}]0;t\x07"]):
        _code, out = on_terminal(repo, *args)
        assert raw_control(out) is None, f"{args}: raw {raw_control(out)!r} in {out!r}"
        outputs[args[0] + str(len(outputs))] = out
    assert "k\\x1b]0;pwn\\x07: invalid literal" in outputs["list0"]  # the warning
    assert "k\\x1b]0;pwn\\x07: invalid literal" in outputs["show1"]  # the error
    assert "k\\x1b]0;pwn\\x07: invalid literal" in outputs["scan2"]
    assert "refused: \\x1b]52;c;aGk=\\x1b\\" in outputs["jobs3"]


def test_json_output_escapes_every_control_and_keeps_the_text(repo: Path) -> None:
    plant_hostile(repo)
    for args in (["show", "hostile"], ["list"], ["list", "-q", "desc"], ["status"]):
        done = run_process(repo, *args, "--format", "json")
        assert done.returncode == 0, done.stderr
        assert RAW_CONTROL.search(done.stdout) is None, args
        data = json.loads(done.stdout)
        ticket = data.get("ticket") or (data.get("tickets") or [None])[0]
        if args[0] == "status":
            continue
        assert ticket["description"].startswith("desc \x1b]52;c;aGk=\x07 \x9b31m \x7f [/]")
        if args[0] == "show":
            assert ticket["content"] == BODY
            assert ticket["closure_reason"] == "why \x1b]0;t\x07"


# --- the TUI --------------------------------------------------------------------------------

SIZE = (160, 40)


def _screen_text(app: object) -> tuple[str, set[str]]:
    """What the screen's segments would write as text (control segments are Textual's own
    cursor moves), and the links their styles carry."""
    strips = app.screen._compositor.render_strips()  # type: ignore[attr-defined]
    lines = []
    links: set[str] = set()
    for strip in strips:
        text = ""
        for segment in strip:
            if segment.control:
                continue
            text += segment.text
            if segment.style is not None and segment.style.link:
                links.add(segment.style.link)
        lines.append(text)
    return "\n".join(lines), links


def _flat(text: str, region: object) -> str:
    """The text of one widget's ``region`` of the screen, its whitespace collapsed (the
    Markdown widget joins and wraps lines)."""
    lines = text.split("\n")[region.y : region.bottom]  # type: ignore[attr-defined]
    cut = [line[region.x : region.right] for line in lines]  # type: ignore[attr-defined]
    return " ".join(" ".join(cut).split())


async def test_tui_shows_hostile_text_escaped_and_never_raw(store: TicketStore) -> None:
    from ticketflow.tui.app import create_app
    from ticketflow.tui.screens.info import DetailScreen
    from ticketflow.tui.widgets.detail import DetailPane

    plant_hostile(store.root)
    app = create_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle_app(app, pilot)
        text, links = _screen_text(app)
        assert RAW_CONTROL.search(text) is None, repr(RAW_CONTROL.search(text))
        assert not links
        assert "desc \\x1b]52;c;aGk=\\x07 \\x9b31m" in text  # the list row and the detail
        detail = _flat(text, app.main.query_one(DetailPane).content_region)
        assert "clipboard \\x1b]52;c;aGFja2Vk\\x1b\\ end" in detail  # the Markdown body
        assert "link \\x1b]8;;https://evil.example\\x1b\\click" in detail
        assert "csi \\x1b[31m7-bit \\x9b31m red" in detail
        assert "[link=https://evil.example]x" in detail  # markup is shown, not obeyed
        await pilot.press("enter")
        await settle_app(app, pilot)
        assert isinstance(app.screen, DetailScreen)
        text, links = _screen_text(app)
        assert RAW_CONTROL.search(text) is None and not links
        flat = " ".join(text.split())
        assert "title \\x1b]0;pwned-title\\x07 end" in flat
        assert "why \\x1b]0;t\\x07" in flat
        await pilot.press("escape", "q")


async def test_tui_notifications_and_forms_show_markup_as_text(store: TicketStore) -> None:
    from ticketflow.tui.app import create_app
    from ticketflow.tui.screens.forms import NewTicketScreen

    bad = store.root / "tickets/todo/250101-000001-bad.md"
    bad.parent.mkdir(parents=True)
    bad.write_text('---\npriority: "[/] [link=x]"\n---\n\nbody\n')  # quoted in the error
    app = create_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle_app(app, pilot)
        assert any("[/] [link=x]" in n.message for n in app._notifications)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, NewTicketScreen)
        await pilot.press("o", "k")  # the slug
        await pilot.click("#parent")
        await pilot.press("x", "[", "/", "]")
        await pilot.pause()
        text, _links = _screen_text(app)
        assert "no ticket matches 'x[/]'" in text
        await pilot.press("escape")
        await pilot.press("q")
    assert app.return_code == 0


# --- links in the ticket folders ----------------------------------------------------------

PRIVATE = "PRIVATE-0123456789"
TICKET = """---
priority: 2
description: {description}
created_at: "2025-01-01T00:00:00Z"
started_at: {started}
closed_at: null
---

{body}
"""


def ticket_text(description: str, body: str = "body", started: str = "null") -> str:
    return TICKET.format(description=description, body=body, started=started)


def js(text: str) -> dict[str, object]:
    value = json.loads(text)
    assert isinstance(value, dict)
    return value


def editor(tmp_path: Path) -> tuple[str, Path]:
    """An $EDITOR that leaves a mark when it runs and changes the priority."""
    mark = tmp_path / "editor-ran"
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys, pathlib\n"
        f"pathlib.Path({str(mark)!r}).write_text('ran')\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('priority: 2', 'priority: 1'))\n"
    )
    return f"{sys.executable} {script}", mark


def repo_holds(repo: Path, needle: str) -> list[str]:
    """Files of the work tree (links not followed) and commits that contain ``needle``."""
    found = [
        str(p.relative_to(repo))
        for p in repo.rglob("*")
        if p.is_file() and not p.is_symlink() and needle.encode() in p.read_bytes()
    ]
    log = subprocess.run(
        ["git", "log", "--all", "-p", "--format=%H"], cwd=repo, capture_output=True, check=True
    ).stdout
    if needle.encode() in log:
        found.append("git history")
    return found


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the repository holding a private file shaped like a ticket."""
    folder = tmp_path / "home-of-the-user"
    folder.mkdir()
    (folder / "private.md").write_text(ticket_text(PRIVATE, body=PRIVATE))
    (folder / "250101-000009-private.md").write_text(ticket_text(PRIVATE, body=PRIVATE))
    return folder


def test_link_loops_and_links_through_a_file_are_that_files_problem(
    repo: Path, tmp_path: Path
) -> None:
    """Before: every command that looks a ticket up died with an OSError traceback."""
    todo = repo / "tickets/todo"
    todo.mkdir(parents=True)
    (todo / "250101-000001-loop.md").symlink_to("250101-000001-loop.md")  # ELOOP
    (todo / "loop-a").symlink_to("loop-b")
    (todo / "loop-b").symlink_to("loop-a")
    (todo / "250101-000002-pair.md").symlink_to("loop-a")  # ELOOP through two links
    (todo / "250101-000003-through.md").symlink_to("../../.ticketflow.yaml/x")  # ENOTDIR
    (todo / "250101-000004-dangling.md").symlink_to("nowhere.md")  # ENOENT
    links = ["250101-000001-loop", "250101-000002-pair", "250101-000003-through"]
    links.append("250101-000004-dangling")
    env = {"EDITOR": editor(tmp_path)[0]}

    made = run_process(repo, "new", "good", "-o", "json")
    assert made.returncode == 0, made.stderr
    tid = js(made.stdout)["ticket"]["id"]  # type: ignore[index]
    for args in (
        ["show", "good"],
        ["start", "good", "--no-branch"],
        ["edit", "good"],
        ["close", "good"],
        ["reopen", "good"],
        ["new", "child", "--parent", "good"],
        ["status"],
    ):
        done = run_process(repo, *args, env=env)
        assert done.returncode == 0, f"{args}: {done.stderr}"
        assert "Traceback" not in done.stderr
    listed = run_process(repo, "list", "--status", "all", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert tid in [t["id"] for t in js(listed.stdout)["tickets"]]  # type: ignore[index]
    for link in links:
        assert f"Warning: skipped tickets/todo/{link}.md: the file is a symbolic link" in (
            listed.stderr
        )
    scanned = run_process(repo, "scan", "-o", "json")
    assert scanned.returncode == 1
    problems = js(scanned.stdout)["problems"]
    assert sorted((p["path"], p["code"], p["severity"]) for p in problems) == [  # type: ignore[index, union-attr]
        (f"tickets/todo/{link}.md", "symlink", "error") for link in links
    ]
    for link in links:
        shown = run_process(repo, "show", link, "-o", "json")
        assert shown.returncode == 6, shown.stderr
        error = js(shown.stderr)["error"]
        assert error["type"] == "unsafe_path" and error["problem_code"] == "symlink"  # type: ignore[index]
        assert error["path"] == f"tickets/todo/{link}.md"  # type: ignore[index]


def test_a_ticket_file_linking_outside_is_never_read_nor_copied_in(
    repo: Path, outside: Path, tmp_path: Path
) -> None:
    """Before: list and show printed the private file, and start / edit committed it."""
    todo = repo / "tickets/todo"
    todo.mkdir(parents=True)
    (todo / "250101-000009-private.md").symlink_to(outside / "250101-000009-private.md")
    (todo / "250101-000010-relative.md").symlink_to("../../../home-of-the-user/private.md")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "a teammate's push"], cwd=repo, check=True)
    ed, mark = editor(tmp_path)
    for args in (
        ["list", "--status", "all"],
        ["list", "-q", PRIVATE],
        ["list", "-o", "json"],
        ["status"],
        ["show", "private"],
        ["show", "relative", "-o", "json"],
        ["start", "private"],
        ["start", "relative", "--no-branch"],
        ["edit", "private"],
        ["close", "private", "--reason", "x"],
        ["new", "child", "--parent", "private"],
        ["scan"],
    ):
        done = run_process(repo, *args, env={"EDITOR": ed})
        assert PRIVATE not in done.stdout + done.stderr, args
        if args[0] in ("show", "start", "edit", "close", "new"):
            assert done.returncode == 6, f"{args}: {done.stderr}"
            assert "is a symbolic link" in done.stderr
    assert not mark.exists()  # the editor never got the file
    assert repo_holds(repo, PRIVATE) == []
    assert not (repo / "tickets/doing").exists() or not list((repo / "tickets/doing").iterdir())
    assert (outside / "250101-000009-private.md").read_text() == ticket_text(PRIVATE, body=PRIVATE)


async def test_the_tui_neither_lists_nor_shows_a_linked_ticket(
    store: TicketStore, outside: Path
) -> None:
    from ticketflow.ticketfiles import TicketFile
    from ticketflow.tui.app import create_app
    from ticketflow.tui.widgets.ticket_list import TicketList

    todo = store.root / "tickets/todo"
    todo.mkdir(parents=True)
    (todo / "250101-000009-private.md").symlink_to(outside / "250101-000009-private.md")
    app = create_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle_app(app, pilot)
        assert list(app.main.query_one(TicketList).tickets) == []
        assert "1 unreadable" in app.sub_title
        text, _links = _screen_text(app)
        assert PRIVATE not in text
        assert any("symbolic link" in n.message for n in app._notifications)
        from ticketflow.index import Summary
        from ticketflow.model import Status

        path = "tickets/todo/250101-000009-private.md"
        summary = Summary("250101-000009-private", "todo", 2, PRIVATE, "", "", path)
        assert app.full_ticket(summary) is None  # even a stale list row reads nothing
        tf = TicketFile("250101-000009-private", Status.TODO, store.root / path)
        with pytest.raises(UnsafePathError):
            store.read_file(tf)
        await pilot.press("q")


def test_a_status_folder_linking_outside_is_neither_read_nor_written(
    repo: Path, outside: Path
) -> None:
    """Before: list showed the folder's files and start wrote the ticket into it."""
    made = run_process(repo, "new", "work", "-o", "json")
    assert made.returncode == 0, made.stderr
    before = sorted(p.name for p in outside.iterdir())
    (repo / "tickets/doing").symlink_to(outside)
    for args in (["list"], ["show", "work"], ["start", "work"], ["scan"], ["new", "other"]):
        done = run_process(repo, *args, "-o", "json")
        assert done.returncode == 6, f"{args}: {done.stderr}"
        error = js(done.stderr)["error"]
        assert error["type"] == "unsafe_path" and error["problem_code"] == "unsafe-folder", error  # type: ignore[index]
        assert error["path"] == "tickets/doing"  # type: ignore[index]
        assert "leads outside the repository" in error["message"]  # type: ignore[index, operator]
        assert PRIVATE not in done.stdout + done.stderr
    assert sorted(p.name for p in outside.iterdir()) == before  # nothing written there
    done = run_process(repo, "list")
    assert done.stderr.startswith("Error: tickets/doing: the folder leads outside")
    assert "Hint: ticketflow neither reads nor writes there" in done.stderr


@pytest.mark.parametrize("target", ["../.git", "../.git/refs", "../.GIT/objects"])
def test_a_status_folder_linking_into_the_git_dir_is_refused(repo: Path, target: str) -> None:
    (repo / "tickets").mkdir()
    (repo / "tickets/todo").symlink_to(target)
    done = run_process(repo, "new", "x", "-o", "json")
    assert done.returncode == 6, done.stderr
    error = js(done.stderr)["error"]
    assert error["problem_code"] == "unsafe-folder" and "git dir" in error["message"]  # type: ignore[index, operator]
    assert not [p for p in (repo / ".git").rglob("*.md")]  # no ticket was written there


def test_a_folder_link_that_stays_in_the_repository_works(repo: Path) -> None:
    """The policy's other half: a layout made with links inside the work tree is fine."""
    (repo / "archive/done").mkdir(parents=True)
    (repo / "tickets").mkdir()
    (repo / "tickets/done").symlink_to("../archive/done")
    assert run_process(repo, "new", "a").returncode == 0
    assert run_process(repo, "start", "a", "--no-branch").returncode == 0
    closed = run_process(repo, "close", "a")
    assert closed.returncode == 0, closed.stderr
    assert [p.name[14:] for p in (repo / "archive/done").iterdir()] == ["a.md"]
    listed = run_process(repo, "list", "--status", "done", "-o", "json")
    assert [t["path"] for t in js(listed.stdout)["tickets"]] == [  # type: ignore[index]
        f"tickets/done/{next((repo / 'archive/done').iterdir()).name}"
    ]
    assert run_process(repo, "scan").returncode == 0


@pytest.mark.parametrize("value", [".git", ".git/tickets", "./.GIT", "tickets/.git", "x/.Git/y"])
def test_tickets_dir_in_a_git_dir_is_a_config_error(repo: Path, value: str) -> None:
    config = repo / ".ticketflow.yaml"
    config.write_text(config.read_text().replace("dir: tickets", f"dir: {value}"))
    done = run_process(repo, "list", "-o", "json")
    assert done.returncode == 6, done.stderr
    error = js(done.stderr)["error"]
    assert error["type"] == "config" and "must not be inside .git" in error["message"]  # type: ignore[index, operator]
    assert not (repo / ".git/todo").exists() and not (repo / ".git/tickets").exists()


def test_a_status_folder_named_git_is_a_config_error(repo: Path) -> None:
    config = repo / ".ticketflow.yaml"
    config.write_text(config.read_text().replace("todo_dir: todo", "todo_dir: .git"))
    done = run_process(repo, "new", "x")
    assert done.returncode == 6 and "tickets.todo_dir '.git' must not be inside .git" in (
        done.stderr
    )


def test_a_hostile_current_ticket_link_is_never_read(
    repo: Path, outside: Path, run: object
) -> None:
    """``current-ticket.md`` is ours, but a clone can hold anything there: only its name is
    used, and the ticket of that name is read from the ticket folders."""
    link = repo / "current-ticket.md"
    link.symlink_to(outside / "250101-000009-private.md")
    status = run_process(repo, "status")
    assert status.returncode == 0 and "No active ticket" in status.stdout
    assert PRIVATE not in status.stdout + status.stderr
    closed = run_process(repo, "close")
    assert closed.returncode == 4 and PRIVATE not in closed.stdout + closed.stderr
    link.unlink()
    link.symlink_to("current-ticket.md")  # a loop
    assert run_process(repo, "status").returncode == 0
    made = run_process(repo, "new", "real")
    assert made.returncode == 0
    started = run_process(repo, "start", "real", "--no-branch")
    assert started.returncode == 0, started.stderr
    assert os.readlink(link).startswith("tickets/doing/")  # ours again, relative


def test_init_never_reads_a_gitignore_through_a_link(tmp_path: Path, outside: Path) -> None:
    """Before: init appended to whatever .gitignore linked to, read it, and committed it."""
    root = tmp_path / "fresh"
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    (root / ".gitignore").symlink_to(outside / "private.md")
    done = run_process(root, "init")
    assert done.returncode == 6, done.stderr
    assert ".gitignore: is a symbolic link" in done.stderr
    assert not (root / ".ticketflow.yaml").exists()  # refused before writing anything
    assert (outside / "private.md").read_text() == ticket_text(PRIVATE, body=PRIVATE)
    assert repo_holds(root, PRIVATE) == []


def test_writes_refuse_a_link_and_stay_in_the_repository(repo: Path, outside: Path) -> None:
    from ticketflow.fsutil import atomic_move, atomic_write

    todo = repo / "tickets/todo"
    todo.mkdir(parents=True)
    target = todo / "250101-000009-private.md"
    target.symlink_to(outside / "250101-000009-private.md")
    with pytest.raises(UnsafePathError, match="is a symbolic link") as info:
        atomic_write(target, b"new", root=repo)
    assert info.value.code == "symlink"
    with pytest.raises(UnsafePathError):
        atomic_write(target, b"new")  # without a root too: a link is never written through
    assert target.is_symlink() and PRIVATE in target.read_text()
    (repo / "tickets/doing").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="leads outside") as info:
        atomic_move(todo / "x.md", repo / "tickets/doing/x.md", b"new", root=repo)
    assert info.value.code == "unsafe-folder"
    assert sorted(p.name for p in outside.iterdir()) == ["250101-000009-private.md", "private.md"]
    assert [p.name for p in todo.iterdir()] == [target.name]  # no temporary file left


def _exchange() -> object:
    """``renameat2(RENAME_EXCHANGE)``: swaps two names atomically, a folder and a link
    included (Linux 3.15+, glibc 2.28+), so a folder can turn into a link and back without
    ever being missing (a missing folder would just be made again by the write)."""
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None or not sys.platform.startswith("linux"):
        pytest.skip("needs renameat2(RENAME_EXCHANGE)")

    def exchange(a: Path, b: Path) -> None:
        at_fdcwd, rename_exchange = -100, 2
        if renameat2(at_fdcwd, bytes(a), at_fdcwd, bytes(b), rename_exchange) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))

    return exchange


def test_no_write_lands_outside_while_a_folder_flips_to_a_link(
    store: TicketStore, outside: Path
) -> None:
    """The check and the write are not two steps a swap can come between: the folder is
    opened link by link with O_NOFOLLOW and the file is written through that descriptor.
    Before: the write followed whatever the path named at each step."""
    import threading

    from ticketflow.errors import TicketflowError

    exchange = _exchange()
    todo = store.root / "tickets/todo"
    todo.mkdir(parents=True)
    other = store.root / "tickets/todo-swap"
    other.symlink_to(outside)
    try:
        exchange(todo, other)  # type: ignore[operator]
        exchange(todo, other)  # type: ignore[operator]
    except OSError as exc:
        pytest.skip(f"renameat2(RENAME_EXCHANGE) not supported here: {exc}")
    stop = threading.Event()

    def flip() -> None:
        while not stop.is_set():
            exchange(todo, other)  # type: ignore[operator]

    flipper = threading.Thread(target=flip)
    flipper.start()
    written = refused = 0
    try:
        for i in range(600):
            try:
                store.create(f"t{i}", commit=False)
                written += 1
            except TicketflowError:
                refused += 1
    finally:
        stop.set()
        flipper.join()
    assert sorted(p.name for p in outside.iterdir()) == ["250101-000009-private.md", "private.md"]
    inside = [p for p in (store.root / "tickets").rglob("*.md") if not p.is_symlink()]
    assert len(inside) == written  # every write that succeeded is in the repository
