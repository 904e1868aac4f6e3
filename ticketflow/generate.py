"""Realistic generated tickets, for benchmarks and the demo sandbox.

About 1 KB per ticket, 30% todo / 10% doing / 60% done, 5% with a parent, a fixed random
seed, and everything in one commit (through git itself, which is what a team's clone holds).
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ticketflow.config import default_config_text
from ticketflow.fileformat import render_ticket
from ticketflow.model import Ticket

_VOCABULARY = (
    "login timeout cache index scan merge push pull branch worktree render list search "
    "config parser error hint progress cancel queue worker retry backoff socket token "
    "ticket status board detail keyboard palette snapshot benchmark memory latency"
)
WORDS = _VOCABULARY.split()


def paragraph(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def make_ticket(i: int, rng: random.Random, base: datetime, ids: list[str]) -> Ticket:
    created = base + timedelta(minutes=i * 7, seconds=i % 60)
    slug = "-".join(rng.sample(WORDS, 3)) + f"-{i}"
    tid = f"{created:%y%m%d-%H%M%S}-{slug}"
    roll = rng.random()
    started = created + timedelta(hours=3) if roll >= 0.3 else None
    closed = created + timedelta(days=2) if roll >= 0.4 else None
    related = (f"parent:{rng.choice(ids)}",) if ids and rng.random() < 0.05 else ()
    body = (
        f"# {paragraph(rng, 5)}\n\n{paragraph(rng, 60)}\n\n## Tasks\n"
        + "".join(f"- [{'x' if closed else ' '}] {paragraph(rng, 6)}\n" for _ in range(5))
        + f"\n## Notes\n\n{paragraph(rng, 25)}\n"
    )
    return Ticket(
        id=tid,
        priority=rng.choice((1, 2, 2, 2, 3)),
        description=paragraph(rng, 8),
        created_at=created,
        started_at=started,
        closed_at=closed,
        closure_reason="done" if closed and rng.random() < 0.2 else None,
        related=related,
        body=body,
    )


def ticket_files(n: int, seed: int = 42) -> Iterator[tuple[str, bytes]]:
    """``(path under the repository, file bytes)`` of ``n`` generated tickets."""
    rng = random.Random(seed)  # noqa: S311 - reproducible data, not secrets
    base = datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=9)))
    ids: list[str] = []
    for i in range(n):
        t = make_ticket(i, rng, base, ids)
        ids.append(t.id)
        yield f"tickets/{t.status.value}/{t.id}.md", render_ticket(t).encode("utf-8")


def generate(n: int, root: Path, seed: int = 42, commit: bool = True) -> None:
    root.mkdir(parents=True, exist_ok=True)
    if commit and not (root / ".git").exists():
        subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    (root / ".ticketflow.yaml").write_text(default_config_text(), encoding="utf-8")
    for status in ("todo", "doing", "done"):
        (root / "tickets" / status).mkdir(parents=True, exist_ok=True)
    for rel, data in ticket_files(n, seed):
        (root / rel).write_bytes(data)
    if commit:
        env_identity = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]
        subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
        subprocess.run(
            ["git", "-C", str(root), *env_identity, "commit", "-q", "-m", f"{n} tickets"],
            check=True,
        )
