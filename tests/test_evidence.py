"""Evidence collection from real processes and files, locally and over the real sshd: a deleted
executable and a memfd one come back with the sha256 of the original (hashed on the host and on
the bastion), sockets are matched, the bundle copies logs/persistence without password hashes,
and the manifest catches modified, missing and extra files (``sickbay evidence verify``)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backends.audit_log import AuditLog
from backends.evidence_store import EvidenceStore, incident_evidence_dir, safe_name, verify
from backends.hostactions import evidence as module
from backends.hostactions.base import ActionContext
from backends.hostactions.registry import get
from backends.hostactions.runner import run_action
from backends.hostexec_local import LocalExec
from backends.hostexec_ssh import SshExec
from backends.ssh import SshSource
from domain.actions import ActionPlan, ActionResult, Outcome
from domain.hostexec import HostExec
from tests.planted import SLEEP, Planted, deleted_binary, listener, port_free
from tests.sshd import Sshd, free_port
from tests.test_ssh_source import target
from tui.cli import main

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


async def yes(plan: ActionPlan) -> bool:
    return True


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


def sha256(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


async def collect(host: HostExec, pid: int, evidence: Path, audit: AuditLog) -> ActionResult:
    ctx = ActionContext(exec=host, evidence_dir=evidence, incident="IR-2")
    _, result = await run_action(
        get("collect"), ctx, {"pid": str(pid)}, confirm=yes, dry_run=False, audit=audit
    )
    return result


async def test_collect_a_deleted_executable(
    host: HostExec, planted: Planted, tmp_path: Path
) -> None:
    original = sha256(SLEEP)  # the file the process runs, hashed before it is deleted
    proc = deleted_binary(planted)
    assert os.readlink(f"/proc/{proc.pid}/exe").endswith(" (deleted)")
    evidence = tmp_path / "evidence"
    audit = AuditLog(tmp_path / "audit.jsonl")
    result = await collect(host, proc.pid, evidence, audit)
    assert result.outcome is Outcome.DONE, result
    details = result.details
    assert details["exe_sha256_on_host"] == original
    assert details["exe_sha256_on_bastion"] == original
    folder = Path(details["folder"])
    assert sha256(folder / "exe") == original
    assert (folder / "cmdline").read_bytes().split(b"\0")[1] == b"300"
    assert b"State:" in (folder / "status").read_bytes()
    assert b"/dev/shm" in (folder / "maps").read_bytes() or b"kd" in (folder / "maps").read_bytes()
    fds = json.loads((folder / "fds.json").read_text())
    assert {fd for fd, _ in fds} >= {"0", "1", "2"}
    entries = EvidenceStore(evidence).entries()
    exe_entry = next(e for e in entries if e.path.endswith("/exe"))
    assert exe_entry.sha256 == original
    assert exe_entry.remote == f"/proc/{proc.pid}/exe"
    assert exe_entry.host == host.host and exe_entry.action == "collect"
    assert exe_entry.pid == proc.pid and exe_entry.start is not None
    assert exe_entry.collector
    assert (folder / "exe").stat().st_mode & 0o777 == 0o400
    assert verify(evidence) == []
    (entry,) = audit.entries()
    assert [list(x) for x in result.evidence] == entry["evidence"]


async def test_collect_a_memfd_executable(host: HostExec, planted: Planted, tmp_path: Path) -> None:
    original = sha256(SLEEP)
    code = (
        "import os,sys\n"
        f"data = open({SLEEP!r}, 'rb').read()\n"
        "fd = os.memfd_create('kworker', 0)\n"
        "os.write(fd, data)\n"
        "print('ready', flush=True)\n"
        "os.execv('/proc/self/fd/%d' % fd, ['kworker', '300'])\n"
    )
    proc = planted.start([sys.executable, "-c", code], ready="ready")
    for _ in range(200):
        if os.readlink(f"/proc/{proc.pid}/exe").startswith("/memfd:"):
            break
        await asyncio.sleep(0.01)
    assert os.readlink(f"/proc/{proc.pid}/exe").startswith("/memfd:kworker")
    result = await collect(host, proc.pid, tmp_path / "ev", AuditLog(tmp_path / "a.jsonl"))
    assert result.outcome is Outcome.DONE, result
    assert result.details["exe_sha256_on_bastion"] == original
    assert result.details["exe_sha256_on_host"] == original


async def test_collect_records_the_sockets_of_the_process(
    host: HostExec, planted: Planted, tmp_path: Path
) -> None:
    port = 45123 if port_free(45123) else free_port()
    proc = listener(planted, port)
    result = await collect(host, proc.pid, tmp_path / "ev", AuditLog(tmp_path / "a.jsonl"))
    assert result.outcome is Outcome.DONE, result
    folder = Path(result.details["folder"])
    sockets = json.loads((folder / "sockets.json").read_text())
    tcp = [s for s in sockets if s["kind"] == "tcp"]
    assert tcp, sockets
    assert f":{port:04X} " in tcp[0]["line"]  # 0100007F:B043 ... the listening port in hex


class Tampering(LocalExec):
    """This machine, with a copy that differs from what the host has (a man in the middle)."""

    async def fetch(self, remote: str, local: Path, *, limit: int | None = None) -> int:
        copied = await super().fetch(remote, local, limit=limit)
        with local.open("ab") as f:
            f.write(b"\0")
        return copied + 1


async def test_a_hash_mismatch_between_host_and_copy_is_reported(
    planted: Planted, tmp_path: Path
) -> None:
    proc = planted.start([SLEEP, "300"])
    result = await collect(Tampering("me"), proc.pid, tmp_path / "ev", AuditLog(tmp_path / "a"))
    assert result.outcome is Outcome.UNVERIFIED
    assert "MISMATCH" in result.verification


async def test_bundle_copies_logs_and_persistence_without_password_hashes(
    host: HostExec, tmp_path: Path
) -> None:
    evidence = tmp_path / "evidence"
    audit = AuditLog(tmp_path / "audit.jsonl")
    ctx = ActionContext(exec=host, evidence_dir=evidence, incident="IR-3")
    params = {"max_file": "65536", "max_total": str(2 << 20)}
    plan, result = await run_action(
        get("bundle"), ctx, params, confirm=yes, dry_run=False, audit=audit
    )
    assert result.outcome in (Outcome.DONE, Outcome.UNVERIFIED), result
    files = [p for p, _ in plan.params["files"]]
    assert "/etc/passwd" in files
    assert "/etc/shadow" not in files
    entries = EvidenceStore(evidence).entries()
    passwd = next(e for e in entries if e.remote == "/etc/passwd")
    copied = evidence / passwd.path
    if Path("/etc/passwd").stat().st_size <= 65536:
        assert copied.read_bytes() == Path("/etc/passwd").read_bytes()
    assert all(e.size <= 65536 for e in entries if e.action == "bundle" and e.remote != "")
    total = sum(e.size for e in entries if e.remote not in ("", "/etc/shadow"))
    assert total <= 2 << 20
    shadow = [e for e in entries if e.remote == "/etc/shadow"]
    if Path("/etc/shadow").exists():
        (entry,) = shadow
        assert "hashes removed" in entry.note
        for line in (evidence / entry.path).read_text().splitlines():
            fields = line.split(":")
            assert len(fields) < 2 or not fields[1].lstrip("!").startswith("$"), line
    assert verify(evidence) == []


async def test_bundle_redacts_real_hashes(tmp_path: Path) -> None:
    """The host script's redaction, pointed at a shadow file with real-looking hashes."""
    script = module.SCRIPT.replace("'/etc/shadow'", repr(str(tmp_path / "shadow")))
    (tmp_path / "shadow").write_text(
        "root:$6$salt$abcdef:19000:0:99999:7:::\n"
        "daemon:*:19000:0:99999:7:::\n"
        "locked:!$y$j9T$hash:19000::::::\n"
        "nopw::19000::::::\n"
    )
    answer = await LocalExec().run_python(script, {"op": "list", "max_listed": 10})
    text = base64.b64decode(answer["shadow"]).decode()
    assert "$6$" not in text and "$y$" not in text
    assert text.splitlines() == [
        "root:<hash removed>:19000:0:99999:7:::",
        "daemon:*:19000:0:99999:7:::",
        "locked:!<hash removed>:19000::::::",
        "nopw::19000::::::",
    ]


