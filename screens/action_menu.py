"""Choose one of a finding's response actions (``x`` on a finding)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from domain.findings import ACTIONS, Finding
from widgets.safe import host_text


class ActionMenuScreen(ModalScreen[str | None]):
    """Dismissed with the chosen action id, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="action_menu.cancel")]

    def __init__(self, finding: Finding, available: frozenset[str]) -> None:
        super().__init__()
        self.finding, self.available = finding, available

    def compose(self) -> ComposeResult:
        title = Text("Respond to: ", style="bold")
        title.append_text(host_text(self.finding.title))
        options = []
        for action in self.finding.actions:
            label = Text(f"{action:<12}", style="bold")
            label.append(ACTIONS.get(action, ""))
            usable = action in self.available
            if not usable:
                label.append("  (not available here)", style="dim")
            options.append(Option(label, id=action, disabled=not usable))
        with Vertical(id="confirm-body"):
            yield Static(title)
            yield OptionList(*options, id="action-options")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
