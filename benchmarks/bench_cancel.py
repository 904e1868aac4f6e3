"""Signal-to-exit time of ``ticketflow pull`` against a stalled server; prints JSON.

    python benchmarks/bench_cancel.py [--runs 7] [--code DIR]

It starts its own ``git daemon`` on 127.0.0.1 serving 10 MB of incompressible blobs, behind
two misbehaving relays (``sandbox.ThrottledRelay``):

- **silent**: accepts the connection and passes nothing back, not even the ref
  advertisement;
- **trickle**: passes the advertisement and the first 300 kB of the pack, then one byte
  every 2 s (libgit2's per-read timeout never trips).

For each relay and each signal (SIGINT, SIGTERM), ``--runs`` times: a fresh repository whose
origin is the relay (``timeouts.git: 30``, the default), ``python -m ticketflow pull`` as a
process with stderr on a pipe, the signal once the relay is misbehaving (and, for the
trickle, once libgit2 is writing its temporary pack), and the time from the signal to the
process's exit. Reports median, min and max, the exit codes, and what the job history
recorded. ``--code DIR`` runs the ``ticketflow`` package found in DIR instead (an older
version, to compare); a run still alive after 60 s is killed and reported as such.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import make_big_bare  # the test suite's generator: fast-import

from ticketflow.config import CONFIG_NAME, default_config_text
from ticketflow.jobs import load_history
from ticketflow.sandbox import GitDaemon, ThrottledRelay

BOUND = 60.0


def client_repo(path: Path, url: str) -> Path:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    (path / CONFIG_NAME).write_text(default_config_text())
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@e"}
    env |= {"GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@e"}
    subprocess.run(["git", "-C", str(path), "add", CONFIG_NAME], check=True)
    subprocess.run(["git", "-C", str(path), "commit", "-q", "-m", "init"], check=True, env=env)
    subprocess.run(["git", "-C", str(path), "remote", "add", "origin", url], check=True)
    return path


def one_run(base: Path, relay: ThrottledRelay, signum: int, code: str | None) -> dict[str, object]:
    client = client_repo(Path(tempfile.mkdtemp(dir=base)) / "client", relay.url("big.git"))
    relay.stalling.clear()
    env = dict(os.environ)
    if code:
        env["PYTHONPATH"] = code
    proc = subprocess.Popen(
        [sys.executable, "-m", "ticketflow", "pull"],
        cwd=client,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 30
    while not relay.stalling.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    if relay.stall_after:  # mid-pack: wait until libgit2 writes its temporary pack
        while time.monotonic() < deadline and not (
            list(client.glob(".git/ticketflow/transfer/*/objects/pack/pack_git2_*"))
            or list(client.glob(".git/objects/pack/pack_git2_*"))
        ):
            time.sleep(0.01)
    time.sleep(0.5)
    sent = time.monotonic()
    os.kill(proc.pid, signum)
    try:
        _, err = proc.communicate(timeout=BOUND)
        took: float | None = time.monotonic() - sent
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        took = None
    history = load_history(client, limit=1)
    leftovers = [
        p.relative_to(client).as_posix()
        for p in client.glob(".git/**/*")
        if p.is_file()
        and ("pack_git2_" in p.name or p.name.endswith(".lock"))
        and p.name != "ticketflow.lock"
    ]
    return {
        "seconds": None if took is None else round(took, 3),
        "exit": proc.returncode,
        "history": history[0]["status"] if history else None,
        "leftovers": leftovers,
        "last_line": err.strip().splitlines()[-1] if err.strip() else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--code", help="run the ticketflow package in this folder instead")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-cancel-"))
    served = base / "served"
    served.mkdir()
    make_big_bare(served / "big.git", files=200, size=50_000)
    daemon = GitDaemon(served)
    relays = {
        "silent": ThrottledRelay(daemon.port, rate=0, stall_after=0, stall="silent"),
        "trickle": ThrottledRelay(
            daemon.port, rate=0, stall_after=300_000, stall="trickle", trickle_every=2.0
        ),
    }
    report: dict[str, object] = {"runs": args.runs, "code": args.code or "this tree"}
    try:
        for name, relay in relays.items():
            for signum in (signal.SIGINT, signal.SIGTERM):
                runs = [one_run(base, relay, signum, args.code) for _ in range(args.runs)]
                times = [r["seconds"] for r in runs if r["seconds"] is not None]
                report[f"{name} {signal.Signals(signum).name}"] = {
                    "median_s": round(statistics.median(times), 3) if times else None,
                    "min_s": min(times) if times else None,
                    "max_s": max(times) if times else None,
                    "killed_after_60_s": sum(r["seconds"] is None for r in runs),
                    "exit_codes": sorted({r["exit"] for r in runs}),
                    "history": sorted({str(r["history"]) for r in runs}),
                    "leftovers": sorted({x for r in runs for x in r["leftovers"]}),  # type: ignore[attr-defined]
                    "last_line": runs[-1]["last_line"],
                }
                print(
                    json.dumps(
                        {
                            f"{name} {signal.Signals(signum).name}": report[
                                f"{name} {signal.Signals(signum).name}"
                            ]
                        }
                    ),
                    file=sys.stderr,
                )
    finally:
        for relay in relays.values():
            relay.close()
        daemon.stop()
        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
