"""A finding in full: why it was raised, the evidence, ATT&CK, and what to do."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from domain.explanations import explanation_in
from domain.findings import Finding
from domain.i18n import Language, catalog, rule_title, tr
from widgets.safe import host_text


def action_help(action: str, lang: Language) -> str:
    """What a response action does, in a few words (``ui.finding.do.<action>``; "" for an action
    the catalog does not describe)."""
    key = f"ui.finding.do.{action}"
    return tr(key, lang) if key in catalog("en") else ""


def finding_text(finding: Finding, lang: Language = "en") -> Text:
    """Our own labels as styled text; everything that came from the host through host_text."""
    text = Text()
    text.append(f"{tr('severity.' + finding.severity.label, lang).upper()}  ", style="bold")
    text.append_text(host_text(rule_title(finding.rule_id, finding.title, lang), "bold"))
    text.append(f"\n{finding.rule_id}", style="dim")
    if finding.attack:
        text.append("   ATT&CK " + ", ".join(finding.attack), style="dim")
    text.append("\n\n")
    text.append_text(host_text(explanation_in(finding.rule_id, finding.explanation, lang)))
    text.append(f"\n\n{tr('ui.finding.evidence', lang)}\n", style="bold")
    for name, value in finding.evidence.as_dict().items():
        text.append(f"  {name:<12}", style="dim")
        text.append_text(host_text(str(value)))
        text.append("\n")
    if finding.actions:
        text.append(f"\n{tr('ui.finding.todo', lang)}\n", style="bold")
        for action in finding.actions:
            text.append(f"  {action:<12}", style="bold")
            text.append(action_help(action, lang) + "\n")
    seen = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(finding.first_seen))
    last = time.strftime("%H:%M:%S", time.localtime(finding.last_seen))
    text.append("\n" + tr("ui.finding.seen", lang, first=seen, last=last), style="dim")
    return text


class FindingScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,d", "dismiss", "Close", id="finding.close")]

    def __init__(self, finding: Finding, lang: Language = "en") -> None:
        super().__init__()
        self.finding, self.lang = finding, lang

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="finding-body"):
            yield Static(finding_text(self.finding, self.lang))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
