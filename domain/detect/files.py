"""File rules over host facts: executables dropped in temporary directories, SUID/SGID files
outside the system directories, files at known malware locations. These are what ``sickbay
scan --sysroot`` finds on a disk image without running anything."""

from __future__ import annotations

from collections.abc import Iterator

from domain.facts import FileMeta
from domain.findings import Evidence, Finding, Severity

from . import catalog as cat
from . import indicators as ioc
from .commands import in_home, in_temp, suspicious_hidden_dir
from .context import Check, Context, basename

C, H, M, L = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW

# Set-id programs distributions ship.
KNOWN_SETID: frozenset[str] = frozenset(
    {
        "passwd",
        "su",
        "sudo",
        "sudoedit",
        "mount",
        "umount",
        "chsh",
        "chfn",
        "newgrp",
        "gpasswd",
        "pkexec",
        "fusermount",
        "fusermount3",
        "ping",
        "ping6",
        "ssh-keysign",
        "dbus-daemon-launch-helper",
        "polkit-agent-helper-1",
        "Xorg.wrap",
        "Xorg",
        "at",
        "crontab",
        "ssh-agent",
        "wall",
        "write",
        "bsd-write",
        "expiry",
        "chage",
        "unix_chkpwd",
        "pam_timestamp_check",
        "mount.nfs",
        "mount.cifs",
        "pppd",
        "exim4",
        "sendmail",
        "postdrop",
        "postqueue",
        "ntfs-3g",
        "staprun",
        "ksu",
        "userhelper",
        "usernetctl",
        "newuidmap",
        "newgidmap",
        "traceroute6.iputils",
        "dotlockfile",
        "mlocate",
        "plocate",
        "locate",
        "netreport",
        "chrome-sandbox",
        "snap-confine",
        "utempter",
        "screen",
        "lockdev",
        "dmcrypt-get-device",
        "procmail",
        "mail-lock",
        "mail-touchlock",
        "mail-unlock",
        "vmware-user-suid-wrapper",
        "qemu-bridge-helper",
        "lxc-user-nic",
        "nvidia-modprobe",
        "sg",
        "cockpit-session",
        "fping",
        "mtr-packet",
        "lppasswd",
        "uuidd",
        "kismet_cap_linux_wifi",
        "tcpdump",
    }
)


def temp_executables(ctx: Context) -> Iterator[Finding]:
    """FILE-TEMP-EXEC: an ELF binary in /tmp, /var/tmp or /dev/shm: medium (builds, test runs
    and virtualenvs leave binaries there too); high inside a hidden directory (/tmp/.x/...);
    critical when named like a miner. A Python virtualenv's bin/ does not count as hidden (CI
    checkouts under /tmp have .venv/bin full of ELF tools). Executable scripts are only reported
    inside a hidden directory (medium) or under a miner's name: installers and virtualenvs are
    full of them."""
    if ctx.facts is None:
        return
    rule = cat.BY_ID["FILE-TEMP-EXEC"]
    for t in ctx.facts.temp_files:
        meta = t.meta
        if meta.setuid or meta.setgid:
            continue  # FILE-SETID
        if not (t.elf or meta.executable):
            continue
        name = basename(meta.path)
        # A virtualenv's own bin/ (e.g. a CI checkout's /tmp/x/.venv/bin) is not a hiding
        # place; a forged pyvenv.cfg only lowers such a binary to medium, never hides it.
        hidden = (
            not t.venv and suspicious_hidden_dir(meta.path, ctx.indicators.tool_dirs) is not None
        )
        if name in ctx.indicators.miner_names:
            severity = C
        elif t.elf:
            severity = H if hidden else M
        elif hidden:
            severity = M
        else:
            continue
        what = "A program (ELF binary)" if t.elf else "An executable script"
        yield ctx.finding(
            rule,
            f"{what} sits in a temporary directory, where droppers put their payloads.",
            Evidence(path=meta.path, user=ctx.user_name(meta.uid)),
            severity=severity,
        )


def _setid_severity(meta: FileMeta, ctx: Context) -> Severity | None:
    path = meta.path
    if in_temp(path):
        return C
    if path.startswith(ioc.PACKAGE_EXE_DIRS):
        if suspicious_hidden_dir(path, ctx.indicators.tool_dirs):
            return H
        return None if basename(path) in KNOWN_SETID else L
    if (
        in_home(path)
        or path.startswith(("/etc/", "/dev/", "/var/"))
        or suspicious_hidden_dir(path, ctx.indicators.tool_dirs)
    ):
        return H
    return M


def setid(ctx: Context) -> Iterator[Finding]:
    """FILE-SETID: a set-uid/set-gid file outside the system directories. In a temporary
    directory: critical (a SUID copy of a shell is a root backdoor); in a home, /etc, /var or a
    hidden directory: high; elsewhere (/usr/local, /opt): medium; an unknown name in a system
    directory: low; the set-id programs distributions ship are not reported."""
    if ctx.facts is None:
        return
    rule = cat.BY_ID["FILE-SETID"]
    metas = list(ctx.facts.setid_files) + [t.meta for t in ctx.facts.temp_files]
    seen: set[str] = set()
    for meta in metas:
        if not (meta.setuid or meta.setgid) or meta.path in seen:
            continue
        seen.add(meta.path)
        severity = _setid_severity(meta, ctx)
        if severity is None:
            continue
        bit = "set-uid" if meta.setuid else "set-gid"
        owner = " root" if meta.setuid and meta.uid == 0 else ""
        yield ctx.finding(
            rule,
            f"A{owner} {bit} program sits outside the system directories; run by anyone, it "
            "runs with its owner's rights.",
            Evidence(path=meta.path, text=f"{bit} uid={meta.uid} mode={oct(meta.mode or 0)}"),
            severity=severity,
        )


def ioc_paths(ctx: Context) -> Iterator[Finding]:
    """FILE-IOC-PATH (high): a file exists at a path known from miner and botnet campaigns
    (/tmp/kdevtmpfsi, /etc/sysupdate, renamed tools like /usr/bin/wge, preload libraries like
    /usr/local/lib/libioset.so; ``Indicators.ioc_paths``). Facts probe only the paths asked for."""
    if ctx.facts is None:
        return
    wanted = set(ctx.indicators.ioc_paths)
    for meta in ctx.facts.path_probes:
        if meta.path in wanted:
            yield ctx.finding(
                cat.BY_ID["FILE-IOC-PATH"],
                "A file exists where known miner and botnet campaigns put theirs.",
                Evidence(path=meta.path),
            )


CHECKS: tuple[Check, ...] = (temp_executables, setid, ioc_paths)
