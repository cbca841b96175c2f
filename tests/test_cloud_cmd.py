"""`sickbay cloud list|act`, run in-process (tui.cli.main) against the Tencent emulator with the
real SDK; the key comes from the environment as an operator's would. Nothing leaves loopback
(the loopback guard of tests/cloud_emu/guard.py applies here too)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.audit_log import AuditLog
from tests.agent_pages import page_budget
from tests.cloud_emu.aliyun_emu import AliyunEmulator
from tests.cloud_emu.tencent_emu import TencentEmulator
from tui import cli

pytestmark = pytest.mark.usefixtures("loopback_only")

REGION = "ap-guangzhou"
WEB, DB, WEB_SG = "ins-web00001", "ins-db000001", "sg-web00001"
OPERATOR = "198.51.100.20"
CHANGES = {
    "CreateSecurityGroup",
    "CreateSecurityGroupPolicies",
    "DeleteSecurityGroupPolicies",
    "ModifyInstancesAttribute",
    "StopInstances",
    "StartInstances",
    "RebootInstances",
    "CreateSnapshot",
    "RunCommand",
}


@pytest.fixture
def emu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TencentEmulator]:
    """The emulator (instant transitions: the CLI polls every 3 s), its key in the
    environment, a clean HOME, no system keyring, no audit log from the environment."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.delenv("SICKBAY_AUDIT_LOG", raising=False)
    monkeypatch.delenv("TENCENTCLOUD_REGION", raising=False)
    monkeypatch.setattr("backends.secrets.system_keyring", lambda: None)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal
    with TencentEmulator(region=REGION, transition_s=0.0, snapshot_s=0.0, command_s=0.0) as e:
        monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", e.secret_id)
        monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", e.secret_key)
        yield e


def sickbay(emu: TencentEmulator, *args: str) -> int:
    return cli.main(["cloud", *args, "--region", REGION, "--endpoint", emu.url])


def changes(emu: TencentEmulator) -> list[str]:
    return [c.action for c in emu.calls if c.action in CHANGES]


