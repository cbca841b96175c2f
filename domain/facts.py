"""Host facts: the slower-changing state of a host that rules read beside the snapshot.

Users, persistence files (cron, systemd, rc/init scripts, shell profiles, ld.so.preload,
authorized_keys, saved firewall rules), kernel taint and modules, OS release, package activity,
log and history files, cloud security agents, suspicious files in temporary directories and
SUID/SGID files. ``backends.facts`` gathers them as plain data (it also runs on the target, with
Python 3.6) and ``backends.facts_decode`` turns that data into these models.

Everything here was read from the target and is attacker-controlled text: stored as read (bytes
that are not UTF-8 as ``\\xNN``), shown only through :func:`domain.sanitize.visible`. Password
hashes are never kept: an account only says whether its password is set, empty or locked.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from typing import Literal

# What a persistence file is. "cron" files hold crontab lines (schedule + command); "cron-script"
# files are whole scripts run by run-parts (/etc/cron.daily/...); "systemd" holds only the
# directives rules read (Exec*, On*, Environment...); "rc" is rc.local and init scripts;
# "profile" is a shell start-up file (or /etc/environment); "preload" is /etc/ld.so.preload;
# "authorized_keys" files are parsed into AuthorizedKey entries; "firewall" is saved rules.
FileKind = Literal[
    "cron", "cron-script", "systemd", "rc", "profile", "preload", "authorized_keys", "firewall"
]
FILE_KINDS: tuple[str, ...] = (
    "cron",
    "cron-script",
    "systemd",
    "rc",
    "profile",
    "preload",
    "authorized_keys",
    "firewall",
)

# "set": a usable password hash; "empty": no password at all (anyone may log in where PAM allows
# it); "locked": the field starts with "!" (usermod -L, or never set on RHEL: "!!"); "none": not a
# crypt(3) result ("*", "x" in shadow...), so no password login; "unknown": the hash lives in
# /etc/shadow and it could not be read.
PasswordState = Literal["set", "empty", "locked", "none", "unknown"]
PASSWORD_STATES: tuple[str, ...] = ("set", "empty", "locked", "none", "unknown")

LogKind = Literal["auth", "syslog", "wtmp", "btmp", "lastlog", "history"]
LOG_KINDS: tuple[str, ...] = ("auth", "syslog", "wtmp", "btmp", "lastlog", "history")


@dataclass(frozen=True, slots=True)
class FileMeta:
    """What ``lstat`` (and the ext4 flags ioctl) said about one path. For a symlink, ``link`` is
    its target as written and the other fields describe the file it leads to when that could be
    read (``None`` otherwise)."""

    path: str  # as on the target (for --sysroot: relative to the mounted root, starting with /)
    uid: int | None = None
    gid: int | None = None
    mode: int | None = None  # st_mode (type and permission bits)
    mtime: float | None = None
    ctime: float | None = None
    size: int | None = None
    immutable: bool | None = None  # chattr +i; None: the filesystem does not say
    append_only: bool | None = None  # chattr +a
    link: str | None = None

    @property
    def setuid(self) -> bool:
        return self.mode is not None and bool(self.mode & stat.S_ISUID)

    @property
    def setgid(self) -> bool:
        return self.mode is not None and bool(self.mode & stat.S_ISGID)

    @property
    def executable(self) -> bool:
        return self.mode is not None and bool(self.mode & 0o111)

    @property
    def is_symlink(self) -> bool:
        return self.link is not None


@dataclass(frozen=True, slots=True)
class Line:
    """One non-blank line of a file, numbered from 1 as an editor shows it."""

    number: int
    text: str


@dataclass(frozen=True, slots=True)
class PersistenceFile:
    """A file that can start code: its metadata and the lines rules read (bounded)."""

    kind: FileKind
    meta: FileMeta
    lines: tuple[Line, ...] = ()
    truncated: bool = False  # the file was longer than the read limit
    user: str | None = None  # the account a per-user file belongs to (crontab, ~/.bashrc...)
    vendor: bool = False  # in a package-managed location (/usr/lib/systemd, /lib/systemd)


@dataclass(frozen=True, slots=True)
class AuthorizedKey:
    """One entry of an authorized_keys file. The key itself is kept only as its fingerprint."""

    path: str
    user: str | None
    line: int
    key_type: str
    options: tuple[str, ...] = ()  # e.g. ('command="/bin/sh -c ..."', "no-pty")
    command: str | None = None  # the forced command, unquoted
    comment: str = ""
    fingerprint: str | None = None  # SHA256:... as ssh-keygen -l prints it
    valid: bool = True  # False: the line is not a key at all (e.g. junk from a Redis dump)

    @property
    def environment(self) -> tuple[str, ...]:
        return tuple(o for o in self.options if o.lower().startswith("environment="))


@dataclass(frozen=True, slots=True)
class UserAccount:
    """One /etc/passwd entry plus what /etc/shadow says about its password (never the hash)."""

    name: str
    uid: int
    gid: int
    home: str
    shell: str
    password: PasswordState
    last_change_day: int | None = None  # shadow field 3: days since 1970-01-01
    line: int = 0  # line number in /etc/passwd

    @property
    def login_shell(self) -> bool:
        """Whether the shell lets someone in (not nologin/false/sync...)."""
        base = self.shell.rsplit("/", 1)[-1]
        return bool(self.shell) and base not in NO_LOGIN_SHELLS


NO_LOGIN_SHELLS = frozenset(
    {"nologin", "false", "true", "sync", "shutdown", "halt", "git-shell", "rssh", "scponly"}
)


@dataclass(frozen=True, slots=True)
class KernelModule:
    name: str
    size: int
    state: str  # Live, Loading, Unloading
    taint: str  # the letters in parentheses, e.g. "OE"; "" when clean


@dataclass(frozen=True, slots=True)
class KernelFacts:
    release: str | None  # /proc/sys/kernel/osrelease
    tainted: int | None  # /proc/sys/kernel/tainted
    modules: tuple[KernelModule, ...] | None  # None: /proc/modules absent (no module support)
    nr_hugepages: int | None = None
    nmi_watchdog: int | None = None


@dataclass(frozen=True, slots=True)
class OsRelease:
    id: str = ""
    version_id: str = ""
    pretty_name: str = ""
    id_like: str = ""


@dataclass(frozen=True, slots=True)
class LogFile:
    """A log or shell history file. ``meta`` is None when the file does not exist; ``rotated``
    lists its rotated siblings (auth.log.1, secure-20260101.gz...) for logrotate-aware rules."""

    kind: LogKind
    path: str
    meta: FileMeta | None
    rotated: tuple[FileMeta, ...] = ()
    user: str | None = None  # for shell histories


@dataclass(frozen=True, slots=True)
class PackageActivity:
    """When the package manager last changed something (max mtime of its database and logs)."""

    last_change: float | None
    sources: tuple[FileMeta, ...] = ()


@dataclass(frozen=True, slots=True)
class AgentInstall:
    """A cloud security agent's files. ``present`` lists which of its known paths exist."""

    name: str  # "aliyun-aegis" (Alibaba AliYunDun) or "tencent-yunjing" (Tencent YDService)
    vendor: str  # "alibaba" | "tencent"
    present: tuple[str, ...] = ()

    @property
    def installed(self) -> bool:
        return bool(self.present)


