"""Credentials for a transfer: the ssh agent, ssh key files, the environment's token,
git's credential helper, tried in turn as libgit2 asks again after each rejection.

Apart from the transport so that where a secret comes from is read in one place.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pygit2

from ticketflow.errors import (
    GitError,
)
from ticketflow.redact import redact_url


def _ssh_key_files() -> list[tuple[Path, Path]]:
    ssh = Path.home() / ".ssh"
    pairs = []
    for name in ("id_ed25519", "id_ecdsa", "id_rsa"):
        private = ssh / name
        public = ssh / f"{name}.pub"
        if private.is_file() and public.is_file():
            pairs.append((public, private))
    return pairs


def git_credential_fill(url: str) -> tuple[str, str] | None:
    """Ask git's configured credential helper for ``url`` (``git credential fill``)."""
    parsed = urlsplit(url)
    request = f"protocol={parsed.scheme}\nhost={parsed.hostname or ''}"
    if parsed.port:
        request += f":{parsed.port}"
    request += f"\npath={parsed.path.lstrip('/')}\n\n"
    try:
        proc = subprocess.run(
            ["git", "credential", "fill"],
            input=request,
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    if "username" in values and "password" in values:
        return values["username"], values["password"]
    return None


def credentials_for(
    url: str,
    username_from_url: str | None,
    allowed: pygit2.enums.CredentialType,
    attempt: int,
) -> pygit2.credentials.Username | pygit2.credentials.UserPass | pygit2.credentials.Keypair:
    """Credentials for ``url``: libgit2 asks again after each rejection, so ``attempt``
    walks through the sources (ssh agent, then key files; environment, then git's
    credential helper) and stops with a permanent error when they are used up."""
    from pygit2.enums import CredentialType

    if allowed & CredentialType.SSH_KEY:
        user = username_from_url or "git"
        sources: list[pygit2.credentials.Keypair] = []
        if os.environ.get("SSH_AUTH_SOCK"):
            sources.append(pygit2.KeypairFromAgent(user))
        passphrase = os.environ.get("TICKETFLOW_SSH_PASSPHRASE", "")
        sources += [
            pygit2.Keypair(user, str(pub), str(priv), passphrase) for pub, priv in _ssh_key_files()
        ]
        if attempt <= len(sources):
            return sources[attempt - 1]
        raise GitError(
            f"ssh authentication to {redact_url(url)} failed",
            hint="load your key into ssh-agent (ssh-add) or put it in ~/.ssh/id_ed25519",
        )
    if allowed & CredentialType.USERPASS_PLAINTEXT:
        env_user = os.environ.get("TICKETFLOW_GIT_USERNAME") or username_from_url
        env_token = os.environ.get("TICKETFLOW_GIT_TOKEN")
        candidates: list[tuple[str, str]] = []
        if env_user and env_token:
            candidates.append((env_user, env_token))
        if attempt > len(candidates) and attempt == len(candidates) + 1:
            filled = git_credential_fill(url)
            if filled is not None:
                return pygit2.UserPass(*filled)
        elif attempt <= len(candidates):
            return pygit2.UserPass(*candidates[attempt - 1])
        raise GitError(
            f"authentication to {redact_url(url)} failed",
            hint="set TICKETFLOW_GIT_USERNAME and TICKETFLOW_GIT_TOKEN, or configure a git "
            "credential helper",
        )
    if allowed & CredentialType.USERNAME:
        return pygit2.Username(username_from_url or "git")
    raise GitError(f"{redact_url(url)} asks for an authentication ticketflow cannot provide")
