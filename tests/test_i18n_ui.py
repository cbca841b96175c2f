"""The console in Chinese: footer labels, pane and column titles, the status line, the cloud
view, the fleet, the metric tiles, notifications and dialogs; host data stays as it is, and
English stays as it was."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.command import CommandList, CommandPalette
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static

from domain.actions import ActionPlan, ActionResult, Outcome, PlannedStep, Risk
from domain.cloud import Instance, InstanceView
from domain.findings import ACTIONS, Finding, Severity
from domain.fleet import CONNECTING, HOST_KEY_UNKNOWN, LIVE, STALE, UNREACHABLE
from domain.i18n import Language, rule_title, tr
from domain.model import HostSnapshot
from domain.source import SourceError
from screens.action import ResultScreen, plan_text
from screens.action_menu import ActionMenuScreen
from screens.cloud import view_text
from screens.finding import action_help, finding_text
from screens.fleet import FleetScreen
from screens.host import HostScreen
from screens.localize import localized
from screens.messages import ActionRequested, ScreenRequested
from screens.passphrase import PassphraseQuestion, PassphraseScreen
from tests.fakes import FakeSource
from tests.pilot_actions import ready, wait_for
from tui.app import SickbayApp
from tui.cloud_desk import CloudDesk, NoCloud
from tui.config import Settings
from widgets.filter_bar import FilterBar
from widgets.findings_table import FindingsTable
from widgets.fleet_table import FleetTable
from widgets.live_table import LiveTable
from widgets.process_table import ProcessTable
from widgets.status import StatusBar, failure_text, state_label


async def test_the_host_screen_speaks_chinese() -> None:
    source = FakeSource(name="web1")
    app = localized(SickbayApp, "zh")(source, Settings(interval=0.2, language="zh"))
    async with app.run_test(size=(120, 40)) as pilot:
        await source.delivered.wait()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, HostScreen) and screen.LANG == "zh"
        table = screen.query_one(ProcessTable)
        titles = [table.title_of(c) for c in table.columns]
        assert titles[:3] == ["进程号", "父进程", "用户"]
        assert str(table.border_title).endswith("进程")
        status = str(screen.query_one(StatusBar).render())
        assert "进程" in status and "web1" in status  # host data as it is
        footer = {b.binding.description for b in screen.active_bindings.values()}
        assert {"过滤", "放大", "清单"} <= footer


def test_the_cloud_view_speaks_chinese_and_keeps_host_text() -> None:
    instance = Instance("aliyun", "cn-hangzhou", "i-1", "web-主机", "running", tags=(("k", "v"),))
    text = view_text(InstanceView(instance, "configured"), "zh").plain
    assert "安全组" in text and "云盘" in text and "快照" in text
    assert "web-主机" in text and "Security groups" not in text


def test_built_in_rule_titles_are_translated_custom_ones_kept() -> None:
    miner = Finding("PROC-MINER-NAME", "Cryptominer process", Severity.CRITICAL, "why")
    assert rule_title(miner.rule_id, miner.title, "zh") == "挖矿进程"
    assert rule_title(miner.rule_id, miner.title, "en") == "Cryptominer process"
    assert rule_title("CUSTOM-1", "Our own rule", "zh") == "Our own rule"
    text = finding_text(miner, "zh").plain
    assert "挖矿进程" in text and "证据" in text and "严重" in text


# --- every word of the console's own, in both languages (English as it always was) ----------

WAIT_S = 20.0  # every wait for a sample is bounded


class DeadSource:
    """A host that never answers: its state is the console's words, its reason the source's."""

    def __init__(self, name: str) -> None:
        self._name = name
        self.tried = asyncio.Event()

    @property
    def name(self) -> str:
        return self._name

    async def sample(self) -> HostSnapshot:
        self.tried.set()
        raise SourceError("connection refused by 10.9.9.9")

    async def close(self) -> None:
        return None


def rendered(table: LiveTable[Any]) -> str:
    """The table's lines as drawn (header and visible rows)."""
    return "\n".join(table.render_line(y).text for y in range(table.size.height))


def notifications(app: SickbayApp) -> list[str]:
    """Every notification the app shows from now on (screens notify through the app)."""
    said: list[str] = []
    notify = app.notify

    def spy(message: str, *args: Any, **kwargs: Any) -> None:
        said.append(message)
        notify(message, *args, **kwargs)

    app.notify = spy  # type: ignore[method-assign]
    return said


