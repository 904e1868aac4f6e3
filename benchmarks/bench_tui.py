"""TUI figures (issue #6); prints JSON.

    python benchmarks/bench_tui.py [--runs 5] [--lag-runs 3] [--sizes 10000,100000]

For each size it generates a repository (benchmarks/gen_tickets.py) and warms its index,
then, each run in a fresh process running the real app headless (Textual's headless driver,
so no terminal cost):

- ``first_paint_s``: from the moment the parent starts the child process to the first frame
  with the ticket list painted (warm index), whole process: interpreter start, imports,
  reading the list, Textual's start and first frame.
- ``loop_lag``: the event loop's lag (how late a 10 ms timer fires, p50/p99/max ms) from
  just after the first paint until everything below has finished: the index is removed, so a
  cold scan of every ticket runs, and at the same time a pull of 300 new tickets and 8 MB of
  attachments from a ``git daemon`` behind a relay throttled to 3 MB/s; then the scan the
  pull asks for, and the reloads of the list. Per run, then the median of each figure.
- ``rss_mib``: peak RSS of the TUI's process, and of its largest child (the scan).
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
PULLED_TICKETS = 300

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
    def start_loading(self):
        if mode == "paint":
            super().start_loading()  # what a user gets: the list, then the scan
        else:
            self.reload()  # the list only; the cold scan starts after the first paint

    def _loaded(self, prepared):
        super()._loaded(prepared)
        if "first_paint" not in out and "painting" not in out:
            out["painting"] = True
            self.call_after_refresh(self._painted)

    def _painted(self):
        out["first_paint"] = time.time() - started
        out["rows"] = len(self.main.query_one(TicketList).tickets)
        if mode == "paint":
            self.exit()
            return
        from ticketflow.index import TicketIndex
        TicketIndex.open(self.store).clear()  # cold: every file is parsed again
        import ticketflow.isolated, ticketflow.jobs.scan  # as the start-up scan has done
        self.ended = set()
        self.t0 = time.perf_counter()
        self._expected = self.t0 + 0.01
        self.set_interval(0.01, self._tick_lag)
        self.request_scan(announce=True)
        self.main.action_pull()

    def _tick_lag(self):
        now = time.perf_counter()
        lags.append(max(0.0, now - self._expected))
        self._expected = now + 0.01
        busy = [w for w in self.workers if w.group in ("load", "scans") and not w.is_finished]
        if {"scan", "pull"} <= self.ended and not self.active_jobs() and not busy:
            out["seconds"] = round(now - self.t0, 2)
            out["rows_after"] = len(self.main.query_one(TicketList).tickets)
            self.exit()

    def on_job_update(self, message):
        super().on_job_update(message)
        p = message.progress
        if mode == "lag" and p.is_terminal:
            self.ended.add(p.kind)
            out.setdefault("jobs", []).append(f"{p.kind}: {p.status.value}: {p.message}")


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
out.pop("painting", None)
out["rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
out["child_rss_mib"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
print(json.dumps(out))
"""


def child(root: Path, mode: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_BENCH_START": repr(time.time())}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's install has its bytecode cached
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), mode],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    if proc.returncode:
        raise SystemExit(f"the TUI child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def stats(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 4),
        "median": round(statistics.median(values), 4),
        "max": round(max(values), 4),
    }


def make_remote(root: Path, base: Path) -> Path:
    """A bare clone of ``root``, then 300 more tickets and 8 MB of attachments pushed to it
    from another clone: what the TUI's pull brings."""
    from ticketflow.sandbox import add_blobs, run_git

    served = base / "served"
    served.mkdir(parents=True)
    remote = served / "team.git"
    run_git(base, "clone", "-q", "--bare", str(root), str(remote))
    seed = base / "seed"
    run_git(base, "clone", "-q", str(remote), str(seed))
    generate(PULLED_TICKETS, seed, seed=7)  # other slugs: new ticket ids
    add_blobs(seed, count=8, size=1_000_000)
    run_git(seed, "push", "-q", "origin", "HEAD:main")
    shutil.rmtree(seed)
    return remote


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="first-paint runs per size")
    parser.add_argument("--lag-runs", type=int, default=3, help="loop-lag runs per size")
    parser.add_argument("--sizes", default="10000,100000")
    args = parser.parse_args()
    from ticketflow.index import TicketIndex
    from ticketflow.sandbox import GitDaemon, ThrottledRelay, run_git
    from ticketflow.store import TicketStore

    tmp = Path(tempfile.mkdtemp(prefix="tf-bench-tui-"))
    results: dict[str, object] = {"python": sys.version.split()[0], "runs": args.runs}
    try:
        for size in (int(s) for s in args.sizes.split(",") if s):
            root = tmp / f"n{size}"
            generate(size, root)
            remote = make_remote(root, tmp / f"remote{size}")
            daemon = GitDaemon(remote.parent)
            relay = ThrottledRelay(daemon.port, rate=3_000_000)
            try:
                run_git(root, "remote", "add", "origin", relay.url(remote.name))
                index = TicketIndex.open(TicketStore.open(root))
                time.sleep(2.5)  # past the index's racy window, so the warm index is trusted
                index.scan()
                paints = [child(root, "paint") for _ in range(args.runs)]
                lag_runs = []
                for run in range(args.lag_runs):
                    # a fresh copy each time: the objects of an earlier pull must not be there
                    work = tmp / f"lag{size}-{run}"
                    shutil.copytree(root, work, symlinks=True)
                    lag_runs.append(child(work, "lag"))
                    shutil.rmtree(work, ignore_errors=True)
            finally:
                relay.close()
                daemon.stop()
            lag_of = [run["loop_lag_ms"] for run in lag_runs]
            results[f"generated_{size}"] = {
                "first_paint_s": stats([float(p["first_paint"]) for p in paints]),  # type: ignore[arg-type]
                "first_paint_rows": paints[0]["rows"],
                "first_paint_rss_mib": max(float(p["rss_mib"]) for p in paints),  # type: ignore[arg-type]
                "loop_lag_ms_median_of_runs": {
                    key: statistics.median(float(lag[key]) for lag in lag_of)  # type: ignore[index]
                    for key in ("p50", "p99", "max")
                },
                "lag_runs": lag_runs,
            }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
