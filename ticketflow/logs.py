"""Diagnostic logging, off unless asked for: the Go tool's ``--log-level``,
``--log-format`` and ``--log-output`` on every command.

Lines look like Go's ``log/slog``: ``time=... level=INFO msg="ticket closed" ticket_id=...``
in text, one JSON object per line (``time``, ``level``, ``msg``, then the fields) in JSON.
The core logs through ``logging.getLogger("ticketflow")`` with fields in ``extra={"fields":
{...}}``; nothing is printed until ``configure`` is called, so results and errors on
stdout/stderr are never mixed with log lines by default.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

from ticketflow.errors import UsageError
from ticketflow.redact import redact_text
from ticketflow.textsafe import visible

LOGGER = logging.getLogger("ticketflow")
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_SLOG_NAMES = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARN",
    logging.ERROR: "ERROR",
}
_HANDLER_MARK = "_ticketflow_owns_stream"
LOGGER.addHandler(logging.NullHandler())  # off by default, not Python's last-resort stderr


def log(level: int, msg: str, **fields: object) -> None:
    """Log ``msg`` with structured ``fields`` (cheap when logging is off)."""
    if LOGGER.isEnabledFor(level):
        LOGGER.log(level, msg, extra={"fields": fields})


def _fields(record: logging.LogRecord) -> dict[str, object]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


def _time(record: logging.LogRecord) -> str:
    stamp = datetime.fromtimestamp(record.created, tz=UTC).astimezone()
    return stamp.isoformat(timespec="milliseconds")


def _clean(value: object) -> str:
    # a field may hold a remote URL or ticket text: no secret, no control character
    if isinstance(value, (list, tuple)):  # as Go's %v prints a slice: [a b]
        return "[" + " ".join(_clean(item) for item in value) + "]"
    return visible(redact_text(str(value)))


class SlogTextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = {"time": _time(record), "level": _SLOG_NAMES.get(record.levelno, "INFO")}
        parts["msg"] = _clean(record.getMessage())
        parts.update({k: _clean(v) for k, v in _fields(record).items()})
        return " ".join(f"{k}={_quote(v)}" for k, v in parts.items())


def _quote(value: str) -> str:
    if value and not any(c in value for c in ' ="\\') and value.isprintable():
        return value
    return json.dumps(value, ensure_ascii=False)


class SlogJSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": _time(record),
            "level": _SLOG_NAMES.get(record.levelno, "INFO"),
            "msg": redact_text(record.getMessage()),
        }
        for key, value in _fields(record).items():
            if isinstance(value, (list, tuple)):
                data[key] = [redact_text(str(item)) for item in value]
            elif isinstance(value, (int, float, bool)) or value is None:
                data[key] = value
            else:
                data[key] = redact_text(str(value))
        return json.dumps(data, ensure_ascii=True, separators=(",", ":"))


def configure(level: str | None, fmt: str | None, output: str | None) -> logging.Handler | None:
    """Turn logging on as the Go tool does when any of the three is given (defaults: info,
    text, stderr); with none given logging stays off. A bad value is a usage error. The
    handler returned is for ``stop`` when the command ends."""
    if level is None and fmt is None and output is None:
        return None
    name = (level or "info").lower()
    if name not in LEVELS:
        raise UsageError(
            f"unknown log level {name!r}",
            hint="use one of: debug, info, warn, error",
        )
    form = (fmt or "text").lower()
    if form not in ("text", "json"):
        raise UsageError(f"unknown log format {form!r}", hint="use text or json")
    target = output or "stderr"
    stream: IO[str]
    if target == "stderr":
        stream = sys.stderr
    elif target == "stdout":
        stream = sys.stdout
    else:
        try:
            stream = open(target, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the run
        except OSError as exc:
            raise UsageError(
                f"cannot open the log file {target!r}: {exc.strerror or exc}",
                hint="give a file in a folder you can write, or stderr / stdout",
            ) from None
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SlogJSONFormatter() if form == "json" else SlogTextFormatter())
    setattr(handler, _HANDLER_MARK, stream not in (sys.stderr, sys.stdout))
    LOGGER.addHandler(handler)
    LOGGER.setLevel(LEVELS[name])
    LOGGER.propagate = False
    return handler


def stop(handler: logging.Handler | None) -> None:
    """Take ``configure``'s handler off again (a log file is closed): logging is off for
    whatever runs next in this process (the tests run many commands in one)."""
    if handler is None:
        return
    LOGGER.removeHandler(handler)
    if getattr(handler, _HANDLER_MARK, False):
        handler.close()
        stream = getattr(handler, "stream", None)
        if stream is not None:
            stream.close()
    LOGGER.setLevel(logging.NOTSET)
    LOGGER.propagate = True