FLEET_WORDS: dict[str, dict[str, Any]] = {
    "en": {
        "status": "sickbay fleet  2 hosts  1 live  2 critical findings",
        "title": "Hosts",
        "subtitle": "2 of 2",
        "cells": ("live", "unreachable", "2 crit"),
        "placeholder": "filter: part of a name, user, path, port…",
    },
    "zh": {
        "status": "sickbay 主机总览  主机 2  在线 1  严重告警 2",
        "title": "主机",
        "subtitle": "2 / 共 2",
        "cells": ("在线", "无法连接", "2 严重"),
        "placeholder": "过滤：名称、用户、路径或端口的一部分…",
    },
}


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_the_fleet_screen_in_each_language(lang: Language) -> None:
    words = FLEET_WORDS[lang]
    live, dead = FakeSource(name="web1", hold=True), DeadSource("db1")
    app = localized(SickbayApp, lang)([live, dead], Settings(interval=0.2, language=lang))
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(live.delivered.wait(), WAIT_S)
        await asyncio.wait_for(dead.tried.wait(), WAIT_S)
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        status = screen.query_one("#status", Static)
        assert await wait_for(pilot, lambda: str(status.render()) == words["status"]), str(
            status.render()
        )
        table = screen.query_one(FleetTable)
        assert table.border_title == words["title"] and table.border_subtitle == words["subtitle"]
        drawn = rendered(table)
        for cell in words["cells"]:
            assert cell in drawn, (cell, drawn)
        assert "connection refused by 10.9.9.9" in drawn  # the source's reason as it is
        assert screen.query_one(FilterBar).placeholder == words["placeholder"]


HOST_WORDS: dict[str, dict[str, Any]] = {
    "en": {
        "panes": ["1 Findings", "2 Processes", "3 Network"],
        "tiles": {"cpu": "CPU ", "mem": "MEM ", "load": "LOAD ", "disk": "DISK ", "net": "NET "},
        "severity": "CRIT",
        "subtitle": "5 of 5",
    },
    "zh": {
        "panes": ["1 告警", "2 进程", "3 网络"],
        "tiles": {"cpu": "CPU ", "mem": "内存 ", "load": "负载 ", "disk": "磁盘 ", "net": "网络 "},
        "severity": "严重",
        "subtitle": "5 / 共 5",
    },
}


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_host_panes_and_metric_tiles_in_each_language(lang: Language) -> None:
    words = HOST_WORDS[lang]
    source = FakeSource(name="web1", hold=True)
    app = localized(SickbayApp, lang)(source, Settings(interval=0.2, language=lang))
    async with app.run_test(size=(80, 24)) as pilot:  # the bastion's terminal
        await asyncio.wait_for(source.delivered.wait(), WAIT_S)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, HostScreen)
        titles = [str(screen.table(pane).border_title) for pane in ("findings", "processes")]
        titles.append(str(screen.table("network").border_title))
        assert titles == words["panes"]
        assert screen.table("processes").border_subtitle == words["subtitle"]
        for tile, title in words["tiles"].items():
            label = str(screen.query_one(f"#tile-{tile} .metric-label", Static).render())
            assert label.startswith(title), (tile, label)
        assert words["severity"] in rendered(screen.query_one(FindingsTable))
        assert "www-data" in rendered(screen.query_one(ProcessTable))  # host data as it is


NOTICES = {
    "en": {
        "theme": "unknown theme 'no-such-theme'",
        "host key": "no unknown host key is waiting for a decision here",
        "screen": "the nowhere screen is not available yet",
        "action": "nothing: not available for this host",
        "address": "select a connection (or a finding) with a remote address",
        "passphrase": "type the passphrase (or the master password)",
        "respond": "Respond to: ",
        "unavailable": "(not available here)",
    },
    "zh": {
        "theme": "未知主题 'no-such-theme'",
        "host key": "这里没有等待确认的未知主机密钥",
        "screen": "nowhere 界面暂不可用",
        "action": "nothing：此主机不支持该操作",
        "address": "请选择一个带远端地址的连接（或检测结果）",
        "passphrase": "请输入口令（或主密码）",
        "respond": "处置： ",
        "unavailable": "（不可用）",
    },
}


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_notifications_and_dialogs_in_each_language(lang: Language) -> None:
    words = NOTICES[lang]
    source = FakeSource(name="web1", hold=True)
    settings = Settings(interval=0.2, language=lang, theme="no-such-theme")
    app = localized(SickbayApp, lang)(source, settings)
    said = notifications(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(source.delivered.wait(), WAIT_S)
        await pilot.pause()
        assert words["theme"] in said  # said on mount, through the spy
        await pilot.press("a")  # no host key waits for a decision
        host = app.screen
        assert isinstance(host, HostScreen)
        host.post_message(ScreenRequested("web1", "nowhere"))
        host.post_message(ActionRequested("web1", "nothing", {}))
        await pilot.pause()
        # A host that offers actions: "b" on a process (no remote address), "x" on a finding.
        acting = localized(HostScreen, lang)(app.records, "web1", actions=frozenset({"block"}))
        await app.push_screen(acting)
        await pilot.pause()
        await pilot.press("2", "b")
        await pilot.press("1", "x")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ActionMenuScreen))
        finding = acting.query_one(FindingsTable).cursor_row
        assert finding is not None
        menu = str(app.screen.query_one(Static).render())
        assert menu == words["respond"] + rule_title(finding.rule_id, finding.title, lang)
        assert (menu == words["respond"] + finding.title) == (lang == "en")
        options = app.screen.query_one(OptionList)
        prompts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert len(prompts) == len(finding.actions) > 0
        for action, prompt in zip(finding.actions, prompts, strict=True):
            assert (words["unavailable"] in prompt) == (action != "block"), prompt
            described = ACTIONS[action] if lang == "en" else action_help(action, lang)
            assert described and described in prompt
        await pilot.press("escape")
        question = PassphraseQuestion(
            "web1", Path("/k/id_ed25519"), False, "keyring", False, 0, lang
        )
        app.push_screen(PassphraseScreen(question))
        assert await wait_for(pilot, lambda: isinstance(app.screen, PassphraseScreen))
        await pilot.press("enter")  # nothing typed
        await pilot.pause()
        for key in ("host key", "screen", "action", "address", "passphrase"):
            assert words[key] in said, (key, said)
        if lang == "zh":  # nothing in English slipped through
            assert not [s for s in said if "not available" in s or "select a" in s]


