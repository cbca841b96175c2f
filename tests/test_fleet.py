"""Several hosts: the fleet screen, per-host state, and one slow host never delaying another."""

from __future__ import annotations

import asyncio

from domain.fleet import CONNECTING, LIVE, STALE, UNREACHABLE, HostRecord
from domain.history import MetricHistory
from domain.model import HostSnapshot
from domain.source import SourceError
from screens.fleet import FleetScreen
from screens.host import HostScreen
from tests.fakes import FakeSource, snapshot
from tui.app import SickbayApp
from tui.config import Settings
from widgets.fleet_table import FleetTable


class DeadSource(FakeSource):
    """Fails every sample the way an SSH source reports an authentication failure."""

    class AuthFailed(SourceError):
        state = "authentication failed"
        reason = "the host refused our key"

    async def sample(self) -> HostSnapshot:
        self.samples += 1
        raise self.AuthFailed("auth")


class SilentSource(FakeSource):
    """Never answers (a host that accepts the connection and says nothing)."""

    async def sample(self) -> HostSnapshot:
        self.samples += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def test_record_states() -> None:
    record = HostRecord("web1", MetricHistory(10))
    assert record.row().state == CONNECTING
    record.failed(SourceError("connection refused"))
    assert (record.state, record.reason) == (UNREACHABLE, "connection refused")
    record.observed(snapshot(1, "web1"), ())
    assert record.row().state == LIVE and record.row().cpu == 50.0
    record.failed(SourceError("connection reset"))
    row = record.row()
    assert row.state == STALE and row.age is not None and row.processes == 5


async def test_fleet_shows_every_host_and_a_dead_one_delays_nobody() -> None:
    live = FakeSource([snapshot(i, "web1") for i in range(3)], name="web1", hold=True)
    dead = DeadSource(name="db1")
    silent = SilentSource(name="cache1")
    app = SickbayApp([live, dead, silent], Settings(interval=0.2))
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(live.delivered.wait(), 5)  # the silent host did not hold it up
        await pilot.pause(1.2)  # the fleet refreshes once a second
        assert isinstance(app.screen, FleetScreen)
        rows = {row.name: row for row in app.screen.query_one(FleetTable).rows}
        assert rows["web1"].state == LIVE and rows["web1"].critical >= 1
        assert rows["db1"].state == "authentication failed"
        assert rows["db1"].reason == "the host refused our key"
        assert rows["cache1"].state == CONNECTING
        assert dead.samples >= 2  # it keeps retrying on its own schedule

        # Enter opens the selected host; ] moves on without going back; escape returns.
        table = app.screen.query_one(FleetTable)
        table.move_cursor_to_key("web1")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, HostScreen) and app.screen.host == "web1"
        assert app.screen.query_one("#processes").row_count == 5  # type: ignore[attr-defined]
        await pilot.press("right_square_bracket")
        assert app.screen.host == "db1"
        assert "authentication failed" in str(app.screen.query_one("#status").render())
        assert app.screen.query_one("#processes").row_count == 0  # type: ignore[attr-defined]
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)


async def test_fleet_filter() -> None:
    sources = [FakeSource([snapshot(1, n)], name=n, hold=True) for n in ("web1", "web2", "db1")]
    app = SickbayApp(sources, Settings(interval=0.2))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(1.2)
        table = app.screen.query_one(FleetTable)
        assert table.row_count == 3
        await pilot.press("slash", *"web", "enter")
        assert table.row_count == 2
