"""The sickbay Textual application: owns the sources and their collection workers."""

from __future__ import annotations

import asyncio
import time
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from domain.detect import Detector
from domain.source import Source, SourceError
from screens.help import HelpScreen, binding_rows
from screens.host import HostScreen
from screens.messages import SnapshotReady, SourceFailed
from tui.commands import HostCommands
from tui.config import Settings
from tui.watch import HostWatch


class SickbayApp(App[None]):
    """One host screen per source; one long-lived collect/post/sleep worker per source, so a
    slow sample is never cancelled by the next tick and a slow host never delays another."""

    CSS_PATH = "app.tcss"
    TITLE = "sickbay"
    COMMANDS: ClassVar = App.COMMANDS | {HostCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="app.quit_now"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding(
            "ctrl+p,colon", "command_palette", "Commands", show=False, id="app.command_palette"
        ),
        Binding("ctrl+c", "help_quit", show=False, system=True),
    ]

    def __init__(
        self, source: Source, settings: Settings | None = None, detector: Detector | None = None
    ) -> None:
        super().__init__()
        self.source = source
        self.settings = settings or Settings()
        self.watch_ = HostWatch(source, detector)
        self.host_screen = HostScreen(source.name, self.settings.history_size)

    def on_mount(self) -> None:
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        else:
            self.notify(f"unknown theme {self.settings.theme!r}", severity="warning", markup=False)
        self.set_keymap(self.settings.keymap)
        for warning in self.settings.warnings:
            self.notify(warning, severity="warning", markup=False)
        self.push_screen(self.host_screen)
        self.run_worker(
            self._collect(self.watch_),
            name=f"collect {self.source.name}",
            group=f"collect:{self.source.name}",
            exit_on_error=False,
        )

    async def _collect(self, watch: HostWatch) -> None:
        interval = self.settings.interval
        while True:
            started = time.monotonic()
            try:
                seen = await watch.step()
            except SourceError as exc:
                self.host_screen.post_message(SourceFailed(watch.source.name, str(exc)))
            else:
                self.host_screen.post_message(SnapshotReady(seen.snapshot, seen.findings))
            await asyncio.sleep(max(0.05, interval - (time.monotonic() - started)))

    async def on_unmount(self) -> None:
        await self.source.close()

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(binding_rows(self.screen)))
