"""The local side of git: open the repository, who commits, commit exactly the paths
ticketflow changed, which branch is checked out and what its upstream is.

Commits here touch only the paths ticketflow changed: the new tree is HEAD's tree plus those
paths, so whatever else the user has staged stays staged and is not swept into a ticket
commit. The same paths are updated in the real index so ``git status`` stays clean for them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pygit2

from ticketflow.errors import (
    GitError,
)


@dataclass(frozen=True)
class PathChange:
    """A path (relative, ``/``-separated) that now exists in the work tree, or was removed."""

    path: str
    removed: bool = False


def open_repo(root: Path) -> pygit2.Repository:
    try:
        return pygit2.Repository(str(root))
    except pygit2.GitError as exc:
        raise GitError(
            f"cannot open the git repository at {root}: {exc}",
            hint="run 'git status' there to see what git thinks",
        ) from None


def signature(repo: pygit2.Repository) -> pygit2.Signature:
    """Author/committer from GIT_AUTHOR_* / GIT_COMMITTER_* first, then git config."""
    name = os.environ.get("GIT_AUTHOR_NAME") or os.environ.get("GIT_COMMITTER_NAME")
    email = os.environ.get("GIT_AUTHOR_EMAIL") or os.environ.get("GIT_COMMITTER_EMAIL")
    if name and email:
        return pygit2.Signature(name, email)
    try:
        default = repo.default_signature
    except (KeyError, pygit2.GitError):
        raise GitError(
            "git does not know who you are (user.name and user.email are not set)",
            hint='run: git config --global user.name "Your Name" && '
            "git config --global user.email you@example.com",
        ) from None
    return pygit2.Signature(name or default.name, email or default.email)


def commit_paths(root: Path, changes: Iterable[PathChange], message: str) -> str | None:
    """Commit exactly ``changes`` on top of HEAD; return the new commit id, or None if the
    tree did not change. Works on an unborn branch (the first commit of a new repository).
    """
    return commit_in(open_repo(root), changes, message)


def commit_in(repo: pygit2.Repository, changes: Iterable[PathChange], message: str) -> str | None:
    """``commit_paths`` in a repository already open (a pull's, which goes on using it)."""
    changes = list(changes)
    try:
        index = repo.index
        index.read()
        for change in changes:
            if change.removed:
                if change.path in index:
                    index.remove(change.path)
            else:
                index.add(change.path)
        index.write()

        if repo.head_is_unborn:
            parents: list[pygit2.Oid] = []
            base = pygit2.Index()
            base_tree_id: pygit2.Oid | None = None
        else:
            head = repo.head.peel(pygit2.Commit)
            parents = [head.id]
            base = pygit2.Index()
            base.read_tree(head.tree)
            base_tree_id = head.tree.id
        for change in changes:
            if change.removed:
                if change.path in base:
                    base.remove(change.path)
            else:
                base.add(index[change.path])
        tree_id = base.write_tree(repo)
        if tree_id == base_tree_id:
            return None
        sig = signature(repo)
        oid = repo.create_commit("HEAD", sig, sig, message, tree_id, parents)
        return str(oid)
    except pygit2.GitError as exc:
        raise GitError(
            f"git commit failed: {exc}",
            hint="the ticket file was written; commit it by hand with git once git is fixed",
        ) from None


def current_branch(root: Path) -> str | None:
    repo = open_repo(root)
    if repo.head_is_detached:
        return None
    try:
        return repo.head.shorthand
    except pygit2.GitError:
        # unborn branch: HEAD names a branch that has no commit yet
        ref = repo.references.get("HEAD")
        target = ref.target if ref is not None else None
        return str(target).removeprefix("refs/heads/") if isinstance(target, str) else None


def branch_name(repo: pygit2.Repository) -> str | None:
    if repo.head_is_detached:
        return None
    ref = repo.references.get("HEAD")
    target = ref.target if ref is not None else None
    if isinstance(target, str) and target.startswith("refs/heads/"):
        return target.removeprefix("refs/heads/")
    return None


def upstream(repo: pygit2.Repository, default_branch: str = "main") -> tuple[str, str]:
    """(remote name, remote branch) for the current branch: its configured upstream, else
    the branch of the same name on ``origin`` (so the default branch maps to
    ``origin/<git.default_branch>`` and a ticket branch never lands on main)."""
    branch = branch_name(repo)
    if branch is None:
        return "origin", default_branch
    config = repo.config
    remote_key = f"branch.{branch}.remote"
    merge_key = f"branch.{branch}.merge"
    if remote_key in config and merge_key in config:
        return str(config[remote_key]), str(config[merge_key]).removeprefix("refs/heads/")
    return "origin", branch
