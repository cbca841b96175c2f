"""The host screen: metrics, processes and network of one host, live."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer

from domain.history import MetricHistory
from domain.model import HostSnapshot
from screens.messages import SnapshotReady, SourceFailed
from widgets.filter_bar import FilterBar
from widgets.live_table import LiveTable
from widgets.metrics import MetricsPane
from widgets.process_table import ProcessTable
from widgets.socket_table import SocketTable
from widgets.status import StatusBar

PANES = ("processes", "network")


class HostScreen(Screen[None]):
    """Everything about one host. Data arrives as :class:`SnapshotReady` messages."""

    BINDINGS = [
        Binding("1", "focus_pane('processes')", "Procs", id="host.pane_processes"),
        Binding("2", "focus_pane('network')", "Net", id="host.pane_network"),
        Binding("slash", "filter", "Filter", id="host.filter"),
        Binding("z", "zoom", "Zoom", id="host.zoom"),
        Binding("escape", "unzoom", "Unzoom", show=False, id="host.unzoom"),
    ]

    def __init__(self, host: str, history_size: int = 150) -> None:
        super().__init__()
        self.host = host
        self.history = MetricHistory(history_size)
        self.last_snapshot: HostSnapshot | None = None
        self._filter_target = "processes"

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield MetricsPane(id="metrics")
        with Vertical(id="tables"):
            yield ProcessTable(id="processes")
            yield SocketTable(id="network")
        yield FilterBar(id="filter")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#processes").border_title = "1 Processes"
        self.query_one("#network").border_title = "2 Network"
        self.query_one("#processes", ProcessTable).focus()

    def on_resize(self) -> None:
        # 80x24 bastion terminals: one-line sparklines so the tables keep their rows.
        self.set_class(self.size.height < 32, "-narrow")

    def table(self, pane: str) -> LiveTable[object]:
        widget: LiveTable[object] = self.query_one(f"#{pane}", LiveTable)
        return widget

    @on(SnapshotReady)
    def _show_snapshot(self, message: SnapshotReady) -> None:
        snapshot = message.snapshot
        if snapshot.host != self.host:
            return
        self.last_snapshot = snapshot
        self.history.add(snapshot.metrics)
        with self.app.batch_update():
            self.query_one(StatusBar).show_snapshot(snapshot)
            self.query_one(MetricsPane).show(snapshot.metrics, self.history)
            self.query_one(ProcessTable).set_rows(snapshot.processes)
            self.query_one(SocketTable).set_rows(snapshot.sockets)
            self._update_titles()

    @on(SourceFailed)
    def _show_failure(self, message: SourceFailed) -> None:
        if message.host == self.host:
            self.query_one(StatusBar).show_failure(message.host, message.reason)

    def _update_titles(self) -> None:
        for number, pane in enumerate(PANES, start=1):
            table = self.table(pane)
            title = "Processes" if pane == "processes" else "Network"
            table.border_title = f"{number} {title}"
            table.border_subtitle = table.summary

    def action_focus_pane(self, pane: str) -> None:
        self.table(pane).focus()

    def action_filter(self) -> None:
        focused = self.focused
        self._filter_target = (
            focused.id if isinstance(focused, LiveTable) and focused.id in PANES else "processes"
        )
        bar = self.query_one(FilterBar)
        bar.value = self.table(self._filter_target).filter_text
        bar.add_class("visible")
        bar.focus()

    @on(FilterBar.FilterChanged)
    def _filter_changed(self, message: FilterBar.FilterChanged) -> None:
        self.table(self._filter_target).filter_text = message.text
        self._update_titles()

    @on(FilterBar.FilterDone)
    def _filter_done(self, message: FilterBar.FilterDone) -> None:
        table = self.table(self._filter_target)
        table.filter_text = message.text
        bar = self.query_one(FilterBar)
        if not message.text:
            bar.remove_class("visible")
        table.focus()
        self._update_titles()

    def action_zoom(self) -> None:
        if self.maximized is not None:
            self.minimize()
        elif isinstance(self.focused, LiveTable):
            self.maximize(self.focused, container=False)

    def action_unzoom(self) -> None:
        if self.maximized is not None:
            self.minimize()
