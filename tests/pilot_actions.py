"""Helpers for Pilot tests of response actions: wait for a condition, confirm an action's
preview and read its result; and the ECS emulator with its key in the environment."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from textual.app import App
from textual.widgets import Button, Input

from domain.actions import ActionPlan, ActionResult
from screens.action import ActionScreen, ResultScreen
from tests.cloud_emu.aliyun_emu import AliyunEmulator

REGION = "cn-hangzhou"


async def wait_for(pilot: Any, condition: Callable[[], object], tries: int = 400) -> bool:
    for _ in range(tries):
        if condition():
            return True
        await pilot.pause(0.05)
    return bool(condition())


def ready(app: App[Any], kind: type[Any], selector: str) -> bool:
    """The app shows a ``kind`` screen and it is composed (``selector`` is in it): a pushed
    screen is current a moment before its widgets exist, which a loaded machine makes visible."""
    screen = app.screen
    return isinstance(screen, kind) and bool(screen.query(selector))


async def confirm_and_result(
    pilot: Any, app: App[Any], typed: str | None = None
) -> tuple[ActionPlan, ActionResult]:
    """Confirm the action preview on screen (typing ``typed`` where the host's name is asked),
    wait for the result, close it; returns the plan and the result."""
    assert await wait_for(pilot, lambda: ready(app, ActionScreen, "#cancel"))
    screen = app.screen
    assert isinstance(screen, ActionScreen)
    if typed is not None:
        screen.query_one("#typed", Input).value = typed
        await pilot.pause()
    plan = screen.plan
    screen.query_one("#confirm", Button).press()
    assert await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen), 600)
    result = app.screen
    assert isinstance(result, ResultScreen)
    await pilot.press("escape")
    await wait_for(pilot, lambda: not isinstance(app.screen, ResultScreen))
    return plan, result.result


@pytest.fixture
def ecs(monkeypatch: pytest.MonkeyPatch) -> Iterator[AliyunEmulator]:
    """The ECS emulator, its access key in the environment as an operator's would be."""
    with AliyunEmulator(region=REGION, transition_s=0.2, snapshot_s=0.4) as e:
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", e.key_id)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", e.secret)
        yield e
