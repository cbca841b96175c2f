"""The POSIX sh fallback, for targets without python3.

:data:`SH_AGENT` runs in the target's /bin/bash or /bin/sh and uses shell builtins only (no cat,
no readlink, no ps: nothing the attacker may have replaced). Per request line it dumps the /proc
files the collector needs as records, then ``E``:

    F NAME LEN\\n<LEN bytes>   the file NAME (its lines, each ending in a newline)
    Z NAME LEN\\n<LEN bytes>   one NUL-terminated argument of NAME (a cmdline; bash only: dash
                               drops NUL bytes, so there a cmdline arrives as one F record)
    L NAME LEN\\n<LEN bytes>   the target of the symlink NAME (cwd, resolved with cd -P)

:class:`ShellMirror` writes those files into a private directory on the bastion (never on the
target) and runs :class:`backends.collector.Collector` over it, so the sample has the same schema,
rates and checks as the python agent's. What builtins cannot read is missing and reported in
``errors``: exe (and whether it is deleted or memfd), socket owners, disk statistics.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from backends.collector import Collector, parse_passwd

SH_MAGIC = b"SICKBAY-SH/1\n"
MAX_RECORD = 1 << 20
MAX_PIDS = 200_000
_NAME = re.compile(
    rb"(stat|loadavg|meminfo|uptime|diskstats|net/(dev|tcp6?|udp6?)|sys/kernel/hostname"
    rb"|etc/passwd|[1-9][0-9]{0,9}/(stat|status|cmdline|cwd))"
)
_MISSING = (
    {"what": "sh fallback", "reason": "no python3 on the host: exe, socket owners and disk "
     "statistics are unknown"},
)  # fmt: skip

SH_AGENT = r"""
export LC_ALL=C
Z=
[ -n "$BASH_VERSION" ] && Z=1
rd() {
  c=
  while IFS= read -r l || [ -n "$l" ]; do c="$c$l
"; done 2>/dev/null <"$1" || return 1
  printf 'F %s %d\n%s' "$2" "${#c}" "$c"
}
printf 'SICKBAY-SH/1\n'
while IFS= read -r req; do
  for f in stat loadavg meminfo uptime diskstats net/dev net/tcp net/tcp6 net/udp net/udp6 \
    sys/kernel/hostname; do rd "/proc/$f" "$f"; done
  rd /etc/passwd etc/passwd
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    rd "$d/stat" "$p/stat" || continue
    rd "$d/status" "$p/status"
    if [ -n "$Z" ]; then
      while IFS= read -r -d '' a; do printf 'Z %s %d\n%s' "$p/cmdline" "${#a}" "$a"; done \
        2>/dev/null <"$d/cmdline"
    else
      rd "$d/cmdline" "$p/cmdline"
    fi
    if cd -P "$d/cwd" 2>/dev/null; then
      w=$PWD
      cd /
      printf 'L %s %d\n%s' "$p/cwd" "${#w}" "$w"
    fi
  done
  printf 'E\n'
done
"""


class ShellError(ValueError):
    """The fallback's output cannot be used."""


def parse_records(data: bytes) -> list[tuple[bytes, bytes, bytes]]:
    """A dump (without its final "E\\n") -> [(kind, name, content)]; names are checked."""
    out, pos = [], 0
    while pos < len(data):
        end = data.find(b"\n", pos, pos + 64)
        if end < 0:
            raise ShellError("a record header is garbled")
        try:
            kind, name, size = data[pos:end].split(b" ")
            length = int(size)
        except ValueError:
            raise ShellError("a record header is garbled") from None
        if kind not in (b"F", b"Z", b"L") or not _NAME.fullmatch(name):
            raise ShellError(f"an unexpected record {kind[:1]!r} {name[:40]!r}")
        if not 0 <= length <= MAX_RECORD or end + 1 + length > len(data):
            raise ShellError("a record has a bad length")
        out.append((kind, name, data[end + 1 : end + 1 + length]))
        pos = end + 1 + length
    return out


class ShellMirror:
    """The target's /proc as the sh fallback dumped it, in a private directory, read by the
    collector. ``close`` removes the directory."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="sickbay-sh-"))  # mode 0700
        self.proc = self.root / "proc"
        (self.proc / "sys" / "kernel").mkdir(parents=True)
        (self.proc / "net").mkdir()
        (self.root / "etc").mkdir()
        self.collector = Collector(
            str(self.proc),
            str(self.root / "sys"),  # absent: disk statistics are reported unreadable
            str(self.root / "etc"),
            str(self.root / "no-shm"),
            netlink=False,
        )
        self.users: dict[int, str] = {}

    def sample(self, dump: bytes) -> dict[str, Any]:
        self._mirror(parse_records(dump))
        sample = self.collector.sample()
        self._fix_uids(sample["processes"])
        errors = []
        for error in sample["errors"]:  # say /proc, not where the mirror is
            what = str(error.get("what", "")).replace(str(self.proc), "/proc")
            if not what.startswith(str(self.root)):  # sys/block: covered by _MISSING
                errors.append({**error, "what": what.replace(str(self.root), "")})
        sample["errors"] = [*_MISSING, *errors]
        return sample

    def _mirror(self, records: list[tuple[bytes, bytes, bytes]]) -> None:
        written: set[Path] = set()
        pids: set[bytes] = set()
        for kind, name, content in records:
            path = self._path(name)
            if name[:1].isdigit():
                pid = name.split(b"/")[0]
                if pid not in pids:
                    if len(pids) >= MAX_PIDS:
                        raise ShellError("too many processes")
                    pids.add(pid)
                    path.parent.mkdir(exist_ok=True)
            if kind == b"L":
                if not content or b"\0" in content:
                    continue  # no usable target (dash leaves PWD empty where cd -P fails)
                if path.is_symlink() and str(path.readlink()) == os.fsdecode(content):
                    written.add(path)
                    continue
                path.unlink(missing_ok=True)
                path.symlink_to(os.fsdecode(content))
            else:
                data = content + b"\0" if kind == b"Z" else content
                if kind == b"F" and name.endswith(b"/cmdline"):
                    data = content.removesuffix(b"\n")  # dash: NULs were dropped, one line
                mode = "ab" if kind == b"Z" and path in written else "wb"
                with open(path, mode) as f:  # in place: the collector keeps stat files open
                    f.write(data)
            written.add(path)
        for entry in os.scandir(self.proc):
            if entry.name.isdigit() and os.fsencode(entry.name) not in pids:
                shutil.rmtree(entry.path, ignore_errors=True)
            elif entry.name.isdigit():
                for child in os.scandir(entry.path):
                    if Path(child.path) not in written:
                        Path(child.path).unlink()

    def _path(self, name: bytes) -> Path:
        text = os.fsdecode(name)
        if text == "etc/passwd":
            return self.root / text
        return self.proc / text

    def _fix_uids(self, processes: list[dict[str, Any]]) -> None:
        """The mirror's files are ours: take the effective uid from status instead."""
        passwd = self.root / "etc" / "passwd"
        try:
            self.users = parse_passwd(passwd.read_bytes())
        except OSError:
            self.users = {}
        for row in processes:
            uid = None
            try:
                for line in (self.proc / str(row["pid"]) / "status").read_bytes().split(b"\n"):
                    if line.startswith(b"Uid:"):
                        uid = int(line.split()[2])
                        break
            except (OSError, ValueError, IndexError):
                pass
            row["uid"] = uid
            row["user"] = "" if uid is None else self.users.get(uid, str(uid))

    def close(self) -> None:
        self.collector.close()
        shutil.rmtree(self.root, ignore_errors=True)
