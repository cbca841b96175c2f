"""sickbay's own commands in the command palette (ctrl+p or `:`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from screens.host import HostScreen

# (name shown in the palette, help text, HostScreen action). Our own text, never host data.
HOST_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("Processes", "Focus the process table", "focus_pane('processes')"),
    ("Network", "Focus the sockets table", "focus_pane('network')"),
    ("Filter", "Filter the focused table", "filter"),
    ("Zoom pane", "Maximise the focused pane, or restore it", "zoom"),
    ("Help", "List every key and its id", "app.help"),
)


class HostCommands(Provider):
    """Commands that act on the host screen."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        screen = self.screen
        if not isinstance(screen, HostScreen):
            return []
        return [
            (name, help_text, partial(screen.run_action, action))
            for name, help_text, action in HOST_COMMANDS
        ]

    async def discover(self) -> Hits:
        for name, help_text, run in self._commands():
            yield DiscoveryHit(name, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, run in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), run, help=help_text)
