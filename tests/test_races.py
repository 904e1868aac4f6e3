"""Races between commands, as real processes: every read-check-write happens under the lock.

A command that reads a ticket, decides, then writes must see the ticket as it is when it
writes: an ``edit`` whose editor was open while a ``close`` moved the file, two ``close``s
at once, readers while tickets move between folders. Each test runs ``python -m ticketflow``
(or a small script over the store) in separate processes, as users and scripts do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import git, run_process

from ticketflow.store import TicketStore

pytestmark = pytest.mark.integration


def new_ticket(repo: Path, slug: str, *, start: bool = True) -> str:
    made = run_process(repo, "new", slug, "-d", "first words", "-o", "json")
    assert made.returncode == 0, made.stderr
    tid = str(json.loads(made.stdout)["ticket"]["id"])
    if start:
        started = run_process(repo, "start", tid, "--no-branch")
        assert started.returncode == 0, started.stderr
    return tid


def editor(tmp_path: Path, body: str, name: str = "editor.py") -> str:
    """An $EDITOR running a Python snippet on the copy it is given (``p``)."""
    script = tmp_path / name
    script.write_text(
        "import os, pathlib, subprocess, sys, time\np = pathlib.Path(sys.argv[1])\n"
        + textwrap.dedent(body)
    )
    return f"{sys.executable} {script}"


def copies(repo: Path, tid: str) -> tuple[list[str], list[str]]:
    """Where the ticket is: in the work tree, and in HEAD's tree."""
    on_disk = sorted(p.relative_to(repo).as_posix() for p in repo.glob(f"tickets/*/{tid}.md"))
    committed = [p for p in git(repo, "ls-tree", "-r", "--name-only", "HEAD").split() if tid in p]
    return on_disk, sorted(committed)


def test_an_edit_open_while_a_close_lands_is_applied_to_the_closed_ticket(
    repo: Path, tmp_path: Path
) -> None:
    tid = new_ticket(repo, "racy")
    close = f"[sys.executable, '-m', 'ticketflow', 'close', {tid!r}, '--reason', 'shipped']"
    env = {
        "EDITOR": editor(
            tmp_path,
            f"""
            assert subprocess.run({close}, capture_output=True).returncode == 0
            p.write_text(p.read_text().replace("first words", "better words"))
            """,
        )
    }
    edited = run_process(repo, "edit", tid, env=env)
    assert edited.returncode == 0, edited.stderr
    assert copies(repo, tid) == ([f"tickets/done/{tid}.md"], [f"tickets/done/{tid}.md"])
    shown = json.loads(run_process(repo, "show", tid, "-o", "json").stdout)["ticket"]
    assert shown["description"] == "better words"  # the edit
    assert shown["status"] == "done"  # and the close, both kept
    assert shown["closure_reason"] == "shipped"
    assert "**Reason**: shipped" in shown["content"]
    assert git(repo, "log", "-1", "--format=%s").strip() == f"Update ticket: {tid}"
    assert git(repo, "status", "--porcelain", "tickets") == ""


def test_an_edit_of_the_same_field_as_a_concurrent_change_is_refused_and_kept(
    repo: Path, tmp_path: Path
) -> None:
    tid = new_ticket(repo, "clash")
    other = f"[sys.executable, '-m', 'ticketflow', 'close', {tid!r}, '--reason', 'theirs']"
    env = {
        "EDITOR": editor(
            tmp_path,
            f"""
            assert subprocess.run({other}, capture_output=True).returncode == 0
            p.write_text(p.read_text() + "my last line\\n")  # where the closure note went
            """,
        )
    }
    edited = run_process(repo, "edit", tid, "-o", "json", env=env)
    assert edited.returncode == 3, edited.stderr
    error = json.loads(edited.stderr)["error"]
    assert error["type"] == "edit_conflict"
    assert error["fields"] == ["body"]
    kept = Path(error["kept"])
    assert kept.read_text().endswith("my last line\n")  # nothing the user typed is lost
    text = (repo / f"tickets/done/{tid}.md").read_text()
    assert "my last line" not in text and "**Reason**: theirs" in text
    assert copies(repo, tid) == ([f"tickets/done/{tid}.md"], [f"tickets/done/{tid}.md"])