@dataclass(frozen=True, slots=True)
class CloudFacts:
    """What says which cloud the host runs on (all attacker-controlled, but cheap to fake
    only for root, who then owns the host anyway)."""

    dmi_vendor: str = ""
    dmi_product: str = ""
    cloud_init_datasource: str = ""
    instance_id: str = ""  # cloud-init's record of the instance id (host text: only a hint)

    @property
    def provider(self) -> str | None:
        text = " ".join((self.dmi_vendor, self.dmi_product, self.cloud_init_datasource)).lower()
        if "alibaba" in text or "aliyun" in text:
            return "alibaba"
        if "tencent" in text:
            return "tencent"
        return None


@dataclass(frozen=True, slots=True)
class TempFile:
    """A file in /tmp, /var/tmp or /dev/shm worth a look: executable, ELF, set-id or immutable."""

    meta: FileMeta
    elf: bool = False
    venv: bool = False  # in the bin/ of a Python virtualenv (a directory holding pyvenv.cfg)


@dataclass(frozen=True, slots=True)
class ExeProbe:
    """What is now at the path of a process's deleted executable, seen from inside the process's
    own mount namespace (``/proc/PID/root``). Tells a package upgrade from a dropped binary."""

    pid: int
    path: str
    current: FileMeta | None  # None: nothing there now


@dataclass(frozen=True, slots=True)
class FactsError:
    """Something the gatherer could not read (permission, I/O error, malformed data)."""

    what: str
    reason: str


@dataclass(frozen=True, slots=True)
class HostFacts:
    """Everything the facts gatherer found on one host (or one mounted disk image)."""

    host: str  # display name (the source's name, not the host's own claim)
    root: str  # "/" live; the mount point with --sysroot
    gathered_at: float
    hostname: str = ""
    sysroot: bool = False  # files only: no /proc, no processes
    gather_ms: float | None = None
    os: OsRelease = OsRelease()
    kernel: KernelFacts | None = None
    users: tuple[UserAccount, ...] = ()
    shadow_readable: bool = False
    files: tuple[PersistenceFile, ...] = ()
    authorized_keys: tuple[AuthorizedKey, ...] = ()
    logs: tuple[LogFile, ...] = ()
    packages: PackageActivity = PackageActivity(None)
    agents: tuple[AgentInstall, ...] = ()
    cloud: CloudFacts = CloudFacts()
    install_time: float | None = None  # best guess at when this system was set up
    temp_files: tuple[TempFile, ...] = ()
    setid_files: tuple[FileMeta, ...] = ()  # --sysroot: bounded scan outside package dirs
    path_probes: tuple[FileMeta, ...] = ()  # requested paths (IOC paths) that exist
    exe_probes: tuple[ExeProbe, ...] = ()
    foreign_mnt_ns_pids: frozenset[int] | None = None  # None: not known (sysroot / unreadable)
    errors: tuple[FactsError, ...] = ()

    def files_of(self, *kinds: str) -> tuple[PersistenceFile, ...]:
        return tuple(f for f in self.files if f.kind in kinds)

    def user_by_name(self) -> dict[str, UserAccount]:
        return {u.name: u for u in self.users}
