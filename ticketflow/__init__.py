"""ticketflow: tickets as Markdown files in git, from the keyboard."""

from __future__ import annotations

__version__ = "0.1.0"
