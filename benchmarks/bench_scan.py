"""Scan and index figures (issue #5); prints JSON.

    python benchmarks/bench_scan.py [--runs 5] [--sizes 1000,10000,100000] [--crossover]

For each size it generates a repository (benchmarks/gen_tickets.py, one commit), waits out
the index's racy window, then measures, each run in a fresh process so that runs do not share
caches or heaps:

- ``stat_floor`` / ``read_floor``: list the three status folders and stat every file; read
  every file's bytes (each the cheapest way: ``scandir`` on a folder descriptor, plain
  ``os`` calls). The floors any scan pays, measured in the same run.
- ``cold_scan``: ``TicketIndex.scan()`` with no index (files in the page cache).
- ``warm_scan``: the same with nothing changed.
- ``scan_1pct``: after rewriting 1% of the tickets (a new description, same size class).
- ``load_warm``: ``TicketIndex.load()`` from a warm index, in-process (what ``list`` costs
  once the interpreter and ticketflow are loaded; independent of how the CLI is wired).
- ``list_process``: the whole process ``ticketflow list --status all --count 0 --format
  json``, whatever the CLI does at the time, with a warm index (run once first: the first
  list after a cold scan renders and caches every ticket's JSON).
- ``python_floor`` / ``import_cli``: ``python -c pass`` and ``import ticketflow.cli``.

Children run with a bytecode cache (``PYTHONPYCACHEPREFIX`` in the temporary folder), as an
installed package has one, even where ``PYTHONDONTWRITEBYTECODE`` is set.

Each figure has min/median/max wall seconds and the child's peak RSS (MiB). Scan figures
are timed inside the child (no interpreter start-up); ``list_process`` and the floors of
start-up are whole processes. ``--crossover`` also times the parsing of N changed files
in-process and with the process pool, to place ``index.POOL_MIN_FILES``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_tickets import generate

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, sys, time
from pathlib import Path
root, what = Path(sys.argv[1]), sys.argv[2]
extra = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
out = {}
if what in ("stat_floor", "read_floor"):
    # the cheapest way to do it: through a folder descriptor (fstatat), plain os calls
    start = time.perf_counter()
    total = 0
    for folder in ("todo", "doing", "done"):
        path = root / "tickets" / folder
        dir_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        with os.scandir(dir_fd) as entries:
            for entry in entries:
                if what == "stat_floor":
                    total += entry.stat().st_size
                else:
                    fd = os.open(entry.name, os.O_RDONLY, dir_fd=dir_fd)
                    total += len(os.read(fd, os.fstat(fd).st_size + 1))
                    os.close(fd)
        os.close(dir_fd)
    out["seconds"] = time.perf_counter() - start
else:
    from ticketflow.index import TicketIndex
    from ticketflow.store import TicketStore
    index = TicketIndex.open(TicketStore.open(root), **extra)
    if what == "cold_scan":
        index.clear()
    start = time.perf_counter()
    if what == "load_warm":
        result = index.load()
        out["tickets"] = len(result.tickets)
    else:
        result = index.scan()
        out["parsed"] = result.counts.parsed
        out["mode"] = result.timings.mode
        out["workers"] = result.timings.workers
        out["phases"] = result.to_json()["index"]["seconds"]
    out["seconds"] = time.perf_counter() - start
with open("/proc/self/status") as status:  # VmHWM: this process's own peak (not inherited)
    out["rss_mib"] = next(int(l.split()[1]) for l in status if l.startswith("VmHWM")) / 1024
print(json.dumps(out))
"""


ENV: dict[str, str] = {}


