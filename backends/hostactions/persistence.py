"""Persistence actions: ``disable`` one persistence entry, and ``restore`` (its undo).

What ``disable`` does depends on the entry (``kind=`` or guessed from the path):

* a crontab line (``/etc/crontab``, ``/etc/cron.d/*``, ``/var/spool/cron[/crontabs]/USER``), a
  line of rc.local, an init or cron script, a shell profile: the line is commented out with a
  ``# sickbay disabled <id>: `` prefix (the file is replaced atomically, owner, mode and
  extended attributes kept; the cron spool directory's mtime changes, so cron reloads it);
* a whole rc/init/cron script (no ``line``): its execute bits are removed (init and run-parts
  skip it);
* a line of ``/etc/ld.so.preload``: the line is removed (the file has no comment syntax);
* a systemd unit or timer: ``systemctl disable --now UNIT`` by absolute path (without ``--now``
  when systemd is not PID 1: nothing runs then), the unit file copied to quarantine, the
  enablement links recorded; verified by reading the links and the unit's cgroup, not by
  trusting systemctl.

Always first: the original is copied byte for byte into the host's quarantine directory
(``backends.hostactions.files``), with its sha256, owner, mode and inode flags in
``meta.json``; the plan pins the file's sha256, and nothing is done if it changed since. An
immutable or append-only flag (read with the FS_IOC_GETFLAGS ioctl, never lsattr) is cleared
only when set, and put back on the new file afterwards. ``restore`` puts the original back byte
for byte (refusing when the file changed since the disable, unless ``force=yes``).

``remove-key`` (``backends.hostactions.accounts``) uses the same line edit.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
from collections.abc import Mapping
from typing import Any

from backends.hostactions.base import ActionContext, HostAction
from backends.hostactions.files import (
    LIB,
    Failed,
    abs_path,
    call,
    check_id,
    keep_copy,
    new_id,
    quarantine_root,
    where,
    yes,
)
from domain.actions import ActionError, ActionPlan, ActionResult, Outcome, PlannedStep, Risk
from domain.sanitize import visible, visible_args

MAX_EDIT = 4 << 20  # bytes of a file edited line by line
SYSTEMCTL = ("/usr/bin/systemctl", "/bin/systemctl", "/usr/sbin/systemctl")
UNIT_DIRS = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
)
_UNIT = re.compile(r"[A-Za-z0-9:_.@\\-]{1,200}\.(service|timer|socket|path|mount|target)")
PREFIX = "# sickbay disabled {id}: "

# Host side (after files.LIB). Ops: inspect, edit, noexec, unit_inspect, unit_keep,
# unit_links, meta, restore.
SCRIPT = (
    (
        LIB
        + r"""
def inspect(a):
    data, st, flags = read_regular(enc(a['path']), a['max'])
    out = {'b64': base64.b64encode(data).decode('ascii'), 'sha256': sha(data), 'flags': flags}
    out.update(owner_mode(st))
    return out

def keep(a, data, st, flags, kind):
    d = qdir(a['root'], a['id'])
    create(os.path.join(d, b'original'), data, 0)
    m = {'schema': 'sickbay.quarantine/1', 'id': a['id'], 'action': a['action'],
         'type': kind, 'path': a['path'], 'stored': 'original', 'sha256': sha(data),
         'size': len(data), 'flags': None if flags is None else flags & LOCKS,
         'mtime_ns': st.st_mtime_ns, 'atime_ns': st.st_atime_ns, 'at': time.time()}
    m.update(owner_mode(st))
    m.update(a.get('extra') or {})
    return d, m

def edit(a):
    path = enc(a['path'])
    data, st, flags = read_regular(path, a['max'])
    if sha(data) != a['sha256']:
        raise Fail('%s changed since the plan; nothing was done' % a['path'])
    lines = data.split(b'\n')
    i = a['index']
    old = base64.b64decode(a['expect'])
    if not 0 <= i < len(lines) or lines[i] != old:
        raise Fail('line %d of %s is not the planned one; nothing was done' % (i + 1, a['path']))
    if a['mode'] == 'comment':
        lines[i] = base64.b64decode(a['prefix']) + lines[i]
    else:
        del lines[i]
    new = b'\n'.join(lines)
    d, m = keep(a, data, st, flags, 'edit')
    m['after_sha256'] = sha(new)
    m['line'] = i + 1
    put_meta(d, m)
    STATE[0] = 'the original is kept in %s; %s is not changed' % (dec(d), a['path'])
    parent = os.path.dirname(path) or b'.'
    with Unlocked([path, parent]) as u:
        replace(path, new, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), a['id'])
        cleared = u.report()
    STATE[0] = '%s edited; the original is kept in %s' % (a['path'], dec(d))
    after, st2, flags2 = read_regular(path, a['max'] + len(old) + 200)
    out = {'kept': dec(os.path.join(d, b'original')), 'dir': dec(d), 'sha256': m['sha256'],
           'after_sha256': sha(after), 'expected_sha256': m['after_sha256'],
           'cleared': cleared, 'flags': flags2}
    out.update(owner_mode(st2))
    if a.get('want_after'):
        out['after_b64'] = base64.b64encode(after).decode('ascii')
    return out

