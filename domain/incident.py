"""The incident case file's read models: what an incident holds, as plain frozen data.

``backends.casefile`` stores an incident in SQLite and hands it out as these dataclasses; the
checklist (``domain.checklist``), the report (``domain.report``) and the UI only ever see them.
Times are timezone-aware UTC datetimes. Text that came from a host (titles and evidence of
findings, paths, action summaries) is stored as read: show it through
``domain.sanitize.visible`` (terminal) or escape it (HTML, Markdown), never as markup.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from domain.actions import Outcome
from domain.findings import Severity

INCIDENT_ID_PATTERN = r"INC-[0-9]{8}-[0-9]{4,}"


class IncidentStatus(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class StepStatus(enum.Enum):
    PENDING = "pending"
    IN_PROGRESS = "in-progress"
    DONE = "done"
    SKIPPED = "skipped"

    @classmethod
    def parse(cls, text: str) -> StepStatus:
        try:
            return cls(text.strip().lower().replace("_", "-"))
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown step status {text!r} (one of: {names})") from None

    @property
    def finished(self) -> bool:
        """Done or skipped: nothing more to do for this step."""
        return self in (StepStatus.DONE, StepStatus.SKIPPED)


@dataclass(frozen=True, slots=True)
class Incident:
    id: str  # "INC-20261123-0001": the UTC day it was opened and a sequence number that day
    title: str
    opened_at: dt.datetime
    opened_by: str
    status: IncidentStatus
    closed_at: dt.datetime | None = None
    first_detection_at: dt.datetime | None = None  # the earliest finding's first_seen

    @property
    def is_open(self) -> bool:
        return self.status is IncidentStatus.OPEN


@dataclass(frozen=True, slots=True)
class IncidentHost:
    name: str
    address: str = ""
    provider: str = ""  # "aliyun", "tencent" or "" (not a known cloud instance)
    region: str = ""
    instance_id: str = ""
    added_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class FindingRecord:
    """A finding in the case's timeline; seen again, only ``last_seen`` and ``times_seen`` move
    (and the severity, if it rose)."""

    host: str
    rule_id: str
    severity: Severity
    title: str
    explanation: str
    evidence_summary: str  # one line, already made visible (domain.findings.evidence_summary)
    evidence: Mapping[str, Any]  # the evidence fields as read from the host (raw)
    key: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    times_seen: int = 1


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """An action as executed (or attempted): the plan's exact steps and what came of it.
    ``audit_hash``: the hash of its entry in the audit log, which links the two records."""

    id: int
    at: dt.datetime
    actor: str
    host: str
    action: str
    subject: str
    risk: str
    params: Mapping[str, Any]
    steps: tuple[tuple[str, str], ...]  # (what, exact) of each planned step
    outcome: Outcome
    summary: str
    verification: str = ""
    state: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)  # hashes, rule handles, old groups
    request_ids: tuple[str, ...] = ()
    undo: tuple[str, Mapping[str, Any]] | None = None
    audit_hash: str | None = None


@dataclass(frozen=True, slots=True)
class EvidenceRecord:
    host: str
    path: str  # on the bastion
    sha256: str
    size: int | None
    remote_path: str  # on the host ("" for what sickbay produced, like a listing)
    collected_at: dt.datetime
    collector: str  # the local user who collected it
    action: str = ""  # the action that collected it ("collect", "bundle", "snapshot"...)


@dataclass(frozen=True, slots=True)
class Note:
    at: dt.datetime
    author: str
    text: str


@dataclass(frozen=True, slots=True)
class StepState:
    step_id: str
    status: StepStatus
    reason: str
    by: str
    at: dt.datetime
    auto_verified: bool = False  # set by an automatic verification, not by hand


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of the merged timeline. ``kind``: ``opened``, ``finding``, ``action``,
    ``evidence``, ``note``, ``step`` or ``closed``; ``text`` is host text for findings and
    actions (escape it for display)."""

    at: dt.datetime
    kind: str
    host: str
    text: str
    detail: str = ""
    severity: Severity | None = None  # findings only


@dataclass(frozen=True, slots=True)
class Case:
    """Everything recorded about one incident."""

    incident: Incident
    hosts: tuple[IncidentHost, ...] = ()
    findings: tuple[FindingRecord, ...] = ()
    actions: tuple[ActionRecord, ...] = ()
    evidence: tuple[EvidenceRecord, ...] = ()
    notes: tuple[Note, ...] = ()
    steps: Mapping[str, StepState] = field(default_factory=dict)

    @property
    def host_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hosts)

    @property
    def highest_severity(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)

    def step(self, step_id: str) -> StepState | None:
        return self.steps.get(step_id)


_KIND_ORDER = {
    "opened": 0, "finding": 1, "evidence": 2, "action": 3, "step": 4, "note": 5, "closed": 9,
}  # fmt: skip


def merge_timeline(case: Case) -> tuple[TimelineEntry, ...]:
    """Findings (at first seen), actions, evidence, notes and finished checklist steps, in time
    order; ties keep a stable, meaningful order (a finding before the action it caused)."""
    entries: list[TimelineEntry] = [
        TimelineEntry(case.incident.opened_at, "opened", "", case.incident.title)
    ]
    entries.extend(
        TimelineEntry(
            f.first_seen,
            "finding",
            f.host,
            f.title,
            f"{f.rule_id}: {f.evidence_summary}",
            f.severity,
        )
        for f in case.findings
    )
    entries.extend(
        TimelineEntry(a.at, "action", a.host, f"{a.action}: {a.summary}", a.outcome.value)
        for a in case.actions
    )
    entries.extend(
        TimelineEntry(e.collected_at, "evidence", e.host, e.path, f"sha256 {e.sha256}")
        for e in case.evidence
    )
    entries.extend(TimelineEntry(n.at, "note", "", n.text, n.author) for n in case.notes)
    entries.extend(
        TimelineEntry(s.at, "step", "", s.step_id, s.status.value)
        for s in case.steps.values()
        if s.status is not StepStatus.PENDING
    )
    if case.incident.closed_at is not None:
        entries.append(TimelineEntry(case.incident.closed_at, "closed", "", case.incident.title))
    return tuple(sorted(entries, key=lambda e: (e.at, _KIND_ORDER.get(e.kind, 8))))
