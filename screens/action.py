"""A response action's preview and confirmation, then its progress and result.

The preview shows exactly what will run and where (the plan's steps: command lines or API calls),
its risk and its undo. Focus starts on Cancel. Destructive and irreversible actions are confirmed
by typing the host's name. In dry-run mode there is nothing to confirm: the preview is all.

The backends write their sentences in English (the audit log keeps them so); they are translated
here, when shown (``domain.explanations.action_text_in``): the plan's subject, each step's ``what``
and the warnings; the result's summary, verification and state. The literal commands and API
calls (``PlannedStep.exact``), undo parameters, host names and command output never are.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from domain.actions import ActionPlan, ActionResult, Outcome, Risk
from domain.explanations import action_text_in
from domain.i18n import Language, tr
from widgets.safe import host_text

RISK_STYLE = {
    Risk.READ_ONLY: "green",
    Risk.REVERSIBLE: "yellow",
    Risk.DESTRUCTIVE: "bold red",
    Risk.IRREVERSIBLE: "bold red reverse",
}


def plan_text(plan: ActionPlan, lang: Language = "en") -> Text:
    """The plan, every piece of host text shown literally (escaped), never as markup; the
    backend's sentences in ``lang``, the exact commands as they are."""

    def say(sentence: str) -> str:
        return action_text_in(plan.action, sentence, lang)

    text = Text()
    text.append(f"{tr('ui.action.host', lang)}  ")
    text.append_text(host_text(plan.host, "bold"))
    text.append(f"\n{tr('ui.action.subject', lang)}  ")
    text.append_text(host_text(say(plan.subject)))
    text.append(f"\n{tr('ui.action.risk', lang)}  ")
    risk = plan.risk.label
    text.append(risk if lang == "en" else tr(f"ui.risk.{risk}", lang), style=RISK_STYLE[plan.risk])
    text.append(f"\n\n{tr('ui.action.steps', lang)}\n", style="bold")
    for number, step in enumerate(plan.steps, 1):
        text.append(f" {number}. ")
        text.append_text(host_text(say(step.what)))
        text.append("\n    $ ", style="dim")
        text.append_text(host_text(step.exact, "cyan"))
        text.append("\n")
    if plan.undo is not None:
        action, params = plan.undo
        args = " ".join(f"{k}={v}" for k, v in params.items())
        text.append(f"\n{tr('ui.action.undo', lang)}  ")
        text.append_text(host_text(f"{action} {args}".rstrip()))
        text.append("\n")
    for warning in plan.warnings:
        text.append("\n! ", style="bold yellow")
        text.append_text(host_text(say(warning), "yellow"))
    return text


class ActionScreen(ModalScreen[bool]):
    """Dismissed with True only on an explicit confirmation (and, where required, the host's
    name typed exactly)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="action.cancel")]

    def __init__(self, plan: ActionPlan, *, dry_run: bool = False, lang: Language = "en") -> None:
        super().__init__()
        self.plan, self.dry_run, self.lang = plan, dry_run, lang

    def compose(self) -> ComposeResult:
        plan, lang = self.plan, self.lang
        title = tr(
            "ui.action.title-dry" if self.dry_run else "ui.action.title", lang, action=plan.action
        )
        with VerticalScroll(id="action-body"):
            yield Static(Text(title, style="bold"))
            yield Static(plan_text(plan, lang), id="action-plan")
            if plan.needs_typed_confirmation and not self.dry_run:
                prompt = Text(tr("ui.action.type-host", lang) + " ")
                prompt.append_text(host_text(plan.host, "bold"))
                yield Static(prompt)
                yield Input(placeholder=plan.host[:40], id="typed")
            with Horizontal(id="confirm-buttons"):
                yield Button(tr("ui.common.cancel", lang), id="cancel", variant="primary")
                if not self.dry_run:
                    yield Button(
                        tr("ui.action.execute", lang),
                        id="confirm",
                        variant="error",
                        disabled=plan.needs_typed_confirmation,
                    )

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @on(Input.Changed, "#typed")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = event.value != self.plan.host

    @on(Input.Submitted, "#typed")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value == self.plan.host:
            self.dismiss(True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        confirmed = event.button.id == "confirm" and not event.button.disabled
        self.dismiss(confirmed)

    def action_cancel(self) -> None:
        self.dismiss(False)


OUTCOME_STYLE = {
    Outcome.DONE: "bold green",
    Outcome.UNVERIFIED: "bold yellow",
    Outcome.FAILED: "bold red",
    Outcome.DRY_RUN: "bold",
    Outcome.CANCELLED: "dim",
}


def result_text(plan: ActionPlan, result: ActionResult, lang: Language = "en") -> Text:
    """What happened: the outcome, the summary, what the verification read back, the state left
    behind (those three in ``lang``), the evidence hashes, request ids and undo (as they are)."""

    def say(sentence: str) -> str:
        return action_text_in(plan.action, sentence, lang)

    text = Text()
    text.append(f"{plan.action}: ", style="bold")
    outcome = result.outcome.value
    text.append(
        outcome if lang == "en" else tr(f"outcome.{outcome}", lang),
        style=OUTCOME_STYLE[result.outcome],
    )
    text.append("\n\n")
    text.append_text(host_text(say(result.summary)))
    if result.verification:
        text.append(f"\n\n{tr('ui.action.verification', lang)}\n", style="bold")
        text.append_text(host_text(say(result.verification)))
    if result.state:
        text.append(f"\n\n{tr('ui.action.state', lang)}\n", style="bold")
        text.append_text(host_text(say(result.state)))
    for path, digest in result.evidence[:20]:
        text.append("\n")
        text.append_text(host_text(f"{digest}  {path}", "dim"))
    if result.request_ids:
        text.append(f"\n\n{tr('ui.action.request-ids', lang)} ", style="bold")
        text.append(", ".join(result.request_ids))
    if result.undo is not None:
        action, params = result.undo
        args = " ".join(f"{k}={v}" for k, v in params.items())
        text.append(f"\n{tr('ui.action.undo', lang)}  ")
        text.append_text(host_text(f"{action} {args}".rstrip()))
    return text


class ResultScreen(ModalScreen[None]):
    """What happened: the outcome, what the verification read back, the state left behind."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="result.close"),
        Binding("enter", "close", "Close", show=False, id="result.close_enter"),
    ]

    def __init__(self, plan: ActionPlan, result: ActionResult, lang: Language = "en") -> None:
        super().__init__()
        self.plan, self.result, self.lang = plan, result, lang

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="action-body"):
            yield Static(result_text(self.plan, self.result, self.lang))
            with Horizontal(id="confirm-buttons"):
                yield Button(tr("ui.common.close", self.lang), id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
