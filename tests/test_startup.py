"""A lean start: each command imports what it needs when it runs (``cli.app.COMMANDS``), and
the parsed ``.ticketflow.yaml`` is cached so a warm command need not import PyYAML."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Cli, run_process

from ticketflow.cli.app import COMMANDS, cli
from ticketflow.config import CACHE_NAME, CONFIG_NAME, load_config


def _loaded_after(cwd: Path, *args: str) -> set[str]:
    """The modules a real ``python -m ticketflow ARGS`` process has imported at its end."""
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['ticketflow', *{list(args)!r}]\n"
        "try:\n    runpy.run_module('ticketflow', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('LOADED', ' '.join(sorted(sys.modules)))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=False
    )
    line = next(x for x in r.stdout.splitlines() if x.startswith("LOADED "))
    return set(line.split()[1:])


def test_every_command_is_defined_by_the_module_the_registry_names() -> None:
    for name, (module, overview) in COMMANDS.items():
        importlib.import_module(f"ticketflow.cli.{module}")
        assert name in cli.commands, f"{name} is not defined in ticketflow.cli.{module}"
        assert cli.commands[name].short_help == overview
    # and no command is defined that the registry (the overview) does not list
    assert set(cli.commands) == set(COMMANDS)


def test_overview_lists_every_command_without_importing_them(tmp_path: Path) -> None:
    loaded = _loaded_after(tmp_path, "--help")
    commands = {m for m in loaded if m.startswith("ticketflow.cli.")}
    assert commands == {"ticketflow.cli.app"}
    for heavy in ("yaml", "sqlite3", "ticketflow.store", "ticketflow.index", "logging"):
        assert heavy not in loaded
    r = run_process(tmp_path, "--help")
    assert r.returncode == 0
    listed = [line.split()[0] for line in r.stdout.split("Commands:\n")[1].splitlines()]
    assert listed == sorted(COMMANDS)


def test_a_command_loads_only_its_own_module(repo: Path) -> None:
    loaded = _loaded_after(repo, "version")
    assert {m for m in loaded if m.startswith("ticketflow.cli.")} == {
        "ticketflow.cli.app",
        "ticketflow.cli.admin",
        "ticketflow.cli.output",
    }


def test_a_warm_list_imports_neither_yaml_nor_logging(repo: Path, run: Cli) -> None:
    run(repo, "new", "first")
    assert run_process(repo, "list").returncode == 0  # builds the index and the config cache
    for args in (["list"], ["list", "--format", "json"], ["status"]):
        loaded = _loaded_after(repo, *args)
        assert "ticketflow.index" in loaded
        assert not {"yaml", "logging", "ticketflow.fileformat", "pygit2"} & loaded, args
    # asked for, the log is there
    r = run_process(repo, "list", "--log-level", "debug")
    assert 'msg="command started" command=list' in r.stderr


def test_aliases_and_help_of_a_lazy_command_work(repo: Path, run: Cli) -> None:
    r = run(repo, "ls", "--help")
    assert r.exit_code == 0 and "List tickets" in r.output
    r = run(repo, "help", "worktree", "list")
    assert r.exit_code == 0 and "worktree list [OPTIONS]" in r.output
    r = run(repo, "nosuch")
    assert r.exit_code == 2 and "No such command 'nosuch'" in r.output


def test_narrow_overview_cuts_long_lines_at_a_word(tmp_path: Path) -> None:
    r = run_process(tmp_path, "--help", env={"COLUMNS": "60"})
    rows = r.stdout.split("Commands:\n")[1].splitlines()
    assert all(len(row) <= 60 for row in rows), rows
    close = next(row for row in rows if row.split()[0] == "close")
    assert close.endswith("...") and not close.endswith(" ...")


# --- the parsed config, cached -----------------------------------------------------------


def _cache(repo: Path) -> Path:
    return repo / ".git" / "ticketflow" / CACHE_NAME


def test_config_cache_is_written_and_used(repo: Path) -> None:
    first = load_config(repo / CONFIG_NAME)
    cache = json.loads(_cache(repo).read_text())
    assert cache["text"] == (repo / CONFIG_NAME).read_text()
    assert load_config(repo / CONFIG_NAME) == first
    # a warm command in a real process reads the config without PyYAML's reader
    assert "ticketflow.config" in _loaded_after(repo, "status")
    assert "yaml.reader" not in _loaded_after(repo, "version")


def test_an_edited_config_is_read_again(repo: Path) -> None:
    assert load_config(repo / CONFIG_NAME).default_format == "text"
    path = repo / CONFIG_NAME
    path.write_text(path.read_text().replace("default_format: text", "default_format: json"))
    assert load_config(path).default_format == "json"
    assert json.loads(_cache(repo).read_text())["data"]["output"]["default_format"] == "json"


@pytest.mark.parametrize("garbage", [b"", b"{not json", b"[1, 2]", b'{"key": 1}', b"\xff\xfe"])
def test_a_corrupt_cache_is_ignored_and_replaced(repo: Path, garbage: bytes) -> None:
    expected = load_config(repo / CONFIG_NAME)
    _cache(repo).write_bytes(garbage)
    assert load_config(repo / CONFIG_NAME) == expected
    assert json.loads(_cache(repo).read_text())["text"] == (repo / CONFIG_NAME).read_text()


def test_a_cache_for_other_text_is_not_believed(repo: Path) -> None:
    load_config(repo / CONFIG_NAME)
    cache = json.loads(_cache(repo).read_text())
    cache["data"]["output"]["default_format"] = "json"  # stale: says json, file says text
    cache["text"] = "something else"
    _cache(repo).write_text(json.dumps(cache))
    assert load_config(repo / CONFIG_NAME).default_format == "text"


def test_values_json_cannot_hold_are_parsed_every_time(repo: Path) -> None:
    path = repo / CONFIG_NAME
    path.write_text(path.read_text() + "released: 2025-08-09\n1: one\n")
    config = load_config(path)
    assert config.raw["released"].isoformat() == "2025-08-09"
    assert config.raw[1] == "one"
    assert not _cache(repo).exists()
    assert load_config(path).raw == config.raw


def test_no_git_folder_is_made_where_there_is_none(tmp_path: Path) -> None:
    (tmp_path / CONFIG_NAME).write_text("output:\n    default_format: json\n")
    assert load_config(tmp_path / CONFIG_NAME).default_format == "json"
    assert not (tmp_path / ".git").exists()


def test_a_cache_that_cannot_be_written_still_reads_the_config(repo: Path) -> None:
    _cache(repo).mkdir(parents=True)  # a folder where the file goes: os.replace fails
    assert load_config(repo / CONFIG_NAME).default_format == "text"
    assert _cache(repo).is_dir() and not any(_cache(repo).iterdir())
    assert not [p for p in _cache(repo).parent.iterdir() if p.name.startswith(".tf-tmp")]
