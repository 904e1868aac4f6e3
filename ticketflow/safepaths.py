"""Where ticketflow reads and writes: the repository's ticket folders, never through a link
that leads out of them.

A teammate's push can plant symbolic links: a ticket file linking to one of your files
(``show`` would print it, ``start`` or ``edit`` would copy it into the repository, and the
next push would publish it), or a status folder linking to a folder of yours (``start``
would write there). The rules, also in docs/file-format.md ("Hostile content"):

- A ticket **file** that is a symbolic link is never followed, wherever it points: it is
  not listed, ``scan`` reports it (``symlink``), and a command that names it fails saying
  so. Files are opened with ``O_NOFOLLOW``, so a link put there after the listing fails the
  read instead of being followed.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from ticketflow.errors import UnsafePathError, quoted

O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
LINK_ERRNOS = frozenset({errno.ELOOP, getattr(errno, "EMLINK", errno.ELOOP)})
"""What ``open`` with ``O_NOFOLLOW`` fails with on a symbolic link (FreeBSD: EMLINK)."""


def shown_path(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when it is under it (as errors name files)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def symlink_error(rel: str, path: Path | str) -> UnsafePathError:
    """The error for a ticket file that is a symbolic link (its target said, escaped)."""
    try:
        target = f" (to {quoted(os.readlink(path))})"
    except OSError:
        target = ""
    return UnsafePathError(
        rel,
        None,
        f"the file is a symbolic link{target}; ticketflow does not follow links in the "
        "ticket folders",
        hint="replace the link with the ticket file itself, or delete it: a link could show "
        "or copy in a file from outside the repository",
        code="symlink",
    )