def test_evidence_verify_finds_modified_missing_and_extra_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "evidence"
    store = EvidenceStore(root)
    first = store.write(b"one", "web\n1", ("a", "b.txt"), remote="/etc/x", action="bundle")
    second = store.write(b"two", "web1", ("a", "c.txt"), remote="/etc/y", action="bundle")
    assert first.path == "web_1/a/b.txt"
    assert main(["evidence", "verify", str(root)]) == 0

    path = root / first.path
    path.chmod(0o600)
    path.write_bytes(b"One")
    assert main(["evidence", "verify", str(root)]) == 1
    assert f"changed: {first.path}" in capsys.readouterr().err
    path.write_bytes(b"one")
    assert main(["evidence", "verify", str(root)]) == 0

    (root / second.path).unlink()
    (root / "web1" / "planted.txt").write_text("x")
    problems = verify(root)
    assert f"missing: {second.path}" in problems
    assert "extra: web1/planted.txt (not in the manifest)" in problems
    assert main(["evidence", "verify", str(tmp_path)]) == 2  # no manifest there


def test_paths_and_incident_ids_are_safe(tmp_path: Path) -> None:
    assert safe_name("../../etc/passwd") == "_.._etc_passwd"
    assert safe_name("..") == "_"
    assert safe_name("") == "_"
    assert safe_name("\x1b]0;x\x07") == "__0_x_"
    assert incident_evidence_dir("IR-7", tmp_path) == tmp_path / "incidents/IR-7/evidence"
    assert incident_evidence_dir(None, tmp_path).parent.name == "unfiled"
    for bad in ("../x", "a/b", ".hidden", "", "x" * 200):
        if bad:
            with pytest.raises(ValueError):
                incident_evidence_dir(bad, tmp_path)
    store = EvidenceStore(tmp_path / "ev")
    one = store.new_path("h", "f")
    one.write_text("x")
    assert store.new_path("h", "f").name == "f-2"


def test_kill_after_collect_from_the_cli(planted: Planted, tmp_path: Path) -> None:
    proc = planted.start([SLEEP, "300"])
    log, ev = tmp_path / "audit.jsonl", tmp_path / "ev"
    common = ["--pid", str(proc.pid), "--audit-log", str(log), "--evidence-dir", str(ev)]
    assert main(["act", "local", "kill", *common, "--yes"]) == 1  # no evidence yet
    assert main(["act", "local", "collect", *common]) == 0  # read-only: no --yes needed
    assert main(["act", "local", "kill", *common, "--yes"]) == 0
    proc.wait(timeout=10)
    assert proc.returncode == -9
    assert main(["evidence", "verify", str(ev)]) == 0
