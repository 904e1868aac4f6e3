"""The Textual face of ticketflow. Only this package (and cli.py) may import textual or rich."""
