"""The command line: every command in text and JSON, every documented error and exit code."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, Cli, git, make_git_repo, run_process

from ticketflow.config import default_config_text


def js(result_output: str) -> dict:  # type: ignore[type-arg]
    return json.loads(result_output)


# --- the Go corpus -------------------------------------------------------------------------


def oracle(folder: str) -> dict[str, dict[str, object]]:
    """An independent reading of the corpus with regular expressions, not our parser."""
    out: dict[str, dict[str, object]] = {}
    for path in sorted((CORPUS / "tickets" / folder).glob("*.md")):
        head = path.read_text(encoding="utf-8").split("---\n")[1]

        def field(name: str, text: str = head) -> str | None:
            m = re.search(rf"^{name}: *(.*)$", text, re.M)
            if m is None:
                return None
            value = m.group(1).strip()
            return None if value in ("null", "") else value.strip("\"'")

        related = (
            re.findall(r"^\s+- *\"?([^\"\n]+?)\"?\s*$", head.split("related:")[1], re.M)
            if "related:" in head
            else None
        )
        out[path.stem] = {
            "status": folder,
            "priority": int(field("priority") or 2),
            "created_at": field("created_at"),
            "started_at": field("started_at"),
            "closed_at": field("closed_at"),
            "related": related or None,
        }
    return out


def test_corpus_list_matches_the_go_tool(corpus_repo: Path, run: Cli) -> None:
    result = run(corpus_repo, "list", "--status", "all", "--count", "0", "--format", "json")
    assert result.exit_code == 0, result.output
    data = js(result.stdout)
    assert data["summary"] == {"todo": 3, "doing": 1, "done": 97, "total": 101}
    tickets = {t["id"]: t for t in data["tickets"]}
    assert len(data["tickets"]) == len(tickets) == 101
    expected = {**oracle("todo"), **oracle("doing"), **oracle("done")}
    assert set(tickets) == set(expected)
    assert not any("cancelled" in t["path"] for t in data["tickets"])
    for tid, want in expected.items():
        got = tickets[tid]
        assert got["path"] == f"tickets/{want['status']}/{tid}.md"
        for key, value in want.items():
            assert got[key] == value, (tid, key)
        assert got["has_worktree"] == (want["status"] == "doing")
    # Go's order: priority ascending, then newest created_at first
    keys = [(t["priority"], t["created_at"]) for t in data["tickets"]]
    from datetime import datetime

    as_time = [(p, -datetime.fromisoformat(c).timestamp()) for p, c in keys]
    assert as_time == sorted(as_time)


def test_corpus_spot_checks(corpus_repo: Path, run: Cli) -> None:
    doing = js(run(corpus_repo, "list", "-s", "doing", "-o", "json").stdout)["tickets"]
    assert [t["id"] for t in doing] == ["250924-143504-migrate-to-pflag-for-flexible-cli-args"]
    assert doing[0]["started_at"] == "2025-09-26T16:41:16+09:00"
    shown = js(run(corpus_repo, "show", "250809-115810", "-o", "json").stdout)["ticket"]
    assert shown["closure_reason"].startswith("PR #48 completed")
    assert shown["related"] == ["parent:250806-172829-improve-worktree-error-messages"]
    assert shown["content"].startswith("# Extend Close Command for Abandoned Tickets\n")
    assert "has_worktree" not in shown
    default = js(run(corpus_repo, "list", "-o", "json").stdout)
    assert len(default["tickets"]) == 4  # active = todo + doing
    assert default["summary"]["total"] == 101


def test_corpus_text_list(corpus_repo: Path, run: Cli) -> None:
    out = run(corpus_repo, "list").stdout.splitlines()
    assert out[0].split() == ["ID", "STATUS", "PRI", "DESCRIPTION"]
    assert set(out[1]) == {"-"}
    assert len(out) == 2 + 4
    assert all(len(line.split("  ")[-1]) <= 50 for line in out[2:])


# --- init -----------------------------------------------------------------------------------


def test_init_writes_go_config_and_commits(tmp_path: Path, run: Cli) -> None:
    root = make_git_repo(tmp_path / "r")
    result = run(root, "init")
    assert result.exit_code == 0, result.output
    assert "Initialized ticket system successfully" in result.stdout
    # the Go tool's bytes, but the worktree folder is named after the repository (the Go
    # tool's README recommends ../<name>.worktrees; its default is shared by siblings)
    written = (root / ".ticketflow.yaml").read_text()
    assert written == default_config_text().replace("../.worktrees", "../r.worktrees")
    assert (root / ".gitignore").read_text() == "\n# TicketFlow\ncurrent-ticket.md\n.worktrees/\n"
    for d in ("todo", "doing", "done"):
        assert (root / "tickets" / d).is_dir()
    assert git(root, "log", "--format=%s").splitlines() == ["Initialize ticketflow"]
    again = run(root, "init", "-o", "json")
    assert again.exit_code == 0
    assert js(again.stdout)["initialized"] is False


def test_init_records_the_repositorys_own_default_branch(tmp_path: Path, run: Cli) -> None:
    # a repository on master: init says master, so cleanup later checks merges into master
    root = tmp_path / "old"
    root.mkdir()
    git(root, "init", "-q", "-b", "master")
    result = run(root, "init", "-o", "json")
    assert js(result.stdout)["default_branch"] == "master"
    text = (root / ".ticketflow.yaml").read_text()
    assert text == default_config_text("master", "../old.worktrees")
    assert "    default_branch: master\n" in text
    git(root, "config", "user.name", "t")
    git(root, "config", "user.email", "t@example.com")
    tid = js(run(root, "new", "done-on-master", "-o", "json").stdout)["ticket"]["id"]
    git(root, "branch", tid)  # the ticket's branch, merged (it is at master's commit)
    assert run(root, "close", tid, "--reason", "done").exit_code == 0  # cleanup needs done
    cleaned = run(root, "cleanup", tid, "-o", "json")
    assert js(cleaned.stdout)["branch_deleted"] == tid, cleaned.output
    # a clone: origin's HEAD names the default branch, whatever is checked out
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "trunk", str(remote))
    seed = make_git_repo(tmp_path / "seed")
    git(seed, "commit", "-q", "--allow-empty", "-m", "x")
    git(seed, "push", "-q", str(remote), "main:trunk")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    git(clone, "switch", "-q", "-c", "feature")
    assert js(run(clone, "init", "--no-commit", "-o", "json").stdout)["default_branch"] == "trunk"


def test_init_keeps_existing_gitignore(tmp_path: Path, run: Cli) -> None:
    root = make_git_repo(tmp_path / "r")
    (root / ".gitignore").write_text("node_modules/\n")
    assert run(root, "init", "--no-commit").exit_code == 0
    assert (root / ".gitignore").read_text().startswith("node_modules/\n\n# TicketFlow\n")
    assert git(root, "log", "--oneline", "--all") == ""


def test_init_honours_ticketflow_root(
    tmp_path: Path, run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_git_repo(tmp_path / "r")
    monkeypatch.setenv("TICKETFLOW_ROOT", str(root))
    assert run(tmp_path, "init").exit_code == 0
    assert (root / ".ticketflow.yaml").exists()
    assert not (tmp_path / ".ticketflow.yaml").exists()


def test_init_without_git_identity_says_how_to_finish(
    tmp_path: Path, run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(key)
    root = make_git_repo(tmp_path / "r")
    r = run(root, "init")
    assert r.exit_code == 9
    assert "the files are written and staged" in r.stderr
    assert "git commit -m 'Initialize ticketflow' .ticketflow.yaml .gitignore" in r.stderr
    assert "A  .ticketflow.yaml" in git(root, "status", "--porcelain")


def test_init_outside_git(tmp_path: Path, run: Cli) -> None:
    result = run(tmp_path, "init")
    assert result.exit_code == 5
    assert "Error: not in a git repository" in result.stderr
    assert "Hint: run 'git init' first" in result.stderr


# --- new / list / show / start / close / reopen / status ---------------------------------------


def test_full_cycle_text_and_json(repo: Path, run: Cli) -> None:
    r = run(repo, "new", "fix-login", "-d", "Login times out", "--priority", "1", "-o", "json")
    assert r.exit_code == 0, r.output
    created = js(r.stdout)["ticket"]
    tid = created["id"]
    assert re.fullmatch(r"\d{6}-\d{6}-fix-login", tid)
    assert created["status"] == "todo" and created["priority"] == 1
    assert created["path"] == f"tickets/todo/{tid}.md"

    child = run(repo, "new", "child", "--parent", "fix-lo")
    assert child.exit_code == 0, child.output
    assert f"Parent: {tid}" in child.stdout

    listing = run(repo, "list")
    assert tid in listing.stdout and "Login times out" in listing.stdout

    shown = run(repo, "show", "fix-login")
    assert shown.stdout.startswith(f"ID: {tid}\nStatus: todo\nPriority: 1\n")
    assert "# Summary" in shown.stdout

    started = run(repo, "start", "fix-login", "-o", "json")
    assert js(started.stdout)["status"] == "doing"
    status = js(run(repo, "status", "-o", "json").stdout)
    assert status["current_branch"] == "main"
    assert status["current_ticket"]["id"] == tid
    assert status["summary"] == {"todo": 1, "doing": 1, "done": 0, "total": 2}
    assert "Active ticket: " + tid in run(repo, "status").stdout

    closed = run(repo, "close", "--reason", "shipped in 1.4", "-o", "json")  # the current ticket
    assert closed.exit_code == 0, closed.output
    body = js(closed.stdout)
    assert body["success"] is True and body["ticket_id"] == tid
    assert body["close_reason"] == "shipped in 1.4"
    assert "No active ticket" in run(repo, "status").stdout

    reopened = run(repo, "reopen", tid)
    assert reopened.exit_code == 0 and "Status: doing" in reopened.stdout
    assert git(repo, "log", "--format=%s").splitlines()[:5] == [
        f"Reopen ticket: {tid}",
        f"Close ticket: {tid} (shipped in 1.4)",
        f"Start ticket: {tid}",
        f"Add ticket: {js(run(repo, 'show', 'child', '-o', 'json').stdout)['ticket']['id']}",
        f"Add ticket: {tid}",
    ]


def test_new_then_start_then_close_is_byte_for_byte_go_format(repo: Path, run: Cli) -> None:
    tid = js(run(repo, "new", "go-compat", "-o", "json").stdout)["ticket"]["id"]
    run(repo, "start", tid)
    run(repo, "close", tid, "--reason", "x")
    text = (repo / "tickets/done" / f"{tid}.md").read_text()
    m = re.fullmatch(
        r'---\npriority: 2\ndescription: ""\n'
        r'created_at: "(?P<c>[^"]+)"\nstarted_at: "(?P<s>[^"]+)"\nclosed_at: "(?P<d>[^"]+)"\n'
        r"closure_reason: x\n---\n\n(?P<body>.*)",
        text,
        re.S,
    )
    assert m is not None, text
    for key in "csd":
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", m[key])
    assert m["body"].endswith(
        "[Additional notes or remarks]\n\n## Closure Note\n"
        f"**Closed on**: {m['d'][:10]}\n**Reason**: x\n"
    )


def test_list_filters(repo: Path, run: Cli) -> None:
    run(repo, "new", "alpha", "-d", "first thing", "--priority", "1")
    run(repo, "new", "beta", "-d", "second thing")
    run(repo, "new", "gamma", "-d", "unrelated", "--priority", "3")
    run(repo, "start", "gamma")

    def ids(*args: str) -> list[str]:
        return [t["id"][14:] for t in js(run(repo, "list", "-o", "json", *args).stdout)["tickets"]]

    assert ids() == ["alpha", "beta", "gamma"]
    assert ids("--status", "doing") == ["gamma"]
    assert ids("--status", "todo") == ["alpha", "beta"]
    assert ids("--priority", "1") == ["alpha"]
    assert ids("--search", "THING") == ["alpha", "beta"]
    assert ids("--search", "gam") == ["gamma"]
    assert ids("--count", "1") == ["alpha"]
    assert ids("--status", "done") == []
    assert run(repo, "list", "--status", "done").stdout == "No tickets found\n"
    # a cut list says so (text only: the JSON has the totals in its summary)
    cut = run(repo, "list", "--count", "2").stdout
    assert cut.endswith("\n2 of 3 shown; --count 0 for all\n")
    assert "shown" not in run(repo, "list").stdout
    assert "shown" not in run(repo, "list", "--count", "3").stdout
    bad = run(repo, "list", "--status", "later")
    assert bad.exit_code == 2
    assert run(repo, "list", "--count", "-1").exit_code == 2


def test_format_from_environment_and_config(
    repo: Path, run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKETFLOW_OUTPUT_FORMAT", "json")
    assert "summary" in js(run(repo, "list").stdout)
    assert run(repo, "list", "--format", "text").stdout == "No tickets found\n"
    monkeypatch.delenv("TICKETFLOW_OUTPUT_FORMAT")
    cfg = repo / ".ticketflow.yaml"
    cfg.write_text(
        cfg.read_text()
        .replace("default_format: text", "default_format: json")
        .replace("json_pretty: true", "json_pretty: false")
    )
    out = run(repo, "list").stdout
    assert out.startswith('{"summary":') and "\n" not in out.strip()


def test_json_escapes_html_like_go(repo: Path, run: Cli) -> None:
    run(repo, "new", "html", "-d", "a <b> & c")
    out = run(repo, "list", "-o", "json").stdout
    assert "a \\u003cb\\u003e \\u0026 c" in out
    assert js(out)["tickets"][0]["description"] == "a <b> & c"


# --- errors and exit codes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "message", "hint"),
    [
        (["show", "nope"], 4, "no ticket matches 'nope'", "ticketflow list --status all"),
        (["start", "nope"], 4, "no ticket matches", "ticketflow list"),
        (["new", "../x"], 2, "invalid slug '../x'", "ticketflow new fix-login-timeout"),
        (["new", "Has Space"], 2, "invalid slug", "for example"),
        (["new", "UPPER"], 2, "invalid slug", "for example"),
        (["close"], 2, "no active ticket", "ticketflow close <ID>"),
        (["reopen", "one"], 7, "is not closed", "only closed tickets"),
    ],
)
def test_errors_have_message_hint_and_exit_code(
    repo: Path, run: Cli, args: list[str], code: int, message: str, hint: str
) -> None:
    run(repo, "new", "one")
    result = run(repo, *args)
    assert result.exit_code == code
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert f"Hint: {hint}" in result.stderr or hint in result.stderr
    as_json = run(repo, *args, "--format", "json")
    assert as_json.exit_code == code
    err = js(as_json.stderr)["error"]
    assert message in err["message"] and err["hint"] and err["type"]
    assert not list(repo.parent.glob("*.md")) and not (repo / "x.md").exists()


def test_ambiguous_prefix_lists_candidates(repo: Path, run: Cli) -> None:
    a = js(run(repo, "new", "alpha", "-o", "json").stdout)["ticket"]["id"]
    b = js(run(repo, "new", "alpine", "-o", "json").stdout)["ticket"]["id"]
    result = run(repo, "show", "alp")
    assert result.exit_code == 4
    assert "'alp' matches 2 tickets" in result.stderr
    assert result.stderr.count("-alp") == 2
    assert "give more characters" in result.stderr
    err = js(run(repo, "show", "alp", "-o", "json").stderr)["error"]
    assert err["type"] == "ambiguous_id"
    assert err["candidates"] == sorted([a, b])


def test_status_and_list_count_the_same_way(repo: Path, run: Cli) -> None:
    run(repo, "new", "one")
    (repo / "tickets/doing").mkdir(parents=True, exist_ok=True)
    (repo / "tickets/doing/250101-000000-broken.md").write_text("not a ticket\n")
    # a ticket whose file sits in the wrong folder counts by its timestamps in both
    (repo / "tickets/done").mkdir(parents=True, exist_ok=True)
    (repo / "tickets/done/250101-000001-misplaced.md").write_text("---\npriority: 2\n---\n")
    listed = js(run(repo, "list", "-o", "json").stdout)["summary"]
    status = run(repo, "status", "-o", "json")
    assert (
        js(status.stdout)["summary"]
        == listed
        == {
            "todo": 2,
            "doing": 0,
            "done": 0,
            "total": 2,
        }
    )
    assert "Warning: skipped tickets/doing/250101-000000-broken.md:1" in status.stderr


def test_not_initialised_and_not_a_repo(tmp_path: Path, run: Cli) -> None:
    r = run(tmp_path, "list")
    assert r.exit_code == 5 and "not inside a git repository" in r.stderr
    make_git_repo(tmp_path)
    r = run(tmp_path, "list")
    assert r.exit_code == 5 and "ticketflow init" in r.stderr


def test_malformed_ticket_show_says_where(repo: Path, run: Cli) -> None:
    run(repo, "new", "ok")
    bad = repo / "tickets/todo/250101-000000-broken.md"
    bad.write_text("---\npriority: 2\ndescription: [oops\n---\n\nbody\n")
    shown = run(repo, "show", "broken")
    assert shown.exit_code == 6
    assert "tickets/todo/250101-000000-broken.md:4: invalid YAML" in shown.stderr
    listed = run(repo, "list")
    assert listed.exit_code == 0
    assert "ok" in listed.stdout
    assert "Warning: skipped tickets/todo/250101-000000-broken.md:4" in listed.stderr


def test_broken_config_is_a_clear_error(repo: Path, run: Cli) -> None:
    (repo / ".ticketflow.yaml").write_text("tickets:\n  dir: ../outside\n")
    r = run(repo, "list")
    assert r.exit_code == 6 and "must be a relative folder inside the repository" in r.stderr
    (repo / ".ticketflow.yaml").write_text("git: [\n")
    r = run(repo, "list")
    assert r.exit_code == 6 and "invalid YAML" in r.stderr


# --- edit ------------------------------------------------------------------------------------


def make_editor(tmp_path: Path, body: str) -> str:
    """An $EDITOR that runs a Python snippet on the file it is given."""
    script = tmp_path / "editor.py"
    script.write_text("import sys, pathlib\np = pathlib.Path(sys.argv[1])\n" + body)
    return f"{sys.executable} {script}"


def test_edit_valid_change_is_saved_and_committed(
    repo: Path, run: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tid = js(run(repo, "new", "e", "-o", "json").stdout)["ticket"]["id"]
    monkeypatch.setenv(
        "EDITOR",
        make_editor(tmp_path, "p.write_text(p.read_text().replace('priority: 2', 'priority: 1'))"),
    )
    r = run(repo, "edit", "e")
    assert r.exit_code == 0, r.output
    assert "Updated ticket" in r.stdout
    assert "priority: 1\n" in (repo / "tickets/todo" / f"{tid}.md").read_text()
    assert git(repo, "log", "-1", "--format=%s").strip() == f"Update ticket: {tid}"
    assert not list((repo / ".git/ticketflow/edit").iterdir())


def test_edit_that_closes_the_current_ticket_clears_it(
    repo: Path, run: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tid = js(run(repo, "new", "cur", "-o", "json").stdout)["ticket"]["id"]
    run(repo, "start", tid)
    assert js(run(repo, "status", "-o", "json").stdout)["current_ticket"]["id"] == tid
    monkeypatch.setenv(
        "EDITOR",
        make_editor(
            tmp_path,
            "p.write_text(p.read_text().replace('closed_at: null', "
            "'closed_at: \"2025-01-01T00:00:00Z\"'))",
        ),
    )
    assert run(repo, "edit", tid).exit_code == 0
    assert js(run(repo, "status", "-o", "json").stdout)["current_ticket"] is None
    assert not (repo / "current-ticket.md").is_symlink()


def test_edit_that_closes_moves_the_file(
    repo: Path, run: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tid = js(run(repo, "new", "e", "-o", "json").stdout)["ticket"]["id"]
    monkeypatch.setenv(
        "EDITOR",
        make_editor(
            tmp_path,
            "p.write_text(p.read_text().replace('closed_at: null', "
            "'closed_at: \"2025-01-01T00:00:00Z\"'))",
        ),
    )
    assert run(repo, "edit", tid).exit_code == 0
    assert (repo / "tickets/done" / f"{tid}.md").exists()
    assert not (repo / "tickets/todo" / f"{tid}.md").exists()
    assert git(repo, "status", "--porcelain") == ""


def test_edit_broken_result_is_never_kept_silently(
    repo: Path, run: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tid = js(run(repo, "new", "e", "-o", "json").stdout)["ticket"]["id"]
    path = repo / "tickets/todo" / f"{tid}.md"
    before = path.read_bytes()
    monkeypatch.setenv(
        "EDITOR",
        make_editor(
            tmp_path, "p.write_text(p.read_text().replace('priority: 2', 'priority: [high'))"
        ),
    )
    r = run(repo, "edit", tid)
    assert r.exit_code == 10
    assert "not valid, so it was not saved" in r.stderr
    assert path.read_bytes() == before
    kept = list((repo / ".git/ticketflow/edit").glob(f"{tid}.*.md"))
    assert len(kept) == 1
    assert "priority: [high" in kept[0].read_text()
    assert str(kept[0]) in r.stderr
    # a second failed edit never overwrites the first kept copy
    run(repo, "edit", tid)
    again = sorted((repo / ".git/ticketflow/edit").glob(f"{tid}.*.md"))
    assert kept[0] in again and all("priority: [high" in p.read_text() for p in again)


def test_edit_without_changes_and_failing_editor(
    repo: Path, run: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(repo, "new", "e")
    monkeypatch.setenv("EDITOR", make_editor(tmp_path, "pass"))
    r = run(repo, "edit", "e")
    assert r.exit_code == 0 and r.stdout == "No changes\n"
    monkeypatch.setenv("EDITOR", make_editor(tmp_path, "sys.exit(3)"))
    r = run(repo, "edit", "e")
    assert r.exit_code == 10 and "exited with status 3" in r.stderr
    monkeypatch.setenv("EDITOR", "/nonexistent/editor")
    r = run(repo, "edit", "e")
    assert r.exit_code == 10 and "cannot run the editor" in r.stderr and "EDITOR" in r.stderr


def test_edit_refuses_when_the_same_lines_changed_meanwhile(
    repo: Path, run: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tid = js(run(repo, "new", "e", "-o", "json").stdout)["ticket"]["id"]
    target = repo / "tickets/todo" / f"{tid}.md"
    monkeypatch.setenv(
        "EDITOR",
        make_editor(
            tmp_path,
            f"t = pathlib.Path({str(target)!r}); t.write_text(t.read_text() + 'other change\\n')\n"
            "p.write_text(p.read_text() + 'my change\\n')",
        ),
    )
    r = run(repo, "edit", "e")
    # both appended to the body: the same place, so the edit is refused (exit 3), kept
    assert r.exit_code == 3 and "changed while you were editing it" in r.stderr
    assert "(body)" in r.stderr
    kept = re.search(r"your edit is kept in (\S+);", r.stderr)
    assert kept is not None and Path(kept.group(1)).read_text().endswith("my change\n")
    assert target.read_text().endswith("other change\n")


# --- as a user runs it -----------------------------------------------------------------------


def test_help_teaches(run: Cli, tmp_path: Path) -> None:
    r = run(tmp_path, "--help")
    assert r.exit_code == 0
    for word in (
        "init",
        "new",
        "list",
        "show",
        "start",
        "close",
        "reopen",
        "edit",
        "status",
        "--format json",
        "A first session",
    ):
        assert word in r.stdout
    assert "--reason" in run(tmp_path, "close", "--help").stdout


def test_process_entry_points(repo: Path) -> None:
    assert run_process(repo, "new", "proc").returncode == 0
    r = run_process(repo, "list", "--format", "json")
    assert r.returncode == 0 and js(r.stdout)["summary"]["total"] == 1
    bad = run_process(repo, "show", "zzz")
    assert bad.returncode == 4 and "Error: no ticket matches" in bad.stderr
    script = Path(sys.executable).parent / "ticketflow"
    if script.exists():
        assert subprocess.run(
            [str(script), "--version"], capture_output=True, text=True, check=False
        ).stdout.startswith("ticketflow version ")


@pytest.mark.parametrize("command", [["list"], ["show", "x"], ["status"], ["new", "--help"]])
def test_commands_do_not_import_textual(repo: Path, command: list[str]) -> None:
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['ticketflow', *{command!r}]\n"
        "try:\n    runpy.run_module('ticketflow', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'pygit2'))\n"
        "print('LOADED', bad)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ},
    )
    assert "LOADED []" in r.stdout, r.stdout + r.stderr


def test_core_never_imports_textual_or_rich() -> None:
    core = Path(__file__).parents[1] / "ticketflow"
    for path in core.rglob("*.py"):
        rel = path.relative_to(core).as_posix()
        if rel == "cli/progress.py" or rel.startswith("tui/"):
            continue
        text = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+(textual|rich)\b", text, re.M), rel


def test_unwritable_ticket_folder_is_a_clear_error(repo: Path, run: Cli) -> None:
    (repo / "tickets").mkdir(exist_ok=True)
    (repo / "tickets/todo").write_text("a file where the folder should be")
    r = run(repo, "new", "x")
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: cannot read tickets/todo: Not a directory")
    assert "Hint: " in r.stderr
    assert (repo / "tickets/todo").read_text() == "a file where the folder should be"


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--status", "all", "--count", "0"],
        ["--status", "done", "--count", "5"],
        ["--status", "todo", "--priority", "3"],
        ["--status", "all", "--count", "0", "--priority", "1"],
    ],
)
@pytest.mark.parametrize("pretty", [True, False])
def test_fast_json_list_equals_the_plain_rendering(
    corpus_repo: Path, run: Cli, args: list[str], pretty: bool
) -> None:
    """The index's cached per-ticket JSON gives exactly what rendering every ticket gives."""
    from ticketflow.cli.listing import filter_tickets, summarize
    from ticketflow.cli.output import dumps_json, ticket_json
    from ticketflow.store import TicketStore

    if not pretty:
        cfg = corpus_repo / ".ticketflow.yaml"
        cfg.write_text(cfg.read_text().replace("json_pretty: true", "json_pretty: false"))
    for _ in range(2):  # cold index, then warm (rows and renderings cached)
        fast = run(corpus_repo, "list", "--format", "json", *args)
        assert fast.exit_code == 0, fast.output
        loaded = TicketStore.open(corpus_repo).load_all()
        status = args[args.index("--status") + 1] if "--status" in args else "active"
        priority = int(args[args.index("--priority") + 1]) if "--priority" in args else None
        count = int(args[args.index("--count") + 1]) if "--count" in args else 20
        chosen = filter_tickets(loaded.tickets, status, priority, None)
        chosen = chosen[:count] if count else chosen
        expected = dumps_json(
            {"tickets": [ticket_json(t) for t in chosen], "summary": summarize(loaded.tickets)},
            pretty,
        )
        assert fast.stdout == expected + "\n"
