"""A deterministic source for UI tests: synthetic snapshots built from real model objects.

Behaviour against the real machine is covered with the real local source; this one exists so
layout and snapshot tests see the same rows every run.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from domain.model import HostMetrics, HostSnapshot, Process, Socket

T0 = 1_790_000_000.0  # a fixed clock for snapshots


def metrics(step: int = 0) -> HostMetrics:
    return HostMetrics(
        cpu_count=2,
        cpu_total=None if step == 0 else 40.0 + 10 * (step % 5),
        cpu_iowait=None if step == 0 else 1.5,
        cpu_steal=None if step == 0 else 0.2,
        load1=1.5 + step * 0.1,
        load5=1.2,
        load15=0.9,
        mem_total=8 * 2**30,
        mem_available=5 * 2**30,
        swap_total=0,
        swap_free=0,
        disk_latency_ms=None if step == 0 else 2.5 + step,
        disk_iops=None if step == 0 else 120.0,
        net_rx_bytes_s=None if step == 0 else 20_000.0 * step,
        net_tx_bytes_s=None if step == 0 else 5_000.0,
        net_rx_packets_s=None if step == 0 else 300.0,
        net_tx_packets_s=None if step == 0 else 200.0,
        shm_used=4096 * step,
        shm_total=4 * 2**30,
        uptime_s=86400 * 3 + 3600,
    )


def process(pid: int, name: str, cpu: float | None = 1.0, **kw: object) -> Process:
    base = Process(
        pid=pid,
        ppid=1,
        name=name,
        state="S",
        uid=0,
        user="root",
        cpu_percent=cpu,
        rss=10 * 2**20,
        start_time=T0 - 3600,
        exe=f"/usr/bin/{name}",
        exe_deleted=False,
        exe_memfd=False,
        cmdline=(f"/usr/bin/{name}", "--flag"),
        cwd="/",
        kernel_thread=False,
        threads=1,
        tty_nr=0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def socket_row(port: int, pid: int, process_name: str, **kw: object) -> Socket:
    base = Socket(
        proto="tcp",
        local_addr="0.0.0.0",
        local_port=port,
        remote_addr="0.0.0.0",
        remote_port=0,
        state="LISTEN",
        inode=10_000 + port,
        uid=0,
        pid=pid,
        process=process_name,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def snapshot(
    step: int = 0, host: str = "fake-host", extra: tuple[Process, ...] = ()
) -> HostSnapshot:
    procs = (
        process(1, "systemd", 0.1, cmdline=("/sbin/init",)),
        process(2, "kthreadd", 0.0, ppid=0, exe="", cmdline=(), kernel_thread=True),
        process(812, "sshd", 0.0, cmdline=("sshd: /usr/sbin/sshd -D",)),
        process(
            1337,
            "kdevtmpfsi",
            97.0 if step else None,
            exe="/tmp/kdevtmpfsi",
            exe_deleted=True,
            user="www-data",
            uid=33,
            cmdline=("/tmp/kdevtmpfsi",),
        ),
        process(2048, "nginx", 2.0, user="www-data", uid=33, cmdline=("nginx: worker process",)),
        *extra,
    )
    socks = (
        socket_row(22, 812, "sshd"),
        socket_row(80, 2048, "nginx"),
        socket_row(
            41234,
            1337,
            "kdevtmpfsi",
            local_addr="10.0.0.5",
            remote_addr="203.0.113.9",
            remote_port=3333,
            state="ESTABLISHED",
        ),
    )
    return HostSnapshot(
        host=host,
        hostname=host,
        taken_at=T0 + 2 * step,
        source="fake",
        metrics=metrics(step),
        processes=procs,
        sockets=socks,
        collector_cpu_ms=12.0,
    )


class FakeSource:
    """Implements domain.source.Source with scripted snapshots. After the last one it either
    repeats it or, with ``hold=True``, never answers again (so a screenshot sees a fixed state)."""

    def __init__(
        self,
        snapshots: list[HostSnapshot] | None = None,
        name: str = "fake-host",
        hold: bool = False,
    ) -> None:
        self._snapshots = snapshots or [snapshot(i, name) for i in range(3)]
        self._name = name
        self._hold = hold
        self.samples = 0
        self.closed = False
        self.delivered = asyncio.Event()

    @property
    def name(self) -> str:
        return self._name

    async def sample(self) -> HostSnapshot:
        if self.samples >= len(self._snapshots):
            self.delivered.set()
            if self._hold:
                await asyncio.Event().wait()  # cancelled when the app exits
        index = min(self.samples, len(self._snapshots) - 1)
        self.samples += 1
        return self._snapshots[index]

    async def close(self) -> None:
        self.closed = True
