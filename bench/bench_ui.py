"""What the console costs the bastion: time to first frame, and CPU while it watches a busy host.

Runs the real `sickbay` in a real terminal (tmux, 120x40) with 1,000 extra sleeping processes and
1,000 loopback sockets (the same load as bench_collector.py), and prints:

- launch to first frame: from starting the command until the process table's header and rows are
  on the screen (tmux capture-pane polled every 10 ms), median of several launches;
- UI CPU: the app's own CPU time (utime+stime of the process, collection included, since the local
  source runs in-process) over a window at the default 2 s interval, as a share of one core.

    .venv/bin/python bench/bench_ui.py [--procs N] [--launches K] [--window S] [--json]

Targets (issue 2): first frame <= 1 s; UI CPU <= 3% of a core on a 1,000-process host.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_collector import load

REPO = Path(__file__).resolve().parent.parent
SICKBAY = REPO / ".venv" / "bin" / "sickbay"
SESSION = "sickbay-bench"


def tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", *args], capture_output=True, text=True, check=False, timeout=10
    ).stdout


def start(interval: float | None = None) -> float:
    tmux("kill-session", "-t", SESSION)
    command = f"exec {SICKBAY}" + (f" --interval {interval}" if interval else "")
    started = time.monotonic()
    tmux("new-session", "-d", "-s", SESSION, "-x", "120", "-y", "40", command)
    return started


def first_frame(timeout: float = 20.0) -> float:
    started = start()
    deadline = started + timeout
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", SESSION)
        # header plus at least one process row under it
        if "Processes" in screen and "COMMAND" in screen and " root " in screen:
            return time.monotonic() - started
        time.sleep(0.01)
    raise RuntimeError("sickbay never drew its first frame")


def app_pid() -> int:
    pane_pid = tmux("display-message", "-p", "-t", SESSION, "#{pane_pid}").strip()
    return int(pane_pid)  # the pane runs `exec sickbay`, so this is the app itself


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ui_cpu(window: float, warmup: float = 6.0) -> float:
    start()
    time.sleep(warmup)  # start-up and the first (full) sample are not steady state
    pid = app_pid()
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(window)
    return 100.0 * (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, default=1000)
    parser.add_argument("--launches", type=int, default=5)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not shutil.which("tmux") or not SICKBAY.exists():
        print("needs tmux and the .venv (./dev bench sets both up)", file=sys.stderr)
        return 1
    try:
        with load(args.procs, args.procs):
            frames = [first_frame() for _ in range(args.launches)]
            nprocs = sum(1 for p in os.listdir("/proc") if p.isdigit())
            cpu = ui_cpu(args.window)
    finally:
        tmux("kill-session", "-t", SESSION)
    figures = {
        "processes": nprocs,
        "first_frame_s": round(statistics.median(frames), 3),
        "first_frame_all_s": [round(f, 3) for f in frames],
        "ui_cpu_percent": round(cpu, 2),
        "window_s": args.window,
    }
    if args.json:
        print(json.dumps(figures))
        return 0
    ok = {True: "ok", False: "MISSED"}
    print(f"host processes                 {nprocs}")
    print(
        f"launch to first frame          {figures['first_frame_s']:.2f} s  (median of "
        f"{len(frames)}; target <= 1 s: {ok[figures['first_frame_s'] <= 1.0]})"
    )
    print(
        f"UI CPU at the 2 s interval     {cpu:.2f} % of a core  (over {args.window:.0f} s; "
        f"target <= 3%: {ok[cpu <= 3.0]})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
