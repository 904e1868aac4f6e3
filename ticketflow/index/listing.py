"""Listing the status folders: every ticket file's path and ``stat`` stamp, the files
modified too recently to trust (racy stamps), and the other files a scan counts."""

from __future__ import annotations

import os
import stat as stat_module
from pathlib import Path
from typing import TYPE_CHECKING

from ticketflow.fsutil import is_temp_file, remove_stale_temp_files

if TYPE_CHECKING:
    from ticketflow.index.rows import ParseTask
    from ticketflow.store import TicketStore


_FINE_RACY_NS = 50_000_000
_COARSE_RACY_NS = 2_000_000_000
RACY = -1
"""The stamp stored for a file modified too close to its scan: matches no ``stat``."""


def stamp_of(st: os.stat_result) -> int:
    """A file's stamp: what its ``stat`` must still say for its row to be believed."""
    return hash((st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns))


class Listing:
    """Every ticket file in the status folders: path -> stamp, and how to find it
    (``folders``: relative folder -> (status, absolute folder prefix))."""

    __slots__ = ("folders", "ignored", "racy", "stamps")

    def __init__(
        self,
        stamps: dict[str, int],
        racy: set[str],
        folders: dict[str, tuple[str, str]],
        ignored: int,
    ) -> None:
        self.stamps = stamps
        self.racy = racy
        self.folders = folders
        self.ignored = ignored

    def task(self, rel: str) -> ParseTask:
        prefix, _, name = rel.rpartition("/")
        folder, abs_prefix = self.folders[prefix]
        stamp = RACY if rel in self.racy else self.stamps[rel]
        return (rel, abs_prefix + name, folder, name[:-3], stamp)

    def abs_path(self, rel: str) -> str:
        prefix, _, name = rel.rpartition("/")
        return self.folders[prefix][1] + name


def _count_files(entry: os.DirEntry[str], folder: Path) -> int:
    """1 for a file, the files below it for a folder (never following links)."""
    try:
        if entry.is_dir(follow_symlinks=False):
            below = os.walk(folder / entry.name)
            return sum(len(names) for _dir, _subdirs, names in below)
    except OSError:
        return 1
    return 1


def list_files(store: TicketStore, count_ignored: bool, scan_start: int) -> Listing:
    """Stat every ticket file in the three status folders (what ``iter_files`` yields);
    with ``count_ignored``, also count every other file under the tickets folder."""
    # here, not at the top: a store (which imports it anyway) is needed to get here, and
    # ``import ticketflow.index`` stays without the store's dataclasses
    from ticketflow.ticketfiles import TICKET_NAME, status_folders

    stamps: dict[str, int] = {}
    racy: set[str] = set()
    folders: dict[str, tuple[str, str]] = {}
    ignored = 0
    status_dirs = []
    leftovers: list[str] = []  # temporary files of writes that were killed
    fine_cutoff = scan_start - _FINE_RACY_NS
    coarse_cutoff = scan_start - _COARSE_RACY_NS
    match = TICKET_NAME.match
    regular = stat_module.S_ISREG
    is_link = stat_module.S_ISLNK
    for status, folder, entries in status_folders(store):
        status_dirs.append(os.path.normpath(folder))
        rel_dir = store.relpath(folder)
        prefix = rel_dir + "/"
        folders[rel_dir] = (status.value, str(folder) + "/")
        for entry in entries:
            name = entry.name
            if match(name):
                try:
                    # the entry itself: one fstatat, as for any file (a link is listed to be
                    # reported, never followed; see safepaths)
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    st = None  # vanished since the folder was read
                except OSError:  # cannot even stat it: the parse says why
                    stamps[prefix + name] = RACY
                    continue
                if st is not None and (regular(st.st_mode) or is_link(st.st_mode)):
                    rel = prefix + name
                    mtime = st.st_mtime_ns
                    stamps[rel] = stamp_of(st)
                    if mtime >= coarse_cutoff and (
                        mtime >= fine_cutoff or not mtime % 1_000_000_000
                    ):
                        racy.add(rel)
                    continue
            if count_ignored:
                ignored += _count_files(entry, folder)
                if is_temp_file(name):
                    leftovers.append(os.path.join(folder, name))
    if count_ignored:
        ignored += _count_outside(store, status_dirs)
        remove_stale_temp_files(leftovers)
    return Listing(stamps, racy, folders, ignored)


def _count_outside(store: TicketStore, status_dirs: list[str]) -> int:
    """Files under the tickets folder but outside the status folders (never read)."""
    root = os.path.normpath(store.tickets_root)
    if root == os.path.normpath(store.root):
        return 0  # tickets.dir is the repository itself: do not count the world
    count = 0
    for dirpath, dirnames, filenames in os.walk(root):
        if os.path.normpath(dirpath) in status_dirs:
            dirnames[:] = []
            continue
        dirnames[:] = [
            d for d in dirnames if os.path.normpath(os.path.join(dirpath, d)) not in status_dirs
        ]
        count += len(filenames)
    return count
