"""The incident report from a populated case file (real SQLite): Markdown, HTML and JSON carry
the precise parts (hashes, request ids, UTC times, the timeline in order); hostile host text is
inert (escaped in HTML, visible in Markdown, exact in JSON); the Chinese report translates
sickbay's words and nothing from the hosts."""

from __future__ import annotations

import datetime as dt
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from backends.casefile import CaseFile
from domain.actions import ActionPlan, ActionResult, Outcome, PlannedStep, Risk
from domain.checklist import load_checklist
from domain.findings import Evidence, Finding, Severity
from domain.incident import Case, StepStatus
from domain.report import SCHEMA, build_report, render, render_html, render_markdown, report_to_dict
from tests.conftest import HOSTILE_STRINGS

T0 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.timezone.utc)
NOW = T0 + dt.timedelta(hours=2)
EXE_SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
LOG_SHA = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
HOSTILE = "<script>alert(1)</script>[bold]x[/bold]\x1b]0;x\x07\u202eevil"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def at(self, minutes: float) -> None:
        self.now = T0 + dt.timedelta(minutes=minutes)


@pytest.fixture
def case(tmp_path: Path) -> Case:
    clock = Clock()
    cases = CaseFile(tmp_path / "cases.sqlite3", actor="alice", clock=clock)
    clock.at(4)
    incident = cases.open_incident(f"Miner on web1 {HOSTILE}")
    cases.add_host(
        incident.id, "web1", address="10.0.0.5", provider="aliyun", region="cn-hangzhou",
        instance_id="i-bp1abc",
    )  # fmt: skip
    miner = Finding(
        "PROC-MINER-NAME",
        "Cryptominer process",
        Severity.CRITICAL,
        "named like a miner",
        Evidence(pid=4242, process=HOSTILE, exe="/tmp/.x/" + " ".join(HOSTILE_STRINGS)),
        host="web1",
        first_seen=T0.timestamp(),
        last_seen=T0.timestamp() + 300,
    )
    cases.record_finding(incident.id, miner)
    clock.at(12)
    cases.record_action(
        incident.id,
        ActionPlan(
            "freeze", "web1", f"pid 4242 ({HOSTILE})", {"pid": "4242"},
            (PlannedStep("stop the tree", "kill -STOP 4242"),), Risk.REVERSIBLE,
        ),
        ActionResult(
            Outcome.DONE, "stopped 1 process", "state T read back",
            undo=("resume", {"pid": "4242"}), evidence=((str(tmp_path / "exe"), EXE_SHA),),
        ),
        "a" * 64,
    )  # fmt: skip
    clock.at(22)
    cases.record_action(
        incident.id,
        ActionPlan(
            "isolate", "web1", "instance i-bp1abc", {"instance": "i-bp1abc"},
            (PlannedStep("attach the quarantine group",
                         "ecs.ModifyInstanceAttribute [cn-hangzhou] InstanceId=i-bp1abc "
                         "SecurityGroupIds=['sg-quarantine']"),),
            Risk.REVERSIBLE,
        ),
        ActionResult(
            Outcome.DONE, "isolated", "groups read back: sg-quarantine",
            request_ids=("473469C7-AA6F-4DC5-B3DB-A3DC0DE3C83E",),
        ),
        "b" * 64,
    )  # fmt: skip
    cases.set_step(incident.id, "isolate", StepStatus.DONE)
    clock.at(30)
    cases.record_evidence(
        incident.id, "web1", "/var/lib/sickbay/ev/auth.log", LOG_SHA, 5120,
        remote_path="/var/log/" + HOSTILE, action="collect",
    )  # fmt: skip
    clock.at(40)
    cases.record_action(
        incident.id,
        ActionPlan("block", "web1", "203.0.113.9:3333", {"address": "203.0.113.9"},
                   (PlannedStep("drop", "/usr/sbin/nft add rule ..."),), Risk.REVERSIBLE),
        ActionResult(Outcome.FAILED, "nft not found", state="nothing changed"),
    )  # fmt: skip
    cases.add_note(incident.id, f"note {HOSTILE}", author="bob")
    cases.set_step(incident.id, "scan", StepStatus.SKIPPED, reason="no ClamAV")
    return cases.case(incident.id)


def _markdown(case: Case, lang: str = "en") -> str:
    return render_markdown(build_report(case, load_checklist(), lang=lang, now=NOW))  # type: ignore[arg-type]


def _html(case: Case, lang: str = "en") -> str:
    return render_html(build_report(case, load_checklist(), lang=lang, now=NOW))  # type: ignore[arg-type]


RAW_DANGER = ("\x1b", "\x07", "\u202e", "\x00", "\x9b", "\u2066", "\u200b")


def test_markdown_has_the_precise_parts_in_order(case: Case) -> None:
    text = _markdown(case)
    for needle in (
        EXE_SHA, LOG_SHA, "473469C7-AA6F-4DC5-B3DB-A3DC0DE3C83E", "a" * 64, "b" * 64,
        "kill -STOP 4242", "2026-11-23T08:00:00Z", "2026-11-23T08:22:00Z", "cn-hangzhou",
        "i-bp1abc", "## Summary", "## What remains open", "## Evidence",
    ):  # fmt: skip
        assert needle in text, needle
    # the timeline: detection (08:00), opening (08:04), freeze (08:12), isolate (08:22)...
    timeline = text.split("## Timeline", 1)[1].split("## Hosts", 1)[0]
    order = [timeline.index(word) for word in ("| finding |", "| incident opened |",
                                               "freeze: stopped", "isolate: isolated",
                                               "auth.log", "block: nft not found")]  # fmt: skip
    assert order == sorted(order)
    # the manager's summary
    assert "22 min after the first detection, within the 30-minute target" in text
    assert "3 action(s) were taken: 2 done and verified, 1 failed" in text
    assert "Action block on web1 at 2026-11-23T08:40:00Z: failed: nft not found" in text


