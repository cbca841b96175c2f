"""Persistence, account, tampering and file rules, on real files in temporary system roots
gathered by backends.facts (and a few hand-built facts for kernel state)."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

from backends.facts import gather_facts
from backends.facts_decode import decode_facts
from domain.detect import Detector
from domain.facts import (
    AgentInstall,
    CloudFacts,
    HostFacts,
    KernelFacts,
    KernelModule,
    PackageActivity,
)
from domain.findings import Finding, Severity
from tests.fakes import T0, metrics, process
from tests.sysroots import (
    Sysroot,
    write,
)

# Fixtures: planted processes, a fake pool, system roots.

C, H, M, L = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW
DAY = 86400.0


def facts_of(root: Path) -> HostFacts:
    """The facts of a system root, gathered as `sickbay scan --sysroot` does."""
    request = Detector().facts_request(None)
    return decode_facts(gather_facts(str(root), probe_paths=request.probe_paths), f"sysroot:{root}")


def scan(root: Path, detector: Detector | None = None) -> list[Finding]:
    facts = facts_of(root)
    return (detector or Detector()).evaluate(None, facts, now=time.time())


def by(findings: list[Finding], rule: str) -> dict[str, Severity]:
    """path (or user) -> severity of one rule's findings."""
    return {
        (f.evidence.path or "") + (f":{f.evidence.line}" if f.evidence.line else ""): f.severity
        for f in findings
        if f.rule_id == rule
    }


def test_compromised_root_persistence(compromised_root: Sysroot) -> None:
    fs = scan(compromised_root.root)
    cron = by(fs, "PERS-CRON")
    assert cron["/etc/crontab:" + str(_line(compromised_root.root / "etc/crontab", "curl"))] == C
    assert cron["/etc/cron.d/tomcat:1"] == C  # runs a miner-named program from a hidden temp dir
    assert cron["/var/spool/cron/crontabs/root:1"] == H
    assert cron["/etc/cron.d/evil-text:2"] == H
    assert "/etc/cron.d/evil-text:1" not in cron  # a comment, however hostile
    assert by(fs, "PERS-SYSTEMD") == {"/etc/systemd/system/sysupdate.service:4": C}
    assert by(fs, "PERS-UNIT-LINK") == {"/etc/systemd/system/update.service": H}
    assert by(fs, "PERS-PRELOAD") == {"/etc/ld.so.preload:1": C}
    assert by(fs, "PERS-FIREWALL-FILE") == {"/etc/iptables/rules.v4:2": H}
    assert by(fs, "PERS-PROFILE") == {"/home/backdoor/.bashrc:1": M, "/home/backdoor/.bashrc:2": M}


