"""The command line: one command for every ticket action, ``--format json`` for scripts.

Names and flags follow the Go tool yshrsmz/ticketflow so its users feel at home; flags may
come before or after arguments. Every failure is a ``TicketflowError`` printed as
``Error: ...`` and ``Hint: ...`` on stderr (or a JSON object in JSON mode) with the exit code
documented in docs/commands.md. Only the bare ``ticketflow`` (the TUI) imports textual.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from json.encoder import encode_basestring as _encode_str  # the C string encoder
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import click

from ticketflow import __version__, logs
from ticketflow.config import (
    CONFIG_NAME,
    default_config_text,
    detect_default_branch,
    find_git_root,
    load_config,
)
from ticketflow.errors import (
    CancelledError,
    EditorError,
    GitError,
    MalformedTicketError,
    NotARepoError,
    TicketflowError,
    UncommittedChangesError,
    UnsafePathError,
    UsageError,
)
from ticketflow.fsutil import atomic_write
from ticketflow.model import Status, Ticket, format_time
from ticketflow.safepaths import LINK_ERRNOS, O_NOFOLLOW, open_folder
from ticketflow.store import LoadResult, TicketStore
from ticketflow.textsafe import one_line, visible

if TYPE_CHECKING:
    from ticketflow.jobs import JobId, JobQueue
    from ticketflow.workspace import Workspace

FORMAT_ENV = "TICKETFLOW_OUTPUT_FORMAT"
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
F = TypeVar("F", bound=Callable[..., Any])


# --- output -------------------------------------------------------------------------------


def _json_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    text = format_time(value)
    if value.microsecond:  # Go's RFC3339Nano keeps a non-zero fraction
        frac = f"{value.microsecond:06d}".rstrip("0")
        text = text[:19] + "." + frac + text[19:]
    return text


def ticket_json(ticket: Ticket, *, content: bool = False) -> dict[str, Any]:
    """The Go tool's ticket object (plus ``closure_reason``); ``path`` is repo-relative."""
    out: dict[str, Any] = {
        "id": ticket.id,
        "path": ticket.path,
        "status": ticket.status.value,
        "priority": ticket.priority,
        "description": ticket.description,
        "created_at": _json_time(ticket.created_at),
        "started_at": _json_time(ticket.started_at),
        "closed_at": _json_time(ticket.closed_at),
        "closure_reason": ticket.closure_reason,
        "related": list(ticket.related) if ticket.related else None,
    }
    if content:
        out["content"] = ticket.body
    else:
        out["has_worktree"] = ticket.status is Status.DOING
    return out


def _pretty(value: Any, pad: str = "") -> str:
    """``json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)``, byte for byte,
    several times faster: Python's indenting encoder is pure Python, while here the leaves
    go through the C string encoder."""
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = pad + "  "
        items = [f"{inner}{_encode_str(str(k))}: {_pretty(value[k], inner)}" for k in sorted(value)]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        inner = pad + "  "
        return "[\n" + ",\n".join(inner + _pretty(v, inner) for v in value) + "\n" + pad + "]"
    if isinstance(value, str):
        return _encode_str(value)
    return json.dumps(value)


_JSON_UNSAFE = re.compile("[\x7f-\x9f\ud800-\udfff]")
"""What JSON may carry raw but a terminal must not get: DEL, the C1 controls (U+009B is
CSI) and lone surrogates. JSON escapes C0 controls itself."""


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def dumps_json(data: Any, pretty: bool = True) -> str:
    """Go's ``encoding/json`` layout: sorted keys, 2-space indent, HTML characters escaped.

    Unlike Go, DEL, the C1 controls and lone surrogates are escaped too (``\\u009b``): the
    output is often read on a terminal, and it decodes to the same text."""
    if pretty:
        text = _pretty(data)
    else:
        text = json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    if _JSON_UNSAFE.search(text) is not None:  # only ever inside strings
        text = _JSON_UNSAFE.sub(_json_escape, text)
    return text


def warn(text: str) -> None:
    """A warning line on stderr; it may quote a file, so it goes through ``visible``."""
    click.echo(visible(text), err=True)


class Output:
    """Where a command's result goes: text for people, JSON for scripts.

    Text may quote ticket files (a teammate's push), so it goes to the terminal through
    ``textsafe.visible``: no control character but newline and tab reaches it raw."""

    def __init__(self, fmt: str, pretty: bool = True) -> None:
        self.fmt = fmt
        self.pretty = pretty

    @property
    def json(self) -> bool:
        return self.fmt == "json"

    def emit(self, data: Any, text: str | Callable[[], str]) -> None:
        if self.json:
            click.echo(dumps_json(data, self.pretty))
        else:
            click.echo(visible(text() if callable(text) else text), nl=False)

    def error(self, exc: TicketflowError) -> None:
        if self.json:
            click.echo(dumps_json(exc.to_dict(), self.pretty), err=True)
        else:
            click.echo(f"Error: {visible(exc.message)}", err=True)
            if exc.hint:
                click.echo(f"Hint: {visible(exc.hint)}", err=True)


def _requested_format(fmt: str | None) -> str | None:
    if fmt:
        return fmt
    env = os.environ.get(FORMAT_ENV, "").strip().lower()
    return env if env in ("text", "json") else None


def _open_store() -> TicketStore:
    return TicketStore.open()


_LOG_OPTIONS = (
    click.option(
        "--log-level",
        metavar="LEVEL",
        default=None,
        help="Log what the command does at this level or above: debug, info, warn, error "
        "(default: no log).",
    ),
    click.option(
        "--log-format",
        type=click.Choice(["text", "json"], case_sensitive=False),
        default=None,
        help="Log lines as text (key=value) or JSON (one object per line).",
    ),
    click.option(
        "--log-output",
        metavar="OUTPUT",
        default=None,
        help="Where log lines go: stderr (default), stdout, or a file (appended to).",
    ),
)


