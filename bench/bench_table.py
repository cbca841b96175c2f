"""CPU cost of one live refresh of the process table (not a test: prints figures).

One refresh = ``set_rows`` with a new sample (about 10% of rows with a new %CPU, a few processes
started and a few gone), re-sort by %CPU, and the repaint of what is on screen, in a headless
``run_test`` at 120x40. Measured with ``time.process_time`` (CPU, not wall time), median of 10
runs after 2 warm-ups. For comparison, Textual's stock ``DataTable`` doing the same update the
way a DataTable must (``update_cell`` per changed cell, ``remove_row``/``add_row``, ``sort``).

Run: ``.venv/bin/python bench/bench_table.py`` (or ``./dev bench``).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from rich.text import Text
from textual.app import App, ComposeResult
from textual.strip import Strip
from textual.widgets import DataTable

from domain.model import Process
from domain.units import human_bytes, start_time_text
from widgets.live_table import LiveTable
from widgets.process_table import ProcessTable, command_text, cpu_text, exe_text
from widgets.safe import host_text

SIZE = (120, 40)
RUNS = 10
WARMUP = 2
TARGET_MS = 40.0
CHURN = 5  # processes started and gone per refresh
USERS = ("root", "www-data", "postgres", "nobody", "systemd-resolve", "ubuntu")
PROGRAMS = ("/usr/bin/python3", "/usr/sbin/nginx", "/usr/lib/postgresql/15/bin/postgres", "/bin/sh")


def make_process(pid: int, rng: random.Random, now: float) -> Process:
    program = rng.choice(PROGRAMS)
    return Process(
        pid=pid,
        ppid=rng.randrange(1, 2000),
        name=program.rsplit("/", 1)[-1][:15],
        state="S",
        uid=0,
        user=rng.choice(USERS),
        cpu_percent=round(rng.random() * 5, 1) if rng.random() < 0.9 else None,
        rss=rng.randrange(1, 500) * 2**20,
        start_time=now - rng.randrange(0, 5 * 86400),
        exe=program,
        exe_deleted=False,
        exe_memfd=False,
        cmdline=(program, "-m", f"worker.{pid}", "--config", "/etc/app/conf.yaml", "--verbose"),
        cwd="/",
        kernel_thread=False,
        threads=1,
        tty_nr=0,
    )


Sample = tuple[list[Process], set[int], list[Process], list[Process]]


class Sampler:
    """Successive samples of a host with ``count`` processes. Every sample is made of new
    objects, as a collector produces them; unchanged processes are equal to the last ones."""

    def __init__(self, count: int, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.now = 1_790_000_000.0
        self.next_pid = 100
        self.rows = [self._new() for _ in range(count)]

    def _new(self) -> Process:
        self.next_pid += 1
        return make_process(self.next_pid, self.rng, self.now)

    def step(self, reuse: bool = False) -> Sample:
        """(new sample, indices whose %CPU changed, processes gone, processes started).
        ``reuse``: unchanged processes stay the same objects instead of equal copies."""
        rng = self.rng
        changed = set(rng.sample(range(len(self.rows)), len(self.rows) // 10))
        rows = [
            replace(p, cpu_percent=round(rng.random() * 100, 1))
            if i in changed
            else (p if reuse else replace(p))
            for i, p in enumerate(self.rows)
        ]
        gone = [rows.pop(rng.randrange(len(rows))) for _ in range(CHURN)]
        started = [self._new() for _ in range(CHURN)]
        rows.extend(started)
        self.rows = rows
        return rows, changed, gone, started


class CountingProcessTable(ProcessTable):
    """Counts lines drawn, to show the timed region includes the repaint."""

    lines_drawn = 0

    def render_line(self, y: int) -> Strip:
        CountingProcessTable.lines_drawn += 1
        return super().render_line(y)


class LiveApp(App[None]):
    def compose(self) -> ComposeResult:
        yield CountingProcessTable()


class StockApp(App[None]):
    def compose(self) -> ComposeResult:
        yield DataTable(cursor_type="row")


def cells(p: Process) -> tuple[str | Text, ...]:
    return (
        str(p.pid),
        str(p.ppid),
        host_text(p.user),
        cpu_text(p),
        human_bytes(p.rss),
        start_time_text(p.start_time),
        Text(exe_text(p)),
        Text(command_text(p)),
    )


def cpu_sort_key(value: str) -> float:
    return -1.0 if value == "-" else float(value)


async def measure(
    prepare: Callable[[], Sample], apply: Callable[[Sample], Awaitable[None]]
) -> list[float]:
    """Time ``apply`` only: making the next sample is the collector's cost, not the table's."""
    times = []
    for i in range(WARMUP + RUNS):
        sample = prepare()
        t0 = time.process_time()
        await apply(sample)
        elapsed = (time.process_time() - t0) * 1000
        if i >= WARMUP:
            times.append(elapsed)
    return times


async def bench_live(count: int, filter_text: str = "", reuse: bool = False) -> list[float]:
    app = LiveApp()
    sampler = Sampler(count)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(LiveTable)
        table.set_rows(sampler.rows)
        table.filter_text = filter_text
        await pilot.pause()
        await pilot.press("j", "j", "j")  # a cursor that has to follow its row

        async def apply(sample: Sample) -> None:
            table.set_rows(sample[0])
            await pilot.pause()

        before = CountingProcessTable.lines_drawn
        times = await measure(lambda: sampler.step(reuse), apply)
        drawn = CountingProcessTable.lines_drawn - before
        assert drawn >= (WARMUP + RUNS) * (SIZE[1] - 1), f"repaint not measured ({drawn} lines)"
    return times


async def bench_stock(count: int) -> list[float]:
    app = StockApp()
    sampler = Sampler(count)
    async with app.run_test(size=SIZE) as pilot:
        table: DataTable[str | Text] = app.query_one(DataTable)
        keys = table.add_columns("PID", "PPID", "USER", "%CPU", "RSS", "START", "EXE", "COMMAND")
        cpu_column = keys[3]
        for p in sampler.rows:
            table.add_row(*cells(p), key=p.key)
        table.sort(cpu_column, key=cpu_sort_key, reverse=True)
        await pilot.pause()
        await pilot.press("down", "down", "down")

        async def apply(sample: Sample) -> None:
            rows, changed, gone, started = sample
            cursor_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
            with app.batch_update():
                for p in gone:
                    table.remove_row(p.key)
                for i in changed:
                    if i < len(rows):
                        p = rows[i]
                        if p.key in table.rows:
                            table.update_cell(p.key, cpu_column, cpu_text(p))
                for p in started:
                    table.add_row(*cells(p), key=p.key)
                table.sort(cpu_column, key=cpu_sort_key, reverse=True)
                if cursor_key in table.rows:
                    table.move_cursor(row=table.get_row_index(cursor_key))
            await pilot.pause()

        return await measure(sampler.step, apply)


def row(name: str, count: int, case: str, times: list[float]) -> str:
    return (
        f"{name:<10} {count:>6,} {case:<44} {statistics.median(times):>8.1f}"
        f" {min(times):>7.1f} {max(times):>7.1f}"
    )


async def main() -> None:
    print(f"CPU ms per refresh, headless {SIZE[0]}x{SIZE[1]}, median of {RUNS} (+{WARMUP} warm-up)")
    print(f"{'table':<10} {'rows':>6} {'case':<44} {'median':>8} {'min':>7} {'max':>7}")
    results: dict[tuple[str, int, str], list[float]] = {}
    cases: list[tuple[str, int, str, Callable[[], Awaitable[list[float]]]]] = [
        ("LiveTable", 1000, "refresh: new sample objects", lambda: bench_live(1000)),
        ("LiveTable", 5000, "refresh: new sample objects", lambda: bench_live(5000)),
        (
            "LiveTable",
            5000,
            "refresh, unchanged rows as the same objects",
            lambda: bench_live(5000, reuse=True),
        ),
        (
            "LiveTable",
            5000,
            'refresh with filter "python"',
            lambda: bench_live(5000, filter_text="python"),
        ),
        (
            "DataTable",
            1000,
            "update_cell + remove/add_row + sort + cursor",
            lambda: bench_stock(1000),
        ),
    ]
    for name, count, case, bench in cases:
        times = await bench()
        results[(name, count, case)] = times
        print(row(name, count, case, times), flush=True)
    main_case = statistics.median(results[("LiveTable", 5000, "refresh: new sample objects")])
    verdict = "met" if main_case <= TARGET_MS else "NOT met"
    print(
        f"target: one refresh at 5,000 rows <= {TARGET_MS:.0f} ms CPU: {verdict}"
        f" ({main_case:.1f} ms)"
    )


if __name__ == "__main__":
    asyncio.run(main())
