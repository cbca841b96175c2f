"""Gather host facts by reading files: users, persistence, kernel, logs, agents, temp files.

Self-contained on purpose: this file is shipped to remote hosts (beside the collector) and run
there with whatever Python 3 the host has, down to 3.6. Standard library only, no dataclasses, no
project imports; the result is a plain JSON-serialisable dict (``backends.facts_decode`` turns it
into ``domain.facts`` models).

Rules of conduct on a hostile host:

- It never runs the host's programs (``crontab -l``, ``systemctl``, ``lsattr`` may be trojaned):
  everything is read from files and ``/proc`` directly.
- It changes nothing: files are opened read-only with ``O_NOATIME`` where the kernel allows it
  (it refuses for files we do not own unless we are root; then we fall back silently), never
  ``chattr``'d, never touched. Directory listings may still update a directory's atime (once a
  day under relatime).
- Every read is bounded (bytes per file, lines per file, files per directory, entries per scan).
  FIFOs and devices are never opened (``O_NONBLOCK`` + a regular-file check).
- With ``root`` other than ``/`` (``--sysroot``, a mounted disk image) every path, including the
  targets of symlinks, is resolved inside that root: an absolute symlink in the image never leads
  to the responder's own files.
- Anything unreadable becomes an entry in ``errors``; nothing raises.

Run as a script it prints the JSON on stdout: ``python3 facts.py [ROOT]``.
"""

import base64
import binascii
import fcntl
import hashlib
import json
import os
import stat
import struct
import sys
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

SCHEMA = "sickbay.facts/1"

# Read limits.
MAX_FILE_BYTES = 64 * 1024
MAX_KEYS_BYTES = 256 * 1024
MAX_ACCOUNT_BYTES = 1024 * 1024
MAX_LINES = 2000
MAX_LINE_CHARS = 4096
MAX_DIR_ENTRIES = 2000
MAX_FILES = 4000  # persistence files in all
MAX_USERS = 10000
MAX_HOMES = 500
TEMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
TEMP_MAX_DEPTH = 4
TEMP_MAX_ENTRIES = 5000
TEMP_MAX_REPORTED = 500
SETID_MAX_ENTRIES = 300000
SETID_MAX_DEPTH = 16
SETID_MAX_REPORTED = 2000

# ext4/xfs/btrfs inode flags: FS_IOC_GETFLAGS = _IOR('f', 1, long).
FS_IOC_GETFLAGS = (2 << 30) | (struct.calcsize("l") << 16) | (ord("f") << 8) | 1
FS_IMMUTABLE_FL = 0x10
FS_APPEND_FL = 0x20

O_NOATIME = getattr(os, "O_NOATIME", 0)
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)

CRON_SPOOLS = ("/var/spool/cron", "/var/spool/cron/crontabs")
CRON_SCRIPT_DIRS = (
    "/etc/cron.hourly",
    "/etc/cron.daily",
    "/etc/cron.weekly",
    "/etc/cron.monthly",
)
SYSTEMD_ADMIN_DIRS = ("/etc/systemd/system", "/run/systemd/system")
SYSTEMD_VENDOR_DIRS = ("/usr/lib/systemd/system", "/lib/systemd/system")
UNIT_SUFFIXES = (".service", ".timer", ".socket", ".path", ".conf")
# Only the directives rules read are kept from unit files.
UNIT_KEYS = (
    "ExecStart",
    "ExecStartPre",
    "ExecStartPost",
    "ExecCondition",
    "ExecReload",
    "ExecStop",
    "ExecStopPost",
    "OnCalendar",
    "OnBootSec",
    "OnStartupSec",
    "OnActiveSec",
    "OnUnitActiveSec",
    "OnUnitInactiveSec",
    "Unit",
    "User",
    "Environment",
    "EnvironmentFile",
    "WorkingDirectory",
    "Description",
    "ListenStream",
    "PathChanged",
    "PathModified",
    "PathExists",
)
PROFILE_FILES = (
    "/etc/profile",
    "/etc/bash.bashrc",
    "/etc/bashrc",
    "/etc/environment",
)
USER_PROFILE_FILES = (".bashrc", ".bash_profile", ".bash_login", ".profile")
HISTORY_FILES = (".bash_history", ".zsh_history", ".sh_history", ".ash_history")
RC_FILES = ("/etc/rc.local", "/etc/rc.d/rc.local")
INIT_DIRS = ("/etc/init.d", "/etc/rc.d/init.d")
FIREWALL_FILES = (
    "/etc/iptables/rules.v4",
    "/etc/iptables/rules.v6",
    "/etc/sysconfig/iptables",
    "/etc/sysconfig/ip6tables",
    "/etc/iptables.rules",
    "/etc/nftables.conf",
)
LOG_FILES = (
    ("auth", "/var/log/auth.log"),
    ("auth", "/var/log/secure"),
    ("syslog", "/var/log/syslog"),
    ("syslog", "/var/log/messages"),
    ("wtmp", "/var/log/wtmp"),
    ("btmp", "/var/log/btmp"),
    ("lastlog", "/var/log/lastlog"),
)
PACKAGE_FILES = (
    "/var/lib/dpkg/status",
    "/var/log/apt/history.log",
    "/var/log/dpkg.log",
    "/var/lib/rpm/Packages",
    "/var/lib/rpm/rpmdb.sqlite",
    "/usr/lib/sysimage/rpm/rpmdb.sqlite",
    "/var/log/dnf.log",
    "/var/log/dnf.rpm.log",
    "/var/log/yum.log",
    "/lib/apk/db/installed",
)
AGENTS = (
    (
        "aliyun-aegis",
        "alibaba",
        (
            "/usr/local/aegis",
            "/usr/local/aegis/aegis_client",
            "/usr/local/aegis/aegis_update",
            "/usr/local/aegis/alihids",
        ),
    ),
    (
        "tencent-yunjing",
        "tencent",
        (
            "/usr/local/qcloud/YunJing",
            "/usr/local/qcloud/YunJing/YDEyes",
            "/usr/local/qcloud/YunJing/YDLive",
        ),
    ),
)
INSTALL_MARKERS = (
    "/var/log/installer",
    "/root/anaconda-ks.cfg",
    "/etc/ssh/ssh_host_ed25519_key.pub",
    "/etc/ssh/ssh_host_rsa_key.pub",
    "/etc/ssh/ssh_host_ecdsa_key.pub",
    "/etc/machine-id",
)
# Top-level directories the --sysroot SUID/SGID scan skips: pseudo filesystems (empty on an
# image), and container/snap stores whose layers hold whole systems with their own set-id files.
SETID_SKIP = (
    "/proc",
    "/sys",
    "/dev",
    "/run",
    "/var/lib/docker",
    "/var/lib/containers",
    "/var/lib/containerd",
    "/var/lib/snapd",
    "/snap",
    "/lost+found",
)
KEY_TYPE_PREFIXES = ("ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-")


