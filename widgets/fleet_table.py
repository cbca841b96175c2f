"""The fleet: one row per watched host, the most alarming first."""

from __future__ import annotations

from collections.abc import Callable

from domain.fleet import LIVE, FleetRow
from domain.i18n import Language, tr
from domain.sanitize import visible
from domain.units import percent
from widgets.live_table import Column, LiveTable
from widgets.status import state_label

MARKED = ("critical", "high", "medium", "low")


def state_text(row: FleetRow, lang: Language = "en") -> str:
    state = state_label(row.state, lang)
    if row.state != LIVE and row.age is not None:
        return f"{state} {row.age:.0f}s"
    return state


def findings_text(row: FleetRow, lang: Language = "en") -> str:
    parts = []
    if row.critical:
        parts.append(tr("ui.fleet.critical", lang, count=row.critical))
    if row.high:
        parts.append(tr("ui.fleet.high", lang, count=row.high))
    if parts or row.worst is None:
        return " ".join(parts) or "-"
    return row.worst.label if lang == "en" else tr(f"severity.{row.worst.label}", lang)


def reason_text(row: FleetRow, lang: Language = "en") -> str:
    """Why a host is not live: the source's words (may quote the host), shown as they are; a
    reason that only repeats the state ("connecting") is translated with it."""
    if row.state == LIVE:
        return ""
    return state_label(row.reason, lang) if row.reason == row.state else visible(row.reason)


def fleet_mark(row: FleetRow) -> str | None:
    if row.worst is not None and row.worst.label in MARKED:
        return row.worst.label
    return None


def fleet_columns(lang: Callable[[], Language] = lambda: "en") -> list[Column[FleetRow]]:
    """``lang``: the language of our own words in the cells (read on each render)."""
    return [
        Column("host", "HOST", lambda r: visible(r.name), 18, sort_key=lambda r: r.name),
        Column(
            "state",
            "STATE",
            lambda r: state_text(r, lang()),
            16,
            sort_key=lambda r: (r.state != LIVE, r.state),
        ),
        Column(
            "cpu", "CPU", lambda r: percent(r.cpu), 6, "right", lambda r: r.cpu, descending=True
        ),
        Column(
            "load",
            "LOAD",
            lambda r: "-" if r.load1 is None else f"{r.load1:.2f}",
            6,
            "right",
            lambda r: r.load1,
            descending=True,
        ),
        Column(
            "findings",
            "FINDINGS",
            lambda r: findings_text(r, lang()),
            14,
            sort_key=lambda r: (-1 if r.worst is None else int(r.worst), r.critical, r.high),
            descending=True,
        ),
        Column(
            "procs",
            "SUSP.PROC",
            lambda r: str(r.suspicious_processes),
            9,
            "right",
            lambda r: r.suspicious_processes,
            descending=True,
        ),
        Column(
            "ports",
            "SUSP.PORT",
            lambda r: str(r.suspicious_ports),
            9,
            "right",
            lambda r: r.suspicious_ports,
            descending=True,
        ),
        Column("reason", "WHY", lambda r: reason_text(r, lang()), 10, flex=True),
    ]


class FleetTable(LiveTable[FleetRow]):
    """Hosts, most alarming first. With ``lang`` set, states and counts show in that language
    (host names and reasons as they are)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            fleet_columns(lambda: self._lang),
            key=lambda r: r.name,
            sort="findings",
            reverse=True,
            mark=fleet_mark,
            id=id,
        )
