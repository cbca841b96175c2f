"""Backends: the /proc collector, local and SSH sources, cloud providers, storage. No Textual."""
