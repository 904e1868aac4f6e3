"""A fast path for the header layout the Go tool writes, exact or not at all.

``fileformat.parse_ticket`` composes the header with libyaml (about 40-50 µs a file), which
dominates a cold scan of thousands of tickets. Almost every real header is the handful of
lines the Go tool (and our own writer) emits: ``priority: N``, ``description: ...``, quoted
RFC3339 times or ``null``, ``closure_reason`` and a ``related:`` list. This module reads
exactly that subset with plain string operations and hands everything else (extra keys,
comments, blank lines, tabs, CRLF, BOM, escapes, flow collections, multi-line scalars,
anything it is not certain about) to ``parse_ticket``, so the result is always the one
``parse_ticket`` gives: the same ``Ticket``, the same ``raw`` header, the same error.

The rules below are deliberately narrower than YAML: a value this module accepts is one
whose meaning under libyaml is not in doubt. ``tests/test_index.py`` checks the equivalence
over the Go corpus, generated tickets, the yaml.v3 golden strings and random headers.

Before falling back, the frontmatter's nesting depth is bounded (``check_nesting``): PyYAML's
C composer recurses once per nesting level and overflows the C stack (a segmentation fault,
not an exception) on some 25,000 nested ``[`` or ``- `` in a file of a few tens of KB.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ticketflow.errors import MalformedTicketError
from ticketflow.model import MISSING_PRIORITY, RawHeader, Ticket

FAST_HEADER_LIMIT = 16 * 1024
"""Headers longer than this go to the reference parser (they are never the Go layout)."""

MAX_NESTING = 200
"""Deepest nesting of YAML collections accepted in a header. Real headers nest two levels;
libyaml's composer crashes the process somewhere past 20,000 (less on small thread stacks)."""

_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
"""Plain scalars that resolve to null: ``parse_ticket`` treats them as an absent value."""

_KNOWN = frozenset(
    {"priority", "description", "created_at", "started_at", "closed_at", "closure_reason"}
)

_UNSAFE_CHAR = re.compile("[\x00-\t\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")
"""Anything libyaml may refuse or treat as a line break (controls, tab, CR, DEL, C1 with NEL,
U+2028/9, BOM, U+FFFE/F): such headers are left to the reference parser."""

_PLAIN_FIRST_UNSAFE = frozenset("-?:,[]{}#&*!|>'\"%@` ")
"""A plain scalar starting with one of these may be an indicator (sequence entry, anchor,
alias, tag, block scalar, flow collection, directive, reserved)."""

_INT = re.compile(r"[0-9]{1,18}")
_ITEM = re.compile(r"( *)- (.*)")


def _scalar(value: str) -> tuple[str, bool] | None:
    """``(text, plain)`` for a one-line scalar whose YAML meaning is certain, else None.

    Double-quoted without escapes, single-quoted (``''`` is a quote), or plain without
    anything that could end it early (``: ``, `` #``, a trailing ``:``) or start something
    other than a scalar. Trailing spaces are refused, not stripped, to stay on the safe side.
    """
    first = value[0]
    if first == '"':
        inner = value[1:-1]
        if len(value) < 2 or value[-1] != '"' or '"' in inner or "\\" in inner:
            return None
        return inner, False
    if first == "'":
        inner = value[1:-1]
        if len(value) < 2 or value[-1] != "'" or "'" in inner.replace("''", ""):
            return None
        return inner.replace("''", "'"), False
    if first in _PLAIN_FIRST_UNSAFE or value[-1] in " :" or ": " in value or " #" in value:
        return None
    return value, True


def _text(value: str) -> tuple[bool, str | None]:
    """A string field: ``(certain, text)``; text is None when the value is null."""
    if value == "":
        return True, None
    parsed = _scalar(value)
    if parsed is None:
        return False, None
    text, plain = parsed
    if plain and text in _NULLS:
        return True, None
    return True, text


_PRIORITIES = {str(n): n for n in range(1, 10)}


def _priority(value: str) -> int | None:
    known = _PRIORITIES.get(value)
    if known is not None:
        return known
    if value in _NULLS:
        return MISSING_PRIORITY
    if _INT.fullmatch(value):
        return int(value)
    return None


Time = tuple[bool, str | None, datetime | None]
"""``(certain, text, value)`` of a timestamp field; ``text`` is what ``fromisoformat`` read."""
_NO_TIME: Time = (True, None, None)
_UNSURE_TIME: Time = (False, None, None)


def _time_text(text: str | None) -> Time:
    if text is None or not text.strip():
        return _NO_TIME
    stripped = text.strip()
    try:
        parsed = datetime.fromisoformat(stripped)
    except ValueError:
        return _UNSURE_TIME  # parse_ticket words this error
    if parsed.tzinfo is None:
        return _UNSURE_TIME
    return True, stripped, parsed


def _time(value: str) -> Time:
    """A timestamp field exactly as ``parse_ticket`` reads it."""
    if value == "null":
        return _NO_TIME
    certain, text = _text(value)
    if not certain:
        return _UNSURE_TIME
    return _time_text(text)


