"""What a job runs, by name: the one table from a work's kind to the core call behind it.

A job says *what* to do (a ``Work``: its kind, the store, JSON-able options); a runner
(``jobs.runners``) decides *how*: in this process, or in a child process that runs the very
same entry of this table (``ticketflow.isolated``) and sends the result back as JSON, which
``decode`` turns into the same value. So the in-process and the isolated way cannot drift
apart, and a new kind of work is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ticketflow.cancel import CancelToken, ProgressCallback
from ticketflow.errors import UsageError
from ticketflow.jobs import actions
from ticketflow.store import TicketStore

if TYPE_CHECKING:
    from ticketflow.git.transfer import TransferWatch


@dataclass(frozen=True, slots=True)
class Work:
    """One piece of work, described: ``kind`` names its entry in ``KINDS``; ``options`` are
    JSON values (they cross to a child process on its command line)."""

    kind: str
    store: TicketStore
    options: Mapping[str, Any] = field(default_factory=dict)


class Call(Protocol):
    def __call__(
        self,
        store: TicketStore,
        options: Mapping[str, Any],
        *,
        progress: ProgressCallback,
        cancel: CancelToken,
        watch: TransferWatch | None,
    ) -> Any: ...


@dataclass(frozen=True, slots=True)
class WorkKind:
    """How one kind of work is done (``call``) and how its JSON result is read (``decode``).

    ``watch``: the transfer's ``TransferWatch``, given by the isolated child (which enforces
    the low-speed rule and abandons a transfer from it); None in this process.
    """

    call: Call
    decode: Callable[[dict[str, Any]], object]


def _scan(
    store: TicketStore,
    options: Mapping[str, Any],
    *,
    progress: ProgressCallback,
    cancel: CancelToken,
    watch: TransferWatch | None,
) -> Any:
    from ticketflow.index import TicketIndex

    return TicketIndex.open(store).scan(progress=progress, cancel=cancel)


def _pull(
    store: TicketStore,
    options: Mapping[str, Any],
    *,
    progress: ProgressCallback,
    cancel: CancelToken,
    watch: TransferWatch | None,
) -> Any:
    from ticketflow.git.pull import pull

    return pull(
        store.root,
        store.config,
        remote_name=options.get("remote"),
        strategy=options.get("strategy"),
        progress=progress,
        cancel=cancel,
        watch=watch,
    )


def _fetch(
    store: TicketStore,
    options: Mapping[str, Any],
    *,
    progress: ProgressCallback,
    cancel: CancelToken,
    watch: TransferWatch | None,
) -> Any:
    from ticketflow.git.fetchreport import fetch_report

    return fetch_report(
        store.root,
        store.config,
        remote_name=options.get("remote"),
        progress=progress,
        cancel=cancel,
        watch=watch,
    )


def _push(
    store: TicketStore,
    options: Mapping[str, Any],
    *,
    progress: ProgressCallback,
    cancel: CancelToken,
    watch: TransferWatch | None,
) -> Any:
    from ticketflow.git.transport import push

    return push(
        store.root,
        store.config,
        remote_name=options.get("remote"),
        progress=progress,
        cancel=cancel,
        watch=watch,
    )


def _action(do: Callable[[TicketStore, Mapping[str, Any]], actions.ActionResult]) -> Call:
    """A ticket action: instant for a progress bar, and not cancellable half-way (the
    store's lock and its commit are one step), so it takes neither."""

    def call(
        store: TicketStore,
        options: Mapping[str, Any],
        *,
        progress: ProgressCallback,
        cancel: CancelToken,
        watch: TransferWatch | None,
    ) -> Any:
        return do(store, options)

    return call


def _decode_scan(data: dict[str, Any]) -> object:
    from ticketflow.index import ScanResult

    return ScanResult.from_json(data)


def _decode_pull(data: dict[str, Any]) -> object:
    from ticketflow.git.results import PullResult

    return PullResult.from_json(data)


def _decode_fetch(data: dict[str, Any]) -> object:
    from ticketflow.git.results import FetchReport

    return FetchReport.from_json(data)


def _decode_push(data: dict[str, Any]) -> object:
    from ticketflow.git.results import PushResult

    return PushResult.from_json(data)


KINDS: dict[str, WorkKind] = {
    "scan": WorkKind(_scan, _decode_scan),
    "pull": WorkKind(_pull, _decode_pull),
    "push": WorkKind(_push, _decode_push),
    "fetch": WorkKind(_fetch, _decode_fetch),
    "new": WorkKind(_action(actions.create), actions.ActionResult.from_json),
    "start": WorkKind(_action(actions.start), actions.ActionResult.from_json),
    "close": WorkKind(_action(actions.close), actions.ActionResult.from_json),
    "reopen": WorkKind(_action(actions.reopen), actions.ActionResult.from_json),
}


def kind_of(name: str) -> WorkKind:
    try:
        return KINDS[name]
    except KeyError:
        raise UsageError(f"unknown isolated job kind: {name}") from None
