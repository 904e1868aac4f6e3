"""Crash-safe file writes and the inter-process repository lock.

``atomic_write`` puts the new bytes in a temporary file in the same folder, fsyncs it,
``os.replace``s it over the target and fsyncs the folder: a reader (or a crash) sees the old
file or the new one, never half of either. Everything happens relative to a descriptor of the
folder, so that with the repository's ``root`` given, the folder is the one
``safepaths.open_folder`` checked and opened (no link leads the write elsewhere).
``RepoLock`` is an ``flock`` on a file under ``.git/`` that serialises every ticketflow
process writing to one repository.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

from ticketflow.errors import LockBusyError, TicketflowError, UnsafePathError
from ticketflow.safepaths import O_NOFOLLOW, open_folder, shown_path

_TMP_PREFIX = ".tf-tmp-"


_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _fsync_fd(fd: int) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot fsync a folder; the
        os.fsync(fd)  # rename is still atomic


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, _DIR_FLAGS)
    except OSError:
        return
    try:
        _fsync_fd(fd)
    finally:
        os.close(fd)


def _open_dir(path: Path, root: Path | None, create: bool) -> int:
    """The folder's descriptor: checked and opened link by link with ``root``; plainly
    (links followed, as the caller named it) without."""
    if root is not None:
        return open_folder(root, path, create=create)
    return os.open(path, _DIR_FLAGS)


def atomic_write(path: Path, data: bytes, *, root: Path | None = None) -> None:
    """Replace ``path`` with ``data`` atomically; on any failure the old file is untouched.

    With ``root`` (the repository), the folder is created if missing and must stay inside
    the repository (``safepaths.open_folder``). Either way ``path`` must not be a symbolic
    link: ticketflow never writes through one (``UnsafePathError``, code ``symlink``)."""
    name = path.name
    shown = shown_path(path, root) if root is not None else str(path)
    try:
        dir_fd = _open_dir(path.parent, root, create=True)
    except OSError as exc:
        raise TicketflowError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint="check the folder's permissions and free disk space; the old file is unchanged",
        ) from exc
    fd = -1
    tmp = ""
    try:
        mode = _mode_for(dir_fd, name, shown)
        fd, tmp = _create_temp(dir_fd, name)
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fd = -1
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        tmp = ""
        _fsync_fd(dir_fd)
    except OSError as exc:
        raise TicketflowError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint="check the folder's permissions and free disk space; the old file is unchanged",
        ) from exc
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
        os.close(dir_fd)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _mode_for(dir_fd: int, name: str, shown: str) -> int:
    """Keep an existing file's permissions; a new file gets 0666 less the umask. An
    existing symbolic link is refused: its target's mode is none of our business, and a
    link there was not written by ticketflow."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return 0o666 & ~_current_umask()
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(
            shown,
            None,
            "is a symbolic link; ticketflow does not write through links",
            hint="delete the link (it is not a ticket ticketflow wrote), then try again",
            code="symlink",
        )
    return st.st_mode & 0o7777


def _create_temp(dir_fd: int, name: str) -> tuple[int, str]:
    """A new temporary file next to ``name``: never an existing file, never through a link."""
    for _attempt in range(100):
        tmp = f"{_TMP_PREFIX}{name}.{os.urandom(4).hex()}"
        try:
            return os.open(tmp, _NEW_FILE_FLAGS, 0o600, dir_fd=dir_fd), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name for {name}")


def is_temp_file(name: str) -> bool:
    """Leftovers of a crash mid-write; readers skip them."""
    return name.startswith(_TMP_PREFIX)


STALE_TEMP_SECONDS = 60.0
"""A temporary file older than this belongs to no write still running: a write lasts
milliseconds, so its process was killed between creating the file and renaming it."""


def remove_stale_temp_files(paths: Iterable[str], now: float | None = None) -> int:
    """Remove the temporary files among ``paths`` last modified over a minute ago (what
    ``ticketflow scan`` does with those it finds); returns how many went. A younger one may
    be a write in progress and is left alone; so is anything that is not a file or link."""
    limit = (time.time() if now is None else now) - STALE_TEMP_SECONDS
    removed = 0
    for path in paths:
        if not is_temp_file(os.path.basename(path)):
            continue
        try:
            st = os.lstat(path)
            if st.st_mtime < limit and (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                os.unlink(path)
                removed += 1
        except OSError:
            continue  # gone already, or not ours to remove: never fail a scan for it
    return removed


def ensure_dir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TicketflowError(
            f"cannot create the folder {folder}: {exc.strerror or exc}",
            hint="check that nothing else (a file) has that name and that you may write there",
        ) from exc


def atomic_move(src: Path, dst: Path, data: bytes, *, root: Path | None = None) -> None:
    """Write ``data`` to ``dst`` atomically, then remove ``src`` (a status change).

    If the process dies between the two steps both files exist with the same id; the scan
    reports the duplicate and nothing is lost. ``root``: as for ``atomic_write``, and
    ``src`` is removed from its folder checked the same way.
    """
    if root is None:
        ensure_dir(dst.parent)
    atomic_write(dst, data, root=root)
    if src == dst:
        return
    dir_fd = _open_dir(src.parent, root, create=False) if root is not None else -1
    try:
        if dir_fd >= 0:
            os.unlink(src.name, dir_fd=dir_fd)  # removes a name: never follows a link
        else:
            src.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise TicketflowError(
            f"wrote {dst} but cannot remove {src}: {exc.strerror or exc}",
            hint="remove the old file by hand; both hold the ticket",
        ) from exc
    finally:
        if dir_fd >= 0:
            _fsync_fd(dir_fd)
            os.close(dir_fd)
    if dir_fd < 0:
        _fsync_dir(src.parent)


class RepoLock:
    """An exclusive ``flock`` on ``<git dir>/ticketflow.lock``, held while a command writes.

    The kernel drops the lock when the process dies, so a crash never leaves it stuck.
    """

    def __init__(self, lock_path: Path, timeout: float = 30.0) -> None:
        self.lock_path = lock_path
        self.timeout = timeout
        self._fd: int | None = None

    def acquire(self) -> None:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockBusyError(
                        f"another ticketflow process has held {self.lock_path} "
                        f"for more than {self.timeout:.0f} s",
                        hint="wait for it to finish; if none is running, try again",
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RepoLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


@contextlib.contextmanager
def locked(lock_path: Path, timeout: float = 30.0) -> Iterator[None]:
    with RepoLock(lock_path, timeout):
        yield
