"""The cloud screen and cloud actions in the console, with the real Alibaba Cloud SDK talking to
the loopback ECS emulator (signatures checked): snapshot, isolate and un-isolate from keys."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from textual.widgets import Button, Input, OptionList

from backends.audit_log import AuditLog
from backends.cloud.actions import Timing, quarantine_group_name
from domain.actions import render_result
from domain.cloud import Instance, InstanceView
from screens.action import ActionScreen
from screens.cloud import CloudScreen, view_text
from screens.cloud_list import CloudListScreen, instance_label
from screens.host import HostScreen
from screens.prompt import PromptScreen
from tests.cloud_emu.aliyun_emu import AliyunEmulator
from tests.fakes import FakeSource
from tests.pilot_actions import REGION, confirm_and_result, ready, wait_for
from tui.app import SickbayApp
from tui.cloud_desk import CloudDesk
from tui.config import CloudSettings, HostEntry, Settings

pytestmark = pytest.mark.usefixtures("loopback_only")

OPERATOR = "198.51.100.7"


async def test_snapshot_isolate_and_unisolate_from_the_cloud_screen(
    ecs: AliyunEmulator, tmp_path: Any
) -> None:
    own = ecs.add_security_group("web1-sg")
    instance_id = ecs.add_instance("web1", groups=[own], data_disks=[100])
    settings = Settings(
        interval=0.3,
        audit_log=tmp_path / "audit.jsonl",
        hosts=(HostEntry("web1", "10.0.0.5", provider="aliyun", region=REGION),),
        cloud=CloudSettings(endpoints={"aliyun": ecs.url}, operator_address=OPERATOR),
    )
    desk = CloudDesk(settings, timing=Timing(poll_s=0.05, snapshot_timeout_s=20))
    source = FakeSource(name="web1")
    app = SickbayApp(source, settings, cloud=desk)
    async with app.run_test(size=(120, 40)) as pilot:
        await source.delivered.wait()
        assert isinstance(app.screen, HostScreen)
        app.screen.query_one("#processes").focus()
        # The host's configured entry names no instance: it is matched by its address.
        ecs.instances[instance_id].private_ip = "10.0.0.5"
        await pilot.press("i")
        assert await wait_for(pilot, lambda: isinstance(app.screen, CloudScreen))
        cloud = app.screen
        assert isinstance(cloud, CloudScreen)
        assert await wait_for(pilot, lambda: cloud.view is not None)
        assert cloud.view is not None and cloud.view.instance.id == instance_id
        assert "private address 10.0.0.5" in cloud.view.how
        assert [d.kind for d in cloud.view.disks] == ["system", "data"]

        await pilot.press("s")
        plan, result = await confirm_and_result(pilot, app)
        assert plan.action == "snapshot" and any("CreateSnapshot" in s.exact for s in plan.steps)
        assert result.outcome.value == "done", result
        assert len(ecs.snapshots) == 2

        await pilot.press("i")
        plan, result = await confirm_and_result(pilot, app)
        assert plan.action == "isolate" and OPERATOR in plan.preview()
        assert result.outcome.value == "done", result
        groups = ecs.instances[instance_id].groups
        assert len(groups) == 1 and ecs.groups[groups[0]].name == quarantine_group_name(instance_id)

        await pilot.press("U")  # the undo recorded by the isolation
        plan, result = await confirm_and_result(pilot, app)
        assert result.outcome.value == "done", result
        assert ecs.instances[instance_id].groups == [own]

    entries = AuditLog(tmp_path / "audit.jsonl").entries()
    assert [(e["action"], e["outcome"]) for e in entries] == [
        ("snapshot", "done"),
        ("isolate", "done"),
        ("unisolate", "done"),
    ]
    assert all(e["request_ids"] for e in entries)
    assert AuditLog(tmp_path / "audit.jsonl").verify().ok


async def test_a_host_without_cloud_settings_says_what_to_configure(tmp_path: Any) -> None:
    source = FakeSource(name="web9")
    app = SickbayApp(source, Settings(interval=0.3, audit_log=tmp_path / "a.jsonl"))
    async with app.run_test(size=(100, 30)) as pilot:
        await source.delivered.wait()
        app.screen.query_one("#processes").focus()
        await pilot.press("i")
        assert await wait_for(pilot, lambda: isinstance(app.screen, CloudScreen))
        cloud = app.screen
        assert isinstance(cloud, CloudScreen)
        await pilot.pause(0.5)
        assert cloud.view is None
        text = str(cloud.query_one("#cloud-view").render())
        assert "no cloud provider configured" in text
        assert not cloud.check_action("act", ("isolate",))


async def test_the_instance_list_filters_and_adds_an_ssh_target(
    ecs: AliyunEmulator, tmp_path: Any
) -> None:
    ecs.add_instance("web-7", public_ip="127.0.0.1")  # loopback: nothing leaves this machine
    ecs.add_instance("db-3", private_ip="172.16.0.30")
    settings = Settings(
        interval=0.3,
        audit_log=tmp_path / "audit.jsonl",
        cloud=CloudSettings(provider="aliyun", region=REGION, endpoints={"aliyun": ecs.url}),
    )
    source = FakeSource(name="here")
    app = SickbayApp(source, settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await source.delivered.wait()
        app.screen.query_one("#processes").focus()
        await pilot.press("C")
        assert await wait_for(pilot, lambda: isinstance(app.screen, CloudListScreen))
        screen = app.screen
        assert isinstance(screen, CloudListScreen)
        assert await wait_for(pilot, lambda: len(screen.instances) == 2)
        options = screen.query_one(OptionList)
        assert options.option_count == 2
        await pilot.press("slash")
        for key in "web":
            await pilot.press(key)
        await pilot.pause()
        assert options.option_count == 1
        await pilot.press("enter")  # back to the list
        await pilot.pause()
        options.highlighted = 0
        await pilot.press("enter")  # watch it
        assert await wait_for(pilot, lambda: "web-7" in app.records)
        assert isinstance(app.screen, HostScreen) and app.screen.host == "web-7"
        assert [s.name for s in app.sources] == ["here", "web-7"]


def test_the_instance_id_the_host_reports_counts_only_if_its_addresses_agree(
    ecs: AliyunEmulator,
) -> None:
    web = ecs.add_instance("web1", private_ip="10.0.0.5")
    other = ecs.add_instance("payroll", private_ip="10.0.9.9")
    settings = Settings(
        hosts=(HostEntry("web1", "10.0.0.5", provider="aliyun", region=REGION),),
        cloud=CloudSettings(endpoints={"aliyun": ecs.url}),
    )
    desk = CloudDesk(settings)
    view = desk.view("web1", ["10.0.0.5"], reported_id=web)
    assert view.instance.id == web and "reports" in view.how
    # A compromised host claiming to be another instance is not believed: matched by address.
    view = desk.view("web1", ["10.0.0.5"], reported_id=other)
    assert view.instance.id == web and "private address" in view.how


def test_instance_names_and_tags_are_shown_literally() -> None:
    hostile = "[bold red]prod[/] \x1b]0;owned\x07\u202eexe"
    instance = Instance(
        "aliyun", REGION, "i-1", hostile, "running", tags=(("owner", "[@click=app.quit]x"),)
    )
    for text in (view_text(InstanceView(instance, "configured")), instance_label(instance)):
        plain = text.plain
        assert "[bold red]prod[/]" in plain  # markup shown, not applied
        assert "\x1b" not in plain and "\u202e" not in plain  # escapes made visible
        assert "\\e]0;owned" in plain or "\\x1b]0;owned" in plain
    assert "[@click=app.quit]x" in view_text(InstanceView(instance, "configured")).plain


async def answer_prompt(pilot: Any, app: SickbayApp, text: str) -> None:
    assert await wait_for(pilot, lambda: ready(app, PromptScreen, "Input"))
    app.screen.query_one(Input).value = text
    await pilot.press("enter")


def web1_settings(ecs: AliyunEmulator, tmp_path: Any) -> Settings:
    """web1 at 10.0.0.5 in the emulator's region, the audit log in ``tmp_path``."""
    return Settings(
        interval=0.3,
        audit_log=tmp_path / "audit.jsonl",
        hosts=(HostEntry("web1", "10.0.0.5", provider="aliyun", region=REGION),),
        cloud=CloudSettings(endpoints={"aliyun": ecs.url}, operator_address=OPERATOR),
    )


