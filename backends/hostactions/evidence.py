"""Evidence actions: ``collect`` (one process: its executable and what the kernel says about it)
and ``bundle`` (the host's logs, persistence files and shell histories). Read-only on the host.

``collect`` copies the executable through ``/proc/PID/exe`` (which works for a deleted or memfd
binary), and stores the cmdline, environ, maps, status, the fd list and the process's sockets
(from ``/proc/PID/net/*``, matched by the socket inodes of its fds), read by one in-memory
script. The executable is hashed twice: ON the host (the script) and on the bastion (the copy); a
mismatch is reported. ``bundle`` lists the files on the host (regular files only; symlinks are
listed, not followed), copies them with ``fetch`` within per-file and total byte limits, and
never copies /etc/shadow: the script returns it with the password hashes removed.

Everything is stored through ``backends.evidence_store`` (sha256, read-only, manifest) in
``ActionContext.evidence_dir``. Nothing is written on the host; files are opened with
``O_NOATIME`` where the kernel allows.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from backends.evidence_store import EvidenceStore, ManifestEntry
from backends.hostactions.base import ActionContext, HostAction
from backends.hostactions.process import parse_pid
from domain.actions import ActionError, ActionPlan, ActionResult, Outcome, PlannedStep, Risk
from domain.hostexec import ExecError
from domain.sanitize import visible

MAX_EXE = 512 << 20  # bytes of an executable copied
MAX_PROC_FILE = 8 << 20  # bytes of one /proc file read by the script
MAX_FILE = 64 << 20  # bytes of one bundled file
MAX_TOTAL = 1 << 30  # bytes of one bundle
MAX_LISTED = 5000  # files a bundle lists

# Runs on the host (Python >= 3.6, stdlib only). ARGS: {"op": "probe", "pid"} |
# {"op": "collect", "pid", "start", "max"} | {"op": "list", "max_listed"}.
SCRIPT = r"""
import base64, hashlib, json, os, stat as st

def ropen(path):
    flags = os.O_RDONLY | getattr(os, 'O_CLOEXEC', 0)
    na = getattr(os, 'O_NOATIME', 0)
    if na:
        try:
            return os.open(path, flags | na)
        except OSError as e:
            if e.errno != 1:
                raise
    return os.open(path, flags)

def read(path, limit):
    fd = ropen(path)
    try:
        out = b''
        while len(out) <= limit:
            b = os.read(fd, 65536)
            if not b:
                break
            out += b
        return out[:limit], len(out) > limit
    finally:
        os.close(fd)

def pstat(pid):
    with open('/proc/%d/stat' % pid, 'rb') as f:
        d = f.read()
    l, r = d.index(b'('), d.rindex(b')')
    return d[l + 1:r].decode('utf-8', 'surrogateescape'), int(d[r + 2:].split()[19])

def text(b):
    return b.decode('utf-8', 'surrogateescape')

def probe(a):
    pid = a['pid']
    try:
        comm, start = pstat(pid)
    except (OSError, ValueError, IndexError):
        return {'gone': True}
    try:
        exe = os.readlink('/proc/%d/exe' % pid)
    except OSError as e:
        exe = None
    return {'gone': False, 'comm': comm, 'start': start, 'exe': exe}

def sha(path):
    h, n = hashlib.sha256(), 0
    fd = ropen(path)
    try:
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            h.update(b)
            n += len(b)
    finally:
        os.close(fd)
    return h.hexdigest(), n

def collect(a):
    pid, limit = a['pid'], a['max']
    p = probe(a)
    if p['gone'] or p['start'] != a['start']:
        return {'gone': True}
    base = '/proc/%d/' % pid
    files = {}
    for name in ('cmdline', 'environ', 'maps', 'status', 'stat', 'cgroup', 'mountinfo'):
        try:
            data, cut = read(base + name, limit)
            files[name] = {'b64': base64.b64encode(data).decode('ascii'), 'cut': cut}
        except OSError as e:
            files[name] = {'error': e.strerror or str(e)}
    fds, inodes = [], set()
    try:
        names = sorted(os.listdir(base + 'fd'), key=lambda n: int(n) if n.isdigit() else -1)
    except OSError as e:
        names, fds = [], None
    for n in names[:100000]:
        try:
            link = os.readlink(base + 'fd/' + n)
        except OSError:
            continue
        fds.append([n, text(os.fsencode(link))])
        if link.startswith('socket:[') and link.endswith(']'):
            inodes.add(link[8:-1])
    sockets = []
    for kind in ('tcp', 'tcp6', 'udp', 'udp6', 'raw', 'raw6', 'unix', 'packet', 'netlink'):
        try:
            data, _ = read(base + 'net/' + kind, 64 << 20)
        except OSError:
            continue
        lines = data.split(b'\n')
        header = text(lines[0]) if lines else ''
        col = 9 if kind not in ('unix', 'packet', 'netlink') else None
        for line in lines[1:]:
            parts = line.split()
            if not parts:
                continue
            if col is not None:
                ino = parts[col] if len(parts) > col else b''
            elif kind == 'unix':
                ino = parts[6] if len(parts) > 6 else b''
            else:
                ino = parts[-1]
            if ino.decode('ascii', 'replace') in inodes:
                sockets.append({'kind': kind, 'header': header, 'line': text(line)})
    try:
        digest, size = sha(base + 'exe')
        exe_hash = {'sha256': digest, 'size': size}
    except OSError as e:
        exe_hash = {'error': e.strerror or str(e)}
    after = probe(a)
    return {'gone': False, 'comm': p['comm'], 'exe': p['exe'], 'files': files, 'fds': fds,
            'sockets': sockets, 'exe_hash': exe_hash,
            'same_process': (not after['gone']) and after['start'] == a['start']}

