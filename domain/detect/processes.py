"""Process rules: miners, droppers, impostors, reverse shells, web shells, scanners.

All of them read one snapshot (no history): a process that lives only between two samples is not
seen, which is the price of reading /proc rather than tracing exec. Kernel threads (PF_KTHREAD,
``Process.kernel_thread``) are never judged by name or path.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator

from domain.findings import Finding, Severity
from domain.model import Process

from . import catalog as cat
from . import indicators as ioc
from .commands import Marker, in_home, in_temp, suspicious_hidden_dir
from .context import Check, Context, clip, is_loopback

C, H, M, L = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW


def _worst(markers: list[Marker]) -> Severity:
    return max(m.severity for m in markers)


def miner_name(ctx: Context) -> Iterator[Finding]:
    """PROC-MINER-NAME (critical): the process name, executable or argv[0] is a known miner or
    miner-dropper name (xmrig, kdevtmpfsi, kinsing...). Exact, case-sensitive matches, plus
    names containing "xmrig"/"xmr-stak"/"cpuminer"/"ccminer". Kernel threads are skipped (their
    names are the kernel's)."""
    names_set = ctx.indicators.miner_names
    for p in ctx.user_processes:
        for name in ctx.names(p):
            low = name.lower()
            if name in names_set or any(part in low for part in ioc.MINER_NAME_PARTS):
                yield ctx.finding(
                    cat.BY_ID["PROC-MINER-NAME"],
                    "The process goes by the name of a cryptominer or of the malware that "
                    "installs one.",
                    ctx.process_evidence(p, text=name),
                )
                break


def command_markers(ctx: Context) -> Iterator[Finding]:
    """PROC-MINER-CMDLINE, PROC-DOWNLOAD-EXEC, PROC-REVERSE-SHELL (markers), PROC-EVASION: what
    a running command line does (see :mod:`domain.detect.commands`): stratum URIs (also
    base64-encoded), pool domains, XMRig options, wallet addresses; downloads piped into a
    shell; /dev/tcp, ``nc -e``, socat exec; chattr, history wiping, agent uninstalling. The
    severity is the most certain marker's."""
    groups = {
        "mining": "PROC-MINER-CMDLINE",
        "download": "PROC-DOWNLOAD-EXEC",
        "reverse-shell": "PROC-REVERSE-SHELL",
        "evasion": "PROC-EVASION",
    }
    wanted = frozenset(groups)
    for p in ctx.user_processes:
        if not p.cmdline:
            continue
        command = " ".join(p.cmdline)
        markers = ctx.scanner.scan(command, wanted)
        by_rule: dict[str, list[Marker]] = {}
        for m in markers:
            by_rule.setdefault(groups[m.group], []).append(m)
        for rule_id, found in by_rule.items():
            what = "; it ".join(dict.fromkeys(m.what for m in found))
            yield ctx.finding(
                cat.BY_ID[rule_id],
                f"The command line {what}.",
                ctx.process_evidence(p, text=clip(found[0].text, 200)),
                severity=_worst(found),
                attack=[a for m in found for a in m.attack],
            )


def _system_dir(path: str) -> bool:
    return path.startswith(ioc.SYSTEM_EXE_DIRS)


def deleted_exe(ctx: Context) -> Iterator[Finding]:
    """PROC-EXE-DELETED: the process runs an executable that is no longer on disk.

    Benign cases, handled on purpose:
    - package upgrades replace binaries under running daemons: when facts probed the path (from
      the process's own mount namespace) and found a root-owned, not group/world-writable file
      in a system directory whose ctime is after the process started, it is an upgrade: low
      ("restart it"). In a system directory without that proof: medium.
    - processes in other mount namespaces (containers): overlay filesystems and image layers
      make "deleted" unreliable seen from the host: low.
    Deleted from /tmp, /var/tmp, /dev/shm or a hidden directory: critical (run-and-delete is
    what droppers do). Elsewhere: high. memfd executables are PROC-EXE-MEMFD's."""
    rule = cat.BY_ID["PROC-EXE-DELETED"]
    for p in ctx.user_processes:
        if not p.exe_deleted or p.exe_memfd or not p.exe:
            continue
        ev = ctx.process_evidence(p)
        if ctx.in_other_mount_ns(p.pid):
            yield ctx.finding(
                rule,
                "The executable is gone from disk, but the process runs in a container, where "
                "deleted executables are common.",
                ev,
                severity=L,
            )
            continue
        if in_temp(p.exe) or suspicious_hidden_dir(p.exe, ctx.indicators.tool_dirs):
            yield ctx.finding(
                rule,
                "The process was started from a temporary or hidden directory and its file was "
                "then deleted, as droppers do.",
                ev,
                severity=C,
            )
            continue
        probe = ctx.exe_probes.get(p.pid)
        if _system_dir(p.exe):
            current = probe.current if probe is not None else None
            if (
                current is not None
                and current.uid == 0
                and current.mode is not None
                and stat.S_ISREG(current.mode)
                and not current.mode & 0o022
                and current.ctime is not None
                and current.ctime >= p.start_time - 1
            ):
                yield ctx.finding(
                    rule,
                    "The executable was replaced after the process started, as a package "
                    "upgrade does; restart the service to run the new version.",
                    ev,
                    severity=L,
                )
            elif probe is not None and current is None:
                yield ctx.finding(
                    rule,
                    "The executable was removed from a system directory while the process runs "
                    "and nothing replaced it.",
                    ev,
                    severity=H,
                )
            else:
                yield ctx.finding(
                    rule,
                    "The executable in a system directory was deleted; usually a package "
                    "upgrade, but this could not be confirmed.",
                    ev,
                    severity=M,
                )
            continue
        yield ctx.finding(
            rule,
            "The process runs an executable that was deleted from disk, a way to hide it.",
            ev,
            severity=H,
        )


_RUNTIME_MEMFD = re.compile(r"memfd:(?:runc_cloned|crun|runc|containerd)", re.IGNORECASE)


def memfd_exe(ctx: Context) -> Iterator[Finding]:
    """PROC-EXE-MEMFD: the executable lives only in memory (memfd_create + execve).

    Fileless loaders do this; so do legitimate runtimes that protect their own binary by
    executing a sealed in-memory copy (runc's "runc_cloned", sandboxes and supervisors). So:
    container runtime memfds are low; any other memfd is medium, raised to high when the
    process also uses at least half a CPU or talks to the network beyond loopback (a fileless
    miner or implant), or when the memfd has no name at all."""
    rule = cat.BY_ID["PROC-EXE-MEMFD"]
    for p in ctx.user_processes:
        if not p.exe_memfd:
            continue
        ev = ctx.process_evidence(p)
        if _RUNTIME_MEMFD.search(p.exe):
            yield ctx.finding(
                rule,
                "A container runtime runs a sealed in-memory copy of itself, which is normal.",
                ev,
                severity=L,
            )
            continue
        busy = p.cpu_percent is not None and p.cpu_percent >= 50.0
        networked = _networked(ctx, p)
        nameless = p.exe.rstrip().endswith(("memfd:", "memfd: "))
        if busy or networked or nameless:
            why = (
                "uses much CPU" if busy else "talks to the network" if networked else "has no name"
            )
            yield ctx.finding(
                rule,
                f"The process runs from memory only (no file on disk) and {why}, as fileless "
                "malware does.",
                ev,
                severity=H,
            )
        else:
            yield ctx.finding(
                rule,
                "The process runs from memory only (no file on disk); some supervisors do this "
                "on purpose, fileless malware does it to leave nothing to scan.",
                ev,
                severity=M,
            )


_SERVICE_USERS = frozenset(
    {
        "www-data",
        "nginx",
        "apache",
        "httpd",
        "nobody",
        "redis",
        "mysql",
        "postgres",
        "tomcat",
        "daemon",
    }
)


def temp_exe(ctx: Context) -> Iterator[Finding]:
    """PROC-EXE-TEMP: the executable is in a temporary or hidden directory.

    - /dev/shm (tmpfs, nothing legitimate runs from there) or a hidden directory outside home
      directories (/tmp/.x/, /var/tmp/.cache/): high.
    - /tmp or /var/tmp: medium, because build and test tools legitimately run binaries from
      there (``go test`` binaries, installers, benchmark programs); high when the process also
      talks to the network beyond loopback, or runs as a service account (www-data, redis,
      nobody...), which is what an exploited service's dropper looks like.
    - a hidden directory inside a home directory: medium; the hidden tool directories of homes
      (.local, .pyenv, .cargo, .vscode-server... see ``Indicators.tool_dirs``) are not reported.
    In another mount namespace (a container) the path is the container's: one level lower."""
    rule = cat.BY_ID["PROC-EXE-TEMP"]
    for p in ctx.user_processes:
        if not p.exe or p.exe_memfd:
            continue
        hidden = suspicious_hidden_dir(p.exe, ctx.indicators.tool_dirs)
        if in_temp(p.exe):
            dropped = p.exe.startswith("/dev/shm/") or hidden is not None
            exploited = p.user in _SERVICE_USERS or _networked(ctx, p)
            severity = H if dropped or exploited else M
            why = "The executable is in a temporary directory, where droppers put their payloads."
        elif hidden is not None:
            severity = M if in_home(p.exe) else H
            why = "The executable is in a hidden directory, a common way to hide a payload."
        else:
            continue
        if ctx.in_other_mount_ns(p.pid):
            severity = severity.lowered()
            why += " (The process runs in a container.)"
        yield ctx.finding(rule, why, ctx.process_evidence(p), severity=severity)


def _networked(ctx: Context, p: Process) -> bool:
    """Holds a connection to, or listens on, something beyond loopback."""
    for s in ctx.sockets_by_pid.get(p.pid, ()):
        address = s.local_addr if s.listening else s.remote_addr
        if not is_loopback(address):
            return True
    return False


_KTHREAD = re.compile(
    r"^(?:kworker/|ksoftirqd/|migration/|cpuhp/|watchdog/|idle_inject/|rcu_|kthreadd$|kswapd\d"
    r"|kcompactd\d|khugepaged$|kdevtmpfs$|kauditd$|khungtaskd$|oom_reaper$|ksmd$|jbd2/"
    r"|kblockd$|kintegrityd$|writeback$|kthrotld$|irq/\d|scsi_eh_|scsi_tmf_|ext4-rsv|kdamond"
    r"|kstrp$|ipv6_addrconf$|netns$|mm_percpu_wq$|edac-poller$|devfreq_wq$|kpsmoused$|bioset$"
    r"|ttm_swap$|zswap|kmpath|kaluad|dm_bufio|ata_sff$|pool_workqueue|kthrotl|khungtask|kswapd$)"
)


def kthread_impostor(ctx: Context) -> Iterator[Finding]:
    """PROC-KTHREAD-IMPOSTOR (critical): a process that is not a kernel thread (no PF_KTHREAD)
    but is named like one (kworker/0:1, ksoftirqd/0, kswapd0...) or shows a bracketed argv
    ("[kworker/0:1]") the way ps shows kernel threads. The kernel flag is the hard criterion:
    a real kernel thread always has it, a process cannot set it."""
    rule = cat.BY_ID["PROC-KTHREAD-IMPOSTOR"]
    for p in ctx.user_processes:
        argv0 = p.cmdline[0].strip() if p.cmdline else ""
        bracketed = argv0.startswith("[") and argv0.endswith("]")
        named = bool(_KTHREAD.match(p.name)) or p.name in ioc.KTHREAD_NAMES_USED_BY_MALWARE
        if not (bracketed or named):
            continue
        how = (
            "shows a bracketed name the way kernel threads appear"
            if bracketed
            else ("is named like a kernel thread")
        )
        yield ctx.finding(
            rule,
            f"A user-space process {how}; real kernel threads are marked by the kernel and "
            "this one is not.",
            ctx.process_evidence(p, text=argv0 or p.name),
        )


def daemon_impostor(ctx: Context) -> Iterator[Finding]:
    """PROC-DAEMON-IMPOSTOR: a process named like a system daemon (sshd, systemd, crond,
    rsyslogd, dbus-daemon...) whose executable is outside the system directories (/usr, /bin,
    /sbin, /lib*, /opt, /snap, /nix/store). High; critical from a temporary or hidden directory.
    Skipped: unreadable executables, deleted ones (PROC-EXE-DELETED), containers (their paths
    are their own)."""
    rule = cat.BY_ID["PROC-DAEMON-IMPOSTOR"]
    for p in ctx.user_processes:
        if p.name not in ioc.SYSTEM_DAEMONS or not p.exe or p.exe_deleted or p.exe_memfd:
            continue
        if _system_dir(p.exe) or ctx.in_other_mount_ns(p.pid):
            continue
        odd = in_temp(p.exe) or suspicious_hidden_dir(p.exe, ctx.indicators.tool_dirs)
        yield ctx.finding(
            rule,
            "The process has a system daemon's name but runs a program from outside the system "
            "directories.",
            ctx.process_evidence(p),
            severity=C if odd else H,
        )


def _is_shell(ctx: Context, p: Process) -> bool:
    return any(n in ioc.SHELLS for n in ctx.names(p)[:2])


def shell_sockets(ctx: Context) -> Iterator[Finding]:
    """PROC-REVERSE-SHELL (sockets): a shell (sh, bash, dash, zsh...) with no terminal
    (tty_nr == 0) holding a TCP socket. Shells do not talk to the network themselves; one that
    holds a connection is a reverse shell. Established to a non-loopback address: critical; on
    loopback: high; only a listening socket: medium (a bind shell, or a listening socket the
    shell inherited from a server that leaked it)."""
    rule = cat.BY_ID["PROC-REVERSE-SHELL"]
    for p in ctx.user_processes:
        if p.tty_nr != 0 or not _is_shell(ctx, p):
            continue
        tcp = [s for s in ctx.sockets_by_pid.get(p.pid, ()) if s.proto.startswith("tcp")]
        if not tcp:
            continue
        established = [s for s in tcp if s.state == "ESTABLISHED"]
        remote = [s for s in established if not is_loopback(s.remote_addr)]
        if remote:
            s, severity = remote[0], C
            why = "A shell without a terminal holds a network connection: a reverse shell."
        elif established:
            s, severity = established[0], H
            why = (
                "A shell without a terminal holds a loopback connection, as a relayed reverse "
                "shell does."
            )
        else:
            s, severity = tcp[0], M
            why = (
                "A shell without a terminal holds a listening socket: a bind shell, or a socket "
                "inherited from a server."
            )
        yield ctx.finding(
            rule,
            why,
            ctx.process_evidence(
                p,
                port=s.local_port if s.listening else s.remote_port,
                remote_addr=None if s.listening else s.remote_addr,
                remote_port=None if s.listening else s.remote_port,
            ),
            severity=severity,
        )


def _server_kind(ctx: Context, p: Process) -> str | None:
    names = ctx.names(p)
    if any(n in ioc.DATABASE_PROCESSES for n in names):
        return "database"
    if any(n in ioc.DB_SHELL_TOLERANT for n in names):
        return "postgres"
    if any(n in ioc.WEB_PROCESSES or n.startswith("php-fpm") for n in names):
        return "web"
    if "java" in names:
        command = " ".join(p.cmdline).lower()
        if any(marker in command for marker in ioc.JAVA_SERVER_MARKERS):
            return "web"
    return None


def web_spawn(ctx: Context) -> Iterator[Finding]:
    """PROC-WEB-SPAWN: a web server, app server or database has a shell, interpreter or
    downloader among its descendants (looking through up to three shells: nginx -> sh -> curl).
    Databases and caches (redis, mysql, mongod) never do this: critical. A downloader or a
    dangerous command line under any server: high (critical with a critical marker). A plain
    shell under a web server: medium (CGI scripts and image converters exist). Under postgres
    (archive_command, COPY ... PROGRAM): low unless a downloader or marker is involved."""
    rule = cat.BY_ID["PROC-WEB-SPAWN"]
    watched = ioc.SHELLS | ioc.INTERPRETERS | ioc.DOWNLOADERS
    for p in ctx.user_processes:
        names = ctx.names(p)[:2]
        if not any(n in watched or n.startswith("python") for n in names):
            continue
        parent = ctx.by_pid.get(p.ppid)
        hops = 0
        while parent is not None and _is_shell(ctx, parent) and hops < 3:
            parent = ctx.by_pid.get(parent.ppid)
            hops += 1
        if parent is None:
            continue
        kind = _server_kind(ctx, parent)
        if kind is None:
            continue
        downloader = any(n in ioc.DOWNLOADERS for n in names)
        markers = ctx.scanner.scan(
            " ".join(p.cmdline), frozenset({"download", "reverse-shell", "mining"})
        )
        if kind == "database":
            severity = C
        elif markers:
            severity = max(H, _worst(markers))
        elif downloader:
            severity = H
        elif kind == "postgres":
            severity = L
        else:
            severity = M
        yield ctx.finding(
            rule,
            f"A {'database' if kind in ('database', 'postgres') else 'server'} process started "
            "a shell or downloader, the way a web shell or an exploited service does.",
            ctx.process_evidence(
                p, text=clip(f"{parent.name} (pid {parent.pid}) -> {p.name}", 200)
            ),
            severity=severity,
        )


def scanner(ctx: Context) -> Iterator[Finding]:
    """PROC-SCANNER: masscan, pnscan, zmap, zgrab and the like (high); nmap (medium: admins
    use it too)."""
    rule = cat.BY_ID["PROC-SCANNER"]
    for p in ctx.user_processes:
        names = ctx.names(p)
        if any(n in ctx.indicators.scanner_names for n in names):
            severity = H
        elif any(n in ioc.ADMIN_SCANNER_NAMES for n in names):
            severity = M
        else:
            continue
        yield ctx.finding(
            rule,
            "A network scanner is running; infected servers scan for the next victims.",
            ctx.process_evidence(p),
            severity=severity,
        )


CHECKS: tuple[Check, ...] = (
    miner_name,
    command_markers,
    deleted_exe,
    memfd_exe,
    temp_exe,
    kthread_impostor,
    daemon_impostor,
    shell_sockets,
    web_spawn,
    scanner,
)
