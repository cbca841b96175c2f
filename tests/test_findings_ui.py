"""Findings in the console: the pane, row marks, jumping to the evidence, the details."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from backends.local import local_source
from domain.detect import Detector
from domain.findings import Severity
from screens.finding import FindingScreen
from screens.host import HostScreen
from tests.fakes import FakeSource, process, snapshot
from tui.app import SickbayApp
from tui.config import Settings
from tui.watch import HostWatch
from widgets.findings_table import FindingsTable
from widgets.process_table import ProcessTable
from widgets.socket_table import SocketTable

FAST = Settings(interval=0.2)


async def _started(source: FakeSource, pilot: object) -> None:
    await source.delivered.wait()
    await pilot.pause()  # type: ignore[attr-defined]


async def test_a_miner_is_found_marked_and_reachable_from_its_finding() -> None:
    source = FakeSource(hold=True)  # snapshots include kdevtmpfsi, deleted, talking to :3333
    app = SickbayApp(source, FAST)
    async with app.run_test(size=(120, 40)) as pilot:
        await _started(source, pilot)
        screen = app.screen
        assert isinstance(screen, HostScreen)
        findings = screen.query_one(FindingsTable)
        assert findings.row_count >= 1
        top = findings.rows[0]
        assert top.severity == Severity.CRITICAL
        rules = {f.rule_id for f in findings.rows}
        assert "PROC-MINER-NAME" in rules

        processes = screen.query_one(ProcessTable)
        miner = next(p for p in processes.rows if p.name == "kdevtmpfsi")
        sshd = next(p for p in processes.rows if p.name == "sshd")
        assert processes.row_mark(miner) == "critical"
        assert processes.row_mark(sshd) is None
        sockets = screen.query_one(SocketTable)
        pool = next(s for s in sockets.rows if s.remote_port == 3333)
        assert sockets.row_mark(pool) in {"high", "critical"}

        status = str(screen.query_one("#status", Static).render())
        assert "critical" in status

        # Enter on the miner finding jumps to the miner's row, even through a filter.
        processes.filter_text = "nginx"
        await pilot.press("1")
        assert findings.move_cursor_to_key(
            next(f.key for f in findings.rows if f.rule_id == "PROC-MINER-NAME")
        )
        await pilot.press("enter")
        assert app.focused is processes
        assert processes.cursor_row is not None and processes.cursor_row.name == "kdevtmpfsi"
        assert processes.filter_text == ""


async def test_details_show_the_finding_with_host_text_escaped() -> None:
    hostile = process(
        7777,
        "xmrig",
        90.0,
        exe="/dev/shm/.x/xmrig",
        cmdline=("/dev/shm/.x/xmrig", "-o", "stratum+tcp://pool\x1b]0;PWNED\x07:3333"),
    )
    snaps = [snapshot(step, extra=(hostile,)) for step in range(3)]
    source = FakeSource(snaps, hold=True)
    app = SickbayApp(source, FAST)
    async with app.run_test(size=(80, 24)) as pilot:
        await _started(source, pilot)
        findings = app.screen.query_one(FindingsTable)
        key = next(f.key for f in findings.rows if f.evidence.pid == 7777)
        findings.move_cursor_to_key(key)
        await pilot.press("1", "d")
        assert isinstance(app.screen, FindingScreen)
        body = str(app.screen.query_one(Static).render())
        assert "\x1b" not in body
        assert "What to do" in body and "freeze" in body
        await pilot.press("escape")
        assert isinstance(app.screen, HostScreen)


async def test_host_watch_reads_facts_once_and_evaluates_every_sample() -> None:
    watch = HostWatch(local_source(), facts_interval=3600)
    try:
        first = await watch.step()
        facts_at = watch.facts_at
        assert watch.facts is not None and facts_at is not None
        second = await watch.step()
        assert watch.facts_at == facts_at  # not read again within the interval
        assert second.snapshot.taken_at > first.snapshot.taken_at
        # The clean-host promise holds in the console too: nothing critical or high here.
        assert not [f for f in second.findings if f.severity >= Severity.HIGH], second.findings
        watch.refresh_facts()
        await watch.step()
        assert watch.facts_at is not None and watch.facts_at > facts_at
    finally:
        await watch.source.close()


async def test_host_watch_without_facts_still_detects() -> None:
    watch = HostWatch(FakeSource())
    seen = await watch.step()
    assert watch.facts is None
    assert any(f.rule_id == "PROC-MINER-NAME" for f in seen.findings)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_three_panes_fit(size: tuple[int, int]) -> None:
    source = FakeSource(hold=True)
    app = SickbayApp(source, FAST)
    async with app.run_test(size=size) as pilot:
        await _started(source, pilot)
        for widget in app.screen.query("FindingsTable, ProcessTable, SocketTable"):
            assert widget.region.height >= 4
            assert widget.region.bottom <= size[1]


async def test_background_hosts_run_the_rules_every_nth_sample() -> None:
    class Counting(Detector):
        calls = 0

        def evaluate(self, *args: object, **kw: object):  # type: ignore[no-untyped-def, override]
            Counting.calls += 1
            return super().evaluate(*args, **kw)  # type: ignore[arg-type]

    watch = HostWatch(FakeSource(), Counting())
    results = [await watch.step(detect_every=3) for _ in range(7)]
    assert Counting.calls == 3  # samples 1, 4 and 7
    assert all(r.findings == results[0].findings for r in results[:3])  # kept in between
    assert any(f.rule_id == "PROC-MINER-NAME" for f in results[1].findings)
    await watch.step()  # the host on screen: every sample
    assert Counting.calls == 4