def command(needs_store: bool = True) -> Callable[[F], F]:
    """Give a command ``--format`` and turn every TicketflowError into its exit code.

    With ``needs_store`` the command gets the repository's ``store`` (and its configured
    output format); without it (``init``) it runs wherever it is called.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(
            *args: Any,
            fmt: str | None,
            log_level: str | None,
            log_format: str | None,
            log_output: str | None,
            **kwargs: Any,
        ) -> None:
            requested = _requested_format(fmt)
            out = Output(requested or "text")
            name = click.get_current_context().command_path.partition(" ")[2]
            started = time.monotonic()
            handler = None
            try:
                handler = logs.configure(log_level, log_format, log_output)
                logs.log(logging.DEBUG, "command started", command=name)
                if needs_store:
                    store = _open_store()
                    out = Output(requested or store.config.default_format, store.config.json_pretty)
                    kwargs["store"] = store
                func(*args, out=out, **kwargs)
                elapsed = round((time.monotonic() - started) * 1000)
                logs.log(logging.INFO, "command finished", command=name, duration_ms=elapsed)
            except TicketflowError as exc:
                logs.log(
                    logging.ERROR,
                    "command failed",
                    command=name,
                    code=exc.error_code,
                    exit_code=exc.exit_code,
                    error=exc.message,
                )
                out.error(exc)
                sys.exit(exc.exit_code)
            except KeyboardInterrupt:
                logs.log(logging.WARNING, "command interrupted", command=name)
                click.echo("\nOperation cancelled", err=True)
                sys.exit(EXIT_INTERRUPTED)
            finally:
                logs.stop(handler)

        for option in reversed(_LOG_OPTIONS):
            wrapper = option(wrapper)
        return click.option(
            "--format",
            "-o",
            "fmt",
            type=click.Choice(["text", "json"]),
            default=None,
            help=f"Output format (default: ${FORMAT_ENV}, else output.default_format "
            f"in {CONFIG_NAME}, else text).",
        )(wrapper)  # type: ignore[return-value]

    return decorate


def _integer(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """click's integer, but an error quotes at most a few dozen characters of what was
    typed (``--priority`` followed by 5,000 digits must not fill the screen)."""
    if value is None:
        return None
    text = value.strip()
    if len(text) <= 19 and text.lstrip("+-").isdigit():
        return int(text)
    from ticketflow.errors import quoted

    raise click.BadParameter(f"{quoted(value)} is not a whole number that fits in 64 bits")


def no_commit_option(func: F) -> F:
    return click.option(
        "--no-commit",
        is_flag=True,
        help="Write the file but do not commit it (git.auto_commit: false does this always).",
    )(func)


def _commit_flag(no_commit: bool) -> bool | None:
    return False if no_commit else None


def _truncate(text: str, width: int) -> str:
    text = one_line(text)  # escaped first: the width counts what the terminal shows
    return text if len(text) <= width else text[: width - 3] + "..."


def render_list(tickets: list[Ticket]) -> str:
    """The Go tool's table: ID, STATUS, PRI, DESCRIPTION (cut at 50 characters)."""
    if not tickets:
        return "No tickets found\n"
    width = max(2, *(len(t.id) for t in tickets))
    lines = [f"{'ID':<{width}}  {'STATUS':<6}  {'PRI':<3}  DESCRIPTION", "-" * (width + 50)]
    lines += [
        f"{t.id:<{width}}  {t.status.value:<6}  {t.priority:<3d}  {_truncate(t.description, 50)}"
        for t in tickets
    ]
    return "\n".join(lines) + "\n"


def render_show(ticket: Ticket) -> str:
    lines = [
        f"ID: {ticket.id}",
        f"Status: {ticket.status.value}",
        f"Priority: {ticket.priority}",
        f"Description: {ticket.description}",
        f"Created: {_json_time(ticket.created_at) or '-'}",
    ]
    if ticket.started_at:
        lines.append(f"Started: {_json_time(ticket.started_at)}")
    if ticket.closed_at:
        lines.append(f"Closed: {_json_time(ticket.closed_at)}")
    if ticket.closure_reason:
        lines.append(f"Closure reason: {ticket.closure_reason}")
    if ticket.related:
        lines.append(f"Related: {', '.join(ticket.related)}")
    body = ticket.body if ticket.body.endswith("\n") or not ticket.body else ticket.body + "\n"
    return "\n".join(lines) + "\n\n" + body


# --- the commands ---------------------------------------------------------------------------

HELP = """Tickets as Markdown files in your git repository, from the keyboard.

\b
Run with no command to open the terminal UI. Tickets live in
tickets/todo, tickets/doing and tickets/done as <YYMMDD-HHMMSS-slug>.md,
the same files the Go tool yshrsmz/ticketflow reads and writes.

\b
A first session:
  ticketflow init                         set up this git repository
  ticketflow new fix-login -d "Login times out after 5 s"
  ticketflow list                         open tickets (todo and doing)
  ticketflow start fix-lo                 any unambiguous id prefix works
  ticketflow close fix-lo --reason "shipped in 1.4"

Every command takes --format json (or TICKETFLOW_OUTPUT_FORMAT=json).
Exit codes are listed in docs/commands.md.
"""


class _Group(click.Group):
    """The Go tool's aliases (``ls`` for ``list``) resolve to their command; they are not
    listed twice in ``--help`` (the command's help names its alias)."""

    ALIASES: ClassVar[dict[str, str]] = {"ls": "list"}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.ALIASES.get(cmd_name, cmd_name))

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        return (cmd.name if cmd is not None else name), cmd, rest


