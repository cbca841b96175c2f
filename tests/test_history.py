from __future__ import annotations

from dataclasses import replace

from domain.history import MetricHistory
from domain.units import human_bytes, human_count, start_time_text
from tests.fakes import metrics


def test_first_sample_rates_are_not_recorded_and_history_is_bounded() -> None:
    history = MetricHistory(size=5)
    history.add(metrics(0))  # rates None on the first sample
    assert history.values("cpu") == []
    assert history.values("load") == [1.5]
    for step in range(1, 10):
        history.add(metrics(step))
    assert len(history.values("cpu")) == 5
    assert history.last("cpu") == metrics(9).cpu_total
    assert history.values("net_pps") == [500.0] * 5


def test_shm_series_skips_unmounted() -> None:
    history = MetricHistory(size=3)
    history.add(replace(metrics(1), shm_used=None))
    assert history.values("shm") == []


def test_units() -> None:
    assert human_bytes(512) == "512"
    assert human_bytes(1536) == "1.5K"
    assert human_bytes(300 * 2**20) == "300M"
    assert human_bytes(None) == "-"
    assert human_count(12_345) == "12.3k"
    now = 1_790_000_000.0
    assert ":" in start_time_text(now - 60, now)
    assert ":" not in start_time_text(now - 40 * 86400, now)