def child_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), **ENV}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def child(root: Path, what: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    args = [sys.executable, "-c", CHILD, str(root), what, json.dumps(extra or {})]
    proc = subprocess.run(args, capture_output=True, text=True, check=True, env=child_env())
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


TIME = shutil.which("time") or "/usr/bin/time"


def whole_process(cmd: list[str], cwd: Path) -> dict[str, Any]:
    """Wall seconds and peak RSS of one process. RSS comes from GNU time: a child's
    ``ru_maxrss`` starts at its parent's peak, so this script's own would leak into it."""
    wrapped = [TIME, "-f", "%M", *cmd] if os.path.exists(TIME) else cmd
    start = time.perf_counter()
    proc = subprocess.run(
        wrapped,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=child_env(),
        check=False,
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} exited with {proc.returncode}: {proc.stderr[-500:]!r}")
    lines = proc.stderr.decode().strip().splitlines()
    rss = int(lines[-1]) / 1024 if wrapped is not cmd and lines else float("nan")
    return {"seconds": seconds, "rss_mib": rss}


def stats(samples: list[dict[str, Any]]) -> dict[str, Any]:
    values = [s["seconds"] for s in samples]
    out: dict[str, Any] = {
        "min": round(min(values), 4),
        "median": round(statistics.median(values), 4),
        "max": round(max(values), 4),
        "rss_mib": round(max(s["rss_mib"] for s in samples), 1),
    }
    for key in ("parsed", "mode", "workers", "tickets"):
        if key in samples[0]:
            out[key] = samples[0][key]
    if "phases" in samples[0]:
        out["phases_median"] = {
            name: round(statistics.median(s["phases"][name] for s in samples), 4)
            for name in samples[0]["phases"]
        }
    return out


def touch_one_percent(root: Path, rng: random.Random) -> int:
    """Rewrite 1% of the tickets in place (a changed description) as an editor would."""
    files = sorted((root / "tickets").glob("*/*.md"))
    chosen = rng.sample(files, max(1, len(files) // 100))
    for path in chosen:
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("description: ", "description: Edited. ", 1), "utf-8")
    return len(chosen)


def settle() -> None:
    time.sleep(0.1)  # past the index's racy window (50 ms): as files are in real life


def measure(root: Path, runs: int) -> dict[str, Any]:
    py = sys.executable
    rng = random.Random(1)  # noqa: S311 - reproducible choice of files
    samples: dict[str, list[dict[str, Any]]] = {}

    def add(name: str, sample: dict[str, Any]) -> None:
        samples.setdefault(name, []).append(sample)

    list_cmd = [py, "-m", "ticketflow", "list", "-s", "all", "-c", "0", "-o", "json"]
    child(root, "warm_scan")  # warm-up: page cache, .pyc files, the index
    settle()
    for _ in range(runs):
        add("stat_floor", child(root, "stat_floor"))
        add("read_floor", child(root, "read_floor"))
        add("cold_scan", child(root, "cold_scan"))
        settle()
        child(root, "warm_scan")  # the racy rows of the cold scan, if any
        add("warm_scan", child(root, "warm_scan"))
        touch_one_percent(root, rng)
        add("scan_1pct", child(root, "warm_scan"))
        settle()
        child(root, "warm_scan")
        add("load_warm", child(root, "load_warm"))
        whole_process(list_cmd, root)  # renders what the cold scan and the 1% change reset
        add("list_process", whole_process(list_cmd, root))
        add("python_floor", whole_process([py, "-c", "pass"], root))
        add("import_cli", whole_process([py, "-c", "import ticketflow.cli"], root))
    out = {name: stats(values) for name, values in samples.items()}
    warm = [
        w["seconds"] / s["seconds"]
        for w, s in zip(samples["warm_scan"], samples["stat_floor"], strict=True)
    ]
    cold = [
        c["seconds"] / r["seconds"]
        for c, r in zip(samples["cold_scan"], samples["read_floor"], strict=True)
    ]
    out["ratios_median"] = {
        "warm_scan_over_stat_floor": round(statistics.median(warm), 2),
        "cold_scan_over_read_floor": round(statistics.median(cold), 2),
    }
    return out


def crossover(root: Path, runs: int) -> dict[str, Any]:
    """Scan time with N changed files, in-process against the process pool."""
    files = sorted((root / "tickets").glob("*/*.md"))
    out: dict[str, Any] = {}
    for n in (250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000):
        if n > len(files):
            break
        row: dict[str, list[float]] = {"in_process": [], "pool": []}
        for _ in range(runs):
            for mode, options in (("in_process", {"workers": 1}), ("pool", {"pool_min_files": 1})):
                child(root, "warm_scan")
                for path in files[:n]:
                    os.utime(path)  # changed stamp, same content: parsed again
                settle()
                row[mode].append(child(root, "warm_scan", options)["phases"]["parsing"])
        out[str(n)] = {mode: round(statistics.median(v), 4) for mode, v in row.items()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--crossover", action="store_true", help="also time pool vs in-process")
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "runs": args.runs,
        "python": sys.version.split()[0],
        "cpus": len(os.sched_getaffinity(0)),
        "cold means": "no index; files in the page cache",
    }
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="tf-bench-scan-"))
    ENV["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    try:
        for size in (int(s) for s in args.sizes.split(",") if s):
            root = tmp / f"n{size}"
            if not (root / ".ticketflow.yaml").exists():
                # in a child, so that this process stays small (children inherit its peak)
                maker = multiprocessing.get_context("fork").Process(
                    target=generate, args=(size, root), kwargs={"commit": True}
                )
                maker.start()
                maker.join()
            settle()
            results[f"generated_{size}"] = measure(root, args.runs)
            if args.crossover and size >= 10000:
                results[f"crossover_{size}_parse_seconds"] = crossover(root, args.runs)
            print(json.dumps(results[f"generated_{size}"]), file=sys.stderr)
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
