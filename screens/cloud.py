"""The cloud instance behind a host: state, addresses, security groups with their rules, disks,
snapshots with their progress, tags; and the cloud actions (each previewed with its exact API
calls, confirmed, verified and recorded by the app)."""

from __future__ import annotations

import time
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from domain.cloud import InstanceView
from domain.i18n import Language, tr
from screens.localize import localized
from screens.messages import ActionRequested, ScreenRequested
from screens.prompt import PromptScreen
from widgets.safe import host_text

# Cloud action ids as the app routes them (host actions have their own "block").
CLOUD_KEYS = {
    "snapshot": "cloud:snapshot",
    "isolate": "cloud:isolate",
    "unisolate": "cloud:unisolate",
    "stop": "cloud:stop",
    "force-stop": "cloud:force-stop",
    "start": "cloud:start",
    "reboot": "cloud:reboot",
}

# action: (question, the parameter the answer fills, placeholder)
ASKS = {
    "block": ("ui.cloud.block-ask", "cidr", "ui.cloud.address"),
    "unblock": ("ui.cloud.unblock-ask", "cidr", "ui.cloud.address"),
    "run-command": ("ui.cloud.run-ask", "script", ""),
}


def view_text(view: InstanceView, lang: Language = "en") -> Text:
    """The instance in plain Text (tags, names and descriptions are not ours: shown literally)."""

    def w(key: str) -> str:
        return tr(f"ui.cloudview.{key}", lang)

    def label(key: str) -> str:
        return w(key) + " " * max(1, 11 - cell_len(w(key)))

    i = view.instance
    t = Text()
    t.append(f"{i.provider}  {i.region} {i.zone}\n", style="bold")
    t.append(label("instance"))
    t.append(i.id, style="bold")
    t.append("  ")
    t.append_text(host_text(i.name))
    t.append(f"\n{label('matched')}{view.how}\n")
    style = "green" if i.state == "running" else "yellow"
    t.append(label("state"))
    t.append(f"{i.state}", style=f"bold {style}")
    t.append(f" ({i.raw_state})\n" if i.raw_state else "\n")
    t.append(f"{label('private')}{', '.join(i.private_ips) or '-'}\n")
    t.append(f"{label('public')}{', '.join(i.public_ips) or '-'}\n")
    t.append(f"{label('vpc')}{i.vpc_id or '-'}   {w('type')} {i.instance_type or '-'}\n")
    if i.tags:
        t.append(label("tags"))
        t.append_text(host_text(", ".join(f"{k}={v}" for k, v in i.tags)))
        t.append("\n")
    t.append(f"\n{w('groups')}\n", style="bold")
    for group in view.groups:
        t.append(f"  {group.id} ", style="bold")
        t.append_text(host_text(group.name))
        t.append("\n")
        for r in group.rules:
            colour = "green" if r.policy == "accept" else "red"
            t.append(f"    {r.direction:<7} ")
            t.append(f"{r.policy:<6}", style=colour)
            t.append(f" {r.protocol:<4} {r.ports:<11} {r.cidr:<20} {w('prio')} {r.priority}\n")
    t.append(f"\n{w('disks')}\n", style="bold")
    for disk in view.disks:
        t.append(f"  {disk.id}  {disk.kind:<6} {disk.size_gb} GB  {disk.category} {disk.device}\n")
    t.append(f"\n{w('snapshots')}\n", style="bold")
    if not view.snapshots:
        t.append(f"  {w('no-snapshots')}\n", style="yellow")
    for snap in view.snapshots[:10]:
        colour = {"accomplished": "green", "failed": "red"}.get(snap.status, "yellow")
        t.append(f"  {snap.id}  {snap.disk_id}  ")
        t.append(f"{snap.status} {snap.progress}%", style=colour)
        t.append(f"  {snap.created}\n")
    age = time.time() - view.read_at if view.read_at else 0.0
    t.append("\n" + tr("ui.cloudview.read-ago", lang, seconds=f"{age:.0f}"), style="dim")
    return t


class CloudScreen(Screen[None]):
    LANG: ClassVar[Language] = "en"  # screens.localize sets it on a language's subclass

    BINDINGS = [
        Binding("s", "act('snapshot')", "Snapshot", id="cloud.snapshot"),
        Binding("i", "act('isolate')", "Isolate", id="cloud.isolate"),
        Binding("U", "act('unisolate')", "Un-isolate", id="cloud.unisolate"),
        Binding("S", "act('stop')", "Stop", show=False, id="cloud.stop"),
        Binding("ctrl+s", "act('force-stop')", "Force stop", show=False, id="cloud.force_stop"),
        Binding("T", "act('start')", "Start", show=False, id="cloud.start"),
        Binding("R", "act('reboot')", "Reboot", show=False, id="cloud.reboot"),
        Binding("b", "ask('block')", "Block", id="cloud.block"),
        Binding("B", "ask('unblock')", "Unblock", show=False, id="cloud.unblock"),
        Binding("x", "ask('run-command')", "Command", id="cloud.run_command"),
        Binding("A", "agent", "Via agent", show=False, id="cloud.agent_watch"),
        Binding("r", "reread", "Refresh", id="cloud.refresh"),
        Binding("escape", "back", "Back", id="cloud.back"),
    ]

    def __init__(self, host: str, *, read_only: bool = False) -> None:
        super().__init__()
        self.host, self.read_only = host, read_only
        self.view: InstanceView | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="cloud-body"):
            reading = tr("ui.cloud.reading", self.LANG, host=self.host)
            yield Static(host_text(reading), id="cloud-view")
        yield Footer()

    def show(self, view: InstanceView | None, problem: str = "") -> None:
        self.view = view
        widget = self.query_one("#cloud-view", Static)
        if view is None:
            text = Text(tr("ui.cloud.none", self.LANG), style="bold yellow")
            text.append_text(host_text(problem))
            widget.update(text)
        else:
            widget.update(view_text(view, self.LANG))
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("act", "ask", "agent"):
            return not self.read_only and self.view is not None
        return True

    def action_act(self, action: str) -> None:
        if self.view is not None:
            params = {"instance": self.view.instance.id}
            self.post_message(ActionRequested(self.host, CLOUD_KEYS[action], params))

    def action_ask(self, action: str) -> None:
        """Block / unblock an address, run a command: the one thing the action needs is asked
        first; the action is then planned, previewed and confirmed as the others."""
        if self.view is None:
            return
        instance = self.view.instance.id
        question, field, hint = ASKS[action]
        prompt = localized(PromptScreen, self.LANG)
        placeholder = tr(hint, self.LANG) if hint else ""

        def answered(value: str | None) -> None:
            if value:
                params = {"instance": instance, field: value}
                self.post_message(ActionRequested(self.host, f"cloud:{action}", params))

        self.app.push_screen(
            prompt(tr(question, self.LANG, instance=instance), placeholder, max_length=4096),
            answered,
        )

    def action_agent(self) -> None:
        """Watch the host through its cloud agent (previewed and confirmed by the app)."""
        if self.view is not None:
            params = {"instance": self.view.instance.id}
            self.post_message(ActionRequested(self.host, "cloud:agent-watch", params))

    def action_reread(self) -> None:
        self.post_message(ScreenRequested(self.host, "cloud-refresh"))

    def action_back(self) -> None:
        self.dismiss()
