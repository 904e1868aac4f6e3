"""Messages the TUI passes around: small dataclasses, frequent ones replace each other."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from ticketflow.index import Summary
from ticketflow.jobs.progress import JobProgress


@dataclass
class TicketHighlighted(Message):
    """The cursor moved onto a ticket (None: the list is empty)."""

    ticket: Summary | None


@dataclass
class TicketChosen(Message):
    """Enter on a ticket: open its detail."""

    ticket: Summary


@dataclass
class JobUpdate(Message):
    """A job's progress from the queue. A newer update of the same job replaces an older
    one still waiting in the message queue, unless that one is a terminal state."""

    progress: JobProgress

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, JobUpdate)
            and message.progress.job_id == self.progress.job_id
            and not message.progress.is_terminal
        )
