"""sickbay's own commands in the command palette (ctrl+p or `:`), in the operator's language
(the catalog's ``ui.palette.<id>``); a search matches the English name too, so a typed
"freeze" finds 冻结进程树."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from domain.i18n import DEFAULT_LANGUAGE, Language, tr
from screens.host import HostScreen

# (catalog id, HostScreen action). Our own text, never host data.
HOST_COMMANDS: tuple[tuple[str, str], ...] = (
    ("processes", "focus_pane('processes')"),
    ("network", "focus_pane('network')"),
    ("filter", "filter"),
    ("zoom", "zoom"),
    ("help", "app.help"),
    ("checklist", "open('checklist')"),
    ("cloud", "open('cloud')"),
    ("respond", "respond"),
)

# The response actions (each previewed and confirmed as from its key), on the selected row:
# (catalog id, action id).
ACTION_COMMANDS: tuple[tuple[str, str], ...] = (
    ("freeze", "freeze"),
    ("resume", "resume"),
    ("collect", "collect"),
    ("kill", "kill"),
    ("block", "block"),
    ("bundle", "bundle"),
    ("scan", "scan"),
)


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # in the operator's language
    english: str  # searched too
    help: str
    run: Callable[[], object]


def command(key: str, lang: Language, run: Callable[[], object]) -> Command:
    return Command(
        tr(f"ui.palette.{key}.name", lang),
        tr(f"ui.palette.{key}.name", DEFAULT_LANGUAGE),
        tr(f"ui.palette.{key}.help", lang),
        run,
    )


class HostCommands(Provider):
    """Commands that act on the host screen."""

    def _commands(self) -> list[Command]:
        screen = self.screen
        if not isinstance(screen, HostScreen):
            return []
        lang = screen.LANG
        commands = [
            command(key, lang, partial(screen.run_action, action)) for key, action in HOST_COMMANDS
        ]
        commands.extend(
            command(key, lang, partial(screen.action_act, action))
            for key, action in ACTION_COMMANDS
            if action in screen.actions  # none in read-only mode
        )
        return commands

    async def discover(self) -> Hits:
        for c in self._commands():
            yield DiscoveryHit(c.name, c.run, help=c.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for c in self._commands():
            score = matcher.match(c.name)
            if score > 0:
                yield Hit(score, matcher.highlight(c.name), c.run, help=c.help)
            elif c.english != c.name and (score := matcher.match(c.english)) > 0:
                yield Hit(score, f"{c.name}  ({c.english})", c.run, help=c.help)