def test_every_host_state_has_words_and_reasons_stay_as_given() -> None:
    from backends.ssh import SshState  # noqa: PLC0415 (the states the SSH source reports)

    states = {s.value for s in SshState} | {CONNECTING, HOST_KEY_UNKNOWN, LIVE, STALE, UNREACHABLE}
    for state in states:
        assert state_label(state, "en") == state
        assert state_label(state, "zh") != state and state_label(state, "zh").strip()
    assert state_label("some new state", "zh") == "some new state"  # unknown: as it is
    assert failure_text(STALE, "timed out [x]", "en") == "stale: timed out [x]"
    assert failure_text(STALE, "timed out [x]", "zh") == "数据过期：timed out [x]"
    assert failure_text(CONNECTING, "connecting", "zh") == "连接中：连接中"


class _Shows(App[None]):
    def __init__(self, screen: ModalScreen[Any]) -> None:
        super().__init__()
        self.shown = screen

    def on_mount(self) -> None:
        self.push_screen(self.shown)


@pytest.mark.parametrize(
    ("lang", "risk", "outcome"), [("en", "reversible", "done"), ("zh", "可撤销", "已完成")]
)
async def test_the_risk_and_the_outcome_of_an_action_in_each_language(
    lang: Language, risk: str, outcome: str
) -> None:
    step = PlannedStep("stop the process tree (SIGSTOP)", "kill -STOP 4242")
    plan = ActionPlan(
        "freeze", "web1", "pid 4242 (xmrig)", {"pid": "4242"}, (step,), Risk.REVERSIBLE
    )
    preview = plan_text(plan, lang).plain
    assert f"{risk}\n" in preview and "pid 4242 (xmrig)" in preview and "kill -STOP 4242" in preview
    result = ActionResult(Outcome.DONE, "froze 1 process: xmrig")
    app = _Shows(ResultScreen(plan, result, lang))
    async with app.run_test(size=(80, 24)) as pilot:
        assert await wait_for(pilot, lambda: ready(app, ResultScreen, "Static"))
        text = str(app.screen.query_one(Static).render())
        assert text.startswith(f"freeze: {outcome}\n") and "froze 1 process: xmrig" in text


async def test_the_command_palette_speaks_chinese_and_finds_english_names_too() -> None:
    """In Chinese the palette lists 应急清单; typing the English "checklist" finds it too."""
    source = FakeSource(name="web1")
    app = localized(SickbayApp, "zh")(source, Settings(interval=0.2, language="zh"))
    async with app.run_test(size=(120, 40)) as pilot:
        await source.delivered.wait()
        await pilot.pause()
        app.screen.query_one("#processes").focus()
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        for key in "checklist":
            await pilot.press(key)
        await pilot.pause(0.5)
        palette = app.screen
        assert isinstance(palette, CommandPalette)
        shown = [
            str(palette.query_one(CommandList).get_option_at_index(i).prompt)
            for i in range(palette.query_one(CommandList).option_count)
        ]
        assert any("应急清单" in s and "Checklist" in s for s in shown), shown
        await pilot.press("escape")


def test_the_cloud_desk_says_what_to_configure_in_the_operators_language() -> None:
    for lang, words in (
        ("en", "no cloud provider configured for web1"),
        ("zh", "没有为 web1 配置云厂商"),
    ):
        desk = CloudDesk(Settings(language=lang))
        with pytest.raises(NoCloud, match=words):
            desk.where("web1")
        assert desk.list_all()[1] == [tr("ui.desk.no-account", lang)]
