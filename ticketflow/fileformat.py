"""Parse and render ticket files, byte-compatible with the Go tool yshrsmz/ticketflow.

A ticket file is ``---\\n`` + YAML frontmatter + ``---\\n`` + a blank line + Markdown body.
Reading keeps the exact header text, so rendering an unchanged ticket gives back the bytes it
was read from (whatever quoting or indentation a person or another tool used); rendering a
changed ticket writes the canonical layout that the Go tool writes (yaml.v3, 4-space indent,
timestamps double-quoted, ``closure_reason`` and ``related`` only when set).

YAML is loaded with libyaml's safe loader only: no tag can build a Python object.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import yaml

from ticketflow.errors import MalformedTicketError, quoted
from ticketflow.model import HEADER_FIELDS, MISSING_PRIORITY, RawHeader, Ticket, format_time

_SafeLoader: Any
_SafeDumper: Any
try:  # libyaml's C loader is ~10x faster; fall back to the pure-Python safe loader.
    _SafeLoader = yaml.CSafeLoader
    _SafeDumper = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _SafeLoader = yaml.SafeLoader
    _SafeDumper = yaml.SafeDumper

FENCE = "---"
MAX_FRONTMATTER_CHARS = 256 * 1024
"""A header larger than this is refused before YAML sees it (bounds memory on hostile input)."""


def load_yaml(text: str) -> Any:
    """Safe-load YAML text (libyaml when available). Raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - a safe loader by construction


def _is_fence(line: str) -> bool:
    return line.rstrip("\r\n").rstrip(" \t") == FENCE


def split_file(text: str, path: str) -> tuple[str, str, str, int]:
    """Split a ticket file into (header, frontmatter YAML, body, first YAML line number).

    ``header`` is every character before the body, fences and the one blank line included,
    so that ``header + body == text``.
    """
    start = 1 if text.startswith("\ufeff") else 0
    first_nl = text.find("\n", start)
    first_line = text[start:] if first_nl < 0 else text[start : first_nl + 1]
    if not _is_fence(first_line):
        raise MalformedTicketError(
            path,
            1,
            "no frontmatter: a ticket file starts with a line '---'",
            code="no-frontmatter",
        )
    pos = start + len(first_line)
    line_no = 2
    while pos < len(text):
        nl = text.find("\n", pos)
        line = text[pos:] if nl < 0 else text[pos : nl + 1]
        if _is_fence(line):
            frontmatter = text[start + len(first_line) : pos]
            body_start = pos + len(line)
            # Reading strips one leading newline from the body (the blank line after '---').
            if text.startswith("\r\n", body_start):
                body_start += 2
            elif text.startswith("\n", body_start):
                body_start += 1
            return text[:body_start], frontmatter, text[body_start:], 2
        pos += len(line)
        line_no += 1
        if pos - start > MAX_FRONTMATTER_CHARS:
            if _has_fence(text, pos):
                raise MalformedTicketError(
                    path,
                    1,
                    f"the frontmatter is longer than {MAX_FRONTMATTER_CHARS >> 10} KiB, the "
                    "most ticketflow reads",
                    hint="a ticket header is a few short lines: move long text into the body",
                    code="too-large",
                )
            break
    raise MalformedTicketError(
        path,
        1,
        "the frontmatter opened on line 1 is never closed by a line '---'",
        hint="add a line '---' after the last frontmatter key",
        code="unclosed-frontmatter",
    )


def _has_fence(text: str, pos: int) -> bool:
    """Whether a line '---' follows ``pos`` (the frontmatter is too long, not unclosed)."""
    while True:
        found = text.find("\n---", pos - 1)
        if found < 0:
            return False
        end = text.find("\n", found + 1)
        if _is_fence(text[found + 1 :] if end < 0 else text[found + 1 : end + 1]):
            return True
        pos = found + 2


_NULL_TAG = "tag:yaml.org,2002:null"
_STR_TAG = "tag:yaml.org,2002:str"
MAX_EXTRA_NODES = 10_000
"""Unknown keys are built into Python values; more nodes than this (an alias bomb) is refused."""


