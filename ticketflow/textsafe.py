"""Text from ticket files, made safe to show on a terminal.

Whoever can push to the repository writes the tickets, and a terminal obeys the control
characters in what it is given: ESC starts colour codes but also OSC (the window title,
OSC 8 links, OSC 52, which writes the user's clipboard) and DCS strings; many terminals take
the one-character C1 controls (U+0080-U+009F, CSI is U+009B) the same way; BEL rings; a lone
carriage return lets a line overwrite what was printed before it. ``visible`` shows each of
them as text instead, so a ticket can neither drive the terminal nor hide what it holds.

It is applied where text leaves for a terminal: the CLI's text output, warnings and errors,
the progress line, and every widget of the TUI that shows ticket or job text. The JSON
output escapes the same characters in JSON's own way (``cli.dumps_json``), so a script
still reads the exact text.
"""

from __future__ import annotations

import re

CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]|\r(?!\n)")
"""What ``visible`` escapes: every C0 control but tab, line feed and a carriage return that
ends a line (a Windows line end moves nothing it should not), DEL, the C1 controls, and
lone surrogates (which no terminal encoding can carry)."""


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with every control character (see ``CONTROL_RE``) written as ``\\xNN``
    (``\\x1b`` for ESC, ``\\x07`` for BEL, ``\\x9b`` for CSI, ``\\x7f`` for DEL) and a lone
    surrogate as ``\\udNNN``. Text without them comes back as it is (the common case costs
    one regex search)."""
    if CONTROL_RE.search(text) is None:
        return text
    return CONTROL_RE.sub(_escape, text)


def one_line(text: str) -> str:
    """``visible`` text on one line: runs of whitespace (line breaks, tabs, spaces) become
    one space. For table cells and list rows, where a line break would break the layout."""
    return " ".join(visible(text).split())
