"""A one-line question (a reason to skip a step, an address to block, a command to run): Enter
answers, Escape cancels. The answer is the operator's text, returned stripped (None: cancelled
or empty); whoever asked plans an action with it, previewed and confirmed as any other."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from domain.i18n import Language, tr


class PromptScreen(ModalScreen[str | None]):
    LANG: ClassVar[Language] = "en"  # screens.localize sets it on a language's subclass

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]

    def __init__(self, question: str, placeholder: str = "", *, max_length: int = 0) -> None:
        super().__init__()
        self.question, self.placeholder, self.max_length = question, placeholder, max_length

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-body"):
            yield Static(Text(self.question, style="bold"))
            yield Input(placeholder=self.placeholder, max_length=self.max_length, id="prompt")
            yield Static(Text(tr("ui.prompt.hint", self.LANG), style="dim"))

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
