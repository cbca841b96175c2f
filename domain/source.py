"""The source interface: something that produces host snapshots.

The local source (``backends.local``) is the first implementation; the SSH source implements the
same protocol. The UI only ever sees this interface, never a backend module.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol, runtime_checkable

from domain.facts import HostFacts
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


@runtime_checkable
class SlowSource(Protocol):
    """A source whose samples are costly (the cloud agent: seconds and API calls each): it is
    sampled at most every ``min_interval`` seconds, whatever the console's interval."""

    min_interval: float


@runtime_checkable
class FactsSource(Protocol):
    """A source that can also read the host's slower-changing facts (accounts, persistence files,
    kernel state). Gathered on connect and on request, not every sample."""

    async def facts(
        self, probe_paths: tuple[str, ...], exe_probes: tuple[tuple[int, str], ...]
    ) -> HostFacts:
        """Read the host facts; ``probe_paths`` and ``exe_probes`` come from the detector."""
        ...


@runtime_checkable
class HostKeyTrust(Protocol):
    """A source that can be told to trust an unknown host key, by an explicit operator decision
    about the exact fingerprint it showed (SSH). A changed key can never be accepted."""

    def accept_host_key(self, fingerprint: str, *, record: bool = True) -> None:
        """Trust the pending key with this fingerprint; ``record``: add it to known_hosts."""
        ...

    def retry_now(self) -> None:
        """Forget any backoff: the next sample connects."""
        ...


@runtime_checkable
class PassphraseInput(Protocol):
    """A source whose client key may be encrypted: it waits, without retrying, until it is
    given the passphrase for the key it names."""

    def passphrase_request(self) -> tuple[Path, bool] | None:
        """(the encrypted key's path, whether the last passphrase given was wrong), or None."""
        ...

    def provide_passphrase(self, key_path: Path, passphrase: str) -> None: ...


async def sample_with_rates(source: Source, rate_window: float) -> HostSnapshot:
    """One snapshot for headless commands. Rates and %CPU need two samples, so with
    ``rate_window`` > 0 a second is taken that many seconds after the first. The caller closes
    the source."""
    snapshot = await source.sample()
    if rate_window > 0:
        await asyncio.sleep(rate_window)
        snapshot = await source.sample()
    return snapshot
