"""Key bindings more than one screen offers: pull, push and sync run in the background from
wherever the user is (the list, a ticket's detail, the board, the jobs screen), so each
screen lists these and the app carries the actions (``TicketflowApp.action_pull``...)."""

from __future__ import annotations

from textual.binding import Binding

NETWORK_KEYS = (
    Binding("p", "app.pull", "Pull", priority=True),
    Binding("P", "app.push", "Push", priority=True),
    Binding("S", "app.sync", "Sync", priority=True),
)
