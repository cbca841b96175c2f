"""The one-line status bar at the top of the host screen."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from domain.findings import Finding, Severity
from domain.i18n import Language, catalog, tr
from domain.model import HostSnapshot
from widgets.safe import host_text


def _uptime(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d{hours:02d}h" if days else f"{hours}h{rest // 60:02d}m"


def state_label(state: str, lang: Language) -> str:
    """A host's state ("live", "stale", "host key unknown", ...) in ``lang``; a state the
    catalog does not know is shown as it is."""
    return catalog(lang).get("ui.state." + state.replace(" ", "-"), state)


def failure_text(state: str, reason: str, lang: Language) -> str:
    """ "state: reason" of a host that has no fresh sample (the reason may quote the host: it is
    a value, never translated; a reason that only repeats the state is translated with it)."""
    shown = state_label(reason, lang) if reason == state else reason
    return tr("ui.status.state", lang, state=state_label(state, lang), reason=shown)


class StatusBar(Static):
    """Host, its own claimed hostname (hostile text), source, sample cost and freshness."""

    lang: Language = "en"

    def show_snapshot(self, snapshot: HostSnapshot, findings: tuple[Finding, ...] = ()) -> None:
        text = Text.assemble(("sickbay ", "bold"), host_text(snapshot.host, "bold"))
        if snapshot.hostname and snapshot.hostname != snapshot.host:
            text.append(" (")
            text.append_text(host_text(snapshot.hostname))
            text.append(")")
        # The most important thing first, so an 80-column terminal never cuts it off.
        counts = [
            f"{n} {tr('severity.' + level.label, self.lang)}"
            for level in (Severity.CRITICAL, Severity.HIGH)
            if (n := sum(1 for f in findings if f.severity == level))
        ]
        if counts:
            text.append("  ")
            text.append(" " + ", ".join(counts) + " ", style="bold reverse")
        lang = self.lang
        text.append("  " + tr("ui.status.up", lang, uptime=_uptime(snapshot.metrics.uptime_s)))
        text.append(
            "  "
            + tr(
                "ui.status.counts", lang,
                procs=len(snapshot.processes), sockets=len(snapshot.sockets),
            )
        )  # fmt: skip
        if snapshot.collector_cpu_ms is not None:
            ms = f"{snapshot.collector_cpu_ms:.0f}"
            text.append("  " + tr("ui.status.sample", lang, ms=ms))
        text.append("  " + tr("ui.status.via", lang, source=snapshot.source))
        text.append(time.strftime("  %H:%M:%S", time.localtime(snapshot.taken_at)))
        if snapshot.errors:
            text.append(
                "  " + tr("ui.status.unreadable", self.lang, count=len(snapshot.errors)),
                style="bold",
            )
        self.update(text)

    def show_failure(self, host: str, reason: str) -> None:
        text = Text.assemble(("sickbay ", "bold"), host_text(host, "bold"), "  ")
        # A source's reason may quote what the host said (an agent's stderr): host text.
        failed = tr("ui.status.failed", self.lang, reason=reason)
        text.append_text(host_text(failed, "bold reverse"))
        self.update(text)
