"""Sustained rules, driven with a sequence of snapshots at controlled times (no sleeping)."""

from __future__ import annotations

from dataclasses import replace

from domain.detect import Detector, config_from_dict
from domain.findings import Finding, Severity
from domain.model import HostSnapshot, Process
from tests.fakes import T0, metrics, process


def snap(
    t: float,
    cpu: float = 10.0,
    procs: tuple[Process, ...] = (),
    **metric: object,
) -> HostSnapshot:
    m = replace(metrics(1), cpu_total=cpu, cpu_steal=0.0, cpu_count=2, **metric)  # type: ignore[arg-type]
    base = (process(1, "systemd", 0.1, exe="/usr/lib/systemd/systemd"),)
    return HostSnapshot("h", "h", T0 + t, "test", m, base + procs, ())


def rules(findings: list[Finding]) -> set[str]:
    return {f.rule_id for f in findings}


MINER = process(500, "kthreadd_svc2", 180.0, exe="/usr/bin/kthreadd_svc2")
WEB = process(501, "nginx", 8.0, exe="/usr/sbin/nginx")


def feed(detector: Detector, times: range | list[int], **kw: object) -> list[Finding]:
    found: list[Finding] = []
    for t in times:
        found = detector.evaluate(snap(t, **kw), now=T0 + t)  # type: ignore[arg-type]
    return found


def test_cpu_must_stay_high_for_the_whole_window() -> None:
    d = Detector()
    busy = {"cpu": 95.0, "procs": (MINER, WEB)}
    assert "RES-CPU-SUSTAINED" not in rules(feed(d, range(0, 171, 10), **busy))
    fs = [f for f in feed(d, [180], **busy) if f.rule_id == "RES-CPU-SUSTAINED"]
    assert len(fs) == 1
    f = fs[0]
    assert f.severity == Severity.MEDIUM
    assert f.evidence.pid == 500 and f.evidence.process == "kthreadd_svc2"
    assert "kthreadd_svc2 (pid 500) 180%" in (f.evidence.text or "")
    assert f.first_seen == T0 + 180
    later = next(g for g in feed(d, [190, 200], **busy) if g.rule_id == "RES-CPU-SUSTAINED")
    assert later.first_seen == T0 + 180 and later.last_seen == T0 + 200
    assert later.key == f.key


def test_a_dip_restarts_the_window() -> None:
    d = Detector()
    feed(d, range(0, 100, 10), cpu=95.0, procs=(MINER,))
    feed(d, [100], cpu=40.0, procs=(MINER,))
    assert "RES-CPU-SUSTAINED" not in rules(feed(d, range(110, 281, 10), cpu=95.0, procs=(MINER,)))
    assert "RES-CPU-SUSTAINED" in rules(feed(d, [290], cpu=95.0, procs=(MINER,)))


def test_a_gap_in_samples_is_not_sustained() -> None:
    d = Detector()
    feed(d, range(0, 60, 10), cpu=95.0)
    assert "RES-CPU-SUSTAINED" not in rules(feed(d, range(120, 190, 10), cpu=95.0))


def test_steal_is_not_this_hosts_load() -> None:
    d = Detector()
    fs: list[Finding] = []
    for t in range(0, 200, 10):
        s = snap(t, cpu=95.0, procs=(MINER,))
        s = replace(s, metrics=replace(s.metrics, cpu_steal=50.0))
        fs = d.evaluate(s, now=T0 + t)
    assert "RES-CPU-SUSTAINED" not in rules(fs)


def test_repeated_peaks_in_a_day() -> None:
    d = Detector()
    found: set[str] = set()
    t = 0
    for _ in range(3):
        found |= rules(feed(d, range(t, t + 200, 10), cpu=95.0, procs=(MINER,)))
        feed(d, range(t + 200, t + 400, 10), cpu=5.0)
        t += 3600
    assert {"RES-CPU-SUSTAINED", "RES-CPU-PEAKS"} <= found


def test_hidden_load() -> None:
    d = Detector()
    visible = (process(600, "app", 10.0),)
    fs = feed(d, range(0, 121, 10), cpu=90.0, procs=visible)
    hidden = [f for f in fs if f.rule_id == "RES-HIDDEN-LOAD"]
    assert hidden and hidden[0].severity == Severity.MEDIUM
    # The same load, fully accounted for by a listed process: nothing hidden.
    assert "RES-HIDDEN-LOAD" not in rules(
        feed(Detector(), range(0, 121, 10), cpu=90.0, procs=(MINER,))
    )


