"""Asks for the passphrase of an encrypted SSH client key, inside the UI.

The operator may ask to keep it in the secret store (the system keyring, or on a headless
bastion the encrypted file, which needs its master password). When the encrypted file already
holds the passphrase, its master password alone is enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Static

from domain.i18n import Language, tr
from widgets.safe import host_text


@dataclass(frozen=True, slots=True)
class PassphraseAnswer:
    passphrase: str  # may be empty when ``master`` is given (look it up in the file)
    remember: bool
    master: str  # the encrypted file's master password ("" when not used)


@dataclass(frozen=True, slots=True)
class PassphraseQuestion:
    host: str
    key_path: Path
    wrong: bool  # the last passphrase given was wrong
    store: str  # where a remembered passphrase goes: "system keyring (...)", "encrypted file ..."
    uses_file: bool  # the store is the encrypted file: ask for its master password
    others: int = 0  # other hosts waiting for the same key
    lang: Language = "en"


class PassphraseScreen(ModalScreen[PassphraseAnswer | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="passphrase.cancel")]

    def __init__(self, question: PassphraseQuestion) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        q = self.question

        def w(key: str, **values: object) -> str:
            return tr(f"ui.passphrase.{key}", q.lang, **values)

        body = Text()
        body.append(w("host") + "  ")
        body.append_text(host_text(q.host, "bold"))
        body.append("\n" + w("key") + "  ")
        body.append_text(host_text(str(q.key_path)))
        body.append("\n")
        if q.others:
            body.append(w("others", count=q.others) + "\n")
        if q.wrong:
            body.append("\n" + w("wrong") + "\n", style="bold red")
        body.append("\n" + w("memory"))
        with Vertical(id="confirm-body"):
            yield Static(Text(w("title"), style="bold"))
            yield Static(body)
            yield Input(password=True, placeholder=w("placeholder"), id="passphrase")
            yield Checkbox(w("remember", store=q.store), id="remember")
            if q.uses_file:
                yield Static(Text(w("master")))
                yield Input(password=True, placeholder=w("master-placeholder"), id="master")
            with Horizontal(id="confirm-buttons"):
                yield Button(tr("ui.common.cancel", q.lang), id="cancel")
                yield Button(w("connect"), id="connect", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#passphrase", Input).focus()

    def _answer(self) -> PassphraseAnswer | None:
        passphrase = self.query_one("#passphrase", Input).value
        lang = self.question.lang
        masters = self.query("#master")
        master = masters.first(Input).value if masters else ""
        if not passphrase and not master:
            self.notify(tr("ui.passphrase.type-it", lang), severity="warning")
            return None
        remember = self.query_one("#remember", Checkbox).value
        if remember and self.question.uses_file and not master:
            self.notify(tr("ui.passphrase.needs-master", lang), severity="warning")
            return None
        return PassphraseAnswer(passphrase, remember, master)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        answer = self._answer()
        if answer is not None:
            self.dismiss(answer)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)
            return
        answer = self._answer()
        if answer is not None:
            self.dismiss(answer)

    def action_cancel(self) -> None:
        self.dismiss(None)
