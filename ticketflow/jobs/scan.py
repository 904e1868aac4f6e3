"""The scan job: refresh the ticket index and lint every ticket (``ticketflow.index``).

It holds the ``scan`` resource, not ``repo``, so it runs beside a pull; a cancel stops it
between files or chunks with the partial count ("4,000 of 10,000 tickets scanned"), and what
was parsed so far stays in the index.
"""

from __future__ import annotations

from ticketflow.index import ScanResult, TicketIndex
from ticketflow.jobs.job import Job, JobContext
from ticketflow.store import TicketStore

__all__ = ["IN_PROCESS", "ScanJob", "ScanResult"]

IN_PROCESS = 2**62
"""``pool_min_files`` that keeps parsing in this process, whatever the number of files."""


class ScanJob(Job):
    """Scan ``store``'s tickets through its index; the result is the lint ``ScanResult``.

    ``isolated``: run the scan in a child process (``ticketflow.isolated``), so that
    parsing never competes with this process's event loop for the GIL (the TUI's choice).
    """

    kind = "scan"
    resources = frozenset({"scan"})

    def __init__(self, store: TicketStore, *, isolated: bool = False) -> None:
        self.store = store
        self.isolated = isolated

    def arguments(self) -> dict[str, object]:
        return {"root": str(self.store.root)}

    def run(self, ctx: JobContext) -> ScanResult:
        if self.isolated:
            from ticketflow.isolated import run_isolated

            data = run_isolated("scan", self.store.root, ctx.progress, ctx.cancel)
            return ScanResult.from_json(data)
        index = TicketIndex.open(self.store)
        return index.scan(progress=ctx.progress, cancel=ctx.cancel)

    def summarize(self, result: object) -> str | None:
        if isinstance(result, ScanResult):
            c = result.counts
            errors = len(result.errors)
            return (
                f"{c.tickets:,} ticket{'' if c.tickets == 1 else 's'}, "
                f"{errors:,} error{'' if errors == 1 else 's'}, {c.parsed:,} parsed"
            )
        return None
