"""The incident report, built from the case file's read models and the checklist, rendered as
Markdown, one self-contained HTML file, or JSON (schema ``sickbay.report/1``).

Two readers: a manager reads the summary (what happened, is it contained, what is still open);
the provider's security team needs the precise parts (times in UTC ISO 8601, sha256 of every
piece of evidence, the exact commands and API calls, the providers' request ids, the audit-log
hashes). Headings and labels come in English or Chinese (``domain.i18n``); host data is never
translated.

Everything that came from a host is hostile. HTML: made visible (control and bidi characters as
escapes) and HTML-escaped, in a page with no scripts, no external resources and a
Content-Security-Policy that forbids both, so a process named ``<script>`` is only text.
Markdown: made visible and backslash-escaped (inline markup, HTML, table pipes), so a renderer
shows the characters as they are. JSON: the raw values, ASCII-escaped.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from domain.actions import Outcome
from domain.checklist import (
    Checklist,
    CheckResult,
    CheckStatus,
    ContainmentClock,
    clock_for,
    overall,
)
from domain.explanations import explanation_in
from domain.findings import Severity
from domain.i18n import Language, tr
from domain.incident import Case, StepStatus, TimelineEntry, merge_timeline
from domain.sanitize import visible

SCHEMA = "sickbay.report/1"
FORMATS = ("md", "html", "json")


@dataclass(frozen=True, slots=True)
class ChecklistLine:
    step_id: str
    title: str  # in the report's language
    status: StepStatus
    reason: str = ""
    by: str = ""
    at: dt.datetime | None = None
    auto_verified: bool = False
    check: CheckStatus | None = None  # the automatic checks' verdict, when they were run
    check_text: str = ""  # what the checks said (may quote host names)


@dataclass(frozen=True, slots=True)
class Report:
    language: Language
    generated_at: dt.datetime
    generated_by: str
    case: Case
    checklist: tuple[ChecklistLine, ...]
    clock: ContainmentClock
    contained_by: str  # the step that stops the clock (its title)
    timeline: tuple[TimelineEntry, ...]
    summary: tuple[str, ...]  # sentences for a manager (host text inside: escape to show)
    open_items: tuple[str, ...]


def build_report(
    case: Case,
    checklist: Checklist,
    *,
    lang: Language,
    now: dt.datetime,
    generated_by: str = "",
    checks: Mapping[str, Sequence[CheckResult]] | None = None,
) -> Report:
    """``checks``: the automatic checks already run, by step id (optional; the stored step
    states are reported either way)."""
    lines = []
    for step in checklist.steps:
        state = case.step(step.id)
        results = list((checks or {}).get(step.id, ()))
        lines.append(
            ChecklistLine(
                step_id=step.id,
                title=step.title_in(lang),
                status=state.status if state else StepStatus.PENDING,
                reason=state.reason if state else "",
                by=state.by if state else "",
                at=state.at if state else None,
                auto_verified=state.auto_verified if state else False,
                check=overall(results),
                check_text="; ".join(r.describe(lang) for r in results),
            )
        )
    clock = clock_for(case, checklist, now)
    contained = checklist.step(checklist.contained_by)
    contained_title = contained.title_in(lang) if contained else checklist.contained_by
    titles = {s.id: s.title_in(lang) for s in checklist.steps}
    timeline = tuple(
        dataclasses.replace(e, text=titles.get(e.text, e.text)) if e.kind == "step" else e
        for e in merge_timeline(case)
    )
    return Report(
        language=lang,
        generated_at=now,
        generated_by=generated_by,
        case=case,
        checklist=tuple(lines),
        clock=clock,
        contained_by=contained_title,
        timeline=timeline,
        summary=_summary(case, tuple(lines), clock, contained_title, lang),
        open_items=_open_items(case, tuple(lines), lang),
    )


# -- words ----------------------------------------------------------------------------------------


def utc(moment: dt.datetime | None) -> str:
    """UTC ISO 8601 to the second, ``Z``: how every time in the report is written."""
    if moment is None:
        return ""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_precise(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    text = moment.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z")


def _minutes(delta: dt.timedelta) -> int:
    return int(delta.total_seconds() // 60)


def severity_word(severity: Severity, lang: Language) -> str:
    return tr(f"severity.{severity.label}", lang)


def outcome_word(outcome: Outcome, lang: Language) -> str:
    return tr(f"outcome.{outcome.value}", lang)


def step_status_word(status: StepStatus, lang: Language) -> str:
    return tr(f"step-status.{status.value}", lang)


def check_word(status: CheckStatus | None, lang: Language) -> str:
    return "" if status is None else tr(f"check-status.{status.value}", lang)


def _summary(
    case: Case,
    lines: tuple[ChecklistLine, ...],
    clock: ContainmentClock,
    contained_title: str,
    lang: Language,
) -> tuple[str, ...]:
    incident = case.incident
    out = [
        tr(
            "report.summary.opened",
            lang,
            id=incident.id,
            title=incident.title,
            at=utc(incident.opened_at),
            by=incident.opened_by,
        )
    ]
    if incident.closed_at is not None:
        out.append(tr("report.summary.closed", lang, at=utc(incident.closed_at)))
    else:
        out.append(tr("report.summary.still-open", lang))
    if case.hosts:
        out.append(
            tr(
                "report.summary.hosts",
                lang,
                count=len(case.hosts),
                hosts=", ".join(case.host_names),
            )
        )
    worst = case.highest_severity
    if worst is None:
        out.append(tr("report.summary.no-findings", lang))
    else:
        out.append(
            tr(
                "report.summary.findings",
                lang,
                count=len(case.findings),
                severity=severity_word(worst, lang),
                at=utc(clock.started_at),
            )
        )
    budget = _minutes(clock.budget)
    minutes = _minutes(clock.elapsed)
    if clock.contained_at is not None:
        key = "report.summary.contained" if clock.in_time else "report.summary.contained-late"
        out.append(tr(key, lang, step=contained_title, minutes=minutes, budget=budget))
    else:
        out.append(tr("report.summary.not-contained", lang, minutes=minutes, budget=budget))
    if case.actions:
        counts = {o: sum(1 for a in case.actions if a.outcome is o) for o in Outcome}
        out.append(
            tr(
                "report.summary.actions",
                lang,
                count=len(case.actions),
                done=counts[Outcome.DONE],
                failed=counts[Outcome.FAILED],
                unverified=counts[Outcome.UNVERIFIED],
            )
        )
    else:
        out.append(tr("report.summary.no-actions", lang))
    out.append(tr("report.summary.evidence", lang, count=len(case.evidence)))
    finished = sum(1 for line in lines if line.status.finished)
    out.append(tr("report.summary.checklist", lang, done=finished, total=len(lines)))
    return tuple(out)


def _open_items(case: Case, lines: tuple[ChecklistLine, ...], lang: Language) -> tuple[str, ...]:
    out = [
        tr("report.open.step", lang, title=line.title, status=step_status_word(line.status, lang))
        for line in lines
        if not line.status.finished
    ]
    out.extend(
        tr(
            "report.open.action",
            lang,
            action=a.action,
            host=a.host,
            at=utc(a.at),
            outcome=outcome_word(a.outcome, lang),
            summary=a.summary,
        )
        for a in case.actions
        if a.outcome in (Outcome.FAILED, Outcome.UNVERIFIED)
    )
    if case.incident.is_open:
        out.append(tr("report.open.incident", lang))
    return tuple(out)


def _join(lang: Language) -> str:
    """Between sentences: a space in English, nothing in Chinese."""
    return "" if lang == "zh" else " "


def _yes(value: bool, lang: Language) -> str:
    return tr("report.yes" if value else "report.no", lang)


def _in_time(clock: ContainmentClock, lang: Language) -> str:
    if clock.in_time is None:
        return tr("report.clock.running", lang)
    return _yes(clock.in_time, lang)


def _params(params: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def _undo(undo: tuple[str, Mapping[str, Any]] | None) -> str:
    return "" if undo is None else f"{undo[0]} {_params(undo[1])}".strip()


def _size(size: int | None) -> str:
    return "" if size is None else str(size)


# -- the tables every renderer shows -------------------------------------------------------------


def _rows(report: Report) -> dict[str, tuple[tuple[str, ...], list[tuple[str, ...]]]]:
    """Section -> (column labels, rows), all as text (host text raw: each renderer escapes)."""
    lang, case = report.language, report.case

    def t(key: str) -> str:
        return tr(key, lang)

    return {
        "timeline": (
            (t("report.col.time"), t("report.col.kind"), t("report.col.host"),
             t("report.col.what"), t("report.col.detail")),
            [(utc(e.at), tr(f"report.kind.{e.kind}", lang), e.host, e.text,
              _timeline_detail(e, lang)) for e in report.timeline],
        ),
        "hosts": (
            (t("report.col.host"), t("report.col.address"), t("report.col.provider"),
             t("report.col.region"), t("report.col.instance")),
            [(h.name, h.address, h.provider, h.region, h.instance_id) for h in case.hosts],
        ),
        "findings": (
            (t("report.col.severity"), t("report.col.rule"), t("report.col.host"),
             t("report.col.title"), t("report.col.evidence"), t("report.col.first-seen"),
             t("report.col.last-seen"), t("report.col.times-seen")),
            [(severity_word(f.severity, lang), f.rule_id, f.host, f.title, f.evidence_summary,
              utc(f.first_seen), utc(f.last_seen), str(f.times_seen)) for f in case.findings],
        ),
        "evidence": (
            (t("report.col.host"), t("report.col.path"), t("report.col.sha256"),
             t("report.col.size"), t("report.col.remote-path"), t("report.col.collected-at"),
             t("report.col.collector"), t("report.col.action")),
            [(e.host, e.path, e.sha256, _size(e.size), e.remote_path, utc(e.collected_at),
              e.collector, e.action) for e in case.evidence],
        ),
        "checklist": (
            (t("report.col.step"), t("report.col.status"), t("report.col.at"),
             t("report.col.by"), t("report.col.reason"), t("report.col.auto-verified"),
             t("report.col.check")),
            [(line.title, step_status_word(line.status, lang), utc(line.at), line.by,
              line.reason, _yes(line.auto_verified, lang) if line.at else "",
              " ".join(p for p in (check_word(line.check, lang), line.check_text) if p))
             for line in report.checklist],
        ),
    }  # fmt: skip


def _timeline_detail(entry: TimelineEntry, lang: Language) -> str:
    if entry.kind == "action":
        try:
            return outcome_word(Outcome(entry.detail), lang)
        except ValueError:
            return entry.detail
    if entry.kind == "finding" and entry.severity is not None:
        return f"{severity_word(entry.severity, lang)} {entry.detail}"
    if entry.kind == "step":
        try:
            return step_status_word(StepStatus(entry.detail), lang)
        except ValueError:
            return entry.detail
    return entry.detail


def _action_fields(report: Report) -> list[tuple[str, list[tuple[str, str]], list[str]]]:
    """Per action: its heading, (label, value) pairs, and the exact steps."""
    lang = report.language
    out = []
    for number, a in enumerate(report.case.actions, 1):
        head = f"{number}. {a.action} — {a.host} — {outcome_word(a.outcome, lang)}"
        fields = [
            (tr("report.col.at", lang), utc(a.at)),
            (tr("report.col.actor", lang), a.actor),
            (tr("report.col.subject", lang), a.subject),
            (tr("report.col.risk", lang), a.risk),
            (tr("report.col.params", lang), _params(a.params)),
            (tr("report.col.summary", lang), a.summary),
            (tr("report.col.verification", lang), a.verification),
            (tr("report.col.state", lang), a.state),
            (tr("report.col.request-ids", lang), ", ".join(a.request_ids)),
            (tr("report.col.undo", lang), _undo(a.undo)),
            (tr("report.col.audit-hash", lang), a.audit_hash or ""),
        ]
        steps = [f"{what}: {exact}" if what else exact for what, exact in a.steps]
        out.append((head, [(k, v) for k, v in fields if v], steps))
    return out


def _clock_fields(report: Report) -> list[tuple[str, str]]:
    lang, clock = report.language, report.clock
    return [
        (tr("report.clock.started", lang), utc(clock.started_at)),
        (tr("report.clock.budget", lang), tr("report.minutes", lang, n=_minutes(clock.budget))),
        (tr("report.clock.deadline", lang), utc(clock.deadline)),
        (tr("report.clock.contained-by", lang), report.contained_by),
        (tr("report.clock.contained-at", lang), utc(clock.contained_at) or "-"),
        (tr("report.clock.elapsed", lang), tr("report.minutes", lang, n=_minutes(clock.elapsed))),
        (tr("report.clock.in-time", lang), _in_time(clock, lang)),
    ]


def _incident_fields(report: Report) -> list[tuple[str, str]]:
    lang, incident = report.language, report.case.incident
    return [
        (tr("report.col.incident", lang), incident.id),
        (tr("report.col.title", lang), incident.title),
        (tr("report.col.status", lang), tr(f"incident-status.{incident.status.value}", lang)),
        (tr("report.col.opened", lang), utc(incident.opened_at)),
        (tr("report.col.opened-by", lang), incident.opened_by),
        (tr("report.col.closed", lang), utc(incident.closed_at) or "-"),
        (tr("report.col.first-detection", lang), utc(incident.first_detection_at) or "-"),
        (tr("report.col.generated", lang), utc(report.generated_at)),
        (tr("report.col.generated-by", lang), report.generated_by or "-"),
    ]


# -- Markdown -------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#!])")


def md(text: str) -> str:
    """Host text for Markdown: visible, and every character that could start markup (emphasis,
    links, HTML, table cells, entities) backslash-escaped."""
    return _MD_SPECIAL.sub(r"\\\1", visible(text))


def _md_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(md(c) for c in columns) + " |"]
    out.append("|" + "|".join("---" for _ in columns) + "|")
    out.extend("| " + " | ".join(md(cell) for cell in row) + " |" for row in rows)
    return out


def render_markdown(report: Report) -> str:
    lang = report.language
    tables = _rows(report)
    none = md(tr("report.none", lang))
    out = [f"# {md(tr('report.title', lang))}: {md(report.case.incident.id)}", ""]
    out.extend(f"- **{md(k)}**: {md(v)}" for k, v in _incident_fields(report))
    out += ["", f"## {md(tr('report.section.summary', lang))}", ""]
    out.append(_join(lang).join(md(s) for s in report.summary))
    out += ["", f"## {md(tr('report.section.open', lang))}", ""]
    out.extend([f"- {md(item)}" for item in report.open_items] or [none])
    out += ["", f"## {md(tr('report.section.clock', lang))}", ""]
    out.extend(f"- **{md(k)}**: {md(v)}" for k, v in _clock_fields(report))
    for section in ("timeline", "hosts", "findings"):
        columns, rows = tables[section]
        out += ["", f"## {md(tr(f'report.section.{section}', lang))}", ""]
        out.extend(_md_table(columns, rows) if rows else [none])
    out += ["", f"## {md(tr('report.section.actions', lang))}", ""]
    actions = _action_fields(report)
    if not actions:
        out.append(none)
    for head, fields, steps in actions:
        out += [f"### {md(head)}", ""]
        out.extend(f"- **{md(k)}**: {md(v)}" for k, v in fields)
        if steps:
            out.append(f"- **{md(tr('report.col.steps', lang))}**:")
            out.extend(f"  {n}. {md(step)}" for n, step in enumerate(steps, 1))
        out.append("")
    for section in ("evidence", "checklist"):
        columns, rows = tables[section]
        out += ["", f"## {md(tr(f'report.section.{section}', lang))}", ""]
        out.extend(_md_table(columns, rows) if rows else [none])
    out += ["", f"## {md(tr('report.section.notes', lang))}", ""]
    notes = report.case.notes
    out.extend([f"- {md(utc(n.at))} {md(n.author)}: {md(n.text)}" for n in notes] or [none])
    out += ["", md(tr("report.footer", lang, schema=SCHEMA)), ""]
    return "\n".join(out)


# -- HTML -----------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;
margin:2em auto;max-width:1200px;padding:0 1em;color:#1a1a1a}
h1{font-size:1.6em;border-bottom:2px solid #333}h2{margin-top:1.8em;border-bottom:1px solid #bbb}
h3{font-size:1.05em;margin-bottom:.3em}
table{border-collapse:collapse;width:100%;margin:.5em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td{overflow-wrap:anywhere}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{font-weight:600}dd{margin:0}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.summary{background:#f7f7f2;border-left:4px solid #776;padding:.6em 1em}
.open li{color:#8a1f11}ol.steps{margin:.2em 0 .8em}
footer{margin-top:3em;color:#777;font-size:12px}
@media print{body{margin:0;max-width:none}}
""".strip()

