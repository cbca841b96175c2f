"""Textual widgets. They show host data only through ``widgets.safe``."""
