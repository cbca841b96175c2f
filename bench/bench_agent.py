"""What a sample through the cloud agent costs the host, and how many runs it takes.

When SSH is cut, sickbay's collector runs through Cloud Assistant / TAT (``backends.cloud.collect``:
a fresh program per run), two samples a second apart, the output compressed into pages that fit
the agents' 24 KB output cap. This runs exactly that command with /bin/sh on this machine (as the
agent would on the host) with N extra sleeping processes, page by page, and prints per run the
CPU it cost (user + system of the run's process tree), its wall time and the characters of output,
and the size of the command (Cloud Assistant accepts 16 KB once base64-encoded).

    .venv/bin/python bench/bench_agent.py [--procs N ...] [--budget CHARS]

Targets: every page within the budget; the command under 16 KB once base64-encoded.
"""

from __future__ import annotations

import argparse
import base64
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends.cloud.collect import (
    MARK,
    OUTPUT_BUDGET,
    PageMerger,
    collector_command,
    parse_output,
)

COMMAND_CAP = 16 * 1024


def children_cpu_ms() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * 1000.0


def measure(procs: int, budget: int) -> None:
    sleepers = [subprocess.Popen(["sleep", "600"]) for _ in range(procs)]
    try:
        merger, cursor, runs = PageMerger(), None, []
        while True:
            command = collector_command(cursor, budget)
            cpu0, t0 = children_cpu_ms(), time.monotonic()
            out = subprocess.run(
                ["/bin/sh", "-c", command], capture_output=True, text=True, timeout=120, check=True
            ).stdout
            wall = (time.monotonic() - t0) * 1000.0
            cpu = children_cpu_ms() - cpu0
            line = next((ln for ln in out.splitlines() if ln.startswith(MARK)), "")
            runs.append((cpu, wall, len(line) - len(MARK)))
            cursor = merger.add(parse_output(out))
            if cursor is None:
                break
        sample = merger.sample()
    finally:
        for proc in sleepers:
            proc.kill()
            proc.wait()
    within = all(chars <= budget for _, _, chars in runs)
    print(
        f"{len(sample['processes'])} processes, {len(sample['sockets'])} sockets: "
        f"{len(runs)} run(s); pages within {budget} characters: {'ok' if within else 'MISSED'}"
    )
    for number, (cpu, wall, chars) in enumerate(runs, 1):
        print(f"  run {number}: {cpu:.0f} ms CPU, {wall:.0f} ms wall, {chars} characters")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--budget", type=int, default=OUTPUT_BUDGET)
    args = parser.parse_args()
    command = collector_command((0, 4194304, 0, 0, 0), args.budget)
    encoded = len(base64.b64encode(command.encode()))
    verdict = "ok" if encoded <= COMMAND_CAP else "MISSED"
    print(f"command: {len(command)} bytes, {encoded} base64-encoded (cap {COMMAND_CAP}: {verdict})")
    for procs in args.procs:
        measure(procs, args.budget)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