def test_markdown_makes_hostile_text_visible_and_inert(case: Case) -> None:
    text = _markdown(case)
    for raw in RAW_DANGER:
        assert raw not in text
    assert "\\\\u202eevil" in text  # the escape is itself escaped: it renders as \u202eevil
    assert "\\[bold\\]" in text
    assert "\\<script\\>" in text
    rendered = MarkdownIt("commonmark").enable("table").render(text)
    assert "<script" not in rendered  # the renderer shows text, not a tag
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered
    assert "[bold]x[/bold]" in rendered
    assert "\\u202eevil" in rendered and "\\e]0;x\\x07" in rendered
    # table rows keep their shape (a | in host text does not add cells)
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    header_cells = {}
    for line in rows:
        cells = len(re.findall(r"(?<!\\)\|", line)) - 1
        header_cells.setdefault(cells, 0)
        header_cells[cells] += 1
    assert all(n in (5, 7, 8) for n in header_cells), header_cells


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_self_contained_and_escapes_everything(case: Case) -> None:
    page = _html(case)
    parser = _Tags()
    parser.feed(page)
    assert parser.tags <= {
        "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "dl", "dt", "dd",
        "div", "p", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "code",
        "span", "footer",
    }, parser.tags  # fmt: skip
    assert "script" not in parser.tags
    names = {name for name, _ in parser.attrs}
    assert names <= {"lang", "charset", "http-equiv", "content", "name", "class"}, names
    assert not re.search(r"(src|href)\s*=", page)
    assert "url(" not in page and "@import" not in page
    assert "default-src 'none'" in page  # CSP: even a mistake could not load or run anything
    for raw in RAW_DANGER:
        assert raw not in page
    text = "".join(parser.text)
    assert "<script>alert(1)</script>[bold]x[/bold]\\e]0;x\\x07\\u202eevil" in text
    for needle in (EXE_SHA, LOG_SHA, "473469C7-AA6F-4DC5-B3DB-A3DC0DE3C83E", "b" * 64):
        assert needle in page


def test_json_is_exact(case: Case) -> None:
    data = json.loads(render(build_report(case, load_checklist(), lang="en", now=NOW), "json"))
    assert data["schema"] == SCHEMA == "sickbay.report/1"
    assert data["incident"]["title"] == f"Miner on web1 {HOSTILE}"  # raw, exactly as recorded
    assert data["incident"]["first_detection_at"] == "2026-11-23T08:00:00.000000Z"
    assert data["containment"] == {
        "started_at": "2026-11-23T08:00:00.000000Z",
        "budget_minutes": 30,
        "deadline": "2026-11-23T08:30:00.000000Z",
        "contained_at": "2026-11-23T08:22:00.000000Z",
        "elapsed_seconds": 22 * 60,
        "in_time": True,
    }
    assert [e["sha256"] for e in data["evidence"]] == [EXE_SHA, LOG_SHA]
    isolate = data["actions"][1]
    assert isolate["request_ids"] == ["473469C7-AA6F-4DC5-B3DB-A3DC0DE3C83E"]
    assert isolate["audit_hash"] == "b" * 64
    assert isolate["steps"][0]["exact"].startswith("ecs.ModifyInstanceAttribute")
    assert data["actions"][0]["undo"] == {"action": "resume", "params": {"pid": "4242"}}
    times = [e["at"] for e in data["timeline"]]
    assert times == sorted(times)
    assert data["findings"][0]["evidence"]["process"] == HOSTILE
    steps = {s["step"]: s for s in data["checklist"]}
    assert steps["isolate"]["status"] == "done" and steps["scan"]["reason"] == "no ClamAV"
    assert steps["preserve"]["status"] == "pending"
    # ensure_ascii: the file itself holds no raw control characters
    raw = render(build_report(case, load_checklist(), lang="zh", now=NOW), "json")
    assert raw.isascii() and "\x1b" not in raw


def test_chinese_report_translates_only_sickbays_words(case: Case) -> None:
    text = _markdown(case, "zh")
    headings = ("# 安全事件报告", "## 摘要", "## 待办事项", "## 遏制计时", "## 时间线", "## 主机",
                "## 检测结果", "## 处置操作", "## 证据", "## 处置清单", "## 备注")  # fmt: skip
    for heading in headings:
        assert heading in text
    assert "## Summary" not in text and "Timeline" not in text
    # host data stays as recorded
    assert "Cryptominer process" in text  # the finding's title
    assert "web1" in text and "i-bp1abc" in text and "nft not found" in text
    assert "严重" in text  # severity translated
    assert "遏制（步骤“隔离主机”）在首次发现后 22 分钟完成" in text
    page = _html(case, "zh")
    assert '<html lang="zh-CN">' in page and "安全事件报告" in page
    assert "&lt;script&gt;" in page


def test_report_without_anything_yet(tmp_path: Path) -> None:
    cases = CaseFile(tmp_path / "c.db")
    incident = cases.open_incident("empty")
    report = build_report(cases.case(incident.id), load_checklist(), lang="en", now=NOW)
    text = render_markdown(report)
    assert "No findings were recorded." in text and "No actions were taken." in text
    assert report_to_dict(report)["containment"]["contained_at"] is None
    with pytest.raises(ValueError, match="unknown report format"):
        render(report, "pdf")
