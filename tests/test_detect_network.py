"""Network rules, on hand-built sockets and on real planted listeners and a fake stratum pool."""

from __future__ import annotations

from domain.detect import Detector, config_from_dict
from domain.findings import Finding, Severity
from domain.model import HostSnapshot, Process, Socket
from tests.fakes import T0, metrics, process, socket_row
from tests.planted import (
    FakePool,
    Planted,
    listener,
    local_snapshot,
    miner,
    port_free,
    sockets_of,
)

# Fixtures: planted processes, a fake pool, system roots.

C, H, M, L = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW


def snap(procs: tuple[Process, ...], sockets: tuple[Socket, ...]) -> HostSnapshot:
    return HostSnapshot("h", "h", T0, "test", metrics(1), procs, sockets)


def of(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule_id == rule]


def conn(
    pid: int, remote: str, remote_port: int, local_port: int = 40000, state: str = "ESTABLISHED"
) -> Socket:
    return socket_row(
        local_port,
        pid,
        "p",
        local_addr="10.0.0.2",
        remote_addr=remote,
        remote_port=remote_port,
        state=state,
    )


def test_pool_ports_outbound_only() -> None:
    procs = (process(10, "p"), process(11, "redis-server"))
    sockets = (
        conn(10, "198.51.100.9", 3333),
        conn(10, "127.0.0.1", 14444, local_port=40001),
        socket_row(5555, 11, "redis-server"),  # a listener on 5555...
        conn(11, "198.51.100.10", 3333, local_port=5555),  # ...and a client that came in on it
        conn(10, "198.51.100.11", 443, local_port=40002),
    )
    fs = of(Detector().evaluate(snap(procs, sockets)), "NET-POOL-PORT")
    assert sorted((f.evidence.remote_addr, f.severity) for f in fs) == [
        ("127.0.0.1", M),
        ("198.51.100.9", H),
    ]


def test_pool_addresses_from_the_rules_file() -> None:
    config = config_from_dict({"indicators": {"pool_addresses": ["203.0.113.0/24"]}})
    fs = Detector(config).evaluate(snap((process(10, "p"),), (conn(10, "203.0.113.77", 443),)))
    assert of(fs, "NET-POOL-ADDRESS")[0].severity == C


def test_listeners() -> None:
    procs = (process(20, "sshd"), process(21, "svc"), process(22, "nc"), process(23, "svc"))
    sockets = (
        socket_row(22, 20, "sshd"),
        socket_row(8081, 21, "svc"),
        socket_row(31337, 22, "nc", local_addr="127.0.0.1"),
        socket_row(4444, 22, "nc", local_addr="10.0.0.2"),
        socket_row(31000, 23, "svc", local_addr="::"),
        socket_row(6000, 23, "svc", local_addr="127.0.0.1"),
        socket_row(5353, 23, "svc", proto="udp", remote_port=0, state="UNCONN"),
        socket_row(40123, 23, "svc", proto="udp", remote_port=0, state="UNCONN"),
    )
    fs = Detector().evaluate(snap(procs, sockets))
    unexpected = {f.evidence.port: f.severity for f in of(fs, "NET-LISTENER-UNEXPECTED")}
    backdoor = {f.evidence.port: f.severity for f in of(fs, "NET-LISTENER-BACKDOOR-PORT")}
    assert unexpected == {8081: L, 31000: M}
    assert backdoor == {31337: M, 4444: H}


def test_new_listener_while_watching_is_raised() -> None:
    detector = Detector()
    procs = (process(20, "svc"),)
    detector.evaluate(snap(procs, (socket_row(8081, 20, "svc"),)))
    later = snap(procs, (socket_row(8081, 20, "svc"), socket_row(8082, 20, "svc")))
    fs = of(detector.evaluate(later, now=T0 + 60), "NET-LISTENER-UNEXPECTED")
    assert {f.evidence.port: f.severity for f in fs} == {8081: L, 8082: M}


def test_exposed_services() -> None:
    procs = (
        process(30, "redis-server"),
        process(31, "dockerd"),
        process(32, "minio"),
        process(33, "php-fpm8.2"),
    )
    sockets = (
        socket_row(6379, 30, "redis-server"),
        socket_row(2375, 31, "dockerd", local_addr="::"),
        socket_row(9000, 32, "minio"),
        socket_row(9000, 33, "php-fpm8.2", local_addr="::"),
        socket_row(6380, 30, "redis-server", local_addr="127.0.0.1"),
    )
    fs = of(Detector().evaluate(snap(procs, sockets)), "NET-EXPOSED-SERVICE")
    assert sorted((f.evidence.port, f.evidence.process, f.severity) for f in fs) == [
        (2375, "dockerd", H),
        (6379, "redis-server", H),
        (9000, "php-fpm8.2", M),
    ]


def test_fanout() -> None:
    scanner = [
        conn(40, f"198.51.{i // 250}.{i % 250}", 22, local_port=41000 + i, state="SYN_SENT")
        for i in range(12)
    ]
    crawler = [
        conn(41, f"203.0.{i // 250}.{i % 250}", 443, local_port=42000 + i) for i in range(60)
    ]
    few = [conn(42, f"192.0.2.{i}", 443, local_port=43000 + i) for i in range(10)]
    procs = (process(40, "x"), process(41, "crawler"), process(42, "app"))
    fs = of(Detector().evaluate(snap(procs, (*scanner, *crawler, *few))), "NET-FANOUT")
    assert {f.evidence.pid: f.severity for f in fs} == {40: H, 41: M}


# -- real planted listeners and connections ---------------------------------------------------


def test_planted_listener_on_a_backdoor_port(planted: Planted) -> None:
    port = 31337 if port_free(31337) else 12345
    assert port_free(port), "no free backdoor-style port to test with"
    proc = listener(planted, port)
    snapshot = local_snapshot()
    assert any(s.local_port == port and s.state == "LISTEN" for s in sockets_of(snapshot, proc.pid))
    fs = [
        f
        for f in of(Detector().evaluate(snapshot), "NET-LISTENER-BACKDOOR-PORT")
        if f.evidence.port == port
    ]
    assert fs and fs[0].severity == M and fs[0].evidence.pid == proc.pid


def test_planted_miner_talking_stratum_to_a_fake_pool(
    planted: Planted, fake_pool: FakePool
) -> None:
    proc = miner(planted, fake_pool)
    snapshot = local_snapshot()
    assert any(
        s.remote_port == fake_pool.port and s.state == "ESTABLISHED"
        for s in sockets_of(snapshot, proc.pid)
    )
    extra = {} if fake_pool.port == 3333 else {"indicators": {"pool_ports": [fake_pool.port]}}
    fs = Detector(config_from_dict(extra)).evaluate(snapshot)
    pool = [f for f in of(fs, "NET-POOL-PORT") if f.evidence.pid == proc.pid]
    assert pool and pool[0].evidence.remote_port == fake_pool.port
    assert pool[0].severity == M  # loopback: a local proxy at most
    cmdline = [f for f in of(fs, "PROC-MINER-CMDLINE") if f.evidence.pid == proc.pid]
    assert cmdline and cmdline[0].severity == C
    assert "stratum+tcp://" in (cmdline[0].evidence.cmdline or "")
    # The pool's own side of the connection (in this test process) is inbound: not reported.
    assert all(f.evidence.pid == proc.pid for f in of(fs, "NET-POOL-PORT"))
