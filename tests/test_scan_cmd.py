"""`sickbay scan`: output formats, exit statuses, --sysroot, and this machine."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.planted import Planted, deleted_binary, kworker_impostor
from tests.sysroots import (
    Sysroot,
    write,
)
from tui.scan_cmd import EXIT_NOINPUT, EXIT_RULES, EXIT_USAGE, add_scan_parser, cmd_scan, run_scan

# Fixtures: planted processes, a fake pool, system roots.

REPO = Path(__file__).resolve().parent.parent


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_sysroot_json_one_finding_per_line(
    compromised_root: Sysroot, capsys: pytest.CaptureFixture[str]
) -> None:
    status = run_scan(["--sysroot", str(compromised_root.root), "--format", "json"])
    out, err = capsys.readouterr()
    findings = json_lines(out)
    assert status == 4
    assert findings and all(f["schema"] == "sickbay.finding/1" for f in findings)
    first = findings[0]
    assert set(first) >= {
        "host",
        "rule_id",
        "severity",
        "title",
        "explanation",
        "evidence",
        "attack",
        "actions",
        "first_seen",
        "last_seen",
        "key",
    }
    assert first["host"] == f"sysroot:{compromised_root.root}"
    assert first["severity"] == "critical"
    rules = {f["rule_id"] for f in findings}
    assert {
        "PERS-CRON",
        "PERS-SYSTEMD",
        "PERS-PRELOAD",
        "PERS-AUTHKEY-COMMAND",
        "ACCT-UID0",
        "ACCT-EMPTY-PASSWORD",
        "FILE-SETID",
    } <= rules
    assert "\x1b" not in out  # JSON keeps escapes escaped
    assert "finding(s)" in err and "cannot fire in one pass" not in err  # files only: no note


def test_sysroot_table_shows_hostile_text_escaped(
    compromised_root: Sysroot, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # lines are cut to the terminal's width
    status = run_scan(["--sysroot", str(compromised_root.root)])
    out, _ = capsys.readouterr()
    assert status == 4
    assert "\x1b" not in out and "\udcff" not in out
    assert "CRITICAL  ACCT-UID0" in out
    assert "/tmp/\\xff\\e[2J.sh" in out  # the hostile cron line, made visible


def test_fresh_systems_scan_clean(
    debian_root: Sysroot, centos_root: Sysroot, capsys: pytest.CaptureFixture[str]
) -> None:
    for sysroot in (debian_root, centos_root):
        assert run_scan(["--sysroot", str(sysroot.root), "--format", "json"]) == 0
        out, err = capsys.readouterr()
        assert out == "" and "0 finding(s)" in err


def test_min_severity_filters_output_not_status(
    compromised_root: Sysroot, capsys: pytest.CaptureFixture[str]
) -> None:
    status = run_scan(
        ["--sysroot", str(compromised_root.root), "--format", "json", "--min-severity", "critical"]
    )
    findings = json_lines(capsys.readouterr().out)
    assert status == 4 and {f["severity"] for f in findings} == {"critical"}


def test_rules_file_allowlist_changes_status(
    compromised_root: Sysroot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = write(tmp_path, "/allow.toml", '[allow]\nrules = ["*"]\n')
    assert run_scan(["--sysroot", str(compromised_root.root), "--rules", str(rules)]) == 0
    capsys.readouterr()


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["--format", "xml"], EXIT_USAGE),
        (["--bogus"], EXIT_USAGE),
        (["@no-such-group"], EXIT_USAGE),  # resolved before any connection is tried
        (["web1", "--sysroot", "/"], EXIT_USAGE),
        (["root@host:notaport"], EXIT_USAGE),
        (["--rate-window", "-1"], EXIT_USAGE),
        (["--sysroot", "/nonexistent/dir"], EXIT_NOINPUT),
        (["--help"], 0),
    ],
)
def test_usage_and_operational_errors(
    argv: list[str], status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_scan(argv) == status
    _, err = capsys.readouterr()
    if status:
        assert "sickbay scan" in err


def test_bad_rules_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = write(
        tmp_path, "/bad.toml", "[[rules.process]]\nid = 'X'\ntitle = 't'\ncmdline = '('\n"
    )
    assert run_scan(["--sysroot", str(tmp_path), "--rules", str(rules)]) == EXIT_RULES
    assert "bad regular expression" in capsys.readouterr().err


def test_wiring_into_the_main_parser(
    compromised_root: Sysroot, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="sickbay")
    commands = parser.add_subparsers(dest="command")
    add_scan_parser(commands)
    args = parser.parse_args(["scan", "--sysroot", str(compromised_root.root), "--format", "json"])
    assert args.handler is cmd_scan
    assert args.handler(args) == 4
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["scan", "--format", "xml"])
    assert exc.value.code == EXIT_USAGE  # not argparse's 2, which means "medium" here


def test_exit_status_of_the_real_command(compromised_root: Sysroot) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui.scan_cmd",
            "--sysroot",
            str(compromised_root.root),
            "--format",
            "json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 4, done.stderr
    assert all(json.loads(line)["host"].startswith("sysroot:") for line in done.stdout.splitlines())


# -- this machine -----------------------------------------------------------------------------


def test_clean_host_has_no_critical_or_high_findings(capsys: pytest.CaptureFixture[str]) -> None:
    """The test machine itself (real local snapshot + real facts) must not cry wolf."""
    status = run_scan(["--format", "json", "--rate-window", "0.3"])
    out, err = capsys.readouterr()
    loud = [f for f in json_lines(out) if f["severity"] in ("critical", "high")]
    assert loud == [], "\n".join(f"{f['rule_id']} {f['evidence']}" for f in loud)
    assert status <= 2
    assert "cannot fire in one pass" in err


def test_scan_finds_planted_processes(planted: Planted, capsys: pytest.CaptureFixture[str]) -> None:
    dropper = deleted_binary(planted, "kd")
    impostor = kworker_impostor(planted)
    status = run_scan(["--format", "json", "--rate-window", "0"])
    findings = json_lines(capsys.readouterr().out)
    about = {(f["rule_id"], f["evidence"].get("pid")) for f in findings}
    assert ("PROC-EXE-DELETED", dropper.pid) in about
    assert ("PROC-KTHREAD-IMPOSTOR", impostor.pid) in about
    assert status == 4