def _is_key_type(token: str) -> bool:
    return token.startswith(KEY_TYPE_PREFIXES)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


class _Gatherer:
    """One gathering pass. Collects results and errors; never raises on host data."""

    def __init__(self, root: str, proc_root: Optional[str]) -> None:
        root = root or "/"
        self.root = os.path.abspath(root)
        self.live = self.root == "/"
        self.proc_root = proc_root
        self.errors: List[Dict[str, str]] = []
        self.files: List[Dict[str, Any]] = []
        self.seen_files: Set[Tuple[str, str]] = set()
        self.budget_files = MAX_FILES

    # -- paths --------------------------------------------------------------------------------

    def host(self, path: str) -> str:
        """The path on the machine running this code for a path on the target."""
        if self.live:
            return path
        return os.path.join(self.root, path.lstrip("/"))

    def resolve(self, path: str) -> Optional[str]:
        """Follow symlinks inside the target root; None on a loop (or a NUL byte)."""
        if "\0" in path:
            return None
        if self.live:
            return os.path.realpath(path)
        parts = [p for p in path.split("/") if p and p != "."]
        done: List[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            candidate = "/" + "/".join(done + [part])
            try:
                st = os.lstat(self.host(candidate))
            except OSError:
                return "/" + "/".join(done + [part] + parts)
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                if hops > 40:
                    return None
                try:
                    target = os.readlink(self.host(candidate))
                except OSError:
                    return None
                if target.startswith("/"):
                    done = []
                parts = [p for p in target.split("/") if p and p != "."] + parts
            else:
                done.append(part)
        return "/" + "/".join(done)

    def error(self, what: str, exc: Any) -> None:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        self.errors.append({"what": what, "reason": reason or exc.__class__.__name__})

    def lstat(self, path: str, report: bool = True) -> Optional[os.stat_result]:
        try:
            return os.lstat(self.host(path))
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return None
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte in a hostile path
            if report:
                self.error(path, exc)
            return None

    def listdir(self, path: str, limit: int = MAX_DIR_ENTRIES) -> List[str]:
        """Sorted names in a directory (symlinks to directories followed inside the root)."""
        real = self.resolve(path)
        if real is None:
            self.error(path, "symlink loop")
            return []
        names: List[str] = []
        try:
            it = os.scandir(self.host(real))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            self.error(path, exc)
            return []
        try:
            for entry in it:
                names.append(entry.name)
                if len(names) >= limit:
                    self.error(path, "more than %d entries: the rest were not read" % limit)
                    break
        except OSError as exc:
            self.error(path, exc)
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()
        names.sort()
        return names

    def open_regular(self, path: str) -> Tuple[Optional[int], Optional[os.stat_result]]:
        """An fd for a regular file (never a FIFO or device), read-only, without atime updates
        where allowed. The final component is resolved first (inside the root)."""
        real = self.resolve(path)
        if real is None:
            self.error(path, "symlink loop")
            return None, None
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | O_CLOEXEC
        if not self.live:
            flags |= O_NOFOLLOW
        fd = None
        for extra in (O_NOATIME, 0):
            try:
                fd = os.open(self.host(real), flags | extra)
                break
            except PermissionError:
                if extra == 0:
                    raise
            except OSError:
                raise
        if fd is None:  # pragma: no cover - the loop either opens or raises
            return None, None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            return None, st
        return fd, st

    def inode_flags(self, fd: int) -> Tuple[Optional[bool], Optional[bool]]:
        try:
            raw = fcntl.ioctl(fd, FS_IOC_GETFLAGS, b"\0" * 8)
        except (OSError, ValueError, OverflowError):
            return None, None
        flags = struct.unpack("i", raw[:4])[0]
        return bool(flags & FS_IMMUTABLE_FL), bool(flags & FS_APPEND_FL)

    def meta(
        self,
        path: str,
        st: Optional[os.stat_result],
        fd: Optional[int] = None,
        link: Optional[str] = None,
    ) -> Dict[str, Any]:
        out: Dict[str, Any] = {"path": path}
        if link is not None:
            out["link"] = link
        if st is not None:
            out.update(
                uid=st.st_uid,
                gid=st.st_gid,
                mode=st.st_mode,
                mtime=st.st_mtime,
                ctime=st.st_ctime,
                size=st.st_size,
            )
        if fd is not None:
            immutable, append = self.inode_flags(fd)
            out["immutable"] = immutable
            out["append_only"] = append
        return out

    def stat_meta(self, path: str, with_flags: bool = True) -> Optional[Dict[str, Any]]:
        """Metadata of a path (None if it does not exist). For a symlink: its target as written,
        and the metadata of what it leads to inside the root."""
        lst = self.lstat(path)
        if lst is None:
            return None
        link = None
        st: Optional[os.stat_result] = lst
        if stat.S_ISLNK(lst.st_mode):
            try:
                link = os.readlink(self.host(path))
            except OSError as exc:
                self.error(path, exc)
                link = ""
            real = self.resolve(path)
            st = None
            if real is not None:
                try:
                    st = os.stat(self.host(real)) if self.live else os.lstat(self.host(real))
                except OSError:
                    st = None
        fd = None
        if with_flags and st is not None and stat.S_ISREG(st.st_mode):
            try:
                fd, _ = self.open_regular(path)
            except OSError:
                fd = None
        try:
            return self.meta(path, st, fd, link)
        finally:
            if fd is not None:
                os.close(fd)

    def read(
        self, path: str, limit: int = MAX_FILE_BYTES, report_missing: bool = False
    ) -> Tuple[Optional[bytes], Optional[Dict[str, Any]], bool]:
        """(content, meta, truncated). Content None when missing or unreadable (reported)."""
        lst = self.lstat(path)
        if lst is None:
            if report_missing:
                self.error(path, "missing")
            return None, None, False
        link = None
        if stat.S_ISLNK(lst.st_mode):
            try:
                link = os.readlink(self.host(path))
            except OSError:
                link = ""
        try:
            fd, st = self.open_regular(path)
        except FileNotFoundError:
            return None, self.meta(path, None, None, link), False
        except OSError as exc:
            self.error(path, exc)
            return None, self.meta(path, lst if link is None else None, None, link), False
        if fd is None:
            return None, self.meta(path, st, None, link), False
        try:
            meta = self.meta(path, st, fd, link)
            chunks: List[bytes] = []
            remaining = limit + 1
            while remaining > 0:
                chunk = os.read(fd, min(65536, remaining))
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
            data = b"".join(chunks)
        except OSError as exc:
            self.error(path, exc)
            return None, self.meta(path, lst, None, link), False
        finally:
            os.close(fd)
        truncated = len(data) > limit
        return data[:limit], meta, truncated

    # -- persistence files ------------------------------------------------------------------

    def lines(
        self, data: bytes, keep: Optional[Tuple[str, ...]] = None, max_lines: int = MAX_LINES
    ) -> Tuple[List[List[Any]], bool]:
        """Numbered non-blank lines; with ``keep``, only ``Key=`` lines whose key is listed."""
        out: List[List[Any]] = []
        truncated = False
        for number, raw in enumerate(data.split(b"\n"), 1):
            text = _decode(raw.rstrip(b"\r"))
            stripped = text.strip()
            if not stripped:
                continue
            if keep is not None:
                key = stripped.split("=", 1)[0].strip()
                if "=" not in stripped or key not in keep:
                    continue
            if len(text) > MAX_LINE_CHARS:
                text = text[:MAX_LINE_CHARS]
                truncated = True
            out.append([number, text])
            if len(out) >= max_lines:
                truncated = True
                break
        return out, truncated

    def add_file(
        self,
        kind: str,
        path: str,
        user: Optional[str] = None,
        vendor: bool = False,
        keep: Optional[Tuple[str, ...]] = None,
        limit: int = MAX_FILE_BYTES,
    ) -> None:
        if self.budget_files <= 0:
            if self.budget_files == 0:
                self.error("persistence files", "more than %d files: the rest skipped" % MAX_FILES)
                self.budget_files -= 1
            return
        real = self.resolve(path)
        identity = (kind, real or path)
        if identity in self.seen_files:
            return
        self.seen_files.add(identity)
        data, meta, truncated = self.read(path, limit)
        if meta is None:
            return
        self.budget_files -= 1
        entry: Dict[str, Any] = {"kind": kind, "meta": meta, "lines": [], "truncated": truncated}
        if user is not None:
            entry["user"] = user
        if vendor:
            entry["vendor"] = True
        if data is not None:
            lines, cut = self.lines(data, keep)
            entry["lines"] = lines
            entry["truncated"] = truncated or cut
        self.files.append(entry)

    def add_dir(
        self,
        kind: str,
        directory: str,
        user: Optional[str] = None,
        vendor: bool = False,
        keep: Optional[Tuple[str, ...]] = None,
        suffixes: Optional[Tuple[str, ...]] = None,
    ) -> None:
        for name in self.listdir(directory):
            if suffixes is not None and not name.endswith(suffixes):
                continue
            path = directory.rstrip("/") + "/" + name
            lst = self.lstat(path)
            if lst is None or stat.S_ISDIR(lst.st_mode):
                continue
            self.add_file(kind, path, user, vendor, keep)

    def cron(self) -> None:
        self.add_file("cron", "/etc/crontab")
        self.add_file("cron", "/etc/anacrontab")
        self.add_dir("cron", "/etc/cron.d")
        for directory in CRON_SCRIPT_DIRS:
            self.add_dir("cron-script", directory)
        for spool in CRON_SPOOLS:
            for name in self.listdir(spool):
                path = spool + "/" + name
                lst = self.lstat(path)
                if lst is None or stat.S_ISDIR(lst.st_mode):
                    continue
                self.add_file("cron", path, user=name)

    def systemd_dir(
        self, directory: str, vendor: bool, user: Optional[str] = None, depth: int = 0
    ) -> None:
        for name in self.listdir(directory):
            path = directory + "/" + name
            lst = self.lstat(path)
            if lst is None:
                continue
            if stat.S_ISDIR(lst.st_mode):
                # foo.service.d/ drop-ins and *.wants/ links, one level down.
                if depth == 0 and (name.endswith(".d") or name.endswith((".wants", ".requires"))):
                    self.systemd_dir(path, vendor, user, depth + 1)
                continue
            if not name.endswith(UNIT_SUFFIXES):
                continue
            if stat.S_ISLNK(lst.st_mode):
                try:
                    target = os.readlink(self.host(path))
                except OSError:
                    target = ""
                real = self.resolve(path) or ""
                in_unit_dir = real.startswith(
                    tuple(d + "/" for d in SYSTEMD_ADMIN_DIRS + SYSTEMD_VENDOR_DIRS)
                )
                if in_unit_dir or real == "/dev/null" or target == "/dev/null":
                    # Enablement link (or a mask): the unit itself is read from its directory.
                    if self.budget_files > 0:
                        self.budget_files -= 1
                        entry: Dict[str, Any] = {
                            "kind": "systemd",
                            "meta": {"path": path, "link": target},
                            "lines": [],
                            "truncated": False,
                        }
                        if vendor:
                            entry["vendor"] = True
                        if user is not None:
                            entry["user"] = user
                        self.files.append(entry)
                    continue
            self.add_file("systemd", path, user, vendor, UNIT_KEYS, limit=32 * 1024)

    def systemd(self) -> None:
        for directory in SYSTEMD_ADMIN_DIRS:
            self.systemd_dir(directory, vendor=False)
        seen = set()
        for directory in SYSTEMD_VENDOR_DIRS:
            real = self.resolve(directory)
            if real is None or real in seen:
                continue
            seen.add(real)
            self.systemd_dir(directory, vendor=True)

    def rc(self) -> None:
        for path in RC_FILES:
            self.add_file("rc", path)
        seen = set()
        for directory in INIT_DIRS:
            real = self.resolve(directory)
            if real is None or real in seen:
                continue
            seen.add(real)
            self.add_dir("rc", directory)

    def firewall(self) -> None:
        for path in FIREWALL_FILES:
            self.add_file("firewall", path)

    def profiles(self) -> None:
        for path in PROFILE_FILES:
            self.add_file("profile", path)
        self.add_dir("profile", "/etc/profile.d")

    # -- accounts -----------------------------------------------------------------------------

    @staticmethod
    def password_state(field: str) -> str:
        if field == "":
            return "empty"
        if field.startswith("!"):
            return "locked"
        if field.startswith("$") or (len(field) == 13 and field not in ("*", "x")):
            return "set"
        return "none"

    def users(self) -> Tuple[List[Dict[str, Any]], bool]:
        data, _, truncated = self.read("/etc/passwd", MAX_ACCOUNT_BYTES, report_missing=True)
        if truncated:
            self.error(
                "/etc/passwd", "longer than %d bytes: the rest was not read" % MAX_ACCOUNT_BYTES
            )
        shadow: Dict[str, Tuple[str, Optional[int]]] = {}
        shadow_readable = False
        sdata, _, _ = self.read("/etc/shadow", MAX_ACCOUNT_BYTES)
        if sdata is not None:
            shadow_readable = True
            for number, raw in enumerate(sdata.split(b"\n"), 1):
                if not raw.strip() or raw.startswith(b"#"):
                    continue
                fields = _decode(raw).split(":")
                if len(fields) < 2:
                    self.error("/etc/shadow line %d" % number, "not a shadow entry")
                    continue
                changed: Optional[int] = None
                if len(fields) > 2 and fields[2].strip().isdigit():
                    changed = int(fields[2].strip())
                # The hash is classified here and dropped: it never leaves this function.
                shadow[fields[0]] = (self.password_state(fields[1]), changed)
        users: List[Dict[str, Any]] = []
        if data is None:
            return users, shadow_readable
        for number, raw in enumerate(data.split(b"\n"), 1):
            if not raw.strip() or raw.startswith((b"#", b"+", b"-")):
                continue
            fields = _decode(raw).split(":")
            if len(fields) != 7:
                self.error(
                    "/etc/passwd line %d" % number, "expected 7 fields, got %d" % len(fields)
                )
                continue
            name, pw, uid, gid, _gecos, home, shell = fields
            try:
                uid_n, gid_n = int(uid), int(gid)
            except ValueError:
                self.error("/etc/passwd line %d" % number, "uid or gid is not a number")
                continue
            changed = None
            if pw == "x":
                state, changed = shadow.get(
                    name, ("unknown" if not shadow_readable else "none", None)
                )
            else:
                state = self.password_state(pw)
            users.append(
                {
                    "name": name,
                    "uid": uid_n,
                    "gid": gid_n,
                    "home": home,
                    "shell": shell,
                    "password": state,
                    "last_change_day": changed,
                    "line": number,
                }
            )
            if len(users) >= MAX_USERS:
                self.error("/etc/passwd", "more than %d accounts: the rest skipped" % MAX_USERS)
                break
        return users, shadow_readable

    def authorized_keys_paths(self) -> List[str]:
        """AuthorizedKeysFile patterns from sshd_config (first one wins, as in sshd)."""
        patterns: List[str] = []
        files = ["/etc/ssh/sshd_config"]
        for name in self.listdir("/etc/ssh/sshd_config.d"):
            if name.endswith(".conf"):
                files.insert(0, "/etc/ssh/sshd_config.d/" + name)
        for path in files:
            data, _, _ = self.read(path)
            if data is None:
                continue
            for raw in data.split(b"\n"):
                words = _decode(raw).split()
                if len(words) >= 2 and words[0].lower() == "authorizedkeysfile":
                    if words[1].lower() != "none":
                        return words[1:]
                    return []
        return patterns or [".ssh/authorized_keys", ".ssh/authorized_keys2"]

    @staticmethod
    def split_options(line: str) -> Tuple[List[str], str]:
        """Split the leading options of an authorized_keys line: commas separate options,
        whitespace ends them, both only outside double quotes (backslash escapes a quote)."""
        options: List[str] = []
        current: List[str] = []
        quoted = False
        i = 0
        while i < len(line):
            ch = line[i]
            if ch == "\\" and quoted and i + 1 < len(line):
                current.append(line[i : i + 2])
                i += 2
                continue
            if ch == '"':
                quoted = not quoted
            elif not quoted and ch == ",":
                options.append("".join(current))
                current = []
                i += 1
                continue
            elif not quoted and ch in " \t":
                break
            current.append(ch)
            i += 1
        if current:
            options.append("".join(current))
        return options, line[i:].strip()

    @staticmethod
    def option_value(option: str) -> str:
        value = option.split("=", 1)[1] if "=" in option else ""
        if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
            value = value[1:-1]
        return value.replace('\\"', '"')

    def parse_keys(self, path: str, user: Optional[str], data: bytes) -> List[Dict[str, Any]]:
        return parse_authorized_keys(path, user, data, self.error)

    def homes(
        self, users: List[Dict[str, Any]]
    ) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
        """Per-user files: profiles, user systemd units, authorized_keys, shell histories."""
        keys: List[Dict[str, Any]] = []
        logs: List[Dict[str, Any]] = []
        key_patterns = self.authorized_keys_paths()
        seen_homes: Set[str] = set()
        seen_key_files: Set[str] = set()
        for user in users:
            home = user["home"]
            if not home.startswith("/") or home == "/" or home in seen_homes:
                continue
            if len(seen_homes) >= MAX_HOMES:
                self.error("home directories", "more than %d: the rest skipped" % MAX_HOMES)
                break
            seen_homes.add(home)
            lst = self.lstat(home, report=False)
            if lst is None:
                continue
            name = user["name"]
            base = home.rstrip("/")
            for rel in USER_PROFILE_FILES:
                self.add_file("profile", base + "/" + rel, user=name)
            self.systemd_dir(base + "/.config/systemd/user", vendor=False, user=name)
            for pattern in key_patterns:
                path = (
                    pattern.replace("%%", "\0")
                    .replace("%h", base)
                    .replace("%u", name)
                    .replace("%U", str(user["uid"]))
                    .replace("\0", "%")
                )
                if not path.startswith("/"):
                    path = base + "/" + path
                if path in seen_key_files:
                    continue
                seen_key_files.add(path)
                data, meta, truncated = self.read(path, MAX_KEYS_BYTES)
                if meta is None:
                    continue
                self.files.append(
                    {
                        "kind": "authorized_keys",
                        "meta": meta,
                        "lines": [],
                        "truncated": truncated,
                        "user": name,
                    }
                )
                if data is not None:
                    keys.extend(self.parse_keys(path, name, data))
            for rel in HISTORY_FILES:
                path = base + "/" + rel
                meta = self.stat_meta(path, with_flags=False)
                if meta is not None:
                    logs.append({"kind": "history", "path": path, "meta": meta, "user": name})
        return keys, logs

    # -- system state -------------------------------------------------------------------------

    def text(self, path: str, limit: int = 4096) -> Optional[str]:
        data, _, _ = self.read(path, limit)
        return None if data is None else _decode(data).strip()

    def number(self, path: str) -> Optional[int]:
        value = self.text(path)
        if value is None:
            return None
        try:
            return int(value.split()[0])
        except (ValueError, IndexError):
            self.error(path, "not a number")
            return None

    def os_release(self) -> Dict[str, str]:
        for path in ("/etc/os-release", "/usr/lib/os-release"):
            data, _, _ = self.read(path)
            if data is None:
                continue
            out: Dict[str, str] = {}
            for raw in data.split(b"\n"):
                line = _decode(raw).strip()
                if "=" not in line or line.startswith("#"):
                    continue
                key, value = line.split("=", 1)
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                    value = value[1:-1]
                if key in ("ID", "VERSION_ID", "PRETTY_NAME", "ID_LIKE"):
                    out[key.lower()] = value[:256]
            return out
        return {}

    def kernel(self) -> Optional[Dict[str, Any]]:
        proc = self.proc_root
        if proc is None:
            return None
        out: Dict[str, Any] = {
            "release": self.text(proc + "/sys/kernel/osrelease"),
            "tainted": self.number(proc + "/sys/kernel/tainted"),
            "nr_hugepages": self.number(proc + "/sys/vm/nr_hugepages"),
            "nmi_watchdog": None,
            "modules": None,
        }
        if os.path.exists(proc + "/sys/kernel/nmi_watchdog"):
            out["nmi_watchdog"] = self.number(proc + "/sys/kernel/nmi_watchdog")
        data, _, _ = self.read(proc + "/modules", 1024 * 1024)
        if data is not None:
            modules: List[Dict[str, Any]] = []
            for number, raw in enumerate(data.split(b"\n"), 1):
                words = _decode(raw).split()
                if not words:
                    continue
                if len(words) < 5:
                    self.error("%s/modules line %d" % (proc, number), "malformed")
                    continue
                taint = ""
                last = words[-1]
                if last.startswith("(") and last.endswith(")"):
                    taint = last[1:-1]
                try:
                    size = int(words[1])
                except ValueError:
                    size = 0
                modules.append({"name": words[0], "size": size, "state": words[4], "taint": taint})
            out["modules"] = modules
        return out

    def logs(self) -> List[Dict[str, Any]]:
        out: List[Dict[str, Any]] = []
        listing: Dict[str, List[str]] = {}
        for kind, path in LOG_FILES:
            directory, name = path.rsplit("/", 1)
            if directory not in listing:
                listing[directory] = self.listdir(directory, limit=5000)
            meta = self.stat_meta(path, with_flags=False)
            rotated = []
            for other in listing[directory]:
                if other != name and other.startswith(name) and other[len(name)] in ".-":
                    rotated_meta = self.stat_meta(directory + "/" + other, with_flags=False)
                    if rotated_meta is not None:
                        rotated.append(rotated_meta)
                    if len(rotated) >= 20:
                        break
            if meta is None and not rotated:
                continue
            out.append({"kind": kind, "path": path, "meta": meta, "rotated": rotated})
        return out

    def packages(self) -> Dict[str, Any]:
        sources = []
        for path in PACKAGE_FILES:
            meta = self.stat_meta(path, with_flags=False)
            if meta is not None and meta.get("mtime") is not None:
                sources.append(meta)
        last = max([m["mtime"] for m in sources]) if sources else None
        return {"last_change": last, "sources": sources}

    def agents(self) -> List[Dict[str, Any]]:
        out = []
        for name, vendor, paths in AGENTS:
            present = [p for p in paths if self.lstat(p, report=False) is not None]
            out.append({"name": name, "vendor": vendor, "present": present})
        return out

    def cloud(self) -> Dict[str, str]:
        out = {}
        if self.live:
            for key, path in (
                ("dmi_vendor", "/sys/class/dmi/id/sys_vendor"),
                ("dmi_product", "/sys/class/dmi/id/product_name"),
            ):
                value = self.text(path, 256)
                if value:
                    out[key] = value
        datasource = self.text("/var/lib/cloud/instance/datasource", 512)
        # Only what cloud-init detected at boot: the configured list (cloud.cfg.d) names every
        # datasource the distribution supports, AliYun included, so it says nothing.
        if datasource:
            out["cloud_init_datasource"] = datasource
        # The instance id cloud-init read from the metadata service at boot (i-... on Alibaba
        # Cloud, ins-... on Tencent Cloud): how the console finds the host's instance.
        instance = self.text("/var/lib/cloud/data/instance-id", 128)
        if instance:
            out["instance_id"] = instance.strip()
        return out

    def install_time(self) -> Optional[float]:
        times = []
        for path in INSTALL_MARKERS:
            lst = self.lstat(path, report=False)
            if lst is not None:
                times.append(lst.st_mtime)
        return min(times) if times else None

    def hostname(self) -> str:
        value = None
        if self.live and self.proc_root is not None:
            value = self.text(self.proc_root + "/sys/kernel/hostname", 256)
        if not value:
            value = self.text("/etc/hostname", 256)
        return (value or "").split("\n")[0][:256]

    # -- scans ----------------------------------------------------------------------------------

    def is_elf(self, path: str) -> Tuple[bool, Optional[bool], Optional[bool]]:
        try:
            fd, _ = self.open_regular(path)
        except OSError:
            return False, None, None
        if fd is None:
            return False, None, None
        try:
            head = os.read(fd, 4)
            immutable, append = self.inode_flags(fd)
        except OSError:
            return False, None, None
        finally:
            os.close(fd)
        return head == b"\x7fELF", immutable, append

    def temp_files(self) -> List[Dict[str, Any]]:
        """Executables, ELF files, set-id and immutable files under the temp directories (not
        following symlinks, bounded in depth and entries)."""
        out: List[Dict[str, Any]] = []
        budget = [TEMP_MAX_ENTRIES]
        for top in TEMP_DIRS:
            lst = self.lstat(top, report=False)
            if lst is None or not stat.S_ISDIR(lst.st_mode):
                continue
            self.walk_temp(top, 1, budget, out)
        return out

    def walk_temp(
        self,
        directory: str,
        depth: int,
        budget: List[int],
        out: List[Dict[str, Any]],
        venv_bin: bool = False,
    ) -> None:
        # A Python virtualenv (its root holds pyvenv.cfg) keeps its programs in bin/: CI runs and
        # builds put them under /tmp. Such files are marked "venv" for the rules to weigh.
        cfg = self.lstat(directory + "/pyvenv.cfg", report=False)
        venv_root = cfg is not None and stat.S_ISREG(cfg.st_mode)
        for name in self.listdir(directory, limit=MAX_DIR_ENTRIES):
            if budget[0] <= 0:
                if budget[0] == 0:
                    self.error(
                        "temp directories", "more than %d entries: scan stopped" % TEMP_MAX_ENTRIES
                    )
                    budget[0] -= 1
                return
            budget[0] -= 1
            path = directory + "/" + name
            lst = self.lstat(path, report=False)
            if lst is None:
                continue
            if stat.S_ISDIR(lst.st_mode):
                if depth < TEMP_MAX_DEPTH:
                    in_bin = venv_bin or (venv_root and name == "bin")
                    self.walk_temp(path, depth + 1, budget, out, in_bin)
                continue
            if not stat.S_ISREG(lst.st_mode):
                continue
            elf, immutable, append = self.is_elf(path)
            interesting = (
                elf
                or lst.st_mode & 0o111
                or lst.st_mode & (stat.S_ISUID | stat.S_ISGID)
                or immutable
            )
            if interesting and len(out) < TEMP_MAX_REPORTED:
                meta = self.meta(path, lst)
                meta["immutable"] = immutable
                meta["append_only"] = append
                out.append({"meta": meta, "elf": elf, "venv": venv_bin})

    def setid_files(self) -> List[Dict[str, Any]]:
        """--sysroot only: set-id regular files anywhere in the image except pseudo filesystems
        and container stores (bounded)."""
        out: List[Dict[str, Any]] = []
        budget = [SETID_MAX_ENTRIES]
        self.walk_setid("/", 0, budget, out)
        return out

    def walk_setid(
        self, directory: str, depth: int, budget: List[int], out: List[Dict[str, Any]]
    ) -> None:
        try:
            it = os.scandir(self.host(directory))
        except OSError as exc:
            if not isinstance(exc, (FileNotFoundError, NotADirectoryError)):
                self.error(directory, exc)
            return
        subdirs = []
        try:
            for entry in it:
                if budget[0] <= 0:
                    if budget[0] == 0:
                        self.error(
                            "set-id scan", "more than %d entries: scan stopped" % SETID_MAX_ENTRIES
                        )
                        budget[0] -= 1
                    return
                budget[0] -= 1
                path = (
                    (directory.rstrip("/") + "/" + entry.name)
                    if directory != "/"
                    else "/" + entry.name
                )
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    if path not in SETID_SKIP and depth < SETID_MAX_DEPTH:
                        subdirs.append(path)
                elif stat.S_ISREG(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                    if len(out) < SETID_MAX_REPORTED:
                        out.append(self.meta(path, st))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()
        for sub in sorted(subdirs):
            self.walk_setid(sub, depth + 1, budget, out)

    def mount_namespaces(self) -> Tuple[Optional[str], Optional[List[int]]]:
        proc = self.proc_root
        if proc is None or not self.live:
            return None, None
        reference = None
        for who in ("1", "self"):
            try:
                reference = os.readlink(proc + "/" + who + "/ns/mnt")
                break
            except OSError:
                continue
        if reference is None:
            return None, None
        foreign: List[int] = []
        try:
            names = os.listdir(proc)
        except OSError as exc:
            self.error(proc, exc)
            return reference, None
        for name in names:
            if not name.isdigit():
                continue
            try:
                ns = os.readlink(proc + "/" + name + "/ns/mnt")
            except OSError:
                continue
            if ns != reference:
                foreign.append(int(name))
        foreign.sort()
        return reference, foreign

    def exe_probes(self, probes: Iterable[Sequence[Any]]) -> List[Dict[str, Any]]:
        out: List[Dict[str, Any]] = []
        proc = self.proc_root
        if proc is None or not self.live:
            return out
        for item in list(probes)[:1000]:
            try:
                pid, path = int(item[0]), str(item[1])
            except (TypeError, ValueError, IndexError):
                continue
            if not path.startswith("/"):
                continue
            where = "%s/%d/root%s" % (proc, pid, path)
            current = None
            try:
                st = os.stat(where)
                current = self.meta(path, st)
            except FileNotFoundError:
                current = None
            except (OSError, ValueError) as exc:
                self.error("pid %d exe probe" % pid, exc)
                continue
            out.append({"pid": pid, "path": path, "current": current})
        return out

    def path_probes(self, paths: Iterable[str]) -> List[Dict[str, Any]]:
        out = []
        for path in list(paths)[:2000]:
            if not isinstance(path, str) or not path.startswith("/"):
                continue
            meta = self.stat_meta(path)
            if meta is not None:
                out.append(meta)
        return out


def parse_authorized_keys(
    path: str,
    user: Optional[str],
    data: bytes,
    error: Optional[Callable[[str, Any], None]] = None,
) -> List[Dict[str, Any]]:
    """The entries of an authorized_keys file: one dict per non-comment line (type, options,
    forced command, comment, SHA256 fingerprint; ``valid`` False for a line that is no key).
    ``error(what, reason)`` hears of a file cut at MAX_LINES."""
    keys: List[Dict[str, Any]] = []
    for number, raw in enumerate(data.split(b"\n"), 1):
        line = _decode(raw.rstrip(b"\r")).strip()
        if not line or line.startswith("#"):
            continue
        options: List[str] = []
        rest = line
        first = line.split(None, 1)[0]
        if not _is_key_type(first):
            options, rest = _Gatherer.split_options(line)
        words = rest.split(None, 2)
        entry: Dict[str, Any] = {"path": path, "user": user, "line": number}
        if len(words) < 2 or not _is_key_type(words[0]):
            entry.update(key_type="", options=[], valid=False, comment=line[:MAX_LINE_CHARS])
            keys.append(entry)
            continue
        fingerprint = None
        try:
            blob = base64.b64decode(words[1].encode("ascii"), validate=True)
            digest = hashlib.sha256(blob).digest()
            fingerprint = "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")
        except (binascii.Error, ValueError, UnicodeEncodeError):
            fingerprint = None
        command = None
        for option in options:
            if option.lower().startswith("command="):
                command = _Gatherer.option_value(option)
        entry.update(
            key_type=words[0],
            options=[o[:MAX_LINE_CHARS] for o in options],
            command=command[:MAX_LINE_CHARS] if command is not None else None,
            comment=(words[2] if len(words) > 2 else "")[:MAX_LINE_CHARS],
            fingerprint=fingerprint,
            valid=fingerprint is not None,
        )
        keys.append(entry)
        if len(keys) >= MAX_LINES:
            if error is not None:
                error(path, "more than %d keys: the rest skipped" % MAX_LINES)
            break
    return keys


def gather_facts(
    root: str = "/",
    proc_root: Optional[str] = "/proc",
    probe_paths: Iterable[str] = (),
    exe_probes: Iterable[Sequence[Any]] = (),
    setid_scan: Optional[bool] = None,
) -> Dict[str, Any]:
    """Read the host's facts under ``root`` and return them as plain data.

    ``proc_root`` is read only on a live system (``root == "/"``); with another root it is
    ignored (the kernel there is not the image's). ``probe_paths`` are extra paths to stat (e.g.
    known malware locations); ``exe_probes`` are ``(pid, path)`` pairs for processes whose
    executable was deleted: what is at that path now, seen from the process's mount namespace.
    ``setid_scan`` walks the whole root for SUID/SGID files (default: only with a sysroot).
    """
    started = time.time()
    cpu_started = time.process_time()
    g = _Gatherer(root, proc_root)
    if not g.live:
        g.proc_root = None
    lst = g.lstat("/", report=False)
    if lst is None or not stat.S_ISDIR(lst.st_mode):
        g.error(g.root, "not a directory")

    def safe(what: str, read: Callable[[], Any], default: Any) -> Any:
        """One section; a bug here costs that section, never the whole gathering."""
        try:
            return read()
        except Exception as exc:
            g.errors.append({"what": what, "reason": "internal error: %r" % (exc,)})
            return default

    users, shadow_readable = safe("accounts", g.users, ([], False))
    safe("cron", g.cron, None)
    safe("systemd", g.systemd, None)
    safe("rc", g.rc, None)
    safe("profiles", g.profiles, None)
    safe("preload", lambda: g.add_file("preload", "/etc/ld.so.preload"), None)
    safe("firewall", g.firewall, None)
    keys, histories = safe("home directories", lambda: g.homes(users), ([], []))
    host_ns, foreign = safe("mount namespaces", g.mount_namespaces, (None, None))
    want_setid = setid_scan if setid_scan is not None else not g.live
    out: Dict[str, Any] = {
        "schema": SCHEMA,
        "root": g.root,
        "sysroot": not g.live,
        "gathered_at": started,
        "hostname": safe("hostname", g.hostname, ""),
        "os": safe("os-release", g.os_release, {}),
        "kernel": safe("kernel", g.kernel, None),
        "users": users,
        "shadow_readable": shadow_readable,
        "files": g.files,
        "authorized_keys": keys,
        "logs": safe("logs", g.logs, []) + histories,
        "packages": safe("packages", g.packages, {"last_change": None, "sources": []}),
        "agents": safe("agents", g.agents, []),
        "cloud": safe("cloud", g.cloud, {}),
        "install_time": safe("install time", g.install_time, None),
        "temp_files": safe("temp directories", g.temp_files, []),
        "setid_files": safe("set-id scan", g.setid_files, []) if want_setid else [],
        "path_probes": safe("path probes", lambda: g.path_probes(probe_paths), []),
        "exe_probes": safe("exe probes", lambda: g.exe_probes(exe_probes), []),
        "host_mnt_ns": host_ns,
        "foreign_mnt_ns_pids": foreign,
    }
    out["errors"] = g.errors
    out["gather_ms"] = (time.process_time() - cpu_started) * 1000.0
    out["wall_ms"] = (time.time() - started) * 1000.0
    return out


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = args[0] if args else "/"
    json.dump(gather_facts(root), sys.stdout, ensure_ascii=True, separators=(",", ":"))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