def _related(lines: list[str], start: int, value: str) -> tuple[tuple[str, ...], int] | None:
    """The ``related`` list and the index of the line after it; None when not certain."""
    if value:
        if value == "[]":
            return (), start + 1
        if value in _NULLS:
            return (), start + 1
        return None
    items: list[str] = []
    indent: str | None = None
    i = start + 1
    while i < len(lines):
        line = lines[i]
        if not line or (line[0] != " " and line[0] != "-"):
            break  # the next key (or the end)
        match = _ITEM.fullmatch(line)
        if match is None or not match.group(2):
            return None
        if indent is None:
            indent = match.group(1)
        elif match.group(1) != indent:
            return None
        parsed = _scalar(match.group(2))
        if parsed is None:
            return None
        items.append(parsed[0])
        i += 1
    return tuple(items), i


Fields = tuple[
    int,
    int,
    str,
    "str | None",
    tuple[str, ...],
    "datetime | None",
    "datetime | None",
    "datetime | None",
    "str | None",
    "str | None",
    "str | None",
]
"""``(body_start, priority, description, closure_reason, related, created_at, started_at,
closed_at, created_at text, started_at text, closed_at text)``: a header read with certainty.
The texts are what ``datetime.fromisoformat`` read, so they give the same values again."""

_CANONICAL = re.compile(
    r"---\n"
    r"priority: ([1-9][0-9]{0,8})\n"
    r"description: ([^\n]*)\n"
    r'created_at: (?:"([^"\\\n]*)"|null)\n'
    r'started_at: (?:"([^"\\\n]*)"|null)\n'
    r'closed_at: (?:"([^"\\\n]*)"|null)\n'
    r"(?:closure_reason: ([^\n]*)\n)?"
    r"(?:related:\n((?:    - [^\n]*\n)+))?"
    r"---\n"
)
"""Exactly the lines the Go tool (and ``render_header``) writes, matched in one go."""


def _canonical(text: str) -> Fields | None:
    """The Go layout, field by field; None sends the text to the line-by-line reader."""
    match = _CANONICAL.match(text)
    if match is None:
        return None
    (priority, description, created, started, closed, reason, related) = match.groups()
    if _UNSAFE_CHAR.search(text, 0, match.end()):
        return None
    certain, description_text = _text(description)
    if not certain:
        return None
    reason_text: str | None = None
    if reason is not None:
        certain, reason_text = _text(reason)
        if not certain:
            return None
    items: tuple[str, ...] = ()
    if related is not None:
        values = []
        for item in related[6:-1].split("\n    - "):
            parsed = _scalar(item) if item else None
            if parsed is None:
                return None
            values.append(parsed[0])
        items = tuple(values)
    c_ok, c_text, c_value = _time_text(created)
    s_ok, s_text, s_value = _time_text(started)
    d_ok, d_text, d_value = _time_text(closed)
    if not (c_ok and s_ok and d_ok):
        return None
    body_start = match.end()
    if text.startswith("\n", body_start):
        body_start += 1
    elif text.startswith("\r\n", body_start):
        body_start += 2
    return (
        *(body_start, int(priority), description_text or "", reason_text or None, items),
        *(c_value, s_value, d_value, c_text, s_text, d_text),
    )


def parse_fields(text: str) -> Fields | None:
    """The header fields if ``text`` is in a layout read here with certainty, else None.

    None never means "malformed": it means "ask ``parse_ticket``".
    """
    if not text.startswith("---\n"):
        return None
    canonical = _canonical(text)
    if canonical is not None:
        return canonical
    end = text.find("\n---", 3)
    if end < 0 or end > FAST_HEADER_LIMIT:
        return None
    fence_end = text.find("\n", end + 4)
    if fence_end < 0:
        if text[end + 1 :] != "---":
            return None
        body_start = len(text)
    else:
        if fence_end != end + 4:  # "---" followed by spaces, or "----": not our layout
            return None
        body_start = fence_end + 1
        if text.startswith("\r\n", body_start):
            body_start += 2
        elif text.startswith("\n", body_start):
            body_start += 1
    frontmatter = text[4 : end + 1]
    if _UNSAFE_CHAR.search(frontmatter):
        return None
    lines = frontmatter.split("\n")
    lines.pop()  # the frontmatter ends with "\n": the last piece is empty
    priority = MISSING_PRIORITY
    description = ""
    times: dict[str, Time] = {}
    reason: str | None = None
    related: tuple[str, ...] = ()
    seen: set[str] = set()
    i = 0
    while i < len(lines):
        line = lines[i]
        key, sep, rest = line.partition(":")
        if not sep or key in seen or (rest and rest[0] != " "):
            return None
        seen.add(key)
        value = rest.lstrip(" ")
        if value and value[-1] == " ":
            return None
        if key == "related":
            parsed_list = _related(lines, i, value)
            if parsed_list is None:
                return None
            related, i = parsed_list
            continue
        if key not in _KNOWN:
            return None  # an unknown key (or not a key at all): the reference parser
        if key == "priority":
            number = _priority(value)
            if number is None:
                return None
            priority = number
        elif key in {"description", "closure_reason"}:
            certain, text_value = _text(value)
            if not certain:
                return None
            if key == "description":
                description = text_value or ""
            else:
                reason = text_value or None
        else:
            when = _time(value)
            if not when[0]:
                return None
            times[key] = when
        i += 1
    created = times.get("created_at", _NO_TIME)
    started = times.get("started_at", _NO_TIME)
    closed = times.get("closed_at", _NO_TIME)
    return (
        *(body_start, priority, description, reason, related),
        *(created[2], started[2], closed[2], created[1], started[1], closed[1]),
    )


