"""Bounded per-host history of metrics, for sparklines now and sustained-load rules later."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from domain.model import HostMetrics

# Series shown as sparklines, with how to read each from a sample. Rates that are None on the
# first sample are simply not recorded.
SERIES: dict[str, Callable[[HostMetrics], float | None]] = {
    "cpu": lambda m: m.cpu_total,
    "iowait": lambda m: m.cpu_iowait,
    "steal": lambda m: m.cpu_steal,
    "mem": lambda m: m.mem_used_percent,
    "load": lambda m: m.load1,
    "disk_latency": lambda m: m.disk_latency_ms,
    "net_rx": lambda m: m.net_rx_bytes_s,
    "net_tx": lambda m: m.net_tx_bytes_s,
    "net_pps": lambda m: (
        None
        if m.net_rx_packets_s is None or m.net_tx_packets_s is None
        else m.net_rx_packets_s + m.net_tx_packets_s
    ),
    "shm": lambda m: None if m.shm_used is None else float(m.shm_used),
}


class MetricHistory:
    """The last ``size`` values of every series (default: 5 minutes at a 2 s interval)."""

    def __init__(self, size: int = 150) -> None:
        self.size = size
        self._series: dict[str, deque[float]] = {name: deque(maxlen=size) for name in SERIES}

    def add(self, metrics: HostMetrics) -> None:
        for name, read in SERIES.items():
            value = read(metrics)
            if value is not None:
                self._series[name].append(float(value))

    def values(self, name: str) -> list[float]:
        return list(self._series[name])

    def last(self, name: str) -> float | None:
        series = self._series[name]
        return series[-1] if series else None

    def __iter__(self) -> Iterator[str]:
        return iter(self._series)
