"""The error family as data: every class round-trips through ``to_dict(transport=True)``
and ``TicketflowError.from_dict`` as an instance of itself, also across the real child
process of ``ticketflow.isolated``; the CLI's JSON shape stays the one scripts read."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Team, edit_ticket

import ticketflow.cli.progress
import ticketflow.jobs.errors as job_errors
from ticketflow import errors
from ticketflow.cancel import CancelToken
from ticketflow.errors import TicketflowError
from ticketflow.git.transport import push
from ticketflow.isolated import run_isolated
from ticketflow.jobs import ISOLATED, JobQueue
from ticketflow.jobs.git import pull_job, push_job
from ticketflow.merge import FieldConflict

SAMPLES: dict[str, Callable[[], TicketflowError]] = {
    "TicketflowError": lambda: TicketflowError("broke", hint="h", remedy="pull", error_code="X"),
    "UsageError": lambda: errors.UsageError("bad value", hint="try -h"),
    "InvalidSlugError": lambda: errors.InvalidSlugError("Bad Slug"),
    "ConflictError": lambda: errors.ConflictError("both", error_code="GIT_DIRTY_WORKSPACE"),
    "NotFoundError": lambda: errors.NotFoundError("2501"),
    "AmbiguousIdError": lambda: errors.AmbiguousIdError("25", [f"2501-{i}" for i in range(12)]),
    "TicketVanishedError": lambda: errors.TicketVanishedError("tickets/todo/x.md"),
    "BranchNamesNoTicketError": lambda: errors.BranchNamesNoTicketError("detached", "switch"),
    "DuplicateTicketError": lambda: errors.DuplicateTicketError("t1", ["a/t1.md", "b/t1.md"]),
    "NotARepoError": lambda: errors.NotARepoError("not here", hint="init"),
    "MalformedTicketError": lambda: errors.MalformedTicketError(
        "t.md", 4, "bad yaml", code="invalid-yaml"
    ),
    "UnsafePathError": lambda: errors.UnsafePathError("t.md", None, "a link", code="symlink"),
    "ConfigError": lambda: errors.ConfigError("bad config"),
    "InvalidTransitionError": lambda: errors.InvalidTransitionError("not done", hint="close"),
    "LockBusyError": lambda: errors.LockBusyError("busy"),
    "GitError": lambda: errors.GitError("git said no", hint="run git"),
    "NetworkError": lambda: errors.NetworkError("timed out", hint="later"),
    "TransferStalledError": lambda: errors.TransferStalledError("fetch from x", 10, 1000, 30),
    "CancelledError": lambda: errors.CancelledError("fetch cancelled", partial="3/9 objects"),
    "EditConflictError": lambda: errors.EditConflictError("t1", ["priority"], "kept/t1.md"),
    "EditorError": lambda: errors.EditorError("no editor"),
    "UncommittedChangesError": lambda: errors.UncommittedChangesError(
        "t1", "/w/t1", [f"f{i}" for i in range(7)], outcome="kept", hint="commit"
    ),
    "MergeConflictError": lambda: errors.MergeConflictError(
        conflicts=(FieldConflict("t1", "priority", 3, 1), FieldConflict("t1", "related", (), ["a"]))
    ),
    "PushRejectedError": lambda: errors.PushRejectedError("refused", hint="pull"),
    "TicketClaimedError": lambda: errors.TicketClaimedError(
        "261204-010203-shared",
        "started",
        "Ana",
        "2026-12-04T01:02:03Z",
        "4 minutes ago",
        "origin",
        "0123abcd",
    ),
    "UnknownJobError": lambda: job_errors.UnknownJobError(7),
    "QueueClosedError": lambda: job_errors.QueueClosedError("closed"),
    "JobFailedError": lambda: job_errors.JobFailedError(3, "scan", ZeroDivisionError("zero")),
    "_Terminated": lambda: ticketflow.cli.progress._Terminated("pull cancelled", partial="1/2"),
}


def _facts(error: TicketflowError) -> tuple[object, ...]:
    return (
        error.message,
        error.hint,
        error.remedy,
        error.error_code,
        error.exit_code,
        error.transient,
        error.kind,
        error.details(),
        str(error),
    )


def test_every_registered_class_has_a_sample() -> None:
    assert sorted(TicketflowError.registry) == sorted(SAMPLES)


@pytest.mark.parametrize("name", sorted(errors.REGISTRY))
def test_every_class_round_trips_as_itself(name: str) -> None:
    sent = SAMPLES[name]()
    assert type(sent) is errors.REGISTRY[name]
    wire = json.loads(json.dumps(sent.to_dict(transport=True)))  # what crosses a pipe
    back = TicketflowError.from_dict(wire)
    assert type(back) is type(sent)
    assert _facts(back) == _facts(sent)
    assert back.to_dict() == sent.to_dict()
    assert back.to_dict(transport=True) == wire


def test_the_cli_shape_has_no_transport_fields() -> None:
    error = errors.CancelledError("pull cancelled", partial="1/2 objects")
    assert error.to_dict() == {
        "error": {
            "code": "CANCELLED",
            "type": "cancelled",
            "message": "pull cancelled after 1/2 objects",
            "partial": "1/2 objects",
        }
    }


def test_a_class_unknown_to_the_reader_becomes_its_nearest_known_ancestor() -> None:
    wire = errors.NetworkError("timed out").to_dict(transport=True)
    wire["class"] = "SomeoneElsesNetworkError"
    back = TicketflowError.from_dict(wire)
    assert type(back) is errors.NetworkError and back.transient


def test_two_classes_of_one_name_are_refused() -> None:
    with pytest.raises(TypeError, match="two error classes named GitError"):
        type("GitError", (TicketflowError,), {})


def test_an_error_of_the_real_child_process_comes_back_as_its_class(tmp_path: Path) -> None:
    with pytest.raises(TicketflowError) as caught:
        run_isolated("scan", tmp_path, lambda c, t, m: None, CancelToken())
    assert type(caught.value) is errors.NotARepoError


async def test_a_conflict_and_a_rejection_in_the_child_are_their_classes(team: Team) -> None:
    alice, bob = team.store(team.alice), team.store(team.bob)
    edit_ticket(bob, "shared", priority=1)
    push(team.bob, bob.config)
    edit_ticket(alice, "shared", priority=3)
    async with JobQueue.for_repo(team.alice, runner=ISOLATED) as queue:
        with pytest.raises(TicketflowError) as conflict:
            await queue.wait(queue.submit(pull_job(team.alice, alice.config)))
        with pytest.raises(TicketflowError) as rejected:
            await queue.wait(queue.submit(push_job(team.alice, alice.config)))
    assert type(conflict.value) is errors.MergeConflictError
    assert conflict.value.conflicts == (FieldConflict(team.ticket.id, "priority", 3, 1),)
    assert type(rejected.value) is errors.PushRejectedError


def test_a_rebuilt_error_round_trips_again_when_its_reader_knew_less() -> None:
    """An error rebuilt as an ancestor keeps the kind, codes and attributes it was sent
    with and sends them on; its details are the ancestor's (here: none)."""
    wire = errors.TransferStalledError("fetch from x", 1, 10, 30).to_dict(transport=True)
    wire["class"] = "NotHere"
    wire["classes"] = ["NotHere", "GitError"]
    back = TicketflowError.from_dict(wire)
    assert type(back) is errors.GitError
    assert (back.kind, back.error_code, back.transient) == ("network", "NETWORK_ERROR", True)
    again = back.to_dict(transport=True)
    assert again["state"] == wire["state"]
    sent = wire["error"]
    assert isinstance(sent, dict)
    assert again["error"] == {k: v for k, v in sent.items() if k != "stalled"}
