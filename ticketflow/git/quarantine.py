"""Transfers against a scratch repository, published into the real one afterwards.

libgit2 writes into the repository while it fetches: a temporary pack, then the pack and its
index, remote-tracking refs, reflogs and ``FETCH_HEAD``, each through a lock file. A process
ended in the middle (a cancel that cannot wait for libgit2's next callback, a stalled server)
could leave a lock file that makes every later fetch fail, or half of the refs moved. So a
fetch or a push runs against a bare scratch repository under
``<git dir>/ticketflow/transfer/<pid>-<random>``:

- its ``objects/info/alternates`` names the real object store, so it reads every object the
  repository has (the fetch negotiates with them; the push packs them) and writes only its own;
- its config includes the real one (same remotes, URLs, refspecs, transport settings);
- its refs are a copy of the real refs (``packed-refs``), so the negotiation and libgit2's
  ref updates start from the real state.

``publish`` then moves what the transfer made into the repository: the packs (``.idx`` last,
so no reader meets an index without its pack), then every ref the transfer changed (each an
atomic update, with a reflog entry), then ``FETCH_HEAD``. Until ``publish`` starts, the real
repository has not been touched; ending the process then leaves it byte for byte as it was,
plus a scratch folder that is removed by whoever notices (the parent process, the next
transfer: ``transfer.sweep_stale``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pygit2
from pygit2.enums import ReferenceType

from ticketflow.errors import GitError
from ticketflow.fsutil import atomic_write
from ticketflow.git.transfer import common_git_dir, scratch_parent, sweep_stale

_Refs = dict[str, str]
"""ref name -> object id (hex), or ``ref: <name>`` for a symbolic ref."""


def _quote(value: str) -> str:
    """A git config value, quoted."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _refs(repo: pygit2.Repository) -> _Refs:
    refs: _Refs = {}
    for ref in repo.references.objects:
        if ref.type == ReferenceType.SYMBOLIC:
            refs[ref.name] = f"ref: {ref.target}"
        else:
            refs[ref.name] = str(ref.target)
    return refs


