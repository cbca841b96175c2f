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
    ("Checklist", "The response checklist of the incident", "open('checklist')"),
    ("Cloud instance", "The cloud instance behind this host, and its actions", "open('cloud')"),
    ("Respond to finding", "Choose one of the selected finding's actions", "respond"),
)

# The response actions (each previewed and confirmed as from its key), on the selected row.
ACTION_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("Freeze process tree", "SIGSTOP the selected process and its watchdogs", "freeze"),
    ("Resume process tree", "SIGCONT a frozen process tree", "resume"),
    ("Collect process evidence", "Executable, maps, fds, sockets... hashed", "collect"),
    ("Kill process tree", "After its evidence is collected", "kill"),
    ("Block remote address", "Host firewall rule, with an undo", "block"),
    ("Evidence bundle", "Logs, persistence files and histories, hashed", "bundle"),
    ("ClamAV scan", "Scan the usual hiding places with the host's ClamAV", "scan"),
)


class HostCommands(Provider):
    """Commands that act on the host screen."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        screen = self.screen
        if not isinstance(screen, HostScreen):
            return []
        commands: list[tuple[str, str, Callable[[], object]]] = [
            (name, help_text, partial(screen.run_action, action))
            for name, help_text, action in HOST_COMMANDS
        ]
        commands.extend(
            (name, help_text, partial(screen.action_act, action))
            for name, help_text, action in ACTION_COMMANDS
            if action in screen.actions  # none in read-only mode
        )
        return commands

    async def discover(self) -> Hits:
        for name, help_text, run in self._commands():
            yield DiscoveryHit(name, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, run in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), run, help=help_text)
