"""Output for people and scripts: the Go tool's JSON encoding, text rendering, warnings, and
the ``command`` decorator (``--format``, logging, a TicketflowError -> its exit code)."""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import time
from collections.abc import Callable
from datetime import datetime
from json.encoder import encode_basestring as _encode_str  # the C string encoder
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ticketflow.config import CONFIG_NAME
from ticketflow.errors import TicketflowError
from ticketflow.model import Status, Ticket, format_time
from ticketflow.textsafe import one_line, visible

if TYPE_CHECKING:
    from ticketflow.store import TicketStore

# What a command needs is imported when it runs, not here: ``ticketflow --help`` imports
# every command module, and the store, PyYAML, the index and logging are most of a start-up
# (see docs/benchmarks.md).

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
    from ticketflow.store import TicketStore

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


def _note_for(asked: bool) -> Callable[..., None]:
    """``logs.log`` (levels as ``logging``'s numbers) when anyone may listen: the command
    was given a log option, or the process has loaded ``logging`` (a library user, the
    tests). Otherwise a no-op, so a plain command never imports logging."""
    if asked or "logging" in sys.modules:
        from ticketflow import logs

        return logs.log
    return _no_note


def _no_note(level: int, msg: str, **fields: object) -> None:
    return None


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
            asked = log_level is not None or log_format is not None or log_output is not None
            note = _note_for(asked)
            try:
                if asked:
                    from ticketflow import logs

                    handler = logs.configure(log_level, log_format, log_output)
                note(10, "command started", command=name)
                if needs_store:
                    store = _open_store()
                    out = Output(requested or store.config.default_format, store.config.json_pretty)
                    kwargs["store"] = store
                func(*args, out=out, **kwargs)
                elapsed = round((time.monotonic() - started) * 1000)
                note(20, "command finished", command=name, duration_ms=elapsed)
            except TicketflowError as exc:
                note(
                    40,
                    "command failed",
                    command=name,
                    code=exc.error_code,
                    exit_code=exc.exit_code,
                    error=exc.message,
                )
                out.error(exc)
                sys.exit(exc.exit_code)
            except KeyboardInterrupt:
                note(30, "command interrupted", command=name)
                click.echo("\nOperation cancelled", err=True)
                sys.exit(EXIT_INTERRUPTED)
            finally:
                if handler is not None:
                    from ticketflow import logs

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


def count_option(all_of: str) -> Callable[[F], F]:
    """``--count/-c N`` (default 20): at most N items; 0 shows ``all_of``."""
    return click.option(
        "--count",
        "-c",
        type=click.IntRange(min=0),
        default=20,
        show_default=True,
        help=f"Show at most this many; 0 shows {all_of}.",
    )


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


def render_list(tickets: list[dict[str, Any]]) -> str:
    """The Go tool's table: ID, STATUS, PRI, DESCRIPTION (cut at 50 characters), from the
    tickets' JSON objects (``ticket_json``)."""
    if not tickets:
        return "No tickets found\n"
    width = max(2, *(len(t["id"]) for t in tickets))
    lines = [f"{'ID':<{width}}  {'STATUS':<6}  {'PRI':<3}  DESCRIPTION", "-" * (width + 50)]
    lines += [
        f"{t['id']:<{width}}  {t['status']:<6}  {t['priority']:<3d}  "
        f"{_truncate(t['description'], 50)}"
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
