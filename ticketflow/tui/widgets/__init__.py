"""Widgets of the ticketflow TUI."""
