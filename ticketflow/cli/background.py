"""``scan`` (the index and the lint) and ``jobs`` (the history of background jobs)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ticketflow.cli.app import cli
from ticketflow.cli.output import Output, command, count_option
from ticketflow.cli.progress import run_jobs

if TYPE_CHECKING:
    from ticketflow.store import TicketStore


@cli.command("scan")
@command()
def scan_cmd(store: TicketStore, out: Output) -> None:
    """Refresh the ticket index and lint every ticket file.

    Reports malformed frontmatter (path, line, what), files in the wrong
    status folder, duplicate ids, wrong field types, dangling related
    references and parent cycles. Exit 0 when no error was found, 1 when
    one was. Runs through the job queue; Ctrl+C cancels it.
    """
    from ticketflow.index import ScanResult
    from ticketflow.jobs.scan import ScanJob

    (result,) = run_jobs(out, "scan", store, lambda q: [q.submit(ScanJob(store))])
    assert isinstance(result, ScanResult)
    out.emit(result.to_json(), result.to_text)
    if result.exit_code:
        sys.exit(result.exit_code)


@cli.command("jobs")
@count_option("all that are kept")
@command()
def jobs_cmd(store: TicketStore, out: Output, count: int) -> None:
    """Show the history of background jobs (pull, push, scan; a sync is a pull and a push).

    Kept in .git/ticketflow/jobs.sqlite across runs (jobs.history_size in the
    config bounds it); the TUI's J screen shows the same with the running jobs.
    """
    from ticketflow.jobs import load_history

    entries = load_history(store.root, limit=count or None)

    def text() -> str:
        if not entries:
            return "No jobs yet\n"
        lines = [f"{'ID':>5}  {'KIND':<6}  {'STATUS':<10}  {'STARTED':<20}  RESULT"]
        for e in entries:
            started = str(e.get("started_at") or "-")[:19]
            result = e.get("error") or e.get("result") or ""
            if isinstance(result, dict):
                result = result.get("message", "")
            result = str(result).splitlines()[0] if result else ""
            lines.append(
                f"{e.get('id')!s:>5}  {e.get('kind')!s:<6}  {e.get('status')!s:<10}  "
                f"{started:<20}  {result}"
            )
        return "\n".join(lines) + "\n"

    out.emit({"jobs": entries}, text)
