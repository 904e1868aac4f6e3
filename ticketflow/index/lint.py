"""The lint ``ticketflow scan`` reports: per-file field warnings, status/folder
mismatches, duplicate ids, dangling relations and parent cycles, computed from rows."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ticketflow.errors import quoted
from ticketflow.index.reading import open_bytes
from ticketflow.index.results import Problem, Severity
from ticketflow.index.rows import LINT_OF_ROW, NO_DATE, Stored

LARGE_FILE_BYTES = 1 << 20
"""Ticket files larger than this are reported (a warning): they slow every tool down."""


def _line_of(path: Path, needle: str) -> int | None:
    """The first line of a file's header mentioning ``needle`` (to point at a relation)."""
    try:
        with open_bytes(str(path)) as fh:
            head = fh.read(64 * 1024).decode("utf-8", errors="replace")
    except OSError:
        return None
    for number, line in enumerate(head.splitlines(), start=1):
        if needle in line:
            return number
        if number > 1 and line.rstrip() == "---":
            break
    return None


def _field_warnings(path: str, priority: Any, neg_created: float, root: Path) -> Iterator[Problem]:
    """Fields a person left out or wrote by hand outside their range. Both tools still
    read the ticket, with Go's zero values (priority 0, created 0001-01-01 in the Go tool,
    no date here), so it lists at the top, or last, for no reason anyone chose."""
    if neg_created == NO_DATE:
        yield Problem(
            path,
            None,
            "missing-field",
            "created_at is missing: the ticket has no creation time (the Go tool shows "
            "0001-01-01), so it lists after every dated ticket of its priority",
            Severity.WARNING,
            'add a line like created_at: "2025-09-24T14:35:04+09:00" (ticketflow new '
            "writes it for you)",
        )
    if type(priority) is int and priority < 1:
        yield Problem(
            path,
            _line_of(root / path, "priority:"),
            "invalid-priority",
            f"priority is {priority}: priorities are 1 (the most urgent) or more"
            + ("; a missing priority reads as 0 in both tools" if priority == 0 else ""),
            Severity.WARNING,
            "write priority: 2 (the default), or 1 for the most urgent",
        )


def lint_rows(rows: Iterable[Stored], root: Path) -> tuple[list[Problem], dict[str, int]]:
    """Every per-file and cross-ticket problem, and counts by status."""
    problems: list[Problem] = []
    counts = {"todo": 0, "doing": 0, "done": 0, "malformed": 0}
    paths_by_id: dict[str, list[str]] = {}
    parent_of: dict[str, str] = {}
    path_of: dict[str, str] = {}
    with_related: list[tuple[str, str, list[str]]] = []
    for path, size, folder, tid, status, related_json, error, priority, neg_created in map(
        LINT_OF_ROW, rows
    ):
        paths_by_id.setdefault(tid, []).append(path)
        if size > LARGE_FILE_BYTES:
            problems.append(
                Problem(
                    path,
                    None,
                    "large-file",
                    f"the file is {size / (1 << 20):.1f} MiB; large ticket files "
                    "slow down every tool that reads them",
                    Severity.WARNING,
                    "move attachments or logs out of the ticket and link to them",
                )
            )
        if status is None:
            counts["malformed"] += 1
            line, problem, hint, code = json.loads(error)
            problems.append(Problem(path, line, code, problem, Severity.ERROR, hint))
            continue
        counts[status] += 1
        path_of.setdefault(tid, path)
        problems.extend(_field_warnings(path, priority, neg_created, root))
        if status != folder:
            problems.append(
                Problem(
                    path,
                    None,
                    "status-mismatch",
                    f"the timestamps say {status} but the file is in the {folder} folder",
                    Severity.ERROR,
                    f"move it to the {status} folder, or fix started_at/closed_at "
                    "(ticketflow start/close/reopen move files for you)",
                )
            )
        if related_json is not None:
            related = json.loads(related_json)
            with_related.append((path, tid, related))
            for entry in related:
                if entry.startswith("parent:"):
                    parent_of.setdefault(tid, entry[7:])
                    break
    for tid, paths in paths_by_id.items():
        if len(paths) > 1:
            for path in paths:
                others = ", ".join(p for p in paths if p != path)
                problems.append(
                    Problem(
                        path,
                        None,
                        "duplicate-id",
                        f"ticket id {tid} is also used by {others}",
                        Severity.ERROR,
                        "keep the copy in the folder that matches its timestamps and "
                        "delete the other",
                    )
                )
    for path, _tid, related in with_related:
        for entry in related:
            kind, sep, target = entry.partition(":")
            if not sep:
                kind, target = "", entry  # a bare id, as the Go team's own tickets write
            if not target or (sep and not kind):
                problems.append(
                    Problem(
                        path,
                        _line_of(root / path, entry),
                        "invalid-related",
                        f"related entry {quoted(entry)} is not <kind>:<ID>",
                        Severity.WARNING,
                        "write it like parent:<ID>, blocks:<ID> or blocked-by:<ID>",
                    )
                )
            elif target not in paths_by_id:
                problems.append(
                    Problem(
                        path,
                        _line_of(root / path, entry),
                        "dangling-related",
                        f"related entry {quoted(entry)} names no ticket",
                        Severity.WARNING,
                        "fix the id, or remove the entry if the ticket was deleted",
                    )
                )
    problems.extend(_parent_cycles(parent_of, path_of, root))
    problems.sort(key=lambda p: (p.path, p.line or 0, p.code))
    return problems, counts


def _parent_cycles(
    parent_of: dict[str, str], path_of: dict[str, str], root: Path
) -> Iterator[Problem]:
    """Each ``parent:`` cycle once (a ticket has one parent, so walks are linear)."""
    state: dict[str, int] = {}  # 1: on the current walk, 2: finished
    for start in parent_of:
        walk: list[str] = []
        node = start
        while node in parent_of and node not in state:
            state[node] = 1
            walk.append(node)
            node = parent_of[node]
        if state.get(node) == 1:
            cycle = walk[walk.index(node) :]
            first = min(cycle)
            turn = cycle.index(first)
            ordered = cycle[turn:] + cycle[:turn]
            chain = " -> ".join([*ordered, first])
            path = path_of.get(first, first)
            yield Problem(
                path,
                _line_of(root / path, f"parent:{parent_of[first]}"),
                "parent-cycle",
                f"parent cycle: {chain}",
                Severity.ERROR,
                "a ticket cannot be its own ancestor: remove one of the parent: entries",
            )
        for visited in walk:
            state[visited] = 2