def noexec(a):
    path = enc(a['path'])
    data, st, flags = read_regular(path, a['max'])
    if sha(data) != a['sha256']:
        raise Fail('%s changed since the plan; nothing was done' % a['path'])
    d, m = keep(a, data, st, flags, 'chmod')
    put_meta(d, m)
    STATE[0] = 'the original is kept in %s; %s is not changed' % (dec(d), a['path'])
    with Unlocked([path]) as u:
        os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o111)
        cleared = u.report()
    st2 = os.lstat(path)
    out = {'kept': dec(os.path.join(d, b'original')), 'dir': dec(d), 'sha256': m['sha256'],
           'cleared': cleared}
    out.update(owner_mode(st2))
    return out

UNIT_DIRS = [enc(p) for p in @UNIT_DIRS@]
CGROUPS = [b'/sys/fs/cgroup/system.slice/', b'/sys/fs/cgroup/unified/system.slice/',
           b'/sys/fs/cgroup/systemd/system.slice/']

def unit_links(unit):
    links = []
    for top in UNIT_DIRS:
        try:
            names = os.listdir(top)
        except OSError:
            continue
        for name in sorted(names)[:5000]:
            p = os.path.join(top, name)
            if name.endswith((b'.wants', b'.requires', b'.upholds')) and os.path.isdir(p):
                try:
                    inner = sorted(os.listdir(p))[:5000]
                except OSError:
                    continue
                for n in inner:
                    q = os.path.join(p, n)
                    if os.path.islink(q) and (n == unit or
                                              os.path.basename(os.readlink(q)) == unit):
                        links.append([dec(q), dec(os.readlink(q))])
            elif name != unit and os.path.islink(p) and top == UNIT_DIRS[0]:
                if os.path.basename(os.readlink(p)) == unit:
                    links.append([dec(p), dec(os.readlink(p))])
    return links

def unit_pids(unit):
    for base in CGROUPS:
        try:
            with open(base + unit + b'/cgroup.procs', 'rb') as f:
                return [int(x) for x in f.read(1 << 20).split()]
        except (OSError, ValueError):
            continue
    return []

def unit_inspect(a):
    unit = enc(a['unit'])
    frag = None
    if a.get('path'):
        frag = enc(a['path'])
    else:
        for top in UNIT_DIRS:
            p = os.path.join(top, unit)
            if os.path.lexists(p):
                frag = p
                break
    out = {'links': unit_links(unit), 'pids': unit_pids(unit), 'fragment': None}
    try:
        out['pid1'] = dec(os.path.basename(os.readlink(b'/proc/1/exe')))
    except OSError:
        out['pid1'] = None
    out['systemctl'] = next((p for p in @SYSTEMCTL@ if os.access(p, os.X_OK)), None)
    if frag is not None:
        out['fragment'] = dec(frag)
        if os.path.islink(frag):
            out['fragment_link'] = dec(os.readlink(frag))
        else:
            try:
                data, st, flags = read_regular(frag, a['max'])
                out['sha256'] = sha(data)
            except Fail as e:
                out['fragment_error'] = str(e)
    return out

def unit_keep(a):
    extra = {'unit': a['unit'], 'links': unit_links(enc(a['unit'])),
             'active': bool(unit_pids(enc(a['unit']))) or a.get('active', False)}
    if a.get('path'):
        data, st, flags = read_regular(enc(a['path']), a['max'])
        a['extra'] = extra
        d, m = keep(a, data, st, flags, 'systemd')
    else:
        d = qdir(a['root'], a['id'])
        m = {'schema': 'sickbay.quarantine/1', 'id': a['id'], 'action': a['action'],
             'type': 'systemd', 'path': None, 'stored': None, 'at': time.time()}
        m.update(extra)
    put_meta(d, m)
    return {'dir': dec(d), 'links': extra['links'], 'sha256': m.get('sha256')}

def meta(a):
    d, m = qmeta(a['root'], a['id'])
    m['restored'] = os.path.lexists(os.path.join(d, b'restored.json'))
    if m.get('type') in ('edit', 'chmod') and m.get('path'):
        try:
            data, st, _ = read_regular(enc(m['path']), a['max'])
            m['current_sha256'] = sha(data)
            m['current_mode'] = stat.S_IMODE(st.st_mode)
        except Fail as e:
            m['current_error'] = str(e)
    if m.get('type') == 'systemd':
        m['current_links'] = unit_links(enc(m['unit']))
    return m