_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def h(text: str) -> str:
    """Host text for HTML: visible, then escaped (``<``, ``>``, ``&``, quotes)."""
    return html.escape(visible(text), quote=True)


def _html_dl(fields: Sequence[tuple[str, str]]) -> str:
    items = "".join(f"<dt>{h(k)}</dt><dd>{h(v)}</dd>" for k, v in fields)
    return f"<dl>{items}</dl>"


def _html_table(columns: Sequence[str], rows: Sequence[Sequence[str]], none: str) -> str:
    if not rows:
        return f"<p>{h(none)}</p>"
    head = "".join(f"<th>{h(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{h(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: Report) -> str:
    lang = report.language
    tables = _rows(report)
    none = tr("report.none", lang)
    title = f"{tr('report.title', lang)}: {report.case.incident.id}"
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{"zh-CN" if lang == "zh" else "en"}">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{h(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{h(title)}</h1>",
        _html_dl(_incident_fields(report)),
        f"<h2>{h(tr('report.section.summary', lang))}</h2>",
        '<div class="summary"><p>' + _join(lang).join(h(s) for s in report.summary) + "</p></div>",
        f"<h2>{h(tr('report.section.open', lang))}</h2>",
        '<ul class="open">' + "".join(f"<li>{h(i)}</li>" for i in report.open_items) + "</ul>"
        if report.open_items
        else f"<p>{h(none)}</p>",
        f"<h2>{h(tr('report.section.clock', lang))}</h2>",
        _html_dl(_clock_fields(report)),
    ]
    for section in ("timeline", "hosts", "findings"):
        columns, rows = tables[section]
        parts.append(f"<h2>{h(tr(f'report.section.{section}', lang))}</h2>")
        parts.append(_html_table(columns, rows, none))
    parts.append(f"<h2>{h(tr('report.section.actions', lang))}</h2>")
    actions = _action_fields(report)
    if not actions:
        parts.append(f"<p>{h(none)}</p>")
    for head, fields, steps in actions:
        parts.append(f"<h3>{h(head)}</h3>")
        parts.append(_html_dl(fields))
        if steps:
            items = "".join(f"<li><code>{h(step)}</code></li>" for step in steps)
            parts.append(f'<p>{h(tr("report.col.steps", lang))}:</p><ol class="steps">{items}</ol>')
    for section in ("evidence", "checklist"):
        columns, rows = tables[section]
        parts.append(f"<h2>{h(tr(f'report.section.{section}', lang))}</h2>")
        parts.append(_html_table(columns, rows, none))
    parts.append(f"<h2>{h(tr('report.section.notes', lang))}</h2>")
    notes = report.case.notes
    if notes:
        items = "".join(
            f'<li><span class="mono">{h(utc(n.at))}</span> {h(n.author)}: {h(n.text)}</li>'
            for n in notes
        )
        parts.append(f"<ul>{items}</ul>")
    else:
        parts.append(f"<p>{h(none)}</p>")
    parts += [
        f"<footer>{h(tr('report.footer', lang, schema=SCHEMA))}</footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


# -- JSON -----------------------------------------------------------------------------------------


def report_to_dict(report: Report) -> dict[str, Any]:
    """The report as data: raw values (host text as read), times UTC ISO 8601."""
    case, clock = report.case, report.clock
    incident = case.incident
    return {
        "schema": SCHEMA,
        "language": report.language,
        "generated_at": utc_precise(report.generated_at),
        "generated_by": report.generated_by,
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "status": incident.status.value,
            "opened_at": utc_precise(incident.opened_at),
            "opened_by": incident.opened_by,
            "closed_at": utc_precise(incident.closed_at),
            "first_detection_at": utc_precise(incident.first_detection_at),
        },
        "summary": list(report.summary),
        "open": list(report.open_items),
        "containment": {
            "started_at": utc_precise(clock.started_at),
            "budget_minutes": _minutes(clock.budget),
            "deadline": utc_precise(clock.deadline),
            "contained_at": utc_precise(clock.contained_at),
            "elapsed_seconds": int(clock.elapsed.total_seconds()),
            "in_time": clock.in_time,
        },
        "hosts": [
            {
                "name": x.name,
                "address": x.address,
                "provider": x.provider,
                "region": x.region,
                "instance_id": x.instance_id,
            }
            for x in case.hosts
        ],
        "findings": [
            {
                "host": f.host,
                "rule_id": f.rule_id,
                "severity": f.severity.label,
                "title": f.title,
                "explanation": f.explanation,  # as the rule wrote it (English)
                "explanation_text": explanation_in(f.rule_id, f.explanation, report.language),
                "evidence": dict(f.evidence),
                "key": f.key,
                "first_seen": utc_precise(f.first_seen),
                "last_seen": utc_precise(f.last_seen),
                "times_seen": f.times_seen,
            }
            for f in case.findings
        ],
        "actions": [
            {
                "at": utc_precise(a.at),
                "actor": a.actor,
                "host": a.host,
                "action": a.action,
                "subject": a.subject,
                "risk": a.risk,
                "params": dict(a.params),
                "steps": [{"what": what, "exact": exact} for what, exact in a.steps],
                "outcome": a.outcome.value,
                "summary": a.summary,
                "verification": a.verification,
                "state": a.state,
                "details": dict(a.details),
                "request_ids": list(a.request_ids),
                "undo": None if a.undo is None else {"action": a.undo[0], "params": a.undo[1]},
                "audit_hash": a.audit_hash,
            }
            for a in case.actions
        ],
        "evidence": [
            {
                "host": e.host,
                "path": e.path,
                "sha256": e.sha256,
                "size": e.size,
                "remote_path": e.remote_path,
                "collected_at": utc_precise(e.collected_at),
                "collector": e.collector,
                "action": e.action,
            }
            for e in case.evidence
        ],
        "notes": [
            {"at": utc_precise(n.at), "author": n.author, "text": n.text} for n in case.notes
        ],
        "checklist": [
            {
                "step": line.step_id,
                "title": line.title,
                "status": line.status.value,
                "reason": line.reason,
                "by": line.by,
                "at": utc_precise(line.at),
                "auto_verified": line.auto_verified,
                "check": None if line.check is None else line.check.value,
                "check_text": line.check_text,
            }
            for line in report.checklist
        ],
        "timeline": [
            {
                "at": utc_precise(e.at),
                "kind": e.kind,
                "host": e.host,
                "text": e.text,
                "detail": e.detail,
                "severity": None if e.severity is None else e.severity.label,
            }
            for e in report.timeline
        ],
    }


def render_json(report: Report, indent: int | None = 2) -> str:
    # ensure_ascii: control characters and undecodable bytes from hosts stay escaped.
    return json.dumps(report_to_dict(report), ensure_ascii=True, indent=indent, default=str) + "\n"


def render(report: Report, fmt: str) -> str:
    if fmt == "md":
        return render_markdown(report)
    if fmt == "html":
        return render_html(report)
    if fmt == "json":
        return render_json(report)
    raise ValueError(f"unknown report format {fmt!r} (one of: {', '.join(FORMATS)})")
