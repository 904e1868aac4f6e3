"""``python -m ticketflow``: the same entry point as the ``ticketflow`` command."""

from __future__ import annotations

from ticketflow.cli import main

if __name__ == "__main__":  # a process-pool worker re-imports this module as __mp_main__
    main()