class _Fields:
    """The composed top-level mapping: key -> (value node, line in the file)."""

    def __init__(self, path: str, root: yaml.MappingNode, first_line: int) -> None:
        self.path = path
        self.first_line = first_line
        self.nodes: dict[str, tuple[yaml.Node, int]] = {}
        for key_node, value_node in root.value:
            line = first_line + key_node.start_mark.line
            if not isinstance(key_node, yaml.ScalarNode):
                raise MalformedTicketError(
                    path, line, "a frontmatter key must be plain text", code="invalid-key"
                )
            if key_node.value in self.nodes:
                raise MalformedTicketError(
                    path,
                    line,
                    f"key {quoted(key_node.value)} is defined twice",
                    hint="keep one of the two lines (the Go tool refuses such a file too)",
                    code="duplicate-key",
                )
            self.nodes[key_node.value] = (value_node, line)

    def line(self, key: str) -> int | None:
        return self.nodes[key][1] if key in self.nodes else None

    def error(
        self, key: str, problem: str, code: str, hint: str | None = None
    ) -> MalformedTicketError:
        return MalformedTicketError(
            self.path, self.line(key), f"{key}: {problem}", hint=hint, code=code
        )

    def scalar(self, key: str) -> yaml.ScalarNode | None:
        """The key's scalar node; None when absent or null."""
        if key not in self.nodes:
            return None
        node = self.nodes[key][0]
        if isinstance(node, yaml.ScalarNode):
            return None if node.tag == _NULL_TAG else node
        kind = "list" if isinstance(node, yaml.SequenceNode) else "mapping"
        raise self.error(key, f"expected a single value, got a {kind}", "wrong-type")

    def text(self, key: str) -> str | None:
        """A string field as written, whatever type YAML 1.1 would guess (``1:30``, ``yes``)."""
        node = self.scalar(key)
        return None if node is None else node.value

    def integer(self, key: str, default: int) -> int:
        node = self.scalar(key)
        if node is None:
            return default
        text = node.value.strip().replace("_", "")
        if node.tag != _STR_TAG or node.style is None:
            try:
                return int(text, 0) if text[:2].lower() in ("0x", "0o", "0b") else int(text)
            except ValueError:
                pass
        raise self.error(key, f"expected an integer, got {quoted(node.value)}", "wrong-type")

    def time(self, key: str) -> datetime | None:
        text = self.text(key)
        if text is None or not text.strip():
            return None
        try:
            parsed = datetime.fromisoformat(text.strip())
        except ValueError:
            raise self.error(
                key,
                f"{quoted(text)} is not an RFC3339 time",
                "invalid-time",
                hint='write it like "2025-09-24T14:35:04+09:00", or null',
            ) from None
        if parsed.tzinfo is None:
            raise self.error(
                key,
                f"{quoted(text)} has no UTC offset",
                "invalid-time",
                hint='write it like "2025-09-24T14:35:04+09:00"',
            )
        return parsed

    def string_list(self, key: str) -> tuple[str, ...]:
        if key not in self.nodes:
            return ()
        node = self.nodes[key][0]
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG:
            return ()
        if not isinstance(node, yaml.SequenceNode) or not all(
            isinstance(item, yaml.ScalarNode) for item in node.value
        ):
            raise self.error(key, "expected a list of strings such as 'parent:<ID>'", "wrong-type")
        return tuple(item.value for item in node.value)

    def extra(self) -> tuple[tuple[str, Any], ...]:
        """Unknown keys, built as plain Python values (safe constructor only)."""
        out: list[tuple[str, Any]] = []
        for key, (node, line) in self.nodes.items():
            if key in HEADER_FIELDS:
                continue
            nodes, unknown_tag = _walk_nodes(node, MAX_EXTRA_NODES)
            if nodes > MAX_EXTRA_NODES:
                raise MalformedTicketError(
                    self.path,
                    line,
                    f"{key}: value too large (over {MAX_EXTRA_NODES} nodes)",
                    hint="YAML aliases that expand without bound are refused",
                    code="too-large",
                )
            if unknown_tag is not None:
                raise MalformedTicketError(
                    self.path,
                    line,
                    f"{key}: the tag {quoted(unknown_tag)} is not supported",
                    hint="only plain YAML values are read: remove the '!!' tag",
                    code="unsupported-tag",
                )
            try:
                value = _Constructor().construct_document(node)
            except yaml.YAMLError as exc:
                problem = getattr(exc, "problem", None) or str(exc)
                raise MalformedTicketError(
                    self.path, line, f"{key}: {problem}", code="invalid-value"
                ) from None
            except (ValueError, TypeError) as exc:
                raise MalformedTicketError(
                    self.path, line, f"{key}: {exc}", code="invalid-value"
                ) from None
            out.append((key, value))
        return tuple(out)


class _Constructor(yaml.constructor.SafeConstructor):
    """A bare safe constructor to build unknown keys' values from composed nodes."""


_CONSTRUCTORS = _Constructor.yaml_constructors


def _walk_nodes(node: yaml.Node, budget: int) -> tuple[int, str | None]:
    """Nodes reachable from ``node``, aliases counted each time (stops past ``budget``),
    and the first tag the safe constructor has no constructor for (None: every tag is)."""
    count = 0
    unknown: str | None = None
    stack = [node]
    while stack and count <= budget:
        current = stack.pop()
        count += 1
        if unknown is None and current.tag not in _CONSTRUCTORS:
            unknown = current.tag
        if isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
        elif isinstance(current, yaml.MappingNode):
            for k, v in current.value:
                stack.extend((k, v))
    return count, unknown


