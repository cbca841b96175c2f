"""The detection engine: runs every rule over a snapshot and the host's facts, keeps per-host
history for sustained rules, and remembers when each finding was first seen."""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, replace

from domain.facts import HostFacts
from domain.findings import Finding
from domain.model import HostSnapshot

from . import (
    accounts,
    custom,
    files,
    network,
    persistence,
    processes,
    resources,
    rootkit,
    tampering,
)
from .commands import CommandScanner
from .config import DetectConfig
from .context import Check, Context, HostState, Sample

CHECKS: tuple[Check, ...] = (
    *resources.CHECKS,
    *processes.CHECKS,
    *network.CHECKS,
    *persistence.CHECKS,
    *accounts.CHECKS,
    *tampering.CHECKS,
    *files.CHECKS,
    *rootkit.CHECKS,
    *custom.CHECKS,
)


@dataclass(frozen=True, slots=True)
class FactsRequest:
    """What the facts gatherer should look at for this snapshot: paths to stat (known malware
    locations) and ``(pid, path)`` of deleted executables, to tell upgrades from droppers."""

    probe_paths: tuple[str, ...]
    exe_probes: tuple[tuple[int, str], ...]


class Detector:
    """Turns snapshots (and host facts) into findings. One detector serves many hosts: state is
    kept per ``snapshot.host``. Not thread-safe; call it from one task."""

    def __init__(self, config: DetectConfig | None = None) -> None:
        self.config = config or DetectConfig()
        ind = self.config.indicators
        self.scanner = CommandScanner(pool_hosts=ind.pool_hosts, tool_dirs=ind.tool_dirs)
        self._hosts: dict[str, HostState] = {}
        self.errors: list[str] = []  # rules that failed in the last evaluation (with why)

    def facts_request(self, snapshot: HostSnapshot | None = None) -> FactsRequest:
        probes: tuple[tuple[int, str], ...] = ()
        if snapshot is not None:
            probes = tuple(
                (p.pid, p.exe)
                for p in snapshot.processes
                if p.exe_deleted and not p.exe_memfd and p.exe.startswith("/")
            )
        return FactsRequest(tuple(self.config.indicators.ioc_paths), probes)

    def state(self, host: str) -> HostState:
        return self._hosts.setdefault(host, HostState())

    def forget(self, host: str) -> None:
        self._hosts.pop(host, None)

    def evaluate(
        self,
        snapshot: HostSnapshot | None,
        facts: HostFacts | None = None,
        now: float | None = None,
        host: str | None = None,
    ) -> list[Finding]:
        """All findings for this moment, most severe first. ``now`` defaults to the snapshot's
        time (then the facts', then the clock): pass it to replay history deterministically."""
        if now is None:
            now = (
                snapshot.taken_at
                if snapshot is not None
                else facts.gathered_at
                if facts is not None
                else time.time()
            )
        name = host or (
            snapshot.host if snapshot is not None else facts.host if facts is not None else ""
        )
        state = self.state(name)
        if snapshot is not None:
            self._record(state, snapshot, now)
        self._baselines(state, snapshot, facts)
        ctx = Context(
            snapshot=snapshot,
            facts=facts,
            now=now,
            host=name,
            config=self.config,
            state=state,
            scanner=self.scanner,
        )
        self.errors = []
        found: dict[str, Finding] = {}  # by key (computed once: it is a digest)
        for check in CHECKS:
            try:
                results: Iterable[Finding] = list(check(ctx))
            except Exception as exc:  # one broken rule must not blind the others
                where = traceback.extract_tb(exc.__traceback__)[-1]
                self.errors.append(f"{check.__name__}: {exc!r} at {where.filename}:{where.lineno}")
                continue
            for f in results:
                if not self.config.rule_enabled(f.rule_id) or self.config.allowed(f):
                    continue
                key = f.key
                previous = found.get(key)
                if previous is None or f.severity > previous.severity:
                    found[key] = f
        return self._stamp(state, found, now)

    # -- state ----------------------------------------------------------------------------------

    @staticmethod
    def _record(state: HostState, snapshot: HostSnapshot, now: float) -> None:
        m = snapshot.metrics
        keys = frozenset(p.key for p in snapshot.processes)
        new = 0 if state.process_keys is None else len(keys - state.process_keys)
        state.process_keys = keys
        busiest = sorted(
            (p for p in snapshot.processes if p.cpu_percent),
            key=lambda p: -(p.cpu_percent or 0.0),
        )[:5]
        pps = (
            None
            if m.net_rx_packets_s is None or m.net_tx_packets_s is None
            else m.net_rx_packets_s + m.net_tx_packets_s
        )
        sample = Sample(
            t=now,
            cpu=m.cpu_total,
            steal=m.cpu_steal,
            cpu_count=m.cpu_count,
            proc_cpu=sum(p.cpu_percent or 0.0 for p in snapshot.processes),
            new_processes=new,
            disk_latency=m.disk_latency_ms,
            disk_iops=m.disk_iops,
            pps=pps,
            shm=m.shm_used,
            top=tuple((p.key, p.pid, p.name, p.exe, p.cpu_percent or 0.0) for p in busiest),
        )
        if state.samples and now < state.samples[-1].t:
            state.samples.clear()  # the clock went back: history no longer lines up
            state.pps_history.clear()
        state.samples.append(sample)
        while state.samples and now - state.samples[0].t > 3600:
            state.samples.popleft()
        if pps is not None and (not state.pps_history or now - state.pps_history[-1][0] >= 5.0):
            state.pps_history.append((now, pps))
        while state.pps_history and now - state.pps_history[0][0] > 6 * 3600:
            state.pps_history.popleft()

    @staticmethod
    def _baselines(
        state: HostState, snapshot: HostSnapshot | None, facts: HostFacts | None
    ) -> None:
        """Baselines start with the first look at a host: listeners and accounts seen then are
        what "new" is measured against. Facts are kept two deep so changes (a log that shrank)
        stay visible for as long as the same facts are evaluated."""
        if snapshot is not None and state.known_listeners is None:
            state.known_listeners = frozenset(
                network.listener_identity(s) for s in snapshot.sockets if s.listening
            )
        if facts is None:
            return
        if state.known_users is None:
            state.known_users = frozenset(u.name for u in facts.users)
        if state.current_facts is None or state.current_facts.gathered_at != facts.gathered_at:
            state.previous_facts = state.current_facts
            state.current_facts = facts

    def _stamp(self, state: HostState, findings: dict[str, Finding], now: float) -> list[Finding]:
        out = []
        for key, f in findings.items():
            first, _ = state.seen.get(key, (now, now))
            state.seen[key] = (first, now)
            out.append((key, replace(f, first_seen=first, last_seen=now)))
        forget = self.config.thresholds.forget_after_s
        for key in [k for k, (_, last) in state.seen.items() if now - last > forget]:
            del state.seen[key]
        out.sort(
            key=lambda kf: (
                -kf[1].severity,
                kf[1].rule_id,
                kf[1].evidence.path or "",
                kf[1].evidence.pid or 0,
                kf[0],
            )
        )
        return [f for _, f in out]
