"""Tampering rules: kernel taint and modules, miner tuning, immutable files, cloud security
agents, emptied or shrunk logs, history sent to /dev/null, stale packages."""

from __future__ import annotations

from collections.abc import Iterator

from domain.facts import HostFacts, LogFile
from domain.findings import Evidence, Finding, Severity

from . import catalog as cat
from . import indicators as ioc
from .context import Check, Context

C, H, M, L = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW
DAY = 86400.0

# /proc/sys/kernel/tainted bits that a loaded module sets: P proprietary (0), F forced load (1),
# R forced unload (3), C staging (10), O out-of-tree (12), E unsigned (13).
_MODULE_TAINT_BITS = {0: "P", 1: "F", 3: "R", 10: "C", 12: "O", 13: "E"}
_MODULE_LETTERS = frozenset("PFOE")


def kernel_taint(ctx: Context) -> Iterator[Finding]:
    """TAMP-KERNEL-TAINT (medium): a loaded module marked proprietary, forced, out-of-tree or
    unsigned (/proc/modules letters P, F, O, E) that is not a known driver (nvidia, zfs,
    VirtualBox, CrowdStrike...): kernel rootkits (Diamorphine, Reptile) load this way.
    TAMP-HIDDEN-MODULE (medium): the kernel's taint says such a module was loaded but no listed
    module carries the mark: it was unloaded, or it hides itself from /proc/modules."""
    k = ctx.facts.kernel if ctx.facts is not None else None
    if k is None or k.tainted is None:
        return
    module_bits = {letter for bit, letter in _MODULE_TAINT_BITS.items() if k.tainted >> bit & 1}
    if k.modules is None:
        return
    marked = [m for m in k.modules if set(m.taint) & _MODULE_LETTERS]
    for m in marked:
        if m.name in ioc.KNOWN_TAINTING_MODULES:
            continue
        yield ctx.finding(
            cat.BY_ID["TAMP-KERNEL-TAINT"],
            "A kernel module that is not part of the kernel (out-of-tree, unsigned or "
            "proprietary) is loaded; kernel rootkits load this way.",
            Evidence(text=f"{m.name} ({m.taint})", path="/proc/modules"),
            identity=m.name,
        )
    if module_bits & _MODULE_LETTERS and not marked:
        yield ctx.finding(
            cat.BY_ID["TAMP-HIDDEN-MODULE"],
            "The kernel was tainted by an out-of-tree or unsigned module, yet no loaded module "
            "shows it: it was unloaded, or it hides itself.",
            Evidence(
                text=f"tainted={k.tainted} ({''.join(sorted(module_bits))})",
                path="/proc/sys/kernel/tainted",
            ),
            identity="hidden-module",
        )


def miner_tuning(ctx: Context) -> Iterator[Finding]:
    """TAMP-MINER-TUNING (low): the msr module is loaded and huge pages are reserved, which is
    how XMRig tunes a host for RandomX. Databases reserve huge pages too, hence low."""
    k = ctx.facts.kernel if ctx.facts is not None else None
    if k is None or k.modules is None:
        return
    if any(m.name == "msr" for m in k.modules) and (k.nr_hugepages or 0) > 0:
        yield ctx.finding(
            cat.BY_ID["TAMP-MINER-TUNING"],
            "The msr module is loaded and huge pages are reserved, as XMRig sets up a host.",
            Evidence(text=f"msr loaded, vm.nr_hugepages={k.nr_hugepages}"),
            identity="msr-hugepages",
        )


def immutable(ctx: Context) -> Iterator[Finding]:
    """TAMP-IMMUTABLE (high): an immutable or append-only flag on a start-up file (cron,
    units, rc, profiles, ld.so.preload, authorized_keys), on a file in a temporary directory
    or on a known malware path. Miners chattr +i their cron entries and payloads so they
    cannot be removed, and drop immutable decoys to keep rivals out. Read with the ext4 flags
    ioctl, never lsattr; filesystems without flags say nothing."""
    if ctx.facts is None:
        return
    rule = cat.BY_ID["TAMP-IMMUTABLE"]
    metas = [f.meta for f in ctx.facts.files]
    metas += [t.meta for t in ctx.facts.temp_files]
    metas += list(ctx.facts.path_probes)
    seen: set[str] = set()
    for meta in metas:
        if not (meta.immutable or meta.append_only) or meta.path in seen:
            continue
        seen.add(meta.path)
        flag = "immutable" if meta.immutable else "append-only"
        yield ctx.finding(
            rule,
            f"The file is marked {flag}, so even root cannot replace it until the flag is "
            "removed: miners lock their files this way.",
            Evidence(path=meta.path, text=flag),
        )


def _agent_running(ctx: Context, name: str) -> bool:
    names = ioc.AGENT_PROCESSES.get(name, ())
    return any(p.name in names or p.name.startswith(names) for p in ctx.user_processes)


