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
from domain.i18n import Language, rule_title, tr
from screens.finding import action_help
from widgets.safe import host_text


class ActionMenuScreen(ModalScreen[str | None]):
    """Dismissed with the chosen action id, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="action_menu.cancel")]

    def __init__(self, finding: Finding, available: frozenset[str], lang: Language = "en") -> None:
        super().__init__()
        self.finding, self.available, self.lang = finding, available, lang

    def compose(self) -> ComposeResult:
        lang = self.lang
        title = Text(tr("ui.menu.respond-to", lang) + " ", style="bold")
        title.append_text(host_text(rule_title(self.finding.rule_id, self.finding.title, lang)))
        options = []
        for action in self.finding.actions:
            label = Text(f"{action:<12}", style="bold")
            label.append(ACTIONS.get(action, "") if lang == "en" else action_help(action, lang))
            usable = action in self.available
            if not usable:
                label.append("  " + tr("ui.menu.unavailable", lang), style="dim")
            options.append(Option(label, id=action, disabled=not usable))
        with Vertical(id="confirm-body"):
            yield Static(title)
            yield OptionList(*options, id="action-options")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
