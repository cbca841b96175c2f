"""The response checklist as data: the shipped file loads, a user file replaces it, bad files are
refused with a clear message, every automatic verification passes, fails or cannot tell from
the state it is given, and the golden-30-minutes containment clock counts right."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from domain.actions import Outcome
from domain.checklist import (
    CHECKLIST_ACTIONS,
    USER_FILE,
    VERIFICATIONS,
    ChecklistError,
    CheckStatus,
    VerificationState,
    Verify,
    clock_for,
    containment_clock,
    default_checklist_text,
    load_checklist,
    load_user_checklist,
    overall,
    parse_checklist,
    run_verification,
    verify_step,
)
from domain.cloud import Disk, Instance, Snapshot
from domain.findings import Severity
from domain.i18n import catalog
from domain.incident import (
    ActionRecord,
    Case,
    EvidenceRecord,
    FindingRecord,
    Incident,
    IncidentHost,
    IncidentStatus,
    StepState,
    StepStatus,
)

T0 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.timezone.utc)
MIN = dt.timedelta(minutes=1)


def test_the_default_checklist_loads() -> None:
    checklist = load_checklist()
    assert checklist.ids == (
        "detect", "isolate", "preserve", "scan", "investigate", "eradicate", "restore", "report",
    )  # fmt: skip
    assert (checklist.clock_minutes, checklist.contained_by) == (30, "isolate")
    for step in checklist.steps:
        for lang in ("en", "zh"):
            assert step.title_in(lang) and len(step.text_in(lang)) > 40
        assert set(step.actions) <= CHECKLIST_ACTIONS
        assert "Why" in step.text["en"] and "原因" in step.text["zh"]
    actions = {a for s in checklist.steps for a in s.actions}
    assert {"isolate", "snapshot", "collect", "bundle", "freeze", "kill", "scan", "disable",
            "remove-key", "lock-user", "block", "report"} <= actions  # fmt: skip
    assert checklist.step("isolate").verify == (Verify("instance-quarantined"),)  # type: ignore[union-attr]
    eradicate = checklist.step("eradicate")
    assert eradicate is not None
    assert eradicate.verify[0] == Verify("no-miner-for", {"minutes": 30})
    # the articles' invented commands are not repeated
    text = default_checklist_text()
    assert "--scannow" not in text and "clamscan -r -i" in text


def _minimal(step_id: str = "contain") -> str:
    return f"""
[clock]
minutes = 20
contained_by = "{step_id}"

[[steps]]
id = "{step_id}"
actions = ["isolate"]
verify = [{{ id = "no-miner-for", minutes = 5, rules = ["CUSTOM-RULE"] }}]
[steps.en]
title = "Contain"
text = "Contain it. Why: because."
[steps.zh]
title = "遏制"
text = "遏制。原因：因为。"
"""


def test_a_user_file_replaces_the_default(tmp_path: Path) -> None:
    assert load_user_checklist(tmp_path).ids == load_checklist().ids  # no user file
    (tmp_path / USER_FILE).write_text(_minimal(), encoding="utf-8")
    checklist = load_user_checklist(tmp_path)
    assert checklist.ids == ("contain",)
    assert checklist.clock_minutes == 20
    assert checklist.source == str(tmp_path / USER_FILE)
    (step,) = checklist.steps
    assert step.verify == (Verify("no-miner-for", {"minutes": 5, "rules": ("CUSTOM-RULE",)}),)
    assert step.title_in("zh") == "遏制"


_STEP = """
[[steps]]
id = "x"
{extra}
[steps.en]
title = "X"
text = "x"
[steps.zh]
title = "X"
text = "x"
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("this is = not toml [", "not valid TOML"),
        ("", "no steps"),
        (
            _STEP.format(extra='verify = ["instance-isolated"]'),
            "unknown verification 'instance-isolated'",
        ),
        (_STEP.format(extra='actions = ["nuke"]'), "unknown action id(s) nuke"),
        (_STEP.format(extra='verify = ["no-miner-for"]'), "needs 'minutes'"),
        (_STEP.format(extra='verify = [{ id = "no-miner-for", minutes = 0 }]'), "must be positive"),
        (_STEP.format(extra='verify = [{ id = "no-miner-for", minutes = "5" }]'), "must be a int"),
        (
            _STEP.format(extra='verify = [{ id = "report-exported", when = 1 }]'),
            "no parameter 'when'",
        ),
        (_STEP.format(extra='colour = "red"'), "unknown key(s) colour"),
        (_STEP.format(extra="id2 = 1").replace('id = "x"', 'id = "Bad Id"'), "'id' must be"),
        (_STEP.format(extra="") + _STEP.format(extra=""), "used twice: x"),
        ('[clock]\ncontained_by = "nope"\n' + _STEP.format(extra=""), "contained_by = 'nope'"),
        ("[clock]\nminutes = -1\n" + _STEP.format(extra=""), "positive whole number"),
        ("surprise = 1\n" + _STEP.format(extra=""), "unknown key(s) surprise"),
    ],
)
def test_invalid_files_are_refused_clearly(text: str, message: str) -> None:
    with pytest.raises(ChecklistError) as info:
        parse_checklist(text, "my.toml")
    assert message in str(info.value)
    assert str(info.value).startswith("my.toml")


