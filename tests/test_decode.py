"""Decoding collector samples into snapshots: real samples, garbled and hostile ones."""

from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.collector import Collector
from backends.decode import MAX_REPORTED, Decoder
from domain.model import HostSnapshot, Process, Socket
from domain.source import SourceError
from tests.conftest import HOSTILE_STRINGS

LINUX = Path("/proc/self/stat").exists()


def process(pid: Any = 42, **changes: Any) -> dict[str, Any]:
    entry = {
        "pid": pid, "ppid": 1, "name": "miner", "state": "R", "uid": 33, "user": "www-data",
        "cpu_percent": 97.5, "rss": 1 << 20, "start_time": 1_700_000_000.25, "exe": "/tmp/.x",
        "exe_deleted": True, "exe_memfd": False, "cmdline": ["/tmp/.x", "-o", "pool:3333"],
        "cwd": "/tmp", "kernel_thread": False, "threads": 4, "tty_nr": 0,
    }  # fmt: skip
    entry.update(changes)
    return entry


def sock(port: int = 22, **changes: Any) -> dict[str, Any]:
    entry = {
        "proto": "tcp", "local_addr": "0.0.0.0", "local_port": port, "remote_addr": "0.0.0.0",
        "remote_port": 0, "state": "LISTEN", "inode": 1000 + port, "uid": 0, "pid": 1,
        "process": "sshd",
    }  # fmt: skip
    entry.update(changes)
    return entry


def sample(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema": "sickbay.collector/1",
        "hostname": "web-1",
        "taken_at": 1_790_000_000.0,
        "cpu_ms": 12.5,
        "metrics": {
            "cpu_count": 2,
            "cpu_total": 50.0,
            "cpu_iowait": 1.0,
            "cpu_steal": 0.5,
            "load1": 1.0,
            "load5": 0.5,
            "load15": 0.25,
            "mem_total": 8 << 30,
            "mem_available": 4 << 30,
            "swap_total": 0,
            "swap_free": 0,
            "disk_latency_ms": 2.0,
            "disk_iops": 10.0,
            "net_rx_bytes_s": 1.0,
            "net_tx_bytes_s": 2.0,
            "net_rx_packets_s": 3.0,
            "net_tx_packets_s": 4.0,
            "shm_used": 0,
            "shm_total": 1 << 30,
            "uptime_s": 100.0,
        },
        "processes": [process(1, name="init", cmdline=["/sbin/init"]), process(42)],
        "sockets": [sock(22), sock(80, pid=42, process="miner")],
        "errors": [{"what": "/proc/net/tcp", "reason": "2 bad lines"}],
    }
    data.update(changes)
    return data


def test_a_good_sample_decodes_completely() -> None:
    snap = Decoder().decode(sample(), host="prod-web-1")
    assert isinstance(snap, HostSnapshot)
    assert (snap.host, snap.hostname, snap.source) == ("prod-web-1", "web-1", "proc")
    assert snap.taken_at == 1_790_000_000.0 and snap.collector_cpu_ms == 12.5
    assert snap.metrics.mem_total == 8 << 30 and snap.metrics.cpu_total == 50.0
    miner = snap.process_by_pid()[42]
    assert miner.cmdline == ("/tmp/.x", "-o", "pool:3333") and miner.exe_deleted
    assert [s.local_port for s in snap.sockets] == [22, 80]
    assert [(e.what, e.reason) for e in snap.errors] == [("/proc/net/tcp", "2 bad lines")]


def test_unchanged_entries_keep_their_objects() -> None:
    decoder = Decoder()
    first = decoder.decode(sample(), "h")
    data = json.loads(json.dumps(sample()))  # as from a remote host: equal, not identical
    data["processes"][1]["cpu_percent"] = 12.0
    second = decoder.decode(data, "h")
    assert second.processes[0] is first.processes[0]
    assert second.processes[1] is not first.processes[1]
    assert second.processes[1].cpu_percent == 12.0
    assert second.sockets[0] is first.sockets[0] and second.sockets[1] is first.sockets[1]
    third = decoder.decode(data, "h")
    assert third.processes[1] is second.processes[1]


def test_a_reused_pid_is_a_new_process() -> None:
    decoder = Decoder()
    first = decoder.decode(sample(), "h")
    second = decoder.decode(sample(processes=[process(42, start_time=1_800_000_000.0)]), "h")
    assert second.processes[0] is not first.processes[1]
    assert second.processes[0].key != first.processes[1].key


@pytest.mark.parametrize("garbage", [None, [], "text", 42, b"bytes", [sample()]])
def test_a_sample_that_is_not_an_object_is_a_source_error(garbage: object) -> None:
    with pytest.raises(SourceError):
        Decoder().decode(garbage, "h")


BAD_PROCESSES = [
    "not a dict",
    None,
    {},
    process(pid="42"),
    process(pid=True),
    process(pid=None),
    process(pid=[1]),
    process(cpu_percent=math.nan),
    process(cpu_percent=math.inf),
    process(cpu_percent="97"),
    process(start_time=None),
    process(cmdline="/bin/sh -c x"),
    process(cmdline=["ok", 3]),
    process(cmdline=[None]),
    process(exe_deleted="yes"),
    process(name=b"bytes"),
    process(uid=1.5),
    {k: v for k, v in process().items() if k != "cwd"},
]


