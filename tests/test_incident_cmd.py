"""``sickbay incident`` and ``sickbay report`` on a real case file: open, note, set steps, show,
close, export a report (which the checklist's report step then verifies), in both languages;
missing incidents and unusable files give their exit status; host text is printed visibly."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from backends.casefile import CaseFile
from domain.checklist import CheckStatus, VerificationState, load_checklist, verify_step
from domain.findings import Evidence, Finding, Severity
from tui.cli import main

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def case_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cases.sqlite3"
    monkeypatch.setenv("SICKBAY_CASE_FILE", str(path))
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    return path


def sickbay(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_incident_lifecycle(case_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sickbay(capsys, "incident", "list") == (0, "no incidents\n", "")
    status, out, _ = sickbay(capsys, "incident", "open", "Miner", "on", "web1")
    assert status == 0 and out.startswith("opened INC-") and out.endswith(": Miner on web1\n")
    incident = out.split()[1].rstrip(":")
    status, out, _ = sickbay(capsys, "incident", "list")
    assert status == 0 and incident in out and "open" in out and "Miner on web1" in out

    # what the console would record while watching
    cases = CaseFile(case_file)
    cases.record_finding(
        incident,
        Finding("PROC-MINER-NAME", "Cryptominer process", Severity.CRITICAL, "x",
                Evidence(pid=7, process="xmrig\x1b]0;pwned\x07"), host="web1",
                first_seen=1_800_000_000.0, last_seen=1_800_000_060.0),
    )  # fmt: skip
    cases.disconnect()

    assert sickbay(capsys, "incident", "note", "called", "the", "provider")[0] == 0
    status, out, _ = sickbay(capsys, "incident", "step", "isolate", "done")
    assert (status, out) == (0, f"{incident}: step isolate is now done\n")
    status, _, err = sickbay(capsys, "incident", "step", "teleport", "done")
    assert status == 2 and "no step teleport in the checklist" in err

    status, out, _ = sickbay(capsys, "incident", "show")
    assert status == 0
    assert "Cryptominer process" in out and "called the provider" in out
    assert "xmrig\\e]0;pwned\\x07" in out and "\x1b" not in out  # host text made visible
    assert "[x] isolate" in out and "[ ] preserve" in out
    assert 'Containment (step "Isolate the host")' in out

    status, out, _ = sickbay(capsys, "incident", "show", "--language", "zh")
    assert status == 0 and "处置清单" in out and "Cryptominer process" in out

    assert sickbay(capsys, "incident", "close")[1] == f"closed {incident}\n"
    assert sickbay(capsys, "incident", "close", incident)[1] == f"{incident} was already closed\n"
    status, _, err = sickbay(capsys, "incident", "close")
    assert status == 1 and "no open incident" in err
    status, _, err = sickbay(capsys, "incident", "note", "late")
    assert status == 1 and "no open incident" in err
    # show without an id: the newest, even when closed
    status, out, _ = sickbay(capsys, "incident", "show")
    assert status == 0 and f"{incident}  closed" in out
    status, _, err = sickbay(capsys, "incident", "show", "INC-19990101-0001")
    assert status == 1 and "no incident 'INC-19990101-0001'" in err


def test_report_command_writes_records_and_verifies(
    case_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = sickbay(capsys, "incident", "open", "<script>x</script>")
    incident = out.split()[1].rstrip(":")
    status, out, _ = sickbay(capsys, "report")
    assert status == 0 and out.startswith(f"# Incident report: {incident}")
    assert "\\<script\\>" in out

    target = tmp_path / "out" / "report.html"
    target.parent.mkdir()
    status, _, err = sickbay(capsys, "report", incident, "--format", "html", "-o", str(target),
                             "--language", "zh")  # fmt: skip
    assert status == 0 and "报告已写入" in err
    page = target.read_text("utf-8")
    assert "安全事件报告" in page and "&lt;script&gt;" in page and "<script>" not in page
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]  # no temp file left

    # the export is recorded; the checklist's report step verifies it from the case file alone
    cases = CaseFile(case_file)
    case = cases.case(incident)
    (export,) = case.actions
    assert export.action == "report" and export.host == ""
    assert export.params["path"] == str(target) and export.params["language"] == "zh"
    assert f"sha256 {hashlib.sha256(target.read_bytes()).hexdigest()}" in export.verification
    step = load_checklist().step("report")
    assert step is not None
    (result,) = verify_step(step, VerificationState(case=case, now=export.at))
    assert result.status is CheckStatus.PASSED
    assert case.hosts == ()  # an incident-wide record names no host

    # the next report shows the check as passed
    status, out, _ = sickbay(capsys, "report", "--format", "json")
    data = json.loads(out)
    assert data["schema"] == "sickbay.report/1"
    report_step = next(s for s in data["checklist"] if s["step"] == "report")
    assert report_step["check"] == "passed"


def test_case_file_option_and_unusable_files(
    case_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.sqlite3"
    assert sickbay(capsys, "incident", "open", "--case-file", str(other), "elsewhere")[0] == 0
    assert other.exists() and not case_file.exists()
    status, out, _ = sickbay(capsys, "incident", "--case-file", str(other), "list")
    assert status == 0 and "elsewhere" in out
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database" * 100)
    status, _, err = sickbay(capsys, "incident", "list", "--case-file", str(junk))
    assert status == 2 and "not a usable case file" in err
    status, _, err = sickbay(capsys, "report", "--case-file", str(junk))
    assert status == 2
    status, _, err = sickbay(capsys, "report", "--case-file", str(tmp_path / "empty.sqlite3"))
    assert status == 1 and "no open incident" in err


def test_a_user_checklist_replaces_the_default(
    case_file: Path, isolated_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (isolated_config / "sickbay").mkdir(parents=True, exist_ok=True)
    (isolated_config / "sickbay" / "checklist.toml").write_text(
        '[clock]\ncontained_by = "cut"\n[[steps]]\nid = "cut"\nactions = ["isolate"]\n'
        '[steps.en]\ntitle = "Cut it off"\ntext = "Do it."\n'
        '[steps.zh]\ntitle = "断网"\ntext = "做。"\n',
        encoding="utf-8",
    )
    sickbay(capsys, "incident", "open", "custom")
    status, out, _ = sickbay(capsys, "incident", "step", "cut", "in-progress")
    assert status == 0
    status, out, _ = sickbay(capsys, "incident", "show")
    assert "Cut it off: in progress" in out and "preserve" not in out
    (isolated_config / "sickbay" / "checklist.toml").write_text("steps = 1\n", encoding="utf-8")
    status, _, err = sickbay(capsys, "incident", "show")
    assert status == 2 and "checklist.toml" in err


def test_locale_picks_chinese(case_file: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    status, out, _ = sickbay(capsys, "incident", "open", "挖矿")
    assert status == 0 and out.startswith("已创建 INC-")


def test_the_commands_are_registered_in_the_real_cli(case_file: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tui", "incident", "open", "from a subprocess"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "SICKBAY_CASE_FILE": str(case_file)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert CaseFile(case_file).current() is not None
    helped = subprocess.run(
        [sys.executable, "-m", "tui", "report", "--help"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert helped.returncode == 0 and "--format" in helped.stdout and "--language" in helped.stdout


def test_configured_language_wins_over_the_locale(
    case_file: Path, isolated_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (isolated_config / "sickbay").mkdir(parents=True, exist_ok=True)
    (isolated_config / "sickbay" / "config.toml").write_text('language = "zh"\n', encoding="utf-8")
    status, out, _ = sickbay(capsys, "incident", "open", "x")
    assert status == 0 and out.startswith("已创建 INC-")
    status, out, _ = sickbay(capsys, "incident", "list", "--language", "en")
    assert status == 0 and " open " in out  # the option wins over the config