def test_a_missing_language_is_named() -> None:
    text = '[clock]\ncontained_by = "x"\n[[steps]]\nid = "x"\n[steps.en]\ntitle = "X"\ntext = "x"\n'
    with pytest.raises(ChecklistError, match=r"step 'x': no zh text"):
        parse_checklist(text, "my.toml")
    text += '[steps.zh]\ntitle = ""\ntext = "x"\n'
    with pytest.raises(ChecklistError, match=r"\[steps.zh\] title is missing or empty"):
        parse_checklist(text, "my.toml")


def test_an_unreadable_user_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / USER_FILE).write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(ChecklistError, match="not UTF-8"):
        load_user_checklist(tmp_path)


def test_every_check_message_is_in_the_catalogs() -> None:
    keys = set(catalog("en"))
    assert {k for k in keys if k.startswith("check.")} >= {
        "check.findings.passed", "check.quarantine.failed", "check.snapshots.unknown",
        "check.miner.short", "check.pool.failed", "check.evidence.none", "check.report.passed",
    }  # fmt: skip


# -- verification functions, over hand-built state -------------------------------------------------


def _case(
    *,
    hosts: tuple[IncidentHost, ...] = (IncidentHost("web1", instance_id="i-1"),),
    findings: tuple[FindingRecord, ...] = (),
    actions: tuple[ActionRecord, ...] = (),
    evidence: tuple[EvidenceRecord, ...] = (),
    steps: dict[str, StepState] | None = None,
    first_detection: dt.datetime | None = T0,
) -> Case:
    incident = Incident(
        "INC-20261123-0001", "t", T0 + 5 * MIN, "alice", IncidentStatus.OPEN, None,
        first_detection,
    )  # fmt: skip
    return Case(incident, hosts, findings, actions, evidence, (), steps or {})


def _miner(
    host: str = "web1", last: dt.datetime = T0, rule: str = "PROC-MINER-NAME"
) -> FindingRecord:
    return FindingRecord(host, rule, Severity.CRITICAL, "miner", "", "", {}, f"{rule}:1", T0, last)


def _state(case: Case, **kw: object) -> VerificationState:
    return VerificationState(case=case, now=kw.pop("now", T0 + 60 * MIN), **kw)  # type: ignore[arg-type]


def _check(vid: str, state: VerificationState, **params: object) -> CheckStatus:
    result = run_verification(Verify(vid, params), state)
    assert result.verification == vid
    assert result.describe("en") and result.describe("zh")
    assert "{" not in result.describe("en"), result.describe("en")  # every placeholder filled
    return result.status


def _instance(groups: tuple[str, ...]) -> Instance:
    return Instance("aliyun", "cn-hangzhou", "i-1", "web1", "running", security_group_ids=groups)


def test_findings_recorded() -> None:
    assert _check("findings-recorded", _state(_case())) is CheckStatus.FAILED
    assert _check("findings-recorded", _state(_case(findings=(_miner(),)))) is CheckStatus.PASSED


def test_instance_quarantined() -> None:
    case = _case()
    q = {"web1": "sg-q"}
    assert _check("instance-quarantined", _state(case)) is CheckStatus.UNKNOWN
    quarantined = {"web1": _instance(("sg-q",))}
    assert (
        _check("instance-quarantined", _state(case, instances=quarantined, quarantine_groups=q))
        is CheckStatus.PASSED
    )
    both = {"web1": _instance(("sg-q", "sg-web"))}
    assert (
        _check("instance-quarantined", _state(case, instances=both, quarantine_groups=q))
        is CheckStatus.FAILED
    )
    assert (
        _check("instance-quarantined", _state(case, instances=quarantined)) is CheckStatus.UNKNOWN
    )
    no_cloud = _case(hosts=(IncidentHost("laptop"),))
    assert _check("instance-quarantined", _state(no_cloud)) is CheckStatus.UNKNOWN