@pytest.mark.parametrize("bad", BAD_PROCESSES)
def test_bad_process_entries_are_dropped_and_reported(bad: object) -> None:
    snap = Decoder().decode(sample(processes=[process(1), bad, process(2)]), "h")
    assert [p.pid for p in snap.processes] == [1, 2]
    assert any(e.what == "process entry" for e in snap.errors)


BAD_SOCKETS = [
    sock(proto="sctp"),
    sock(proto="tcp\x1b[2J"),
    sock(local_port="22"),
    sock(pid="1"),
    sock(inode=None),
    {"proto": "tcp"},
    [1, 2, 3],
]


@pytest.mark.parametrize("bad", BAD_SOCKETS)
def test_bad_socket_entries_are_dropped_and_reported(bad: object) -> None:
    snap = Decoder().decode(sample(sockets=[sock(22), bad, sock(80)]), "h")
    assert [s.local_port for s in snap.sockets] == [22, 80]
    assert any(e.what == "socket entry" for e in snap.errors)


def test_duplicates_are_dropped() -> None:
    snap = Decoder().decode(
        sample(processes=[process(7), process(7)], sockets=[sock(22), sock(22)]), "h"
    )
    assert len(snap.processes) == 1 and len(snap.sockets) == 1
    assert sum("duplicate" in e.reason for e in snap.errors) == 2


def test_garbled_metrics_become_defaults_and_are_reported() -> None:
    metrics = sample()["metrics"]
    metrics.update(mem_total="lots", load1=math.nan, cpu_total=[50], disk_iops=None)
    del metrics["uptime_s"]
    snap = Decoder().decode(sample(metrics=metrics), "h")
    m = snap.metrics
    assert (m.mem_total, m.load1, m.cpu_total, m.disk_iops, m.uptime_s) == (0, 0.0, None, None, 0.0)
    assert m.cpu_count == 2 and m.mem_available == 4 << 30
    reported = {e.what for e in snap.errors}
    assert {
        "metrics.mem_total",
        "metrics.load1",
        "metrics.cpu_total",
        "metrics.uptime_s",
    } <= reported
    assert "metrics.disk_iops" not in reported  # None: unknown, the collector said why


def test_missing_sections_are_reported() -> None:
    snap = Decoder().decode({"hostname": 42, "taken_at": "now", "cpu_ms": math.inf}, "h")
    assert snap.processes == () and snap.sockets == () and snap.hostname == ""
    assert snap.collector_cpu_ms is None and abs(snap.taken_at - time.time()) < 60
    assert {"metrics", "processes", "sockets", "errors"} <= {e.what for e in snap.errors}


def test_reports_are_bounded() -> None:
    snap = Decoder().decode(sample(processes=["junk"] * 10_000, errors=[{"what": 1}] * 500), "h")
    assert snap.processes == ()
    assert len(snap.errors) == MAX_REPORTED + 1
    assert snap.errors[-1].what == "decoder" and "more bad entries" in snap.errors[-1].reason


def test_hostile_strings_are_kept_literally() -> None:
    hostile = list(HOSTILE_STRINGS)
    snap = Decoder().decode(
        sample(
            hostname=hostile[3],
            processes=[process(1, name=hostile[0], cmdline=hostile, user=hostile[1])],
            sockets=[sock(22, process=hostile[2])],
        ),
        "h",
    )
    assert snap.hostname == hostile[3]
    assert snap.processes[0].cmdline == tuple(hostile) and snap.processes[0].name == hostile[0]
    assert snap.sockets[0].process == hostile[2]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["hostname", "taken_at", "cpu_ms", "metrics", "processes", "sockets", "errors"]
        ),
        JSON,
    ),
    st.lists(st.dictionaries(st.sampled_from(sorted(process())), JSON), max_size=3),
)
def test_arbitrary_json_never_crashes(data: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    data = dict(data)
    data["processes"] = [{**process(), **entry} for entry in entries]
    snap = Decoder().decode(data, "h")
    for p in snap.processes:
        assert isinstance(p, Process) and type(p.pid) is int and isinstance(p.cmdline, tuple)
    assert all(isinstance(s, Socket) for s in snap.sockets)


@pytest.mark.skipif(not LINUX, reason="needs Linux /proc")
def test_real_samples_decode_without_errors_and_reuse_objects() -> None:
    collector, decoder = Collector(), Decoder()
    raw = collector.sample()
    first = decoder.decode(copy.deepcopy(raw), "local")
    assert len(first.processes) == len(raw["processes"]) > 0
    assert len(first.sockets) == len(raw["sockets"])
    assert not [e for e in first.errors if e.what in ("process entry", "socket entry", "decoder")]
    time.sleep(0.05)
    decoder.decode(collector.sample(), "local")
    time.sleep(0.05)
    second = decoder.decode(collector.sample(), "local")
    third = decoder.decode(collector.sample(), "local")
    kept = sum(a is b for a, b in zip(second.processes, third.processes, strict=False))
    assert kept > len(third.processes) // 2  # idle processes are the same objects