def _line(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_compromised_root_keys_accounts_and_tampering(compromised_root: Sysroot) -> None:
    fs = scan(compromised_root.root)
    assert by(fs, "PERS-AUTHKEY-COMMAND") == {"/root/.ssh/authorized_keys:2": C}
    assert by(fs, "PERS-AUTHKEY-SYSTEM-USER") == {"/var/lib/redis/.ssh/authorized_keys:4": C}
    junk = by(fs, "PERS-AUTHKEY-JUNK")
    assert junk and all(s == C for s in junk.values())
    users = {f.evidence.user: f.severity for f in fs if f.rule_id.startswith("ACCT-")}
    assert users == {"toor": C, "backdoor": H}
    assert [f.rule_id for f in fs if f.evidence.user == "toor"] == ["ACCT-UID0"]
    assert by(fs, "TAMP-HISTORY-OFF") == {"/root/.bash_history": H}
    assert by(fs, "TAMP-LOG-EMPTY") == {"/var/log/auth.log": M}
    if compromised_root.immutable:
        assert by(fs, "TAMP-IMMUTABLE") == {"/etc/cron.d/tomcat": H}


def test_compromised_root_files(compromised_root: Sysroot) -> None:
    fs = scan(compromised_root.root)
    assert by(fs, "FILE-SETID") == {"/tmp/.ICE-unix/.x/sh": C}
    assert by(fs, "FILE-TEMP-EXEC") == {
        "/tmp/.ICE-unix/.x/sysupdate": C,
        "/dev/shm/.s/sysupdate": C,
        "/tmp/kdevtmpfsi": C,
    }
    assert set(by(fs, "FILE-IOC-PATH")) == {
        "/tmp/kdevtmpfsi",
        "/usr/bin/wge",
        "/usr/local/lib/libioset.so",
    }


def test_fresh_systems_are_quiet(debian_root: Sysroot, centos_root: Sysroot) -> None:
    for sysroot in (debian_root, centos_root):
        fs = scan(sysroot.root)
        assert fs == [], [(f.rule_id, f.severity.label, f.evidence) for f in fs]


def test_setid_programs_distributions_ship_are_not_reported(centos_root: Sysroot) -> None:
    facts = facts_of(centos_root.root)
    assert {m.path for m in facts.setid_files} == {"/usr/bin/passwd", "/usr/bin/crontab"}
    assert by(Detector().evaluate(None, facts), "FILE-SETID") == {}


def test_recent_changes_after_install(debian_root: Sysroot) -> None:
    root = debian_root.root
    marker = root / "etc/ssh/ssh_host_ed25519_key.pub"
    installed = time.time() - 200 * DAY
    os.utime(marker, (installed, installed))
    for path in root.rglob("*"):
        if not path.is_symlink():
            os.utime(path, (installed, installed))
    write(root, "/etc/cron.d/new-job", "0 3 * * * root /usr/local/bin/backup\n")
    old = write(root, "/etc/cron.d/old-job", "0 4 * * * root /usr/local/bin/report\n")
    os.utime(old, (time.time() - 40 * DAY,) * 2)
    assert by(scan(root), "PERS-RECENT-CHANGE") == {"/etc/cron.d/new-job": L}


def test_a_log_truncated_while_watching(debian_root: Sysroot) -> None:
    root = debian_root.root
    write(root, "/var/log/syslog", "x" * 5000)
    detector = Detector()
    first = facts_of(root)
    assert by(detector.evaluate(None, first), "TAMP-LOG-SHRUNK") == {}
    write(root, "/var/log/syslog", "x" * 10)
    second = facts_of(root)
    assert by(detector.evaluate(None, second), "TAMP-LOG-SHRUNK") == {"/var/log/syslog": H}
    # Still reported while the same facts are evaluated (e.g. with every new snapshot).
    assert by(detector.evaluate(None, second), "TAMP-LOG-SHRUNK") == {"/var/log/syslog": H}


def test_logrotate_is_not_truncation(debian_root: Sysroot) -> None:
    root = debian_root.root
    write(root, "/var/log/syslog", "x" * 5000)
    detector = Detector()
    detector.evaluate(None, facts_of(root))
    (root / "var/log/syslog").rename(root / "var/log/syslog.1")
    write(root, "/var/log/syslog", "")
    fs = detector.evaluate(None, facts_of(root))
    assert by(fs, "TAMP-LOG-SHRUNK") == {} and by(fs, "TAMP-LOG-EMPTY") == {}


def test_new_account_while_watching(debian_root: Sysroot) -> None:
    root = debian_root.root
    detector = Detector()
    assert by(detector.evaluate(None, facts_of(root)), "ACCT-NEW") == {}
    passwd = (root / "etc/passwd").read_text()
    write(root, "/etc/passwd", passwd + "sysadm:x:0:0::/root:/bin/bash\n")
    fs = [f for f in detector.evaluate(None, facts_of(root)) if f.rule_id == "ACCT-NEW"]
    assert [(f.evidence.user, f.severity) for f in fs] == [("sysadm", C)]


def test_service_account_with_login_and_recent_password(tmp_path: Path) -> None:
    today = int(time.time() // DAY)
    write(
        tmp_path,
        "/etc/passwd",
        "root:x:0:0::/root:/bin/bash\ngames:x:5:60::/usr/games:/bin/bash\nann:x:1000:1000::/home/ann:/bin/bash\n",
    )
    write(
        tmp_path,
        "/etc/shadow",
        f"root:*:1:::::\ngames:$6$x$y:{today - 400}:::::\nann:$6$x$y:{today - 2}:::::\n",
        0o600,
    )
    write(tmp_path, "/root/anaconda-ks.cfg", "")
    os.utime(tmp_path / "root/anaconda-ks.cfg", (time.time() - 300 * DAY,) * 2)
    fs = scan(tmp_path)
    assert {f.evidence.user: f.rule_id for f in fs if f.rule_id.startswith("ACCT")} == {
        "games": "ACCT-SERVICE-LOGIN",
        "ann": "ACCT-RECENT-PASSWORD",
    }


def _facts(**kw: object) -> HostFacts:
    return replace(HostFacts(host="h", root="/", gathered_at=T0), **kw)  # type: ignore[arg-type]


def test_kernel_taint_and_hidden_modules() -> None:
    modules = (
        KernelModule("ext4", 1, "Live", ""),
        KernelModule("nvidia", 1, "Live", "POE"),
        KernelModule("diamorphine", 1, "Live", "OE"),
    )
    fs = Detector().evaluate(None, _facts(kernel=KernelFacts("6.1", 12289, modules)))
    assert [f.evidence.text for f in fs if f.rule_id == "TAMP-KERNEL-TAINT"] == ["diamorphine (OE)"]
    hidden = Detector().evaluate(None, _facts(kernel=KernelFacts("6.1", 4096 | 8192, modules[:1])))
    assert [f.rule_id for f in hidden] == ["TAMP-HIDDEN-MODULE"]
    clean = Detector().evaluate(None, _facts(kernel=KernelFacts("6.1", 512, modules[:1])))
    assert clean == []


def test_miner_kernel_tuning() -> None:
    msr = (KernelModule("msr", 1, "Live", ""),)
    tuned = Detector().evaluate(None, _facts(kernel=KernelFacts("6.1", 0, msr, nr_hugepages=1280)))
    assert [(f.rule_id, f.severity) for f in tuned] == [("TAMP-MINER-TUNING", L)]
    assert (
        Detector().evaluate(None, _facts(kernel=KernelFacts("6.1", 0, msr, nr_hugepages=0))) == []
    )


def test_cloud_agents() -> None:
    from domain.model import HostSnapshot  # noqa: PLC0415

    aegis = AgentInstall("aliyun-aegis", "alibaba", ("/usr/local/aegis",))
    yunjing = AgentInstall("tencent-yunjing", "tencent", ())
    facts = _facts(agents=(aegis, yunjing), cloud=CloudFacts(dmi_vendor="Tencent Cloud"))

    def snapshot(*names: str) -> HostSnapshot:
        procs = tuple(process(100 + i, n) for i, n in enumerate(names))
        return HostSnapshot("h", "h", T0, "test", metrics(1), procs, ())

    fs = Detector().evaluate(snapshot("sshd"), facts)
    assert {f.rule_id: f.severity for f in fs} == {"TAMP-AGENT-STOPPED": H, "TAMP-AGENT-MISSING": M}
    running = Detector().evaluate(snapshot("AliYunDun", "AliYunDunMonito"), facts)
    assert [f.rule_id for f in running] == ["TAMP-AGENT-MISSING"]
    offline = Detector().evaluate(None, replace(facts, cloud=CloudFacts()))
    assert offline == []  # no processes to check, no cloud to expect an agent on


def test_stale_packages() -> None:
    now = T0
    old = _facts(packages=PackageActivity(now - 120 * DAY))
    assert [(f.rule_id, f.severity) for f in Detector().evaluate(None, old, now=now)] == [
        ("TAMP-STALE-PACKAGES", L)
    ]
    assert (
        Detector().evaluate(None, _facts(packages=PackageActivity(now - 10 * DAY)), now=now) == []
    )