def parse_ticket(text: str, *, path: str, ticket_id: str) -> Ticket:
    """Parse a whole ticket file. Raises ``MalformedTicketError`` with path and line.

    The YAML is composed into nodes, not constructed: string fields are taken as written
    (as yaml.v3 does when it decodes into a Go string), so ``description: 1:30`` stays
    ``1:30`` and ``description: yes`` stays ``yes`` instead of YAML 1.1's guesses.
    """
    header, frontmatter, body, first_line = split_file(text, path)
    from ticketflow.fastparse import check_nesting

    check_nesting(frontmatter, first_line, path)  # libyaml's composer segfaults on deep nesting
    try:
        root = yaml.compose(frontmatter, Loader=_SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = first_line + mark.line if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        what = f"{context}: {problem}" if context else str(problem)
        raise MalformedTicketError(
            path, line, f"invalid YAML frontmatter: {what}", code="invalid-yaml"
        ) from None
    if root is None:
        fields = _Fields(path, yaml.MappingNode("tag:yaml.org,2002:map", []), first_line)
    elif isinstance(root, yaml.MappingNode):
        fields = _Fields(path, root, first_line)
    else:
        kind = "list" if isinstance(root, yaml.SequenceNode) else "single value"
        raise MalformedTicketError(
            path,
            first_line,
            f"the frontmatter is a {kind}, not a mapping of keys",
            code="not-a-mapping",
        )
    ticket = Ticket(
        id=ticket_id,
        priority=fields.integer("priority", MISSING_PRIORITY),
        description=fields.text("description") or "",
        created_at=fields.time("created_at"),
        started_at=fields.time("started_at"),
        closed_at=fields.time("closed_at"),
        closure_reason=fields.text("closure_reason") or None,
        related=fields.string_list("related"),
        extra=fields.extra(),
        body=body,
        path=path,
    )
    return ticket.with_changes(raw=RawHeader(text=header, fields=ticket.header_fields()))


# --- rendering -----------------------------------------------------------------------------


_V3_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_V3_BOOLS = frozenset({"true", "True", "TRUE", "false", "False", "FALSE"})
_V3_OLD_BOOLS = frozenset(
    {"y", "Y", "yes", "Yes", "YES", "on", "On", "ON"}
    | {"n", "N", "no", "No", "NO", "off", "Off", "OFF"}
)
_V3_FLOATS = frozenset(
    f"{sign}{word}" for sign in ("", "+", "-") for word in (".inf", ".Inf", ".INF")
) | {".nan", ".NaN", ".NAN"}
_V3_INT = re.compile(r"^[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|[0-9]+)$")
_V3_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_V3_BASE60 = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_V3_TIMESTAMP = re.compile(
    r"^(?P<y>[0-9]{4})-(?P<m>[0-9]{1,2})-(?P<d>[0-9]{1,2})"
    r"(?:(?P<sep>[Tt ])(?P<H>[0-9]{1,2}):(?P<M>[0-9]{1,2}):(?P<S>[0-9]{1,2})(?:\.[0-9]+)?"
    r"(?P<tz>Z|[-+][0-9]{2}:[0-9]{2})?)?$"
)


def _is_v3_timestamp(value: str) -> bool:
    """yaml.v3 tries Go layouts ``2006-1-2T15:4:5.999999999Z07:00`` (also with ``t``),
    ``2006-1-2 15:4:5.999999999`` and ``2006-1-2``; only a real date/time matches."""
    m = _V3_TIMESTAMP.match(value)
    if m is None:
        return False
    sep, tz = m.group("sep"), m.group("tz")
    if sep is not None and (sep == " ") == (tz is not None):
        return False  # T/t layouts need a zone; the space layout takes none
    try:
        datetime(int(m["y"]), int(m["m"]), int(m["d"]))
        if sep is not None and not (int(m["H"]) < 24 and int(m["M"]) < 60 and int(m["S"]) < 60):
            return False
    except ValueError:
        return False
    return True


def _plain_is_string(value: str) -> bool:
    """Would go-yaml v3 read ``value``, written plain, back as a string?

    These are yaml.v3's resolve rules (YAML 1.2 core schema plus the YAML 1.1 booleans it
    still quotes, base-60 floats and timestamps), checked against real yaml.v3 output in
    ``tests/data/yamlv3_golden.json``.
    """
    if value in _V3_NULLS or value in _V3_BOOLS or value in _V3_OLD_BOOLS or value in _V3_FLOATS:
        return False
    if value[0] in "0123456789+-.":
        plain = value.replace("_", "")
        if (
            _V3_INT.match(plain)
            or _V3_FLOAT.match(plain)
            or _V3_BASE60.match(value)
            or _is_v3_timestamp(value)
        ):
            return False
    return True


_NON_PRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x84\x86-\x9f\ufeff\ufffe\uffff]")
_LINE_SEPARATORS = ("\u2028", "\u2029")


