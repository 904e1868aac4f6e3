"""Finding ticket files on disk: the walk of the three status folders and the lookup of a
ticket by id, id prefix or slug prefix. Both only read folders (no lock, no parse); the
store builds on them, and errors name the file the way the store's commands do."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ticketflow.errors import (
    AmbiguousIdError,
    DuplicateTicketError,
    NotFoundError,
    TicketflowError,
)
from ticketflow.model import Status
from ticketflow.safepaths import symlink_error

if TYPE_CHECKING:
    from ticketflow.store import TicketStore


@dataclass(frozen=True)
class TicketFile:
    """A ticket file found on disk, before it is parsed. ``link``: it is a symbolic link,
    listed only to be reported (``read_file`` and ``resolve`` refuse it)."""

    id: str
    status: Status
    path: Path
    link: bool = False


TICKET_NAME = re.compile(r"\d{6}-\d{6}-[a-z0-9-]+\n?\.md\Z")
"""A ticket file's name, ``<ID>.md`` (``model.ID_RE`` ends in ``$``, which also matches
before a final newline; mirrored here on purpose). A temporary file never matches."""


def status_folders(store: TicketStore) -> Iterator[tuple[Status, Path, Iterator[os.DirEntry[str]]]]:
    """Each status folder that exists, with its entries: the one walk behind the store's
    listing and the index's. A folder that cannot be read is an error, never an empty
    listing. The folder is read through a descriptor, so each ``stat`` of an entry is an
    ``fstatat()`` relative to it, which skips resolving the whole path again (a quarter of a
    scan's time); an entry's ``path`` is then its bare name."""
    for status in Status:
        folder = store.status_dir(status)  # refuses a folder leading out of the repository
        try:
            fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise TicketflowError(
                f"cannot read {store.relpath(folder)}: {exc.strerror or exc}",
                hint="each status folder must be a readable directory",
            ) from None
        try:
            with os.scandir(fd) as entries:
                yield status, folder, entries
        finally:
            os.close(fd)


def iter_files(store: TicketStore) -> Iterator[TicketFile]:
    """Ticket files in the three status folders; anything else there is not a ticket.

    A symbolic link with a ticket's name is yielded too (``link``), whatever it points
    at, and never followed: it is that file's problem (reported, refused by name), not a
    failure of the listing. (``DirEntry`` answers from the folder's own entry types, so
    this costs no system call per file where the file system gives them.)"""
    match = TICKET_NAME.match
    for status, folder, entries in status_folders(store):
        for entry in entries:
            name = entry.name
            if not match(name):
                continue
            try:
                link = entry.is_symlink()
                if not link and not entry.is_file(follow_symlinks=False):
                    continue  # a folder, a pipe, a socket...
            except OSError:
                link = False  # not even its own entry can be read: read_file says why
            yield TicketFile(name[:-3], status, folder / name, link)


def find_file(store: TicketStore, ref: str) -> TicketFile:
    """``TicketStore.resolve`` without its second look under the lock."""
    key = ref.strip().rsplit("/", 1)[-1].removesuffix(".md")
    if not key:
        raise NotFoundError(ref)
    by_id: dict[str, list[TicketFile]] = {}
    by_slug: dict[str, list[TicketFile]] = {}
    for tf in iter_files(store):
        if tf.id.startswith(key):
            by_id.setdefault(tf.id, []).append(tf)
        elif tf.id[14:].startswith(key):
            by_slug.setdefault(tf.id, []).append(tf)
    if key in by_id:
        return _one(store, by_id[key])
    matches = by_id or by_slug
    if not matches:
        raise NotFoundError(ref)
    if len(matches) > 1:
        raise AmbiguousIdError(ref, sorted(matches))
    return _one(store, next(iter(matches.values())))


def _one(store: TicketStore, files: list[TicketFile]) -> TicketFile:
    if len(files) > 1:
        raise DuplicateTicketError(files[0].id, [store.relpath(f.path) for f in files])
    if files[0].link:  # no command may use it: edit would read it, start copy it in
        raise symlink_error(store.relpath(files[0].path), files[0].path)
    return files[0]


def exact_file(store: TicketStore, ticket_id: str) -> TicketFile:
    """The ticket whose id is exactly ``ticket_id`` (a prefix of it may name others)."""
    matches = [tf for tf in iter_files(store) if tf.id == ticket_id]
    if not matches:
        raise NotFoundError(ticket_id)
    return _one(store, matches)
