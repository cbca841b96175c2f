"""The host snapshot: what a source produces and every consumer (UI, JSON, rules) reads.

Plain Python, frozen dataclasses, no Textual. Strings in here come from the target host and are
attacker-controlled: they are stored exactly as read (undecodable bytes as ``\\xNN``) and must go
through :func:`domain.sanitize.visible` before they reach a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SocketProto = Literal["tcp", "tcp6", "udp", "udp6"]


@dataclass(frozen=True, slots=True)
class HostMetrics:
    """Host-wide figures for one sample. Rates cover the interval since the previous sample;
    on the very first sample they are ``None`` (nothing to compare with yet)."""

    cpu_count: int
    cpu_total: float | None  # % of all CPUs busy (user+nice+system+irq+softirq+steal)
    cpu_iowait: float | None  # % of time waiting for I/O
    cpu_steal: float | None  # % stolen by the hypervisor
    load1: float
    load5: float
    load15: float
    mem_total: int  # bytes
    mem_available: int  # bytes
    swap_total: int
    swap_free: int
    disk_latency_ms: float | None  # ms per completed I/O across whole disks (await)
    disk_iops: float | None  # completed I/Os per second
    net_rx_bytes_s: float | None  # all interfaces except lo
    net_tx_bytes_s: float | None
    net_rx_packets_s: float | None
    net_tx_packets_s: float | None
    shm_used: int | None  # bytes used in /dev/shm (None: not mounted / unreadable)
    shm_total: int | None
    uptime_s: float

    @property
    def mem_used_percent(self) -> float:
        if self.mem_total <= 0:
            return 0.0
        return 100.0 * (self.mem_total - self.mem_available) / self.mem_total


@dataclass(frozen=True, slots=True)
class Process:
    """One process (thread group). ``key`` identifies it across samples: pids are reused,
    pid + start time is not."""

    pid: int
    ppid: int
    name: str  # comm (what the kernel calls it; the process can set it)
    state: str  # one letter from /proc/PID/stat
    uid: int | None  # None when unreadable
    user: str  # user name, or the uid as text if unknown
    cpu_percent: float | None  # of one CPU, over the last interval; None on the first sample
    rss: int  # bytes
    start_time: float  # epoch seconds
    exe: str  # readlink(/proc/PID/exe) with any " (deleted)" suffix removed; "" if unreadable
    exe_deleted: bool
    exe_memfd: bool
    cmdline: tuple[str, ...]
    cwd: str  # "" if unreadable
    kernel_thread: bool
    threads: int
    tty_nr: int  # 0 when the process has no controlling terminal
    ld_preload: str = ""  # LD_PRELOAD in the environment it started with ("" when unset)

    @property
    def key(self) -> str:
        return f"{self.pid}:{self.start_time:.2f}"

    @property
    def command(self) -> str:
        """The command line as one string (kernel threads show their name in brackets)."""
        if self.cmdline:
            return " ".join(self.cmdline)
        return f"[{self.name}]"


@dataclass(frozen=True, slots=True)
class Socket:
    """One TCP/UDP socket from /proc/net/{tcp,tcp6,udp,udp6}, mapped to its owner if known."""

    proto: SocketProto
    local_addr: str
    local_port: int
    remote_addr: str
    remote_port: int
    state: str  # LISTEN, ESTABLISHED, ... (UDP: UNCONN or ESTABLISHED)
    inode: int
    uid: int
    pid: int | None  # None when no readable process owns it
    process: str  # owner's name, "" if unknown

    @property
    def key(self) -> str:
        return (
            f"{self.proto}:{self.local_addr}:{self.local_port}:"
            f"{self.remote_addr}:{self.remote_port}:{self.inode}"
        )

    @property
    def listening(self) -> bool:
        return self.state == "LISTEN" or (self.proto.startswith("udp") and self.remote_port == 0)


@dataclass(frozen=True, slots=True)
class HiddenProcess:
    """A process that exists (its /proc/PID answers and it leads its thread group) but is
    missing from the /proc listing, confirmed by a second look in the next sample."""

    pid: int
    name: str  # from its status file: attacker-controlled
    ppid: int


@dataclass(frozen=True, slots=True)
class CollectionError:
    """Something the source could not read. Parsers report these instead of crashing."""

    what: str  # e.g. "/proc/net/tcp6", "pid 4242 fd"
    reason: str


@dataclass(frozen=True, slots=True)
class HostSnapshot:
    """Everything known about one host at one moment."""

    host: str  # display name of the host (the source's name, not the host's own claim)
    hostname: str  # what the host says its name is (attacker-controlled)
    taken_at: float  # epoch seconds
    source: str  # "proc" (the /proc collector) or "psutil"
    metrics: HostMetrics
    processes: tuple[Process, ...]
    sockets: tuple[Socket, ...]
    errors: tuple[CollectionError, ...] = ()
    collector_cpu_ms: float | None = None  # what taking this sample cost the target
    hidden_processes: tuple[HiddenProcess, ...] = ()  # the rootkit cross-check (see above)
    proc_mounts: tuple[str, ...] = ()  # mount points covering a /proc/PID directory
    # Filled by later stages (SSH host facts, detection); empty until then.
    users: tuple[object, ...] = field(default=())
    persistence: tuple[object, ...] = field(default=())
    findings: tuple[object, ...] = field(default=())

    def process_by_pid(self) -> dict[int, Process]:
        return {p.pid: p for p in self.processes}
