"""The scan job: refresh the ticket index and lint every ticket (``ticketflow.index``).

It holds the ``scan`` resource, not ``repo``, so it runs beside a pull; a cancel stops it
between files or chunks with the partial count ("4,000 of 10,000 tickets scanned"), and what
was parsed so far stays in the index.
"""

from __future__ import annotations

from ticketflow.index import ScanResult
from ticketflow.jobs.job import WorkJob
from ticketflow.jobs.work import Work
from ticketflow.store import TicketStore

__all__ = ["IN_PROCESS", "ScanJob", "ScanResult"]

IN_PROCESS = 2**62
"""``pool_min_files`` that keeps parsing in this process, whatever the number of files."""


class ScanJob(WorkJob):
    """Scan ``store``'s tickets through its index; the result is the lint ``ScanResult``.

    It runs where the queue's runner says (the TUI's: a child process, so that parsing never
    competes with its event loop for the GIL).
    """

    kind = "scan"
    resources = frozenset({"scan"})

    def __init__(self, store: TicketStore) -> None:
        super().__init__(
            Work("scan", store),
            resources=self.resources,
            arguments={"root": str(store.root)},
        )
        self.store = store

    def summarize(self, result: object) -> str | None:
        """ "500 tickets, 0 errors, 3 files read": the files read are those the index did
        not already hold (new, changed, or too recent to trust); "parsed" meant nothing to a
        newcomer."""
        if isinstance(result, ScanResult):
            c = result.counts
            errors = len(result.errors)
            return (
                f"{c.tickets:,} ticket{'' if c.tickets == 1 else 's'}, "
                f"{errors:,} error{'' if errors == 1 else 's'}, "
                f"{c.parsed:,} file{'' if c.parsed == 1 else 's'} read"
            )
        return None
