"""A whole incident in the console, on this machine and the loopback ECS emulator: a planted
miner is detected (the incident opens by itself), the instance is snapshotted and isolated, the
miner's evidence collected, the miner killed, the checklist marked, the report exported; the
report and the SQLite case file hold all of it; a new app resumes the same incident."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import OptionList

from backends.casefile import CaseFile
from backends.cloud.actions import Timing
from backends.local import LocalSource
from screens.checklist import ChecklistScreen
from screens.cloud import CloudScreen
from screens.host import HostScreen
from tests.cloud_emu.aliyun_emu import AliyunEmulator
from tests.pilot_actions import REGION, confirm_and_result, wait_for
from tests.planted import FakePool, Planted, miner
from tui.app import SickbayApp
from tui.cloud_desk import CloudDesk
from tui.config import CloudSettings, HostEntry, Settings
from widgets.process_table import ProcessTable

pytestmark = [
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc"),
    pytest.mark.usefixtures("loopback_only"),
]
OPERATOR = "198.51.100.7"


def settings_for(ecs: AliyunEmulator, instance_id: str, tmp_path: Path) -> Settings:
    return Settings(
        interval=0.5,
        audit_log=tmp_path / "audit.jsonl",
        case_file=tmp_path / "cases.sqlite3",
        hosts=(
            HostEntry(
                "here", "127.0.0.1", provider="aliyun", region=REGION, instance_id=instance_id
            ),
        ),
        cloud=CloudSettings(endpoints={"aliyun": ecs.url}, operator_address=OPERATOR),
        language="en",
    )


async def test_a_whole_incident(
    ecs: AliyunEmulator, planted: Planted, fake_pool: FakePool, tmp_path: Path
) -> None:
    instance_id = ecs.add_instance("here", data_disks=[50])
    mining = miner(planted, fake_pool)
    settings = settings_for(ecs, instance_id, tmp_path)
    desk = CloudDesk(settings, timing=Timing(poll_s=0.05, snapshot_timeout_s=20))
    app = SickbayApp(LocalSource("here"), settings, cloud=desk)
    async with app.run_test(size=(120, 40)) as pilot:
        # 1. Detect: the miner's finding opens the incident by itself.
        record = app.records["here"]
        assert await wait_for(
            pilot,
            lambda: (
                any(f.evidence.pid == mining.pid for f in record.findings)
                and app.incidents.incident is not None
            ),
        )
        incident = app.incidents.incident
        assert incident is not None

        # 2. Preserve and isolate at the cloud layer.
        screen = app.screen
        assert isinstance(screen, HostScreen)
        screen.query_one(ProcessTable).focus()
        await pilot.press("i")
        assert await wait_for(pilot, lambda: isinstance(app.screen, CloudScreen))
        cloud = app.screen
        assert isinstance(cloud, CloudScreen)
        assert await wait_for(pilot, lambda: cloud.view is not None)
        await pilot.press("s")
        assert (await confirm_and_result(pilot, app))[1].outcome.value == "done"
        await pilot.press("i")
        assert (await confirm_and_result(pilot, app))[1].outcome.value == "done"
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: isinstance(app.screen, HostScreen))

        # 3. Evidence of the miner, then kill it (its name typed to confirm).
        table = app.screen.query_one(ProcessTable)
        table.focus()
        snapshot = record.snapshot
        assert snapshot is not None
        key = next(p.key for p in snapshot.processes if p.pid == mining.pid)
        assert await wait_for(pilot, lambda: table.move_cursor_to_key(key))
        await pilot.press("e")
        _, collected = await confirm_and_result(pilot, app)
        assert collected.outcome.value == "done" and collected.evidence
        await pilot.press("ctrl+k")
        _, killed = await confirm_and_result(pilot, app, typed="here")
        assert killed.outcome.value == "done", killed
        assert mining.wait(timeout=10) is not None

        # 4. The checklist: isolation verified against the cloud; mark it done; export.
        await pilot.press("c")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ChecklistScreen))
        checklist = app.screen
        assert isinstance(checklist, ChecklistScreen)
        assert await wait_for(pilot, lambda: checklist.view is not None)
        view = checklist.view
        assert view is not None and view.case is not None and view.clock is not None
        isolate = [r.status.value for r in view.checks["isolate"]]
        assert isolate == ["passed"], view.checks["isolate"]
        options = checklist.query_one(OptionList)
        options.highlighted = view.checklist.ids.index("isolate")
        await pilot.press("space")
        assert await wait_for(
            pilot,
            lambda: (
                checklist.view is not None
                and checklist.view.case is not None
                and "isolate" in checklist.view.case.steps
            ),
        )
        assert checklist.view is not None and checklist.view.clock is not None
        assert checklist.view.clock.contained_at is not None  # the clock stopped
        await pilot.press("r")
        assert await wait_for(
            pilot, lambda: any(a.action == "report" for a in app.incidents.cases.actions(incident))
        )

    case = CaseFile(tmp_path / "cases.sqlite3").case(incident)
    actions = [(a.action, a.outcome.value) for a in case.actions]
    for wanted in ("snapshot", "isolate", "collect", "kill"):
        assert (wanted, "done") in actions, actions
    assert any(f.evidence.get("pid") == mining.pid for f in case.findings)
    assert case.evidence and all(len(e.sha256) == 64 for e in case.evidence)
    isolate_action = next(a for a in case.actions if a.action == "isolate")
    assert isolate_action.request_ids and isolate_action.audit_hash

    paths = [Path(a.params["path"]) for a in case.actions if a.action == "report"]
    html = next(p for p in paths if p.suffix == ".html").read_text()
    markdown = next(p for p in paths if p.suffix == ".md").read_text()
    assert incident in markdown and isolate_action.request_ids[0] in markdown
    assert case.evidence[0].sha256 in markdown
    assert "<script" not in html.lower() and incident in html

    # A new console on the same case file resumes the incident.
    again = SickbayApp(LocalSource("here"), settings_for(ecs, instance_id, tmp_path), cloud=desk)
    assert again.incidents.incident == incident
