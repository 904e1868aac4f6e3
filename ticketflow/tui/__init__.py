"""The Textual face of ticketflow. Only this package (and cli/sync.py, for rich) may import
textual or rich."""
