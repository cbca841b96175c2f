"""A finding in full: why it was raised, the evidence, ATT&CK, and what to do."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from domain.findings import Finding
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


def finding_text(finding: Finding) -> Text:
    """Our own labels as styled text; everything that came from the host through host_text."""
    text = Text()
    text.append(f"{finding.severity.label.upper()}  ", style="bold")
    text.append_text(host_text(finding.title, "bold"))
    text.append(f"\n{finding.rule_id}", style="dim")
    if finding.attack:
        text.append("   ATT&CK " + ", ".join(finding.attack), style="dim")
    text.append("\n\n")
    text.append_text(host_text(finding.explanation))
    text.append("\n\nEvidence\n", style="bold")
    for name, value in finding.evidence.as_dict().items():
        text.append(f"  {name:<12}", style="dim")
        text.append_text(host_text(str(value)))
        text.append("\n")
    if finding.actions:
        text.append("\nWhat to do\n", style="bold")
        for action in finding.actions:
            text.append(f"  {action:<12}", style="bold")
            text.append(ACTION_HELP.get(action, "") + "\n")
    seen = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(finding.first_seen))
    last = time.strftime("%H:%M:%S", time.localtime(finding.last_seen))
    text.append(f"\nfirst seen {seen}, last seen {last}", style="dim")
    return text


class FindingScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,d", "dismiss", "Close", id="finding.close")]

    def __init__(self, finding: Finding) -> None:
        super().__init__()
        self.finding = finding

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="finding-body"):
            yield Static(finding_text(self.finding))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