def restore(a):
    d, m = qmeta(a['root'], a['id'])
    marker = os.path.join(d, b'restored.json')
    if os.path.lexists(marker) and not a.get('force'):
        raise Fail('%s was already restored; pass force=yes to do it again' % a['id'])
    kind = m.get('type')
    out = {'type': kind, 'path': m.get('path')}
    if kind in ('edit', 'chmod', 'systemd') and m.get('stored'):
        kept = os.path.join(d, enc(m['stored']))
        original, _, _ = read_regular(kept, 1 << 30)
        if sha(original) != m['sha256']:
            raise Fail('the kept original changed (sha256 %s, recorded %s); nothing was done'
                       % (sha(original), m['sha256']))
    if kind == 'edit':
        path = enc(m['path'])
        parent = os.path.dirname(path) or b'.'
        if os.path.lexists(path):
            current, st, _ = read_regular(path, 1 << 30)
            if sha(current) != m['after_sha256'] and not a.get('force'):
                raise Fail('%s changed since it was disabled; pass force=yes to overwrite the '
                           'change with the original; nothing was done' % m['path'])
        elif not a.get('force'):
            raise Fail('%s is gone; pass force=yes to put the original back' % m['path'])
        with Unlocked([path, parent]):
            replace(path, original, m['uid'], m['gid'], m['mode'], a['id'] + '-restore')
        if m.get('flags'):
            setpathflags(path, (pathflags(path) or 0) | m['flags'])
    elif kind == 'chmod':
        path = enc(m['path'])
        with Unlocked([path]):
            os.chmod(path, m['mode'])
    elif kind == 'systemd':
        made = []
        for link, target in m.get('links') or []:
            lb = enc(link)
            if not os.path.lexists(lb):
                if not os.path.isdir(os.path.dirname(lb)):
                    os.makedirs(os.path.dirname(lb), 0o755)
                os.symlink(enc(target), lb)
                made.append(link)
        out['made'] = made
        out['links'] = unit_links(enc(m['unit']))
        out['unit'] = m['unit']
        out['active'] = m.get('active')
    else:
        raise Fail('%s is a %s; use restore-file' % (a['id'], kind))
    STATE[0] = 'restored from %s' % dec(d)
    create(marker, json.dumps({'at': time.time()}).encode(), 0o600)
    if kind in ('edit', 'chmod'):
        data, st, flags = read_regular(enc(m['path']), 1 << 30)
        out.update(owner_mode(st))
        out['sha256'] = sha(data)
        out['flags'] = flags
    out['meta'] = m
    return out

run({'inspect': inspect, 'edit': edit, 'noexec': noexec, 'unit_inspect': unit_inspect,
     'unit_keep': unit_keep, 'meta': meta, 'restore': restore})
