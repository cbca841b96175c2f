"""The `sickbay` command line, run as a user would run it (a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tui import __version__

REPO = Path(__file__).resolve().parent.parent


def sickbay(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_version_and_help() -> None:
    assert sickbay("--version").stdout.strip() == f"sickbay {__version__}"
    result = sickbay("--help")
    assert result.returncode == 0
    for word in ("--interval", "--config", "snapshot", "scan"):
        assert word in result.stdout


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_snapshot_json_describes_this_machine() -> None:
    result = sickbay("snapshot", "--format", "json", "--rate-window", "0.3")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["schema"] == "sickbay.snapshot/1"
    assert data["source"] == "proc"
    assert data["metrics"]["cpu_total"] is not None  # two samples: rates are filled in
    assert data["metrics"]["mem_total"] > 0
    pids = {p["pid"] for p in data["processes"]}
    assert 1 in pids and os.getpid() in pids  # this test's own process is in the sample
    me = next(p for p in data["processes"] if p["pid"] == os.getpid())
    assert any("pytest" in arg for arg in me["cmdline"])
    # ensure_ascii: nothing in the output can act on a terminal
    assert all(ord(c) < 128 for c in result.stdout)
    assert "\x1b" not in result.stdout


def test_bad_config_is_explained_not_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text('interval = "soon"\n')
    result = sickbay("--config", str(bad), "snapshot")
    assert result.returncode == 2
    assert "must be a number" in result.stderr and str(bad) in result.stderr
    assert "Traceback" not in result.stderr


def test_interval_is_validated() -> None:
    result = sickbay("--interval", "0", "snapshot")
    assert result.returncode == 2
    assert "at least" in result.stderr
