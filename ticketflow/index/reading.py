"""Reading one ticket file the way ``TicketStore.read_file`` does (same errors), but
never through a link and with bounded memory: a large file is streamed and only its header
kept. Runs in the pool's worker processes too."""

from __future__ import annotations

import codecs
import os
from typing import Any

from ticketflow.errors import MalformedTicketError
from ticketflow.safepaths import LINK_ERRNOS, O_NOFOLLOW, symlink_error

STREAM_THRESHOLD = 1 << 20
"""Files larger than this are read in pieces: only the header is kept in memory."""
HEADER_PREFIX_BYTES = 2 << 20
"""How much of a large file is decoded to find its header (a header is at most 256 Ki
characters, at most 1 MiB of UTF-8)."""
MAX_UNCERTAIN_BYTES = 64 << 20
"""A large file whose header is not found in the prefix is read whole only up to this."""


def decode_error(data: bytes, exc: UnicodeDecodeError, before: int, rel: str) -> Exception:
    line = before + data[: exc.start].count(b"\n") + 1
    return MalformedTicketError(rel, line, "not valid UTF-8 text", code="not-utf8")


def _read_large(fh: Any, first: bytes, rel: str) -> tuple[str, int]:
    """``(text, size)`` of a large file, keeping only its header in memory when possible.

    UTF-8 is checked over the whole file first (the same error and line as
    ``TicketStore.read_file``), then the header alone is returned: parsing it gives the same
    fields as parsing the whole file, and the index keeps no body.
    """
    from ticketflow.fileformat import MAX_FRONTMATTER_CHARS, split_file

    decoder = codecs.getincrementaldecoder("utf-8")()
    prefix = first + fh.read(HEADER_PREFIX_BYTES - len(first))
    size = len(prefix)
    try:
        text = decoder.decode(prefix)
    except UnicodeDecodeError as exc:
        raise decode_error(exc.object, exc, 0, rel) from None
    newlines = prefix.count(b"\n")
    del prefix
    start = 1 if text.startswith("\ufeff") else 0
    # split_file decides within MAX_FRONTMATTER_CHARS characters plus one line; when that
    # line ends inside the prefix, the prefix gives the whole file's answer
    certain = text.find("\n", start + MAX_FRONTMATTER_CHARS, max(0, len(text) - 2)) >= 0
    if not certain:
        rest = fh.read(MAX_UNCERTAIN_BYTES)
        if fh.read(1):
            raise MalformedTicketError(
                rel,
                None,
                f"too large to read (over {MAX_UNCERTAIN_BYTES >> 20} MiB)",
                code="too-large",
            )
        try:
            text += decoder.decode(rest, final=True)
        except UnicodeDecodeError as exc:
            raise decode_error(exc.object, exc, newlines, rel) from None
        return text, size + len(rest)
    while True:
        block = fh.read(STREAM_THRESHOLD)
        try:
            decoder.decode(block, final=not block)
        except UnicodeDecodeError as exc:
            raise decode_error(exc.object, exc, newlines, rel) from None
        if not block:
            break
        size += len(block)
        newlines += block.count(b"\n")
    return split_file(text, rel)[0], size


_READ_FLAGS = os.O_RDONLY | O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def read_error(rel: str, abs_path: str, exc: OSError) -> MalformedTicketError:
    """``TicketStore.read_file``'s error for a file that cannot be opened or read."""
    if exc.errno in LINK_ERRNOS:
        return symlink_error(rel, abs_path)
    return MalformedTicketError(rel, None, f"cannot read: {exc.strerror or exc}", code="unreadable")


def open_bytes(abs_path: str) -> Any:
    """A file object on ``abs_path``, never through a link."""
    return os.fdopen(os.open(abs_path, _READ_FLAGS), "rb")


def read_text(abs_path: str, rel: str) -> tuple[str, int]:
    """``(text, size in bytes)`` of a ticket file, decoded as ``TicketStore.read_file``
    decodes it (same errors). For a file over ``STREAM_THRESHOLD`` the text may be its header
    only: memory stays bounded whatever the file holds. (Plain ``os`` calls: a file object
    costs a quarter more per file, and a cold scan is mostly these calls.)"""
    try:
        fd = os.open(abs_path, _READ_FLAGS)  # never through a link (see safepaths)
        try:
            size = os.fstat(fd).st_size
            data = os.read(fd, min(size, STREAM_THRESHOLD) + 1)
            if len(data) != size:  # a short read, or it changed since the fstat: read on
                with os.fdopen(fd, "rb", closefd=False) as fh:
                    data += fh.read(STREAM_THRESHOLD + 1 - len(data))
                    if len(data) > STREAM_THRESHOLD:
                        return _read_large(fh, data, rel)
        finally:
            os.close(fd)
    except OSError as exc:
        raise read_error(rel, abs_path, exc) from None
    try:
        return data.decode("utf-8"), len(data)
    except UnicodeDecodeError as exc:
        raise decode_error(data, exc, 0, rel) from None
