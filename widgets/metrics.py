"""The metrics pane: host figures with a short history each (sparklines)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.widgets import Sparkline, Static

from domain.history import MetricHistory
from domain.model import HostMetrics
from domain.units import human_bytes, human_count, human_rate, percent


def _cpu(m: HostMetrics) -> str:
    return f"{percent(m.cpu_total)}  io {percent(m.cpu_iowait)}  st {percent(m.cpu_steal)}"


def _mem(m: HostMetrics) -> str:
    used = m.mem_total - m.mem_available
    swap = m.swap_total - m.swap_free
    text = f"{percent(m.mem_used_percent)}  {human_bytes(used)}/{human_bytes(m.mem_total)}"
    return text + (f"  sw {human_bytes(swap)}" if m.swap_total else "")


def _load(m: HostMetrics) -> str:
    return f"{m.load1:.2f} {m.load5:.2f} {m.load15:.2f}  /{m.cpu_count} cpu"


def _disk(m: HostMetrics) -> str:
    latency = "-" if m.disk_latency_ms is None else f"{m.disk_latency_ms:.1f} ms"
    return f"{latency}/io  {human_count(m.disk_iops)} io/s"


def _net(m: HostMetrics) -> str:
    pps = (
        None
        if m.net_rx_packets_s is None or m.net_tx_packets_s is None
        else m.net_rx_packets_s + m.net_tx_packets_s
    )
    return f"↓{human_rate(m.net_rx_bytes_s)} ↑{human_rate(m.net_tx_bytes_s)} {human_count(pps)}p/s"


def _shm(m: HostMetrics) -> str:
    if m.shm_used is None:
        return "not mounted"
    return f"{human_bytes(m.shm_used)} / {human_bytes(m.shm_total)}"


@dataclass(frozen=True)
class TileSpec:
    id: str
    title: str
    series: str  # a domain.history.SERIES name
    summary: Callable[[HostMetrics], str]


TILES = (
    TileSpec("cpu", "CPU", "cpu", _cpu),
    TileSpec("mem", "MEM", "mem", _mem),
    TileSpec("load", "LOAD", "load", _load),
    TileSpec("disk", "DISK", "disk_latency", _disk),
    TileSpec("net", "NET", "net_pps", _net),
    TileSpec("shm", "SHM", "shm", _shm),
)


class MetricTile(Vertical):
    """One figure: a title and summary line over a sparkline of its history."""

    def __init__(self, spec: TileSpec) -> None:
        super().__init__(id=f"tile-{spec.id}", classes="metric-tile")
        self.spec = spec

    def compose(self) -> ComposeResult:
        yield Static(Text(f"{self.spec.title} -"), classes="metric-label")
        yield Sparkline([], classes="metric-spark")

    def show(self, metrics: HostMetrics, history: MetricHistory) -> None:
        label = Text.assemble((f"{self.spec.title} ", "bold"), self.spec.summary(metrics))
        self.query_one(".metric-label", Static).update(label)
        self.query_one(Sparkline).data = history.values(self.spec.series)


class MetricsPane(Grid):
    """All tiles; the grid reflows from 3 columns (wide) to 2 (narrow) in the app's stylesheet."""

    def compose(self) -> ComposeResult:
        for spec in TILES:
            yield MetricTile(spec)

    def show(self, metrics: HostMetrics, history: MetricHistory) -> None:
        for tile in self.query(MetricTile):
            tile.show(metrics, history)
