"""Resource rules: sustained CPU, repeated CPU peaks, hidden load, disk latency, packet rate
against the host's own baseline, /dev/shm growth.

These need the host's history, kept by the detector per host (:class:`HostState`): they never
fire on one sample, and a sustained rule needs samples covering its whole window with no gap
longer than ``sample_gap_s`` (a short burst, a single busy sample or a monitoring pause does not
count). ``sickbay scan`` takes one pass and therefore cannot report them.
"""

from __future__ import annotations

from collections.abc import Iterator
from statistics import median

from domain.findings import Evidence, Finding, Severity

from . import catalog as cat
from .context import Check, Context, Sample

C, H, M, L = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW
DAY = 86400.0


def _busy(s: Sample) -> float | None:
    """Host busy %, hypervisor steal excluded (stolen time is not this host's work)."""
    if s.cpu is None:
        return None
    return max(0.0, s.cpu - (s.steal or 0.0))


def _top_processes(window: list[Sample]) -> list[tuple[str, int, str, str, float]]:
    """The (up to 3) processes with the highest average %CPU across the window."""
    totals: dict[str, float] = {}
    info: dict[str, tuple[int, str, str]] = {}
    for s in window:
        for key, pid, name, exe, cpu in s.top:
            totals[key] = totals.get(key, 0.0) + cpu
            info[key] = (pid, name, exe)
    n = max(1, len(window))
    out = []
    for key in sorted(totals, key=lambda k: -totals[k])[:3]:
        average = totals[key] / n
        if average >= 5.0:
            pid, name, exe = info[key]
            out.append((key, pid, name, exe, average))
    return out


def cpu_sustained(ctx: Context) -> Iterator[Finding]:
    """RES-CPU-SUSTAINED (medium): host CPU (steal excluded) at or above ``cpu_percent`` (80) in
    every sample for ``cpu_window_s`` (3 minutes), naming the processes with the highest average
    CPU over that window. Busy hosts are not always infected, hence medium; the processes named
    are what to look at.
    RES-CPU-PEAKS (medium): ``cpu_peaks_per_day`` (3) or more such episodes started within 24 h."""
    th = ctx.thresholds
    state = ctx.state
    window = state.sustained(
        ctx.now, th.cpu_window_s, th.sample_gap_s, _busy, lambda v: v >= th.cpu_percent
    )
    if window is None:
        state.in_cpu_episode = False
        return
    if not state.in_cpu_episode:
        state.in_cpu_episode = True
        state.cpu_episodes.append(ctx.now)
    top = _top_processes(window)
    text = (
        ", ".join(f"{name} (pid {pid}) {cpu:.0f}%" for _, pid, name, _, cpu in top)
        or "no single process"
    )
    average = sum(v for v in (_busy(s) for s in window) if v is not None) / len(window)
    lead = top[0] if top else None
    yield ctx.finding(
        cat.BY_ID["RES-CPU-SUSTAINED"],
        f"CPU has been {average:.0f}% busy for {th.cpu_window_s / 60:.0f} minutes or more; "
        "the busiest processes are named in the evidence.",
        Evidence(
            pid=lead[1] if lead else None,
            process=lead[2] if lead else None,
            process_key=lead[0] if lead else None,
            exe=(lead[3] or None) if lead else None,
            text=text,
        ),
        identity="cpu",
    )
    recent = [t for t in state.cpu_episodes if ctx.now - t <= DAY]
    if len(recent) >= th.cpu_peaks_per_day:
        yield ctx.finding(
            cat.BY_ID["RES-CPU-PEAKS"],
            f"CPU has been pinned {len(recent)} separate times in the last 24 hours, the "
            "pattern of a miner that pauses when watched.",
            Evidence(text=f"{len(recent)} episodes"),
            identity="cpu-peaks",
        )


