"""What the app knows about each watched host (plain Python, no Textual).

One HostRecord per source: its state (connecting, live, stale, unreachable, authentication
failed, host key unknown/refused) with the reason in our own words, its metric history, the
last snapshot and findings. The fleet screen shows a FleetRow per record; the host screen shows
one record in full.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from domain.findings import Finding, Severity
from domain.history import MetricHistory
from domain.model import HostSnapshot
from domain.source import SourceError

CONNECTING = "connecting"
HOST_KEY_UNKNOWN = "host key unknown"
LIVE = "live"
STALE = "stale"
UNREACHABLE = "unreachable"


def error_state(error: SourceError) -> tuple[str, str]:
    """(state, reason) of a failed sample. Sources may attach ``state`` (a string or an enum
    whose value is one) and ``reason``; otherwise the host is unreachable for ``str(error)``."""
    state = getattr(error, "state", None)
    text = getattr(state, "value", state)
    reason = getattr(error, "reason", None)
    return (text if isinstance(text, str) else UNREACHABLE), (
        reason if isinstance(reason, str) else str(error)
    )


@dataclass(frozen=True, slots=True)
class FleetRow:
    """One host as the fleet table shows it (immutable: the table caches rendered rows)."""

    name: str
    state: str
    reason: str
    age: float | None  # seconds since the last good sample
    cpu: float | None
    load1: float | None
    processes: int
    worst: Severity | None
    critical: int
    high: int
    suspicious_processes: int
    suspicious_ports: int


@dataclass
class HostRecord:
    name: str
    history: MetricHistory
    state: str = CONNECTING
    reason: str = "connecting"
    snapshot: HostSnapshot | None = None
    findings: tuple[Finding, ...] = ()
    last_ok: float | None = None  # monotonic time of the last good sample
    failures: int = 0
    fingerprint: str | None = None  # of an unknown host key waiting for the operator
    _row: FleetRow | None = field(default=None, repr=False)

    def observed(self, snapshot: HostSnapshot, findings: tuple[Finding, ...]) -> None:
        self.snapshot, self.findings = snapshot, findings
        self.history.add(snapshot.metrics)
        self.state, self.reason = LIVE, "live"
        self.fingerprint = None
        self.last_ok = time.monotonic()
        self.failures = 0
        self._row = None

    def failed(self, error: SourceError) -> None:
        state, reason = error_state(error)
        # A host that answered before and fails now is stale: its data is shown, with its age.
        if self.snapshot is not None and state in (UNREACHABLE, LIVE, STALE):
            state = STALE
        self.state, self.reason = state, reason
        fingerprint = getattr(error, "fingerprint", None)
        self.fingerprint = (
            fingerprint if state == HOST_KEY_UNKNOWN and isinstance(fingerprint, str) else None
        )
        self.failures += 1
        self._row = None

    @staticmethod
    def _same_second(a: float | None, b: float | None) -> bool:
        return a is not None and b is not None and int(a) == int(b)

    def row(self, now: float | None = None) -> FleetRow:
        now = time.monotonic() if now is None else now
        age = None if self.last_ok is None else now - self.last_ok
        cached = self._row
        if cached is not None and self._same_second(cached.age, age):
            return cached
        metrics = self.snapshot.metrics if self.snapshot else None
        suspicious_pids = {f.evidence.pid for f in self.findings if f.evidence.pid is not None}
        ports = {
            f.evidence.port
            for f in self.findings
            if f.rule_id.startswith("NET-") and f.evidence.port is not None
        }
        self._row = FleetRow(
            name=self.name,
            state=self.state,
            reason=self.reason,
            age=age,
            cpu=metrics.cpu_total if metrics else None,
            load1=metrics.load1 if metrics else None,
            processes=len(self.snapshot.processes) if self.snapshot else 0,
            worst=max((f.severity for f in self.findings), default=None),
            critical=sum(1 for f in self.findings if f.severity == Severity.CRITICAL),
            high=sum(1 for f in self.findings if f.severity == Severity.HIGH),
            suspicious_processes=len(suspicious_pids),
            suspicious_ports=len(ports),
        )
        return self._row
