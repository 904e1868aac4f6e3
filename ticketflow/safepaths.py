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
- A ticket **folder** (``tickets.dir`` or a status folder) may be, or pass through, a link
  only if it stays inside the work tree and out of the git dir (git keeps such a layout as
  the links and the real folder, so nothing leaves the repository). Otherwise every command
  that lists tickets fails with ``unsafe-folder``: nothing is read or written there.
- Writes go through a descriptor of the folder opened one component at a time with
  ``O_NOFOLLOW`` along its real path from the repository's real root: a link swapped in
  after the check fails the write instead of redirecting it. The file written is never a
  link itself, and the temporary file is created with ``O_EXCL | O_NOFOLLOW``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from ticketflow.config import git_dir
from ticketflow.errors import TicketflowError, UnsafePathError, quoted

O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
LINK_ERRNOS = frozenset({errno.ELOOP, getattr(errno, "EMLINK", errno.ELOOP)})
"""What ``open`` with ``O_NOFOLLOW`` fails with on a symbolic link (FreeBSD: EMLINK)."""

FOLDER_HINT = (
    "ticketflow neither reads nor writes there: replace the link with a real folder inside "
    "the repository (or remove it), e.g. git rm the link and mkdir the folder"
)


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


def _real_parts(root: Path, folder: Path) -> tuple[str, list[str]] | UnsafePathError:
    """The repository's real root and the components of ``folder``'s real path below it,
    or the error saying why ``folder`` may not be used."""
    rel = shown_path(folder, root)
    try:
        real_root = os.path.realpath(root)
        real = os.path.realpath(folder)  # a missing tail is kept as it is
    except OSError as exc:  # a link that changed while it was read (EINVAL)
        return UnsafePathError(
            rel,
            None,
            f"the folder changed while it was checked ({exc.strerror or exc}); nothing was "
            "read or written there",
            hint="try again; if it keeps failing, look for links in the folder's path",
            code="unsafe-folder",
        )
    try:
        inside = os.path.relpath(real, real_root)
    except ValueError:  # another drive
        inside = os.pardir
    if inside == os.pardir or inside.startswith(os.pardir + os.sep):
        return UnsafePathError(
            rel,
            None,
            f"the folder leads outside the repository, to {quoted(real)}",
            hint=FOLDER_HINT,
            code="unsafe-folder",
        )
    parts = [] if inside == os.curdir else inside.split(os.sep)
    real_git = os.path.realpath(git_dir(root))
    if (
        any(part.casefold() == ".git" for part in parts)
        or real == real_git
        or real.startswith(real_git + os.sep)
    ):
        return UnsafePathError(
            rel,
            None,
            f"the folder leads into a git dir, to {quoted(real)}",
            hint=FOLDER_HINT,
            code="unsafe-folder",
        )
    return real_root, parts


def read_no_link(path: Path, rel: str) -> bytes:
    """A file's bytes, refusing a symbolic link (``symlink``) instead of following it."""
    try:
        fd = os.open(path, os.O_RDONLY | O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno in LINK_ERRNOS:
            raise symlink_error(rel, path) from None
        raise
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def check_folder(root: Path, folder: Path) -> Path:
    """``folder``, if it may be read and written: it resolves (links followed) inside the
    work tree of ``root`` and outside its git dir. Raises ``UnsafePathError`` otherwise."""
    found = _real_parts(root, folder)
    if isinstance(found, UnsafePathError):
        raise found
    return folder


def open_folder(root: Path, folder: Path, *, create: bool) -> int:
    """A descriptor of ``folder`` to write in (``create``: making what is missing).

    The folder is checked as ``check_folder`` does, then opened along its real path from
    the repository's real root, one component at a time, each with ``O_NOFOLLOW``: if a
    link was put anywhere on that path since the check, this fails rather than opening
    whatever the link points at."""
    found = _real_parts(root, folder)
    if isinstance(found, UnsafePathError):
        raise found
    real_root, parts = found
    rel = shown_path(folder, root)
    try:
        fd = os.open(real_root, _DIR_FLAGS)
    except OSError as exc:
        raise TicketflowError(
            f"cannot open the repository {root}: {exc.strerror or exc}",
            hint="check that the folder exists and that you may read it",
        ) from None
    try:
        for part in parts:
            try:
                child = _open_child(fd, part, create)
            except OSError as exc:
                raise _folder_error(fd, part, rel, exc) from None
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_child(fd: int, name: str, create: bool) -> int:
    try:
        return os.open(name, _DIR_FLAGS | O_NOFOLLOW, dir_fd=fd)
    except FileNotFoundError:
        if not create:
            raise
    with contextlib.suppress(FileExistsError):  # another process made it meanwhile
        os.mkdir(name, 0o777, dir_fd=fd)
    return os.open(name, _DIR_FLAGS | O_NOFOLLOW, dir_fd=fd)


def _folder_error(fd: int, name: str, rel: str, exc: OSError) -> TicketflowError:
    try:
        is_link = stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:
        is_link = False
    if is_link:
        return UnsafePathError(
            rel,
            None,
            f"a symbolic link appeared in the folder's path ({quoted(name)}) after it was "
            "checked; nothing was written",
            hint=FOLDER_HINT,
            code="unsafe-folder",
        )
    return TicketflowError(
        f"cannot create the folder {rel}: {exc.strerror or exc}",
        hint="check that nothing else (a file) has that name and that you may write there",
    )
