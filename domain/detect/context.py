"""What a rule sees: the snapshot, the facts, the host's recent history and the configuration,
with the lookups rules share (process by pid, sockets by pid, listening ports...)."""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise

from domain.facts import ExeProbe, HostFacts
from domain.findings import Evidence, Finding, Severity
from domain.model import HostSnapshot, Process, Socket

from .catalog import RuleInfo
from .commands import CommandScanner
from .config import DetectConfig

MAX_TEXT = 1000  # evidence text and command lines are cut to this many characters


@dataclass(frozen=True, slots=True)
class Sample:
    """The figures sustained rules need from one snapshot."""

    t: float
    cpu: float | None  # host busy, % of all CPUs
    steal: float | None
    cpu_count: int
    proc_cpu: float  # sum of process %CPU (of one CPU)
    new_processes: int  # processes not in the previous sample
    disk_latency: float | None
    disk_iops: float | None
    pps: float | None
    shm: int | None
    top: tuple[tuple[str, int, str, str, float], ...]  # (key, pid, name, exe, %cpu), busiest first


@dataclass(slots=True)
class HostState:
    """Per-host memory of the detector: recent samples, baselines and finding times."""

    samples: deque[Sample] = field(default_factory=lambda: deque(maxlen=4096))
    pps_history: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=2048))
    seen: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> first, last
    cpu_episodes: deque[float] = field(default_factory=lambda: deque(maxlen=256))
    in_cpu_episode: bool = False
    process_keys: frozenset[str] | None = None
    known_listeners: frozenset[str] | None = None
    known_users: frozenset[str] | None = None
    current_facts: HostFacts | None = None  # the latest facts evaluated
    previous_facts: HostFacts | None = None  # the facts before those (for changes)

    def window(self, now: float, span: float) -> list[Sample]:
        return [s for s in self.samples if now - span <= s.t <= now]

    def span(self, now: float, span: float, gap: float) -> list[Sample] | None:
        """The samples covering [now - span, now]: the last one at or before the start, then
        every later one; None when history is shorter than the span, or has a hole longer than
        ``gap`` (the condition cannot be said to have lasted)."""
        start = now - span
        anchor = None
        later: list[Sample] = []
        for s in self.samples:
            if s.t <= start:
                anchor = s
            elif s.t <= now:
                later.append(s)
        if anchor is None or not later or now - later[-1].t > gap:
            return None
        samples = [anchor, *later]
        if any(b.t - a.t > gap for a, b in pairwise(samples)):
            return None
        return samples

    def sustained(
        self,
        now: float,
        span: float,
        gap: float,
        value: Callable[[Sample], float | None],
        test: Callable[[float], bool],
    ) -> list[Sample] | None:
        """The samples of the window when ``test`` held for every known value in it, from a
        sample at or before the window's start until now; otherwise None."""
        window = self.span(now, span, gap)
        if window is None:
            return None
        known = [v for v in (value(s) for s in window) if v is not None]
        if len(known) < 2 or not all(test(v) for v in known):
            return None
        return window


def is_loopback(address: str) -> bool:
    """127.0.0.0/8, ::1 and v4-mapped loopback, as inet_ntop writes them (fast path: this runs
    for every socket), falling back to a full parse for anything unusual."""
    if address.startswith(("127.", "::ffff:127.")) or address == "::1":
        return True
    if address[:1].isdigit() and address.count(".") == 3 and ":" not in address:
        return False  # an IPv4 address outside 127/8
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def is_any_address(address: str) -> bool:
    return address in ("0.0.0.0", "::", "::ffff:0.0.0.0", "")


def basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Context:
    """One evaluation: built by the detector, read by every rule."""

    def __init__(
        self,
        *,
        snapshot: HostSnapshot | None,
        facts: HostFacts | None,
        now: float,
        host: str,
        config: DetectConfig,
        state: HostState,
        scanner: CommandScanner,
    ) -> None:
        self.snapshot = snapshot
        self.facts = facts
        self.now = now
        self.host = host
        self.config = config
        self.thresholds = config.thresholds
        self.indicators = config.indicators
        self.state = state
        self.scanner = scanner
        self._names: dict[int, tuple[Process, tuple[str, ...]]] = {}

    # -- lookups ------------------------------------------------------------------------------

    @cached_property
    def processes(self) -> tuple[Process, ...]:
        return () if self.snapshot is None else self.snapshot.processes

    @cached_property
    def user_processes(self) -> tuple[Process, ...]:
        """Processes that are not kernel threads."""
        return tuple(p for p in self.processes if not p.kernel_thread)

    @cached_property
    def sockets(self) -> tuple[Socket, ...]:
        return () if self.snapshot is None else self.snapshot.sockets

    @cached_property
    def by_pid(self) -> dict[int, Process]:
        return {p.pid: p for p in self.processes}

    @cached_property
    def sockets_by_pid(self) -> dict[int, list[Socket]]:
        out: dict[int, list[Socket]] = {}
        for s in self.sockets:
            if s.pid is not None:
                out.setdefault(s.pid, []).append(s)
        return out

    @cached_property
    def listening_ports(self) -> frozenset[tuple[str, int]]:
        """(tcp|udp, port) of every listener: connections on these local ports are inbound."""
        return frozenset((s.proto[:3], s.local_port) for s in self.sockets if s.listening)

    def outbound(self, s: Socket) -> bool:
        return (s.proto[:3], s.local_port) not in self.listening_ports

    @cached_property
    def exe_probes(self) -> dict[int, ExeProbe]:
        return {} if self.facts is None else {p.pid: p for p in self.facts.exe_probes}

    @cached_property
    def user_names(self) -> dict[int, str]:
        return {} if self.facts is None else {u.uid: u.name for u in reversed(self.facts.users)}

    def user_name(self, uid: int | None) -> str | None:
        if uid is None:
            return None
        return self.user_names.get(uid, str(uid))

    def in_other_mount_ns(self, pid: int) -> bool:
        """True when facts say the process lives in another mount namespace (a container):
        its paths are relative to its own root and cannot be judged from the host."""
        if self.facts is None or self.facts.foreign_mnt_ns_pids is None:
            return False
        return pid in self.facts.foreign_mnt_ns_pids

    def names(self, p: Process) -> tuple[str, ...]:
        """Every name a process goes by: comm, executable basename, argv[0] basename."""
        cached = self._names.get(p.pid)
        if cached is not None and cached[0] is p:
            return cached[1]
        names = self._compute_names(p)
        self._names[p.pid] = (p, names)
        return names

    @staticmethod
    def _compute_names(p: Process) -> tuple[str, ...]:
        out = [p.name]
        if p.exe:
            out.append(basename(p.exe))
        if p.cmdline and p.cmdline[0]:
            out.append(basename(p.cmdline[0].split(" ", 1)[0]))
        return tuple(dict.fromkeys(n for n in out if n))

    # -- findings -----------------------------------------------------------------------------

    def process_evidence(self, p: Process, **extra: object) -> Evidence:
        fields: dict[str, object] = {
            "pid": p.pid,
            "process": p.name,
            "process_key": p.key,
            "exe": p.exe or None,
            "cmdline": clip(p.command) if p.cmdline else None,
            "user": p.user,
        }
        fields.update(extra)
        return Evidence(**fields)  # type: ignore[arg-type]

    def finding(
        self,
        rule: RuleInfo,
        explanation: str,
        evidence: Evidence | None = None,
        *,
        severity: Severity | None = None,
        identity: str | None = None,
        attack: Iterable[str] = (),
        title: str | None = None,
    ) -> Finding:
        return Finding(
            rule_id=rule.id,
            title=title or rule.title,
            severity=rule.severity if severity is None else severity,
            explanation=explanation,
            evidence=evidence or Evidence(),
            attack=tuple(dict.fromkeys((*rule.attack, *attack))),
            actions=rule.actions,
            host=self.host,
            first_seen=self.now,
            last_seen=self.now,
            identity=identity,
        )


Check = Callable[[Context], Iterable[Finding]]
