"""Is the console still responsive while it watches many hosts over SSH?

Starts a real sshd on loopback and the real app (headless, 120x40) watching N "hosts" (N SSH
connections to it, each with its own collector agent) at the default 2 s interval, waits until
every host is live, then presses Down on the fleet table K times and measures how long each key
takes to move the cursor (key posted to the cursor moved in the table), and the app's
CPU while it watches. The agents run on this same machine, so they compete with the UI for its
two cores. To model targets that live elsewhere, sshd (and so every agent it starts) runs at
nice 19: the targets get what the bastion leaves. ``--no-nice`` measures them head to head.

    .venv/bin/python bench/bench_fleet_ui.py [HOSTS] [PRESSES] [--no-nice] [--slow]

``--slow`` lists what held the event loop for more than 20 ms (asyncio's debug mode, which
itself slows the loop: use it to find culprits, not for the figures).

Target (issue 3): with 100 hosts at 2 s, the UI answers a key within 100 ms and the bastion
uses less than one core.
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends.ssh import SshSource, SshTarget
from tests.sshd import Sshd, find_sshd
from tui.app import SickbayApp
from tui.config import Settings
from widgets.fleet_table import FleetTable


async def run(sshd: Sshd, hosts: int, presses: int) -> None:
    sources = [
        SshSource(
            SshTarget(
                sshd.host, sshd.port, sshd.user, name=f"host{i:03d}",
                client_keys=(sshd.client_key_path,), use_agent=False,
                known_hosts=(sshd.known_hosts,),
            ),
            connect_timeout=60, sample_timeout=60,
        )
        for i in range(hosts)
    ]  # fmt: skip
    app = SickbayApp(sources, Settings(interval=2.0))
    slow: list[str] = []
    if "--slow" in sys.argv:  # log what holds the event loop for more than 20 ms
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = 0.02

        class Catch(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                slow.append(record.getMessage())

        logging.getLogger("asyncio").addHandler(Catch())
    async with app.run_test(size=(120, 40)) as pilot:
        started = time.monotonic()
        while time.monotonic() - started < 120:
            await pilot.pause(0.5)
            if all(r.state == "live" for r in app.records.values()):
                break
        live = sum(r.state == "live" for r in app.records.values())
        print(f"{live} of {hosts} hosts live after {time.monotonic() - started:.1f} s")
        while not app.screen.query(FleetTable):  # composed late on a loaded machine
            await pilot.pause(0.1)
        table = app.screen.query_one(FleetTable)
        table.focus()
        await pilot.pause(2.0)
        cpu0, wall0 = time.process_time(), time.monotonic()
        latencies = []
        for _ in range(presses):
            before = table.cursor_index
            t0 = time.perf_counter()
            # As a terminal delivers a key: posted, not awaited (Pilot.press would wait for the
            # whole app to be idle, which a hundred reporting hosts never let it be).
            app.simulate_key("down" if before < table.row_count - 1 else "home")
            while table.cursor_index == before:
                await asyncio.sleep(0.001)
            latencies.append((time.perf_counter() - t0) * 1000.0)
            await asyncio.sleep(0.25)  # a person's pace; samples keep arriving meanwhile
        cpu = 100.0 * (time.process_time() - cpu0) / (time.monotonic() - wall0)
    if slow:
        print(f"{len(slow)} callbacks held the loop for more than 20 ms; the slowest:")
        for line in sorted(slow, key=_took, reverse=True)[:12]:
            print("   ", line[:220])
    latencies.sort()
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    print(
        f"key to cursor move: median {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms, "
        f"max {latencies[-1]:.1f} ms over {presses} presses (target <= 100 ms: "
        f"{'ok' if p95 <= 100 else 'MISSED'})"
    )
    print(
        f"app CPU while watching {hosts} hosts at 2 s: {cpu:.1f}% of a core "
        f"(target < 100%: {'ok' if cpu < 100 else 'MISSED'})"
    )


def _took(line: str) -> float:
    try:
        return float(line.rsplit(" took ", 1)[1].split(maxsplit=1)[0])
    except (IndexError, ValueError):
        return 0.0


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    hosts = int(args[0]) if args else 100
    presses = int(args[1]) if len(args) > 1 else 40
    nice = "--no-nice" not in sys.argv
    binary = find_sshd()
    if binary is None:
        print("no sshd: install openssh-server (./dev bench does)")
        return 1
    with Sshd(binary, Path(tempfile.mkdtemp(prefix="sickbay-bench-fleet-"))) as sshd:
        if nice and sshd.proc is not None:
            os.setpriority(os.PRIO_PROCESS, sshd.proc.pid, 19)  # its sessions inherit it
        print(f"targets at nice {19 if nice else 0}")
        asyncio.run(run(sshd, hosts, presses))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
