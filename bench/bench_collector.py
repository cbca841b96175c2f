"""What one sample costs the host: the /proc collector against psutil and the C floor.

Adds load first (by default 1,000 sleeping processes and 1,000 TCP sockets on 127.0.0.1, each
sleeper holding one socket: listeners and both ends of established connections), then, in the same
run, measures the median CPU ms per sample of:

- the collector (``backends/collector.py --bench`` in its own ``python3 -I -S`` process): a first
  sample (a fresh collector) and a steady-state one (incremental);
- psutil: process_iter with the same attributes, net_connections("inet") and the host counters;
- the floor (``../shared/bench/floor.c``): every file a full sample needs, read once from C.

    .venv/bin/python bench/bench_collector.py [--procs N] [--sockets N] [--samples K]
                                              [--sleep-ms MS] [--json]

Targets: collector first / floor <= 1.3, steady / first <= 0.3. Note that the floor reads only the
first page of each /proc/net/tcp* file (its read loop stops at a short read), so its "sockets"
part is lower than a full read; its netlink variant is the like-for-like comparison there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
COLLECTOR = REPO / "backends" / "collector.py"
FLOOR_C = REPO.parent / "shared" / "bench" / "floor.c"
FLOOR = REPO / "bench" / "floor"

PSUTIL = r"""
import json, sys, time
import psutil
k, pause = int(sys.argv[1]), int(sys.argv[2]) / 1000.0
attrs = ["pid", "ppid", "name", "status", "uids", "username", "cpu_times", "memory_info",
         "create_time", "exe", "cmdline", "cwd", "num_threads", "terminal"]
def sample():
    procs = [p.info for p in psutil.process_iter(attrs, ad_value=None)]
    conns = psutil.net_connections("inet")
    psutil.cpu_times(); psutil.getloadavg(); psutil.virtual_memory(); psutil.swap_memory()
    psutil.disk_io_counters(perdisk=True); psutil.net_io_counters(pernic=True)
    psutil.disk_usage("/dev/shm"); psutil.boot_time()
    return len(procs), len(conns)
costs = []
for i in range(k + 1):
    c0 = time.process_time()
    n = sample()
    if i:  # the first call only warms up
        costs.append((time.process_time() - c0) * 1000.0)
    time.sleep(pause)
