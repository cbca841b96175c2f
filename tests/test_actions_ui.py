"""Response actions from the console, on this machine's real processes: key -> preview (focus
on Cancel) -> confirmation -> execution -> verification -> audit entry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Button, Input

from backends.audit_log import AuditLog
from backends.local import LocalSource
from domain.actions import ActionPlan, PlannedStep, Risk
from screens.action import ActionScreen, ResultScreen, plan_text
from screens.host import HostScreen
from tests.pilot_actions import ready, wait_for
from tests.planted import SLEEP, Planted
from tui.app import SickbayApp
from tui.config import Settings
from widgets.process_table import ProcessTable

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def state_of(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]


async def select_pid(pilot: Any, app: SickbayApp, pid: int) -> None:
    screen = app.screen
    assert isinstance(screen, HostScreen)
    table = screen.query_one(ProcessTable)

    def shown() -> bool:
        snapshot = screen.last_snapshot
        return snapshot is not None and any(p.pid == pid for p in snapshot.processes)

    assert await wait_for(pilot, shown)
    key = next(p.key for p in screen.last_snapshot.processes if p.pid == pid)  # type: ignore[union-attr]
    table.focus()
    # The record holds the snapshot before the table has been given its rows: wait for them.
    assert await wait_for(pilot, lambda: table.move_cursor_to_key(key))
    await pilot.pause()


async def test_freeze_from_the_process_table_previews_asks_and_records(
    planted: Planted, tmp_path: Path
) -> None:
    victim = planted.start([SLEEP, "300"])
    audit = tmp_path / "audit.jsonl"
    app = SickbayApp(LocalSource("here"), Settings(interval=0.3, audit_log=audit))
    async with app.run_test(size=(120, 40)) as pilot:
        await select_pid(pilot, app, victim.pid)

        await pilot.press("f")
        assert await wait_for(pilot, lambda: ready(app, ActionScreen, "#cancel"))
        preview = app.screen
        assert isinstance(preview, ActionScreen)
        assert preview.plan.action == "freeze" and str(victim.pid) in preview.plan.subject
        assert app.focused is preview.query_one("#cancel", Button)  # focus starts on Cancel
        await pilot.press("enter")  # Enter on Cancel: nothing happens
        assert await wait_for(pilot, lambda: isinstance(app.screen, HostScreen))
        assert state_of(victim.pid) != "T"

        await pilot.press("f")
        assert await wait_for(pilot, lambda: ready(app, ActionScreen, "#cancel"))
        app.screen.query_one("#confirm", Button).press()
        assert await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen))
        result = app.screen
        assert isinstance(result, ResultScreen)
        assert result.result.outcome.value == "done", result.result
        assert state_of(victim.pid) == "T"
        await pilot.press("escape")

    entries = AuditLog(audit).entries()
    assert [e["outcome"] for e in entries] == ["cancelled", "done"]
    assert all(e["action"] == "freeze" and e["host"] == "here" for e in entries)
    assert AuditLog(audit).verify().ok


async def test_kill_needs_the_host_name_typed(planted: Planted, tmp_path: Path) -> None:
    victim = planted.start([SLEEP, "300"])
    audit = tmp_path / "audit.jsonl"
    app = SickbayApp(LocalSource("here"), Settings(interval=0.3, audit_log=audit))
    async with app.run_test(size=(120, 40)) as pilot:
        await select_pid(pilot, app, victim.pid)
        await pilot.press("ctrl+k")  # refused: no evidence of it collected yet
        assert await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen))
        refused = app.screen
        assert isinstance(refused, ResultScreen) and refused.result.outcome.value == "failed"
        assert "evidence" in refused.result.summary
        await pilot.press("escape")

        await pilot.press("e")  # evidence first
        assert await wait_for(pilot, lambda: ready(app, ActionScreen, "#cancel"))
        app.screen.query_one("#confirm", Button).press()
        assert await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen), 400)
        collected = app.screen
        assert isinstance(collected, ResultScreen) and collected.result.evidence
        await pilot.press("escape")

        await pilot.press("ctrl+k")
        assert await wait_for(pilot, lambda: ready(app, ActionScreen, "#cancel"))
        screen = app.screen
        assert isinstance(screen, ActionScreen) and screen.plan.needs_typed_confirmation
        execute = screen.query_one("#confirm", Button)
        assert execute.disabled
        typed = screen.query_one("#typed", Input)
        typed.value = "not-here"
        await pilot.pause()
        assert execute.disabled
        typed.value = "here"
        await pilot.pause()
        assert not execute.disabled
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: isinstance(app.screen, HostScreen))
    assert victim.poll() is None  # still alive
    outcomes = [e["outcome"] for e in AuditLog(audit).entries()]
    assert outcomes == ["failed", "done", "cancelled"]


async def test_read_only_removes_the_action_keys(planted: Planted, tmp_path: Path) -> None:
    victim = planted.start([SLEEP, "300"])
    audit = tmp_path / "audit.jsonl"
    settings = Settings(interval=0.3, audit_log=audit, read_only=True)
    app = SickbayApp(LocalSource("here"), settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await select_pid(pilot, app, victim.pid)
        await pilot.press("f")
        await pilot.pause(0.3)
        assert isinstance(app.screen, HostScreen)
        active = app.screen.active_bindings.get("f")
        assert active is None or not active.enabled  # the key is gone, not just refused
        assert not app.screen.check_action("act", ("freeze",))
    assert state_of(victim.pid) != "T" and not audit.exists()


async def test_dry_run_shows_the_preview_and_changes_nothing(
    planted: Planted, tmp_path: Path
) -> None:
    victim = planted.start([SLEEP, "300"])
    audit = tmp_path / "audit.jsonl"
    settings = Settings(interval=0.3, audit_log=audit, dry_run=True)
    app = SickbayApp(LocalSource("here"), settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await select_pid(pilot, app, victim.pid)
        await pilot.press("f")
        assert await wait_for(pilot, lambda: ready(app, ActionScreen, "#cancel"))
        screen = app.screen
        assert isinstance(screen, ActionScreen) and screen.dry_run
        assert not screen.query("#confirm")  # nothing to confirm in a dry run
        await pilot.press("escape")
    assert state_of(victim.pid) != "T"
    (entry,) = AuditLog(audit).entries()
    assert entry["outcome"] == "dry-run" and json.dumps(entry["steps"])


async def test_the_command_palette_offers_the_same_actions(
    planted: Planted, tmp_path: Path
) -> None:
    victim = planted.start([SLEEP, "300"])
    app = SickbayApp(LocalSource("here"), Settings(interval=0.3, audit_log=tmp_path / "a.jsonl"))
    async with app.run_test(size=(120, 40)) as pilot:
        await select_pid(pilot, app, victim.pid)
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        for key in "Freeze process":
            await pilot.press("space" if key == " " else key)
        await pilot.pause(0.5)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: ready(app, ActionScreen, "#cancel"))
        screen = app.screen
        assert isinstance(screen, ActionScreen) and screen.plan.action == "freeze"
        assert str(victim.pid) in screen.plan.subject
        await pilot.press("escape")


def test_the_preview_shows_host_text_literally() -> None:
    hostile = "/tmp/[bold]x[/]\x1b]52;c;ZXZpbA==\x07\u202e\nfake step"
    plan = ActionPlan(
        "quarantine", "web1\x1b[2J", f"file {hostile}", {"path": hostile},
        (PlannedStep(f"move {hostile}", f"mv {hostile} /q"),), Risk.DESTRUCTIVE,
        warnings=(hostile,),
    )  # fmt: skip
    plain = plan_text(plan).plain
    assert "\x1b" not in plain and "\u202e" not in plain
    assert "[bold]x[/]" in plain  # markup shown, not applied
    assert "\nfake step" not in plain  # a newline in a name cannot fake a line of the plan
    text = plan.preview()
    assert "\x1b" not in text and "\nfake step" not in text
