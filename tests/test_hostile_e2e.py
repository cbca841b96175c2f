"""Hostile text end to end: real processes whose name and command line carry markup, terminal
escape sequences and bidi controls, seen through the real local source, in the app (Pilot) and
on a real pseudo-terminal. The app must neither crash nor emit them."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.local import local_source
from tests.conftest import HOSTILE_STRINGS
from tui.app import SickbayApp
from tui.config import Settings
from widgets.process_table import ProcessTable

needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

REPO = Path(__file__).resolve().parent.parent
# Sequences that would act on the operator's terminal if they got through.
RAW_PAYLOADS = (b"\x1b]0;PWNED", b"\x1b]52;", b"\x1b[2J\x1b[H", b"\xe2\x80\xae", b"\xc2\x9b31m")


@pytest.fixture
def hostile_process() -> Iterator[tuple[int, str]]:
    """A sleeping process named with an escape sequence whose argv carries every payload."""
    marker = f"zz{uuid.uuid4().hex[:8]}"
    code = (
        f"#{marker} \x1b]0;PWNED\x07 [/b] \u202e\n"
        "import time\n"
        "open('/proc/self/comm','w').write('\\x1b]0;PWNED\\x07[/b]')\n"
        "print('ready',flush=True)\n"
        "time.sleep(120)\n"
    )
    # argv[0] "py" keeps the command short, so the payloads are on screen, not cut off.
    args = ["py", "-c", code, *(s.replace("\x00", "") for s in HOSTILE_STRINGS)]
    proc = subprocess.Popen(
        args, executable=sys.executable, stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        yield proc.pid, marker
    finally:
        proc.kill()
        proc.wait(timeout=10)


@needs_proc
async def test_hostile_process_is_shown_literally_in_the_app(
    hostile_process: tuple[int, str],
) -> None:
    pid, marker = hostile_process
    source = local_source()
    app = SickbayApp(source, Settings(interval=0.5))
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(ProcessTable)
        table.filter_text = marker
        for _ in range(100):
            await pilot.pause(0.05)
            if table.row_count:
                break
        assert table.row_count == 1
        row = table.cursor_row
        assert row is not None and row.pid == pid
        assert row.name == "\x1b]0;PWNED\x07[/b]"  # the model keeps the literal text
        lines = [
            "".join(seg.text for seg in table.render_line(y)) for y in range(table.size.height)
        ]
        shown = "\n".join(lines)
        assert marker in shown
        assert "\x1b" not in shown and "\u202e" not in shown and "\x07" not in shown
        assert "\\e]0;PWNED" in shown or "\\e]0;PW" in shown
        assert app.is_running


def _read_for(fd: int, seconds: float) -> bytes:
    out = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out


@needs_proc
def test_no_payload_reaches_a_real_terminal(hostile_process: tuple[int, str]) -> None:
    """Run sickbay on a pty, filter to the hostile process and read every byte it writes."""
    _, marker = hostile_process
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTUAL")}
    env.update(TERM="xterm-256color", COLUMNS="120", LINES="40", TEXTUAL_ANIMATIONS="none")
    pid, fd = pty.fork()
    if pid == 0:  # child: the real console, as a user would start it, on a 120x40 terminal
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.chdir(REPO)
        os.execve(sys.executable, [sys.executable, "-m", "tui", "--interval", "0.5"], env)
    try:
        os.set_blocking(fd, False)
        output = _read_for(fd, 4.0)
        for key in "/" + marker + "\r":  # typed one key at a time, as a person would
            os.write(fd, key.encode())
            output += _read_for(fd, 0.05)
        output += _read_for(fd, 3.0)
        os.write(fd, b"q")
        output += _read_for(fd, 3.0)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)
    assert marker.encode() in output, "the hostile process never reached the screen"
    for payload in RAW_PAYLOADS:
        assert payload not in output, payload
    assert b"\\e]0;PWNED" in output  # shown, as a visible escape
