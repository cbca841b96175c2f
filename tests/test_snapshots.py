"""SVG snapshots of the host screen (Textual pinned exactly; environment pinned in conftest).

Regenerate after an intended visual change with ``./dev test tests/test_snapshots.py
--snapshot-update`` and review the SVGs in the diff."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fakes import FakeSource, process, snapshot
from tui.app import SickbayApp
from tui.config import Settings

pytestmark = pytest.mark.snapshot


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _app(hostile: bool = False) -> tuple[SickbayApp, FakeSource]:
    extra = ()
    if hostile:
        extra = (
            process(
                6666,
                "\x1b]0;PWNED\x07",
                5.0,
                user="[@click=app.quit]",
                cmdline=("/dev/shm/.x/[bold red]sshd[/]", "\u202eexe.txt", "\x1b[2J"),
                exe="/dev/shm/.x/\x1b[31m",
            ),
        )
    snaps = [snapshot(step, extra=extra) for step in range(6)]
    source = FakeSource(snaps, hold=True)
    return SickbayApp(source, Settings(interval=0.2, theme="textual-dark")), source


def _wait(source: FakeSource) -> Callable[[Any], Any]:
    async def run_before(pilot: Any) -> None:
        await source.delivered.wait()
        await pilot.pause()

    return run_before


def test_host_screen_wide(snap_compare: Any) -> None:
    app, source = _app()
    assert snap_compare(app, terminal_size=(120, 40), run_before=_wait(source))


def test_host_screen_bastion_80x24(snap_compare: Any) -> None:
    app, source = _app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=_wait(source))


def test_hostile_process_renders_as_literal_text(snap_compare: Any) -> None:
    app, source = _app(hostile=True)
    assert snap_compare(app, terminal_size=(120, 40), run_before=_wait(source))


def test_help_screen(snap_compare: Any) -> None:
    app, source = _app()

    async def run_before(pilot: Any) -> None:
        await source.delivered.wait()
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