class Scratch:
    """One scratch repository: see the module text. Use ``quarantined``."""

    def __init__(self, repo: pygit2.Repository, path: Path, copied: _Refs) -> None:
        self.repo = repo
        self.path = path
        self.copied = copied
        self.gitdir = Path(repo.path)
        self.common = common_git_dir(self.gitdir)
        self._scratch: pygit2.Repository | None = None

    @classmethod
    def create(cls, repo: pygit2.Repository) -> Scratch:
        gitdir = Path(repo.path)
        common = common_git_dir(gitdir)
        parent = scratch_parent(gitdir)
        parent.mkdir(parents=True, exist_ok=True)
        sweep_stale(parent)
        path = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=parent))
        try:
            pygit2.init_repository(str(path), bare=True)
            (path / "objects" / "info" / "alternates").write_text(
                f"{common / 'objects'}\n", encoding="utf-8"
            )
            includes = [common / "config"]
            if (gitdir / "config.worktree").is_file():
                includes.append(gitdir / "config.worktree")
            config = "".join(f"[include]\n\tpath = {_quote(str(p))}\n" for p in includes)
            config += "[core]\n\tbare = true\n\tlogallrefupdates = false\n"
            (path / "config").write_text(config, encoding="utf-8")
            copied = _refs(repo)
            packed = sorted(
                (name, target) for name, target in copied.items() if not target.startswith("ref:")
            )
            (path / "packed-refs").write_text(
                "# pack-refs with: sorted \n"
                + "".join(f"{target} {name}\n" for name, target in packed),
                encoding="utf-8",
            )
            for name, target in copied.items():
                if target.startswith("ref:"):
                    loose = path / name
                    loose.parent.mkdir(parents=True, exist_ok=True)
                    loose.write_text(target + "\n", encoding="utf-8")
            head = (gitdir / "HEAD").read_text(encoding="utf-8")
            (path / "HEAD").write_text(head, encoding="utf-8")
            if (common / "shallow").is_file():
                shutil.copyfile(common / "shallow", path / "shallow")
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        return cls(repo, path, copied)

    @property
    def scratch(self) -> pygit2.Repository:
        if self._scratch is None:
            self._scratch = pygit2.Repository(str(self.path))
        return self._scratch

    def remote(self, name: str) -> pygit2.Remote:
        """The remote ``name`` as the scratch repository sees it (the same config)."""
        try:
            return self.scratch.remotes[name]
        except (KeyError, ValueError):
            raise GitError(
                f"no remote named {name!r} in the transfer's copy of the configuration",
                hint="is the remote defined outside .git/config? define it there",
            ) from None

    # --- publishing ---------------------------------------------------------------------------

    def publish(self, message: str) -> list[str]:
        """Move the transfer's objects, refs and FETCH_HEAD into the repository; return the
        names of the refs that changed. The point of no return: run it whole.

        A ref another git process holds locked fails it with a ``GitError``; what was
        published before stays (objects, and refs updated one by one, as ``git fetch``)."""
        try:
            return self._publish(message)
        except (pygit2.GitError, OSError) as exc:
            raise GitError(
                f"the transfer succeeded but updating the repository failed: {exc}",
                hint="another git process may be writing to it; try again, or run "
                "'git status' there to see what git thinks",
            ) from None

    def _publish(self, message: str) -> list[str]:
        self._move_objects()
        changed = self._move_refs(message)
        fetch_head = self.path / "FETCH_HEAD"
        if fetch_head.is_file():
            atomic_write(self.gitdir / "FETCH_HEAD", fetch_head.read_bytes())
        shallow = self.path / "shallow"
        if shallow.is_file():
            atomic_write(self.common / "shallow", shallow.read_bytes())
        return changed

    def _move_objects(self) -> None:
        source = self.path / "objects"
        target = self.common / "objects"
        packs = source / "pack"
        if packs.is_dir():
            (target / "pack").mkdir(parents=True, exist_ok=True)
            # the index last: a reader that finds pack-X.idx always finds pack-X.pack
            for entry in sorted(packs.iterdir(), key=lambda p: (p.suffix == ".idx", p.name)):
                if entry.name.startswith("pack-"):
                    self._move(entry, target / "pack" / entry.name)
        for folder in source.iterdir():
            if len(folder.name) == 2 and folder.is_dir():  # loose objects (a local transport)
                for entry in folder.iterdir():
                    (target / folder.name).mkdir(exist_ok=True)
                    self._move(entry, target / folder.name / entry.name)

    @staticmethod
    def _move(entry: Path, destination: Path) -> None:
        if destination.exists():  # the same name is the same content (a hash)
            entry.unlink()
        else:
            os.replace(entry, destination)

    def _move_refs(self, message: str) -> list[str]:
        after = _refs(self.scratch)
        repo = self.repo
        changed: list[str] = []
        for name in sorted(set(after) | set(self.copied)):
            old, new = self.copied.get(name), after.get(name)
            if old == new or name == "HEAD":
                continue
            if new is None:
                with contextlib.suppress(KeyError, pygit2.GitError):
                    current = repo.references[name]
                    if str(current.target) == old or f"ref: {current.target}" == old:
                        current.delete()
            elif new.startswith("ref: "):
                repo.create_reference_symbolic(name, new[5:], True, message=message)
            else:
                repo.create_reference_direct(name, pygit2.Oid(hex=new), True, message=message)
            changed.append(name)
        return changed

    def remove(self) -> None:
        self._scratch = None
        shutil.rmtree(self.path, ignore_errors=True)


@contextlib.contextmanager
def quarantined(repo: pygit2.Repository) -> Iterator[Scratch]:
    """A scratch repository for one transfer, removed afterwards whatever happened."""
    try:
        scratch = Scratch.create(repo)
    except OSError as exc:
        raise GitError(
            f"cannot prepare the transfer in {scratch_parent(Path(repo.path))}: {exc}",
            hint="check that the repository's .git folder is writable",
        ) from None
    try:
        yield scratch
    finally:
        scratch.remove()
