"""The fleet: one row per watched host, the most alarming first."""

from __future__ import annotations

from domain.fleet import LIVE, FleetRow
from domain.sanitize import visible
from domain.units import percent
from widgets.live_table import Column, LiveTable

MARKED = ("critical", "high", "medium", "low")


def state_text(row: FleetRow) -> str:
    if row.state != LIVE and row.age is not None:
        return f"{row.state} {row.age:.0f}s"
    return row.state


def findings_text(row: FleetRow) -> str:
    parts = []
    if row.critical:
        parts.append(f"{row.critical} crit")
    if row.high:
        parts.append(f"{row.high} high")
    return " ".join(parts) or ("-" if row.worst is None else row.worst.label)


def fleet_mark(row: FleetRow) -> str | None:
    if row.worst is not None and row.worst.label in MARKED:
        return row.worst.label
    return None


def fleet_columns() -> list[Column[FleetRow]]:
    return [
        Column("host", "HOST", lambda r: visible(r.name), 18, sort_key=lambda r: r.name),
        Column("state", "STATE", state_text, 16, sort_key=lambda r: (r.state != LIVE, r.state)),
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
            findings_text,
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
        Column(
            "reason", "WHY", lambda r: "" if r.state == LIVE else visible(r.reason), 10, flex=True
        ),
    ]


class FleetTable(LiveTable[FleetRow]):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            fleet_columns(),
            key=lambda r: r.name,
            sort="findings",
            reverse=True,
            mark=fleet_mark,
            id=id,
        )
