"""The source interface: something that produces host snapshots.

The local source (``backends.local``) is the first implementation; the SSH source implements the
same protocol. The UI only ever sees this interface, never a backend module.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from domain.model import HostSnapshot


@runtime_checkable
class Source(Protocol):
    """Produces snapshots of one host."""

    @property
    def name(self) -> str:
        """The display name of the host this source watches."""
        ...

    async def sample(self) -> HostSnapshot:
        """Take one sample. May raise :class:`SourceError` when the host cannot be read."""
        ...

    async def close(self) -> None:
        """Release whatever the source holds (threads, connections)."""
        ...


class SourceError(Exception):
    """The source could not produce a snapshot at all (partial failures go in ``errors``)."""
