"""TUI figures (issue #6); prints JSON.

    python benchmarks/bench_tui.py [--runs 5] [--sizes 10000,100000]

For each size it generates a repository (benchmarks/gen_tickets.py) and warms its index,
then, each run in a fresh process:

- ``first_paint``: from the moment the parent starts the child process to the first frame
  with the ticket list painted (headless Textual, so no terminal cost), whole process.
- ``loop_lag``: the event loop's lag (how late a 10 ms timer fires) while a cold scan of
  every ticket runs as a job (the index is removed after the first paint), p50/p99/max ms.
- ``rss_mib``: the child's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_tickets import generate

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, resource, sys, time
from pathlib import Path
started = float(os.environ["TF_BENCH_START"])
mode = sys.argv[2]
from ticketflow.store import TicketStore
from ticketflow.tui.app import TicketflowApp
from ticketflow.tui.widgets.ticket_list import TicketList

out = {}
lags = []

class Probe(TicketflowApp):
    def _loaded(self, result, keep):
        super()._loaded(result, keep)
        if mode == "paint":
            self.call_after_refresh(self._painted)
        elif "scan" not in out:
            out["scan"] = "started"
            from ticketflow.index import TicketIndex
            TicketIndex.open(self.store).clear()  # painted from the warm index; now scan cold
            self.set_interval(0.01, self._tick_lag)
            self._expected = time.perf_counter() + 0.01
            self.main.action_rescan()

    def _painted(self):
        if self.main.query_one(TicketList).tickets:
            out["first_paint"] = time.time() - started
            self.exit()

    def _tick_lag(self):
        now = time.perf_counter()
        lags.append(max(0.0, now - self._expected))
        self._expected = now + 0.01

    def on_job_update(self, message):
        super().on_job_update(message)
        if message.progress.kind == "scan" and message.progress.is_terminal:
            out["scan_status"] = message.progress.status.value
            self.exit()

app = Probe(TicketStore.open(Path(sys.argv[1])))
app.run(headless=True, size=(120, 40))
if lags:
    lags.sort()
    out["loop_lag_ms"] = {
        "p50": round(1000 * lags[len(lags) // 2], 2),
        "p99": round(1000 * lags[min(len(lags) - 1, int(0.99 * len(lags)))], 2),
        "max": round(1000 * lags[-1], 2),
        "samples": len(lags),
    }
out["rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
print(json.dumps(out))
"""


def child(root: Path, mode: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_BENCH_START": repr(time.time())}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), mode],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=600,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def stats(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 4),
        "median": round(statistics.median(values), 4),
        "max": round(max(values), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="10000,100000")
    args = parser.parse_args()
    from ticketflow.index import TicketIndex
    from ticketflow.store import TicketStore

    tmp = Path(tempfile.mkdtemp(prefix="tf-bench-tui-"))
    results: dict[str, object] = {"python": sys.version.split()[0], "runs": args.runs}
    try:
        for size in (int(s) for s in args.sizes.split(",") if s):
            root = tmp / f"n{size}"
            generate(size, root)
            index = TicketIndex.open(TicketStore.open(root))
            time.sleep(2.5)  # past the index's racy window, so the warm index is trusted
            index.scan()
            paints = [child(root, "paint") for _ in range(args.runs)]
            lag = child(root, "lag")  # clears the index after its first paint, scans cold
            results[f"generated_{size}"] = {
                "first_paint_s": stats([float(p["first_paint"]) for p in paints]),  # type: ignore[arg-type]
                "first_paint_rss_mib": max(float(p["rss_mib"]) for p in paints),  # type: ignore[arg-type]
                "loop_lag_during_cold_scan": lag.get("loop_lag_ms"),
                "scan_status": lag.get("scan_status"),
                "scan_rss_mib": lag.get("rss_mib"),
            }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