LOG_PREFIXES = ('auth.log', 'secure', 'cron', 'syslog', 'messages', 'wtmp', 'btmp', 'lastlog',
                'kern.log', 'daemon.log', 'audit')
HISTORIES = ('.bash_history', '.zsh_history', '.sh_history', '.ash_history', '.history',
             '.python_history', '.mysql_history', '.psql_history', '.lesshst', '.viminfo')
PERSIST_FILES = ('/etc/crontab', '/etc/anacrontab', '/etc/rc.local', '/etc/rc.d/rc.local',
                 '/etc/ld.so.preload', '/etc/passwd', '/etc/group', '/etc/sudoers',
                 '/etc/profile', '/etc/bash.bashrc', '/etc/environment')
PERSIST_DIRS = ('/etc/cron.d', '/etc/cron.hourly', '/etc/cron.daily', '/etc/cron.weekly',
                '/etc/cron.monthly', '/var/spool/cron', '/etc/systemd/system',
                '/etc/sudoers.d', '/etc/profile.d', '/etc/init.d', '/etc/rc.d/init.d')

def listing(a):
    found, links, seen = [], [], set()
    cap = a['max_listed']
    def add(path, kind):
        if path in seen or len(found) + len(links) >= cap:
            return
        seen.add(path)
        try:
            s = os.lstat(path)
        except OSError:
            return
        if st.S_ISLNK(s.st_mode):
            try:
                links.append([path, kind, text(os.fsencode(os.readlink(path)))])
            except OSError:
                pass
        elif st.S_ISREG(s.st_mode):
            found.append([path, kind, s.st_size])
    def walk(top, kind, depth):
        if depth > 6:
            return
        try:
            names = sorted(os.listdir(top))
        except OSError:
            return
        for n in names:
            path = os.path.join(top, n)
            try:
                s = os.lstat(path)
            except OSError:
                continue
            if st.S_ISDIR(s.st_mode):
                walk(path, kind, depth + 1)
            else:
                add(path, kind)
    try:
        names = sorted(os.listdir('/var/log'))
    except OSError:
        names = []
    for n in names:
        if n.startswith(LOG_PREFIXES):
            path = '/var/log/' + n
            if os.path.isdir(path) and not os.path.islink(path):
                walk(path, 'log', 1)
            else:
                add(path, 'log')
    for path in PERSIST_FILES:
        add(path, 'persistence')
    for top in PERSIST_DIRS:
        walk(top, 'persistence', 0)
    homes = {'/root'}
    try:
        with open('/etc/passwd', 'rb') as f:
            for line in f.read(4 << 20).split(b'\n'):
                parts = line.split(b':')
                if len(parts) >= 6 and parts[5].startswith(b'/'):
                    homes.add(text(parts[5]))
    except OSError:
        pass
    for home in sorted(homes):
        if home == '/':
            continue
        for n in ('authorized_keys', 'authorized_keys2'):
            add(home.rstrip('/') + '/.ssh/' + n, 'persistence')
        for n in HISTORIES:
            add(home.rstrip('/') + '/' + n, 'history')
    shadow = None
    try:
        data, _ = read('/etc/shadow', 16 << 20)
        out = []
        for line in data.split(b'\n'):
            parts = line.split(b':')
            if len(parts) > 1 and parts[1] not in (b'', b'*', b'!', b'!!', b'!*', b'x'):
                lock = b'!' if parts[1].startswith(b'!') else b''
                parts[1] = lock + b'<hash removed>'
            out.append(b':'.join(parts))
        shadow = base64.b64encode(b'\n'.join(out)).decode('ascii')
    except OSError:
        pass
    full = len(found) + len(links) >= cap
    return {'files': found, 'links': links, 'shadow': shadow, 'full': full}

