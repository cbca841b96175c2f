"""Persistence rules over host facts: cron, systemd, rc/init scripts, shell profiles,
ld.so.preload, saved firewall rules, authorized_keys, and start-up items changed recently.

Lines are judged by what they do (:mod:`domain.detect.commands`): a cron line that pipes a
download into a shell is critical wherever it is; one that merely mentions /tmp is nothing.
Package-shipped units (/usr/lib/systemd, /lib/systemd) are read like any other for what they
run, but never reported for being recently changed (upgrades change them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from domain.facts import PersistenceFile
from domain.findings import Evidence, Finding, Severity

from . import catalog as cat
from .commands import Marker, in_temp, suspicious_hidden_dir
from .context import Check, Context, basename, clip

C, H, M, L = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW
DAY = 86400.0

_RULE_BY_KIND = {
    "cron": "PERS-CRON",
    "cron-script": "PERS-CRON",
    "systemd": "PERS-SYSTEMD",
    "rc": "PERS-RC",
    "profile": "PERS-PROFILE",
}
_KIND_WORDS = {
    "cron": "cron entry",
    "cron-script": "cron script line",
    "systemd": "unit file line",
    "rc": "start-up script line",
    "profile": "shell start-up line",
}
_ENV_LINE = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*=")
_UNIT_EXEC_KEYS = frozenset(
    {
        "ExecStart",
        "ExecStartPre",
        "ExecStartPost",
        "ExecCondition",
        "ExecReload",
        "ExecStop",
        "ExecStopPost",
    }
)


def cron_command(path: str, line: str) -> tuple[str, str | None]:
    """(command, user) of a crontab line. System crontabs (/etc/crontab, /etc/cron.d/*) have a
    user field after the schedule; anacrontab has period, delay and job id."""
    text = line.strip()
    if path == "/etc/anacrontab":
        parts = text.split(None, 3)
        return (parts[3] if len(parts) == 4 else text), None
    system = path == "/etc/crontab" or path.startswith("/etc/cron.d/")
    if text.startswith("@"):
        parts = text.split(None, 2 if system else 1)
        if system:
            return (parts[2] if len(parts) == 3 else text), (parts[1] if len(parts) > 1 else None)
        return (parts[1] if len(parts) == 2 else text), None
    parts = text.split(None, 6 if system else 5)
    if system:
        return (parts[6] if len(parts) == 7 else text), (parts[5] if len(parts) >= 6 else None)
    return (parts[5] if len(parts) == 6 else text), None


def _commands(f: PersistenceFile) -> Iterator[tuple[int, str, str, str | None]]:
    """(line number, whole line, the command part to judge, user) for each line of a file."""
    for line in f.lines:
        text = line.text.strip()
        if not text or text.startswith("#"):
            continue
        if f.kind == "cron":
            if _ENV_LINE.match(text):
                yield line.number, line.text, text, f.user
                continue
            command, user = cron_command(f.meta.path, text)
            yield line.number, line.text, command, user or f.user
        elif f.kind == "systemd":
            key, _, value = text.partition("=")
            key = key.strip()
            if key in _UNIT_EXEC_KEYS:
                yield line.number, line.text, value.strip().lstrip("-@:+!").strip(), f.user
            elif key in ("Environment", "EnvironmentFile"):
                yield line.number, line.text, value.strip(), f.user
        else:
            yield line.number, line.text, text, f.user


def file_lines(ctx: Context) -> Iterator[Finding]:
    """PERS-CRON, PERS-SYSTEMD, PERS-RC, PERS-PROFILE: a line of a cron file, unit (Exec*=,
    Environment=), rc.local/init script or shell profile that downloads and runs code, runs
    from a temporary or hidden directory, opens a reverse shell, mines, sets LD_PRELOAD, locks
    files with chattr, wipes history or kills the cloud agent. Severity is the most certain
    marker's (critical for download-into-shell, reverse shells, pool addresses, agent killing;
    high for temp/hidden execution, LD_PRELOAD, chattr; medium for history wiping)."""
    if ctx.facts is None:
        return
    for f in ctx.facts.files:
        rule_id = _RULE_BY_KIND.get(f.kind)
        if rule_id is None:
            continue
        rule = cat.BY_ID[rule_id]
        for number, raw, command, user in _commands(f):
            markers = ctx.scanner.scan(command)
            if not markers:
                continue
            what = "; it ".join(dict.fromkeys(m.what for m in markers))
            severity = max(m.severity for m in markers)
            if _runs_miner(markers, ctx):
                severity = C
                what += "; the program has a miner's name"
            yield ctx.finding(
                rule,
                f"This {_KIND_WORDS[f.kind]} {what}.",
                Evidence(path=f.meta.path, line=number, text=clip(raw.strip(), 500), user=user),
                severity=severity,
                attack=[a for m in markers for a in m.attack],
            )


def _runs_miner(markers: list[Marker], ctx: Context) -> bool:
    """A temp/hidden path that is executed and named like a miner (/dev/shm/.s/kdevtmpfsi)."""
    return any(
        m.id in ("temp-exec", "hidden-exec") and basename(m.text) in ctx.indicators.miner_names
        for m in markers
    )


def _known_bad(path: str, ctx: Context) -> bool:
    return path in ctx.indicators.ioc_paths


def preload(ctx: Context) -> Iterator[Finding]:
    """PERS-PRELOAD: /etc/ld.so.preload names a library, which the dynamic linker then loads
    into every program: how user-land rootkits hide processes and files (libprocesshider,
    libntp.so, libioset.so). High; critical when the library is in a temporary or hidden
    directory or a known malware path. (A rootkit already loaded can hide this file from
    readers on the host itself; --sysroot on a disk snapshot cannot be fooled that way.)"""
    if ctx.facts is None:
        return
    rule = cat.BY_ID["PERS-PRELOAD"]
    for f in ctx.facts.files_of("preload"):
        for line in f.lines:
            text = line.text.strip()
            if not text or text.startswith("#"):
                continue
            for lib in text.replace(":", " ").split():
                odd = (
                    in_temp(lib)
                    or suspicious_hidden_dir(lib, ctx.indicators.tool_dirs)
                    or _known_bad(lib, ctx)
                )
                yield ctx.finding(
                    rule,
                    "A library is preloaded into every program started on this host, the way "
                    "user-land rootkits hide themselves.",
                    Evidence(path=f.meta.path, line=line.number, text=clip(lib, 500)),
                    severity=C if odd else H,
                )


def firewall_files(ctx: Context) -> Iterator[Finding]:
    """PERS-FIREWALL-FILE: saved firewall rules that drop outgoing traffic to mining-pool ports,
    which miners add to starve rival miners (high). The live rule set is not read: that needs
    netlink or the host's iptables, which is not trusted."""
    if ctx.facts is None:
        return
    rule = cat.BY_ID["PERS-FIREWALL-FILE"]
    for f in ctx.facts.files_of("firewall"):
        for line in f.lines:
            markers = [
                m
                for m in ctx.scanner.scan(line.text, frozenset({"evasion"}))
                if m.id == "pool-port-drop"
            ]
            if markers:
                yield ctx.finding(
                    rule,
                    "Saved firewall rules block outgoing mining-pool ports, as miners do to keep "
                    "rival miners off the host.",
                    Evidence(path=f.meta.path, line=line.number, text=clip(line.text.strip(), 500)),
                )


_RESTRICTED_COMMANDS = re.compile(
    r"^\s*(?:\S*/)?(?:rrsync|gitolite-shell|git-shell|internal-sftp|sftp-server|borg\s+serve"
    r"|rsync\s+--server|scp\s+-[tf]|gitlab-shell|gitea|forgejo|gogs|validate-rsync)\b"
)
_KEY_SERVICE_USERS = frozenset(
    {"git", "gitlab", "gitea", "gogs", "forgejo", "borg", "backup", "rsync"}
)
_KEY_EXPLOITED_USERS = frozenset(
    {"redis", "www-data", "nobody", "apache", "nginx", "daemon", "mysql"}
)


