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

from conftest import run_process, settle_app

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
