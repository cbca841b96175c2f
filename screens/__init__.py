"""Textual screens. They talk to sources through the domain interface, never to the network."""