def authorized_keys(ctx: Context) -> Iterator[Finding]:
    """PERS-AUTHKEY-COMMAND: a key with a forced command (medium; low for known restricted
    commands such as rrsync, git-shell, gitolite, borg serve, internal-sftp; the command's own
    markers raise it: a download into a shell is critical) or an environment= option (medium).
    PERS-AUTHKEY-SYSTEM-USER: a key for a service account (uid 1-999): high; critical for
    accounts a Redis/web exploit writes as (redis, www-data, nobody...); low for accounts
    that exist to take keys (git, backup...).
    PERS-AUTHKEY-JUNK: lines that are not keys: critical when they look like a Redis dump
    (the Redis CONFIG SET dir attack), medium otherwise (a broken paste)."""
    if ctx.facts is None:
        return
    users = ctx.facts.user_by_name()
    command_rule = cat.BY_ID["PERS-AUTHKEY-COMMAND"]
    system_rule = cat.BY_ID["PERS-AUTHKEY-SYSTEM-USER"]
    junk_rule = cat.BY_ID["PERS-AUTHKEY-JUNK"]
    for key in ctx.facts.authorized_keys:
        ev = Evidence(
            path=key.path,
            line=key.line,
            user=key.user,
            text=clip(key.command or key.comment or key.fingerprint or "", 500) or None,
        )
        if not key.valid:
            redis = "redis" in key.comment.lower() or "\\x" in key.comment
            yield ctx.finding(
                junk_rule,
                "The authorized_keys file holds a line that is not a key"
                + (
                    ", like the binary junk a Redis dump leaves when Redis is abused to write it."
                    if redis
                    else "."
                ),
                ev,
                severity=C if redis else M,
            )
            continue
        if key.command is not None:
            markers = ctx.scanner.scan(key.command)
            if markers:
                severity = max(M, *(m.severity for m in markers))
            elif _RESTRICTED_COMMANDS.match(key.command):
                severity = L
            else:
                severity = M
            yield ctx.finding(
                command_rule,
                "An SSH key runs a forced command on every login with it; backdoors use this to "
                "run code quietly.",
                ev,
                severity=severity,
            )
        elif key.environment:
            yield ctx.finding(
                command_rule,
                "An SSH key sets environment variables on login (e.g. LD_PRELOAD).",
                ev,
                severity=M,
            )
        account = users.get(key.user or "")
        if account is not None and 0 < account.uid < 1000:
            if account.name in _KEY_SERVICE_USERS:
                severity = L
            elif account.name in _KEY_EXPLOITED_USERS:
                severity = C
            else:
                severity = H
            yield ctx.finding(
                system_rule,
                "A service account accepts SSH key logins; attackers plant keys there after "
                "abusing the service (Redis, a web application).",
                ev,
                severity=severity,
            )


