"""The console's behaviour, driven with Textual's Pilot at 120x40 and 80x24."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from domain.source import SourceError
from screens.help import HelpScreen
from screens.host import HostScreen
from tests.fakes import FakeSource, process, snapshot
from tui.app import SickbayApp
from tui.config import Settings
from widgets.filter_bar import FilterBar
from widgets.findings_table import FindingsTable
from widgets.metrics import MetricsPane
from widgets.process_table import ProcessTable
from widgets.socket_table import SocketTable

FAST = Settings(interval=0.2)


async def started(pilot: object, source: FakeSource) -> None:
    await source.delivered.wait()
    await pilot.pause()  # type: ignore[attr-defined]


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_every_pane_is_visible_together(size: tuple[int, int]) -> None:
    source = FakeSource(hold=True)
    app = SickbayApp(source, FAST)
    async with app.run_test(size=size) as pilot:
        await started(pilot, source)
        screen = app.screen
        assert isinstance(screen, HostScreen)
        width, height = size
        for widget in (
            screen.query_one(MetricsPane),
            screen.query_one(ProcessTable),
            screen.query_one(SocketTable),
        ):
            region = widget.region
            assert region.height >= 3, widget
            assert region.y + region.height <= height and region.x + region.width <= width
        processes = screen.query_one(ProcessTable)
        assert processes.row_count == 5
        assert processes.size.height - 1 >= 5 or size == (80, 24)  # all rows fit when wide
        assert screen.query_one(SocketTable).row_count == 3
        label = screen.query_one("#tile-cpu .metric-label", Static)
        assert "CPU" in str(label.render())


async def test_figures_and_status_follow_samples() -> None:
    source = FakeSource(hold=True)
    app = SickbayApp(source, FAST)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, source)
        screen = app.screen
        assert isinstance(screen, HostScreen)
        assert screen.record.history.values("cpu") == [
            50.0,
            60.0,
        ]  # steps 1 and 2; step 0 has no rate
        status = str(screen.query_one("#status", Static).render())
        assert "fake-host" in status and "5 procs" in status and "3 sockets" in status


async def test_cursor_stays_on_the_same_process_across_refreshes() -> None:
    first = snapshot(1)
    # The next sample reorders by CPU and adds a busier process above the cursor.
    second = snapshot(2, extra=(process(4000, "busy", 99.5),))
    source = FakeSource([first, second], hold=True)
    app = SickbayApp(source, Settings(interval=0.5))
    async with app.run_test(size=(120, 40)) as pilot:
        while source.samples < 1:
            await pilot.pause(0.05)
        await pilot.pause()
        table = app.screen.query_one(ProcessTable)
        table.move_cursor_to_key(next(p.key for p in first.processes if p.name == "nginx"))
        await source.delivered.wait()
        await pilot.pause()
        assert table.row_count == 6
        cursor = table.cursor_row
        assert cursor is not None and cursor.name == "nginx"


async def test_digits_jump_between_panes_and_z_zooms() -> None:
    source = FakeSource(hold=True)
    app = SickbayApp(source, FAST)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, source)
        await pilot.press("3")
        assert app.focused is app.screen.query_one(SocketTable)
        await pilot.press("z")
        assert app.screen.maximized is app.screen.query_one(SocketTable)
        await pilot.press("escape")
        assert app.screen.maximized is None
        await pilot.press("2")
        assert app.focused is app.screen.query_one(ProcessTable)
        await pilot.press("1")
        assert app.focused is app.screen.query_one(FindingsTable)


async def test_slash_filters_the_focused_table() -> None:
    source = FakeSource(hold=True)
    app = SickbayApp(source, FAST)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, source)
        table = app.screen.query_one(ProcessTable)
        await pilot.press("slash")
        assert isinstance(app.focused, FilterBar)
        await pilot.press(*"kdev")
        assert table.row_count == 1
        assert table.summary.startswith("1 of 5")
        await pilot.press("enter")
        assert app.focused is table
        assert table.filter_text == "kdev" and table.row_count == 1
        await pilot.press("slash", "escape")
        assert table.filter_text == "" and table.row_count == 5
        assert app.focused is table


async def test_help_lists_every_key_with_its_id() -> None:
    source = FakeSource(hold=True)
    app = SickbayApp(source, FAST)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, source)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        ids = {ident for _, _, ident in app.screen.rows}
        assert {
            "app.quit",
            "app.help",
            "app.command_palette",
            "host.filter",
            "host.pane_findings",
            "host.pane_processes",
            "host.pane_network",
            "table.sort_invert",
        } <= ids
        await pilot.press("escape")
        assert isinstance(app.screen, HostScreen)


async def test_keymap_from_config_remaps_by_id() -> None:
    source = FakeSource(hold=True)
    app = SickbayApp(source, Settings(interval=0.2, keymap={"host.filter": "f"}))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, source)
        await pilot.press("slash")
        assert not isinstance(app.focused, FilterBar)
        await pilot.press("f")
        assert isinstance(app.focused, FilterBar)


async def test_command_palette_runs_host_commands() -> None:
    source = FakeSource(hold=True)
    app = SickbayApp(source, FAST)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, source)
        await pilot.press("colon")
        await pilot.press(*"Network")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.focused is app.screen.query_one(SocketTable)


async def test_q_quits() -> None:
    source = FakeSource(hold=True)
    app = SickbayApp(source, FAST)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, source)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
    assert source.closed


async def test_a_failing_source_is_shown_and_does_not_stop_the_app() -> None:
    class Broken(FakeSource):
        async def sample(self):  # type: ignore[no-untyped-def]
            self.samples += 1
            if self.samples > 2:
                self.delivered.set()
            raise SourceError("permission denied reading /proc")

    source = Broken()
    app = SickbayApp(source, FAST)
    async with app.run_test(size=(80, 24)) as pilot:
        await source.delivered.wait()
        await pilot.pause()
        status = str(app.screen.query_one("#status", Static).render())
        assert "cannot sample: unreachable: permission denied reading /proc" in status
        assert app.is_running


async def test_a_failure_reason_quoting_the_host_is_shown_escaped() -> None:
    class Hostile(FakeSource):
        async def sample(self):  # type: ignore[no-untyped-def]
            self.samples += 1
            if self.samples > 1:
                self.delivered.set()
            raise SourceError("lost the collector: \x1b]0;PWNED\x07[@click=app.quit]")

    source = Hostile()
    app = SickbayApp(source, FAST)
    async with app.run_test(size=(120, 40)) as pilot:
        await source.delivered.wait()
        await pilot.pause()
        status = str(app.screen.query_one("#status", Static).render())
        assert "\x1b" not in status and "\\e]0;PWNED\\x07[@click=app.quit]" in status
        assert app.is_running