print(json.dumps({"nprocs": n[0], "nsockets": n[1], "cpu_ms": sorted(costs)[len(costs) // 2]}))
"""


@contextlib.contextmanager
def load(nprocs: int, nsockets: int) -> Iterator[None]:
    """``nprocs`` sleeping processes, the first ``nsockets`` of them holding one loopback socket
    each (a fifth listeners, the rest both ends of established connections). All are killed on
    the way out, whatever happens."""
    sleep = shutil.which("sleep") or "/bin/sleep"
    sleepers: list[subprocess.Popen[bytes]] = []
    socks: list[socket.socket] = []
    try:
        listeners = max(1, nsockets // 5)
        for _ in range(min(listeners, nsockets)):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen(64)
            socks.append(s)
        i = 0
        while len(socks) + 2 <= nsockets:
            server = socks[i % listeners]
            i += 1
            client = socket.create_connection(server.getsockname())
            accepted, _ = server.accept()
            socks += [client, accepted]
        for n in range(nprocs):
            fds = [socks[n].fileno()] if n < len(socks) else []
            sleepers.append(
                subprocess.Popen([sleep, "3600"], pass_fds=fds, stdin=subprocess.DEVNULL)
            )
        for s in socks:
            s.close()  # the sleepers hold them now
        socks.clear()
        time.sleep(0.5)
        yield
    finally:
        for s in socks:
            s.close()
        for p in sleepers:
            p.kill()
        for p in sleepers:
            p.wait()


def run_json(args: list[str], timeout: float = 600) -> dict[str, Any]:
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=timeout)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def build_floor() -> str | None:
    """Compile the floor program; None (and why, on stderr) when that is not possible."""
    if not FLOOR_C.exists():
        print(f"floor: {FLOOR_C} not found, skipping the floor", file=sys.stderr)
        return None
    gcc = shutil.which("gcc")
    if gcc is None:
        print("floor: no gcc, skipping the floor", file=sys.stderr)
        return None
    if not FLOOR.exists() or FLOOR.stat().st_mtime < FLOOR_C.stat().st_mtime:
        subprocess.run([gcc, "-O2", "-o", str(FLOOR), str(FLOOR_C)], check=True)
    return str(FLOOR)


def measure(samples: int, sleep_ms: int) -> dict[str, Any]:
    k, pause = str(samples), str(sleep_ms)
    figures: dict[str, Any] = {}
    figures["collector"] = run_json(
        [sys.executable, "-I", "-S", str(COLLECTOR), "--bench", k, pause]
    )
    try:
        figures["psutil"] = run_json([sys.executable, "-I", "-c", PSUTIL, k, pause])
    except subprocess.CalledProcessError as exc:
        print(f"psutil: failed: {exc.stderr.strip()[-300:]}", file=sys.stderr)
    floor = build_floor()
    if floor is not None:
        figures["floor"] = run_json([floor, k, pause])
        figures["floor_netlink"] = run_json([floor, k, pause, "nostatus", "netlink"])
    return figures


def report(figures: dict[str, Any]) -> dict[str, Any]:
    col = figures["collector"]
    rows = [
        ("collector.py, first sample", col["nprocs"], col["nsockets"], col["first_ms"]),
        ("collector.py, steady state", col["nprocs"], col["nsockets"], col["steady_ms"]),
    ]
    if "psutil" in figures:
        ps = figures["psutil"]
        rows.append(("psutil, full sample", ps["nprocs"], ps["nsockets"], ps["cpu_ms"]))
    for key, label in (("floor", "C floor"), ("floor_netlink", "C floor, nostatus netlink")):
        if key in figures:
            fl = figures[key]
            rows.append((label, fl["nprocs"], fl["sock_inodes"], fl["cpu_ms"][0]))
    ratios: dict[str, float] = {"steady / first": col["steady_ms"] / col["first_ms"]}
    if "floor" in figures:
        ratios["first / floor"] = col["first_ms"] / figures["floor"]["cpu_ms"][0]
    if "floor_netlink" in figures:
        ratios["first / floor (netlink)"] = col["first_ms"] / figures["floor_netlink"]["cpu_ms"][0]
    if "psutil" in figures:
        ratios["psutil / first"] = figures["psutil"]["cpu_ms"] / col["first_ms"]
        ratios["psutil / steady"] = figures["psutil"]["cpu_ms"] / col["steady_ms"]
    return {"rows": rows, "ratios": ratios}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, default=1000, help="extra sleeping processes")
    parser.add_argument("--sockets", type=int, default=1000, help="extra loopback sockets")
    parser.add_argument("--samples", type=int, default=15, help="samples per measurement")
    parser.add_argument("--sleep-ms", type=int, default=500, help="pause between samples")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if not Path("/proc/self/stat").exists():
        print("bench_collector: needs Linux /proc", file=sys.stderr)
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.sockets + 256
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(wanted, soft)), hard))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so that the sleepers are killed
    with load(args.procs, args.sockets):
        figures = measure(args.samples, args.sleep_ms)
    result = report(figures)
    if args.json:
        print(json.dumps({"figures": figures, "ratios": result["ratios"]}, indent=2))
        return 0
    print(f"{'sampler':<30} {'procs':>6} {'sockets':>8} {'CPU ms/sample':>14}")
    for label, procs, socks, ms in result["rows"]:
        print(f"{label:<30} {procs:>6} {socks:>8} {ms:>14.1f}")
    targets = {"first / floor": 1.3, "steady / first": 0.3}
    for name, value in result["ratios"].items():
        target = targets.get(name)
        verdict = (
            ""
            if target is None
            else f"  (target <= {target}: {'ok' if value <= target else 'MISSED'})"
        )
        print(f"{name:<30} {value:>6.2f}{verdict}")
    print(f"collector.py ran on Python {figures['collector']['python']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