@click.group(
    cls=_Group,
    invoke_without_command=True,
    help=HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(
    __version__, "--version", "-V", "-v", message="ticketflow version %(version)s"
)
@click.pass_context
def cli(ctx: click.Context) -> None:
    if ctx.invoked_subcommand is None:
        from ticketflow.tui.app import create_app

        try:
            app = create_app(_open_store())
        except TicketflowError as exc:
            Output("text").error(exc)
            sys.exit(exc.exit_code)
        app.run()


def _read_own_file(root: Path, path: Path) -> bytes:
    """A repository file ticketflow rewrites (``.gitignore``): b"" if missing, never read
    through a link (whatever it points at would be copied into the commit)."""
    try:
        fd = os.open(path, os.O_RDONLY | O_NOFOLLOW)
    except FileNotFoundError:
        return b""
    except OSError as exc:
        rel = path.relative_to(root).as_posix()
        if exc.errno in LINK_ERRNOS:
            raise UnsafePathError(
                rel,
                None,
                "is a symbolic link; ticketflow does not read or write through links",
                hint="replace it with a regular file (or remove it), then run init again",
                code="symlink",
            ) from None
        raise TicketflowError(f"cannot read {rel}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


@cli.command("init")
@click.option("--no-commit", is_flag=True, help="Write the files but do not commit them.")
@command(needs_store=False)
def init_cmd(out: Output, no_commit: bool) -> None:
    """Set up ticketflow in the current git repository.

    Writes .ticketflow.yaml (the bytes the Go tool writes, with this
    repository's default branch: origin's HEAD, else the branch checked out
    now), creates tickets/todo, tickets/doing and tickets/done, adds
    current-ticket.md to .gitignore, and commits the two files.
    """
    env_root = os.environ.get("TICKETFLOW_ROOT")
    root = find_git_root(Path(env_root) if env_root else Path.cwd())
    if root is None:
        raise NotARepoError(
            "not in a git repository", hint="run 'git init' first, then 'ticketflow init'"
        )
    config_path = root / CONFIG_NAME
    if config_path.exists():
        out.emit(
            {"initialized": False, "message": "already initialized", "config": CONFIG_NAME},
            "Ticket system already initialized\n",
        )
        return
    gitignore = root / ".gitignore"
    existing = _read_own_file(root, gitignore)  # before anything is written
    branch = detect_default_branch(root)
    worktrees = f"../{root.name}.worktrees"
    atomic_write(config_path, default_config_text(branch, worktrees).encode("utf-8"), root=root)
    config = load_config(config_path)
    for status in Status:
        folder = root / config.tickets_dir / config.status_dirs()[status.value]
        os.close(open_folder(root, folder, create=True))  # made inside the repository only
    if b"current-ticket.md" not in existing:
        atomic_write(
            gitignore, existing + b"\n# TicketFlow\ncurrent-ticket.md\n.worktrees/\n", root=root
        )
    commit = None
    if not no_commit:
        from ticketflow.gitrepo import PathChange, commit_paths

        try:
            commit = commit_paths(
                root,
                [PathChange(CONFIG_NAME), PathChange(".gitignore")],
                "Initialize ticketflow",
            )
        except GitError as exc:
            raise GitError(
                f"{exc.message} (the files are written and staged)",
                hint=f"{exc.hint}; then: git commit -m 'Initialize ticketflow' "
                f"{CONFIG_NAME} .gitignore",
            ) from None
    out.emit(
        {
            "initialized": True,
            "config": CONFIG_NAME,
            "tickets_dir": config.tickets_dir,
            "default_branch": config.default_branch,
            "commit": commit,
        },
        f"Initialized ticket system successfully\n"
        f"Configuration saved to: {config_path}\n"
        f"Tickets directory: {root / config.tickets_dir}\n"
        f"Default branch: {config.default_branch} (git.default_branch)\n",
    )


@cli.command("new")
@click.argument("slug")
@click.option("--parent", "-p", metavar="ID", help="Parent ticket (any unambiguous id prefix).")
@click.option(
    "--priority",
    default="2",
    show_default=True,
    callback=_integer,
    metavar="INTEGER",
    help="1 is the most urgent.",
)
@click.option("--description", "-d", default="", help="One-line summary shown in lists.")
@no_commit_option
@command()
def new_cmd(
    store: TicketStore,
    out: Output,
    slug: str,
    parent: str | None,
    priority: int,
    description: str,
    no_commit: bool,
) -> None:
    """Create a ticket in todo from the configured template.

    SLUG is lower-case letters, digits and hyphens; the id becomes
    YYMMDD-HHMMSS-SLUG (local time). Commits "Add ticket: <ID>".
    """
    ticket = store.create(
        slug,
        parent=parent,
        priority=priority,
        description=description,
        commit=_commit_flag(no_commit),
    )
    data: dict[str, Any] = {"ticket": ticket_json(ticket)}
    if ticket.parent:
        data["parent_ticket"] = ticket.parent
    out.emit(
        data,
        f"Created ticket: {ticket.id}\n  File: {ticket.path}\n"
        + (f"  Parent: {ticket.parent}\n" if ticket.parent else "")
        + f"Next: edit it with 'ticketflow edit {ticket.id}', "
        f"then 'ticketflow start {ticket.id}'\n",
    )


STATUS_FILTERS = ("todo", "doing", "done", "all", "active")


def load_tickets(store: TicketStore, *, bodies: bool = False) -> LoadResult:
    """Every ticket through the index (only changed files are parsed); the index's
    tickets carry no body unless ``bodies``."""
    from ticketflow.index import TicketIndex

    return TicketIndex.open(store).load(bodies=bodies)


def summarize(tickets: Iterable[Ticket]) -> dict[str, int]:
    """Counts by status (from timestamps) of every readable ticket, as list and status show."""
    summary = {s.value: 0 for s in Status}
    for t in tickets:
        summary[t.status.value] += 1
    summary["total"] = sum(summary.values())
    return summary


def filter_tickets(
    tickets: Iterable[Ticket],
    status: str,
    priority: int | None,
    search: str | None,
) -> list[Ticket]:
    wanted = {
        "active": {Status.TODO, Status.DOING},
        "all": set(Status),
    }.get(status, {Status(status)} if status in ("todo", "doing", "done") else set())
    needle = search.lower() if search else None
    out = []
    for t in tickets:
        if t.status not in wanted or (priority is not None and t.priority != priority):
            continue
        if needle and not (
            needle in t.id.lower() or needle in t.description.lower() or needle in t.body.lower()
        ):
            continue
        out.append(t)
    return out


@cli.command("list")
@click.option(
    "--status",
    "-s",
    type=click.Choice(STATUS_FILTERS),
    default="active",
    show_default=True,
    help="Which tickets: active is todo and doing.",
)
@click.option(
    "--count",
    "-c",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Show at most this many; 0 shows all.",
)
@click.option(
    "--priority",
    default=None,
    callback=_integer,
    metavar="INTEGER",
    help="Only tickets of this priority.",
)
@click.option(
    "--search", "-q", default=None, help="Only tickets whose id, description or body contain TEXT."
)
@command()
def list_cmd(
    store: TicketStore,
    out: Output,
    status: str,
    count: int,
    priority: int | None,
    search: str | None,
) -> None:
    """List tickets: priority first (1 before 2), then newest first (alias: ls).

    Files that cannot be read are skipped with a warning on stderr;
    'ticketflow show' on one of them says what is wrong.
    """
    if out.json and not search:
        _list_json_fast(store, out, status, count, priority)
        return
    result = load_tickets(store, bodies=bool(search))
    for problem in result.problems:
        warn(f"Warning: skipped {problem.message}")
    tickets = filter_tickets(result.tickets, status, priority, search)
    matching = len(tickets)
    if count:
        tickets = tickets[:count]
    summary = summarize(result.tickets)
    out.emit(
        {"tickets": [ticket_json(t) for t in tickets], "summary": summary},
        lambda: render_list(tickets) + _shown_line(len(tickets), matching),
    )


def _shown_line(shown: int, matching: int) -> str:
    """Say so when ``--count`` cut the list: a silent cut reads as "that is all of them"."""
    if shown >= matching:
        return ""
    return f"{shown:,} of {matching:,} shown; --count 0 for all\n"


def _list_json_fast(
    store: TicketStore, out: Output, status: str, count: int, priority: int | None
) -> None:
    """``list --format json`` from the index's cached per-ticket JSON: byte for byte what
    ``dumps_json`` of the whole list gives, without building ten thousand tickets."""
    from ticketflow.index import ALL_STATUSES, TicketIndex, View

    pretty = out.pretty
    if pretty:

        def fragment(ticket: Ticket) -> str:
            return "    " + dumps_json(ticket_json(ticket), True).replace("\n", "\n    ")
    else:

        def fragment(ticket: Ticket) -> str:
            return dumps_json(ticket_json(ticket), False)

    statuses = {"active": ("todo", "doing"), "all": ALL_STATUSES}.get(status, (status,))
    view = View(f"list-json-{'pretty' if pretty else 'compact'}-2", fragment)
    listed = TicketIndex.open(store).rendered(
        view, statuses=statuses, priority=priority, limit=count
    )
    for problem in listed.problems:
        warn(f"Warning: skipped {problem.message}")
    summary = dumps_json(listed.summary, pretty)
    if pretty:
        tickets = "[\n" + ",\n".join(listed.texts) + "\n  ]" if listed.texts else "[]"
        summary = summary.replace("\n", "\n  ")
        click.echo('{\n  "summary": ' + summary + ',\n  "tickets": ' + tickets + "\n}")
    else:
        click.echo('{"summary":' + summary + ',"tickets":[' + ",".join(listed.texts) + "]}")


@cli.command("show")
@click.argument("ticket_id", metavar="ID")
@command()
def show_cmd(store: TicketStore, out: Output, ticket_id: str) -> None:
    """Show one ticket's fields and body."""
    ticket = store.get(ticket_id)
    out.emit({"ticket": ticket_json(ticket, content=True)}, lambda: render_show(ticket))


def _transition_output(out: Output, verb: str, ticket: Ticket, extra: str = "") -> None:
    out.emit(
        {"ticket_id": ticket.id, "status": ticket.status.value, "ticket": ticket_json(ticket)},
        f"{verb} ticket: {ticket.id}\n  Status: {ticket.status.value}\n  File: {ticket.path}\n"
        + extra,
    )


@cli.command("start")
@click.argument("ticket_id", metavar="ID")
@click.option(
    "--no-branch",
    is_flag=True,
    help="Do not create the ticket's branch or worktree (git.branch_on_start: false does "
    "this always).",
)
@click.option(
    "--force",
    "-f",
    is_flag=True,
    help="A ticket already in doing: remove its worktree and add it again (never one with "
    "uncommitted changes; the branch stays).",
)
@no_commit_option
@command()
def start_cmd(
    store: TicketStore,
    out: Output,
    ticket_id: str,
    no_branch: bool,
    no_commit: bool,
    force: bool,
) -> None:
    """Start work: set started_at, move the file to doing, commit "Start ticket: <ID>".

    As the Go tool does, the ticket gets a branch named after its id. With
    worktree.enabled the start is committed on the current branch and a
    worktree is added under worktree.base_dir on the new branch, where
    worktree.init_commands run; otherwise the branch is checked out here
    first. The ticket becomes the current ticket (current-ticket.md), which
    a bare 'ticketflow close' closes.
    """
    # an uncommitted start cannot be checked out in a worktree: no workspace then
    wants_workspace = not (no_branch or no_commit) and store.config.branch_on_start
    recreate = (
        force
        and wants_workspace
        and store.config.worktree_enabled
        and store.get(ticket_id).status is Status.DOING
    )
    workspace: Workspace | None
    if recreate:
        ticket, workspace = store.recreate_worktree(ticket_id)
    else:
        ticket, workspace = store.start_ticket(
            ticket_id,
            commit=_commit_flag(no_commit),
            workspace=False if (no_branch or no_commit) else None,
        )
    for run in workspace.commands if workspace else ():
        if not run.ok:  # a skipped fetch (no such remote) is said in the JSON only
            why = f"exit {run.returncode}" if run.returncode is not None else run.error
            detail = f": {run.error}" if run.returncode is not None and run.error else ""
            warn(f"Warning: init command {run.command!r} failed ({why}){detail}")
    extra = ""
    if workspace is not None:
        extra += f"  Branch: {workspace.branch}\n"
        if workspace.worktree is not None:
            extra += f"  Worktree: {workspace.worktree}\n  Next: cd {workspace.worktree}\n"
    verb = "Recreated the worktree of ticket" if recreate else "Started ticket"
    out.emit(
        {
            "ticket_id": ticket.id,
            "status": ticket.status.value,
            "original_status": (Status.DOING if recreate else Status.TODO).value,
            "is_recreating_worktree": recreate,
            "init_commands_executed": bool(workspace and workspace.commands),
            "ticket": ticket_json(ticket),
            **(workspace.to_json() if workspace else {"branch": None, "worktree_path": None}),
        },
        f"{verb}: {ticket.id}\n  Status: {ticket.status.value}\n  File: {ticket.path}\n" + extra,
    )


@cli.command("close")
@click.argument("ticket_id", metavar="[ID]", required=False)
@click.option("--reason", "-r", default=None, help="Why; appended as a Closure Note.")
@click.option(
    "--cleanup",
    is_flag=True,
    help="Then remove the ticket's worktree (if clean) and branch (if merged).",
)
@click.option(
    "--force",
    "-f",
    is_flag=True,
    help="Close even though the ticket's worktree (or, for the current ticket without one, "
    "this checkout) has uncommitted changes; they stay where they are.",
)
@no_commit_option
@command()
def close_cmd(
    store: TicketStore,
    out: Output,
    ticket_id: str | None,
    reason: str | None,
    cleanup: bool,
    no_commit: bool,
    force: bool,
) -> None:
    """Close a ticket: set closed_at, move it to done, commit "Close ticket: <ID>".

    Without ID, closes the current ticket (the one last started here). A
    ticket that was never started can be closed only with --reason. As in
    the Go tool, uncommitted changes in the ticket's worktree stop the close
    (commit them first, or --force); ticket files do not count.
    """
    current = store.current_ticket_id()
    ref = ticket_id or current
    if ref is None:
        raise UsageError(
            "no active ticket: there is no ticket currently being worked on",
            hint="name one: ticketflow close <ID> (see 'ticketflow list --status doing')",
            error_code="TICKET_NOT_STARTED",
        )
    tid = store.resolve(ref).id
    if not force:
        _refuse_uncommitted(store, tid, is_current=tid == current)
    ticket = store.close(tid, reason=reason, commit=_commit_flag(no_commit))
    cleaned = None
    hint = ""
    from ticketflow.workspace import has_workspace

    if cleanup:
        from ticketflow.workspace import cleanup as clean_workspace

        cleaned = clean_workspace(store.root, store.config, ticket.id)
    elif has_workspace(store.root, ticket.id):
        hint = f"  Its branch/worktree remain: ticketflow cleanup {ticket.id}\n"
    out.emit(
        {
            "success": True,
            "ticket_id": ticket.id,
            "status": ticket.status.value,
            "closed_at": _json_time(ticket.closed_at),
            "close_reason": ticket.closure_reason,
            "ticket": ticket_json(ticket),
            "cleanup": cleaned.to_json() if cleaned else None,
            "force_used": force,
            "commit_created": not no_commit and store.config.auto_commit,
            "mode": "by_id" if ticket_id is not None and tid != current else "current",
        },
        f"Closed ticket: {ticket.id}\n"
        + (f"  Reason: {ticket.closure_reason}\n" if ticket.closure_reason else "")
        + (_cleanup_text(cleaned) if cleaned else hint),
    )


def _refuse_uncommitted(store: TicketStore, ticket_id: str, *, is_current: bool) -> None:
    """The Go tool's close check: uncommitted work in the ticket's worktree, or (for the
    current ticket without a worktree) in this checkout, stops the close. Ticket files and
    the current-ticket link are ticketflow's own business and do not count."""
    from ticketflow.workspace import uncommitted_changes

    where = store.worktree_of(ticket_id)
    if where is None and is_current:
        where = store.root
    if where is None:
        return
    prefix = store.config.tickets_dir.rstrip("/") + "/"
    files = [f for f in uncommitted_changes(where) if not f.startswith(prefix)]
    if files:
        raise UncommittedChangesError(
            ticket_id,
            str(where),
            files,
            outcome=f"ticket {ticket_id} was not closed",
            hint=f"commit them first (cd {where} && git add -A && git commit), or close anyway: "
            f"ticketflow close {ticket_id} --force",
        )


def _cleanup_text(cleaned: Any) -> str:
    lines = []
    if cleaned.worktree_removed:
        lines.append(f"  Removed worktree {cleaned.worktree_removed}")
    if cleaned.branch_deleted:
        lines.append(f"  Deleted branch {cleaned.branch_deleted}")
    lines += [f"  Kept {what}" for what in cleaned.kept]
    return "\n".join(lines) + "\n" if lines else "  Nothing to clean up\n"


@cli.command("reopen")
@click.argument("ticket_id", metavar="ID")
@no_commit_option
@command()
def reopen_cmd(store: TicketStore, out: Output, ticket_id: str, no_commit: bool) -> None:
    """Reopen a closed ticket: clear closed_at and closure_reason, commit.

    It goes back to doing if it had been started, else to todo. The
    Closure Note stays in the body as history.
    """
    ticket = store.reopen(ticket_id, commit=_commit_flag(no_commit))
    _transition_output(out, "Reopened", ticket)


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


@cli.command("edit")
@click.argument("ticket_id", metavar="ID")
@no_commit_option
@command()
def edit_cmd(store: TicketStore, out: Output, ticket_id: str, no_commit: bool) -> None:
    """Edit a ticket in $VISUAL / $EDITOR, validate it, commit "Update ticket: <ID>".

    You edit a copy; the ticket is replaced only by a valid file. If the
    edit is broken you can edit again or discard it (when not interactive,
    the broken copy is kept and its path printed). Changing closed_at or
    started_at moves the file to the matching folder.
    """
    from ticketflow import editing

    session = editing.begin_edit(store, ticket_id)
    while True:
        editing.run_editor(session)
        try:
            text = editing.check_edit(session)
            break
        except MalformedTicketError as problem:
            if not out.json and _interactive():
                click.echo(f"Error: {visible(problem.message)}", err=True)
                if click.confirm("Edit again? (no discards your changes)", default=True):
                    continue
                session.work.unlink()
                raise EditorError("edit discarded; the ticket is unchanged") from None
            raise editing.rejected(session, problem) from None
    ticket = editing.finish_edit(store, session, text, commit=_commit_flag(no_commit))
    if ticket is None:
        out.emit({"ticket_id": session.ticket_file.id, "changed": False}, "No changes\n")
        return
    out.emit(
        {"ticket_id": ticket.id, "changed": True, "ticket": ticket_json(ticket)},
        f"Updated ticket: {ticket.id}\n",
    )


@cli.command("status")
@command()
def status_cmd(store: TicketStore, out: Output) -> None:
    """Show the current branch, the current ticket and how many tickets are in each state."""
    result = load_tickets(store)
    for problem in result.problems:
        warn(f"Warning: skipped {problem.message}")
    summary = summarize(result.tickets)
    branch = store.current_branch()
    current_id = store.current_ticket_id()
    current = None
    if current_id is not None:
        try:
            current = store.get(current_id)
        except TicketflowError:
            current = None

    def text() -> str:
        lines = [f"Current branch: {branch or '(detached)'}", ""]
        if current is not None:
            lines += [
                f"Active ticket: {current.id}",
                f"   Description: {current.description}",
                f"   Status: {current.status.value}",
                "",
            ]
        else:
            lines += [
                "No active ticket",
                "   Start a ticket with: ticketflow start <ticket-id>",
                "",
            ]
        lines += [
            "Ticket summary:",
            f"   Todo:  {summary['todo']}",
            f"   Doing: {summary['doing']}",
            f"   Done:  {summary['done']}",
            "   ---------",
            f"   Total: {summary['total']}",
        ]
        return "\n".join(lines) + "\n"

    out.emit(
        {
            "current_branch": branch,
            "current_ticket": ticket_json(current) if current else None,
            "summary": summary,
        },
        text,
    )


# --- git sync ---------------------------------------------------------------------------------


class _Terminated(CancelledError):
    """A job cancelled because the process got SIGTERM: the same error, exit code 143."""

    exit_code = EXIT_TERMINATED

    def details(self) -> dict[str, object]:
        return {**super().details(), "signal": "SIGTERM"}


def run_jobs(
    out: Output,
    title: str,
    store: TicketStore,
    submit: Callable[[JobQueue], list[JobId]],
) -> list[object]:
    """Run jobs through the job queue with a live progress display; return their results.

    Ctrl+C (SIGINT) or SIGTERM cancels them for real: a transfer, which runs in a child
    process (``ticketflow.isolated``), is abandoned at once while in its network phase and
    stops cooperatively after it. We wait until the jobs have ended, so the job history
    records them as cancelled, and exit 130 (SIGINT) or 143 (SIGTERM). A second signal
    quits at once, without waiting (a child past its point of no return finishes alone).
    The handlers stay installed until the queue has shut down and written the history.
    """
    import asyncio
    import signal

    from ticketflow.jobs import JobQueue, JobSettings, JobStatus

    display = ProgressDisplay(out, title)
    received: list[int] = []

    async def drive() -> list[object]:
        loop = asyncio.get_running_loop()
        queue: JobQueue | None = None
        ids: list[JobId] = []

        def on_signal(signum: int) -> None:
            if received:  # a second one: quit now
                display.close()
                click.echo("\nOperation cancelled", err=True)
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED)
            received.append(signum)
            reason = "terminated" if signum == signal.SIGTERM else "interrupted"
            if queue is not None:
                for job_id in ids:
                    queue.cancel(job_id, reason)
            again = "Ctrl+C" if signum == signal.SIGINT else "signal"
            display.update(0, None, f"cancelling... ({again} again to quit at once)")

        handled = (signal.SIGINT, signal.SIGTERM)
        for signum in handled:
            loop.add_signal_handler(signum, on_signal, signum)
        try:
            async with JobQueue.for_repo(
                store.root, JobSettings.from_config(store.config)
            ) as queue:
                ids = submit(queue)
                if received:  # a signal came while the queue started
                    reason = "terminated" if received[0] == signal.SIGTERM else "interrupted"
                    for job_id in ids:
                        queue.cancel(job_id, reason)

                async def redraw() -> None:  # a throttled line is printed later, never dropped
                    while True:
                        await asyncio.sleep(0.25)
                        display.refresh()

                ticker = asyncio.create_task(redraw())
                try:
                    with display:
                        async for progress in queue.watch(*ids):
                            # what a job is doing; "pending", "running" (the queue's words
                            # before the job says anything), "completed: ..." and "failed:
                            # ...": the command's own output or its Error line says those once
                            running = progress.status is JobStatus.RUNNING
                            if running and progress.message != JobStatus.RUNNING.value:
                                display.update(progress.current, progress.total, progress.message)
                            display.refresh()
                        display.refresh(final=True)
                    return [await queue.wait(job_id) for job_id in ids]
                finally:
                    ticker.cancel()
        finally:
            for signum in handled:
                loop.remove_signal_handler(signum)

    try:
        return asyncio.run(drive())
    except CancelledError as exc:
        if received and received[0] == signal.SIGTERM:
            suffix = f" after {exc.partial}" if exc.partial else ""
            said = exc.message.removesuffix(suffix) if suffix else exc.message
            raise _redacted(_Terminated(said, partial=exc.partial)) from None
        raise _redacted(exc) from None
    except TicketflowError as exc:
        raise _redacted(exc) from None


def _redacted(exc: TicketflowError) -> TicketflowError:
    """``exc`` with every URL in its message and hint redacted: whatever a job's error
    quotes (its sources redact already; this is the last line before stderr)."""
    from ticketflow.redact import redact_text

    exc.message = redact_text(exc.message)
    exc.hint = None if exc.hint is None else redact_text(exc.hint)
    exc.args = (exc.message,)
    return exc


class ProgressDisplay:
    """A rich progress bar on a terminal, plain lines on a pipe, nothing in JSON mode."""

    def __init__(self, out: Output, title: str) -> None:
        import threading

        self.title = title
        self.enabled = not out.json
        self.tty = self.enabled and sys.stderr.isatty()
        self._lock = threading.RLock()  # re-entrant: the SIGINT handler may update mid-refresh
        self._state: tuple[int, int | None, str] = (0, None, "")
        self._printed = ""
        self._printed_at = 0.0
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> ProgressDisplay:
        if self.tty:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.fields[title]}"),
                BarColumn(),
                TextColumn("{task.fields[message]}", markup=False),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                self.title, total=None, title=self.title, message="starting"
            )
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Take the bar off the terminal (and give the cursor back); idempotent."""
        progress, self._progress = self._progress, None
        if progress is not None:
            progress.stop()

    def update(self, current: int, total: int | None, message: str) -> None:
        from ticketflow.redact import redact_text

        with self._lock:  # a remote's own text ("remote: ...") is in some messages
            self._state = (current, total, one_line(redact_text(message)))

    def refresh(self, final: bool = False) -> None:
        """Draw the latest state (main thread only); on a pipe, at most a line a second."""
        import time

        if not self.enabled:
            return
        with self._lock:
            current, total, message = self._state
        if self._progress is not None:
            self._progress.update(self._task, completed=current, total=total, message=message)
            return
        now = time.monotonic()
        if message and message != self._printed and (final or now - self._printed_at >= 1.0):
            self._printed, self._printed_at = message, now
            click.echo(f"{self.title}: {message}", err=True)


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def _strategy_option(func: F) -> F:
    return click.option(
        "--strategy",
        type=click.Choice(["ours", "theirs"]),
        default=None,
        help="Settle ticket fields changed differently on both sides with our or their value.",
    )(func)


def _remote_option(func: F) -> F:
    return click.option(
        "--remote",
        metavar="NAME",
        default=None,
        help="Remote to use (default: the branch's upstream, else origin).",
    )(func)


@cli.command("pull")
@_remote_option
@_strategy_option
@command()
def pull_cmd(store: TicketStore, out: Output, remote: str | None, strategy: str | None) -> None:
    """Fetch and merge the remote's tickets into the current branch.

    Tickets changed on both sides are merged field by field: priority here and
    description there merge cleanly. A real conflict changes nothing and is
    reported ticket by ticket (exit 3); --strategy ours|theirs settles it.
    Uncommitted ticket edits are committed first ("Update tickets"); other
    uncommitted changes are never touched. Ctrl+C cancels the transfer.
    """
    from ticketflow import gitresults
    from ticketflow.jobs.git import pull_job
    from ticketflow.redact import redact_data

    job = pull_job(
        store.root,
        store.config,
        remote=remote,
        strategy=strategy,  # type: ignore[arg-type]
        isolated=True,
    )
    (result,) = run_jobs(out, "pull", store, lambda q: [q.submit(job)])
    assert isinstance(result, gitresults.PullResult)

    def text() -> str:
        said = {
            "up-to-date": "Already up to date",
            "fast-forward": "Fast-forwarded",
            "merged": "Merged",
        }[result.outcome]
        news = gitresults.describe_changes(result.changes)
        received = _plural(result.fetch.received_objects, "object")
        if news:
            out_lines = [f"{said}: {news} ({received} received)."]
        elif result.outcome == "up-to-date":
            out_lines = [f"{said} ({received} received)."]
        else:
            out_lines = [f"{said}: no ticket changed ({received} received)."]
        width = max((len(c.change) for c in result.changes), default=0)
        for c in result.changes:
            what = f"  {c.change:<{width}}  {c.id}"
            if c.fields and c.change != "added":
                what += f"  ({', '.join(c.fields)})"
            if c.author:
                what += f"  by {c.author}" + (f", {c.time}" if c.time else "")
            out_lines.append(what)
        if result.committed_local_edits:
            out_lines.append("Committed your ticket edits first: Update tickets")
        if result.merged_tickets:
            out_lines.append("Merged field by field: " + ", ".join(result.merged_tickets))
        return "\n".join(out_lines) + "\n"

    out.emit(redact_data(result.to_json()), text)


@cli.command("push")
@_remote_option
@command()
def push_cmd(store: TicketStore, out: Output, remote: str | None) -> None:
    """Push the current branch to its upstream (else the branch of the same name on origin).

    If the remote has commits you don't have, nothing is pushed (exit 3):
    run 'ticketflow pull' first, or 'ticketflow sync'.
    """
    from ticketflow import gitresults
    from ticketflow.jobs.git import push_job
    from ticketflow.redact import redact_data

    job = push_job(store.root, store.config, remote=remote, isolated=True)
    (result,) = run_jobs(out, "push", store, lambda q: [q.submit(job)])
    assert isinstance(result, gitresults.PushResult)
    out.emit(
        redact_data(result.to_json()),
        f"Pushed {result.commit[:10]} to {result.remote}/{result.branch}\n",
    )


@cli.command("sync")
@_remote_option
@_strategy_option
@command()
def sync_cmd(store: TicketStore, out: Output, remote: str | None, strategy: str | None) -> None:
    """Pull, then push: the one command to share your tickets with the team."""
    from ticketflow import gitresults
    from ticketflow.jobs.git import submit_sync
    from ticketflow.redact import redact_data

    pulled, pushed = run_jobs(
        out,
        "sync",
        store,
        lambda q: list(
            submit_sync(
                q,
                store.root,
                store.config,
                remote=remote,
                strategy=strategy,  # type: ignore[arg-type]
                isolated=True,
            )
        ),
    )
    assert isinstance(pulled, gitresults.PullResult) and isinstance(pushed, gitresults.PushResult)
    out.emit(
        redact_data({"pull": pulled.to_json(), "push": pushed.to_json()}),
        f"Pulled ({pulled.outcome}"
        + (f": {news}" if (news := gitresults.describe_changes(pulled.changes)) else "")
        + f"), then pushed {pushed.commit[:10]} to {pushed.remote}/{pushed.branch}\n",
    )


@cli.command("demo")
@click.option(
    "--tickets",
    type=click.IntRange(min=10),
    default=2000,
    show_default=True,
    help="How many generated tickets the sandbox holds.",
)
@click.option(
    "--dir",
    "where",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Build the sandbox here (default: a new temporary folder).",
)
@click.option("--keep", is_flag=True, help="Keep the sandbox when the TUI exits.")
@click.option(
    "--rate",
    type=click.IntRange(min=10_000),
    default=1_000_000,
    show_default=True,
    help="Bytes per second of the sandbox's simulated network.",
)
@command(needs_store=False)
def demo_cmd(out: Output, tickets: int, where: Path | None, keep: bool, rate: int) -> None:
    """Try ticketflow with nothing set up: a sandbox with a team remote.

    Builds a clone holding generated tickets and a bare "remote" a few commits
    ahead, served by a real git daemon on 127.0.0.1 behind a slow simulated
    network, and opens the TUI on the clone. Press p to pull (watch the
    progress, or press ESC on the list, x anywhere, to cancel it for real), n
    for a new ticket, P to push.
    """
    import importlib
    import shutil
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    from ticketflow.demo import build_sandbox, move_remote_ahead
    from ticketflow.sandbox import GitDaemon, ThrottledRelay, run_git

    base = where or Path(tempfile.mkdtemp(prefix="ticketflow-demo-"))
    if where is not None:
        base.mkdir(parents=True, exist_ok=True)
        if any(base.iterdir()):
            raise UsageError(f"{base} is not empty", hint="give an empty or new folder")
    click.echo(f"Building the demo sandbox in {base} ...", err=True)
    # commits made in the sandbox need an author even where git has no identity configured
    for key, value in (
        ("GIT_AUTHOR_NAME", "ticketflow demo"),
        ("GIT_AUTHOR_EMAIL", "demo@example.com"),
        ("GIT_COMMITTER_NAME", "ticketflow demo"),
        ("GIT_COMMITTER_EMAIL", "demo@example.com"),
    ):
        os.environ.setdefault(key, value)
    # the interface's modules load while git writes the sandbox (a third of a second less
    # before the first screen)
    with ThreadPoolExecutor(1, thread_name_prefix="demo-import") as pool:
        tui = pool.submit(importlib.import_module, "ticketflow.tui.app")
        try:
            box = build_sandbox(
                base,
                tickets=tickets,
                progress=lambda c, t, m: click.echo(f"  {m}", err=True),
                ahead=False,
            )
            tui.result()
        except BaseException:
            if where is None:
                shutil.rmtree(base, ignore_errors=True)
            raise
    daemon = GitDaemon(box.remote.parent)
    relay = ThrottledRelay(daemon.port, rate=rate)
    try:
        run_git(box.workspace, "remote", "set-url", "origin", relay.url(box.remote.name))
        from ticketflow.tui.app import run_tui

        # the teammate's commits (12 MB) are written while the interface starts: they are
        # there well before a person can press p
        with ThreadPoolExecutor(1, thread_name_prefix="demo-remote") as pool:
            ahead = pool.submit(move_remote_ahead, box)
            run_tui(TicketStore.open(box.workspace))
            ahead.result()
    finally:
        relay.close()
        daemon.stop()
        if keep:
            run_git(box.workspace, "remote", "set-url", "origin", str(box.remote))
            click.echo(f"The sandbox stays in {base} (origin: {box.remote})", err=True)
        else:
            shutil.rmtree(base, ignore_errors=True)


@cli.command("scan")
@command()
def scan_cmd(store: TicketStore, out: Output) -> None:
    """Refresh the ticket index and lint every ticket file.

    Reports malformed frontmatter (path, line, what), files in the wrong
    status folder, duplicate ids, wrong field types, dangling related
    references and parent cycles. Exit 0 when no error was found, 1 when
    one was. Runs through the job queue; Ctrl+C cancels it.
    """
    from ticketflow.index import ScanResult
    from ticketflow.jobs.scan import ScanJob

    (result,) = run_jobs(out, "scan", store, lambda q: [q.submit(ScanJob(store))])
    assert isinstance(result, ScanResult)
    out.emit(result.to_json(), result.to_text)
    if result.exit_code:
        sys.exit(result.exit_code)


@cli.command("jobs")
@click.option(
    "--count",
    "-c",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Show at most this many; 0 shows all that are kept.",
)
@command()
def jobs_cmd(store: TicketStore, out: Output, count: int) -> None:
    """Show the history of background jobs (pull, push, scan; a sync is a pull and a push).

    Kept in .git/ticketflow/jobs.sqlite across runs (jobs.history_size in the
    config bounds it); the TUI's J screen shows the same with the running jobs.
    """
    from ticketflow.jobs import load_history

    entries = load_history(store.root, limit=count or None)

    def text() -> str:
        if not entries:
            return "No jobs yet\n"
        lines = [f"{'ID':>5}  {'KIND':<6}  {'STATUS':<10}  {'STARTED':<20}  RESULT"]
        for e in entries:
            started = str(e.get("started_at") or "-")[:19]
            result = e.get("error") or e.get("result") or ""
            if isinstance(result, dict):
                result = result.get("message", "")
            result = str(result).splitlines()[0] if result else ""
            lines.append(
                f"{e.get('id')!s:>5}  {e.get('kind')!s:<6}  {e.get('status')!s:<10}  "
                f"{started:<20}  {result}"
            )
        return "\n".join(lines) + "\n"

    out.emit({"jobs": entries}, text)


# the commands kept in their own modules register themselves on ``cli``
from ticketflow import cli_admin as _cli_admin  # noqa: E402, F401
from ticketflow import cli_workspace as _cli_workspace  # noqa: E402, F401


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="ticketflow")


if __name__ == "__main__":  # pragma: no cover
    main()
