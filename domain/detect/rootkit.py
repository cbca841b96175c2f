"""Hiding and hooking: processes missing from the /proc listing, mounts over /proc/PID, and
libraries preloaded into processes through their environment."""

from __future__ import annotations

from collections.abc import Iterator

from domain.findings import Evidence, Finding, Severity

from . import catalog as cat
from . import indicators as ioc
from .commands import in_temp, suspicious_hidden_dir
from .context import Check, Context


def hidden_processes(ctx: Context) -> Iterator[Finding]:
    """ROOTKIT-HIDDEN-PROCESS (critical): a pid whose /proc directory answers and that leads its
    thread group, but that readdir(/proc) does not list, in two samples in a row. The collector
    does the second look (a process born between the listing and the probe is listed by then),
    and threads are excluded (their /proc/TID answers but is never listed), so what remains is a
    process something is hiding: a userland or kernel rootkit filtering getdents."""
    if ctx.snapshot is None:
        return
    rule = cat.BY_ID["ROOTKIT-HIDDEN-PROCESS"]
    for hidden in ctx.snapshot.hidden_processes:
        yield ctx.finding(
            rule,
            "The process exists but is left out of the process list, which is what a rootkit "
            "does to hide a miner or a backdoor; tools on this host (ps, top) will not show it.",
            Evidence(pid=hidden.pid, process=hidden.name, text=f"ppid {hidden.ppid}"),
        )


def proc_mounts(ctx: Context) -> Iterator[Finding]:
    """ROOTKIT-PROC-MOUNT (critical): a filesystem mounted on /proc/PID. Bind-mounting an empty
    directory over a process's /proc entry hides it from ps and top without a kernel module;
    nothing legitimate does this."""
    if ctx.snapshot is None:
        return
    rule = cat.BY_ID["ROOTKIT-PROC-MOUNT"]
    for mount in ctx.snapshot.proc_mounts:
        yield ctx.finding(
            rule,
            "A mount covers this /proc entry so that process listings skip the process under it.",
            Evidence(path=mount),
        )


def preload_env(ctx: Context) -> Iterator[Finding]:
    """PROC-PRELOAD-ENV: the process was started with LD_PRELOAD, so a library is injected into
    it (and into what it starts) before its own code runs. Benign uses exist (jemalloc or
    tcmalloc for databases, libeatmydata, sandboxes), so a library under the package directories
    is low; one in a temporary or hidden directory is critical (a userland rootkit or a hooked
    miner); anywhere else medium."""
    rule = cat.BY_ID["PROC-PRELOAD-ENV"]
    for p in ctx.user_processes:
        if not p.ld_preload:
            continue
        libraries = [lib for lib in p.ld_preload.replace(":", " ").split() if lib]
        if not libraries:
            continue
        hidden = any(
            in_temp(lib) or suspicious_hidden_dir(lib, ctx.indicators.tool_dirs)
            for lib in libraries
        )
        packaged = all(lib.startswith(ioc.PACKAGE_EXE_DIRS) for lib in libraries)
        if hidden:
            severity, why = Severity.CRITICAL, "from a temporary or hidden directory"
        elif packaged:
            severity, why = Severity.LOW, "from the system's library directories"
        else:
            severity, why = Severity.MEDIUM, "from outside the system's library directories"
        yield ctx.finding(
            rule,
            f"A library is injected into this process {why} through LD_PRELOAD.",
            ctx.process_evidence(p, text=f"LD_PRELOAD={p.ld_preload}"),
            severity=severity,
        )


CHECKS: tuple[Check, ...] = (hidden_processes, proc_mounts, preload_env)
