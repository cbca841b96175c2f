"""The metrics pane: host figures with a short history each (sparklines)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.widgets import Sparkline, Static

from domain.history import MetricHistory
from domain.i18n import Language, catalog, tr
from domain.model import HostMetrics
from domain.units import human_bytes, human_count, human_rate, percent


def _cpu(m: HostMetrics, lang: Language) -> str:
    return f"{percent(m.cpu_total)}  io {percent(m.cpu_iowait)}  st {percent(m.cpu_steal)}"


def _mem(m: HostMetrics, lang: Language) -> str:
    used = m.mem_total - m.mem_available
    swap = m.swap_total - m.swap_free
    text = f"{percent(m.mem_used_percent)}  {human_bytes(used)}/{human_bytes(m.mem_total)}"
    return text + (f"  sw {human_bytes(swap)}" if m.swap_total else "")


def _load(m: HostMetrics, lang: Language) -> str:
    return f"{m.load1:.2f} {m.load5:.2f} {m.load15:.2f}  /{m.cpu_count} cpu"


def _disk(m: HostMetrics, lang: Language) -> str:
    latency = "-" if m.disk_latency_ms is None else f"{m.disk_latency_ms:.1f} ms"
    return f"{latency}/io  {human_count(m.disk_iops)} io/s"


def _net(m: HostMetrics, lang: Language) -> str:
    pps = (
        None
        if m.net_rx_packets_s is None or m.net_tx_packets_s is None
        else m.net_rx_packets_s + m.net_tx_packets_s
    )
    return f"↓{human_rate(m.net_rx_bytes_s)} ↑{human_rate(m.net_tx_bytes_s)} {human_count(pps)}p/s"


def _shm(m: HostMetrics, lang: Language) -> str:
    if m.shm_used is None:
        return tr("ui.tile.not-mounted", lang)
    return f"{human_bytes(m.shm_used)} / {human_bytes(m.shm_total)}"


@dataclass(frozen=True)
class TileSpec:
    id: str
    title: str  # English; ``ui.tile.<id>`` in the catalog for another language (CPU stays CPU)
    series: str  # a domain.history.SERIES name
    summary: Callable[[HostMetrics, Language], str]

    def title_in(self, lang: Language) -> str:
        return self.title if lang == "en" else catalog(lang).get(f"ui.tile.{self.id}", self.title)


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

    def __init__(self, spec: TileSpec, lang: Language = "en") -> None:
        super().__init__(id=f"tile-{spec.id}", classes="metric-tile")
        self.spec = spec
        self._lang = lang
        self._metrics: HostMetrics | None = None  # the last shown, to redraw in another language

    def compose(self) -> ComposeResult:
        yield Static(self._label(), classes="metric-label")
        yield Sparkline([], classes="metric-spark")

    def _label(self) -> Text:
        title = self.spec.title_in(self._lang)
        if self._metrics is None:
            return Text(f"{title} -")
        return Text.assemble((f"{title} ", "bold"), self.spec.summary(self._metrics, self._lang))

    @property
    def lang(self) -> Language:
        return self._lang

    @lang.setter
    def lang(self, value: Language) -> None:
        self._lang = value
        for label in self.query(".metric-label").results(Static):
            label.update(self._label())

    def show(self, metrics: HostMetrics, history: MetricHistory) -> None:
        self._metrics = metrics
        self.query_one(".metric-label", Static).update(self._label())
        self.query_one(Sparkline).data = history.values(self.spec.series)


class MetricsPane(Grid):
    """All tiles; the grid reflows from 3 columns (wide) to 2 (narrow) in the app's stylesheet."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lang: Language = "en"

    def compose(self) -> ComposeResult:
        for spec in TILES:
            yield MetricTile(spec, self._lang)

    @property
    def lang(self) -> Language:
        """The language of the tiles' titles and words (figures and units stay as they are)."""
        return self._lang

    @lang.setter
    def lang(self, value: Language) -> None:
        self._lang = value
        for tile in self.query(MetricTile):
            tile.lang = value

    def show(self, metrics: HostMetrics, history: MetricHistory) -> None:
        for tile in self.query(MetricTile):
            tile.show(metrics, history)
