"""sickbay: a terminal console for responding to a compromised Linux cloud server."""

__version__ = "0.1.0"
