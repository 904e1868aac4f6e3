"""``python -m ticketflow``: the same entry point as the ``ticketflow`` command."""

from __future__ import annotations

from ticketflow.cli import main

main()
