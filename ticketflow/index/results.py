"""What the index answers with: the lint report (``ScanResult`` and its parts) and the
read APIs' values (``Summary``, ``View``, ``Rendered``...), plain values that cross processes and
the CLI/TUI boundary without the index's machinery."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from ticketflow.errors import MalformedTicketError
from ticketflow.model import ID_RE, Ticket

# --- problems -----------------------------------------------------------------------------


class Severity(enum.Enum):
    """How bad a lint finding is; only errors make ``ticketflow scan`` exit 1."""

    ERROR = "error"
    """The file cannot be used as the user meant it (it does not parse, it contradicts
    itself or another ticket)."""
    WARNING = "warning"
    """Worth a look, but every tool still reads the ticket."""


@dataclass(frozen=True)
class Problem:
    """One lint finding: where (path relative to the root, 1-based line or None) and what."""

    path: str
    line: int | None
    code: str
    message: str
    severity: Severity
    hint: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "hint": self.hint,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Problem:
        return cls(
            data["path"],
            data["line"],
            data["code"],
            data["message"],
            Severity(data["severity"]),
            data["hint"],
        )

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.severity.value}: {self.message} [{self.code}]"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


@dataclass(frozen=True)
class ScanCounts:
    """What a scan found. ``files`` are the ticket files in the three status folders;
    ``tickets`` those that parse (by status from their timestamps); ``ignored`` everything
    else under the tickets folder (other folders, other names), which is never read."""

    files: int
    tickets: int
    todo: int
    doing: int
    done: int
    malformed: int
    ignored: int
    parsed: int
    """Files parsed by this scan (new or changed since the cached index)."""
    reused: int
    """Files answered from the cache without reading them."""
    removed: int
    """Rows dropped because their file is gone."""

    def summary(self) -> dict[str, int]:
        """The counts ``list`` and ``status`` show (``cli.summarize``'s shape)."""
        return {"todo": self.todo, "doing": self.doing, "done": self.done, "total": self.tickets}


@dataclass(frozen=True)
class ScanTimings:
    """Seconds spent in each phase, and how the parsing ran."""

    listing: float
    parsing: float
    saving: float
    linting: float
    total: float
    mode: str
    """``"in-process"``, ``"pool"`` or ``"none"`` (nothing to parse)."""
    workers: int


class CacheState(enum.Enum):
    """What happened to the on-disk index during a refresh."""

    WARM = "warm"
    """The cache was valid and used."""
    CREATED = "created"
    """There was no cache; it was created."""
    REBUILT = "rebuilt"
    """The cache was corrupt, foreign, or from another parser or configuration."""
    BUSY = "busy"
    """Another process held the database too long: the results were not saved."""
    UNAVAILABLE = "unavailable"
    """The database could not be opened or written (read-only, no space): a plain scan."""


@dataclass(frozen=True)
class ScanResult:
    """A scan's lint report: counts, problems (sorted by path and line), timings."""

    counts: ScanCounts
    problems: tuple[Problem, ...]
    timings: ScanTimings
    cache: CacheState

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.WARNING)

    @property
    def clean(self) -> bool:
        return not self.errors

    @property
    def exit_code(self) -> int:
        """0 when no error was found (warnings allowed), 1 otherwise."""
        return 0 if self.clean else 1

    def to_json(self) -> dict[str, Any]:
        """The shape ``ticketflow scan --format json`` prints."""
        c, t = self.counts, self.timings
        return {
            "clean": self.clean,
            "summary": {
                **c.summary(),
                "files": c.files,
                "malformed": c.malformed,
                "ignored": c.ignored,
                "errors": len(self.errors),
                "warnings": len(self.warnings),
            },
            "index": {
                "cache": self.cache.value,
                "parsed": c.parsed,
                "reused": c.reused,
                "removed": c.removed,
                "mode": t.mode,
                "workers": t.workers,
                "seconds": {
                    "listing": round(t.listing, 4),
                    "parsing": round(t.parsing, 4),
                    "saving": round(t.saving, 4),
                    "linting": round(t.linting, 4),
                    "total": round(t.total, 4),
                },
            },
            "problems": [p.to_json() for p in self.problems],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScanResult:
        """The result ``to_json`` printed (how a scan run in another process reports)."""
        summary, index = data["summary"], data["index"]
        seconds = index["seconds"]
        return cls(
            counts=ScanCounts(
                files=summary["files"],
                tickets=summary["total"],
                todo=summary["todo"],
                doing=summary["doing"],
                done=summary["done"],
                malformed=summary["malformed"],
                ignored=summary["ignored"],
                parsed=index["parsed"],
                reused=index["reused"],
                removed=index["removed"],
            ),
            problems=tuple(Problem.from_json(p) for p in data["problems"]),
            timings=ScanTimings(
                listing=seconds["listing"],
                parsing=seconds["parsing"],
                saving=seconds["saving"],
                linting=seconds["linting"],
                total=seconds["total"],
                mode=index["mode"],
                workers=index["workers"],
            ),
            cache=CacheState(index["cache"]),
        )

    def to_text(self) -> str:
        """A plain-text report for people (no colour: the CLI may add its own)."""
        c = self.counts
        lines = [
            f"Scanned {_count(c.files, 'ticket file')}: {_count(c.tickets, 'ticket')} "
            f"({c.todo:,} todo, {c.doing:,} doing, {c.done:,} done), "
            f"{c.malformed:,} malformed, {_count(c.ignored, 'other file')} ignored.",
            f"Index {self.cache.value}: {c.parsed:,} parsed, {c.reused:,} from cache, "
            f"{c.removed:,} removed in {self.timings.total:.2f} s.",
        ]
        lines += [str(p) for p in self.problems]
        errors, warnings = len(self.errors), len(self.warnings)
        if not self.problems:
            lines.append("No problems found.")
        else:
            lines.append(
                f"{errors} error{'s' if errors != 1 else ''}, "
                f"{warnings} warning{'s' if warnings != 1 else ''}."
            )
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class View:
    """A rendering of one ticket that the index caches in the ticket's row.

    Rendering ten thousand tickets (``list --format json``) costs more than reading them
    from the cache, so the rendering is cached too. ``key`` names the rendering and its
    version: the index keeps one rendering per ticket and renders again whenever the file or
    the key changes, so give each distinct output (pretty or compact, a new field) its own
    key. ``render`` receives a header-only ticket (empty body, no ``raw``)."""

    key: str
    render: Callable[[Ticket], str]


class Summary(NamedTuple):
    """A ticket as a list shows it, read from the index without building a ``Ticket`` or
    reading the file: the TUI's rows (``TicketIndex.summaries``). ``status`` is a ``Status``
    value, ``created`` the ``created_at`` as ISO 8601 text ("" when unset), ``parent`` the
    first ``parent:<ID>`` relation ("" when none), ``path`` relative to the repository."""

    id: str
    status: str
    priority: int
    description: str
    created: str
    parent: str
    path: str

    @property
    def slug(self) -> str:
        match = ID_RE.match(self.id)
        return match.group("slug") if match else self.id


@dataclass(frozen=True)
class SummaryList:
    """``TicketIndex.summaries``' answer: summaries in list order, the counts (``todo``,
    ``doing``, ``done``, ``total``) and the files that do not parse."""

    items: list[Summary]
    counts: dict[str, int]
    problems: list[MalformedTicketError]


@dataclass(frozen=True)
class Rendered:
    """``TicketIndex.rendered``'s answer: the view's texts of the selected tickets in list
    order, the counts ``list`` and ``status`` show (over every readable ticket), and the
    files that do not parse (the ``problems`` of ``TicketStore.load_all``)."""

    texts: list[str]
    summary: dict[str, int]
    problems: list[MalformedTicketError]


ALL_STATUSES = ("todo", "doing", "done")
