"""Findings: what a detection rule says is wrong, how sure it is, and what to do about it.

A finding is plain data. Its evidence fields carry text read from the host (process names,
command lines, file lines): attacker-controlled, stored as read, shown only through
:func:`domain.sanitize.visible`. ``key`` identifies a finding across samples (rule + what it is
about), so the detector can keep ``first_seen`` while the same problem persists.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any

from domain.sanitize import visible


class Severity(enum.IntEnum):
    """Ordered: ``Severity.CRITICAL > Severity.HIGH``. The value is also the exit status of
    ``sickbay scan`` for the highest severity found (info counts as nothing: 0)."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        """'high' -> Severity.HIGH; raises ValueError on anything else."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (one of: {names})") from None

    def lowered(self, steps: int = 1) -> Severity:
        return Severity(max(Severity.INFO, self - steps))

    def raised(self, steps: int = 1) -> Severity:
        return Severity(min(Severity.CRITICAL, self + steps))


# Response actions a finding can offer, by id (the response issues implement them).
ACTIONS: dict[str, str] = {
    "freeze": "stop the process (SIGSTOP) and its tree, keeping it for evidence",
    "kill": "kill the process",
    "collect": "copy the executable, command line, maps and open files off the host",
    "block": "block the remote address or port",
    "quarantine": "move the file to quarantine (hash recorded, mode 000)",
    "disable": "disable the persistence entry (cron line, unit, script), with a backup",
    "lock-user": "lock the account",
    "remove-key": "remove the authorized key, with a backup",
    "isolate": "cut the host off the network (quarantine security group)",
    "snapshot": "take a disk snapshot before changing anything",
    "scan": "scan files with an antivirus / the cloud's host security scan",
}


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a finding is about. Every field is optional; rules fill what they know."""

    pid: int | None = None
    process: str | None = None  # the process name (comm)
    process_key: str | None = None  # Process.key (pid + start time): survives pid reuse
    exe: str | None = None
    cmdline: str | None = None
    user: str | None = None
    port: int | None = None  # local port (listeners) or remote port (connections)
    remote_addr: str | None = None
    remote_port: int | None = None
    path: str | None = None  # a file
    line: int | None = None  # line number in ``path``
    text: str | None = None  # the offending text (a cron line, a cmdline fragment...)

    def as_dict(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }

    @property
    def identity(self) -> str:
        """What makes two findings of the same rule the same problem. Line numbers are left out
        on purpose (an edit above a cron line must not make it a new finding)."""
        parts = (
            self.process_key or ("" if self.pid is None else str(self.pid)),
            self.exe or "",
            "" if self.port is None else str(self.port),
            self.remote_addr or "",
            "" if self.remote_port is None else str(self.remote_port),
            self.user or "",
            self.path or "",
            (self.text or "")[:200],
        )
        return "|".join(parts)


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    title: str
    severity: Severity
    explanation: str  # one plain sentence
    evidence: Evidence = field(default_factory=Evidence)
    attack: tuple[str, ...] = ()  # MITRE ATT&CK technique ids, e.g. ("T1496",)
    actions: tuple[str, ...] = ()  # ids from ACTIONS
    host: str = ""
    first_seen: float = 0.0
    last_seen: float = 0.0
    identity: str | None = None  # overrides the evidence identity (host-wide findings)

    @property
    def key(self) -> str:
        """Stable across samples: the rule plus a digest of the host and the identity of what
        it is about (safe to print: no host text in it)."""
        ident = self.identity if self.identity is not None else self.evidence.identity
        raw = f"{self.host}\0{self.rule_id}\0{ident}".encode("utf-8", "surrogatepass")
        digest = hashlib.sha256(raw).hexdigest()
        return f"{self.rule_id}:{digest[:16]}"


SCHEMA = "sickbay.finding/1"


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "host": finding.host,
        "rule_id": finding.rule_id,
        "severity": finding.severity.label,
        "title": finding.title,
        "explanation": finding.explanation,
        "evidence": finding.evidence.as_dict(),
        "attack": list(finding.attack),
        "actions": list(finding.actions),
        "first_seen": finding.first_seen,
        "last_seen": finding.last_seen,
        "key": finding.key,
    }


def finding_from_dict(data: dict[str, Any]) -> Finding | None:
    """The inverse of :func:`finding_to_dict` (None for something that is not one)."""
    try:
        names = {f.name for f in fields(Evidence)}
        evidence = Evidence(
            **{k: v for k, v in dict(data.get("evidence") or {}).items() if k in names}
        )
        return Finding(
            rule_id=str(data["rule_id"]),
            title=str(data["title"]),
            severity=Severity.parse(str(data["severity"])),
            explanation=str(data.get("explanation", "")),
            evidence=evidence,
            attack=tuple(str(a) for a in data.get("attack", ())),
            actions=tuple(str(a) for a in data.get("actions", ())),
            host=str(data.get("host", "")),
            first_seen=float(data.get("first_seen", 0.0)),
            last_seen=float(data.get("last_seen", 0.0)),
        )
    except (KeyError, TypeError, ValueError):
        return None


def finding_to_json(finding: Finding) -> str:
    # ensure_ascii: control characters and undecodable bytes from the host stay escaped.
    return json.dumps(finding_to_dict(finding), ensure_ascii=True, sort_keys=False)


def highest(findings: list[Finding] | tuple[Finding, ...]) -> Severity | None:
    return max((f.severity for f in findings), default=None)


def evidence_summary(f: Finding) -> str:
    """The evidence in one line, host text made visible."""
    ev = f.evidence
    parts: list[str] = []
    if ev.pid is not None:
        parts.append(f"pid {ev.pid}")
    if ev.process:
        parts.append(visible(ev.process))
    if ev.exe and ev.exe != ev.process:
        parts.append(visible(ev.exe))
    if ev.user:
        parts.append(f"user {visible(ev.user)}")
    if ev.remote_addr:
        parts.append(f"-> {visible(ev.remote_addr)}:{ev.remote_port}")
    elif ev.port is not None:
        parts.append(f"port {ev.port}")
    if ev.path:
        parts.append(visible(ev.path) + (f":{ev.line}" if ev.line is not None else ""))
    if ev.text and not (ev.remote_addr or ev.port is not None):
        parts.append(f"[{visible(ev.text)}]")
    return "  ".join(parts)
