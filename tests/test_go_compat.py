"""The Go tool's command line in ticketflow: version, help, workflow, the ls alias, the
logging flags, start --force, close --force and the Go error JSON (code, suggestions).
The workspace commands (restore, worktree, cleanup) are in test_go_workspace.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Cli, git, run_process
from test_workspace import configure


def js(text: str) -> dict:  # type: ignore[type-arg]
    return json.loads(text)


def new_id(run: Cli, repo: Path, slug: str) -> str:
    r = run(repo, "new", slug, "-o", "json")
    assert r.exit_code == 0, r.output
    return str(js(r.stdout)["ticket"]["id"])


# --- version, help, workflow, ls ------------------------------------------------------------


def test_version_command_and_flags_agree(repo: Path, run: Cli) -> None:
    from ticketflow import __version__

    text = run(repo, "version")
    assert text.exit_code == 0 and text.stdout == f"ticketflow version {__version__}\n"
    data = js(run(repo, "version", "-o", "json").stdout)
    assert data == {"build_time": "unknown", "git_commit": "unknown", "version": __version__}
    for flag in ("--version", "-v", "-V"):
        assert run(repo, flag).stdout == text.stdout, flag


def test_version_works_outside_a_repository(tmp_path: Path, run: Cli) -> None:
    assert run(tmp_path, "version").exit_code == 0


def test_help_is_the_commands_own_help(repo: Path, run: Cli) -> None:
    assert run(repo, "help").stdout == run(repo, "--help").stdout
    start = run(repo, "help", "start")
    assert start.exit_code == 0 and start.stdout == run(repo, "start", "--help").stdout
    assert "--force" in start.stdout
    assert run(repo, "help", "ls").stdout == run(repo, "list", "--help").stdout


def test_help_for_an_unknown_command_is_a_usage_error(repo: Path, run: Cli) -> None:
    bad = run(repo, "help", "nope")
    assert bad.exit_code == 2 and "No such command 'nope'" in bad.output
    deeper = run(repo, "help", "list", "extra")  # list has no subcommands
    assert deeper.exit_code == 2 and "has no subcommands" in deeper.output


def test_workflow_prints_the_guide_anywhere(tmp_path: Path, run: Cli) -> None:
    r = run(tmp_path, "workflow")
    assert r.exit_code == 0
    assert r.stdout.startswith("# The ticketflow workflow\n")
    for command in ("ticketflow new", "ticketflow start", "ticketflow close", "cleanup"):
        assert command in r.stdout


def test_ls_is_list(repo: Path, run: Cli) -> None:
    for slug in ("one", "two", "three"):
        new_id(run, repo, slug)
    assert run(repo, "ls", "-o", "json").stdout == run(repo, "list", "-o", "json").stdout
    short = js(run(repo, "ls", "-s", "all", "-c", "1", "-o", "json").stdout)
    assert len(short["tickets"]) == 1 and short["summary"]["total"] == 3
    assert "alias: ls" in run(repo, "list", "--help").stdout


# --- logging --------------------------------------------------------------------------------


def test_no_log_lines_unless_asked(repo: Path) -> None:
    r = run_process(repo, "new", "quiet")
    assert r.returncode == 0 and r.stderr == ""


def test_log_level_filters_and_text_is_key_value(repo: Path) -> None:
    info = run_process(repo, "new", "logged", "--log-level", "info")
    assert info.returncode == 0
    lines = info.stderr.splitlines()
    assert any('msg="ticket committed"' in line and "level=INFO" in line for line in lines)
    assert any('msg="command finished"' in line and "command=new" in line for line in lines)
    assert not any("level=DEBUG" in line for line in lines)
    assert all(line.startswith("time=") for line in lines)
    assert "Created ticket" in info.stdout  # results stay on stdout, untouched
    debug = run_process(repo, "list", "--log-level", "debug")
    assert 'level=DEBUG msg="command started" command=list' in debug.stderr
    errors_only = run_process(repo, "new", "quiet-one", "--log-level", "error")
    assert errors_only.stderr == ""


def test_log_format_json_to_a_file(repo: Path, tmp_path: Path) -> None:
    log_file = tmp_path / "tf.log"
    log_file.write_text("earlier line\n")
    args = ("--log-format", "json", "--log-output", str(log_file))
    r = run_process(repo, "new", "filed", *args)
    assert r.returncode == 0 and r.stderr == ""
    bad = run_process(repo, "show", "nothing-like-this", *args)
    assert bad.returncode == 4
    lines = log_file.read_text().splitlines()
    assert lines[0] == "earlier line"  # appended, as the Go tool opens it
    records = [json.loads(line) for line in lines[1:]]
    assert all(list(rec)[:3] == ["time", "level", "msg"] for rec in records)
    committed = next(rec for rec in records if rec["msg"] == "ticket committed")
    assert committed["level"] == "INFO" and committed["files"][0].startswith("tickets/todo/")
    failed = next(rec for rec in records if rec["msg"] == "command failed")
    assert failed["level"] == "ERROR" and failed["code"] == "TICKET_NOT_FOUND"
    assert failed["exit_code"] == 4


def test_log_output_stdout(repo: Path) -> None:
    r = run_process(repo, "list", "--log-output", "stdout")
    assert 'msg="command finished"' in r.stdout and r.stderr == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--log-level", "loud"), "unknown log level 'loud'"),
        (("--log-format", "xml"), "Invalid value for '--log-format'"),
        (("--log-output", "/no/such/folder/x.log"), "cannot open the log file"),
    ],
)
def test_bad_log_options_are_usage_errors(repo: Path, args: tuple[str, ...], message: str) -> None:
    r = run_process(repo, "list", *args)
    assert r.returncode == 2 and message in r.stderr


# --- errors as the Go tool writes them ------------------------------------------------------


def error_of(run: Cli, cwd: Path, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    r = run(cwd, *args, "-o", "json")
    return r.exit_code, js(r.stderr)["error"]


def test_error_json_has_go_codes_and_suggestions(repo: Path, run: Cli) -> None:
    code, error = error_of(run, repo, "show", "zzz")
    assert (code, error["code"], error["type"]) == (4, "TICKET_NOT_FOUND", "not_found")
    assert error["suggestions"] == [error["hint"]]
    tid = new_id(run, repo, "errs")
    assert error_of(run, repo, "reopen", tid)[1]["code"] == "TICKET_NOT_DONE"
    assert error_of(run, repo, "close", tid)[1]["code"] == "VALIDATION_ERROR"  # needs a reason
    assert error_of(run, repo, "close")[1]["code"] == "TICKET_NOT_STARTED"
    assert run(repo, "start", tid, "--no-branch").exit_code == 0
    assert error_of(run, repo, "start", tid)[1]["code"] == "TICKET_ALREADY_STARTED"
    assert run(repo, "close", tid).exit_code == 0
    assert error_of(run, repo, "close", tid)[1]["code"] == "TICKET_ALREADY_CLOSED"
    assert error_of(run, repo, "start", tid)[1]["code"] == "TICKET_ALREADY_CLOSED"


def test_malformed_ticket_error_keeps_its_problem_code(repo: Path, run: Cli) -> None:
    bad = repo / "tickets" / "todo" / "261203-120000-broken.md"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text("---\npriority: high\n---\n")
    code, error = error_of(run, repo, "show", "broken")
    assert code == 6 and error["code"] == "TICKET_INVALID"
    assert error["problem_code"] == "wrong-type"


def test_not_initialised_and_not_a_repo_codes(tmp_path: Path, run: Cli) -> None:
    assert error_of(run, tmp_path, "list")[1]["code"] == "NOT_GIT_REPO"
    git(tmp_path, "init", "-q")
    assert error_of(run, tmp_path, "list")[1]["code"] == "CONFIG_NOT_FOUND"


# --- start --force --------------------------------------------------------------------------


def started_worktree(run: Cli, repo: Path, slug: str) -> tuple[str, Path]:
    configure(repo, worktrees=True, commands=["git status --short"])
    tid = new_id(run, repo, slug)
    r = run(repo, "start", tid, "-o", "json")
    assert r.exit_code == 0, r.output
    return tid, Path(js(r.stdout)["worktree_path"])


def test_start_force_recreates_the_worktree(repo: Path, run: Cli) -> None:
    tid, worktree = started_worktree(run, repo, "rebuild")
    (worktree / "work.txt").write_text("committed work\n")
    git(worktree, "add", "work.txt")
    git(worktree, "commit", "-qm", "work")
    head = git(worktree, "rev-parse", "HEAD")
    (worktree / "marker").mkdir()  # an empty folder: not a change git sees, gone after
    plain = run(repo, "start", tid)
    assert plain.exit_code == 7 and f"start {tid} --force" in plain.output
    r = run(repo, "start", tid, "--force", "-o", "json")
    assert r.exit_code == 0, r.output
    data = js(r.stdout)
    assert data["is_recreating_worktree"] is True and data["original_status"] == "doing"
    assert Path(data["worktree_path"]) == worktree
    assert not (worktree / "marker").exists()  # the folder was made anew
    assert git(worktree, "rev-parse", "HEAD") == head  # on its branch, commits kept
    assert (worktree / "work.txt").read_text() == "committed work\n"
    assert [c["returncode"] for c in data["init_commands"]] == [0]  # ran again
    assert data["init_commands_executed"] is True
    assert (worktree / "current-ticket.md").is_symlink()
    assert git(repo, "log", "--format=%s").count(f"Start ticket: {tid}") == 1


def test_start_force_never_removes_uncommitted_work(repo: Path, run: Cli) -> None:
    tid, worktree = started_worktree(run, repo, "dirty")
    (worktree / "unsaved.txt").write_text("unsaved\n")
    r = run(repo, "start", tid, "-f")
    assert r.exit_code == 3 and "unsaved.txt" in r.output and "not recreated" in r.output
    assert (worktree / "unsaved.txt").read_text() == "unsaved\n"
    _, error = error_of(run, repo, "start", tid, "-f")
    assert error["code"] == "GIT_DIRTY_WORKSPACE" and error["files"] == ["unsaved.txt"]


def test_start_force_on_a_todo_ticket_is_a_start(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=True, commands=[])
    tid = new_id(run, repo, "fresh")
    data = js(run(repo, "start", tid, "--force", "-o", "json").stdout)
    assert data["status"] == "doing" and data["is_recreating_worktree"] is False
    assert data["original_status"] == "todo" and Path(data["worktree_path"]).is_dir()
    assert data["init_commands_executed"] is False  # none configured


def test_start_force_without_worktrees_is_still_already_started(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=False)
    tid = new_id(run, repo, "nowt")
    assert run(repo, "start", tid).exit_code == 0
    again = run(repo, "start", tid, "--force")
    assert again.exit_code == 7 and "already started" in again.output


# --- close --force --------------------------------------------------------------------------


def test_close_refuses_uncommitted_work_in_the_worktree(repo: Path, run: Cli) -> None:
    tid, worktree = started_worktree(run, repo, "unsaved")
    (worktree / "notes.txt").write_text("not committed\n")
    code, error = error_of(run, repo, "close")
    assert code == 3 and error["code"] == "GIT_DIRTY_WORKSPACE"
    assert error["files"] == ["notes.txt"] and error["worktree_path"] == str(worktree)
    assert "--force" in error["hint"]
    assert (repo / "tickets" / "doing" / f"{tid}.md").exists()  # not closed
    forced = run(repo, "close", "--force", "-o", "json")
    assert forced.exit_code == 0, forced.output
    data = js(forced.stdout)
    assert data["force_used"] is True and data["mode"] == "current"
    assert data["commit_created"] is True
    assert (repo / "tickets" / "done" / f"{tid}.md").exists()
    assert (worktree / "notes.txt").read_text() == "not committed\n"  # left where it was


def test_close_by_id_checks_that_tickets_worktree(repo: Path, run: Cli) -> None:
    tid, worktree = started_worktree(run, repo, "byid")
    other = new_id(run, repo, "other")
    assert run(repo, "start", other, "--no-branch").exit_code == 0  # now the current one
    (worktree / "x.txt").write_text("x")
    assert run(repo, "close", tid).exit_code == 3
    (worktree / "x.txt").unlink()
    data = js(run(repo, "close", tid, "-o", "json").stdout)
    assert data["mode"] == "by_id" and data["force_used"] is False


def test_close_ignores_ticket_files_and_the_current_link(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=False)
    tid = new_id(run, repo, "own-files")
    assert run(repo, "start", tid).exit_code == 0
    assert run(repo, "new", "uncommitted", "--no-commit").exit_code == 0
    assert "tickets/" in git(repo, "status", "--short")  # a ticket file, not committed
    r = run(repo, "close")
    assert r.exit_code == 0, r.output


def test_close_current_without_worktree_checks_this_checkout(repo: Path, run: Cli) -> None:
    configure(repo, worktrees=False)
    tid = new_id(run, repo, "here")
    assert run(repo, "start", tid).exit_code == 0
    (repo / "src.py").write_text("print('wip')\n")
    refused = run(repo, "close")
    assert refused.exit_code == 3 and "src.py" in refused.output
    assert run(repo, "close", "-f").exit_code == 0


def test_log_lines_redact_secrets_and_escape_control_characters() -> None:
    import logging

    from ticketflow.logs import SlogJSONFormatter, SlogTextFormatter

    record = logging.LogRecord("ticketflow", logging.INFO, __file__, 1, "fetch", None, None)
    record.fields = {  # type: ignore[attr-defined]
        "url": "https://ana:s3cret@example.com/team.git",
        "title": "evil\x1b]0;owned\x07",
        "files": ["a b.md", "c.md"],
    }
    text = SlogTextFormatter().format(record)
    assert "s3cret" not in text and "\x1b" not in text and "\x07" not in text
    assert 'files="[a b.md c.md]"' in text
    data = json.loads(SlogJSONFormatter().format(record))
    assert "s3cret" not in data["url"] and data["files"] == ["a b.md", "c.md"]


def test_start_force_from_inside_the_worktree_keeps_it(repo: Path, run: Cli) -> None:
    tid, worktree = started_worktree(run, repo, "inside")
    (worktree / "marker").mkdir()  # gone if the folder were rebuilt
    code, error = error_of(run, worktree, "start", tid, "--force")
    assert code == 3 and error["code"] == "WORKTREE_IN_USE"
    assert (worktree / "marker").is_dir()
