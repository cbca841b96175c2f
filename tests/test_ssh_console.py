"""SSH targets in the console and on the command line, against the real sshd fixture."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from textual.widgets import Button

from backends.ssh import SshSource, SshTarget
from screens.confirm import ConfirmScreen
from screens.host import HostScreen
from tests.planted import FakePool, Planted, deleted_binary, kworker_impostor, miner
from tests.sshd import Sshd
from tui.app import SickbayApp
from tui.config import HostEntry, Settings
from tui.targets import Resolver, TargetError, split_target

REPO = Path(__file__).resolve().parent.parent


def test_split_target() -> None:
    assert split_target("web1") == (None, "web1", None)
    assert split_target("root@10.0.0.5:2222") == ("root", "10.0.0.5", 2222)
    assert split_target("ops@[::1]:22") == ("ops", "::1", 22)
    assert split_target("fe80::1") == (None, "fe80::1", None)
    for bad in ("root@", "host:99999", "host:x"):
        try:
            split_target(bad)
        except TargetError:
            continue
        raise AssertionError(bad)


def test_groups_and_config_hosts_resolve() -> None:
    hosts = (
        HostEntry("bastion", "203.0.113.1", user="jump", tags=("infra",)),
        HostEntry("web1", "10.0.0.5", user="ops", port=2222, jump="bastion", tags=("prod",)),
        HostEntry("web2", "10.0.0.6", tags=("prod",)),
    )
    resolver = Resolver(hosts)
    assert resolver.expand(["@prod", "web1", "db9"]) == ["web1", "web2", "db9"]
    web1 = resolver.target("web1")
    assert (web1.host, web1.port, web1.user, web1.name) == ("10.0.0.5", 2222, "ops", "web1")
    assert web1.jump is not None and web1.jump.host == "203.0.113.1" and web1.jump.user == "jump"
    adhoc = resolver.target("root@10.9.9.9", port=2200, jump="bastion")
    assert (adhoc.port, adhoc.jump and adhoc.jump.name) == (2200, "bastion")
    try:
        resolver.expand(["@nothing"])
    except TargetError as exc:
        assert "nothing" in str(exc)
    else:
        raise AssertionError("an unknown group must be an error")


async def test_unknown_host_key_is_trusted_only_by_an_explicit_decision(
    sshd: Sshd, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")  # this host's key is unknown
    source = SshSource(
        SshTarget(
            sshd.host, sshd.port, sshd.user, name="web1", client_keys=(sshd.client_key_path,),
            use_agent=False, known_hosts=(known_hosts,),
        ),
        connect_timeout=5,
    )  # fmt: skip
    app = SickbayApp(source, Settings(interval=0.3))
    async with app.run_test(size=(120, 40)) as pilot:
        record = app.records["web1"]
        for _ in range(100):
            await pilot.pause(0.05)
            if record.fingerprint:
                break
        assert record.state == "host key unknown" and record.fingerprint.startswith("SHA256:")
        expected = sshd.host_key.get_fingerprint("sha256")
        assert record.fingerprint == expected

        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert expected in str(app.screen.body)
        assert app.focused is app.screen.query_one("#cancel", Button)  # focus starts on Cancel
        await pilot.press("enter")  # Enter on Cancel refuses
        await pilot.pause(1.0)
        assert isinstance(app.screen, HostScreen)
        assert record.state == "host key unknown" and known_hosts.read_text() == ""

        await pilot.press("a")
        await pilot.pause()
        app.screen.query_one("#confirm", Button).press()
        for _ in range(200):
            await pilot.pause(0.05)
            if record.state == "live":
                break
        assert record.state == "live" and record.snapshot is not None
        assert known_hosts.read_text().strip()  # the decision is recorded in known_hosts


def test_snapshot_of_a_target_over_ssh(sshd: Sshd, tmp_path: Path) -> None:
    """`sickbay snapshot user@host:port` as a user runs it, with their ~/.ssh (a temp HOME)."""
    env = _user_home(sshd, tmp_path)
    home = Path(env["HOME"])
    result = subprocess.run(
        [sys.executable, "-m", "tui", "snapshot", f"{sshd.user}@{sshd.host}:{sshd.port}",
         "--rate-window", "0.3"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["host"] == f"{sshd.user}@{sshd.host}:{sshd.port}"
    assert data["metrics"]["cpu_total"] is not None
    assert any(p["pid"] == 1 for p in data["processes"])

    (home / ".ssh/known_hosts").write_text("")
    refused = subprocess.run(
        [sys.executable, "-m", "tui", "snapshot", f"{sshd.user}@{sshd.host}:{sshd.port}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "not in known_hosts" in refused.stderr and "SHA256:" in refused.stderr


def _user_home(sshd: Sshd, tmp_path: Path) -> dict[str, str]:
    """An environment whose ~/.ssh has the fixture's client key and host key, nothing else."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(sshd.client_key_path, home / ".ssh/id_ed25519")
    (home / ".ssh/id_ed25519").chmod(0o600)
    shutil.copy(sshd.known_hosts, home / ".ssh/known_hosts")
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    return env


