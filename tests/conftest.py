"""Shared fixtures: keep the developer's own config and theme out of every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = (
    "tests.detect_fixtures",
    "tests.sshd",
    "tests.cloud_emu.guard",
    "tests.pilot_actions",
)

# Payloads an attacker can put in a process name, command line, user name or file on the host.
HOSTILE_STRINGS = (
    "[/bar]",
    "[@click=app.quit]click me[/]",
    "[bold red]fake[/bold red]",
    "\x1b]0;PWNED-TITLE\x07",
    "\x1b[2J\x1b[H",
    "\x1b]52;c;ZXZpbA==\x07",  # OSC 52: write the operator's clipboard
    "\x9b31m",  # C1 CSI
    "evil\u202etxt.exe",  # right-to-left override
    "\u2066isolate\u2069",
    "zero\u200bwidth",
    "nul\x00byte",
    "挖矿进程",
)


@pytest.fixture(autouse=True)
def isolated_config(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """No test reads the user's config, theme or keymap."""
    home = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    # Audit log, case file and evidence go to a temporary data dir, never the user's.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))
    for var in ("SICKBAY_AUDIT_LOG", "SICKBAY_CASE_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("SICKBAY_CONFIG", raising=False)
    for var in ("TEXTUAL_THEME", "NO_COLOR", "TEXTUAL_COLOR_SYSTEM"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    yield home
