"""The response checklist (``c``): the steps of the open incident with their status, automatic
checks and the containment clock ("golden 30 minutes" from the first detection), in English or
Chinese. Steps are data (``domain.checklist``); marking one posts :class:`StepMarked`, running
one posts the step's action; the app records both in the case file."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from domain.checklist import ChecklistView, CheckStatus, Step, overall
from domain.i18n import Language, tr
from domain.incident import StepStatus
from screens.localize import localized
from screens.messages import ActionRequested, ScreenRequested, StepMarked
from screens.prompt import PromptScreen
from widgets.safe import host_text

STATUS_MARK = {
    StepStatus.PENDING: ("[ ]", ""),
    StepStatus.IN_PROGRESS: ("[~]", "yellow"),
    StepStatus.DONE: ("[x]", "green"),
    StepStatus.SKIPPED: ("[-]", "dim"),
}
CHECK_MARK = {
    CheckStatus.PASSED: ("ok", "green"),
    CheckStatus.FAILED: ("!!", "red"),
    CheckStatus.UNKNOWN: ("??", "dim"),
}
# The step actions that run on the whole host or instance (no row to select first).
RUNNABLE = ("isolate", "snapshot", "bundle", "scan", "report")


def _minutes(delta: object) -> int:
    return int(getattr(delta, "total_seconds", lambda: 0)() // 60)


class ChecklistScreen(Screen[None]):
    BINDINGS = [
        Binding("space", "mark('done')", "Done", id="checklist.done"),
        Binding("p", "mark('in-progress')", "In progress", id="checklist.progress"),
        Binding("s", "skip", "Skip", id="checklist.skip"),
        Binding("a", "run", "Run action", id="checklist.run"),
        Binding("r", "report", "Report", id="checklist.report"),
        Binding("L", "language", "中文/EN", id="checklist.language"),
        Binding("escape", "back", "Back", id="checklist.back"),
    ]

    def __init__(self, host: str, lang: Language, *, read_only: bool = False) -> None:
        super().__init__()
        self.host, self.lang, self.read_only = host, lang, read_only
        self.view: ChecklistView | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="checklist-body"):
            yield Static(id="checklist-head")
            yield OptionList(id="checklist-steps")
            yield Static(id="checklist-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        # The checks and the clock move with time and with what the hosts do.
        self.set_interval(
            5.0, lambda: self.post_message(ScreenRequested(self.host, "checklist-refresh"))
        )

    def show(self, view: ChecklistView) -> None:
        self.view = view
        lang = self.lang
        checklist, case, checks, clock = view.checklist, view.case, view.checks, view.clock
        head = Text(tr("ui.checklist.title", lang), style="bold")
        head.append("\n")
        if case is None:
            head.append(tr("ui.checklist.no-incident", lang), style="yellow")
        else:
            incident = case.incident
            head.append_text(
                host_text(tr("ui.checklist.incident", lang, id=incident.id, title=incident.title))
            )
        if clock is not None:
            head.append("\n")
            budget = _minutes(clock.budget)
            elapsed = _minutes(clock.elapsed)
            if clock.contained_at is not None:
                verdict = tr("ui.checklist.in-time" if clock.in_time else "ui.checklist.late", lang)
                line = tr(
                    "ui.checklist.clock-contained", lang,
                    elapsed=elapsed, budget=budget, verdict=verdict,
                )  # fmt: skip
                head.append(line, style="green" if clock.in_time else "red")
            elif clock.overdue:
                line = tr("ui.checklist.clock-overdue", lang, elapsed=elapsed, budget=budget)
                head.append(line, style="bold red")
            else:
                remaining = _minutes(clock.remaining)
                line = tr(
                    "ui.checklist.clock-running", lang,
                    elapsed=elapsed, remaining=remaining, budget=budget,
                )  # fmt: skip
                head.append(line, style="bold yellow")
        self.query_one("#checklist-head", Static).update(head)
        options = self.query_one(OptionList)
        highlighted = options.highlighted
        options.clear_options()
        states = {} if case is None else case.steps
        for number, step in enumerate(checklist.steps, 1):
            state = states.get(step.id)
            status = state.status if state is not None else StepStatus.PENDING
            mark, style = STATUS_MARK[status]
            label = Text(f"{mark} ", style=style)
            outcome = overall(checks.get(step.id, ()))
            check, colour = CHECK_MARK[outcome] if outcome is not None else ("  ", "")
            label.append(check, style=colour)
            label.append(f" {number}. {step.title_in(lang)}")
            options.add_option(Option(label, id=step.id))
        if options.option_count:
            options.highlighted = min(highlighted or 0, options.option_count - 1)
        self._show_detail()

    @on(OptionList.OptionHighlighted)
    def _highlighted(self) -> None:
        self._show_detail()

    def _step(self) -> Step | None:
        if self.view is None:
            return None
        options = self.query_one(OptionList)
        if options.highlighted is None:
            return None
        option = options.get_option_at_index(options.highlighted)
        return None if option.id is None else self.view.checklist.step(option.id)

    def _show_detail(self) -> None:
        step = self._step()
        if step is None or self.view is None:
            return
        lang = self.lang
        text = Text(step.title_in(lang), style="bold")
        text.append("\n")
        text.append(step.text_in(lang).strip())
        actions = step.actions
        if actions:
            names = ", ".join(tr(f"action.{a}", lang) for a in actions)
            text.append("\n\n" + tr("ui.checklist.actions", lang, actions=names), style="cyan")
        case = self.view.case
        state = None if case is None else case.steps.get(step.id)
        if state is not None:
            text.append(f"\n{tr('step-status.' + state.status.value, lang)}", style="bold")
            text.append("  ")
            text.append_text(host_text(state.by))
            text.append(f"  {state.at:%Y-%m-%d %H:%M}Z")
            if state.reason:
                text.append("  ")
                text.append_text(host_text(state.reason))
        for result in self.view.checks.get(step.id, ()):
            mark, colour = CHECK_MARK[result.status]
            text.append(f"\n{mark} ", style=colour)
            text.append_text(host_text(result.describe(lang)))
        text.append("\n\n" + tr("ui.checklist.keys", lang), style="dim")
        self.query_one("#checklist-detail", Static).update(text)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("mark", "skip", "run", "report"):
            return not self.read_only
        return True

    def action_mark(self, status: str) -> None:
        step = self._step()
        if step is not None:
            self.post_message(StepMarked(step.id, status))

    def action_skip(self) -> None:
        step = self._step()
        if step is None:
            return

        def reason(text: str | None) -> None:
            if text:
                self.post_message(StepMarked(step.id, "skipped", text))

        prompt = localized(PromptScreen, self.lang)
        self.app.push_screen(prompt(tr("ui.checklist.skip-reason", self.lang)), reason)

    def action_run(self) -> None:
        step = self._step()
        if step is None:
            return
        runnable = [a for a in step.actions if a in RUNNABLE]
        if not runnable:
            self.notify(tr("ui.checklist.no-action", self.lang))
            return
        if runnable[0] == "report":
            self.action_report()
        else:
            self.post_message(ActionRequested(self.host, runnable[0], {}))

    def action_report(self) -> None:
        self.post_message(ScreenRequested(self.host, "report"))

    def action_language(self) -> None:
        self.lang = "zh" if self.lang == "en" else "en"
        if self.view is not None:
            self.show(self.view)

    def action_back(self) -> None:
        self.dismiss()
