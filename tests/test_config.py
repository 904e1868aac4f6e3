"""``.ticketflow.yaml``: Go keys, defaults, unknown keys kept, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CORPUS

from ticketflow.config import (
    DEFAULT_TEMPLATE,
    Config,
    default_config_text,
    load_config,
    parse_config,
)
from ticketflow.errors import ConfigError, NotARepoError
from ticketflow.fileformat import load_yaml


def test_corpus_config_loads_with_unknown_keys_kept() -> None:
    config = load_config(CORPUS / ".ticketflow.yaml")
    assert config.default_branch == "main"
    assert config.worktree_enabled is True
    assert config.worktree_base_dir == "../ticketflow.worktrees"
    assert config.init_commands[0] == "git status"
    assert config.template.startswith("# Ticket Overview\n")
    assert config.git_timeout == 30 and config.init_commands_timeout == 60
    # auto_operations is not a key we know: it is kept, never an error
    assert config.raw["worktree"]["auto_operations"]["remove_on_close"] is True


def test_example_config_with_old_keys_loads() -> None:
    config = load_config(CORPUS / ".ticketflow.yaml.example")
    assert config.raw["tickets"]["archive_dir"] == "tickets/done"
    assert config.template.startswith("# 概要")


def test_init_text_round_trips_to_defaults() -> None:
    config = parse_config(load_yaml(default_config_text()), Path("x"))
    assert config == Config()
    assert config.template == DEFAULT_TEMPLATE
    assert not DEFAULT_TEMPLATE.endswith("\n")


def test_missing_keys_take_defaults() -> None:
    config = parse_config({"tickets": {"dir": "work"}}, Path("x"))
    assert config.tickets_dir == "work"
    assert config.todo_dir == "todo"
    assert config.auto_commit is True
    assert parse_config(None, Path("x")) == Config()


def test_timeouts_of_zero_mean_default() -> None:
    config = parse_config({"timeouts": {"git": 0, "init_commands": 0}}, Path("x"))
    assert config.git_timeout == 30 and config.init_commands_timeout == 60


def test_low_speed_floor_defaults_and_zero_turns_it_off() -> None:
    assert Config().git_low_speed_bytes == 1000
    assert parse_config({"timeouts": {"git": 10}}, Path("x")).git_low_speed_bytes == 1000
    config = parse_config({"timeouts": {"git_low_speed_bytes": 0}}, Path("x"))
    assert config.git_low_speed_bytes == 0
    config = parse_config({"timeouts": {"git_low_speed_bytes": 50_000}}, Path("x"))
    assert config.git_low_speed_bytes == 50_000
    # an unknown key beside it stays what it always was: kept, never an error
    config = parse_config({"timeouts": {"git": 5, "something_new": "x"}}, Path("x"))
    assert config.raw["timeouts"]["something_new"] == "x"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ([1, 2], "must be a mapping"),
        ({"git": "main"}, "'git' must be a mapping"),
        ({"git": {"auto_commit": "yes please"}}, "git.auto_commit must be true or false"),
        ({"timeouts": {"git": "soon"}}, "timeouts.git must be an integer"),
        ({"output": {"default_format": "xml"}}, "must be text or json"),
        ({"tickets": {"dir": "/etc"}}, "relative folder inside the repository"),
        ({"tickets": {"done_dir": "../../x"}}, "relative folder inside the repository"),
        ({"worktree": {"init_commands": "make"}}, "list of commands"),
        ({"tickets": {"template": 5}}, "tickets.template must be text"),
        ({"timeouts": {"git": -1}}, "between 0 and 3600"),
        ({"timeouts": {"init_commands": 3601}}, "between 0 and 3600"),
        ({"timeouts": {"git_low_speed_bytes": -1}}, "git_low_speed_bytes must be between 0"),
        ({"timeouts": {"git_low_speed_bytes": "1k"}}, "git_low_speed_bytes must be an integer"),
        ({"timeouts": {"git_low_speed_bytes": True}}, "git_low_speed_bytes must be an integer"),
    ],
)
def test_bad_values_are_clear_errors(data: object, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_config(data, Path(".ticketflow.yaml"))


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(NotARepoError, match="not initialised"):
        load_config(tmp_path / ".ticketflow.yaml")


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / ".ticketflow.yaml"
    path.write_text("git:\n  default_branch: main\noutput: [\n")
    with pytest.raises(ConfigError, match=r"\.ticketflow\.yaml:4: invalid YAML"):
        load_config(path)


def test_a_config_error_quotes_only_the_start_of_a_huge_value(tmp_path: Path) -> None:
    # a teammate's push can put anything in .ticketflow.yaml: the error stays a line or two
    from ticketflow.config import load_config
    from ticketflow.errors import ConfigError

    path = tmp_path / ".ticketflow.yaml"
    path.write_text("timeouts:\n    git: " + "x" * 10_000 + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert len(info.value.message) < 300
    assert "10,000 characters" in info.value.message
