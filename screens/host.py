"""The host screen: metrics, processes and network of one host, live."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer

from domain.findings import Finding
from domain.fleet import HostRecord
from domain.i18n import Language, tr
from domain.model import HostSnapshot, Process, Socket
from screens.action_menu import ActionMenuScreen
from screens.finding import FindingScreen
from screens.localize import column_titles, localized, table_summary
from screens.messages import (
    ActionRequested,
    HostKeyDecision,
    ScreenRequested,
    SnapshotReady,
    SourceFailed,
)
from widgets.filter_bar import FilterBar
from widgets.findings_table import FindingsTable, severity_mark
from widgets.live_table import LiveTable
from widgets.metrics import MetricsPane
from widgets.process_table import ProcessTable
from widgets.socket_table import SocketTable
from widgets.status import StatusBar, failure_text

PANES = ("findings", "processes", "network")
TITLES = {"findings": "Findings", "processes": "Processes", "network": "Network"}


def _worst(marks: dict[object, str], key: object, finding: Finding) -> None:
    label = severity_mark(finding)
    if label is None:
        return
    order = ("low", "medium", "high", "critical")
    if key not in marks or order.index(label) > order.index(marks[key]):
        marks[key] = label


def row_marks(findings: tuple[Finding, ...]) -> tuple[dict[object, str], dict[object, str]]:
    """Severity marks for process rows (by process key and by pid) and socket rows (by pid for
    network findings, by local port, by remote address and port)."""
    processes: dict[object, str] = {}
    sockets: dict[object, str] = {}
    for finding in findings:
        ev = finding.evidence
        if ev.process_key:
            _worst(processes, ev.process_key, finding)
        elif ev.pid is not None:
            _worst(processes, ev.pid, finding)
        if ev.remote_addr is not None:
            _worst(sockets, (ev.remote_addr, ev.remote_port), finding)
        elif ev.port is not None:
            _worst(sockets, ("port", ev.port), finding)
        elif ev.pid is not None and finding.rule_id.startswith("NET-"):
            _worst(sockets, ("pid", ev.pid), finding)
    return processes, sockets


def evidence_params(finding: Finding) -> dict[str, str]:
    """A finding's evidence as action parameters (each action takes what it needs)."""
    ev = finding.evidence
    params = {k: str(v) for k, v in ev.as_dict().items() if k != "process_key"}
    if ev.remote_addr is not None:
        params["address"] = ev.remote_addr
    params["finding"] = finding.key
    params["rule"] = finding.rule_id
    return params


