"""Fetch speed against ``git fetch``, and cancel latency during a transfer; prints JSON.

    python benchmarks/bench_git.py [--runs 7] [--cancels 20]

It starts its own ``git daemon`` on 127.0.0.1 (stopped by its PID at the end) serving two
generated repositories: 10,000 tickets in one commit (benchmarks/gen_tickets.py) and 100 MB
of incompressible blobs. For each, it fetches into a fresh empty repository with
``ticketflow.git.transport.fetch`` (timed in-process) and with ``git fetch`` (timed as a process),
in turn, and reports the medians and the median of the per-pair ratios ours/git.

Cancel latency: a fetch of the 100 MB repository runs in a thread; at a random moment during
the transfer the cancel flag is set, and the time until ``fetch`` returns is recorded (flag
set -> fetch returns), over ``--cancels`` runs: p50, p99 and max.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_tickets import generate

from ticketflow.cancel import CancelToken
from ticketflow.errors import CancelledError
from ticketflow.git.transport import fetch
from ticketflow.sandbox import GitDaemon


def make_blobs(path: Path, files: int, size: int) -> None:
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    proc = subprocess.Popen(
        ["git", "-C", str(path), "fast-import", "--quiet"], stdin=subprocess.PIPE
    )
    assert proc.stdin is not None
    rng = random.Random(7)  # noqa: S311 - benchmark data, not secrets
    for i in range(files):
        data = rng.randbytes(size)
        proc.stdin.write(b"blob\nmark :%d\ndata %d\n" % (i + 1, len(data)) + data + b"\n")
    proc.stdin.write(b"commit refs/heads/main\ncommitter b <b@e> 1700000000 +0000\ndata 1\nx\n")
    for i in range(files):
        proc.stdin.write(b"M 100644 :%d data/f%05d.bin\n" % (i + 1, i))
    proc.stdin.write(b"\n")
    proc.stdin.close()
    assert proc.wait() == 0


def empty_repo(path: Path, url: str) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    subprocess.run(["git", "-C", str(path), "remote", "add", "origin", url], check=True)
    return path


def stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "min": round(ordered[0], 4),
        "median": round(statistics.median(ordered), 4),
        "p99": round(p99, 4),
        "max": round(ordered[-1], 4),
    }


def compare(url: str, work: Path, runs: int) -> dict[str, object]:
    ours: list[float] = []
    theirs: list[float] = []
    for i in range(runs + 1):  # the first pair warms the page cache and is not counted
        repo = empty_repo(work / "ours", url)
        start = time.perf_counter()
        result = fetch(repo)
        t_ours = time.perf_counter() - start
        repo = empty_repo(work / "git", url)
        start = time.perf_counter()
        subprocess.run(["git", "-C", str(repo), "fetch", "-q", "origin"], check=True)
        t_git = time.perf_counter() - start
        if i:
            ours.append(t_ours)
            theirs.append(t_git)
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    return {
        "objects": result.received_objects,
        "bytes": result.received_bytes,
        "ticketflow_fetch_s": stats(ours),
        "git_fetch_s": stats(theirs),
        "ratio_ours_over_git_median": round(statistics.median(ratios), 3),
    }


def cancel_latency(url: str, work: Path, runs: int, full: float) -> dict[str, object]:
    rng = random.Random(11)  # noqa: S311
    latencies: list[float] = []
    partials: list[str] = []
    while len(latencies) < runs:
        repo = empty_repo(work / "cancel", url)
        token = CancelToken()
        outcome: dict[str, float | str] = {}

        def run(repo: Path = repo, token: CancelToken = token, box: dict = outcome) -> None:  # type: ignore[type-arg]
            try:
                fetch(repo, cancel=token)
                box["done"] = "completed"
            except CancelledError as exc:
                box["returned"] = time.perf_counter()
                box["partial"] = exc.partial or ""

        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(rng.uniform(0.1, 0.8) * full)
        flagged = time.perf_counter()
        token.cancel()
        thread.join()
        if "returned" in outcome:  # a run that finished before the flag is not a cancel
            latencies.append(float(outcome["returned"]) - flagged)
            partials.append(str(outcome["partial"]))
    ms = [x * 1000 for x in latencies]
    return {"runs": runs, "latency_ms": stats(ms), "examples_partial": partials[:5]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cancels", type=int, default=20)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tf-bench-git-"))
    base = tmp / "served"
    base.mkdir()
    tickets = tmp / "tickets-src"
    generate(10_000, tickets)
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(tickets), str(base / "tickets.git")], check=True
    )
    make_blobs(base / "blobs.git", files=2000, size=50_000)
    daemon = GitDaemon(base)  # stopped by its PID below
    port = daemon.port
    try:
        out: dict[str, object] = {"python": sys.version.split()[0], "runs": args.runs}
        out["fetch_10k_tickets"] = compare(f"git://127.0.0.1:{port}/tickets.git", tmp, args.runs)
        blobs = compare(f"git://127.0.0.1:{port}/blobs.git", tmp, args.runs)
        out["fetch_100MB_blobs"] = blobs
        full = blobs["ticketflow_fetch_s"]["median"]  # type: ignore[index]
        out["cancel_during_transfer"] = cancel_latency(
            f"git://127.0.0.1:{port}/blobs.git", tmp, args.cancels, float(full)
        )
        print(json.dumps(out, indent=2))
    finally:
        daemon.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
