"""scan: the ClamAV output parser on samples in ClamAV's real output format (clamscan and
clamdscan, with file names holding ": " and junk lines) and on arbitrary bytes (it never
raises); detections become findings with quarantine/collect actions; when ClamAV is not on the
host (as on this test machine: nothing is installed at run time) the result is FAILED saying so,
over LocalExec and SshExec. Where clamscan does exist, an EICAR file is really scanned.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.hostactions.base import ActionContext
from backends.hostactions.scan import (
    CLAMDSCAN,
    CLAMSCAN,
    SCAN,
    ScanProgress,
    findings_from_result,
    findings_of,
    parse_clamav,
    parse_paths,
)
from backends.hostexec_local import LocalExec
from domain.actions import ActionError, ActionPlan, Outcome, Risk
from domain.findings import Severity
from domain.hostexec import ExecResult, HostExec
from tests import test_host_files
from tests.test_host_files import act, audit_actions

host, ssh_exec = test_host_files.host, test_host_files.ssh_exec  # the shared fixtures

CLAMAV = next((p for p in CLAMSCAN + CLAMDSCAN if os.access(p, os.X_OK)), None)

# clamscan -r -i --stdout (ClamAV 1.0): detections, an unreadable file, the summary.
CLAMSCAN_OUTPUT = b"""\
/tmp/eicar.com: Win.Test.EICAR_HDB-1 FOUND
/var/tmp/.x/kdevtmpfsi: Multios.Coinminer.Miner-6781728-2 FOUND
/home/u/dir: with colon/payload: Unix.Trojan.Mirai-7100807-0 FOUND
/root/secret: Can't open file or directory ERROR
LibClamAV Warning: cli_realpath: Invalid arguments.

