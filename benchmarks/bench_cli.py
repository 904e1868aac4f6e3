"""Whole-process figures for the command line; prints JSON.

    python benchmarks/bench_cli.py [--runs 7] [--sizes 1000,10000]

For each size it generates a repository (benchmarks/gen_tickets.py), then times, as separate
processes run one after another (A B C A B C ...): the interpreter doing nothing (the floor),
``import click`` (the floor of any click program), ``import ticketflow.cli``,
``ticketflow --help`` and ``ticketflow list --status all --count 0 --format json``. It
prints min/median/max wall seconds per figure and the list/floor ratio measured in the same
run, which is what to compare across machines. The corpus of the Go team is timed too when
``../shared/fixtures/ticketflow-corpus`` is present.
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

CORPUS = Path(__file__).resolve().parents[2] / "shared/fixtures/ticketflow-corpus"


# what a user's machine does: compiled modules are cached in __pycache__ (a development
# shell that sets PYTHONDONTWRITEBYTECODE would time the compiler instead)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, env=ENV)
    return time.perf_counter() - start


def stats(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 4),
        "median": round(statistics.median(values), 4),
        "max": round(max(values), 4),
    }


def measure(root: Path, runs: int) -> dict[str, object]:
    py = sys.executable
    commands = {
        "python_floor": [py, "-c", "pass"],
        "import_click": [py, "-c", "import click"],
        "import_cli": [py, "-c", "import ticketflow.cli"],
        "help": [py, "-m", "ticketflow", "--help"],
        "list_all_json": [py, "-m", "ticketflow", "list", "-s", "all", "-c", "0", "-o", "json"],
    }
    for cmd in commands.values():  # warm-up: page cache, .pyc files
        timed(cmd, root)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            samples[name].append(timed(cmd, root))
    ratios = [a / b for a, b in zip(samples["list_all_json"], samples["python_floor"], strict=True)]
    return {
        **{name: stats(values) for name, values in samples.items()},
        "list_over_floor_median": round(statistics.median(ratios), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sizes", default="1000,10000")
    args = parser.parse_args()
    results: dict[str, object] = {"runs": args.runs, "python": sys.version.split()[0]}
    tmp = Path(tempfile.mkdtemp(prefix="tf-bench-"))
    try:
        if CORPUS.is_dir():
            corpus = tmp / "corpus"
            shutil.copytree(CORPUS, corpus)
            subprocess.run(["git", "init", "-q", str(corpus)], check=True)
            results["corpus_101"] = measure(corpus, args.runs)
        for size in (int(s) for s in args.sizes.split(",") if s):
            root = tmp / f"n{size}"
            generate(size, root, commit=False)
            subprocess.run(["git", "init", "-q", str(root)], check=True)
            results[f"generated_{size}"] = measure(root, args.runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
