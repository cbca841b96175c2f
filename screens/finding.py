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
from domain.i18n import Language, rule_title, tr
from widgets.safe import host_text

ACTION_HELP = {
    "freeze": "freeze the process tree (SIGSTOP) to stop it without losing evidence",
    "kill": "kill it, after its evidence is collected",
    "collect": "collect the process evidence (executable, cmdline, environ, maps, fds), hashed",
    "block": "block the address in the host firewall or the security group",
    "quarantine": "move the file to quarantine, permissions removed, hash recorded",
    "disable": "disable the persistence entry, keeping the original",
    "lock-user": "lock the account (never delete it)",
    "remove-key": "remove the authorized_keys entry, after a backup",
    "isolate": "isolate the instance with a quarantine security group",
    "snapshot": "snapshot every disk of the instance first (evidence)",
    "scan": "scan the files with ClamAV",
}


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
            words = ACTION_HELP.get(action, "") if lang == "en" else tr(f"action.{action}", lang)
            text.append(words + "\n")
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
