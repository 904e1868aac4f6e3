"""Hiding secrets in URLs before anything is shown or stored.

A remote's URL may carry a password or a token: in its userinfo
(``https://alice:s3cret@host/team.git``) or in its query (``?token=...``). Everything
ticketflow prints, writes as JSON or keeps in the job history goes through here first.

URLs are parsed (``urllib.parse``), not matched by a pattern: the userinfo is everything
before the *last* ``@`` of the authority, so a password holding an ``@``, raw or as ``%40``
(libgit2 hands the credential callback the decoded URL), is hidden whole. The whole
userinfo goes, user name included; every query value goes, its key stays. A URL whose
authority cannot be parsed (a decoded ``/`` in the password, a port that is not a number)
loses everything up to its last ``@``, or its whole authority. scp-like ``user@host:path``
names no secret (ssh authenticates with keys) and is left as it is.

Kept apart from ``ticketflow.git`` so that the job history and the command line can redact
without importing pygit2.
"""

from __future__ import annotations

import re
from typing import TypeVar
from urllib.parse import urlsplit

HIDDEN = "***"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_URL_END = frozenset(" \t\r\n\"'<>`")
"""Characters that end a URL inside a text (none of them may appear raw in a URL)."""
_TRAILING = ".,;:!?)]}"
"""Punctuation after a URL in a sentence ("failed to fetch http://host/x.git: ...")."""

T = TypeVar("T")


def redact_url(url: str) -> str:
    """``url`` with its userinfo and its query values replaced by ``***``.

    ``http://alice:p%40ss@host:8080/x.git?token=abc&v=2`` ->
    ``http://***@host:8080/x.git?token=***&v=***``. Anything without ``scheme://`` (a path,
    ``user@host:path``) is returned unchanged.
    """
    found = _SCHEME.match(url)
    if found is None:
        return url
    head, body = url[: found.end()], url[found.end() :]
    try:
        parts = urlsplit(url)
        _ = parts.port  # ValueError when the "port" is not a number: the parse went wrong
        authority = parts.netloc
        if not body.startswith(authority):
            raise ValueError("the authority was normalised")
    except ValueError:
        return head + _broken_authority(body)
    rest = body[len(authority) :]
    if "@" in authority:
        authority = f"{HIDDEN}@{authority.rpartition('@')[2]}"
    return head + authority + _redact_query(rest)


def _broken_authority(body: str) -> str:
    """A URL body (after ``scheme://``) whose authority did not parse: hide up to its last
    ``@``, or, without one, the whole authority."""
    _, at, after = body.rpartition("@")
    if at:
        return f"{HIDDEN}@{_redact_query(after)}"
    ends = [i for i in (body.find(c) for c in "/?#") if i >= 0]
    end = min(ends) if ends else len(body)
    return HIDDEN + _redact_query(body[end:])


def _redact_query(rest: str) -> str:
    """Path, query and fragment, with every query value hidden."""
    before_fragment, hash_, fragment = rest.partition("#")
    path, question, query = before_fragment.partition("?")
    if question and query:
        query = "&".join(_hide_value(item) for item in query.split("&"))
    return path + question + query + hash_ + fragment


def _hide_value(item: str) -> str:
    key, equals, _ = item.partition("=")
    if equals:
        return f"{key}={HIDDEN}"
    return HIDDEN if item else item


def redact_text(text: str) -> str:
    """``text`` with every URL in it redacted (``redact_url``): for messages that may
    embed a URL, such as libgit2's errors, a server's progress text, our own messages."""
    if "://" not in text:
        return text
    out: list[str] = []
    pos = 0
    while (found := _SCHEME.search(text, pos)) is not None:
        end = found.end()
        while end < len(text) and text[end] not in _URL_END:
            end += 1
        url = text[found.start() : end]
        trailing = len(url) - len(url.rstrip(_TRAILING))
        if trailing:
            url, end = url[:-trailing], end - trailing
        out.append(text[pos : found.start()])
        out.append(redact_url(url))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def redact_data(value: T) -> T:
    """``value`` (JSON-like: dicts, lists, tuples, strings) with every string redacted
    (``redact_text``); keys are kept. For what the job history stores."""
    if isinstance(value, str):
        return redact_text(value)  # type: ignore[return-value]
    if isinstance(value, dict):
        return {key: redact_data(item) for key, item in value.items()}  # type: ignore[return-value]
    if isinstance(value, list | tuple):
        return type(value)(redact_data(item) for item in value)
    return value
