"""URL redaction: the whole userinfo and every query value, with the URL parsed; and,
through the real command line against a real smart-HTTP server, that no password or token
reaches stdout, stderr, ``--format json`` or the job history's bytes."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git, run_process

from ticketflow.config import CONFIG_NAME, default_config_text
from ticketflow.redact import redact_data, redact_text, redact_url
from ticketflow.sandbox import GitHttpServer, free_port
from ticketflow.store import TicketStore


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://alice:s3cret@host/team.git", "https://***@host/team.git"),
        ("http://alice:p%40ss@127.0.0.1:8080/x.git", "http://***@127.0.0.1:8080/x.git"),
        # libgit2 gives its credential callback the decoded URL: a raw '@' in the password
        ("http://alice:p@ss@127.0.0.1:8080/x.git", "http://***@127.0.0.1:8080/x.git"),
        ("http://alice:a@b@c@host/x", "http://***@host/x"),
        ("https://token@host/x.git", "https://***@host/x.git"),
        ("ssh://git@host/y", "ssh://***@host/y"),
        ("https://host/x.git?token=SECRET", "https://host/x.git?token=***"),
        ("https://host/x.git?a=1&token=S&empty=", "https://host/x.git?a=***&token=***&empty=***"),
        ("https://host/x.git?SECRET", "https://host/x.git?***"),
        ("https://u:p@host/x.git?token=S#frag", "https://***@host/x.git?token=***#frag"),
        ("https://host/x.git?", "https://host/x.git?"),
        ("https://[::1]:8443/x.git", "https://[::1]:8443/x.git"),
        ("https://u:p@[::1]:8443/x.git", "https://***@[::1]:8443/x.git"),
        # an authority that does not parse: a decoded '/' in the password, a bad port
        ("http://alice:p/ss@host/x.git", "http://***@host/x.git"),
        ("http://alice:pass/x.git", "http://***/x.git"),
        # nothing secret in these
        ("git://127.0.0.1:9418/team.git", "git://127.0.0.1:9418/team.git"),
        ("git@github.com:team/tickets.git", "git@github.com:team/tickets.git"),
        ("/srv/git/team.git", "/srv/git/team.git"),
        ("file:///srv/git/team.git", "file:///srv/git/team.git"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_finds_every_url() -> None:
    text = (
        "see https://u:p@h/x and ssh://git@h/y; "
        "'http://alice:p@ss@127.0.0.1:9/x.git?token=SECRET' failed: refused. "
        "(mirror: https://h/m.git?sig=abc&exp=1)"
    )
    assert redact_text(text) == (
        "see https://***@h/x and ssh://***@h/y; "
        "'http://***@127.0.0.1:9/x.git?token=***' failed: refused. "
        "(mirror: https://h/m.git?sig=***&exp=***)"
    )
    assert redact_text("fetch from http://u:p@h/x.git: timed out") == (
        "fetch from http://***@h/x.git: timed out"
    )
    assert redact_text("no url here, user@host:path either") == (
        "no url here, user@host:path either"
    )


def test_redact_data_walks_json() -> None:
    data = {
        "remote": "https://u:pw@h/x.git?token=T",
        "nested": [{"m": "to http://a:b@h/"}, ("ssh://k@h/", 3)],
        "n": None,
        "count": 2,
    }
    assert redact_data(data) == {
        "remote": "https://***@h/x.git?token=***",
        "nested": [{"m": "to http://***@h/"}, ("ssh://***@h/", 3)],
        "n": None,
        "count": 2,
    }


# --- through the real command line ------------------------------------------------------------

SECRETS = ("p%40ss", "p@ss", "SECRET", "alice")


def _assert_no_secret(where: str, data: bytes | str) -> None:
    blob = data.encode() if isinstance(data, str) else data
    for secret in SECRETS:
        assert secret.encode() not in blob, f"{secret!r} leaked into {where}"


def _history_bytes(root: Path) -> bytes:
    """Every byte of the job history: the database and its write-ahead log."""
    folder = root / ".git" / "ticketflow"
    return b"".join(p.read_bytes() for p in sorted(folder.glob("jobs.sqlite*")))


@pytest.fixture
def http_client(tmp_path: Path) -> Iterator[tuple[Path, GitHttpServer]]:
    """A ticketflow clone whose origin is a real smart-HTTP server asking for alice's
    password, reached by a URL carrying the password (``p@ss``, as ``p%40ss``) and a
    ``?token=SECRET`` query."""
    served = tmp_path / "served"
    served.mkdir()
    git(served, "init", "-q", "--bare", "-b", "main", "team.git")
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "-q", str(served / "team.git"), str(seed))
    (seed / CONFIG_NAME).write_text(
        default_config_text().replace("enabled: true", "enabled: false")
        + "jobs:\n    retry:\n        attempts: 2\n        delay: 0\n"
    )
    git(seed, "add", CONFIG_NAME)
    git(seed, "commit", "-q", "-m", "init")
    git(seed, "push", "-q", "origin", "main")
    client = tmp_path / "client"
    git(tmp_path, "clone", "-q", str(served / "team.git"), str(client))
    server = GitHttpServer(served, auth=("alice", "p@ss"))
    git(
        client,
        "remote",
        "set-url",
        "origin",
        server.url("team.git", "alice:p%40ss", "token=SECRET"),
    )
    try:
        yield client, server
    finally:
        server.close()


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = run_process(root, *args)
    _assert_no_secret(f"stdout of {args}", proc.stdout)
    _assert_no_secret(f"stderr of {args}", proc.stderr)
    return proc


def test_no_secret_in_output_json_or_history_when_it_works(
    http_client: tuple[Path, GitHttpServer],
) -> None:
    client, server = http_client
    TicketStore.open(client).create("from-client")
    pushed = _run(client, "push", "-o", "json")
    assert pushed.returncode == 0, pushed.stderr
    assert json.loads(pushed.stdout)["url"] == server.url("team.git", "***", "token=***")
    pulled = _run(client, "pull", "-o", "json")
    assert pulled.returncode == 0, pulled.stderr
    assert json.loads(pulled.stdout)["fetch"]["url"] == server.url("team.git", "***", "token=***")
    synced = _run(client, "sync")  # text, progress lines on stderr (a pipe)
    assert synced.returncode == 0, synced.stderr
    for args in (("jobs",), ("jobs", "-o", "json")):
        assert _run(client, *args).returncode == 0
    _assert_no_secret("the job history", _history_bytes(client))
    assert ("POST", "/team.git/git-receive-pack") in server.requests  # it really went there


@pytest.mark.parametrize("failure", ["refused-password", "server-error", "connection-refused"])
def test_no_secret_in_errors_progress_or_history_when_it_fails(
    http_client: tuple[Path, GitHttpServer], tmp_path: Path, failure: str
) -> None:
    client, server = http_client
    if failure == "refused-password":  # libgit2 tries the URL's password, then asks us
        other = GitHttpServer(server.base, auth=("alice", "another"))
    elif failure == "server-error":
        other = GitHttpServer(server.base, fail=500)
    else:
        other = None
    port = other.port if other else free_port()
    url = f"http://alice:p%40ss@127.0.0.1:{port}/team.git?token=SECRET"
    git(client, "remote", "set-url", "origin", url)
    try:
        for fmt in ("text", "json"):
            for command in ("pull", "push", "sync"):
                proc = _run(client, command, "-o", fmt)
                assert proc.returncode == 9, (command, fmt, proc.stdout, proc.stderr)
                shown = (
                    proc.stderr if fmt == "text" else json.loads(proc.stderr)["error"]["message"]
                )
                assert f"http://***@127.0.0.1:{port}/team.git?token=***" in shown, shown
        listed = _run(client, "jobs", "-o", "json")
        errors = [j["error"]["message"] for j in json.loads(listed.stdout)["jobs"] if j["error"]]
        assert errors and all("***" in m or "dependency" in m for m in errors), errors
        _run(client, "jobs")
        _assert_no_secret("the job history", _history_bytes(client))
    finally:
        if other is not None:
            other.close()


def test_a_remote_given_as_a_url_is_redacted_in_errors_and_history(
    http_client: tuple[Path, GitHttpServer],
) -> None:
    client, server = http_client
    url = server.url("team.git", "alice:p%40ss", "token=SECRET")
    for fmt in ("text", "json"):
        proc = _run(client, "pull", "--remote", url, "-o", fmt)
        assert proc.returncode == 9
        assert "no remote named 'http://***@127.0.0.1:" in proc.stderr
    history = json.loads(_run(client, "jobs", "-o", "json").stdout)["jobs"]
    assert history[0]["arguments"]["remote"] == server.url("team.git", "***", "token=***")
    _assert_no_secret("the job history", _history_bytes(client))
