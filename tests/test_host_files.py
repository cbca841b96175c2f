"""quarantine / restore-file on real files, through LocalExec and SshExec (real sshd): the file
moves into a root-only directory with mode 000, its sha256 and timestamps kept (also across
filesystems, also when chattr +i), the sidecar records where it came from, and restore-file
puts it back as it was. Every run goes through the runner, so every run leaves an audit entry.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import shutil
import struct
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from backends.audit_log import AuditLog
from backends.hostactions.base import ActionContext
from backends.hostactions.registry import get
from backends.hostactions.runner import run_action
from backends.hostexec_local import LocalExec
from backends.hostexec_ssh import SshExec
from backends.ssh import SshSource
from domain.actions import ActionPlan, ActionResult, Outcome
from domain.hostexec import HostExec
from tests.sshd import Sshd
from tests.test_ssh_source import target

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="host actions need root")

CONTENT = b"\x7fELF payload \x00\xff" * 100
FS_IOC_GETFLAGS = (2 << 30) | (struct.calcsize("l") << 16) | (ord("f") << 8) | 1


async def act(
    exec_: HostExec,
    tmp: Path,
    action_id: str,
    params: dict[str, str],
    *,
    dry_run: bool = False,
    confirm: bool = True,
) -> tuple[ActionPlan, ActionResult]:
    """Run one action the one way (runner: plan, confirm, execute, audit)."""
    ctx = ActionContext(exec=exec_, evidence_dir=tmp / "evidence", incident="t")

    async def yes(plan: ActionPlan) -> bool:
        return confirm

    return await run_action(
        get(action_id), ctx, params, confirm=yes, dry_run=dry_run, audit=AuditLog(tmp / "audit")
    )


def audit_actions(tmp: Path) -> list[tuple[str, str]]:
    """(action, outcome) of each audit entry."""
    entries = [json.loads(line) for line in (tmp / "audit").read_text().splitlines()]
    return [(str(e["action"]), str(e["outcome"])) for e in entries]


@pytest.fixture
async def ssh_exec(sshd: Sshd) -> AsyncIterator[Callable[[], SshExec]]:
    sources: list[SshSource] = []

    def make() -> SshExec:
        source = SshSource(target(sshd), connect_timeout=10.0, sample_timeout=20.0)
        sources.append(source)
        return SshExec(source)

    yield make
    for source in sources:
        await asyncio.wait_for(source.close(), 15)


@pytest.fixture(params=["local", "ssh"])
def host(request: pytest.FixtureRequest) -> HostExec:
    if request.param == "local":
        return LocalExec("this-machine")
    make: Callable[[], SshExec] = request.getfixturevalue("ssh_exec")
    return make()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def flags(path: Path) -> int:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        return int(struct.unpack("i", fcntl.ioctl(fd, FS_IOC_GETFLAGS, b"\0" * 8)[:4])[0])
    finally:
        os.close(fd)


@pytest.fixture
def odd_file(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "drop zone"
    folder.mkdir()
    path = folder / "x y\nz.bin"
    path.write_bytes(CONTENT)
    os.chown(path, 1234, 2345)
    path.chmod(0o4755)  # (after chown, which clears set-id bits)
    os.utime(path, ns=(1_600_000_000_123_456_789, 1_500_000_000_987_654_321))
    yield path


async def test_quarantine_and_restore_keep_everything(
    host: HostExec, tmp_path: Path, odd_file: Path
) -> None:
    before = odd_file.stat()
    digest = hashlib.sha256(CONTENT).hexdigest()  # (reading the file would set its atime)
    qroot = tmp_path / "q"
    plan, result = await act(
        host, tmp_path, "quarantine", {"path": str(odd_file), "quarantine_root": str(qroot)}
    )
    assert result.outcome is Outcome.DONE, (result.summary, result.state)
    assert plan.undo is not None and plan.undo[0] == "restore-file"
    assert not odd_file.exists()
    kept = Path(str(result.details["kept"]))
    assert kept.parent.parent == qroot
    assert kept.stat().st_mode & 0o7777 == 0
    assert qroot.stat().st_mode & 0o777 == 0o700 and kept.parent.stat().st_mode & 0o777 == 0o700
    assert kept.stat().st_mtime_ns == before.st_mtime_ns
    assert kept.stat().st_atime_ns == before.st_atime_ns  # read with O_NOATIME, never touched
    assert sha(kept) == digest == result.details["sha256"]
    os.utime(kept, ns=(before.st_atime_ns, before.st_mtime_ns))  # (sha() just read it)
    meta = json.loads((kept.parent / "meta.json").read_text())
    assert meta["path"] == str(odd_file)
    assert (meta["uid"], meta["gid"], meta["mode"]) == (1234, 2345, 0o4755)
    assert meta["sha256"] == digest and meta["how"] == "rename"

    params = {k: str(v) for k, v in plan.undo[1].items()}
    _, back = await act(host, tmp_path, "restore-file", params)
    assert back.outcome is Outcome.DONE, (back.summary, back.state)
    after = odd_file.stat()
    assert (after.st_uid, after.st_gid, after.st_mode & 0o7777) == (1234, 2345, 0o4755)
    assert after.st_mtime_ns == before.st_mtime_ns
    assert after.st_atime_ns == before.st_atime_ns
    assert sha(odd_file) == digest
    assert (kept.parent / "restored.json").exists()
    # Restoring twice is refused (recorded as a failed plan).
    _, again = await act(host, tmp_path, "restore-file", params)
    assert again.outcome is Outcome.FAILED and "already restored" in again.summary
    assert audit_actions(tmp_path) == [
        ("quarantine", "done"),
        ("restore-file", "done"),
        ("restore-file", "failed"),
    ]


async def test_quarantine_across_filesystems_copies_with_times(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on another filesystem")
    path = shm / f"sickbay-test-{os.getpid()}-{tmp_path.name}"
    try:
        path.write_bytes(b"miner\n" * 1000)
        os.utime(path, ns=(1_400_000_000_000_000_000, 1_300_000_000_000_000_000))
        digest = sha(path)
        qroot = tmp_path / "q"
        exec_ = LocalExec("this-machine")
        plan, result = await act(
            exec_, tmp_path, "quarantine", {"path": str(path), "quarantine_root": str(qroot)}
        )
        assert "copy" in plan.preview() and "unlink" in plan.preview()
        assert result.outcome is Outcome.DONE, (result.summary, result.state)
        assert result.details["how"] == "copy"
        kept = Path(str(result.details["kept"]))
        assert not path.exists()
        assert sha(kept) == digest and kept.stat().st_mtime_ns == 1_300_000_000_000_000_000
        assert plan.undo is not None
        _, back = await act(exec_, tmp_path, "restore-file", dict(plan.undo[1]))
        assert back.outcome is Outcome.DONE, back.summary
        assert sha(path) == digest and path.stat().st_mtime_ns == 1_300_000_000_000_000_000
    finally:
        path.unlink(missing_ok=True)


async def test_immutable_file_is_unlocked_moved_and_relocked_on_restore(tmp_path: Path) -> None:
    chattr = shutil.which("chattr")
    path = tmp_path / "locked"
    path.write_bytes(b"persistent")
    if chattr is None:
        pytest.skip("chattr not installed (used by the test only)")
    if subprocess.run([chattr, "+i", str(path)], check=False).returncode != 0:
        pytest.skip("the filesystem has no immutable flag")
    kept: Path | None = None
    try:
        assert flags(path) & 0x10
        exec_ = LocalExec("this-machine")
        params = {"path": str(path), "quarantine_root": str(tmp_path / "q")}
        plan, result = await act(exec_, tmp_path, "quarantine", params)
        assert "FS_IOC_SETFLAGS" in plan.preview()
        assert result.outcome is Outcome.DONE, (result.summary, result.state)
        kept = Path(str(result.details["kept"]))
        assert not flags(kept) & 0x10  # cleared on the kept copy, recorded in meta.json
        assert json.loads((kept.parent / "meta.json").read_text())["flags"] == 0x10
        assert plan.undo is not None
        _, back = await act(exec_, tmp_path, "restore-file", dict(plan.undo[1]))
        assert back.outcome is Outcome.DONE, back.summary
        assert flags(path) & 0x10 and path.read_bytes() == b"persistent"
    finally:
        for p in (path, kept):
            if p is not None and p.exists():
                subprocess.run([chattr, "-i", str(p)], check=False)


async def test_fetch_copies_to_evidence_and_refuses_what_it_should(
    tmp_path: Path, odd_file: Path
) -> None:
    exec_ = LocalExec("this-machine")
    qroot = str(tmp_path / "q")
    link = tmp_path / "link"
    link.symlink_to(odd_file)
    _, refused = await act(
        exec_, tmp_path, "quarantine", {"path": str(link), "quarantine_root": qroot}
    )
    assert refused.outcome is Outcome.FAILED and "symbolic link" in refused.summary
    assert odd_file.exists()
    _, dry = await act(
        exec_,
        tmp_path,
        "quarantine",
        {"path": str(odd_file), "quarantine_root": qroot},
        dry_run=True,
    )
    assert dry.outcome is Outcome.DRY_RUN and odd_file.exists()
    assert not Path(qroot).exists()
    _, result = await act(
        exec_,
        tmp_path,
        "quarantine",
        {"path": str(odd_file), "quarantine_root": qroot, "fetch": "yes"},
    )
    assert result.outcome is Outcome.DONE, (result.summary, result.verification)
    ((local, digest),) = result.evidence
    assert Path(local).read_bytes() == CONTENT
    assert digest == result.details["sha256"]
    assert "sha256 matches" in result.verification
    manifest = (tmp_path / "evidence" / "manifest.jsonl").read_text()
    assert digest in manifest


async def test_a_file_changed_after_the_plan_is_left_alone(tmp_path: Path, odd_file: Path) -> None:
    exec_ = LocalExec("this-machine")
    ctx = ActionContext(exec=exec_, evidence_dir=tmp_path / "evidence")

    async def change_then_confirm(plan: ActionPlan) -> bool:
        odd_file.write_bytes(b"swapped")
        return True

    _, result = await run_action(
        get("quarantine"),
        ctx,
        {"path": str(odd_file), "quarantine_root": str(tmp_path / "q")},
        confirm=change_then_confirm,
        dry_run=False,
        audit=AuditLog(tmp_path / "audit"),
    )
    assert result.outcome is Outcome.FAILED
    assert "changed since the plan" in result.summary and result.state == "nothing was done"
    assert odd_file.read_bytes() == b"swapped"