def test_scan_over_ssh_finds_planted_artifacts(
    sshd: Sshd, tmp_path: Path, planted: Planted, fake_pool: FakePool
) -> None:
    """Detection through the SSH collector: a deleted binary run from /dev/shm, a kernel-thread
    impostor and a stratum miner, planted for real, found by `sickbay scan user@host:port`."""
    dropped = deleted_binary(planted, "kdevtmpfsi")
    impostor = kworker_impostor(planted)
    mining = miner(planted, fake_pool)
    result = subprocess.run(
        [sys.executable, "-m", "tui", "scan", f"{sshd.user}@{sshd.host}:{sshd.port}",
         "--format", "json", "--rate-window", "0.3"],
        cwd=REPO, env=_user_home(sshd, tmp_path), capture_output=True, text=True, timeout=180,
        check=False,
    )  # fmt: skip
    assert result.returncode == 4, result.stderr  # critical
    findings = [json.loads(line) for line in result.stdout.splitlines()]
    by_pid: dict[int, set[str]] = {}
    for f in findings:
        assert f["host"] == f"{sshd.user}@{sshd.host}:{sshd.port}"
        if f["evidence"].get("pid") is not None:
            by_pid.setdefault(f["evidence"]["pid"], set()).add(f["rule_id"])
    assert {"PROC-MINER-NAME", "PROC-EXE-DELETED"} <= by_pid[dropped.pid]
    assert "PROC-KTHREAD-IMPOSTOR" in by_pid[impostor.pid]
    assert "PROC-MINER-CMDLINE" in by_pid[mining.pid]


def test_scan_reports_an_unreachable_target_and_goes_on(sshd: Sshd, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tui", "scan", "nobody@127.0.0.1:1",
         f"{sshd.user}@{sshd.host}:{sshd.port}", "--format", "json", "--rate-window", "0"],
        cwd=REPO, env=_user_home(sshd, tmp_path), capture_output=True, text=True, timeout=180,
        check=False,
    )  # fmt: skip
    assert result.returncode == 69, result.stderr
    assert "nobody@127.0.0.1:1" in result.stderr
    hosts = {json.loads(line)["host"] for line in result.stdout.splitlines()}
    assert hosts <= {f"{sshd.user}@{sshd.host}:{sshd.port}"}


# Writers of /tmp that are not the session under test, on a developer's machine: other pytest
# runs, and the job directories of the shell harness the developers' tools run commands in.
OTHER_WRITERS = ("pytest-of-", "bash_jobs.")


def _tree(roots: tuple[Path, ...], shallow: Path, exclude: Path) -> dict[str, float]:
    """Every file and directory (two levels deep; one under ``shallow``) with its mtime."""
    seen: dict[str, float] = {}
    for root in roots:
        deeper = [] if root == shallow else list(root.glob("*/*"))
        for path in [root, *root.glob("*"), *deeper]:
            if exclude in path.parents or path == exclude:
                continue
            top = path.relative_to(root).parts[:1] if path != root else ()
            if root == Path("/tmp") and top and top[0].startswith(OTHER_WRITERS):
                continue
            try:
                seen[str(path)] = path.lstat().st_mtime
            except OSError:
                continue
    return seen


async def test_a_session_writes_nothing_on_the_target(sshd: Sshd, tmp_path: Path) -> None:
    """The collector and the facts gatherer run from memory: after connecting, sampling and
    reading host facts, the places a dropper would use and the files in the login's home are
    unchanged. (sshd runs every command through the user's shell, whose own startup files may
    write deeper in the home, e.g. a pyenv rehash; that is the host's doing, not sickbay's.)"""
    home = Path(os.path.expanduser("~"))
    roots = tuple(p for p in (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), home) if p.is_dir())
    pytest_tmp = tmp_path.parents[1]  # this test run's own temporary files
    before = _tree(roots, home, pytest_tmp)
    source = SshSource(
        SshTarget(
            sshd.host, sshd.port, sshd.user, client_keys=(sshd.client_key_path,),
            use_agent=False, known_hosts=(sshd.known_hosts,),
        ),
    )  # fmt: skip
    try:
        await source.sample()
        await source.sample()
        await source.facts((), ())
    finally:
        await source.close()
    after = _tree(roots, home, pytest_tmp)
    assert sorted(set(after) - set(before)) == []
    changed = [p for p in before if p in after and after[p] != before[p]]
    assert changed == []
