"""Human-readable numbers for the UI and reports."""

from __future__ import annotations

import time


def human_bytes(n: float | None, suffix: str = "") -> str:
    """1536 -> '1.5K'. Powers of 1024, as top/htop show memory."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("", "K", "M", "G", "T", "P"):
        if abs(value) < 1024 or unit == "P":
            if unit == "":
                return f"{value:.0f}{suffix}"
            return f"{value:.1f}{unit}{suffix}" if abs(value) < 10 else f"{value:.0f}{unit}{suffix}"
        value /= 1024
    return f"{value:.0f}P{suffix}"  # pragma: no cover


def human_rate(n: float | None) -> str:
    """Bytes per second."""
    return "-" if n is None else human_bytes(n, "/s")


def human_count(n: float | None) -> str:
    """Packets per second and other counts: 12345 -> '12.3k'."""
    if n is None:
        return "-"
    if abs(n) < 1000:
        return f"{n:.0f}"
    if abs(n) < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


def percent(n: float | None) -> str:
    return "-" if n is None else f"{n:.1f}%"


def start_time_text(epoch: float, now: float | None = None) -> str:
    """A process start time as htop shows it: HH:MM today, 'Mon DD' before."""
    now = time.time() if now is None else now
    started = time.localtime(epoch)
    today = time.localtime(now)
    if (started.tm_year, started.tm_yday) == (today.tm_year, today.tm_yday):
        return time.strftime("%H:%M", started)
    return time.strftime("%b%d", started)
