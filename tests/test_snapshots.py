"""SVG snapshots of the host screen (Textual pinned exactly; environment pinned in conftest).

Regenerate after an intended visual change with ``./dev test tests/test_snapshots.py
--snapshot-update`` and review the SVGs in the diff."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from domain.checklist import (
    ChecklistView,
    VerificationState,
    containment_clock,
    load_checklist,
    verify_step,
)
from domain.incident import Case, Incident, IncidentStatus, StepState, StepStatus
from screens.localize import localized
from tests.fakes import FakeSource, process, snapshot
from tui.app import SickbayApp
from tui.config import Settings
from tui.incident_desk import IncidentDesk

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


def _checklist_app(language: str, tmp_path: Any) -> tuple[SickbayApp, FakeSource]:
    """The checklist of a fixed incident: 12 minutes after the first detection, isolation and
    evidence done, the miner still seen; the clock and checks computed at a fixed time."""
    start = dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.timezone.utc)
    now = start + dt.timedelta(minutes=12)
    incident = Incident(
        "INC-20261123-0001", "web1: [bold]xmrig[/] mining", start, "oncall", IncidentStatus.OPEN,
        first_detection_at=start,
    )  # fmt: skip
    steps = {
        "detect": StepState("detect", StepStatus.DONE, "", "oncall", start),
        "preserve": StepState(
            "preserve", StepStatus.IN_PROGRESS, "", "oncall", start + dt.timedelta(minutes=5)
        ),
        "scan": StepState("scan", StepStatus.SKIPPED, "ClamAV not installed", "oncall", now),
    }
    case = Case(incident, steps=steps)
    checklist = load_checklist(None)
    state = VerificationState(case=case, now=now, pool_connections={"web1": 1})
    checks = {step.id: verify_step(step, state) for step in checklist.steps}
    clock = containment_clock(start, None, now)
    view = ChecklistView(checklist, case, checks, clock, now)

    class FixedDesk(IncidentDesk):
        def view(self, pool_connections: Any) -> ChecklistView:
            return view

    snaps = [snapshot(step) for step in range(3)]
    source = FakeSource(snaps, hold=True)
    settings = Settings(interval=0.2, theme="textual-dark", language=language)
    desk = FixedDesk(tmp_path / "cases.sqlite3")
    app_class = localized(SickbayApp, "zh" if language == "zh" else "en")
    return app_class(source, settings, incidents=desk), source


@pytest.mark.parametrize("language", ["en", "zh"])
def test_checklist_screen(snap_compare: Any, language: str, tmp_path: Any) -> None:
    app, source = _checklist_app(language, tmp_path)

    async def run_before(pilot: Any) -> None:
        await source.delivered.wait()
        await pilot.press("c")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)