def parse_fast(text: str, *, path: str, ticket_id: str) -> Ticket | None:
    """The ticket if ``text`` is in a layout read here with certainty, else None."""
    fields = parse_fields(text)
    if fields is None:
        return None
    body_start, priority, description, reason, related, created, started, closed = fields[:8]
    header = (priority, description, created, started, closed, reason, related, ())
    return Ticket(
        id=ticket_id,
        priority=priority,
        description=description,
        created_at=created,
        started_at=started,
        closed_at=closed,
        closure_reason=reason,
        related=related,
        body=text[body_start:],
        path=path,
        raw=RawHeader(text=text[:body_start], fields=header),
    )


_NESTING_HINT = "a ticket header is a flat list of keys; this looks like hostile input"


def check_nesting(frontmatter: str, first_line: int, path: str) -> None:
    """Refuse a header nested deeper than ``MAX_NESTING`` before libyaml composes it.

    Counting candidate openers is enough for every real header. When there are many, the
    C parser's event stream (which, unlike its composer, does not recurse) measures the
    depth. Newer libyaml builds refuse deep input themselves, with their own limit and
    message, and do so while their scanner reads ahead, before the event at which we would
    count past our limit. So when the C parser fails, PyYAML's pure-Python parser (the same
    algorithm, no limit) measures again: its events up to its first error, then, if it
    failed, its scanner's tokens up to the scanner's first error (a deep stretch after a
    parse error is what the C scanner may have stopped on). A file nested too deep gets the
    same code, message and line whatever libyaml is installed; a file with a real syntax
    error is left to the parser, which reports it.
    """
    openers = (
        frontmatter.count("[")
        + frontmatter.count("{")
        + frontmatter.count("-")
        + frontmatter.count("?")
        + frontmatter.count("\n")
    )
    if openers <= MAX_NESTING:
        return
    import yaml

    from ticketflow.fileformat import _SafeLoader

    events = ((yaml.CollectionStartEvent,), (yaml.CollectionEndEvent,))
    if _within_limit(yaml.parse(frontmatter, Loader=_SafeLoader), events, first_line, path):
        return
    pure = yaml.SafeLoader
    if _SafeLoader is not pure and _within_limit(
        yaml.parse(frontmatter, Loader=pure), events, first_line, path
    ):
        return
    tokens = (
        (
            yaml.FlowSequenceStartToken,
            yaml.FlowMappingStartToken,
            yaml.BlockSequenceStartToken,
            yaml.BlockMappingStartToken,
        ),
        (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken, yaml.BlockEndToken),
    )
    _within_limit(yaml.scan(frontmatter, Loader=pure), tokens, first_line, path)


def _within_limit(
    items: Iterator[Any], kinds: tuple[tuple[type, ...], tuple[type, ...]], first: int, path: str
) -> bool:
    """Raise ``too-deep`` if ``items`` (events or tokens) nest past ``MAX_NESTING`` before
    the stream ends or fails; True if it ended, False if it failed first."""
    import yaml

    opening, closing = kinds
    depth = 0
    try:
        for item in items:
            if isinstance(item, opening):
                depth += 1
                if depth > MAX_NESTING:
                    raise _too_deep(path, first, getattr(item, "start_mark", None))
            elif isinstance(item, closing):
                depth -= 1
    except yaml.YAMLError:
        return False
    return True


def _too_deep(path: str, first_line: int, mark: object) -> MalformedTicketError:
    line = getattr(mark, "line", None)
    return MalformedTicketError(
        path,
        first_line + line if isinstance(line, int) else None,
        f"the frontmatter nests more than {MAX_NESTING} levels deep",
        hint=_NESTING_HINT,
        code="too-deep",
    )


def parse_ticket_fast(text: str, *, path: str, ticket_id: str) -> Ticket:
    """``fileformat.parse_ticket``, faster on the canonical layout; same result, same errors.

    The reference parser is imported only when needed, so reading through the index does not
    pay for importing PyYAML unless a file needs it.
    """
    ticket = parse_fast(text, path=path, ticket_id=ticket_id)
    if ticket is not None:
        return ticket
    from ticketflow.fileformat import parse_ticket

    return parse_ticket(text, path=path, ticket_id=ticket_id)  # it checks the nesting first
