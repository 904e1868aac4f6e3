"""The Textual face of ticketflow. Only this package (and cli/progress.py, for rich) may import
textual or rich."""