def test_snapshots_complete() -> None:
    case = _case()
    disks = {"web1": (Disk("d-sys", "system", 40), Disk("d-data", "data", 100))}
    after = T0 + 10 * MIN
    good = (
        Snapshot("s-1", "d-sys", "ir", "accomplished", 100, after.isoformat()),
        Snapshot("s-2", "d-data", "ir", "accomplished", 100, "2026-11-23T08:11:00Z"),
    )
    assert _check("snapshots-complete", _state(case)) is CheckStatus.UNKNOWN
    assert (
        _check("snapshots-complete", _state(case, disks=disks, snapshots={"web1": good}))
        is CheckStatus.PASSED
    )
    progressing = (good[0], Snapshot("s-2", "d-data", "ir", "progressing", 40, after.isoformat()))
    assert (
        _check("snapshots-complete", _state(case, disks=disks, snapshots={"web1": progressing}))
        is CheckStatus.FAILED
    )
    before = (
        good[0],
        Snapshot("s-0", "d-data", "nightly", "accomplished", 100, "2026-11-23T02:00:00Z"),
    )
    assert (
        _check("snapshots-complete", _state(case, disks=disks, snapshots={"web1": before}))
        is CheckStatus.FAILED
    )
    garbled = (good[0], Snapshot("s-2", "d-data", "ir", "accomplished", 100, "yesterday"))
    assert (
        _check("snapshots-complete", _state(case, disks=disks, snapshots={"web1": garbled}))
        is CheckStatus.FAILED
    )
    # a naive provider time counts as UTC
    naive = (good[0], Snapshot("s-2", "d-data", "ir", "accomplished", 100, "2026-11-23 08:20:00"))
    assert (
        _check("snapshots-complete", _state(case, disks=disks, snapshots={"web1": naive}))
        is CheckStatus.PASSED
    )


def test_no_miner_for() -> None:
    now = T0 + 60 * MIN
    watched = {"web1": (T0 - 10 * MIN, now)}
    quiet = _case(findings=(_miner(last=T0 + 20 * MIN),))
    assert _check("no-miner-for", _state(quiet, observed=watched), minutes=30) is CheckStatus.PASSED
    assert _check("no-miner-for", _state(quiet, observed=watched), minutes=45) is CheckStatus.FAILED
    # pool connections count as miner findings; an unrelated finding does not
    pool = _case(findings=(_miner(last=now - 2 * MIN, rule="NET-POOL-PORT"),))
    assert _check("no-miner-for", _state(pool, observed=watched), minutes=30) is CheckStatus.FAILED
    other = _case(findings=(_miner(last=now, rule="PERS-SYSTEMD"),))
    assert _check("no-miner-for", _state(other, observed=watched), minutes=30) is CheckStatus.PASSED
    # custom rules from the TOML
    assert (
        _check("no-miner-for", _state(other, observed=watched), minutes=30, rules=("PERS-SYSTEMD",))
        is CheckStatus.FAILED
    )
    # not watched long enough, not watched now, not watched at all
    short = {"web1": (now - 10 * MIN, now)}
    assert _check("no-miner-for", _state(_case(), observed=short), minutes=30) is CheckStatus.FAILED
    stale = {"web1": (T0 - 600 * MIN, T0)}
    assert (
        _check("no-miner-for", _state(_case(), observed=stale), minutes=30) is CheckStatus.UNKNOWN
    )
    assert _check("no-miner-for", _state(_case()), minutes=30) is CheckStatus.UNKNOWN
    assert _check("no-miner-for", _state(_case(hosts=())), minutes=30) is CheckStatus.UNKNOWN


def test_no_pool_connections() -> None:
    case = _case(hosts=(IncidentHost("a"), IncidentHost("b")))
    assert (
        _check("no-pool-connections", _state(case, pool_connections={"a": 0, "b": 0}))
        is CheckStatus.PASSED
    )
    assert (
        _check("no-pool-connections", _state(case, pool_connections={"a": 0, "b": 3}))
        is CheckStatus.FAILED
    )
    assert (
        _check("no-pool-connections", _state(case, pool_connections={"a": 0}))
        is CheckStatus.UNKNOWN
    )