class HostScreen(Screen[None]):
    """Everything about one host. Data arrives as :class:`SnapshotReady` messages."""

    LANG: ClassVar[Language] = "en"  # screens.localize sets it on a language's subclass

    BINDINGS = [
        Binding("1", "focus_pane('findings')", "Findings", id="host.pane_findings"),
        Binding("2", "focus_pane('processes')", "Procs", id="host.pane_processes"),
        Binding("3", "focus_pane('network')", "Net", id="host.pane_network"),
        Binding("d", "finding_details", "Details", show=False, id="host.finding_details"),
        Binding("a", "accept_key", "Accept key", show=False, id="host.accept_host_key"),
        Binding("x", "respond", "Respond", id="host.respond"),
        Binding("f", "act('freeze')", "Freeze", show=False, id="host.freeze"),
        Binding("u", "act('resume')", "Resume", show=False, id="host.resume"),
        Binding("ctrl+k", "act('kill')", "Kill", show=False, id="host.kill"),
        Binding("e", "act('collect')", "Evidence", show=False, id="host.collect"),
        Binding("b", "act('block')", "Block IP", show=False, id="host.block"),
        Binding("B", "act('bundle')", "Bundle", show=False, id="host.bundle"),
        Binding("v", "act('scan')", "ClamAV scan", show=False, id="host.scan"),
        Binding("c", "open('checklist')", "Checklist", id="host.checklist"),
        Binding("i", "open('cloud')", "Cloud", show=False, id="host.cloud"),
        Binding("C", "open('instances')", "Instances", show=False, id="host.instances"),
        Binding("slash", "filter", "Filter", id="host.filter"),
        Binding("z", "zoom", "Zoom", id="host.zoom"),
        Binding("escape", "back", "Back", show=False, id="host.back"),
        Binding(
            "right_square_bracket", "switch_host(1)", "Next host", show=False, id="host.next_host"
        ),
        Binding(
            "left_square_bracket", "switch_host(-1)", "Prev host", show=False, id="host.prev_host"
        ),
    ]

    def __init__(
        self,
        records: dict[str, HostRecord],
        host: str,
        *,
        actions: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__()
        # The response actions this host offers (none in read-only mode: their keys go away).
        self.actions = actions
        self.records = records  # every watched host, kept up to date by the app
        self.host = host
        self._marks: tuple[dict[object, str], dict[object, str]] = ({}, {})
        self._filter_target = "processes"

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield MetricsPane(id="metrics")
        with Vertical(id="tables"):
            yield FindingsTable(id="findings")
            yield ProcessTable(id="processes")
            yield SocketTable(id="network")
        yield localized(FilterBar, self.LANG)(id="filter")
        yield Footer()

    def on_mount(self) -> None:
        titles = column_titles(self.LANG)
        for pane in PANES:
            self.table(pane).set_titles(titles)
        self.query_one(FindingsTable).lang = self.LANG
        self.query_one(StatusBar).lang = self.LANG
        self.query_one(MetricsPane).lang = self.LANG
        self._update_titles()
        self.query_one(ProcessTable).focus()
        self.show_record()

    def on_resize(self) -> None:
        # 80x24 bastion terminals: one-line sparklines so the tables keep their rows, and no
        # horizontal scrollbar row under tables wider than 80 columns.
        self.set_class(self.size.height < 32, "-short")
        self.set_class(self.size.width < 100, "-narrow")

    def table(self, pane: str) -> LiveTable[object]:
        widget: LiveTable[object] = self.query_one(f"#{pane}", LiveTable)
        return widget

    @property
    def record(self) -> HostRecord:
        return self.records[self.host]

    @property
    def last_snapshot(self) -> HostSnapshot | None:
        return self.record.snapshot

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.record.findings

    @on(SnapshotReady)
    def _show_snapshot(self, message: SnapshotReady) -> None:
        if message.snapshot.host == self.host:
            self.show_record()

    def show_record(self) -> None:
        """Show the current host's record (its last snapshot, findings and history)."""
        record = self.record
        snapshot = record.snapshot
        with self.app.batch_update():
            status = self.query_one(StatusBar)
            failure = failure_text(record.state, record.reason, self.LANG)
            if snapshot is None:
                status.show_failure(record.name, failure)
                for pane in PANES:
                    self.table(pane).set_rows([])
                self._update_titles()
                return
            status.show_snapshot(snapshot, record.findings)
            if record.state != "live":
                status.show_failure(record.name, failure)
            self.query_one(MetricsPane).show(snapshot.metrics, record.history)
            self._apply_marks(record.findings)
            self.query_one(FindingsTable).set_rows(record.findings)
            self.query_one(ProcessTable).set_rows(snapshot.processes)
            self.query_one(SocketTable).set_rows(snapshot.sockets)
            self._update_titles()

    def action_switch_host(self, step: int) -> None:
        """Go to the next/previous host without going back to the fleet."""
        names = list(self.records)
        if len(names) < 2:
            return
        self.host = names[(names.index(self.host) + step) % len(names)]
        self.show_record()

    def action_back(self) -> None:
        if self.maximized is not None:
            self.minimize()
        elif len(self.app.screen_stack) > 2:  # opened from the fleet screen
            self.dismiss()

    def _apply_marks(self, findings: tuple[Finding, ...]) -> None:
        marks = row_marks(findings)
        if marks == self._marks:
            return  # unchanged: keep the tables' rendered rows
        self._marks = processes, sockets = marks

        def process_mark(p: Process) -> str | None:
            return processes.get(p.key) or processes.get(p.pid)

        def socket_mark(s: Socket) -> str | None:
            return (
                sockets.get((s.remote_addr, s.remote_port))
                or sockets.get(("port", s.local_port))
                or sockets.get(("pid", s.pid))
            )

        self.query_one(ProcessTable).set_mark(process_mark)
        self.query_one(SocketTable).set_mark(socket_mark)

    @on(SourceFailed)
    def _show_failure(self, message: SourceFailed) -> None:
        if message.host == self.host:
            self.show_record()

    def _update_titles(self) -> None:
        for number, pane in enumerate(PANES, start=1):
            table = self.table(pane)
            title = TITLES[pane] if self.LANG == "en" else tr(f"ui.pane.{pane}", self.LANG)
            table.border_title = f"{number} {title}"
            table.border_subtitle = table_summary(table, self.LANG)

    def _finding(self, key: str | None) -> Finding | None:
        return next((f for f in self.findings if f.key == key), None)

    @on(FindingsTable.RowSelected, "#findings")
    def _jump_to_evidence(self, message: LiveTable.RowSelected) -> None:
        """Enter on a finding: go to its process or socket; a file finding opens its details."""
        finding = self._finding(message.key)
        if finding is not None and not self.jump_to(finding):
            self.app.push_screen(FindingScreen(finding, self.LANG))

    def jump_to(self, finding: Finding) -> bool:
        snapshot = self.last_snapshot
        if snapshot is None:
            return False
        ev = finding.evidence
        process = next(
            (
                p
                for p in snapshot.processes
                if p.key == ev.process_key or (ev.process_key is None and p.pid == ev.pid)
            ),
            None,
        )
        if process is not None:
            return self._show_row("processes", process.key)
        socket = next(
            (
                s
                for s in snapshot.sockets
                if (
                    ev.remote_addr is not None
                    and (s.remote_addr, s.remote_port) == (ev.remote_addr, ev.remote_port)
                )
                or (ev.remote_addr is None and ev.port is not None and s.local_port == ev.port)
            ),
            None,
        )
        if socket is not None:
            return self._show_row("network", socket.key)
        return False

    def _show_row(self, pane: str, key: str) -> bool:
        table = self.table(pane)
        if not table.move_cursor_to_key(key):
            table.filter_text = ""  # the row is hidden by a filter: show everything
            self._update_titles()
            if not table.move_cursor_to_key(key):
                return False
        table.focus()
        return True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "act":
            return bool(parameters) and parameters[0] in self.actions
        if action == "respond":
            return bool(self.actions)
        return True

    def _selected_params(self, action: str) -> dict[str, str] | None:
        """What the action applies to, from the focused pane's selected row."""
        focused = self.focused
        if action in ("bundle", "scan"):
            return {}
        if isinstance(focused, FindingsTable):
            finding = focused.cursor_row
            return None if finding is None else evidence_params(finding)
        if isinstance(focused, ProcessTable):
            process = focused.cursor_row
            return None if process is None else {"pid": str(process.pid)}
        if isinstance(focused, SocketTable):
            socket = focused.cursor_row
            if socket is None:
                return None
            params = {} if socket.pid is None else {"pid": str(socket.pid)}
            if socket.remote_addr and action == "block":
                params["address"] = socket.remote_addr
            return params
        return None

    def action_act(self, action: str) -> None:
        params = self._selected_params(action)
        if params is None:
            self.notify(tr("ui.action.select-row", self.LANG), severity="warning")
            return
        if action == "block" and "address" not in params:
            self.notify(tr("ui.action.select-address", self.LANG))
            return
        self.post_message(ActionRequested(self.host, action, params))

    def action_respond(self) -> None:
        finding = self.query_one(FindingsTable).cursor_row
        if finding is None:
            self.notify(tr("ui.notify.no-finding", self.LANG), severity="warning")
            return
        if not finding.actions:
            self.notify(tr("ui.notify.no-response", self.LANG))
            return

        def chosen(action: str | None) -> None:
            if action is not None and finding is not None:
                self.post_message(ActionRequested(self.host, action, evidence_params(finding)))

        self.app.push_screen(ActionMenuScreen(finding, self.actions, self.LANG), chosen)

    def action_open(self, screen: str) -> None:
        self.post_message(ScreenRequested(self.host, screen))

    def action_accept_key(self) -> None:
        self.post_message(HostKeyDecision(self.host))

    def action_finding_details(self) -> None:
        table = self.query_one(FindingsTable)
        finding = table.cursor_row
        if finding is not None:
            self.app.push_screen(FindingScreen(finding, self.LANG))

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