def test_an_edit_of_a_ticket_removed_meanwhile_is_refused_and_kept(
    repo: Path, tmp_path: Path
) -> None:
    tid = new_ticket(repo, "gone", start=False)
    path = repo / f"tickets/todo/{tid}.md"
    env = {
        "EDITOR": editor(
            tmp_path,
            f"""
            pathlib.Path({str(path)!r}).unlink()
            p.write_text(p.read_text().replace("first words", "mine"))
            """,
        )
    }
    edited = run_process(repo, "edit", tid, env=env)
    assert edited.returncode == 3
    assert "changed while you were editing" in edited.stderr
    assert "kept in" in edited.stderr
    assert not path.exists()  # not brought back behind the user's back


@pytest.mark.parametrize("trial", range(6))
def test_an_edit_racing_a_close_never_leaves_the_ticket_in_two_folders(
    repo: Path, tmp_path: Path, trial: int
) -> None:
    # the editor returns at once, so the edit's check and write race the close for real
    tid = new_ticket(repo, f"race-{trial}")
    env = {
        "EDITOR": editor(
            tmp_path,
            f"""
            time.sleep({trial} * 0.03)
            p.write_text(p.read_text().replace("priority: 2", "priority: 1"))
            """,
        )
    }
    command = [sys.executable, "-m", "ticketflow"]
    edit = subprocess.Popen(
        [*command, "edit", tid],
        cwd=repo,
        env={**os.environ, **env},
        stderr=subprocess.PIPE,
        text=True,
    )
    closed = run_process(repo, "close", tid, "--reason", "done")
    _out, edit_err = edit.communicate(timeout=60)
    assert closed.returncode == 0, closed.stderr
    assert edit.returncode == 0, edit_err  # different fields: both changes land
    assert copies(repo, tid) == ([f"tickets/done/{tid}.md"], [f"tickets/done/{tid}.md"])
    shown = json.loads(run_process(repo, "show", tid, "-o", "json").stdout)["ticket"]
    assert (shown["priority"], shown["status"]) == (1, "done")
    assert run_process(repo, "reopen", tid).returncode == 0  # later commands still work


def test_two_closes_at_once_one_wins_the_other_gets_its_documented_code(repo: Path) -> None:
    tids = [new_ticket(repo, f"twice-{n}") for n in range(4)]
    command = [sys.executable, "-m", "ticketflow", "close"]
    for tid in tids:
        procs = [
            subprocess.Popen(
                [*command, tid, "--reason", why], cwd=repo, stderr=subprocess.PIPE, text=True
            )
            for why in ("a", "b")
        ]
        codes = sorted(p.wait(timeout=60) for p in procs)
        assert codes == [0, 7], [p.stderr.read() for p in procs if p.stderr]
        assert copies(repo, tid)[1] == [f"tickets/done/{tid}.md"]


READER = """
import json, sys, time
from pathlib import Path
from ticketflow.errors import TicketflowError
from ticketflow.store import TicketStore

store = TicketStore.open(Path(sys.argv[1]))
stop = Path(sys.argv[3])
seen, errors = 0, {}
while not stop.exists():
    try:
        store.get(sys.argv[2])
        seen += 1
    except TicketflowError as exc:
        key = f"{exc.kind}: {exc.message}"
        errors[key] = errors.get(key, 0) + 1
    except OSError as exc:
        errors[f"OSError: {exc}"] = errors.get(f"OSError: {exc}", 0) + 1
print(json.dumps({"seen": seen, "errors": errors}))
"""


def test_readers_never_see_a_ticket_half_moved(repo: Path, tmp_path: Path) -> None:
    # ``show`` takes no lock; a status change writes the new file, then removes the old one.
    # A reader in between must still get the ticket, not "exists in more than one folder"
    # or "cannot read"
    tid = new_ticket(repo, "moving", start=False)
    reader = tmp_path / "reader.py"
    reader.write_text(READER)
    stop = tmp_path / "stop"
    readers = [
        subprocess.Popen(
            [sys.executable, str(reader), str(repo), tid, str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        store = TicketStore.open(repo)
        store.start(tid, commit=False)
        for _ in range(100):  # doing -> done -> doing (reopen keeps started_at)
            store.close(tid, reason="round", commit=False)
            store.reopen(tid, commit=False)
    finally:
        stop.touch()
    results = [json.loads(r.communicate(timeout=60)[0]) for r in readers]
    assert all(r["seen"] > 0 for r in results), results
    assert [r["errors"] for r in results] == [{}, {}]
