"""Cooperative cancellation and progress reporting shared by git, scan and job code.

Long work takes a ``CancelToken`` and a ``ProgressCallback``. The work calls
``token.raise_if_cancelled()`` between units (a file, a chunk, a libgit2 callback), so a
cancel stops it within one unit; raising inside a pygit2 transfer callback makes libgit2
abort the transfer. Progress is a plain callback, so the core never knows who listens (the
CLI's progress bar, the job queue, the TUI's status bar).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ticketflow.errors import CancelledError

ProgressCallback = Callable[[int, int | None, str], None]
"""``(current, total, message)``; ``total`` is None while unknown."""


def no_progress(current: int, total: int | None, message: str) -> None:
    """The progress callback that ignores everything."""


class CancelToken:
    """A one-way flag (a ``threading.Event``) with a reason, safe to set from any thread."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = "cancelled"

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise CancelledError(self.reason)

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep up to ``timeout`` seconds, waking at once on cancel; True if cancelled."""
        return self._event.wait(timeout)


NEVER_CANCELLED = CancelToken()
"""A token nobody sets, for callers that do not cancel (never call ``cancel`` on it)."""
