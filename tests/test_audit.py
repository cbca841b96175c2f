"""The audit trail end to end: the runner writes one hash-chained entry per action (every
outcome), and `sickbay audit verify` catches an edited line, a deleted one, two swapped, a cut
tail (whole lines or half a line), while an untouched log passes; `audit show` escapes host text."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from backends.audit_log import AuditLog
from backends.hostactions.base import ActionContext
from backends.hostactions.runner import run_action
from backends.hostexec_local import LocalExec
from domain.actions import ActionError, ActionPlan, ActionResult, Outcome, PlannedStep, Risk
from tui.audit_cmd import default_audit_path
from tui.cli import main


class Probe:
    """A small real action: reads the host's kernel release with the in-memory python3;
    ``fail`` makes its execution raise what it names."""

    id = "probe"
    title = "Probe"
    risk = Risk.REVERSIBLE
    params: tuple[str, ...] = ()

    def __init__(self, fail: BaseException | None = None) -> None:
        self.fail = fail
        self.executed = 0

    async def plan(self, ctx: ActionContext, params: Mapping[str, str]) -> ActionPlan:
        if params.get("bad"):
            raise ActionError("bad parameter; nothing was done")
        return ActionPlan(
            action=self.id,
            host=ctx.exec.host,
            subject=params.get("subject", "the kernel"),
            params=dict(params),
            steps=(PlannedStep("read the release", "python3: os.uname()"),),
            risk=self.risk,
        )

    async def execute(self, ctx: ActionContext, plan: ActionPlan) -> ActionResult:
        self.executed += 1
        if self.fail is not None:
            raise self.fail
        release = await ctx.exec.run_python(
            "import json,os\nprint(json.dumps(os.uname().release))\n", {}
        )
        return ActionResult(Outcome.DONE, f"release {release}", verification="read back")


async def yes(plan: ActionPlan) -> bool:
    return True


async def no(plan: ActionPlan) -> bool:
    return False


async def fill(log: Path, tmp_path: Path) -> AuditLog:
    audit = AuditLog(log)
    ctx = ActionContext(exec=LocalExec("host-a"), evidence_dir=tmp_path / "ev", incident="IR-9")
    probe = Probe()
    outcomes = []
    for kw in (
        {"dry_run": True, "confirm": yes},
        {"dry_run": False, "confirm": no},
        {"dry_run": False, "confirm": yes},
    ):
        _, result = await run_action(probe, ctx, {}, audit=audit, **kw)  # type: ignore[arg-type]
        outcomes.append(result.outcome)
    _, bad = await run_action(probe, ctx, {"bad": "1"}, confirm=yes, dry_run=False, audit=audit)
    assert outcomes == [Outcome.DRY_RUN, Outcome.CANCELLED, Outcome.DONE]
    assert bad.outcome is Outcome.FAILED and "nothing was done" in bad.state
    assert probe.executed == 1
    return audit


async def test_every_outcome_is_one_chained_entry(tmp_path: Path) -> None:
    audit = await fill(tmp_path / "audit.jsonl", tmp_path)
    entries = audit.entries()
    assert [e["outcome"] for e in entries] == ["dry-run", "cancelled", "done", "failed"]
    assert [e["seq"] for e in entries] == [0, 1, 2, 3]
    assert all(e["incident"] == "IR-9" and e["host"] == "host-a" for e in entries)
    assert entries[2]["steps"] == ["python3: os.uname()"]
    assert entries[2]["actor"]
    assert audit.verify().ok


async def test_an_execution_error_is_recorded_as_failed(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    ctx = ActionContext(exec=LocalExec("h"), evidence_dir=tmp_path)
    _, result = await run_action(
        Probe(ActionError("half way")), ctx, {}, confirm=yes, dry_run=False, audit=audit
    )
    assert result.outcome is Outcome.FAILED and "half way" in result.summary
    with pytest.raises(RuntimeError):
        await run_action(
            Probe(RuntimeError("bug")), ctx, {}, confirm=yes, dry_run=False, audit=audit
        )
    entries = audit.entries()
    assert [e["outcome"] for e in entries] == ["failed", "failed"]
    assert "interrupted" in entries[1]["summary"]


async def test_nothing_runs_when_the_audit_log_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    audit = AuditLog(tmp_path / "file" / "audit.jsonl")
    probe = Probe()
    with pytest.raises(ActionError, match="not writable"):
        await run_action(
            probe,
            ActionContext(exec=LocalExec("h"), evidence_dir=tmp_path),
            {},
            confirm=yes,
            dry_run=False,
            audit=audit,
        )
    assert probe.executed == 0


def verify(log: Path) -> int:
    return main(["audit", "verify", "--audit-log", str(log)])


async def test_audit_verify_catches_each_kind_of_tampering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "audit.jsonl"
    await fill(log, tmp_path)
    pristine = log.read_text()
    lines = pristine.splitlines(keepends=True)
    assert verify(log) == 0
    assert "ok: 4 entries" in capsys.readouterr().out

    entry = json.loads(lines[1])
    entry["outcome"] = "done"
    edited = [lines[0], json.dumps(entry) + "\n", *lines[2:]]
    cases = {
        "edited": ("".join(edited), "entry 1 was modified"),
        "deleted": ("".join([lines[0], *lines[2:]]), "removed or reordered"),
        "swapped": ("".join([lines[0], lines[2], lines[1], lines[3]]), "removed or reordered"),
        "truncated": ("".join(lines[:2]), "missing"),
        "half a line": (pristine[: len(pristine) - 40], "not JSON"),
    }
    for name, (text, expected) in cases.items():
        log.write_text(text)
        assert verify(log) == 1, name
        err = capsys.readouterr().err
        assert expected in err, (name, err)
    log.write_text(pristine)
    assert verify(log) == 0


async def test_audit_show_escapes_host_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "elsewhere" / "audit.jsonl"
    monkeypatch.setenv("SICKBAY_AUDIT_LOG", str(log))
    assert default_audit_path() == log
    audit = AuditLog(log)
    ctx = ActionContext(exec=LocalExec("h\x1b]0;PWNED\x07"), evidence_dir=tmp_path)
    await run_action(Probe(), ctx, {"subject": "x\x1b[2Jy"}, confirm=yes, dry_run=True, audit=audit)
    assert main(["audit", "show"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "0;PWNED\\x07" in out
    assert main(["audit", "verify"]) == 0


def test_an_empty_audit_log_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert verify(tmp_path / "none.jsonl") == 0
    assert "no audit log" in capsys.readouterr().out
