"""A simple scan job: read and parse every ticket file, one file per cancel check.

This is the stand-in until the index issue's concurrent scanner lands; it has the shape that
scanner should keep: per-file work in a blocking loop that checks the cancel token between
files, reports progress per file, and on cancel says how far it got ("cancelled: 4,000 of
10,000 tickets scanned"). It holds the ``"scan"`` resource (two scans of one repository would
only repeat each other) and not ``"repo"``, so it runs beside a pull.
"""

from __future__ import annotations

from dataclasses import dataclass

from ticketflow.errors import CancelledError, MalformedTicketError
from ticketflow.jobs.job import Job, JobContext
from ticketflow.model import Ticket
from ticketflow.store import TicketStore


@dataclass(frozen=True)
class ScanResult:
    """Every ticket that parsed (in list order) and every file that did not."""

    tickets: tuple[Ticket, ...]
    problems: tuple[MalformedTicketError, ...]

    def __str__(self) -> str:
        problems = len(self.problems)
        return f"{len(self.tickets):,} tickets, {problems} problem{'s' * (problems != 1)}"


class ScanJob(Job):
    """Parse all tickets of ``store``; the result is a ``ScanResult``."""

    kind = "scan"
    resources = frozenset({"scan"})

    def __init__(self, store: TicketStore) -> None:
        self.store = store

    def arguments(self) -> dict[str, object]:
        return {"root": str(self.store.root)}

    def run(self, ctx: JobContext) -> ScanResult:
        files = list(self.store.iter_files())
        total = len(files)
        ctx.progress(0, total, f"0 of {total:,} tickets scanned")
        tickets: list[Ticket] = []
        problems: list[MalformedTicketError] = []
        for done, ticket_file in enumerate(files):
            if ctx.cancel.cancelled:
                raise CancelledError(
                    ctx.cancel.reason, partial=f"{done:,} of {total:,} tickets scanned"
                )
            try:
                tickets.append(self.store.read_file(ticket_file))
            except MalformedTicketError as exc:
                problems.append(exc)
            ctx.progress(done + 1, total, f"{done + 1:,} of {total:,} tickets scanned")
        tickets.sort(key=Ticket.sort_key)
        return ScanResult(tuple(tickets), tuple(problems))
