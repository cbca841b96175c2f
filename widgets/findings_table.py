"""The findings pane: what detection says is wrong on this host, most severe first."""

from __future__ import annotations

import time
from collections.abc import Callable

from domain.findings import Finding, evidence_summary
from domain.i18n import Language, rule_title, tr
from domain.sanitize import visible
from widgets.live_table import Column, LiveTable

MARKED = ("critical", "high", "medium", "low")


def severity_mark(finding: Finding) -> str | None:
    label = finding.severity.label
    return label if label in MARKED else None


def severity_text(finding: Finding, lang: Language = "en") -> str:
    label = finding.severity.label
    return label.upper()[:4] if lang == "en" else tr(f"severity.{label}", lang)


def seen_text(finding: Finding) -> str:
    return time.strftime("%H:%M", time.localtime(finding.first_seen))


def finding_columns(lang: Callable[[], Language] = lambda: "en") -> list[Column[Finding]]:
    """``lang``: the language built-in rules' titles show in (read on each render)."""

    def title(f: Finding) -> str:
        return visible(rule_title(f.rule_id, f.title, lang()))

    return [
        Column(
            "severity",
            "SEV",
            lambda f: severity_text(f, lang()),
            4,
            sort_key=lambda f: (int(f.severity), f.last_seen),
            descending=True,
        ),
        Column("rule", "RULE", lambda f: f.rule_id, 18, sort_key=lambda f: f.rule_id),
        Column("title", "FINDING", title, 26),
        Column("evidence", "EVIDENCE", evidence_summary, 16, flex=True),
        Column("seen", "SINCE", seen_text, 5, "right", lambda f: f.first_seen),
    ]


class FindingsTable(LiveTable[Finding]):
    """Findings keyed by rule + evidence, so one stays selected while it persists. With ``lang``
    set, severities and built-in rules' titles show in that language."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            finding_columns(lambda: self._lang),
            key=lambda f: f.key,
            sort="severity",
            reverse=True,
            mark=severity_mark,
            id=id,
        )