----------- SCAN SUMMARY -----------
Known viruses: 8697658
Engine version: 1.0.7
Scanned directories: 41
Scanned files: 317
Infected files: 3
Total errors: 1
Data scanned: 48.21 MB
Data read: 21.09 MB (ratio 2.29:1)
Time: 19.534 sec (0 m 19 s)
Start Date: 2024:06:01 10:00:00
End Date:   2024:06:01 10:00:19
"""

# clamdscan --fdpass -i --no-summary; then a daemon that is not running.
CLAMDSCAN_OUTPUT = b"""\
/dev/shm/.s/xmr: Multios.Coinminer.Miner-6781728-2 FOUND
/etc/cron.d/sys: Unix.Malware.Agent-123 FOUND
/tmp/gone: lstat() failed: No such file or directory. ERROR
"""
CLAMD_DOWN = (
    b"ERROR: Could not connect to clamd on LocalSocket /run/clamav/clamd.ctl: "
    b"No such file or directory\n"
)


def test_parser_reads_clamscan_output() -> None:
    report = parse_clamav(CLAMSCAN_OUTPUT)
    assert [(d.path, d.signature) for d in report.detections] == [
        ("/tmp/eicar.com", "Win.Test.EICAR_HDB-1"),
        ("/var/tmp/.x/kdevtmpfsi", "Multios.Coinminer.Miner-6781728-2"),
        ("/home/u/dir: with colon/payload", "Unix.Trojan.Mirai-7100807-0"),
    ]
    assert report.errors == ("/root/secret: Can't open file or directory ERROR",)
    assert (report.scanned_files, report.infected_files) == (317, 3)


def test_parser_reads_clamdscan_output_and_errors() -> None:
    report = parse_clamav(CLAMDSCAN_OUTPUT + CLAMD_DOWN)
    assert [d.path for d in report.detections] == ["/dev/shm/.s/xmr", "/etc/cron.d/sys"]
    assert len(report.errors) == 2 and report.errors[1].startswith("ERROR: Could not connect")
    assert report.scanned_files is None


def test_detections_become_findings() -> None:
    findings = findings_of(parse_clamav(CLAMSCAN_OUTPUT), "web-1", "clamscan", 1000.0)
    assert [f.severity for f in findings] == [Severity.HIGH, Severity.CRITICAL, Severity.CRITICAL]
    eicar = findings[0]
    assert eicar.rule_id == "SCAN-CLAMAV" and eicar.host == "web-1"
    assert eicar.actions == ("quarantine", "collect")
    assert eicar.evidence.path == "/tmp/eicar.com"
    assert eicar.evidence.text == "Win.Test.EICAR_HDB-1"
    assert len({f.key for f in findings}) == 3


@given(st.binary(max_size=2000))
def test_parser_never_raises(data: bytes) -> None:
    report = parse_clamav(data + b": X FOUND\n" + data)
    assert all(d.path and d.signature for d in report.detections)


def test_paths_are_checked() -> None:
    assert "/etc/cron*" in parse_paths({})
    assert parse_paths({"paths": "/srv/www, '/tmp/a b'"}) == ["/srv/www", "/tmp/a b"]
    with pytest.raises(ActionError, match="absolute"):
        parse_paths({"paths": "tmp"})


@pytest.mark.skipif(CLAMAV is not None, reason="ClamAV is installed here")
async def test_no_clamav_is_a_plain_failed_result(host: HostExec, tmp_path: Path) -> None:
    plan, result = await act(host, tmp_path, "scan", {"paths": f"{tmp_path} /no/such/dir"})
    assert any("ClamAV is not installed" in w for w in plan.warnings)
    assert any("1 path(s) do not exist" in w for w in plan.warnings)
    assert result.outcome is Outcome.FAILED
    assert "ClamAV is not installed" in result.summary and result.state == "nothing was done"
    assert findings_from_result(result) == []
    assert audit_actions(tmp_path) == [("scan", "failed")]


@pytest.mark.skipif(CLAMAV is None, reason="ClamAV is not installed (nothing is installed)")
async def test_eicar_is_found_by_the_real_clamav(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    eicar = folder / "eicar.com"
    eicar.write_bytes(
        b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    )
    _, result = await act(LocalExec("this-machine"), tmp_path, "scan", {"paths": str(folder)})
    assert result.outcome is Outcome.DONE, (result.summary, result.verification)
    found = findings_from_result(result)
    assert [f["evidence"]["path"] for f in found] == [str(eicar)]
    assert found[0]["actions"] == ["quarantine", "collect"]


def test_scan_progress_counts_clean_files_and_keeps_the_rest() -> None:
    now = [0.0]
    said: list[str] = []
    progress = ScanProgress(said.append, every_s=3.0, clock=lambda: now[0])
    for i in range(5):
        progress.line(b"/srv/www/f%d: OK" % i)
    assert said == []  # nothing before every_s
    progress.line(b"/tmp/.x/\x1b[2Jminer: Multios.Coinminer.Miner-6781728-2 FOUND")
    assert said == ["FOUND Multios.Coinminer.Miner-6781728-2: /tmp/.x/\\e[2Jminer"]
    now[0] = 3.5
    progress.line(b"/srv/www/empty: Empty file")
    assert said[-1] == "7 file(s) scanned, 1 infected; at /srv/www/empty"
    progress.line(b"/root/x: Can't open file or directory ERROR")
    progress.line(b"Scanned files: 7")
    report = parse_clamav(progress.output())
    assert [d.signature for d in report.detections] == ["Multios.Coinminer.Miner-6781728-2"]
    assert report.errors == ("/root/x: Can't open file or directory ERROR",)
    assert report.scanned_files == 7
    assert b": OK" not in progress.output()


# Stands in for clamscan where ClamAV is not installed: a real process printing ClamAV's
# per-file format (argv as clamscan_argv builds it: the path is $3), slowly.
FAKE_CLAMSCAN = """#!/bin/sh
echo "$3/a: OK"
echo "$3/b: OK"
sleep 0.5
echo "$3/kdevtmpfsi: Multios.Coinminer.Miner-6781728-2 FOUND"
sleep {pause}
echo "$3/c: OK"
printf '\\n----------- SCAN SUMMARY -----------\\nScanned files: 4\\nInfected files: 1\\n'
exit 1
"""


def scan_plan(scanner: Path, folder: Path) -> ActionPlan:
    params = {"paths": str(folder), "scanner": str(scanner), "clamd": False, "fallback": ""}
    return ActionPlan("scan", "this-machine", "1 path(s)", params, (), Risk.READ_ONLY)


class Impatient(LocalExec):
    """This machine, with streamed commands cut off after 1.5 s (a scan that runs too long)."""

    async def stream(
        self, argv: Sequence[str], on_line: Callable[[bytes], None], *, timeout: float = 60.0
    ) -> ExecResult:
        return await super().stream(argv, on_line, timeout=1.5)


async def test_clamscan_lines_are_shown_as_they_come(tmp_path: Path) -> None:
    scanner = tmp_path / "clamscan"
    scanner.write_text(FAKE_CLAMSCAN.format(pause="0.5"))
    scanner.chmod(0o755)
    loop = asyncio.get_running_loop()
    said: list[tuple[float, str]] = []
    ctx = ActionContext(
        LocalExec("this-machine"), tmp_path, progress=lambda line: said.append((loop.time(), line))
    )
    result = await SCAN.execute(ctx, scan_plan(scanner, tmp_path / "drop"))
    ended = loop.time()
    assert result.outcome is Outcome.DONE, result.summary
    found = [at for at, line in said if line.startswith("FOUND Multios.Coinminer")]
    assert len(found) == 1 and found[0] < ended - 0.3  # shown while clamscan still ran
    assert said[-1][1].startswith("4 file(s) scanned, 1 infected")
    assert [f["evidence"]["path"] for f in findings_from_result(result)] == [
        f"{tmp_path}/drop/kdevtmpfsi"
    ]
    assert "4 file(s) scanned" in result.verification


async def test_a_scan_cut_short_keeps_what_it_found(tmp_path: Path) -> None:
    scanner = tmp_path / "clamscan"
    scanner.write_text(FAKE_CLAMSCAN.format(pause="30"))
    scanner.chmod(0o755)
    ctx = ActionContext(Impatient("this-machine"), tmp_path)
    result = await SCAN.execute(ctx, scan_plan(scanner, tmp_path / "drop"))
    assert result.outcome is Outcome.FAILED
    assert "did not finish" in result.summary and "within" in result.summary
    assert [f["evidence"]["path"] for f in findings_from_result(result)] == [
        f"{tmp_path}/drop/kdevtmpfsi"
    ]