def agents(ctx: Context) -> Iterator[Finding]:
    """TAMP-AGENT-STOPPED (high): the Alibaba (AliYunDun/aegis) or Tencent (YunJing/YDService)
    security agent is installed but none of its processes runs: miners stop it first. Needs a
    live snapshot.
    TAMP-AGENT-MISSING (medium): the host is on that cloud (DMI or cloud-init says so) but the
    agent's files are gone: it was never installed, or it was uninstalled."""
    if ctx.facts is None:
        return
    provider = ctx.facts.cloud.provider
    for agent in ctx.facts.agents:
        ev = Evidence(path=agent.present[0] if agent.present else None, text=agent.name)
        if agent.installed and ctx.snapshot is not None and not _agent_running(ctx, agent.name):
            yield ctx.finding(
                cat.BY_ID["TAMP-AGENT-STOPPED"],
                "The cloud's security agent is installed but not running; miners stop it to "
                "avoid detection.",
                ev,
                identity=agent.name,
            )
        elif not agent.installed and provider == agent.vendor:
            yield ctx.finding(
                cat.BY_ID["TAMP-AGENT-MISSING"],
                "This host runs on a cloud whose security agent is not installed (or was removed).",
                ev,
                identity=agent.name,
            )


def _rotated(log: LogFile) -> bool:
    return bool(log.rotated)


def empty_logs(ctx: Context) -> Iterator[Finding]:
    """TAMP-LOG-EMPTY: auth.log/secure/syslog/messages exists but is empty and has no rotated
    sibling (auth.log.1, secure-20260101...): emptied, not rotated. Medium. An empty log next
    to a rotated one is logrotate's doing and is not reported; a missing log is not reported
    either (journald-only systems have none). wtmp empty with no rotation: low (images and
    containers ship it empty)."""
    if ctx.facts is None:
        return
    rule = cat.BY_ID["TAMP-LOG-EMPTY"]
    for log in ctx.facts.logs:
        if log.meta is None or log.meta.size != 0 or log.meta.link is not None:
            continue
        if _rotated(log):
            continue
        if log.kind in ("auth", "syslog"):
            severity = M
        elif log.kind == "wtmp":
            severity = L
        else:
            continue
        yield ctx.finding(
            rule,
            "The log file is empty and was not rotated: it may have been wiped.",
            Evidence(path=log.path),
            severity=severity,
        )


def history_null(ctx: Context) -> Iterator[Finding]:
    """TAMP-HISTORY-OFF (high): a shell history file is a symlink to /dev/null, so nothing
    typed in that account is ever recorded."""
    if ctx.facts is None:
        return
    for log in ctx.facts.logs:
        if log.kind == "history" and log.meta is not None and log.meta.link == "/dev/null":
            yield ctx.finding(
                cat.BY_ID["TAMP-HISTORY-OFF"],
                "The shell history file is a link to /dev/null, so commands are never recorded.",
                Evidence(path=log.path, user=log.user, text="-> /dev/null"),
            )


def _sizes(facts: HostFacts) -> dict[str, tuple[int, frozenset[str]]]:
    out = {}
    for log in facts.logs:
        if log.meta is not None and log.meta.size is not None:
            rotated = frozenset(f"{r.path}:{r.mtime}" for r in log.rotated)
            out[log.path] = (log.meta.size, rotated)
    return out


def shrunk_logs(ctx: Context) -> Iterator[Finding]:
    """TAMP-LOG-SHRUNK: between two gatherings of facts (live watching), a log file got smaller
    and no rotation happened (its rotated siblings did not change): high. A shell history that
    lost more than half its size: medium (bash trims histories to HISTFILESIZE, which only
    shaves the oldest lines)."""
    facts, before = ctx.facts, ctx.state.previous_facts
    if facts is None or before is None:
        return
    old = _sizes(before)
    rule = cat.BY_ID["TAMP-LOG-SHRUNK"]
    for log in facts.logs:
        if log.meta is None or log.meta.size is None or log.path not in old:
            continue
        size, rotated = log.meta.size, frozenset(f"{r.path}:{r.mtime}" for r in log.rotated)
        old_size, old_rotated = old[log.path]
        if size >= old_size or rotated != old_rotated:
            continue
        if log.kind == "history":
            if size > old_size / 2:
                continue
            severity = M
        else:
            severity = H
        yield ctx.finding(
            rule,
            f"The file shrank from {old_size} to {size} bytes without being rotated: it was "
            "truncated.",
            Evidence(path=log.path, user=log.user),
            severity=severity,
        )


def stale_packages(ctx: Context) -> Iterator[Finding]:
    """TAMP-STALE-PACKAGES (low): the package manager has changed nothing for
    ``stale_package_days`` (90): the system is probably unpatched."""
    if ctx.facts is None or ctx.facts.packages.last_change is None:
        return
    age = (ctx.now - ctx.facts.packages.last_change) / DAY
    if age >= ctx.thresholds.stale_package_days:
        yield ctx.finding(
            cat.BY_ID["TAMP-STALE-PACKAGES"],
            f"No package was installed or updated for {age:.0f} days; the system is likely "
            "missing security fixes.",
            Evidence(text=f"{age:.0f} days"),
            identity="packages",
        )


CHECKS: tuple[Check, ...] = (
    kernel_taint,
    miner_tuning,
    immutable,
    agents,
    empty_logs,
    history_null,
    shrunk_logs,
    stale_packages,
)
