"""``.ticketflow.yaml``: the Go tool's keys, our own additions, and every unknown key kept.

The file is shared with the Go tool, so reading is lenient (unknown keys are kept in ``raw``
and never an error) while known keys are type-checked with a clear message. Our additions
live under keys the Go tool ignores (``git.auto_commit``, ``git.branch_on_start``,
``timeouts.git_low_speed_bytes``, ``sync.claim``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ticketflow.errors import ConfigError, NotARepoError, TicketflowError, quoted

CONFIG_NAME = ".ticketflow.yaml"

DEFAULT_TEMPLATE = """# Summary

[Describe the ticket summary here]

## Tasks
- [ ] Task 1
- [ ] Task 2
- [ ] Task 3

## Technical Specifications

[Add technical details as needed]

## Notes

[Additional notes or remarks]"""
"""The Go tool's default body for a new ticket (no trailing newline, as in Go)."""


@dataclass(frozen=True)
class Config:
    """Typed view of ``.ticketflow.yaml``; ``raw`` is the whole mapping as read."""

    default_branch: str = "main"
    worktree_enabled: bool = True
    worktree_base_dir: str = "../.worktrees"
    init_commands: tuple[str, ...] = ("git fetch origin",)
    tickets_dir: str = "tickets"
    todo_dir: str = "todo"
    doing_dir: str = "doing"
    done_dir: str = "done"
    template: str = DEFAULT_TEMPLATE
    default_format: str = "text"
    json_pretty: bool = True
    git_timeout: int = 30
    git_low_speed_bytes: int = 1000
    """A transfer that moves fewer bytes than this in ``git_timeout`` seconds has stalled
    (a network error, retried); 0 turns the rule off. Ours: the Go tool ignores it."""
    init_commands_timeout: int = 60
    auto_commit: bool = True
    branch_on_start: bool = True
    sync_claim: bool = False
    """``sync.claim``: ``start`` and ``close`` claim through the remote by default (as
    ``--claim`` does). Ours: the Go tool ignores it."""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def status_dirs(self) -> dict[str, str]:
        """Status value -> folder name under ``tickets_dir``."""
        return {"todo": self.todo_dir, "doing": self.doing_dir, "done": self.done_dir}