def _evidence(host: str) -> EvidenceRecord:
    return EvidenceRecord(host, f"/ev/{host}", "0" * 64, 1, "", T0, "alice")


def test_evidence_collected() -> None:
    findings = (_miner("web1"), _miner("web2"))
    assert _check("evidence-collected", _state(_case(findings=findings))) is CheckStatus.FAILED
    one = _case(findings=findings, evidence=(_evidence("web1"),))
    assert _check("evidence-collected", _state(one)) is CheckStatus.FAILED
    both = _case(findings=findings, evidence=(_evidence("web1"), _evidence("web2")))
    assert _check("evidence-collected", _state(both)) is CheckStatus.PASSED


def _report_action(outcome: Outcome) -> ActionRecord:
    return ActionRecord(
        1, T0, "alice", "", "report", "md report", "read-only", {}, (), outcome, "x"
    )


def test_report_exported() -> None:
    assert _check("report-exported", _state(_case())) is CheckStatus.FAILED
    failed = _case(actions=(_report_action(Outcome.FAILED),))
    assert _check("report-exported", _state(failed)) is CheckStatus.FAILED
    done = _case(actions=(_report_action(Outcome.DONE),))
    assert _check("report-exported", _state(done)) is CheckStatus.PASSED


def test_every_verification_id_is_implemented_and_steps_combine() -> None:
    assert set(VERIFICATIONS) == {
        "findings-recorded", "instance-quarantined", "snapshots-complete", "no-miner-for",
        "no-pool-connections", "evidence-collected", "report-exported",
    }  # fmt: skip
    preserve = load_checklist().step("preserve")
    assert preserve is not None
    case = _case(findings=(_miner(),), evidence=(_evidence("web1"),))
    results = verify_step(preserve, _state(case))
    assert [r.status for r in results] == [CheckStatus.UNKNOWN, CheckStatus.PASSED]
    assert overall(results) is CheckStatus.UNKNOWN
    assert overall([]) is None
    assert overall([results[1]]) is CheckStatus.PASSED
    failing = verify_step(preserve, _state(_case(findings=(_miner(),))))
    assert overall(failing) is CheckStatus.FAILED


# -- the containment clock -------------------------------------------------------------------------


def test_clock_running_within_budget() -> None:
    clock = containment_clock(T0, None, T0 + 12 * MIN)
    assert (clock.elapsed, clock.remaining) == (12 * MIN, 18 * MIN)
    assert clock.in_time is None and not clock.overdue
    assert clock.deadline == T0 + 30 * MIN


def test_clock_contained_in_22_minutes_is_in_time() -> None:
    clock = containment_clock(T0, T0 + 22 * MIN, T0 + 300 * MIN)
    assert clock.elapsed == 22 * MIN  # stops at containment
    assert clock.remaining == 8 * MIN
    assert clock.in_time is True and not clock.overdue


def test_clock_contained_late_and_overdue() -> None:
    late = containment_clock(T0, T0 + 31 * MIN, T0 + 40 * MIN)
    assert late.in_time is False and not late.overdue and late.remaining == dt.timedelta(0)
    overdue = containment_clock(T0, None, T0 + 45 * MIN)
    assert overdue.overdue and overdue.in_time is False and overdue.elapsed == 45 * MIN
    exactly = containment_clock(T0, T0 + 30 * MIN, T0 + 30 * MIN)
    assert exactly.in_time is True
    custom = containment_clock(T0, None, T0 + 45 * MIN, budget=60 * MIN)
    assert custom.in_time is None and custom.remaining == 15 * MIN


def test_clock_for_a_case_uses_the_checklist() -> None:
    checklist = load_checklist()
    done = StepState("isolate", StepStatus.DONE, "", "alice", T0 + 25 * MIN)
    case = _case(steps={"isolate": done})
    clock = clock_for(case, checklist, T0 + 90 * MIN)
    assert clock.contained_at == T0 + 25 * MIN and clock.in_time is True
    # in progress does not stop the clock; without findings it starts at the opening
    going = StepState("isolate", StepStatus.IN_PROGRESS, "", "alice", T0 + 25 * MIN)
    case = _case(steps={"isolate": going}, first_detection=None)
    clock = clock_for(case, checklist, T0 + 90 * MIN)
    assert clock.started_at == T0 + 5 * MIN
    assert clock.contained_at is None and clock.overdue
