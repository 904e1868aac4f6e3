"""The demo sandbox: a bare "remote" a few commits ahead of a clone holding generated
tickets, for ``ticketflow demo`` (served by ``ticketflow.sandbox``'s git daemon and relay).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ticketflow.cancel import ProgressCallback, no_progress
from ticketflow.sandbox import add_blobs, run_git


@dataclass(frozen=True)
class Sandbox:
    base: Path
    remote: Path
    workspace: Path


def build_sandbox(
    base: Path, *, tickets: int = 2000, progress: ProgressCallback = no_progress
) -> Sandbox:
    """A bare "remote" a few commits ahead of a clone holding ``tickets`` generated tickets."""
    from ticketflow.generate import generate
    from ticketflow.store import TicketStore

    served = base / "served"
    served.mkdir(parents=True)
    remote = served / "team.git"
    run_git(base, "init", "-q", "--bare", "-b", "main", str(remote))
    seed = base / "seed"
    progress(0, 4, f"generating {tickets} tickets")
    generate(tickets, seed)
    config = seed / ".ticketflow.yaml"
    config.write_text(
        config.read_text()
        .replace("    enabled: true", "    enabled: false")
        .replace("    default_branch: main", "    default_branch: main\n    branch_on_start: false")
    )
    run_git(seed, "commit", "-q", "-am", "Demo: no worktrees")
    run_git(seed, "push", "-q", str(remote), "main")
    progress(1, 4, "cloning the workspace")
    workspace = base / "workspace"
    run_git(base, "clone", "-q", str(remote), str(workspace))
    progress(2, 4, "moving the remote ahead")
    # the sandbox's commits need an author even where git has no identity configured
    for key, value in (
        ("GIT_AUTHOR_NAME", "ticketflow demo"),
        ("GIT_AUTHOR_EMAIL", "demo@example.com"),
        ("GIT_COMMITTER_NAME", "ticketflow demo"),
        ("GIT_COMMITTER_EMAIL", "demo@example.com"),
    ):
        os.environ.setdefault(key, value)
    teammate = TicketStore.open(seed)
    for slug, text in (
        ("pulled-from-the-team", "This ticket arrives with your first pull"),
        ("another-teammate-idea", "So does this one"),
    ):
        teammate.create(slug, description=text, priority=1)
        time.sleep(1.01)  # ids are per second
    add_blobs(seed, count=12, size=1_000_000)
    run_git(seed, "push", "-q", str(remote), "main")
    progress(3, 4, "ready")
    shutil.rmtree(seed)
    return Sandbox(base=base, remote=remote, workspace=workspace)