def _literal_block(value: str, indent: str) -> str | None:
    """yaml.v3 writes multi-line strings as literal blocks; None when it cannot."""
    lines = value.split("\n")
    if (
        value.startswith("\n")
        or _NON_PRINTABLE.search(value)
        or "\x85" in value
        or any(line.endswith(" ") for line in lines)
    ):
        # yaml.v3 writes a leading line break as ``|4-`` and loses it when read back;
        # we double-quote instead (a documented divergence, never a lost character).
        return None
    if value.endswith("\n\n"):
        chomp, lines = "+", lines[:-1]
    elif value.endswith("\n"):
        chomp, lines = "", lines[:-1]
    else:
        chomp = "-"
    indicator = "4" if value.startswith(" ") else ""
    if indicator and indent != "    ":
        # yaml.v3 writes ``- |4-`` inside a list with an indentation libyaml reads
        # differently; never write what we cannot read back: double-quote instead.
        return None
    body = "\n".join(f"{indent}{line}" if line else "" for line in lines)
    return f"|{indicator}{chomp}\n{body}"


def _emit_scalar(value: str, style: str | None) -> str:
    """Let libyaml's emitter choose plain, single or double quotes (or force ``style``).

    Events, not ``yaml.dump``: PyYAML's representer would veto plain style by its own
    YAML 1.1 resolver (``<<``, ``=``), where only yaml.v3's rules should decide.
    """
    events = [
        yaml.StreamStartEvent(),
        yaml.DocumentStartEvent(explicit=False),
        yaml.MappingStartEvent(anchor=None, tag=None, implicit=True, flow_style=False),
        yaml.ScalarEvent(anchor=None, tag=None, implicit=(True, True), value="k"),
        yaml.ScalarEvent(anchor=None, tag=None, implicit=(True, True), value=value, style=style),
        yaml.MappingEndEvent(),
        yaml.DocumentEndEvent(explicit=False),
        yaml.StreamEndEvent(),
    ]
    out: str = yaml.emit(events, Dumper=_SafeDumper, allow_unicode=True, width=2**31 - 1)
    return out[3:].rstrip("\n")


def yaml_scalar(value: str, *, indent: str = "    ") -> str:
    """Quote a string the way Go's yaml.v3 does (``indent``: where a block's lines start).

    yaml.v3 double-quotes any string that would read back as another type (``"123"``,
    ``"yes"``, ``""``), writes multi-line strings as literal blocks, and otherwise lets the
    libyaml emitter pick plain, single- or double-quoted, exactly as PyYAML's emitter does
    (both descend from libyaml).
    """
    if value == "" or not _plain_is_string(value):
        return _emit_scalar(value, '"')
    if "\n" in value:
        block = _literal_block(value, indent)
        return block if block is not None else _emit_scalar(value, '"')
    if "\x85" in value:
        return _emit_scalar(value, '"')
    if any(sep in value for sep in _LINE_SEPARATORS) and not _NON_PRINTABLE.search(value):
        return "'" + value.replace("'", "''") + "'"
    return _emit_scalar(value, None)


class _IndentedDumper(yaml.SafeDumper):
    """Indents lists inside mappings, as yaml.v3 does (PyYAML's default does not)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _render_time(value: datetime | None) -> str:
    return "null" if value is None else f'"{format_time(value)}"'


def render_header(ticket: Ticket) -> str:
    """The canonical header: the layout the Go tool writes, then unknown keys."""
    lines = [
        FENCE,
        f"priority: {ticket.priority}",
        f"description: {yaml_scalar(ticket.description)}",
        f"created_at: {_render_time(ticket.created_at)}",
        f"started_at: {_render_time(ticket.started_at)}",
        f"closed_at: {_render_time(ticket.closed_at)}",
    ]
    if ticket.closure_reason:
        lines.append(f"closure_reason: {yaml_scalar(ticket.closure_reason)}")
    if ticket.related:
        lines.append("related:")
        lines.extend(f"    - {yaml_scalar(rel, indent='      ')}" for rel in ticket.related)
    out = "\n".join(lines) + "\n"
    if ticket.extra:
        out += yaml.dump(
            dict(ticket.extra),
            Dumper=_IndentedDumper,
            allow_unicode=True,
            width=2**31 - 1,
            indent=4,
            sort_keys=False,
            default_flow_style=False,
        )
    return out + FENCE + "\n\n"


def render_ticket(ticket: Ticket) -> str:
    """The whole file. Unchanged header fields reuse the exact bytes they were read from."""
    if ticket.raw is not None and ticket.raw.fields == ticket.header_fields():
        header = ticket.raw.text
    else:
        header = render_header(ticket)
    return header + ticket.body
