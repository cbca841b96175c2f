"""The local source: this machine, read by the /proc collector (psutil where there is no /proc)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backends.collector import Collector
from backends.decode import Decoder
from backends.facts import gather_facts
from backends.facts_decode import decode_facts
from domain.facts import HostFacts
from domain.model import HostSnapshot
from domain.source import sample_with_rates


class ThreadedSource:
    """A :class:`domain.source.Source` that runs a blocking sampler in a worker thread and
    decodes its samples. Samples never overlap: a sample still running in its thread (say, after
    the caller was cancelled) makes the next one wait."""

    def __init__(
        self,
        take: Callable[[], Any],
        source: str,
        name: str | None = None,
        release: Callable[[], None] | None = None,
    ) -> None:
        self._take = take
        self._release = release
        self._source = source
        self._name = name or socket.gethostname()
        self._decoder = Decoder()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def source(self) -> str:
        """What reads the host: "proc" (the collector) or "psutil"."""
        return self._source

    def _sample(self) -> HostSnapshot:
        with self._lock:
            return self._decoder.decode(self._take(), self._name, self._source)

    async def sample(self) -> HostSnapshot:
        return await asyncio.to_thread(self._sample)

    def _close(self) -> None:
        with self._lock:  # not while a sample is running in its thread
            if self._release is not None:
                self._release()

    async def close(self) -> None:
        await asyncio.to_thread(self._close)


class LocalSource(ThreadedSource):
    """This machine. ``use_proc``: read /proc with the collector (default: when /proc exists)."""

    def __init__(self, name: str | None = None, *, use_proc: bool | None = None) -> None:
        if use_proc is None:
            use_proc = Path("/proc/self/stat").exists()
        if use_proc:
            collector = Collector()  # keeps /proc/PID/stat files open: close() closes them
            super().__init__(collector.sample, "proc", name, collector.close)
        else:
            from backends.psutil_source import PsutilCollector  # noqa: PLC0415 (psutil is slow to import)

            super().__init__(PsutilCollector().sample, "psutil", name)

    def _facts(
        self, probe_paths: tuple[str, ...], exe_probes: tuple[tuple[int, str], ...]
    ) -> HostFacts:
        raw = gather_facts("/", "/proc", probe_paths=probe_paths, exe_probes=exe_probes)
        return decode_facts(raw, self.name)

    async def facts(
        self, probe_paths: tuple[str, ...], exe_probes: tuple[tuple[int, str], ...]
    ) -> HostFacts:
        """This machine's host facts, read in a thread (files only, nothing is run)."""
        return await asyncio.to_thread(self._facts, probe_paths, exe_probes)


def local_source(name: str | None = None) -> LocalSource:
    """The source for this machine."""
    return LocalSource(name)


async def sample_local(rate_window: float, name: str | None = None) -> HostSnapshot:
    """This machine, sampled twice ``rate_window`` apart (see domain.source.sample_with_rates)."""
    source = local_source(name)
    try:
        return await sample_with_rates(source, rate_window)
    finally:
        await source.close()