def recent_changes(ctx: Context) -> Iterator[Finding]:
    """PERS-RECENT-CHANGE (low): a start-up item (cron, admin systemd units, rc/init scripts,
    profiles, ld.so.preload, authorized_keys) modified within ``recent_days`` (30). Files
    unchanged since the system was set up (within a day of the install time: ssh host keys,
    installer logs) are left out, and so are package-shipped units (upgrades touch them)."""
    if ctx.facts is None:
        return
    rule = cat.BY_ID["PERS-RECENT-CHANGE"]
    horizon = ctx.now - ctx.thresholds.recent_days * DAY
    installed = ctx.facts.install_time
    for f in ctx.facts.files:
        if f.vendor or f.kind == "firewall" or f.meta.mtime is None:
            continue
        mtime = f.meta.mtime
        if mtime < horizon or (installed is not None and mtime <= installed + DAY):
            continue
        days = max(0.0, (ctx.now - mtime) / DAY)
        yield ctx.finding(
            rule,
            f"This start-up file was changed {days:.0f} day(s) ago; check the change is yours.",
            Evidence(path=f.meta.path, user=f.user),
        )


def unit_links(ctx: Context) -> Iterator[Finding]:
    """PERS-UNIT-LINK (high): a systemd unit that is a symlink into a temporary or hidden
    directory (enabling a unit file the package manager never saw)."""
    if ctx.facts is None:
        return
    rule = cat.BY_ID["PERS-UNIT-LINK"]
    for f in ctx.facts.files_of("systemd"):
        target = f.meta.link
        if not target or not target.startswith("/"):
            continue
        if in_temp(target) or suspicious_hidden_dir(target, ctx.indicators.tool_dirs):
            yield ctx.finding(
                rule,
                "A systemd unit is a link to a file in a temporary or hidden directory.",
                Evidence(path=f.meta.path, text=clip(target, 500), user=f.user),
            )


CHECKS: tuple[Check, ...] = (
    file_lines,
    preload,
    firewall_files,
    authorized_keys,
    recent_changes,
    unit_links,
)