async def open_cloud_screen(pilot: Any, app: SickbayApp, source: FakeSource) -> None:
    """From the host screen, ``i``, until the instance is read."""
    await source.delivered.wait()
    app.screen.query_one("#processes").focus()
    await pilot.press("i")
    assert await wait_for(
        pilot, lambda: isinstance(app.screen, CloudScreen) and app.screen.view is not None
    )


async def test_block_unblock_and_run_a_command_from_the_cloud_screen(
    ecs: AliyunEmulator, tmp_path: Any
) -> None:
    """b, B and x ask for the one thing they need, then preview, confirm, run, verify and audit
    like every action; the command's output (host text) is shown in the result."""
    own = ecs.add_security_group("web1-sg")
    instance_id = ecs.add_instance("web1", groups=[own], private_ip="10.0.0.5")
    ecs.command_handler = lambda instance, script: (0, f"ran on {instance}: \x1b[31m{script}\n")
    settings = web1_settings(ecs, tmp_path)
    desk = CloudDesk(settings, timing=Timing(poll_s=0.05, snapshot_timeout_s=20))
    source = FakeSource(name="web1")
    app = SickbayApp(source, settings, cloud=desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_cloud_screen(pilot, app, source)

        await pilot.press("b")
        await answer_prompt(pilot, app, "203.0.113.66")
        plan, result = await confirm_and_result(pilot, app)
        assert plan.action == "block" and "203.0.113.66/32" in plan.subject
        assert result.outcome.value == "done", result
        rules = ecs.groups[own].rules
        assert any(r.cidr == "203.0.113.66/32" and r.policy.lower() == "drop" for r in rules)

        await pilot.press("B")
        await answer_prompt(pilot, app, "203.0.113.66")
        plan, result = await confirm_and_result(pilot, app)
        assert plan.action == "unblock" and result.outcome.value == "done", result
        assert not any(r.cidr == "203.0.113.66/32" for r in ecs.groups[own].rules)

        await pilot.press("b")  # cancelled at the question: nothing is planned
        assert await wait_for(pilot, lambda: ready(app, PromptScreen, "Input"))
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: isinstance(app.screen, CloudScreen))

        await pilot.press("x")
        await answer_prompt(pilot, app, "cat /proc/loadavg")
        assert await wait_for(pilot, lambda: ready(app, ActionScreen, "#cancel"))
        typed = app.screen.plan.host if app.screen.plan.needs_typed_confirmation else None
        plan, result = await confirm_and_result(pilot, app, typed)
        assert plan.action == "run-command" and result.outcome.value == "done", result
        assert result.details["output"] == f"ran on {instance_id}: \x1b[31mcat /proc/loadavg\n"
        shown = render_result(result)
        assert "\x1b" not in shown and "cat /proc/loadavg" in shown

    entries = AuditLog(tmp_path / "audit.jsonl").entries()
    assert [(e["action"], e["outcome"]) for e in entries] == [
        ("block", "done"),
        ("unblock", "done"),
        ("run-command", "done"),
    ]


