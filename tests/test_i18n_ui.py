"""The console in Chinese: footer labels, pane and column titles, the status line, the cloud
view; host data stays as it is."""

from __future__ import annotations

from domain.cloud import Instance, InstanceView
from domain.findings import Finding, Severity
from domain.i18n import rule_title
from screens.cloud import view_text
from screens.finding import finding_text
from screens.host import HostScreen
from screens.localize import localized
from tests.fakes import FakeSource
from tui.app import SickbayApp
from tui.config import Settings
from widgets.process_table import ProcessTable
from widgets.status import StatusBar


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
