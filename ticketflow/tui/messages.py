"""Messages the TUI passes around: small dataclasses, frequent ones replace each other."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from ticketflow.model import Ticket


@dataclass
class TicketHighlighted(Message):
    """The cursor moved onto a ticket (None: the list is empty)."""

    ticket: Ticket | None


@dataclass
class TicketChosen(Message):
    """Enter on a ticket: open its detail."""

    ticket: Ticket


@dataclass
class TicketsChanged(Message):
    """Files changed (an edit, a pull, a scan): reload the lists."""

    reason: str = ""
