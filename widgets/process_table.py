"""The process list: one row per process, live, keyed by pid + start time."""

from __future__ import annotations

import time
from collections.abc import Callable

from domain.model import Process
from domain.sanitize import visible, visible_args
from domain.units import human_bytes, start_time_text
from widgets.live_table import Column, LiveTable

DELETED_MARK = "(deleted) "
MEMFD_MARK = "(memfd) "


def process_key(process: Process) -> str:
    return process.key


def cpu_text(process: Process) -> str:
    value = process.cpu_percent
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def exe_text(process: Process) -> str:
    """The executable, with a marker *before* the path when the file is gone or lives only in
    memory. A real path starts with "/", so a file named "x (deleted)" cannot fake the marker,
    and truncation never hides it."""
    if process.exe_memfd:
        return MEMFD_MARK + visible(process.exe)
    if process.exe_deleted:
        return DELETED_MARK + visible(process.exe)
    if not process.exe:
        return "" if process.kernel_thread else "-"
    return visible(process.exe)


def command_text(process: Process) -> str:
    """The command line, or the name in brackets for a process without one (kernel threads)."""
    if process.cmdline:
        return visible_args(process.cmdline)
    return f"[{visible(process.name)}]"


def process_columns() -> list[Column[Process]]:
    return [
        Column("pid", "PID", lambda p: str(p.pid), 7, "right", lambda p: p.pid),
        Column("ppid", "PPID", lambda p: str(p.ppid), 7, "right", lambda p: p.ppid),
        Column("user", "USER", lambda p: visible(p.user), 9, sort_key=lambda p: p.user),
        Column("cpu", "%CPU", cpu_text, 5, "right", lambda p: p.cpu_percent, descending=True),
        Column(
            "rss", "RSS", lambda p: human_bytes(p.rss), 5, "right", lambda p: p.rss, descending=True
        ),
        Column(
            "start",
            "START",
            lambda p: start_time_text(p.start_time, time.time()),
            5,
            "right",
            lambda p: p.start_time,
            descending=True,
        ),
        Column("exe", "EXE", exe_text, 16),
        Column("command", "COMMAND", command_text, 12, flex=True),
    ]


class ProcessTable(LiveTable[Process]):
    """Processes, busiest first. ``mark`` (optional) flags rows by severity."""

    def __init__(
        self,
        *,
        mark: Callable[[Process], str | None] | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(
            process_columns(),
            key=process_key,
            sort="cpu",
            reverse=True,
            mark=mark,
            name=name,
            id=id,
            classes=classes,
            disabled=disabled,
        )
