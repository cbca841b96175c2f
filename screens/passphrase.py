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


class PassphraseScreen(ModalScreen[PassphraseAnswer | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="passphrase.cancel")]

    def __init__(self, question: PassphraseQuestion) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        q = self.question
        body = Text()
        body.append("Host   ")
        body.append_text(host_text(q.host, "bold"))
        body.append(f"\nKey    {q.key_path}\n")
        if q.others:
            body.append(f"       (also used by {q.others} other host(s) waiting for it)\n")
        if q.wrong:
            body.append("\nThat passphrase was wrong. Try again.\n", style="bold red")
        body.append("\nThe passphrase stays in memory unless you ask to remember it.")
        with Vertical(id="confirm-body"):
            yield Static(Text("Passphrase for the encrypted SSH key", style="bold"))
            yield Static(body)
            yield Input(password=True, placeholder="passphrase", id="passphrase")
            yield Checkbox(f"Remember it in the {q.store}", id="remember")
            if q.uses_file:
                yield Static(
                    Text(
                        "Master password of the encrypted secrets file (to remember the "
                        "passphrase there, or, with the passphrase left empty, to read it "
                        "from there):"
                    )
                )
                yield Input(password=True, placeholder="master password", id="master")
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Connect", id="connect", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#passphrase", Input).focus()

    def _answer(self) -> PassphraseAnswer | None:
        passphrase = self.query_one("#passphrase", Input).value
        masters = self.query("#master")
        master = masters.first(Input).value if masters else ""
        if not passphrase and not master:
            self.notify("type the passphrase (or the master password)", severity="warning")
            return None
        remember = self.query_one("#remember", Checkbox).value
        if remember and self.question.uses_file and not master:
            self.notify("remembering needs the master password", severity="warning")
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
