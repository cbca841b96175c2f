"""The fleet screen: every watched host, its state and what was found on it."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from domain.fleet import FleetRow
from domain.i18n import Language, tr
from screens.localize import column_titles, localized, table_summary
from screens.messages import HostKeyDecision
from widgets.filter_bar import FilterBar
from widgets.fleet_table import FleetTable
from widgets.live_table import LiveTable


class FleetScreen(Screen[None]):
    """Enter opens a host; the app feeds rows with :meth:`show_rows`."""

    LANG: ClassVar[Language] = "en"  # screens.localize sets it on a language's subclass

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="fleet.filter"),
        Binding("a", "accept_key", "Accept key", id="fleet.accept_host_key"),
    ]

    class OpenHost(Message):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def compose(self) -> ComposeResult:
        yield Static(tr("ui.fleet.title", self.LANG), id="status")
        yield FleetTable(id="fleet")
        yield localized(FilterBar, self.LANG)(id="filter")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(FleetTable)
        table.set_titles(column_titles(self.LANG))
        table.lang = self.LANG
        table.border_title = "Hosts" if self.LANG == "en" else tr("ui.pane.hosts", self.LANG)
        table.focus()

    def show_rows(self, rows: list[FleetRow]) -> None:
        table = self.query_one(FleetTable)
        table.set_rows(rows)
        table.border_subtitle = table_summary(table, self.LANG)
        live = sum(1 for r in rows if r.state == "live")
        critical = sum(r.critical for r in rows)
        status = tr("ui.fleet.status", self.LANG, hosts=len(rows), live=live, critical=critical)
        self.query_one("#status", Static).update(status)

    @on(LiveTable.RowSelected, "#fleet")
    def _open(self, message: LiveTable.RowSelected) -> None:
        if message.key is not None:
            self.post_message(self.OpenHost(message.key))

    def action_accept_key(self) -> None:
        key = self.query_one(FleetTable).cursor_key
        if key is not None:
            self.post_message(HostKeyDecision(key))

    def action_filter(self) -> None:
        bar = self.query_one(FilterBar)
        bar.value = self.query_one(FleetTable).filter_text
        bar.add_class("visible")
        bar.focus()

    @on(FilterBar.FilterChanged)
    def _filter_changed(self, message: FilterBar.FilterChanged) -> None:
        table = self.query_one(FleetTable)
        table.filter_text = message.text
        table.border_subtitle = table_summary(table, self.LANG)

    @on(FilterBar.FilterDone)
    def _filter_done(self, message: FilterBar.FilterDone) -> None:
        table = self.query_one(FleetTable)
        table.filter_text = message.text
        table.border_subtitle = table_summary(table, self.LANG)
        if not message.text:
            self.query_one(FilterBar).remove_class("visible")
        table.focus()
