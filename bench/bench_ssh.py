"""The SSH source against a real sshd on 127.0.0.1: prints, per host size (300 and 1,000
processes on the target; sleepers are planted to get there), the round trip per sample, the bytes
of the first and of a steady-state response, the collector's CPU on the target per sample (its
own figure, and the agent process's whole CPU: collector + delta + JSON + zlib), and the
bastion's CPU per sample (asyncssh + inflate + apply + decode); then the bastion's CPU per
host-sample with 50 and 100 hosts at a 2 s interval (connections to the same loopback sshd, each
with its own agent). For comparison, on the same host and connection kind: psutil reading the
same data in a fresh python3 per sample (the agentless way to use psutil), and the host's own
`ps -eo ... && ss -tunap`. Not a test: it only prints.

    python bench/bench_ssh.py [SAMPLES] [INTERVAL_S]
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncssh

from backends.ssh import SshSource, SshTarget
from tests.sshd import Sshd, find_sshd

SLEEP = shutil.which("sleep") or "/bin/sleep"


def count_processes() -> int:
    return sum(1 for name in os.listdir("/proc") if name.isdigit())


def cpu_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    fields = stat[stat.rindex(b")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


async def measure(sshd: Sshd, samples: int, interval: float) -> dict[str, float]:
    target = SshTarget(
        sshd.host,
        sshd.port,
        sshd.user,
        client_keys=(sshd.client_key_path,),
        use_agent=False,
        known_hosts=(sshd.known_hosts,),
    )
    source = SshSource(target)
    try:
        snapshot = await source.sample()
        first = source.first_response_bytes or 0
        agent = next(
            p.pid for p in snapshot.processes if any("sickbay-collector" in a for a in p.cmdline)
        )
        await source.sample()  # the second carries every process's first %CPU
        trips, sizes, collector_ms = [], [], []
        ticks0, cpu0 = cpu_ticks(agent), time.process_time()
        for _ in range(samples):
            await asyncio.sleep(interval)
            t0 = time.perf_counter()
            snapshot = await source.sample()
            trips.append((time.perf_counter() - t0) * 1000.0)
            sizes.append(source.last_response_bytes or 0)
            collector_ms.append(snapshot.collector_cpu_ms or 0.0)
        agent_ms = (cpu_ticks(agent) - ticks0) * 1000.0 / os.sysconf("SC_CLK_TCK") / samples
        bastion_ms = (time.process_time() - cpu0) * 1000.0 / samples
        others = await alternatives(target, max(3, samples // 4), interval)
        return {
            **others,
            "processes": len(snapshot.processes),
            "sockets": len(snapshot.sockets),
            "first_bytes": first,
            "steady_bytes": statistics.median(sizes),
            "steady_pct": 100.0 * statistics.median(sizes) / first,
            "round_trip_ms": statistics.median(trips),
            "collector_cpu_ms": statistics.median(collector_ms),
            "agent_cpu_ms": agent_ms,
            "bastion_cpu_ms": bastion_ms,
        }
    finally:
        await source.close()


PSUTIL_SCRIPT = """
import json, resource, psutil
procs = [p.info for p in psutil.process_iter(
    ["pid", "ppid", "name", "exe", "cmdline", "username", "status", "create_time",
     "cpu_times", "memory_info"])]
