"""Time from typing ``ticketflow demo`` to the first screen with tickets on it; prints JSON.

    python benchmarks/bench_demo.py [--runs 5] [--tickets 2000]

Each run starts the real command in a real terminal (a detached tmux session, 120x40),
reads the screen every 10 ms (``tmux capture-pane``) until a ticket id is painted in the
list, then presses ``q`` and waits for the command to remove its sandbox. What is measured
is what a newcomer waits for: the interpreter, building the sandbox, the git daemon and the
relay starting, the interface's start and its first frame with the list. Needs tmux.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time

TICKET_ID = re.compile(r"\d{6}-\d{6}-[a-z]")


def tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", *args], capture_output=True, text=True, check=False, timeout=30
    ).stdout


def one_run(session: str, tickets: int) -> dict[str, float]:
    command = shlex.join([sys.executable, "-m", "ticketflow", "demo", "--tickets", str(tickets)])
    started = time.perf_counter()
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", command)
    first_frame = None
    painted = None
    try:
        while time.perf_counter() - started < 60:
            screen = tmux("capture-pane", "-p", "-t", session)
            if first_frame is None and "ticketflow" in screen.lower() and "Building" not in screen:
                first_frame = time.perf_counter() - started
            if TICKET_ID.search(screen):
                painted = time.perf_counter() - started
                break
            time.sleep(0.01)
        if painted is None:
            raise SystemExit(f"no ticket appeared within 60 s; the screen:\n{screen}")
        tmux("send-keys", "-t", session, "q")
        while tmux("list-sessions").find(session) >= 0 and time.perf_counter() - started < 90:
            time.sleep(0.05)
    finally:
        tmux("kill-session", "-t", session)
    return {"list_painted_s": round(painted, 3), "first_frame_s": round(first_frame or painted, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tickets", type=int, default=2000)
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        raise SystemExit("bench_demo needs tmux")
    runs = [one_run(f"tf-bench-demo-{n}", args.tickets) for n in range(args.runs)]
    painted = [r["list_painted_s"] for r in runs]
    print(
        json.dumps(
            {
                "tickets": args.tickets,
                "runs": runs,
                "list_painted_s": {
                    "median": statistics.median(painted),
                    "min": min(painted),
                    "max": max(painted),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
