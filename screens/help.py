"""`?`: every key that works here, what it does, and the id to remap it by."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from domain.i18n import Language, tr
from screens.localize import label
from tui.config import default_config_path


def binding_rows(screen: Screen[object], lang: Language = "en") -> list[tuple[str, str, str]]:
    """(key, description, binding id) for every binding active on ``screen`` now, effective
    keymap applied, sorted by id; descriptions in ``lang``."""
    rows: dict[str, tuple[str, str, str]] = {}
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if binding.system:
            continue
        key_text = screen.app.get_key_display(binding)
        description = label(binding, lang, "keys") or binding.tooltip or binding.action
        ident = binding.id or ""
        if (ident or key) in rows:
            previous = rows[ident or key]
            rows[ident or key] = (f"{previous[0]}, {key_text}", description, ident)
        else:
            rows[ident or key] = (key_text, description, ident)
    return sorted(rows.values(), key=lambda row: (row[2] or "~", row[0]))


class HelpScreen(ModalScreen[None]):
    """A modal listing of the keys; any of escape, q or ? closes it."""

    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help.close"),
    ]

    def __init__(self, rows: list[tuple[str, str, str]], lang: Language = "en") -> None:
        super().__init__()
        self.rows, self.lang = rows, lang

    def compose(self) -> ComposeResult:
        text = Text()
        text.append(tr("ui.help.title", self.lang) + "\n\n", style="bold")
        width = max((len(key) for key, _, _ in self.rows), default=4) + 2
        for key, description, ident in self.rows:
            text.append(key.ljust(width), style="bold")
            text.append(description.ljust(36))
            text.append(f" {ident}\n", style="dim")
        text.append(
            "\n" + tr("ui.help.remap", self.lang, path=str(default_config_path())) + "\n"
            '  [keymap]\n  "host.filter" = "f"\n',
            style="dim",
        )
        with VerticalScroll(id="help-body"):
            yield Static(text)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
