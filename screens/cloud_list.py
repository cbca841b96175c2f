"""Every instance of the configured cloud accounts and regions (``I``), filterable; Enter adds
the selected one as an SSH target (watched like the others)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from domain.cloud import Instance
from domain.i18n import Language, tr
from widgets.safe import host_text


def instance_label(instance: Instance) -> Text:
    colour = "green" if instance.state == "running" else "yellow"
    text = Text(f"{instance.provider:<8} {instance.region:<16} {instance.id:<24} ")
    text.append(f"{instance.state:<9}", style=colour)
    text.append(f" {', '.join(instance.public_ips or instance.private_ips):<32} ")
    text.append_text(host_text(instance.name))
    return text


def _haystack(instance: Instance) -> str:
    parts = (instance.id, instance.name, instance.region, instance.state, *instance.addresses)
    return " ".join((*parts, *(f"{k}={v}" for k, v in instance.tags))).lower()


class CloudListScreen(Screen[None]):
    LANG: ClassVar[Language] = "en"  # screens.localize sets it on a language's subclass

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="instances.filter"),
        Binding("r", "reread", "Refresh", id="instances.refresh"),
        Binding("escape", "back", "Back", id="instances.back"),
    ]

    class AddTarget(Message):
        """Watch this instance over SSH (at its public address, else its private one)."""

        def __init__(self, instance: Instance) -> None:
            super().__init__()
            self.instance = instance

    class Reread(Message):
        pass

    def __init__(self) -> None:
        super().__init__()
        self.instances: list[Instance] = []
        self.problems: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="instances-body"):
            yield Static(Text(tr("ui.instances.reading", self.LANG)), id="instances-head")
            placeholder = tr("ui.instances.filter", self.LANG)
            yield Input(placeholder=placeholder, id="instances-filter")
            yield OptionList(id="instances")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def show(self, instances: list[Instance], problems: list[str]) -> None:
        self.instances, self.problems = instances, problems
        self._refill()

    def _refill(self) -> None:
        query = self.query_one("#instances-filter", Input).value.strip().lower()
        shown = [i for i in self.instances if not query or query in _haystack(i)]
        lang = self.LANG
        count = tr("ui.instances.count", lang, shown=len(shown), total=len(self.instances))
        head = Text(count, style="bold")
        head.append("   " + tr("ui.instances.keys", lang), style="dim")
        for problem in self.problems:
            head.append("\n! ", style="yellow")
            head.append_text(host_text(problem, "yellow"))
        self.query_one("#instances-head", Static).update(head)
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([Option(instance_label(i), id=i.id) for i in shown])

    @on(Input.Changed, "#instances-filter")
    def _filter(self) -> None:
        self._refill()

    @on(Input.Submitted, "#instances-filter")
    def _filtered(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        instance = next((i for i in self.instances if i.id == event.option.id), None)
        if instance is not None:
            self.post_message(self.AddTarget(instance))

    def action_filter(self) -> None:
        self.query_one("#instances-filter", Input).focus()

    def action_reread(self) -> None:
        self.post_message(self.Reread())

    def action_back(self) -> None:
        self.dismiss()