"""
    )
    .replace("@UNIT_DIRS@", repr(UNIT_DIRS))
    .replace("@SYSTEMCTL@", repr(SYSTEMCTL))
)

CRON_PATHS = ("/etc/crontab", "/etc/anacrontab", "/etc/cron.d/", "/var/spool/cron/")
CRON_SCRIPT_DIRS = (
    "/etc/cron.hourly/",
    "/etc/cron.daily/",
    "/etc/cron.weekly/",
    "/etc/cron.monthly/",
)
RC_PATHS = ("/etc/rc.local", "/etc/rc.d/rc.local", "/etc/init.d/", "/etc/rc.d/init.d/")
PROFILE_PATHS = (
    "/etc/profile",
    "/etc/bash.bashrc",
    "/etc/bashrc",
    "/etc/environment",
    "/etc/profile.d/",
)
PROFILE_NAMES = (".bashrc", ".bash_profile", ".bash_login", ".profile")
KINDS = ("cron", "cron-script", "rc", "profile", "preload", "systemd")


def guess_kind(path: str) -> str | None:
    """The persistence kind of ``path`` (as ``domain.facts`` names them), or None."""
    if path == "/etc/ld.so.preload":
        return "preload"
    if path.startswith(CRON_SCRIPT_DIRS):
        return "cron-script"
    if path.startswith(CRON_PATHS):
        return "cron"
    if path.startswith(RC_PATHS):
        return "rc"
    if path.startswith(PROFILE_PATHS) or path.rsplit("/", 1)[-1] in PROFILE_NAMES:
        return "profile"
    if "/systemd/" in path and _UNIT.fullmatch(path.rsplit("/", 1)[-1]):
        return "systemd"
    return None


def unit_of(path: str) -> str | None:
    """The unit a unit file or drop-in belongs to: ``/etc/systemd/system/x.service.d/o.conf``
    -> ``x.service``."""
    parts = path.rstrip("/").split("/")
    for part in reversed(parts[-2:]):
        name = part[:-2] if part.endswith(".d") else part
        if _UNIT.fullmatch(name):
            return name
    return None


def line_matches(raw: bytes, text: str, kind: str) -> bool:
    """Whether ``raw`` (a line of the file) is the line a finding quoted as ``text`` (stripped,
    maybe clipped with an ellipsis; for ld.so.preload: one library of the line)."""
    line = raw.decode("utf-8", "backslashreplace").strip()
    want = text.strip()
    if not line or not want:
        return False
    if line == want:
        return True
    if want.endswith("…") and line.startswith(want[:-1]):
        return True
    return kind == "preload" and want in line.replace(":", " ").split()


def pick_line(
    lines: list[bytes], number: int | None, text: str | None, kind: str
) -> tuple[int, list[str]]:
    """The 0-based index of the line to act on, and warnings. ``number`` (1-based) wins when
    it still holds ``text``; otherwise the one line holding ``text``."""
    warnings: list[str] = []
    if text:
        hits = [i for i, raw in enumerate(lines) if line_matches(raw, text, kind)]
        if number is not None and number - 1 in hits:
            return number - 1, warnings
        if len(hits) == 1:
            if number is not None:
                warnings.append(f"the line moved: it is now line {hits[0] + 1}")
            return hits[0], warnings
        if not hits:
            raise ActionError(
                f"no line of the file is {visible(text)!r} (any more); nothing was done"
            )
        numbers = ", ".join(str(i + 1) for i in hits[:20])
        raise ActionError(f"several lines match ({numbers}); pass line=N; nothing was done")
    if number is None:
        raise ActionError("which line? pass line=N (and text=...); nothing was done")
    if not 0 < number <= len(lines) or not lines[number - 1].strip():
        raise ActionError(f"line {number} does not exist or is blank; nothing was done")
    return number - 1, warnings


def _line_number(params: Mapping[str, Any]) -> int | None:
    text = str(params.get("line", "")).strip()
    if not text:
        return None
    if not text.isdigit() or int(text) == 0:
        raise ActionError(f"line must be a line number: {visible(text)!r}; nothing was done")
    return int(text)


def _b64(text: Any) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except ValueError:
        raise Failed("the host's answer is unreadable", state="nothing was done") from None


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def plan_line_edit(
    ctx: ActionContext,
    params: Mapping[str, Any],
    *,
    action: str,
    path: str,
    kind: str,
    index_of: Any,
    remove: bool,
) -> tuple[dict[str, Any], list[PlannedStep], list[str], bytes]:
    """Read ``path``, choose the line (``index_of(lines) -> (index, warnings)``), and build the
    recorded params and steps of a line edit (comment out, or ``remove``). Also returns the
    original line."""
    root = quarantine_root(params)
    info = await call(ctx, SCRIPT, "inspect", {"path": path, "max": MAX_EDIT})
    data = _b64(info.get("b64"))
    lines = data.split(b"\n")
    index, warnings = index_of(lines)
    line = lines[index]
    text = line.decode("utf-8", "backslashreplace")
    if text.startswith("# sickbay disabled "):
        raise ActionError(f"line {index + 1} is already disabled by sickbay; nothing was done")
    qid = new_id(action)
    prefix = PREFIX.format(id=qid).encode()
    new_lines = list(lines)
    if remove:
        del new_lines[index]
    else:
        new_lines[index] = prefix + line
    new = b"\n".join(new_lines)
    folder = f"{root}/{qid}"
    if kind in ("rc", "cron-script", "profile") and (
        line.rstrip().endswith(b"\\") or (index > 0 and lines[index - 1].rstrip().endswith(b"\\"))
    ):
        warnings.append("the line is part of a continued (backslash) line: check the script")
    if info.get("flags") and int(info["flags"]) & 0x30:
        warnings.append(
            "the file is chattr +i/+a (often the attacker's doing): cleared for the edit and "
            "set again on the new file"
        )
    how = "remove the line" if remove else f"comment the line out ({prefix.decode()!r} prefix)"
    steps = [
        PlannedStep(
            "keep the original in quarantine (mode 000) with its sha256, owner, mode, flags",
            f"{where(ctx)}: mkdir -m 700 {folder!r}; copy {path!r} -> {folder + '/original'!r}; "
            f"write {folder + '/meta.json'!r}",
        ),
        PlannedStep(
            f"{how}: line {index + 1} of {path}; the file is replaced atomically with the same "
            "owner, mode and xattrs (chattr +i/+a cleared first only if set, then set again)",
            f"{where(ctx)}: write {path!r}.tmp; fchown/fchmod; os.rename over {path!r}",
        ),
        PlannedStep(
            "verify: the file now hashes as expected (only that line changed)",
            f"{where(ctx)}: sha256 {path!r} == {_sha(new)[:16]}...",
        ),
    ]
    recorded = {
        **params,
        "path": path,
        "kind": kind,
        "line": str(index + 1),
        "id": qid,
        "quarantine_root": root,
        "sha256": info.get("sha256"),
        "after_sha256": _sha(new),
        "mode": "remove" if remove else "comment",
        "expect": base64.b64encode(line).decode("ascii"),
        "prefix": base64.b64encode(prefix).decode("ascii"),
        "owner": [info.get("uid"), info.get("gid"), info.get("mode")],
    }
    return recorded, steps, warnings, line


def owner_kept(params: Mapping[str, Any], answer: Mapping[str, Any]) -> bool:
    """Whether the edited file has the owner, group and mode it had at the plan."""
    return list(params.get("owner") or []) == [
        answer.get("uid"),
        answer.get("gid"),
        answer.get("mode"),
    ]


async def run_line_edit(
    ctx: ActionContext, plan: ActionPlan, *, want_after: bool = False
) -> dict[str, Any]:
    p = plan.params
    args = {
        "path": p["path"],
        "max": MAX_EDIT,
        "sha256": p["sha256"],
        "index": int(p["line"]) - 1,
        "expect": p["expect"],
        "prefix": p["prefix"],
        "mode": p["mode"],
        "root": p["quarantine_root"],
        "id": p["id"],
        "action": plan.action,
        "want_after": want_after,
    }
    return await call(ctx, SCRIPT, "edit", args)


async def fetch_original(
    ctx: ActionContext, answer: Mapping[str, Any], qid: str, action: str
) -> tuple[tuple[tuple[str, str], ...], str]:
    """Copy the kept original to the evidence directory; (evidence, note)."""
    kept, note = await keep_copy(
        ctx, str(answer.get("kept")), (action, qid, "original"), str(answer.get("sha256")), action
    )
    return ((kept,) if kept else ()), note


class Disable:
    id = "disable"
    title = "Disable persistence entry"
    risk = Risk.DESTRUCTIVE
    params: tuple[str, ...] = ("path", "line")

    async def plan(self, ctx: ActionContext, params: Mapping[str, str]) -> ActionPlan:
        unit = str(params.get("unit", "")).strip()
        path = abs_path(params) if params.get("path") else ""
        kind = str(params.get("kind", "")).strip() or (guess_kind(path) if path else None)
        if unit and not kind:
            kind = "systemd"
        if kind not in KINDS:
            raise ActionError(
                f"{visible(path) or 'this'} is not a known persistence location; pass kind= "
                f"({', '.join(KINDS)}); nothing was done"
            )
        if kind == "systemd":
            return await self._plan_unit(ctx, params, unit or unit_of(path) or "", path)
        number = _line_number(params)
        text = str(params.get("text", "")) or None
        warnings: list[str] = []
        if guess_kind(path) is None:
            warnings.append(f"not a standard {kind} location; acting as told (kind={kind})")
        if number is None and text is None and kind in ("rc", "cron-script"):
            return await self._plan_noexec(ctx, params, path, kind, warnings)
        recorded, steps, more, line = await plan_line_edit(
            ctx,
            params,
            action=self.id,
            path=path,
            kind=kind,
            index_of=lambda lines: pick_line(lines, number, text, kind),
            remove=kind == "preload",
        )
        return ActionPlan(
            action=self.id,
            host=ctx.exec.host,
            subject=f"{kind} line {recorded['line']} of {visible(path)}: "
            f"{visible(line.decode('utf-8', 'backslashreplace').strip())[:200]}",
            params=recorded,
            steps=tuple(steps),
            risk=self.risk,
            undo=(
                "restore",
                {"id": recorded["id"], "quarantine_root": recorded["quarantine_root"]},
            ),
            warnings=tuple(warnings + more),
        )

    async def _plan_noexec(
        self,
        ctx: ActionContext,
        params: Mapping[str, str],
        path: str,
        kind: str,
        warnings: list[str],
    ) -> ActionPlan:
        root = quarantine_root(params)
        info = await call(ctx, SCRIPT, "inspect", {"path": path, "max": MAX_EDIT})
        mode = int(info.get("mode") or 0)
        if not mode & 0o111:
            raise ActionError(f"{visible(path)} is not executable already; nothing was done")
        qid = new_id(self.id)
        folder = f"{root}/{qid}"
        return ActionPlan(
            action=self.id,
            host=ctx.exec.host,
            subject=f"{kind} script {visible(path)} (mode 0{mode:o} -> 0{mode & ~0o111:o})",
            params={
                **params,
                "path": path,
                "kind": kind,
                "mode": "noexec",
                "id": qid,
                "quarantine_root": root,
                "sha256": info.get("sha256"),
            },
            steps=(
                PlannedStep(
                    "keep the original in quarantine with its sha256, owner, mode",
                    f"{where(ctx)}: mkdir -m 700 {folder!r}; copy {path!r} -> "
                    f"{folder + '/original'!r}",
                ),
                PlannedStep(
                    "remove its execute bits so init / run-parts skip it",
                    f"{where(ctx)}: os.chmod({path!r}, 0o{mode & ~0o111:o})",
                ),
                PlannedStep("verify the mode", f"{where(ctx)}: lstat {path!r}"),
            ),
            risk=self.risk,
            undo=("restore", {"id": qid, "quarantine_root": root}),
            warnings=tuple(warnings),
        )

    async def _plan_unit(
        self, ctx: ActionContext, params: Mapping[str, str], unit: str, path: str
    ) -> ActionPlan:
        if not _UNIT.fullmatch(unit):
            raise ActionError(f"not a systemd unit name: {visible(unit)!r}; nothing was done")
        root = quarantine_root(params)
        info = await call(
            ctx, SCRIPT, "unit_inspect", {"unit": unit, "path": path or None, "max": MAX_EDIT}
        )
        systemctl = info.get("systemctl")
        if not systemctl:
            raise ActionError(f"no systemctl at {', '.join(SYSTEMCTL)}; nothing was done")
        fragment = info.get("fragment")
        if fragment is None and not info.get("links"):
            raise ActionError(f"no unit {unit} on the host; nothing was done")
        running = info.get("pid1") == "systemd"
        argv = [str(systemctl), "disable", *(["--now"] if running else []), unit]
        qid = new_id(self.id)
        folder = f"{root}/{qid}"
        links = [f"{link} -> {target}" for link, target in info.get("links") or []]
        warnings: list[str] = []
        if not running:
            warnings.append(
                f"systemd is not PID 1 here ({info.get('pid1')}): the unit is not running; "
                "only its enablement links are removed"
            )
        if info.get("fragment_link"):
            warnings.append(f"the unit file is a link to {visible(str(info['fragment_link']))}")
        if unit.endswith(".timer"):
            warnings.append("the timer's service (if running now) is not stopped by this")
        steps = [
            PlannedStep(
                "keep the unit file and its enablement links in quarantine (meta.json)",
                f"{where(ctx)}: mkdir -m 700 {folder!r}; copy {fragment!r} -> "
                f"{folder + '/original'!r}; links: {'; '.join(links) or 'none'}",
            ),
            PlannedStep(
                ("stop and disable it" if running else "disable it")
                + " (the host's systemctl, by absolute path)",
                f"{ctx.exec.host}: {shlex.join(argv)}",
            ),
            PlannedStep(
                "verify: no enablement link left, no process in its cgroup",
                f"{where(ctx)}: readlink */*.wants/{unit}; read "
                f"/sys/fs/cgroup/system.slice/{unit}/cgroup.procs",
            ),
        ]
        recorded = {
            **params,
            "kind": "systemd",
            "unit": unit,
            "path": fragment if fragment and not info.get("fragment_link") else "",
            "id": qid,
            "quarantine_root": root,
            "argv": argv,
            "active": bool(info.get("pids")),
        }
        return ActionPlan(
            action=self.id,
            host=ctx.exec.host,
            subject=f"systemd unit {visible(unit)}"
            + (f" ({len(info.get('pids') or [])} process(es) running)" if info.get("pids") else ""),
            params=recorded,
            steps=tuple(steps),
            risk=self.risk,
            undo=("restore", {"id": qid, "quarantine_root": root}),
            warnings=tuple(warnings),
        )

    async def execute(self, ctx: ActionContext, plan: ActionPlan) -> ActionResult:
        p = plan.params
        undo = ("restore", {"id": str(p["id"]), "quarantine_root": str(p["quarantine_root"])})
        if p.get("kind") == "systemd":
            return await self._execute_unit(ctx, plan, undo)
        if p.get("mode") == "noexec":
            args = {
                "path": p["path"],
                "max": MAX_EDIT,
                "sha256": p["sha256"],
                "root": p["quarantine_root"],
                "id": p["id"],
                "action": self.id,
            }
            answer = await call(ctx, SCRIPT, "noexec", args)
            evidence, note = await fetch_original(ctx, answer, str(p["id"]), self.id)
            ok = not int(answer.get("mode") or 0) & 0o111
            return ActionResult(
                Outcome.DONE if ok else Outcome.UNVERIFIED,
                f"removed the execute bits of {visible(str(p['path']))}",
                verification=f"mode now 0{int(answer.get('mode') or 0):o}; {note}",
                state="" if ok else "the file is still executable",
                details={"id": p["id"], "kept": answer.get("kept"), "sha256": answer.get("sha256")},
                undo=undo,
                evidence=evidence,
            )
        answer = await run_line_edit(ctx, plan)
        ctx.progress(f"edited {visible(str(p['path']))}; original kept in {answer.get('dir')}")
        evidence, note = await fetch_original(ctx, answer, str(p["id"]), self.id)
        checks = {
            "content as planned": answer.get("after_sha256") == p["after_sha256"]
            and answer.get("expected_sha256") == p["after_sha256"],
            "original kept (sha256)": answer.get("sha256") == p["sha256"],
            "owner and mode kept": owner_kept(p, answer),
        }
        ok = all(checks.values())
        verb = "removed" if p.get("mode") == "remove" else "commented out"
        return ActionResult(
            Outcome.DONE if ok else Outcome.UNVERIFIED,
            f"{verb} line {p['line']} of {visible(str(p['path']))}",
            verification="; ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in checks.items())
            + f"; {note}",
            state="" if ok else "the file does not read back as planned: check it by hand",
            details={
                "id": p["id"],
                "kept": answer.get("kept"),
                "sha256": answer.get("sha256"),
                "after_sha256": answer.get("after_sha256"),
                "cleared_flags": answer.get("cleared") or [],
            },
            undo=undo,
            evidence=evidence,
        )

    async def _execute_unit(
        self, ctx: ActionContext, plan: ActionPlan, undo: tuple[str, Mapping[str, Any]]
    ) -> ActionResult:
        p = plan.params
        unit = str(p["unit"])
        kept = await call(
            ctx,
            SCRIPT,
            "unit_keep",
            {
                "unit": unit,
                "path": p.get("path") or None,
                "max": MAX_EDIT,
                "root": p["quarantine_root"],
                "id": p["id"],
                "action": self.id,
                "active": bool(p.get("active")),
            },
        )
        argv = [str(a) for a in p["argv"]]
        result = await ctx.exec.run(argv, timeout=120.0)
        said = (result.stdout + result.stderr).decode("utf-8", "replace").strip()[-400:]
        if result.status != 0:
            raise Failed(
                f"{shlex.join(argv)} failed (status {result.status}): {visible(said)}",
                state=f"the unit file is kept in {kept.get('dir')}; the unit may be unchanged",
            )
        after = await call(ctx, SCRIPT, "unit_inspect", {"unit": unit, "max": MAX_EDIT})
        evidence: tuple[tuple[str, str], ...] = ()
        note = "no unit file to copy"
        if p.get("path"):
            answer = {"kept": f"{kept.get('dir')}/original", "sha256": kept.get("sha256")}
            evidence, note = await fetch_original(ctx, answer, str(p["id"]), self.id)
        left, pids = after.get("links") or [], after.get("pids") or []
        ok = not left and not pids
        verification = (
            f"enablement links left: {len(left)}; processes in its cgroup: {len(pids)}; {note}"
        )
        return ActionResult(
            Outcome.DONE if ok else Outcome.UNVERIFIED,
            f"disabled {visible(unit)}" if ok else f"{visible(unit)} is not fully disabled",
            verification=verification,
            state=""
            if ok
            else "links: "
            + "; ".join(visible(str(x[0])) for x in left)
            + (f"; pids {pids}" if pids else ""),
            details={"id": p["id"], "links": kept.get("links"), "systemctl": visible_args(argv)},
            undo=undo,
            evidence=evidence,
        )


class Restore:
    id = "restore"
    title = "Restore disabled persistence entry / removed key"
    risk = Risk.REVERSIBLE
    params: tuple[str, ...] = ("id",)

    async def plan(self, ctx: ActionContext, params: Mapping[str, str]) -> ActionPlan:
        qid = check_id(str(params.get("id", "")))
        root = quarantine_root(params)
        meta = await call(ctx, SCRIPT, "meta", {"root": root, "id": qid, "max": 1 << 30})
        kind = meta.get("type")
        force = yes(params, "force")
        if meta.get("restored") and not force:
            raise ActionError(f"{qid} was already restored; pass force=yes; nothing was done")
        if kind == "move":
            raise ActionError(f"{qid} is a quarantined file: use restore-file; nothing was done")
        path = str(meta.get("path") or "")
        folder = f"{root}/{qid}"
        warnings: list[str] = []
        steps: list[PlannedStep] = []
        if kind == "edit":
            if meta.get("current_sha256") != meta.get("after_sha256"):
                msg = f"{visible(path)} changed since it was disabled"
                if not force:
                    raise ActionError(f"{msg}; pass force=yes to overwrite; nothing was done")
                warnings.append(msg + ": that change will be overwritten (force=yes)")
            steps.append(
                PlannedStep(
                    "put the original back byte for byte (atomic replace, owner/mode/flags "
                    "as recorded)",
                    f"{where(ctx)}: sha256 {folder + '/original'!r}; write {path!r}.tmp; "
                    f"os.rename over {path!r}",
                )
            )
            subject = f"{visible(path)} as it was before {qid}"
        elif kind == "chmod":
            mode = int(meta.get("mode") or 0)
            steps.append(
                PlannedStep("put the mode back", f"{where(ctx)}: os.chmod({path!r}, 0o{mode:o})")
            )
            subject = f"mode of {visible(path)} before {qid}"
        elif kind == "systemd":
            unit = str(meta.get("unit"))
            links = [f"{a} -> {b}" for a, b in meta.get("links") or []]
            steps.append(
                PlannedStep(
                    "re-create the enablement links",
                    f"{where(ctx)}: os.symlink: {'; '.join(links) or 'none recorded'}",
                )
            )
            systemctl = await call(ctx, SCRIPT, "unit_inspect", {"unit": unit, "max": 1})
            running = systemctl.get("pid1") == "systemd" and systemctl.get("systemctl")
            if running:
                steps.append(
                    PlannedStep(
                        "reload systemd", f"{ctx.exec.host}: {systemctl['systemctl']} daemon-reload"
                    )
                )
                if meta.get("active"):
                    steps.append(
                        PlannedStep(
                            "start it again (it was running)",
                            f"{ctx.exec.host}: {systemctl['systemctl']} start {unit}",
                        )
                    )
                    warnings.append("the unit was running before: it is started again")
            subject = f"systemd unit {visible(unit)} as before {qid}"
        else:
            raise ActionError(f"{qid}: unknown quarantine entry type {kind!r}; nothing was done")
        steps.append(PlannedStep("verify it reads back as recorded", f"{where(ctx)}: sha256/lstat"))
        return ActionPlan(
            action=self.id,
            host=ctx.exec.host,
            subject=subject,
            params={**params, "id": qid, "quarantine_root": root, "type": kind},
            steps=tuple(steps),
            risk=self.risk,
            warnings=tuple(warnings),
        )

    async def execute(self, ctx: ActionContext, plan: ActionPlan) -> ActionResult:
        p = plan.params
        args = {"root": p["quarantine_root"], "id": p["id"], "force": yes(p, "force")}
        answer = await call(ctx, SCRIPT, "restore", args, 300.0)
        meta = answer.get("meta") or {}
        kind = answer.get("type")
        if kind == "systemd":
            unit = str(answer.get("unit"))
            info = await call(ctx, SCRIPT, "unit_inspect", {"unit": unit, "max": 1})
            systemctl = info.get("systemctl")
            said: list[str] = []
            if info.get("pid1") == "systemd" and systemctl:
                commands = [[systemctl, "daemon-reload"]]
                if answer.get("active"):
                    commands.append([systemctl, "start", unit])
                for argv in commands:
                    res = await ctx.exec.run(argv, timeout=120.0)
                    if res.status != 0:
                        said.append(f"{shlex.join(argv)}: status {res.status}")
            wanted = {a for a, _ in meta.get("links") or []}
            present = {a for a, _ in answer.get("links") or []}
            ok = wanted <= present and not said
            return ActionResult(
                Outcome.DONE if ok else Outcome.UNVERIFIED,
                f"re-enabled {visible(unit)}",
                verification=f"links present: {len(wanted & present)}/{len(wanted)}"
                + (f"; {'; '.join(said)}" if said else ""),
                state="" if ok else "some links or commands failed: check the unit",
                details={"id": p["id"], "made": answer.get("made") or []},
            )
        checks = {
            "sha256": answer.get("sha256") == meta.get("sha256"),
            "owner": [answer.get("uid"), answer.get("gid")] == [meta.get("uid"), meta.get("gid")],
            "mode": answer.get("mode") == meta.get("mode"),
        }
        ok = all(checks.values())
        path = visible(str(answer.get("path")))
        return ActionResult(
            Outcome.DONE if ok else Outcome.UNVERIFIED,
            f"restored {path}" if ok else f"restored {path}, but it differs from the record",
            verification="; ".join(f"{k}: {'same' if v else 'DIFFERS'}" for k, v in checks.items()),
            state="" if ok else f"{path} does not read back as the kept original",
            details={"id": p["id"], "sha256": answer.get("sha256")},
        )


DISABLE, RESTORE = Disable(), Restore()
ACTIONS: tuple[HostAction, ...] = (DISABLE, RESTORE)