def test_list_as_json(emu: TencentEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert sickbay(emu, "list", "--provider", "tencent", "--format", "json") == 0
    out, err = capsys.readouterr()
    listed = {i["id"]: i for i in json.loads(out)}
    assert set(listed) == {WEB, DB}
    web = listed[WEB]
    assert web["provider"] == "tencent" and web["region"] == REGION
    assert web["state"] == "running" and web["raw_state"] == "RUNNING"
    assert web["private_ips"] == ["10.0.1.5"] and web["public_ips"] == ["203.0.113.10"]
    assert web["security_group_ids"] == [WEB_SG]
    assert web["tags"] == {"env": "prod", "role": "web"}
    assert "credentials: tencent: access key AKID****0000 from environment" in err
    assert emu.secret_key not in out + err
    assert changes(emu) == []


def test_list_as_a_table_shows_hostile_names_inert(
    emu: TencentEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emu.state.instances[WEB].name = "web\x1b]0;PWNED\x07\u202eevil"
    assert sickbay(emu, "list", "--provider", "tencent") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == [
        "PROVIDER",
        "REGION",
        "ID",
        "NAME",
        "STATE",
        "PRIVATE",
        "PUBLIC",
        "GROUPS",
        "ZONE",
    ]
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert any(WEB in line and "web" in line and "running" in line for line in lines)


def test_act_dry_run_prints_the_exact_calls_and_changes_nothing(
    emu: TencentEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "audit.jsonl"
    code = sickbay(
        emu,
        "act",
        WEB,
        "isolate",
        "--operator-address",
        OPERATOR,
        "--dry-run",
        "--audit-log",
        str(log),
    )
    assert code == 0
    out = capsys.readouterr().out
    name = f"sickbay-quarantine-{WEB}"
    assert out.startswith(f"isolate on web-1 ({WEB}): ")
    assert f"     $ vpc.CreateSecurityGroup [{REGION}] GroupName={name} " in out
    assert (
        "     $ vpc.CreateSecurityGroupPolicies [ap-guangzhou] SecurityGroupId=<new-group-id>"
        in out
    )
    assert (
        f"     $ cvm.ModifyInstancesAttribute [{REGION}] InstanceIds.0={WEB} "
        "SecurityGroups.0=<new-group-id>"
    ) in out
    assert f"  undo: unisolate instance_id={WEB} groups={WEB_SG}" in out
    assert "dry-run: previewed only (dry run): nothing was changed" in out
    # nothing changed: only reads reached the API, the instance is where it was
    assert changes(emu) == []
    assert all(c.action.startswith("Describe") for c in emu.calls)
    assert emu.state.instances[WEB].sg_ids == [WEB_SG]
    assert len(emu.state.groups) == 2
    (entry,) = AuditLog(log).entries()
    assert entry["outcome"] == "dry-run" and entry["action"] == "isolate"
    assert entry["steps"][0].startswith("vpc.CreateSecurityGroup")
    assert AuditLog(log).verify().ok


def test_act_yes_executes_verifies_and_records(
    emu: TencentEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "audit" / "audit.jsonl"
    args = ("act", WEB, "isolate", "--operator-address", OPERATOR, "--yes")
    assert sickbay(emu, *args, "--audit-log", str(log)) == 0
    out, err = capsys.readouterr()
    group = emu.state.instances[WEB].sg_ids[0]
    assert group != WEB_SG and emu.state.groups[group].name == f"sickbay-quarantine-{WEB}"
    assert f"done: {WEB} isolated in {group}" in out
    assert f"  verified: read back: {WEB} is in {group} only" in out
    assert "audit: entry 0 in" in err
    assert changes(emu) == [
        "CreateSecurityGroup",
        "CreateSecurityGroupPolicies",
        "CreateSecurityGroupPolicies",
        "CreateSecurityGroupPolicies",
        "ModifyInstancesAttribute",
    ]
    audit = AuditLog(log)
    assert audit.verify().ok
    (entry,) = audit.entries()
    assert entry["outcome"] == "done" and entry["host"] == f"web-1 ({WEB})"
    assert entry["params"]["operator"] == f"{OPERATOR}/32"
    assert entry["undo"] == ["unisolate", {"instance_id": WEB, "groups": WEB_SG}]
    # the request ids recorded are the gateway's, for each change made
    made = [c.request_id for c in emu.calls if c.action in CHANGES and not c.code]
    assert entry["request_ids"] == made
    assert (log.stat().st_mode & 0o077) == 0

    # and back, with the recorded undo, into the same log
    capsys.readouterr()
    undo_action, undo = entry["undo"]
    back = ("act", WEB, undo_action, "--groups", undo["groups"], "--yes")
    assert sickbay(emu, *back, "--audit-log", str(log)) == 0
    assert emu.state.instances[WEB].sg_ids == [WEB_SG]
    assert [e["outcome"] for e in audit.entries()] == ["done", "done"]
    assert audit.verify().ok


def test_act_without_yes_and_no_terminal_only_previews(
    emu: TencentEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = tmp_path / "env-audit.jsonl"
    monkeypatch.setenv("SICKBAY_AUDIT_LOG", str(log))  # the default path, from the environment
    assert sickbay(emu, "act", WEB, "block", "--address", "192.0.2.66") == 1
    out = capsys.readouterr().out
    assert "$ vpc.CreateSecurityGroupPolicies" in out
    assert "not confirmed: stdin is not a terminal" in out
    assert changes(emu) == []
    (entry,) = AuditLog(log).entries()
    assert entry["outcome"] == "cancelled"


def test_act_typed_confirmation_on_a_terminal(
    emu: TencentEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = tmp_path / "audit.jsonl"
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    answers = iter(["web-1", WEB])
    prompts: list[str] = []

    def typed(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("builtins.input", typed)
    # force-stop is irreversible: the instance id must be typed; a near miss is a no
    assert sickbay(emu, "act", WEB, "force-stop", "--audit-log", str(log)) == 1
    assert changes(emu) == [] and emu.instance_state(WEB) == "RUNNING"
    assert sickbay(emu, "act", WEB, "force-stop", "--audit-log", str(log)) == 0
    assert prompts == [f"type the instance id ({WEB}) to go ahead: "] * 2
    assert changes(emu) == ["StopInstances"]
    assert emu.state.instances[WEB].last_stop_type == "HARD"
    assert emu.instance_state(WEB) == "STOPPED"
    assert [e["outcome"] for e in AuditLog(log).entries()] == ["cancelled", "done"]
    assert "done: " in capsys.readouterr().out


def test_act_run_command_output_is_shown_inert(
    emu: TencentEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emu.command_handler = lambda instance, script: (0, "ok\n\x1b[2J\x1b]52;c;ZXZpbA==\x07wiped?\n")
    log = str(tmp_path / "audit.jsonl")
    args = ("act", WEB, "run-command", "--script", "uname -a", "--yes", "--audit-log", log)
    assert sickbay(emu, *args) == 0
    out = capsys.readouterr().out
    assert "    | ok" in out and "wiped?" in out
    assert "\x1b" not in out and "\x07" not in out
    (entry,) = AuditLog(Path(log)).entries()
    assert entry["details"]["exit_code"] == 0


def test_no_key_or_no_region_is_a_usage_error(
    emu: TencentEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["cloud", "list", "--provider", "tencent", "--endpoint", emu.url]) == 2
    assert "which region?" in capsys.readouterr().err
    monkeypatch.delenv("TENCENTCLOUD_SECRET_ID")
    assert sickbay(emu, "list", "--provider", "tencent") == 2
    err = capsys.readouterr().err
    assert "no tencent access key found" in err and "sickbay credentials set tencent" in err
    assert sickbay(emu, "act", "vm-123", "stop", "--yes") == 2
    assert "give --provider" in capsys.readouterr().err
    assert emu.calls == []


def test_wrong_key_is_a_clear_error(
    emu: TencentEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "not-the-right-secret")
    assert sickbay(emu, "list", "--provider", "tencent") == 1
    err = capsys.readouterr().err
    assert "AuthFailure.SignatureFailure" in err
    assert "not-the-right-secret" not in err


def test_list_aliyun_with_its_own_key(
    emu: TencentEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with AliyunEmulator(region="cn-hangzhou") as ali:
        vm = ali.add_instance("ali-web", private_ip="172.16.0.10", public_ip="47.100.1.10")
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", ali.key_id)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ali.secret)
        args = ["cloud", "list", "--provider", "aliyun", "--region", "cn-hangzhou"]
        assert cli.main([*args, "--endpoint", ali.url, "--format", "json"]) == 0
    out, err = capsys.readouterr()
    (listed,) = json.loads(out)
    assert (listed["id"], listed["provider"], listed["name"]) == (vm, "aliyun", "ali-web")
    assert "from environment (ALIBABA_CLOUD_ACCESS_KEY_ID)" in err
    assert emu.calls == []  # the Tencent emulator was not asked


def run_on_this_machine(instance_id: str, script: str) -> tuple[int, str]:
    """An emulated agent that really runs the script it is given, here."""
    done = subprocess.run(
        ["/bin/sh", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    return done.returncode, done.stdout


def test_a_snapshot_through_the_cloud_agent_runs_the_real_collector(
    emu: TencentEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """The emulator's agent really runs the command it is given (here, on this machine), so
    the collector, compressed into one shell line, is proven end to end."""

    emu.command_handler = run_on_this_machine
    code = sickbay(emu, "snapshot", WEB, "--provider", "tencent", "--yes")
    out, err = capsys.readouterr()
    assert code == 0, err
    snapshot = json.loads(out)
    pids = {p["pid"] for p in snapshot["processes"]}
    assert 1 in pids and len(pids) > 5  # this machine's processes, read from /proc
    assert snapshot["host"] == WEB
    runs = changes(emu)
    assert runs and set(runs) == {"RunCommand"}  # one run per page: as many as this host needs
    entries = AuditLog(Path(emu_audit_path())).entries()
    assert [e["details"]["page"] for e in entries] == list(range(1, len(runs) + 1))
    for entry in entries:
        assert entry["action"] == "run-command" and entry["outcome"] == "done"
        assert "output" not in entry["details"]  # the sample is not copied into the audit log
        assert len(entry["details"]["output_sha256"]) == 64


def test_a_big_sample_through_cloud_assistant_comes_in_pages(
    emu: TencentEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """More processes than one run's output holds: 120 planted sleepers and a small output
    limit. Cloud Assistant (emulated: 24 KB of output kept, 16 KB of command) runs the real
    collector page by page; every planted process is in the merged snapshot, once."""
    sleepers = [subprocess.Popen(["sleep", "60"]) for _ in range(120)]
    try:
        with AliyunEmulator(region="cn-hangzhou", command_s=0.0, transition_s=0.0) as ali:
            vm = ali.add_instance("ali-web", private_ip="172.16.0.10")

            ali.command_handler = run_on_this_machine
            monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", ali.key_id)
            monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ali.secret)
            args = ["cloud", "snapshot", vm, "--provider", "aliyun", "--region", "cn-hangzhou"]
            limit = str(page_budget(4))  # a few pages, however many processes this machine has
            code = cli.main([*args, "--endpoint", ali.url, "--yes", "--output-limit", limit])
            runs = [c for c in ali.calls if c.action == "RunCommand"]
            alive = all(p.poll() is None for p in sleepers)
    finally:
        for proc in sleepers:
            proc.kill()
            proc.wait()
    out, err = capsys.readouterr()
    assert code == 0, err
    assert len(runs) >= 2 and "page 2: the rows after the previous page" in err
    snapshot = json.loads(out)
    pids = [p["pid"] for p in snapshot["processes"]]
    assert len(pids) == len(set(pids))
    assert alive and {p.pid for p in sleepers} <= set(pids)
    assert any(f"sample taken in {len(runs)} pages" in e["what"] for e in snapshot["errors"])
    entries = AuditLog(Path(emu_audit_path())).entries()
    assert [e["details"]["page"] for e in entries] == list(range(1, len(runs) + 1))


def emu_audit_path() -> str:
    return os.path.join(os.environ["XDG_DATA_HOME"], "sickbay", "audit.jsonl")


def test_a_snapshot_through_the_agent_is_refused_without_confirmation(
    emu: TencentEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sickbay(emu, "snapshot", WEB, "--provider", "tencent") == 1
    assert changes(emu) == []