def hidden_load(ctx: Context) -> Iterator[Finding]:
    """RES-HIDDEN-LOAD (medium): for ``hidden_load_window_s`` (2 minutes) the host was busy
    (at least ``hidden_load_min_percent`` of all CPUs, steal excluded) while the processes it
    lists account for less than ``hidden_load_ratio`` (half) of that: a rootkit hiding its
    process shows up this way. Benign explanations handled: process churn (many short-lived
    processes, e.g. a build, use CPU no survivor accounts for: samples with more than
    ``hidden_load_max_new_processes`` new processes break the window) and hypervisor steal
    (excluded). Interrupt load on very busy network hosts is not split out by the model and
    can still look like this; the finding says "medium" for that reason."""
    th = ctx.thresholds

    def gap(s: Sample) -> float | None:
        busy = _busy(s)
        if busy is None or s.new_processes > th.hidden_load_max_new_processes:
            return None
        if busy < th.hidden_load_min_percent:
            return -1.0
        host_one_cpu = busy * max(1, s.cpu_count)  # in % of one CPU, like process figures
        return (
            host_one_cpu - s.proc_cpu if s.proc_cpu < th.hidden_load_ratio * host_one_cpu else -1.0
        )

    window = ctx.state.sustained(
        ctx.now, th.hidden_load_window_s, th.sample_gap_s, gap, lambda v: v >= 0
    )
    if window is None:
        return
    known = [s for s in window if gap(s) is not None]
    if len(known) < max(2, len(window) // 2):
        return  # too many samples dominated by churn
    last = known[-1]
    busy = (_busy(last) or 0.0) * max(1, last.cpu_count)
    yield ctx.finding(
        cat.BY_ID["RES-HIDDEN-LOAD"],
        f"The CPU is busy ({busy:.0f}% of one CPU) but the processes listed account for only "
        f"{last.proc_cpu:.0f}%; a hidden process can cause this.",
        Evidence(text=f"host {busy:.0f}% vs processes {last.proc_cpu:.0f}% (of one CPU)"),
        identity="hidden-load",
    )


def disk_latency(ctx: Context) -> Iterator[Finding]:
    """RES-DISK-LATENCY (low): average disk I/O latency at or above ``disk_latency_ms`` (500)
    in every sample with I/O for ``disk_window_s`` (3 minutes). Samples without I/O do not
    count either way (latency is undefined)."""
    th = ctx.thresholds

    def latency(s: Sample) -> float | None:
        return None if not s.disk_iops else s.disk_latency

    window = ctx.state.sustained(
        ctx.now, th.disk_window_s, th.sample_gap_s, latency, lambda v: v >= th.disk_latency_ms
    )
    if window is None:
        return
    values = [v for v in (latency(s) for s in window) if v is not None]
    yield ctx.finding(
        cat.BY_ID["RES-DISK-LATENCY"],
        f"Disk I/O has taken {median(values):.0f} ms per request for minutes; heavy hidden I/O "
        "(or a failing disk) does this.",
        Evidence(text=f"median {median(values):.0f} ms over {len(values)} samples"),
        identity="disk-latency",
    )


def packet_rate(ctx: Context) -> Iterator[Finding]:
    """RES-PACKET-RATE (medium): the packet rate over ``packet_window_s`` (1 minute) is more than
    ``packet_rate_factor`` (3x) the host's own baseline (the median of at least
    ``packet_baseline_min_s`` (10 minutes) of earlier history) and above
    ``packet_rate_min_pps``. Only rises are reported: a flood or scan out of an infected host;
    the articles' 30% deviation would cry wolf on any web server's daily cycle."""
    th = ctx.thresholds
    history = ctx.state.pps_history
    if not history:
        return
    recent = [v for t, v in history if ctx.now - t <= th.packet_window_s]
    older = [(t, v) for t, v in history if ctx.now - t > th.packet_window_s]
    if len(recent) < 2 or not older or ctx.now - older[0][0] < th.packet_baseline_min_s:
        return
    baseline = median(v for _, v in older)
    current = median(recent)
    if current < th.packet_rate_min_pps or current < th.packet_rate_factor * max(baseline, 1.0):
        return
    yield ctx.finding(
        cat.BY_ID["RES-PACKET-RATE"],
        f"The host moves {current:.0f} packets/s, {current / max(baseline, 1.0):.0f} times its "
        "usual rate.",
        Evidence(text=f"{current:.0f} pps vs baseline {baseline:.0f} pps"),
        identity="packet-rate",
    )


def shm_growth(ctx: Context) -> Iterator[Finding]:
    """RES-SHM-GROWTH (medium): /dev/shm usage grew by ``shm_growth_bytes`` (64 MiB) or more
    within ``shm_window_s`` (5 minutes). tmpfs leaves no trace on disk, which is why payloads
    are unpacked there. Databases (PostgreSQL's dynamic shared memory) and browsers also use
    it: allowlist by path if so."""
    th = ctx.thresholds
    window = [s for s in ctx.state.window(ctx.now, th.shm_window_s) if s.shm is not None]
    if len(window) < 2:
        return
    lowest = min(s.shm for s in window if s.shm is not None)
    current = window[-1].shm or 0
    growth = current - lowest
    if growth < th.shm_growth_bytes:
        return
    yield ctx.finding(
        cat.BY_ID["RES-SHM-GROWTH"],
        f"/dev/shm grew by {growth / 2**20:.0f} MiB in {th.shm_window_s / 60:.0f} minutes; "
        "payloads are often unpacked there because it leaves nothing on disk.",
        Evidence(path="/dev/shm", text=f"+{growth / 2**20:.0f} MiB, now {current / 2**20:.0f} MiB"),
        identity="shm",
    )


CHECKS: tuple[Check, ...] = (cpu_sustained, hidden_load, disk_latency, packet_rate, shm_growth)
