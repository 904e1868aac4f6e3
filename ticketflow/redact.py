"""Hiding secrets in URLs before anything is shown or stored.

Kept apart from ``gitrepo`` so that the job history and the command line can redact
without importing pygit2.
"""

from __future__ import annotations

import re

_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")


def redact_url(text: str) -> str:
    """Hide credentials in any URL inside ``text`` (``https://user:token@host`` -> ``***@``)."""
    return _URL_USERINFO.sub(lambda m: f"{m['scheme']}***@", text)
