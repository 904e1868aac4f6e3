"""Screens of the ticketflow TUI."""
