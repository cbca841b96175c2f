"""Process actions on real planted process trees, on this machine and over the real sshd: freeze
(a watchdog shell loop respawning a worker, which has children: every pid ends in state T, none
respawns), resume, kill (refused without evidence, done after collect), and the failure paths: a
vanished pid, a pid replaced between plan and execution, a host dropping mid-action, a dry run."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from backends.audit_log import AuditLog
from backends.hostactions import HOST_ACTION_IDS, registry
from backends.hostactions.base import ActionContext
from backends.hostactions.process import Proc, resolve_tree
from backends.hostactions.registry import get
from backends.hostactions.runner import run_action
from backends.hostexec_local import LocalExec
from backends.hostexec_ssh import SshExec
from backends.ssh import SshSource
from domain.actions import ActionError, ActionPlan, Outcome
from domain.hostexec import HostExec
from tests.planted import SLEEP, Planted, shm_dir
from tests.sshd import Sshd, descendants
from tests.test_ssh_source import target
from tui.cli import main

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return "gone"
    return stat[stat.rindex(b")") + 2 :].split()[0].decode()


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def watchdog_tree(planted: Planted) -> tuple[int, int, list[int]]:
    """A shell loop (the watchdog) respawning a worker shell that runs two copies of sleep
    named ``kd``: (watchdog pid, worker pid, [kd pids])."""
    kd = shm_dir(planted) / "kd"
    shutil.copy2(SLEEP, kd)
    kd.chmod(0o755)
    worker = f"{kd} 300 & {kd} 301 & wait"
    loop = planted.start(
        ["/bin/sh", "-c", f"echo ready; while :; do /bin/sh -c '{worker}'; sleep 0.1; done"],
        ready="ready",
    )
    wait_for(lambda: len(descendants(loop.pid)) == 3)
    tree = descendants(loop.pid)
    children = Path(f"/proc/{loop.pid}/task/{loop.pid}/children").read_text().split()
    (worker_pid,) = map(int, children)
    return loop.pid, worker_pid, [p for p in tree if p != worker_pid]


async def yes(plan: ActionPlan) -> bool:
    return True


async def no(plan: ActionPlan) -> bool:
    return False


@pytest.fixture
def audit(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / "audit.jsonl")


@pytest.fixture
async def ssh_host(sshd: Sshd) -> AsyncIterator[SshExec]:
    source = SshSource(target(sshd), connect_timeout=10.0, sample_timeout=20.0)
    yield SshExec(source)
    await asyncio.wait_for(source.close(), 15)


@pytest.fixture(params=["local", "ssh"])
def host(request: pytest.FixtureRequest) -> HostExec:
    if request.param == "local":
        return LocalExec("this-machine")
    ssh: SshExec = request.getfixturevalue("ssh_host")
    return ssh


def context(host: HostExec, tmp_path: Path) -> ActionContext:
    return ActionContext(exec=host, evidence_dir=tmp_path / "evidence", incident="IR-1")


async def test_freeze_resume_kill_a_tree_with_its_watchdog(
    host: HostExec, planted: Planted, tmp_path: Path, audit: AuditLog
) -> None:
    loop, worker, kds = watchdog_tree(planted)
    everyone = [loop, worker, *kds]
    ctx = context(host, tmp_path)
    params = {"pid": str(worker)}

    plan, result = await run_action(
        get("freeze"), ctx, params, confirm=yes, dry_run=False, audit=audit
    )
    assert [t[0] for t in plan.params["tree"]] == [loop, worker, *sorted(kds)]  # parents first
    assert "watchdog parent" in plan.steps[0].what and str(loop) in plan.steps[0].exact
    assert result.outcome is Outcome.DONE, result
    assert all(state(pid) == "T" for pid in everyone)
    time.sleep(0.5)  # a running watchdog would have respawned the worker by now
    assert sorted(descendants(loop)) == sorted([worker, *kds])
    assert all(state(pid) == "T" for pid in everyone)
    assert result.undo is not None and result.undo[0] == "resume"

    _, resumed = await run_action(
        get("resume"), ctx, dict(result.undo[1]), confirm=yes, dry_run=False, audit=audit
    )
    assert resumed.outcome is Outcome.DONE, resumed
    assert all(state(pid) in ("S", "R") for pid in everyone)

    _, refused = await run_action(get("kill"), ctx, params, confirm=yes, dry_run=False, audit=audit)
    assert refused.outcome is Outcome.FAILED
    assert "no evidence" in refused.summary and "nothing was done" in refused.summary
    assert all(state(pid) in ("S", "R") for pid in everyone)

    _, collected = await run_action(
        get("collect"), ctx, params, confirm=yes, dry_run=False, audit=audit
    )
    assert collected.outcome is Outcome.DONE, collected
    plan, killed = await run_action(
        get("kill"), ctx, params, confirm=yes, dry_run=False, audit=audit
    )
    assert killed.outcome is Outcome.DONE, killed
    assert all(state(pid) in ("Z", "gone") for pid in everyone)
    time.sleep(0.3)
    assert all(state(pid) in ("Z", "gone") for pid in everyone)  # nothing came back

    entries = audit.entries()
    assert [(e["action"], e["outcome"]) for e in entries] == [
        ("freeze", "done"),
        ("resume", "done"),
        ("kill", "failed"),
        ("collect", "done"),
        ("kill", "done"),
    ]
    assert entries[0]["host"] == host.host
    assert audit.verify().ok


async def test_kill_with_skip_evidence_is_recorded(
    planted: Planted, tmp_path: Path, audit: AuditLog
) -> None:
    proc = planted.start([SLEEP, "300"])
    ctx = context(LocalExec("me"), tmp_path)
    params = {"pid": str(proc.pid), "skip_evidence": "yes"}
    plan, result = await run_action(
        get("kill"), ctx, params, confirm=yes, dry_run=False, audit=audit
    )
    assert result.outcome is Outcome.DONE
    assert state(proc.pid) in ("Z", "gone")
    assert any("NOT collected" in w for w in plan.warnings)
    (entry,) = audit.entries()
    assert entry["params"]["skip_evidence"] == "yes"


async def test_a_vanished_pid_is_a_clear_failure_with_nothing_done(
    host: HostExec, tmp_path: Path, audit: AuditLog
) -> None:
    gone = subprocess.Popen([SLEEP, "0"])
    gone.wait()
    for action in ("freeze", "kill", "collect", "resume"):
        plan, result = await run_action(
            get(action), context(host, tmp_path), {"pid": str(gone.pid)}, confirm=yes,
            dry_run=False, audit=audit,
        )  # fmt: skip
        assert result.outcome is Outcome.FAILED
        assert "does not exist" in result.summary
        assert plan.steps == ()
    entries = audit.entries()
    assert len(entries) == 4
    assert all(e["outcome"] == "failed" and "nothing was done" in e["state"] for e in entries)


async def test_bad_pids_are_refused(tmp_path: Path, audit: AuditLog) -> None:
    ctx = context(LocalExec("me"), tmp_path)
    for bad in ("1", "2", "abc", "", "-5", "12 13", "7\n8", str(os.getpid())):
        _, result = await run_action(
            get("freeze"), ctx, {"pid": bad}, confirm=yes, dry_run=False, audit=audit
        )
        assert result.outcome is Outcome.FAILED, bad
        assert "nothing was done" in result.summary + result.state
    assert state(1) != "T"
    assert state(os.getpid()) != "T"


async def test_a_pid_replaced_after_the_plan_is_not_signalled(
    planted: Planted, tmp_path: Path, audit: AuditLog
) -> None:
    proc = planted.start([SLEEP, "300"])
    ctx = context(LocalExec("me"), tmp_path)
    freeze = get("freeze")
    plan = await freeze.plan(ctx, {"pid": str(proc.pid)})
    proc.kill()
    proc.wait()

    with pytest.raises(ActionError, match="gone") as raised:
        await freeze.execute(ctx, plan)
    assert getattr(raised.value, "state", "") == "nothing was done"


async def test_a_host_dropping_mid_action_fails_cleanly(
    sshd: Sshd, ssh_host: SshExec, planted: Planted, tmp_path: Path, audit: AuditLog
) -> None:
    loop, worker, kds = watchdog_tree(planted)

    async def drop_then_yes(plan: ActionPlan) -> bool:
        sshd.stop()  # the host goes away between the confirmation and the execution
        return True

    _, result = await run_action(
        get("freeze"), context(ssh_host, tmp_path), {"pid": str(worker)},
        confirm=drop_then_yes, dry_run=False, audit=audit,
    )  # fmt: skip
    assert result.outcome is Outcome.FAILED
    assert "freeze failed" in result.summary
    assert all(state(pid) in ("S", "R") for pid in [loop, worker, *kds])  # nothing half done
    (entry,) = audit.entries()
    assert entry["outcome"] == "failed" and entry["steps"]


async def test_dry_run_and_cancel_change_nothing(
    planted: Planted, tmp_path: Path, audit: AuditLog
) -> None:
    loop, worker, kds = watchdog_tree(planted)
    ctx = context(LocalExec("me"), tmp_path)
    params = {"pid": str(worker), "skip_evidence": "yes"}
    _, dry = await run_action(get("kill"), ctx, params, confirm=yes, dry_run=True, audit=audit)
    assert dry.outcome is Outcome.DRY_RUN
    _, cancelled = await run_action(
        get("kill"), ctx, params, confirm=no, dry_run=False, audit=audit
    )
    assert cancelled.outcome is Outcome.CANCELLED
    assert all(state(pid) in ("S", "R") for pid in [loop, worker, *kds])
    assert [e["outcome"] for e in audit.entries()] == ["dry-run", "cancelled"]


def test_act_cli_dry_run_and_unconfirmed_change_nothing(
    planted: Planted, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proc = planted.start([SLEEP, "300"])
    log = tmp_path / "audit.jsonl"
    common = ["--pid", str(proc.pid), "--audit-log", str(log), "--evidence-dir", str(tmp_path)]
    assert main(["act", "local", "freeze", *common, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"os.kill({proc.pid}, SIGSTOP)" in out and "dry-run" in out
    assert state(proc.pid) in ("S", "R")
    assert main(["act", "local", "freeze", *common]) == 1  # stdin is no terminal, no --yes
    assert state(proc.pid) in ("S", "R")
    assert main(["act", "local", "freeze", *common, "--yes"]) == 0
    assert state(proc.pid) == "T"
    assert main(["act", "local", "nonsense", *common]) == 2
    outcomes = [json.loads(line)["outcome"] for line in log.read_text().splitlines()]
    assert outcomes == ["dry-run", "cancelled", "done"]
    assert main(["audit", "verify", "--audit-log", str(log)]) == 0


def _proc(pid: int, ppid: int, comm: str, **kw: Any) -> Proc:
    options: dict[str, Any] = {
        "state": "S", "start": pid, "tty": 0, "exe": f"/usr/bin/{comm}",
        "cmdline": (comm,), "uid": 0,
    }  # fmt: skip
    options.update(kw)
    return Proc(pid=pid, ppid=ppid, comm=comm, **options)


def test_the_tree_stops_at_services_and_the_operators_shell() -> None:
    procs = {
        p.pid: p
        for p in (
            _proc(1, 0, "systemd"),
            _proc(10, 1, "sshd"),
            _proc(20, 10, "bash", tty=34816, cmdline=("-bash",)),  # the operator, on a tty
            _proc(30, 20, "sh", cmdline=("sh", "-c", "while :; do ./x; done")),
            _proc(40, 30, "x", exe="/tmp/x"),
            _proc(41, 40, "x", exe="/tmp/x"),  # a forked child
            _proc(50, 1, "cron"),
            _proc(60, 50, "sh", cmdline=("sh", "-c", "/tmp/y")),  # mentions y: a watchdog
            _proc(70, 60, "y", exe="/tmp/y (deleted)"),
            _proc(80, 1, "nginx", exe="/usr/sbin/nginx"),
            _proc(81, 80, "nginx", exe="/usr/sbin/nginx"),  # same exe: its master counts
            _proc(90, 1, "python3", exe="/usr/bin/python3"),
            _proc(91, 90, "sh", cmdline=("sh", "-c", "id")),  # a plain shell: not a watchdog
        )
    }
    tree = resolve_tree(procs, 40)
    assert [(m.proc.pid, m.role) for m in tree] == [
        (30, "watchdog parent"), (40, "target"), (41, "child"),
    ]  # fmt: skip
    assert [m.proc.pid for m in resolve_tree(procs, 70)] == [60, 70]
    assert [m.proc.pid for m in resolve_tree(procs, 81)] == [80, 81]
    assert [m.proc.pid for m in resolve_tree(procs, 91)] == [91]
    assert [m.proc.pid for m in resolve_tree(procs, 40, session=(30, 20, 10))] == [40, 41]
    with pytest.raises(ActionError, match="session"):
        resolve_tree(procs, 30, session=(30,))
    with pytest.raises(ActionError, match="init"):
        resolve_tree(procs, 1)


def test_the_action_ids_known_at_start_up_are_the_registry() -> None:
    assert frozenset(registry.ACTIONS) == HOST_ACTION_IDS
