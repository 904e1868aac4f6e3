"""Make a realistic ticketflow repository: ``python benchmarks/gen_tickets.py N DIR``.

About 1 KB per ticket, 30% todo / 10% doing / 60% done, 5% with a parent, a fixed random
seed, and everything in one commit. The generator itself is ``ticketflow.generate``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ticketflow.generate import generate, make_ticket

__all__ = ["generate", "make_ticket"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", type=int, help="how many tickets")
    parser.add_argument("dir", type=Path, help="the repository to create (or fill)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-commit", action="store_true", help="write files only")
    args = parser.parse_args()
    generate(args.n, args.dir, seed=args.seed, commit=not args.no_commit)
    print(f"{args.n} tickets in {args.dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