async def test_watching_a_host_through_its_cloud_agent(ecs: AliyunEmulator, tmp_path: Any) -> None:
    """A on the cloud screen: the preview says what runs and that it repeats; once confirmed
    the host is watched through the agent (the real collector, run here by the emulated agent)
    as one more host, and every run is in the audit log."""
    instance_id = ecs.add_instance("web1", private_ip="10.0.0.5")
    ecs.command_handler = run_on_this_machine
    settings = web1_settings(ecs, tmp_path)
    desk = CloudDesk(settings, timing=Timing(poll_s=0.05), agent_interval=600.0)
    source = FakeSource(name="web1")
    app = SickbayApp(source, settings, cloud=desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_cloud_screen(pilot, app, source)
        await pilot.press("A")
        assert await wait_for(pilot, lambda: ready(app, ActionScreen, "#cancel"))
        preview = app.screen
        assert isinstance(preview, ActionScreen)
        assert "through its cloud agent" in preview.plan.subject
        assert any("runs again every 600 s" in w for w in preview.plan.warnings)
        assert any("RunCommand" in s.exact for s in preview.plan.steps)
        if preview.plan.needs_typed_confirmation:
            preview.query_one("#typed", Input).value = preview.plan.host
            await pilot.pause()
        preview.query_one("#confirm", Button).press()
        name = f"{instance_id} (cloud agent)"
        assert await wait_for(
            pilot, lambda: isinstance(app.screen, HostScreen) and app.screen.host == name
        )
        assert await wait_for(pilot, lambda: app.records[name].snapshot is not None, 600)
        snapshot = app.records[name].snapshot
        assert snapshot is not None and snapshot.source == "cloud-agent"
        assert 1 in {p.pid for p in snapshot.processes}
        incident = app.incidents.cases.current()
        assert incident is not None
        kept = app.incidents.cases.actions(incident.id)
        assert kept and all(a.action == "run-command" for a in kept)  # in the case file too
        app.screen.query_one("#processes").focus()
        await pilot.press("i")  # its cloud screen: the same instance, its actions at hand
        assert await wait_for(
            pilot, lambda: isinstance(app.screen, CloudScreen) and app.screen.view is not None
        )
        assert isinstance(app.screen, CloudScreen) and app.screen.view is not None
        assert app.screen.view.instance.id == instance_id
    entries = AuditLog(tmp_path / "audit.jsonl").entries()
    assert entries and all(e["action"] == "run-command" for e in entries)
    assert [e["details"]["page"] for e in entries] == list(range(1, len(entries) + 1))


def run_on_this_machine(instance_id: str, script: str) -> tuple[int, str]:
    done = subprocess.run(
        ["/bin/sh", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    return done.returncode, done.stdout
