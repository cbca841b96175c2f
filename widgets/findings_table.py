"""The findings pane: what detection says is wrong on this host, most severe first."""

from __future__ import annotations

import time

from domain.findings import Finding, evidence_summary
from domain.sanitize import visible
from widgets.live_table import Column, LiveTable

MARKED = ("critical", "high", "medium", "low")


def severity_mark(finding: Finding) -> str | None:
    label = finding.severity.label
    return label if label in MARKED else None


def seen_text(finding: Finding) -> str:
    return time.strftime("%H:%M", time.localtime(finding.first_seen))


def finding_columns() -> list[Column[Finding]]:
    return [
        Column(
            "severity",
            "SEV",
            lambda f: f.severity.label.upper()[:4],
            4,
            sort_key=lambda f: (int(f.severity), f.last_seen),
            descending=True,
        ),
        Column("rule", "RULE", lambda f: f.rule_id, 18, sort_key=lambda f: f.rule_id),
        Column("title", "FINDING", lambda f: visible(f.title), 26),
        Column("evidence", "EVIDENCE", evidence_summary, 16, flex=True),
        Column("seen", "SINCE", seen_text, 5, "right", lambda f: f.first_seen),
    ]


class FindingsTable(LiveTable[Finding]):
    """Findings keyed by rule + evidence, so one stays selected while it persists."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            finding_columns(),
            key=lambda f: f.key,
            sort="severity",
            reverse=True,
            mark=severity_mark,
            id=id,
        )