conns = [c._asdict() for c in psutil.net_connections("inet")]
print(json.dumps({"p": procs, "c": conns}, default=str))
r = resource.getrusage(resource.RUSAGE_SELF)
print("CPU_MS", (r.ru_utime + r.ru_stime) * 1000)
"""

# What an operator would otherwise type: the host's own ps and ss (which a rootkit may trojan).
# `times` (a shell builtin) prints the children's CPU on its second line.
PS_SS = "ps -eo pid,ppid,user,stat,pcpu,pmem,rss,lstart,args && ss -tunap; times"


def _minsec(text: str) -> float:
    minutes, _, seconds = text.partition("m")
    return (float(minutes) * 60 + float(seconds.rstrip("s"))) * 1000


async def alternatives(target: SshTarget, samples: int, interval: float) -> dict[str, float]:
    """Per sample, over the same kind of SSH connection: psutil in a fresh python (the agentless
    way to use it) and `ps ... && ss -tunap`: round trip, bytes, CPU on the target."""
    out: dict[str, float] = {}
    async with asyncssh.connect(
        target.host,
        target.port,
        username=target.user,
        client_keys=[str(k) for k in target.client_keys or ()],
        known_hosts=[str(k) for k in target.known_hosts],
        agent_path=None,
    ) as conn:
        psutil_cmd = f"{sys.executable} -c {shlex.quote(PSUTIL_SCRIPT)}"
        for name, command in (("psutil", psutil_cmd), ("ps_ss", PS_SS)):
            trips, sizes, cpus = [], [], []
            for _ in range(samples):
                await asyncio.sleep(interval)
                t0 = time.perf_counter()
                result = await conn.run(command, encoding=None, check=False)
                trips.append((time.perf_counter() - t0) * 1000.0)
                stdout = result.stdout if isinstance(result.stdout, bytes) else b""
                sizes.append(len(stdout))
                text = stdout.decode(errors="replace").splitlines()
                if name == "psutil":
                    cpus.append(float(text[-1].split()[1]))
                else:
                    user, system = text[-1].split()
                    cpus.append(_minsec(user) + _minsec(system))
            out[f"{name}_round_trip_ms"] = statistics.median(trips)
            out[f"{name}_bytes"] = statistics.median(sizes)
            out[f"{name}_cpu_ms"] = statistics.median(cpus)
    return out


async def fleet(sshd: Sshd, hosts: int, rounds: int, interval: float) -> str:
    """``hosts`` sources (each its own connection and agent) sampled together every ``interval``
    s: the bastion's CPU per host-sample, the slowest round, and failed samples."""
    target = SshTarget(
        sshd.host,
        sshd.port,
        sshd.user,
        client_keys=(sshd.client_key_path,),
        use_agent=False,
        known_hosts=(sshd.known_hosts,),
    )
    sources = [SshSource(target, connect_timeout=60, sample_timeout=60) for _ in range(hosts)]

    async def round_() -> int:
        results = await asyncio.gather(*(s.sample() for s in sources), return_exceptions=True)
        return sum(isinstance(r, BaseException) for r in results)

    try:
        for _ in range(2):  # connect (a few at a time: sshd's MaxStartups), first full samples
            for i in range(0, hosts, 10):
                await asyncio.gather(
                    *(s.sample() for s in sources[i : i + 10]), return_exceptions=True
                )
        cpu0, slowest, failed = time.process_time(), 0.0, 0
        for _ in range(rounds):
            await asyncio.sleep(interval)
            t0 = time.perf_counter()
            failed += await round_()
            slowest = max(slowest, (time.perf_counter() - t0) * 1000.0)
        per_sample = (time.process_time() - cpu0) * 1000.0 / (hosts * rounds)
        return (
            f"{hosts} hosts at {interval:g} s: bastion {per_sample:.2f} ms CPU per host-sample "
            f"({per_sample * hosts / interval / 10:.1f}% of a core); slowest round "
            f"{slowest:.0f} ms; {failed} of {hosts * rounds} samples failed "
            "(the targets share this machine's CPUs)"
        )
    finally:
        await asyncio.gather(*(s.close() for s in sources))


def main() -> int:
    samples = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    interval = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
    binary = find_sshd()
    if binary is None:
        print("no sshd: install openssh-server")
        return 1
    root = Path(tempfile.mkdtemp(prefix="sickbay-bench-ssh-"))
    planted: list[subprocess.Popen[bytes]] = []
    try:
        with Sshd(binary, root) as sshd:
            print(f"{samples} samples, {interval:g} s apart; figures are medians")
            for want in (300, 1000):
                missing = max(0, want - count_processes())
                if missing:
                    planted.append(
                        subprocess.Popen(
                            [
                                "/bin/sh",
                                "-c",
                                f"for i in $(seq {missing}); do {SLEEP} 600 & done; wait",
                            ],
                            start_new_session=True,
                        )
                    )
                    time.sleep(1.0 + missing / 500)
                r = asyncio.run(measure(sshd, samples, interval))
                print(
                    f"{r['processes']:5.0f} processes {r['sockets']:5.0f} sockets | "
                    f"first {r['first_bytes']:7.0f} B, steady {r['steady_bytes']:5.0f} B "
                    f"({r['steady_pct']:.2f}%) | round trip {r['round_trip_ms']:6.1f} ms | "
                    f"target: collector {r['collector_cpu_ms']:5.1f} ms, agent process "
                    f"{r['agent_cpu_ms']:5.1f} ms CPU/sample | "
                    f"bastion {r['bastion_cpu_ms']:5.1f} ms"
                )
                for name, label in (("psutil", "psutil, fresh python3"), ("ps_ss", "ps + ss")):
                    print(
                        f"      same host, {label:21}: {r[name + '_bytes']:7.0f} B every "
                        f"sample | round trip {r[name + '_round_trip_ms']:6.1f} ms | target "
                        f"CPU {r[name + '_cpu_ms']:6.1f} ms/sample"
                    )
            for hosts in (50, 100):
                print(asyncio.run(fleet(sshd, hosts, 5, 2.0)))
    finally:
        for proc in planted:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