op = ARGS['op']
if op == 'probe':
    print(json.dumps(probe(ARGS)))
elif op == 'collect':
    print(json.dumps(collect(ARGS)))
else:
    print(json.dumps(listing(ARGS)))
"""


def _b64(value: object) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _where(ctx: ActionContext) -> str:
    return f"{ctx.exec.host}: python3 -I -S (in memory)"


def _evidence(entries: list[ManifestEntry], root: Path) -> tuple[tuple[str, str], ...]:
    return tuple((str(root / e.path), e.sha256) for e in entries)


def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    text = str(params.get(name, "")).strip()
    if not text:
        return default
    if not text.isdigit() or int(text) <= 0:
        raise ActionError(f"{name} must be a positive number of bytes; nothing was done")
    return int(text)


def _fetch_note(ctx: ActionContext, copied: int, limit: int) -> str:
    """What the manifest says of a copy: cut at the limit; read over SFTP (a host without
    python3), so its access time on the host may have changed."""
    notes = [f"truncated at {limit} bytes"] if copied >= limit else []
    if not getattr(ctx.exec, "atime_kept", True):
        notes.append("read over SFTP: its access time on the host may have changed")
    return "; ".join(notes)


class Collect:
    id = "collect"
    title = "Collect process evidence"
    risk = Risk.READ_ONLY
    params: tuple[str, ...] = ("pid",)

    async def plan(self, ctx: ActionContext, params: Mapping[str, str]) -> ActionPlan:
        pid = parse_pid(params)
        limit = _int_param(params, "max_exe", MAX_EXE)
        probe = await ctx.exec.run_python(SCRIPT, {"op": "probe", "pid": pid}, timeout=30.0)
        if (
            not isinstance(probe, dict)
            or probe.get("gone")
            or not isinstance(probe.get("start"), int)
        ):
            raise ActionError(f"pid {pid} does not exist (any more); nothing was done")
        comm = visible(str(probe.get("comm", "?")))
        exe = visible(str(probe.get("exe") or "(no executable: a kernel thread?)"))
        base = f"/proc/{pid}"
        steps = (
            PlannedStep(
                "read cmdline, environ, maps, status, the fd list and the sockets it holds; "
                "hash the executable on the host",
                f"{_where(ctx)}: read {base}/{{cmdline,environ,maps,status,stat,fd/*,net/*}}; "
                f"sha256 {base}/exe",
            ),
            PlannedStep(
                f"copy the executable ({exe}) through {base}/exe, at most {limit} bytes",
                f"{ctx.exec.host}: fetch {base}/exe (read with O_NOATIME)",
            ),
            PlannedStep(
                "hash every file on the bastion and record it in the incident's manifest",
                f"sha256 -> {ctx.evidence_dir}/manifest.jsonl",
            ),
        )
        return ActionPlan(
            action=self.id,
            host=ctx.exec.host,
            subject=f"pid {pid} ({comm}), executable {exe}",
            params={**params, "pid": str(pid), "start": int(probe["start"]), "max_exe": limit},
            steps=steps,
            risk=self.risk,
        )

    async def execute(self, ctx: ActionContext, plan: ActionPlan) -> ActionResult:
        pid, start = int(plan.params["pid"]), int(plan.params["start"])
        limit = int(plan.params.get("max_exe", MAX_EXE))
        host = ctx.exec.host
        store = EvidenceStore(ctx.evidence_dir)
        folder = f"pid-{pid}-{start}"
        args = {"op": "collect", "pid": pid, "start": start, "max": MAX_PROC_FILE}
        ctx.progress(f"reading /proc/{pid} on {host}")
        answer = await ctx.exec.run_python(SCRIPT, args, timeout=120.0)
        if not isinstance(answer, dict) or answer.get("gone"):
            raise ActionError(f"pid {pid} is gone (exited or replaced); nothing was collected")
        saved: list[ManifestEntry] = []
        notes: list[str] = []

        def keep(data: bytes, name: str, remote: str, note: str = "") -> None:
            saved.append(
                store.write(
                    data, host, (folder, name), remote=remote, action=self.id, pid=pid,
                    start=start, note=note,
                )
            )  # fmt: skip

        files = answer.get("files") if isinstance(answer.get("files"), dict) else {}
        assert isinstance(files, dict)
        for name, item in sorted(files.items()):
            if not isinstance(item, dict):
                continue
            data = _b64(item.get("b64"))
            if data is None:
                notes.append(f"{name}: {visible(str(item.get('error', 'unreadable')))}")
                continue
            cut = f"truncated at {MAX_PROC_FILE} bytes" if item.get("cut") else ""
            keep(data, str(name), f"/proc/{pid}/{name}", cut)
        fds = answer.get("fds")
        keep(json.dumps(fds, indent=1).encode(), "fds.json", f"/proc/{pid}/fd/*")
        sockets = answer.get("sockets") or []
        keep(json.dumps(sockets, indent=1).encode(), "sockets.json", f"/proc/{pid}/net/*")
        exe_hash = answer.get("exe_hash") if isinstance(answer.get("exe_hash"), dict) else {}
        assert isinstance(exe_hash, dict)
        target_sha = exe_hash.get("sha256") if isinstance(exe_hash.get("sha256"), str) else None
        exe_entry: ManifestEntry | None = None
        local = store.new_path(host, folder, "exe")
        ctx.progress(f"copying /proc/{pid}/exe from {host}")
        try:
            copied = await ctx.exec.fetch(f"/proc/{pid}/exe", local, limit=limit)
        except ExecError as exc:
            local.unlink(missing_ok=True)
            notes.append(f"exe not copied: {exc}")
        else:
            note = _fetch_note(ctx, copied, limit)
            exe_entry = store.add(
                local, host=host, remote=f"/proc/{pid}/exe", action=self.id, pid=pid,
                start=start, note=note,
            )  # fmt: skip
            saved.append(exe_entry)
        summary = {
            "pid": pid,
            "start": start,
            "comm": answer.get("comm"),
            "exe_link": answer.get("exe"),
            "exe_sha256_on_host": target_sha,
            "exe_sha256_on_bastion": exe_entry.sha256 if exe_entry else None,
            "notes": notes,
        }
        keep(json.dumps(summary, indent=1).encode(), "collect.json", "")
        evidence = _evidence(saved, ctx.evidence_dir)
        details: dict[str, Any] = {
            "folder": str(ctx.evidence_dir / saved[0].path).rsplit("/", 1)[0] if saved else "",
            "exe_sha256_on_host": target_sha,
            "exe_sha256_on_bastion": exe_entry.sha256 if exe_entry else None,
            "sockets": len(sockets) if isinstance(sockets, list) else 0,
            "notes": notes,
        }
        if exe_entry is None or target_sha is None:
            why = "; ".join(notes) or "the executable could not be read"
            return ActionResult(
                Outcome.UNVERIFIED,
                f"collected {len(saved)} file(s) for pid {pid}, but not the executable's hash pair",
                verification=visible(why),
                state=f"partial evidence kept in {details['folder']} (in the manifest)",
                details=details,
                evidence=evidence,
            )
        if exe_entry.sha256 != target_sha:
            return ActionResult(
                Outcome.UNVERIFIED,
                f"collected pid {pid}: the executable's hash DIFFERS between host and copy",
                verification=(
                    f"MISMATCH: sha256 on the host {target_sha}, of the copy {exe_entry.sha256}"
                ),
                details=details,
                evidence=evidence,
            )
        if not answer.get("same_process"):
            notes.append("the process exited while it was read")
        return ActionResult(
            Outcome.DONE,
            f"collected {len(saved)} file(s) for pid {pid}; executable sha256 {target_sha[:16]}…",
            verification=f"sha256 of the executable on the host and of the copy: {target_sha}",
            details=details,
            evidence=evidence,
        )


class Bundle:
    id = "bundle"
    title = "Collect logs, persistence files and histories"
    risk = Risk.READ_ONLY
    params: tuple[str, ...] = ()

    async def plan(self, ctx: ActionContext, params: Mapping[str, str]) -> ActionPlan:
        per_file = _int_param(params, "max_file", MAX_FILE)
        total = _int_param(params, "max_total", MAX_TOTAL)
        answer = await ctx.exec.run_python(
            SCRIPT, {"op": "list", "max_listed": MAX_LISTED}, timeout=120.0
        )
        files, links, shadow = _parse_listing(answer)
        steps = [
            PlannedStep(
                "list logs, persistence files, authorized_keys and shell histories (regular "
                "files only; symlinks are listed, not followed); read /etc/shadow with the "
                "password hashes removed",
                f"{_where(ctx)}: lstat/readlink; read /etc/shadow",
            )
        ]
        for kind in ("log", "persistence", "history"):
            paths = [p for p, k, _ in files if k == kind]
            if paths:
                steps.append(
                    PlannedStep(
                        f"copy {len(paths)} {kind} file(s), at most {per_file} bytes each",
                        f"{ctx.exec.host}: fetch (read with O_NOATIME) "
                        + " ".join(shlex.quote(p) for p in paths),
                    )
                )
        steps.append(
            PlannedStep(
                f"stop at {total} bytes in all; hash every file on the bastion, record it",
                f"sha256 -> {ctx.evidence_dir}/manifest.jsonl",
            )
        )
        size = sum(s for _, _, s in files)
        warnings = () if shadow else ("/etc/shadow is not readable: not collected",)
        return ActionPlan(
            action=self.id,
            host=ctx.exec.host,
            subject=f"{len(files)} file(s), {size} bytes listed, {len(links)} symlink(s)",
            params={
                **params,
                "max_file": per_file,
                "max_total": total,
                "files": [[p, k] for p, k, _ in files],
            },
            steps=tuple(steps),
            risk=self.risk,
            warnings=warnings,
        )

    async def execute(self, ctx: ActionContext, plan: ActionPlan) -> ActionResult:
        host = ctx.exec.host
        per_file, total = int(plan.params["max_file"]), int(plan.params["max_total"])
        store = EvidenceStore(ctx.evidence_dir)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("bundle-%Y%m%dT%H%M%SZ")
        answer = await ctx.exec.run_python(
            SCRIPT, {"op": "list", "max_listed": MAX_LISTED}, timeout=120.0
        )
        _, links, shadow = _parse_listing(answer)
        saved: list[ManifestEntry] = []
        skipped: list[list[str]] = []
        truncated: list[str] = []
        budget = total
        planned = plan.params.get("files") or []
        for item in planned:
            remote = str(item[0])
            if budget <= 0:
                skipped.append([remote, "total limit reached"])
                continue
            limit = min(per_file, budget)
            parts = (stamp, *[p for p in remote.split("/") if p])
            local = store.new_path(host, *parts)
            ctx.progress(f"copying {visible(remote)}")
            try:
                copied = await ctx.exec.fetch(remote, local, limit=limit)
            except ExecError as exc:
                local.unlink(missing_ok=True)
                skipped.append([remote, str(exc)])
                if "lost" in str(exc) or "cannot reach" in str(exc):
                    break
                continue
            note = _fetch_note(ctx, copied, limit)
            if copied >= limit:
                truncated.append(remote)
            budget -= copied
            saved.append(store.add(local, host=host, remote=remote, action=self.id, note=note))
        if shadow is not None:
            saved.append(
                store.write(
                    shadow, host, (stamp, "etc", "shadow.redacted"), remote="/etc/shadow",
                    action=self.id, note="password hashes removed on the host",
                )
            )  # fmt: skip
        index = {"links": links, "skipped": skipped, "truncated": truncated}
        saved.append(
            store.write(
                json.dumps(index, indent=1).encode(), host, (stamp, "bundle-index.json"),
                remote="", action=self.id,
            )
        )  # fmt: skip
        copied_files = len(saved) - 1 - (shadow is not None)
        details = {
            "folder": str(store.root / Path(saved[-1].path).parent),
            "copied": copied_files,
            "skipped": skipped,
            "truncated": truncated,
        }
        outcome = Outcome.DONE if not skipped else Outcome.UNVERIFIED
        return ActionResult(
            outcome,
            f"bundled {copied_files} file(s) from {host}"
            + (f"; {len(skipped)} not copied" if skipped else ""),
            verification=f"{len(saved)} file(s) hashed on the bastion and in the manifest",
            state="" if not skipped else f"not copied: {len(skipped)} (see bundle-index.json)",
            details=details,
            evidence=_evidence(saved, ctx.evidence_dir),
        )


def _parse_listing(
    answer: object,
) -> tuple[list[tuple[str, str, int]], list[list[str]], bytes | None]:
    if not isinstance(answer, dict):
        raise ActionError("the host's file listing is unreadable; nothing was done")
    files: list[tuple[str, str, int]] = []
    for row in answer.get("files") or []:
        try:
            path, kind, size = str(row[0]), str(row[1]), int(row[2])
        except (TypeError, ValueError, IndexError):
            continue
        if path.startswith("/") and "\0" not in path:
            files.append((path, kind, max(0, size)))
    links = [
        [str(x) for x in row[:3]] for row in answer.get("links") or [] if isinstance(row, list)
    ]
    return files, links, _b64(answer.get("shadow"))


COLLECT, BUNDLE = Collect(), Bundle()
ACTIONS: tuple[HostAction, ...] = (COLLECT, BUNDLE)
