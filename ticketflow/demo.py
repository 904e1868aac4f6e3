"""The demo sandbox: a bare "remote" a few commits ahead of a clone holding generated
tickets, for ``ticketflow demo`` (served by ``ticketflow.sandbox``'s git daemon and relay).

It is written straight into git objects with ``git fast-import``, not as files that are then
added and committed: the clone is the only checkout, and the whole sandbox of 2,000 tickets
is ready in well under a second, so a newcomer sees the interface at once.
"""

from __future__ import annotations

import itertools
import random
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ticketflow.cancel import ProgressCallback, no_progress
from ticketflow.model import now_local
from ticketflow.sandbox import run_git


@dataclass(frozen=True)
class Sandbox:
    base: Path
    remote: Path
    workspace: Path
    when: datetime
    """The sandbox's "now": the teammate's commits are dated a few minutes before it."""


TEAMMATE = ("Ana Teammate", "ana@example.com")
"""Who made the commits the workspace does not have yet."""
ATTACHMENTS = 12
ATTACHMENT_BYTES = 1_000_000
"""The remote is ahead by this much data too, so a pull takes a while on the slow link."""
GITIGNORE = "\n# TicketFlow\ncurrent-ticket.md\n.worktrees/\n"
"""What ``ticketflow init`` adds: the workspace's ``current-ticket.md`` link stays untracked
without showing in ``git status``."""


def build_sandbox(
    base: Path,
    *,
    tickets: int = 2000,
    progress: ProgressCallback = no_progress,
    now: datetime | None = None,
    ahead: bool = True,
) -> Sandbox:
    """A bare "remote" three commits ahead of a clone holding ``tickets`` generated tickets:
    two new tickets by a teammate, then 12 MB of attachments. With ``ahead=False`` the
    remote is left level with the clone: ``move_remote_ahead`` does the rest (the demo does
    it while the interface starts)."""
    from ticketflow.config import default_config_text
    from ticketflow.generate import ticket_files

    when = now or now_local()
    served = base / "served"
    served.mkdir(parents=True)
    remote = served / "team.git"
    run_git(base, "init", "-q", "--bare", "-b", "main", str(remote))
    progress(0, 3, f"generating {tickets} tickets")
    config = (
        default_config_text()
        .replace("    enabled: true", "    enabled: false")
        .replace("    default_branch: main", "    default_branch: main\n    branch_on_start: false")
    )
    files = itertools.chain(
        [(".ticketflow.yaml", config.encode("utf-8")), (".gitignore", GITIGNORE.encode("utf-8"))],
        ticket_files(tickets),  # rendered while git reads the stream
    )
    start = when - timedelta(days=1)
    _fast_import(
        remote,
        [_Commit(("ticketflow demo", "demo@example.com"), start, f"{tickets} tickets", files)],
    )
    progress(1, 3, "cloning the workspace")
    workspace = base / "workspace"
    run_git(base, "-c", "checkout.workers=0", "clone", "-q", str(remote), str(workspace))
    progress(2, 3, "indexing the workspace")
    # the interface then paints from the index at once, as for someone who used it before
    from ticketflow.index import TicketIndex
    from ticketflow.store import TicketStore

    TicketIndex.open(TicketStore.open(workspace)).scan()
    box = Sandbox(base=base, remote=remote, workspace=workspace, when=when)
    if ahead:
        move_remote_ahead(box)
    progress(3, 3, "ready")
    return box


def move_remote_ahead(box: Sandbox) -> None:
    """Add the teammate's three commits to the remote's ``main`` (git updates the branch
    only once all of them are written: a fetch meanwhile sees the remote as it was)."""
    _fast_import(box.remote, list(_team_commits(box.when)), "refs/heads/main^0")


@dataclass(frozen=True)
class _Commit:
    author: tuple[str, str]
    when: datetime
    message: str
    files: Iterable[tuple[str, bytes]]


def _team_commits(when: datetime) -> Iterable[_Commit]:
    """What a teammate pushed while the workspace was away: two tickets (written as
    ``ticketflow new`` writes them), then a commit of attachments."""
    from ticketflow.config import DEFAULT_TEMPLATE
    from ticketflow.fileformat import render_ticket
    from ticketflow.model import Ticket, make_ticket_id

    for minutes, slug, text in (
        (20, "pulled-from-the-team", "This ticket arrives with your first pull"),
        (10, "another-teammate-idea", "So does this one"),
    ):
        created = when - timedelta(minutes=minutes)
        tid = make_ticket_id(slug, created)
        ticket = Ticket(
            id=tid, priority=1, description=text, created_at=created, body=DEFAULT_TEMPLATE
        )
        data = render_ticket(ticket).encode("utf-8")
        yield _Commit(TEAMMATE, created, f"Add ticket: {tid}", [(f"tickets/todo/{tid}.md", data)])
    rng = random.Random(1)  # noqa: S311 - demo data
    blobs = [
        (f"attachments/screenshot-{i:03d}.bin", rng.randbytes(ATTACHMENT_BYTES))
        for i in range(ATTACHMENTS)
    ]
    yield _Commit(TEAMMATE, when - timedelta(minutes=5), f"Add {ATTACHMENTS} attachments", blobs)


_STORE_AS_IS = ("-c", "core.compression=0", "-c", "core.bigFileThreshold=512k")
"""Random attachments do not compress, and deltas between them are futile: storing them as
they are makes the sandbox 0.9 s faster to build. (The daemon compresses what it sends.)"""


def _fast_import(repo: Path, commits: list[_Commit], parent: str | None = None) -> None:
    """Append ``commits`` to ``main`` of the bare ``repo`` (after ``parent``) in one
    ``git fast-import`` run; each commit's tree is its parent's plus its files."""
    proc = subprocess.Popen(
        ["git", "-C", str(repo), *_STORE_AS_IS, "fast-import", "--quiet", "--done"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    write = proc.stdin.write
    mark = 0
    try:
        for number, commit in enumerate(commits):
            marks = []
            for path, data in commit.files:
                mark += 1
                write(b"blob\nmark :%d\ndata %d\n%s\n" % (mark, len(data), data))
                marks.append((path, mark))
            name, email = commit.author
            stamp = int(commit.when.timestamp())
            offset = commit.when.utcoffset() or timedelta(0)
            minutes = int(offset.total_seconds()) // 60
            zone = f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
            who = f"{name} <{email}> {stamp} {zone}".encode()
            message = commit.message.encode("utf-8")
            write(b"commit refs/heads/main\nauthor %s\ncommitter %s\n" % (who, who))
            write(b"data %d\n%s\n" % (len(message), message))
            if number == 0 and parent is not None:
                write(b"from %s\n" % parent.encode())
            for path, blob in marks:
                write(b"M 100644 :%d %s\n" % (blob, path.encode("utf-8")))
            write(b"\n")
        write(b"done\n")
    finally:
        proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"git fast-import failed in {repo}")