def _section(data: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(
            f"{path}: '{name}' must be a mapping, got {type(value).__name__}",
            hint="see docs/file-format.md for the configuration keys",
        )
    return value


def _get(
    section: dict[str, Any], key: str, kind: type, default: Any, where: str, path: Path
) -> Any:
    value = section.get(key)
    if value is None:
        return default
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{path}: {where} must be an integer, got {quoted(value)}")
    if kind is bool and not isinstance(value, bool):
        raise ConfigError(f"{path}: {where} must be true or false, got {quoted(value)}")
    if kind is str and not isinstance(value, str):
        raise ConfigError(f"{path}: {where} must be text, got {quoted(value)}")
    return value


MAX_TIMEOUT = 3600
MAX_LOW_SPEED_BYTES = 1 << 30


def _timeout(section: dict[str, Any], key: str, default: int, path: Path) -> int:
    """Seconds; 0 means the default, as in the Go tool, which also caps them at an hour."""
    value: int = _get(section, key, int, default, f"timeouts.{key}", path)
    if value < 0 or value > MAX_TIMEOUT:
        raise ConfigError(
            f"{path}: timeouts.{key} must be between 0 and {MAX_TIMEOUT} seconds, got {value}",
            hint="0 means the default",
        )
    return value or default


def _byte_floor(section: dict[str, Any], key: str, default: int, path: Path) -> int:
    """Bytes; unlike the timeouts, 0 means off (git's http.lowSpeedLimit: 0 too)."""
    value: int = _get(section, key, int, default, f"timeouts.{key}", path)
    if value < 0 or value > MAX_LOW_SPEED_BYTES:
        raise ConfigError(
            f"{path}: timeouts.{key} must be between 0 and {MAX_LOW_SPEED_BYTES} bytes, "
            f"got {value}",
            hint="0 turns the low-speed rule off",
        )
    return value


def _safe_dir_name(value: str, where: str, path: Path) -> str:
    """Ticket folders must stay inside the repository and out of git's own folder: no
    absolute path, no '..', no '.git' (in any letter case: macOS and Windows file systems
    ignore it). A link that leads out anyway is refused when used (``safepaths``)."""
    parts = Path(value).parts
    if not value or Path(value).is_absolute() or ".." in parts:
        raise ConfigError(
            f"{path}: {where} {quoted(value)} must be a relative folder inside the repository"
        )
    if any(part.casefold() == ".git" for part in parts):
        raise ConfigError(
            f"{path}: {where} {quoted(value)} must not be inside .git, git's own folder",
            hint="ticket folders hold files git tracks: the default is tickets.dir: tickets",
        )
    return value


def parse_config(data: Any, path: Path) -> Config:
    """Build a ``Config`` from the loaded YAML mapping (``None`` means all defaults)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping of keys")
    d = Config()
    git = _section(data, "git", path)
    wt = _section(data, "worktree", path)
    tk = _section(data, "tickets", path)
    out = _section(data, "output", path)
    to = _section(data, "timeouts", path)
    sy = _section(data, "sync", path)
    commands = wt.get("init_commands")
    if commands is None:
        commands = list(d.init_commands)
    if not isinstance(commands, list) or not all(isinstance(c, str) for c in commands):
        raise ConfigError(f"{path}: worktree.init_commands must be a list of commands")
    fmt = _get(out, "default_format", str, d.default_format, "output.default_format", path)
    if fmt not in ("text", "json"):
        raise ConfigError(f"{path}: output.default_format must be text or json, got {quoted(fmt)}")
    timeout_git = _timeout(to, "git", d.git_timeout, path)
    timeout_init = _timeout(to, "init_commands", d.init_commands_timeout, path)
    low_speed = _byte_floor(to, "git_low_speed_bytes", d.git_low_speed_bytes, path)
    return Config(
        default_branch=_get(
            git, "default_branch", str, d.default_branch, "git.default_branch", path
        ),
        auto_commit=_get(git, "auto_commit", bool, d.auto_commit, "git.auto_commit", path),
        branch_on_start=_get(
            git, "branch_on_start", bool, d.branch_on_start, "git.branch_on_start", path
        ),
        worktree_enabled=_get(wt, "enabled", bool, d.worktree_enabled, "worktree.enabled", path),
        worktree_base_dir=_get(wt, "base_dir", str, d.worktree_base_dir, "worktree.base_dir", path),
        init_commands=tuple(commands),
        tickets_dir=_safe_dir_name(
            _get(tk, "dir", str, d.tickets_dir, "tickets.dir", path), "tickets.dir", path
        ),
        todo_dir=_safe_dir_name(
            _get(tk, "todo_dir", str, d.todo_dir, "tickets.todo_dir", path),
            "tickets.todo_dir",
            path,
        ),
        doing_dir=_safe_dir_name(
            _get(tk, "doing_dir", str, d.doing_dir, "tickets.doing_dir", path),
            "tickets.doing_dir",
            path,
        ),
        done_dir=_safe_dir_name(
            _get(tk, "done_dir", str, d.done_dir, "tickets.done_dir", path),
            "tickets.done_dir",
            path,
        ),
        template=_get(tk, "template", str, d.template, "tickets.template", path),
        default_format=fmt,
        json_pretty=_get(out, "json_pretty", bool, d.json_pretty, "output.json_pretty", path),
        git_timeout=timeout_git,
        git_low_speed_bytes=low_speed,
        init_commands_timeout=timeout_init,
        sync_claim=_get(sy, "claim", bool, d.sync_claim, "sync.claim", path),
        raw=data,
    )


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotARepoError(
            f"{path.parent} is not initialised for ticketflow (no {CONFIG_NAME})",
            hint="run 'ticketflow init' at the top of the repository",
            error_code="CONFIG_NOT_FOUND",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_config(_config_data(text, path), path)


CACHE_NAME = "config.json"
"""The parsed ``.ticketflow.yaml``, kept in ``<git dir>/ticketflow/`` beside the index.

Why: importing PyYAML costs about 15 ms, an eighth of a whole ``list``; the file rarely
changes. The cache holds the file's exact text and is used only when the text read now is
the same (and by the same ticketflow); anything else (no cache, a corrupt one, a value JSON
cannot hold exactly, such as a date) parses the file again."""


def _cache_key() -> str:
    import sys

    from ticketflow import __version__

    return f"1|{__version__}|{sys.version.split()[0]}"


def _config_data(text: str, path: Path) -> Any:
    cache = git_dir(path.parent) / "ticketflow" / CACHE_NAME
    key = _cache_key()
    try:
        cached = json.loads(cache.read_bytes())
    except (OSError, ValueError):
        cached = None
    if isinstance(cached, dict) and cached.get("key") == key and cached.get("text") == text:
        return cached.get("data")
    data = _parse_yaml(text, path)
    _keep(cache, {"key": key, "text": text, "data": data})
    return data


def _keep(cache: Path, entry: dict[str, Any]) -> None:
    """Write the cache when JSON holds the data exactly; a repository we may not write to
    (a read-only checkout) just parses every time."""
    try:
        encoded = json.dumps(entry, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):  # a date, a non-string key...: parsed each time
        return
    if json.loads(encoded) != entry:  # e.g. integer keys that JSON turns into strings
        return
    from ticketflow.fsutil import atomic_write

    try:
        cache.parent.mkdir(exist_ok=True)  # not parents: never make a .git where there is none
        atomic_write(cache, encoded.encode("utf-8"))
    except (OSError, TicketflowError) as exc:
        import logging

        from ticketflow.logs import log

        log(logging.DEBUG, "config cache not written", path=str(cache), error=str(exc))


def _parse_yaml(text: str, path: Path) -> Any:
    import yaml

    from ticketflow.fileformat import load_yaml

    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or exc
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None


def find_git_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding ``.git`` (a folder, or a worktree's file).

    A plain walk, so commands that only read tickets never load libgit2.
    """
    current = start.resolve()
    for candidate in (current, *current.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def git_dir(root: Path) -> Path:
    """The repository's git dir without loading libgit2 (``.git`` or a worktree's pointer)."""
    dot_git = root / ".git"
    if dot_git.is_file():
        text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
        if text.startswith("gitdir:"):
            target = Path(text.removeprefix("gitdir:").strip())
            return target if target.is_absolute() else (root / target).resolve()
    return dot_git


def read_head_branch(root: Path) -> str | None:
    """The checked-out branch from ``HEAD`` (None when detached), without loading libgit2."""
    try:
        head = (git_dir(root) / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return head.removeprefix("ref: refs/heads/") if head.startswith("ref: refs/heads/") else None


def find_root(start: Path | None = None) -> Path:
    """The repository root holding ``.ticketflow.yaml``; a clear error with a hint otherwise."""
    env_root = os.environ.get("TICKETFLOW_ROOT")
    base = Path(env_root) if env_root else (start or Path.cwd())
    root = find_git_root(base)
    if root is None:
        raise NotARepoError(
            f"{base} is not inside a git repository",
            hint="run 'git init' and then 'ticketflow init'",
        )
    if not (root / CONFIG_NAME).is_file():
        raise NotARepoError(
            f"{root} is not initialised for ticketflow (no {CONFIG_NAME})",
            hint="run 'ticketflow init' at the top of the repository",
            error_code="CONFIG_NOT_FOUND",
        )
    return root


def detect_default_branch(root: Path) -> str:
    """The branch ``init`` records as ``git.default_branch``: the one ``origin``'s HEAD
    names (a clone knows it), else the branch checked out now (``master`` in a repository
    made by an older git), else ``main``."""
    gd = git_dir(root)
    try:
        head = (gd / "refs" / "remotes" / "origin" / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        head = ""
    if head.startswith("ref: refs/remotes/origin/"):
        name = head.removeprefix("ref: refs/remotes/origin/")
        if name:
            return name
    return read_head_branch(root) or "main"


def default_config_text(default_branch: str = "main", worktree_base: str = "../.worktrees") -> str:
    """The file the Go tool's ``init`` writes, byte for byte with the defaults. ``init``
    gives the repository's own default branch (the Go tool always writes main) and a
    worktree folder named after the repository, ``../<name>.worktrees``, as the Go tool's
    README recommends (its default ``../.worktrees`` is shared by every sibling repository)."""
    branch = default_branch if _plain_yaml_word(default_branch) else json.dumps(default_branch)
    base = worktree_base if _plain_yaml_word(worktree_base) else json.dumps(worktree_base)
    template = "\n".join(
        ("        " + line) if line else "" for line in DEFAULT_TEMPLATE.split("\n")
    )
    return f"""git:
    default_branch: {branch}
worktree:
    enabled: true
    base_dir: {base}
    init_commands:
        - git fetch origin
tickets:
    dir: tickets
    todo_dir: todo
    doing_dir: doing
    done_dir: done
    template: |-
{template}
output:
    default_format: text
    json_pretty: true
timeouts:
    git: 30
    init_commands: 60
"""


def _plain_yaml_word(text: str) -> bool:
    """A branch name that YAML reads back as the same string when written plain."""
    return bool(re.fullmatch(r"[A-Za-z_.][A-Za-z0-9_./-]*", text)) and text.lower() not in {
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "null",
        "y",
        "n",
        "~",
    }