def test_hidden_load_ignores_process_churn() -> None:
    """A build forks thousands of short processes: their CPU is not on any survivor."""
    d = Detector()
    fs: list[Finding] = []
    for i, t in enumerate(range(0, 200, 10)):
        churn = tuple(process(1000 + i * 20 + k, "cc1", 1.0) for k in range(20))
        fs = d.evaluate(snap(t, cpu=90.0, procs=churn), now=T0 + t)
    assert "RES-HIDDEN-LOAD" not in rules(fs)


def test_disk_latency() -> None:
    d = Detector()
    fs = feed(d, range(0, 181, 10), disk_latency_ms=800.0, disk_iops=50.0)
    assert [f.severity for f in fs if f.rule_id == "RES-DISK-LATENCY"] == [Severity.LOW]
    idle = feed(Detector(), range(0, 181, 10), disk_latency_ms=800.0, disk_iops=0.0)
    assert "RES-DISK-LATENCY" not in rules(idle)


def test_packet_rate_against_the_hosts_own_baseline() -> None:
    d = Detector()
    feed(d, range(0, 900, 10), net_rx_packets_s=150.0, net_tx_packets_s=50.0)
    fs = feed(d, range(900, 1000, 10), net_rx_packets_s=4000.0, net_tx_packets_s=1000.0)
    assert [f.rule_id for f in fs if f.rule_id == "RES-PACKET-RATE"] == ["RES-PACKET-RATE"]
    d2 = Detector()
    feed(d2, range(0, 900, 10), net_rx_packets_s=1500.0, net_tx_packets_s=500.0)
    calm = feed(d2, range(900, 1000, 10), net_rx_packets_s=2200.0, net_tx_packets_s=800.0)
    assert "RES-PACKET-RATE" not in rules(calm)  # +50%: a busy hour, not an incident


def test_no_packet_baseline_no_finding() -> None:
    fs = feed(Detector(), range(0, 120, 10), net_rx_packets_s=40000.0, net_tx_packets_s=1000.0)
    assert "RES-PACKET-RATE" not in rules(fs)


def test_shm_growth() -> None:
    d = Detector()
    feed(d, range(0, 100, 10), shm_used=10 * 2**20)
    fs = feed(d, range(100, 200, 10), shm_used=200 * 2**20)
    assert [f.severity for f in fs if f.rule_id == "RES-SHM-GROWTH"] == [Severity.MEDIUM]


def test_thresholds_come_from_the_config() -> None:
    config = config_from_dict({"thresholds": {"cpu_percent": 50, "cpu_window_s": 30}})
    fs = feed(Detector(config), range(0, 41, 10), cpu=60.0, procs=(MINER,))
    assert "RES-CPU-SUSTAINED" in rules(fs)


def test_findings_are_forgotten_after_a_while() -> None:
    d = Detector(config_from_dict({"thresholds": {"forget_after_s": 60}}))
    s = snap(0, procs=(process(700, "xmrig"),))
    first = next(f for f in d.evaluate(s, now=T0) if f.rule_id == "PROC-MINER-NAME")
    again = next(f for f in d.evaluate(s, now=T0 + 30) if f.rule_id == "PROC-MINER-NAME")
    assert again.first_seen == first.first_seen == T0
    d.evaluate(snap(40), now=T0 + 40)  # gone for a while
    d.evaluate(snap(200), now=T0 + 200)
    back = next(f for f in d.evaluate(s, now=T0 + 210) if f.rule_id == "PROC-MINER-NAME")
    assert back.first_seen == T0 + 210


def test_hosts_are_kept_apart() -> None:
    d = Detector()
    for t in range(0, 181, 10):
        a = d.evaluate(snap(t, cpu=95.0, procs=(MINER,)), now=T0 + t)
        b = d.evaluate(replace(snap(t, cpu=5.0), host="other"), now=T0 + t)
    assert "RES-CPU-SUSTAINED" in rules(a) and "RES-CPU-SUSTAINED" not in rules(b)
    assert all(f.host == "h" for f in a) and all(f.host == "other" for f in b)
