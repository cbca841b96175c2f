"""The fallback local source for hosts without /proc (macOS, BSD): the same snapshot, via psutil.

:class:`PsutilCollector` produces the collector's sample format (see ``backends.collector``) from
psutil, so the same :class:`backends.decode.Decoder` checks it and keeps unchanged objects. What
psutil cannot tell is approximated and documented here: a socket's inode is 0 and its uid the
owner's (-1 when unknown), ``exe_deleted`` means the executable's path no longer exists, and kernel
threads are recognised on Linux only (no executable, no command line, kthreadd's children).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from backends.local import ThreadedSource

_STATES = {  # psutil's status strings -> the letters of /proc/PID/stat
    "running": "R", "sleeping": "S", "disk-sleep": "D", "stopped": "T", "tracing-stop": "t",
    "zombie": "Z", "dead": "X", "wake-kill": "K", "waking": "W", "parked": "P", "idle": "I",
    "locked": "L", "waiting": "W",
}  # fmt: skip
_ATTRS = [
    "pid", "ppid", "name", "status", "uids", "username", "cpu_times", "memory_info",
    "create_time", "exe", "cmdline", "cwd", "num_threads", "terminal",
]  # fmt: skip
_FAILURES = (psutil.Error, OSError, ValueError, NotImplementedError, AttributeError)
_thread_time = getattr(time, "thread_time", time.process_time)


class PsutilCollector:
    """Samples of this host through psutil, in ``backends.collector``'s format."""

    def __init__(self) -> None:
        self._prev: dict[str, Any] = {}
        self._ticks: dict[tuple[int, float], float] = {}
        self._errors: list[dict[str, str]] = []

    def _guard(self, what: str, read: Callable[[], Any], default: Any = None) -> Any:
        try:
            return read()
        except _FAILURES as exc:
            self._errors.append({"what": what, "reason": str(exc) or type(exc).__name__})
            return default

    def sample(self) -> dict[str, Any]:
        cpu0 = _thread_time()
        self._errors = []
        now = time.monotonic()
        dt = now - self._prev["t"] if "t" in self._prev else None
        metrics = self._metrics(dt)
        processes = self._guard("processes", lambda: self._processes(dt), [])
        sockets = self._guard("sockets", lambda: self._sockets(processes), [])
        self._prev["t"] = now
        return {
            "schema": "sickbay.collector/1",
            "hostname": socket.gethostname(),
            "taken_at": time.time(),
            "cpu_ms": (_thread_time() - cpu0) * 1000.0,
            "metrics": metrics,
            "processes": processes,
            "sockets": sockets,
            "errors": self._errors,
        }

    def _delta(self, kind: str, counters: dict[str, tuple[Any, ...]] | None) -> list[float] | None:
        old, self._prev[kind] = self._prev.get(kind), counters
        if not old or counters is None:
            return None
        sums = [0.0] * len(next(iter(old.values())))
        for name, now in counters.items():
            before = old.get(name)
            if before is not None and all(a >= b for a, b in zip(now, before, strict=True)):
                sums = [s + a - b for s, a, b in zip(sums, now, before, strict=True)]
        return sums

    def _metrics(self, dt: float | None) -> dict[str, Any]:
        m: dict[str, Any] = {"cpu_count": psutil.cpu_count() or 1}
        times = self._guard("cpu times", psutil.cpu_times)
        cpu = None
        if times is not None:
            t = times._asdict()
            fields = ("idle", "iowait", "steal")
            total = sum(v for k, v in t.items() if k not in ("guest", "guest_nice"))
            cpu = self._delta("cpu", {"all": (total, *(t.get(k, 0.0) for k in fields))})
        busy = cpu is not None and cpu[0] > 0
        m["cpu_total"] = 100.0 * (cpu[0] - cpu[1] - cpu[2]) / cpu[0] if cpu and busy else None
        m["cpu_iowait"] = 100.0 * cpu[2] / cpu[0] if cpu and busy else None
        m["cpu_steal"] = 100.0 * cpu[3] / cpu[0] if cpu and busy else None
        load = self._guard("load", psutil.getloadavg, (None, None, None))
        m["load1"], m["load5"], m["load15"] = load
        mem = self._guard("memory", psutil.virtual_memory)
        m["mem_total"], m["mem_available"] = (mem.total, mem.available) if mem else (None, None)
        swap = self._guard("swap", psutil.swap_memory)
        m["swap_total"], m["swap_free"] = (swap.total, swap.free) if swap else (None, None)
        disk = self._guard("disks", psutil.disk_io_counters)
        io = self._delta(
            "disk",
            None if disk is None else {"all": (disk.read_count + disk.write_count,
                                               disk.read_time + disk.write_time)},
        )  # fmt: skip
        m["disk_iops"] = io[0] / dt if io and dt else None
        m["disk_latency_ms"] = (io[1] / io[0] if io[0] else 0.0) if io and dt else None
        nics = self._guard("network", lambda: psutil.net_io_counters(pernic=True))
        counters = None
        if nics is not None:
            counters = {
                name: (c.bytes_recv, c.packets_recv, c.bytes_sent, c.packets_sent)
                for name, c in nics.items()
                if not name.startswith("lo")
            }
        net = self._delta("net", counters)
        for i, key in enumerate(("rx_bytes", "rx_packets", "tx_bytes", "tx_packets")):
            m[f"net_{key}_s"] = net[i] / dt if net and dt else None
        shm = None
        if Path("/dev/shm").is_dir():
            shm = self._guard("/dev/shm", lambda: psutil.disk_usage("/dev/shm"))
        m["shm_total"], m["shm_used"] = (shm.total, shm.used) if shm else (None, None)
        boot = self._guard("boot time", psutil.boot_time)
        m["uptime_s"] = time.time() - boot if boot else None
        return m

    def _processes(self, dt: float | None) -> list[dict[str, Any]]:
        out, ticks = [], {}
        denied = 0
        linux = psutil.LINUX
        for proc in psutil.process_iter(_ATTRS, ad_value=None):
            info = proc.info
            if info["create_time"] is None or info["pid"] is None:
                continue  # vanished
            key = (info["pid"], info["create_time"])
            times = info["cpu_times"]
            used = times.user + times.system if times else 0.0
            before = self._ticks.get(key)
            ticks[key] = used
            uid = info["uids"].effective if info["uids"] else None
            exe, cmdline = info["exe"] or "", info["cmdline"] or []
            kthread = linux and not (exe or cmdline) and 2 in (info["pid"], info["ppid"])
            denied += info["exe"] is None
            out.append({
                "pid": info["pid"], "ppid": info["ppid"] or 0, "name": info["name"] or "",
                "state": _STATES.get(info["status"], "?"), "uid": uid,
                "user": info["username"] or ("" if uid is None else str(uid)),
                "cpu_percent": 100.0 * (used - before) / dt if dt and before is not None else None,
                "rss": info["memory_info"].rss if info["memory_info"] else 0,
                "start_time": info["create_time"], "exe": exe,
                "exe_deleted": bool(exe) and not Path(exe).exists(),
                "exe_memfd": exe.startswith("/memfd:"), "cmdline": list(cmdline),
                "cwd": info["cwd"] or "",
                "kernel_thread": kthread,
                "threads": info["num_threads"] or 0, "tty_nr": _tty_nr(info["terminal"]),
            })  # fmt: skip
        self._ticks = ticks
        if denied:
            self._errors.append({"what": f"exe of {denied} processes", "reason": "access denied"})
        return out

    @staticmethod
    def _sockets(processes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        by_pid = {p["pid"]: p for p in processes}
        rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        for conn in psutil.net_connections("inet"):
            if conn.status == psutil.CONN_TIME_WAIT:
                continue  # as the collector: no owner, not interesting
            v6 = conn.family == socket.AF_INET6
            proto = ("tcp" if conn.type == socket.SOCK_STREAM else "udp") + ("6" if v6 else "")
            anywhere = "::" if v6 else "0.0.0.0"
            local = conn.laddr or (anywhere, 0)
            remote = conn.raddr or (anywhere, 0)
            state = conn.status
            if proto.startswith("udp"):
                state = "ESTABLISHED" if conn.raddr else "UNCONN"
            owner = by_pid.get(conn.pid)
            row = {
                "proto": proto, "local_addr": local[0], "local_port": local[1],
                "remote_addr": remote[0], "remote_port": remote[1], "state": state, "inode": 0,
                "uid": owner["uid"] if owner and owner["uid"] is not None else -1,
                "pid": conn.pid, "process": owner["name"] if owner else "",
            }  # fmt: skip
            rows.setdefault((proto, *local, *remote), row)  # SO_REUSEPORT twins: keep one
        return list(rows.values())


def _tty_nr(terminal: str | None) -> int:
    if not terminal:
        return 0
    try:
        return Path(terminal).stat().st_rdev or 1
    except OSError:
        return 1


class PsutilSource(ThreadedSource):
    """This host, through psutil (``source="psutil"``)."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(PsutilCollector().sample, "psutil", name)
