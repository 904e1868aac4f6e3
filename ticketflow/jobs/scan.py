"""The scan job: refresh the ticket index and lint every ticket (``ticketflow.index``).

It holds the ``scan`` resource, not ``repo``, so it runs beside a pull; a cancel stops it
between files or chunks with the partial count ("4,000 of 10,000 tickets scanned"), and what
was parsed so far stays in the index.
"""

from __future__ import annotations

from ticketflow.index import ScanResult, TicketIndex
from ticketflow.jobs.job import Job, JobContext
from ticketflow.store import TicketStore

__all__ = ["ScanJob", "ScanResult"]


class ScanJob(Job):
    """Scan ``store``'s tickets through its index; the result is the lint ``ScanResult``."""

    kind = "scan"
    resources = frozenset({"scan"})

    def __init__(self, store: TicketStore) -> None:
        self.store = store

    def arguments(self) -> dict[str, object]:
        return {"root": str(self.store.root)}

    def run(self, ctx: JobContext) -> ScanResult:
        return TicketIndex.open(self.store).scan(progress=ctx.progress, cancel=ctx.cancel)

    def summarize(self, result: object) -> str | None:
        if isinstance(result, ScanResult):
            c = result.counts
            return f"{c.tickets:,} tickets, {len(result.errors)} errors, {c.parsed:,} parsed"
        return None
