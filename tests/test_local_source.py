"""The local source (the /proc collector in a thread) and its psutil fallback, on this machine."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.collector import Collector
from backends.local import LocalSource, local_source
from backends.psutil_source import PsutilCollector, PsutilSource
from domain.model import HostSnapshot
from domain.source import Source
from tests.test_collector import Child

LINUX = Path("/proc/self/stat").exists()


@pytest.fixture
def child() -> Iterator[Child]:
    """A real child process holding sockets on request; killed at the end of the test."""
    process = Child(None)
    try:
        process.ask("udp")  # started, and now idle (blocked reading its stdin)
        yield process
    finally:
        process.kill()


def test_local_source_is_a_source_named_after_the_host() -> None:
    source = local_source()
    assert isinstance(source, Source)
    assert source.name == socket.gethostname()
    assert LocalSource("prod-db-2").name == "prod-db-2"
    assert isinstance(PsutilSource(), Source)


@pytest.mark.skipif(not LINUX, reason="needs Linux /proc")
async def test_local_source_reads_proc_and_reports_rates_from_the_second_sample(
    child: Child,
) -> None:
    port = int(child.ask("listen"))
    source = LocalSource("here")
    assert source.source == "proc"
    try:
        first = await source.sample()
        await asyncio.sleep(0.1)
        second = await source.sample()
    finally:
        await source.close()
    assert isinstance(second, HostSnapshot) and second.source == "proc" and second.host == "here"
    assert first.metrics.cpu_total is None and second.metrics.cpu_total is not None
    assert second.collector_cpu_ms is not None and second.collector_cpu_ms > 0
    me = second.process_by_pid()[os.getpid()]
    assert me.exe == os.path.realpath(sys.executable) and me.cpu_percent is not None
    listening = [s for s in second.sockets if s.local_port == port and s.listening]
    assert [(s.pid, s.state) for s in listening] == [(child.pid, "LISTEN")]


async def test_psutil_fallback_produces_the_same_kind_of_snapshot(child: Child) -> None:
    port = int(child.ask("listen"))
    source = LocalSource(use_proc=False)
    assert source.source == "psutil"
    first = await source.sample()
    await asyncio.sleep(0.1)
    second = await source.sample()
    await source.close()
    assert second.source == "psutil" and first.metrics.cpu_total is None
    assert second.metrics.cpu_total is not None and 0 <= second.metrics.cpu_total <= 100
    assert second.metrics.mem_total > 0 and second.metrics.uptime_s > 0
    me = second.process_by_pid()[os.getpid()]
    assert me.cpu_percent is not None and me.cmdline and me.user
    assert not [e for e in second.errors if e.what in ("process entry", "socket entry")]
    if sys.platform.startswith("linux") and os.geteuid() == 0:  # elsewhere sockets need root
        listening = [s for s in second.sockets if s.local_port == port and s.state == "LISTEN"]
        assert [s.pid for s in listening] == [child.pid]


@pytest.mark.skipif(not LINUX, reason="compares with the /proc collector")
def test_psutil_and_proc_agree_on_a_child(child: Child) -> None:
    # The two read at different instants: an idle child is briefly runnable now and then (a
    # loaded machine schedules it late), so the state is compared on a few tries.
    for _ in range(5):
        proc = {p["pid"]: p for p in Collector().sample()["processes"]}[child.pid]
        ps = {p["pid"]: p for p in PsutilCollector().sample()["processes"]}[child.pid]
        if proc["state"] == ps["state"]:
            break
    for key in ("ppid", "name", "state", "uid", "exe", "cmdline", "cwd", "threads", "tty_nr"):
        assert proc[key] == ps[key], key
    assert abs(proc["start_time"] - ps["start_time"]) < 0.05


async def test_overlapping_samples_are_serialised() -> None:
    source = LocalSource()
    snapshots = await asyncio.gather(*(source.sample() for _ in range(4)))
    assert len(snapshots) == 4
    assert all(s.processes and s.source == "proc" for s in snapshots if LINUX)
    assert len({s.taken_at for s in snapshots}) == 4


@pytest.mark.skipif(not LINUX, reason="needs Linux /proc")
async def test_close_releases_the_files_kept_open() -> None:
    before = len(os.listdir("/proc/self/fd"))
    source = LocalSource()
    await source.sample()
    during = len(os.listdir("/proc/self/fd"))
    await source.close()
    after = len(os.listdir("/proc/self/fd"))
    assert during - before > 10  # /proc/PID/stat of every process, kept for the next sample
    assert after - before < 3
    assert (await source.sample()).processes  # still usable: it opens them again
    await source.close()
