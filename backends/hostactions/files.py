"""File actions: ``quarantine`` (move a file into a root-only quarantine directory on the host,
mode 000, with its sha256 and a JSON sidecar) and ``restore-file`` (its undo: put it back, owner,
mode and times as they were).

Also the pieces the other configuration-changing actions share (``accounts``, ``persistence``):
:data:`LIB`, the host-side helpers every one of their in-memory scripts starts with (bounded,
symlink-refusing reads; the quarantine directory; atomic content replacement that keeps owner,
mode and extended attributes; clearing and restoring chattr +i/+a with the FS_IOC_GETFLAGS /
FS_IOC_SETFLAGS ioctls, never the host's chattr), and the bastion-side helpers to call them.

Layout on the host: ``/var/lib/sickbay-quarantine/`` (0700, ours), one directory per action
(``<action>-<UTC time>-<random>``, 0700) holding the kept file (mode 000) and ``meta.json``
(original path, owner, mode, times, inode flags, sha256; what was done). A restore writes
``restored.json`` beside it; nothing in quarantine is ever deleted by sickbay.

Moving keeps the file's timestamps: ``os.rename`` within one filesystem; across filesystems
``shutil.copy2`` (data, mode, atime/mtime, xattrs) then ``unlink``, said in the plan and the
sidecar. The file is hashed through an ``O_NOATIME`` descriptor, so reading it leaves its access
time alone. A copy can be fetched to the incident's evidence directory (``fetch=yes``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from backends.evidence_store import EvidenceStore
from backends.hostactions.base import ActionContext, HostAction
from domain.actions import ActionError, ActionPlan, ActionResult, Outcome, PlannedStep, Risk
from domain.hostexec import ExecError
from domain.sanitize import visible

QUARANTINE_ROOT = "/var/lib/sickbay-quarantine"
MAX_FETCH = 1 << 30  # bytes of a quarantined file fetched to the bastion

# Host-side helpers (Python >= 3.6, stdlib only). Paths travel as str (surrogateescape) and are
# used as bytes on the host, whatever its locale. ``Fail(message, state)`` ends an op cleanly;
# ``STATE[0]`` says what has been done so far, for an unexpected OSError.
LIB = r"""
import base64, errno, fcntl, hashlib, json, os, shutil, stat, struct, time

_L = struct.calcsize('l')
GETFLAGS = (2 << 30) | (_L << 16) | (ord('f') << 8) | 1
SETFLAGS = (1 << 30) | (_L << 16) | (ord('f') << 8) | 2
IMMUTABLE, APPEND = 0x10, 0x20
LOCKS = IMMUTABLE | APPEND
NOFOLLOW = getattr(os, 'O_NOFOLLOW', 0)
CLOEXEC = getattr(os, 'O_CLOEXEC', 0)
NOATIME = getattr(os, 'O_NOATIME', 0)
STATE = ['nothing was done']

class Fail(Exception):
    def __init__(self, message, state=None):
        Exception.__init__(self, message)
        self.state = state

def enc(s):
    return s.encode('utf-8', 'surrogateescape')

def dec(b):
    return b.decode('utf-8', 'surrogateescape')

def ropen(path, flags=0):
    flags |= os.O_RDONLY | NOFOLLOW | CLOEXEC | os.O_NONBLOCK
    if NOATIME:
        try:
            return os.open(path, flags | NOATIME)
        except OSError as e:
            if e.errno != errno.EPERM:
                raise
    return os.open(path, flags)

def getflags(fd):
    try:
        raw = fcntl.ioctl(fd, GETFLAGS, b'\0' * 8)
    except (OSError, IOError, ValueError, OverflowError):
        return None
    return struct.unpack('i', raw[:4])[0]

def pathflags(path):
    try:
        fd = ropen(path)
    except OSError:
        return None
    try:
        return getflags(fd)
    finally:
        os.close(fd)

def setpathflags(path, flags):
    fd = ropen(path)
    try:
        fcntl.ioctl(fd, SETFLAGS, struct.pack('i', flags) + b'\0' * 4)
    finally:
        os.close(fd)

class Unlocked(object):
    # Clears chattr +i/+a where set (and only there); puts them back on exit, on whatever is
    # at the path then (the replaced file), unless restore=False.
    def __init__(self, paths, restore=True):
        self.paths, self.restore, self.cleared = paths, restore, []
    def __enter__(self):
        for p in self.paths:
            f = pathflags(p)
            if f is not None and f & LOCKS:
                try:
                    setpathflags(p, f & ~LOCKS)
                except OSError as e:
                    raise Fail('cannot clear the immutable/append-only flag of %s: %s'
                               % (dec(p), e.strerror or e), STATE[0])
                self.cleared.append((p, f))
        return self
    def __exit__(self, *exc):
        if self.restore:
            for p, f in reversed(self.cleared):
                cur = pathflags(p)
                if cur is not None:
                    try:
                        setpathflags(p, cur | (f & LOCKS))
                    except OSError:
                        pass
        return False
    def report(self):
        return [[dec(p), f & LOCKS] for p, f in self.cleared]

def read_regular(path, limit):
    try:
        fd = ropen(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise Fail('%s is a symbolic link; give the file it points to' % dec(path))
        raise Fail('cannot open %s: %s' % (dec(path), e.strerror or e))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Fail('%s is not a regular file' % dec(path))
        if st.st_size > limit:
            raise Fail('%s is larger than %d bytes' % (dec(path), limit))
        chunks, n = [], 0
        while n <= limit:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            chunks.append(b)
            n += len(b)
        if n > limit:
            raise Fail('%s is larger than %d bytes' % (dec(path), limit))
        return b''.join(chunks), st, getflags(fd)
    finally:
        os.close(fd)

def sha_file(path):
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

def sha(data):
    return hashlib.sha256(data).hexdigest()

def fsync_dir(d):
    try:
        fd = os.open(d, os.O_RDONLY | CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

def create(path, data, mode):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)

def qroot(root):
    r = enc(root)
    if not r.startswith(b'/'):
        raise Fail('the quarantine directory must be an absolute path')
    try:
        os.makedirs(r, 0o700)
    except OSError as e:
        if e.errno != errno.EEXIST:
            raise Fail('cannot create %s: %s' % (root, e.strerror or e))
    st = os.lstat(r)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise Fail('%s is not a directory of ours; nothing was done' % root)
    if st.st_mode & 0o077:
        os.chmod(r, 0o700)
    return r

def qdir(root, qid):
    d = os.path.join(qroot(root), enc(qid))
    try:
        os.mkdir(d, 0o700)
    except OSError as e:
        raise Fail('cannot create %s: %s' % (dec(d), e.strerror or e))
    return d

def qmeta(root, qid):
    d = os.path.join(enc(root), enc(qid))
    data, st, _ = read_regular(os.path.join(d, b'meta.json'), 1 << 20)
    if st.st_uid != os.geteuid():
        raise Fail('%s/meta.json is not ours; nothing was done' % dec(d))
    return d, json.loads(data.decode('utf-8'))

def put_meta(d, meta):
    create(os.path.join(d, b'meta.json'), json.dumps(meta, sort_keys=True).encode(), 0o600)

def copy_xattrs(src, fd):
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except (OSError, AttributeError):
        return
    for n in names:
        try:
            os.setxattr(fd, n, os.getxattr(src, n, follow_symlinks=False))
        except OSError:
            pass

def replace(path, data, uid, gid, mode, tag):
    # Atomically replace path's content: a new file beside it (owner, mode, xattrs of the old
    # one), fsync'd, renamed over it.
    d = os.path.dirname(path) or b'.'
    tmp = os.path.join(d, b'.sickbay-' + enc(tag) + b'.tmp')
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
        if os.path.lexists(path):
            copy_xattrs(path, fd)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.rename(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(d)

def owner_mode(st):
    return {'uid': st.st_uid, 'gid': st.st_gid, 'mode': stat.S_IMODE(st.st_mode)}

def run(ops):
    try:
        out = ops[ARGS['op']](ARGS)
    except Fail as e:
        out = {'error': str(e), 'state': e.state or STATE[0]}
    except OSError as e:
        name = e.filename
        if isinstance(name, bytes):
            name = dec(name)
        out = {'error': '%s%s' % (name + ': ' if name else '', e.strerror or e),
               'state': STATE[0]}
    print(json.dumps(out))
"""

SCRIPT = (
    LIB
    + r"""
def lookup(a):
    path = enc(a['path'])
    try:
        st = os.lstat(path)
    except OSError as e:
        raise Fail('%s: %s' % (a['path'], e.strerror or e))
    if stat.S_ISLNK(st.st_mode):
        raise Fail('%s is a symbolic link; give the file it points to' % a['path'])
    if not stat.S_ISREG(st.st_mode):
        raise Fail('%s is not a regular file' % a['path'])
    return path, st

def probe(a):
    path, st = lookup(a)
    digest, size = sha_file(path)
    top = enc(a['root'])
    while not os.path.exists(top):
        top = os.path.dirname(top)
    return {'sha256': digest, 'size': size, 'flags': pathflags(path),
            'same_fs': os.stat(top).st_dev == st.st_dev, 'uid': st.st_uid, 'gid': st.st_gid,
            'mode': stat.S_IMODE(st.st_mode), 'mtime_ns': st.st_mtime_ns, 'nlink': st.st_nlink,
            'inside': os.path.realpath(path).startswith(os.path.realpath(enc(a['root'])) + b'/')}

def quarantine(a):
    path, st = lookup(a)
    digest, size = sha_file(path)
    if digest != a['sha256']:
        raise Fail('%s changed since the plan (sha256 %s, was %s); nothing was done'
                   % (a['path'], digest, a['sha256']))
    flags = pathflags(path)
    d = qdir(a['root'], a['id'])
    kept = os.path.join(d, b'file')
    meta = {'schema': 'sickbay.quarantine/1', 'id': a['id'], 'action': 'quarantine',
            'type': 'move', 'path': a['path'], 'stored': 'file', 'sha256': digest, 'size': size,
            'atime_ns': st.st_atime_ns, 'mtime_ns': st.st_mtime_ns, 'ctime': st.st_ctime,
            'dev': st.st_dev, 'ino': st.st_ino, 'nlink': st.st_nlink,
            'flags': None if flags is None else flags & LOCKS, 'at': time.time()}
    meta.update(owner_mode(st))
    STATE[0] = 'quarantine directory %s created; %s not moved' % (dec(d), a['path'])
    parent = os.path.dirname(path) or b'.'
    # The directory's flags go back on exit; the file is no longer at its path then, so its
    # flags stay cleared on the kept copy (they travel in meta.json, restore puts them back).
    with Unlocked([path, parent]) as u:
        try:
            os.rename(path, kept)
            how = 'rename'
        except OSError as e:
            if e.errno != errno.EXDEV:
                raise
            STATE[0] = 'copying %s into %s; the original is still in place' % (a['path'], dec(d))
            shutil.copy2(path, kept, follow_symlinks=False)
            os.unlink(path)
            how = 'copy'
        cleared = u.report()
    STATE[0] = '%s moved to %s' % (a['path'], dec(kept))
    os.chmod(kept, 0)
    meta['how'] = how
    meta['cleared_flags'] = cleared
    put_meta(d, meta)
    after, _ = sha_file(kept)
    kst = os.lstat(kept)
    return {'kept': dec(kept), 'dir': dec(d), 'how': how, 'sha256': after,
            'mode': stat.S_IMODE(kst.st_mode), 'gone': not os.path.lexists(path),
            'mtime_kept': kst.st_mtime_ns == st.st_mtime_ns, 'cleared': cleared}

def meta(a):
    d, m = qmeta(a['root'], a['id'])
    m['restored'] = os.path.lexists(os.path.join(d, b'restored.json'))
    m['dir'] = dec(d)
    return m

def restore_move(a):
    d, m = qmeta(a['root'], a['id'])
    if m.get('type') != 'move':
        raise Fail('%s is not a quarantined file (it is a %s); use restore'
                   % (a['id'], m.get('type')))
    marker = os.path.join(d, b'restored.json')
    if os.path.lexists(marker) and not a.get('force'):
        raise Fail('%s was already restored (restored.json); pass force=yes to do it again'
                   % a['id'])
    kept = os.path.join(d, enc(m['stored']))
    digest, _ = sha_file(kept)
    if digest != m['sha256']:
        raise Fail('the quarantined copy changed (sha256 %s, recorded %s); nothing was done'
                   % (digest, m['sha256']))
    path = enc(m['path'])
    if os.path.lexists(path):
        raise Fail('something is at %s now; move it away first; nothing was done' % m['path'])
    parent = os.path.dirname(path) or b'.'
    if not os.path.isdir(parent):
        raise Fail('the directory of %s is gone; nothing was done' % m['path'])
    with Unlocked([parent]):
        try:
            os.rename(kept, path)
            how = 'rename'
        except OSError as e:
            if e.errno != errno.EXDEV:
                raise
            STATE[0] = 'copying %s back to %s' % (dec(kept), m['path'])
            shutil.copy2(kept, path, follow_symlinks=False)
            os.unlink(kept)
            how = 'copy'
        STATE[0] = '%s is back at %s (owner/mode not yet restored)' % (dec(kept), m['path'])
        os.chown(path, m['uid'], m['gid'], follow_symlinks=False)
        os.chmod(path, m['mode'])
        os.utime(path, ns=(m['atime_ns'], m['mtime_ns']), follow_symlinks=False)
        if m.get('flags'):
            setpathflags(path, (pathflags(path) or 0) | m['flags'])
    STATE[0] = '%s restored' % m['path']
    create(marker, json.dumps({'at': time.time(), 'how': how}).encode(), 0o600)
    st = os.lstat(path)
    after, _ = sha_file(path)
    return {'path': m['path'], 'how': how, 'sha256': after, 'expected': m['sha256'],
            'uid': st.st_uid, 'gid': st.st_gid, 'mode': stat.S_IMODE(st.st_mode),
            'mtime_ns': st.st_mtime_ns, 'meta': m, 'flags': pathflags(path)}

run({'probe': probe, 'quarantine': quarantine, 'meta': meta, 'restore': restore_move})
"""
)

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
SYSTEM_DIRS = ("/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/lib", "/usr/lib", "/boot/")


class Failed(ActionError):
    """An action that stopped part way; ``state`` is what the host was left in."""

    def __init__(self, message: str, *, state: str) -> None:
        super().__init__(message)
        self.state = state


def where(ctx: ActionContext) -> str:
    return f"{ctx.exec.host}: python3 -I -S (in memory)"


def new_id(action: str) -> str:
    """A quarantine id: ``<action>-<UTC time>-<6 hex>`` (also names the directory)."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{action}-{stamp}-{secrets.token_hex(3)}"


def check_id(text: str) -> str:
    if not _ID.fullmatch(text):
        raise ActionError(f"not a quarantine id: {visible(text)!r}; nothing was done")
    return text


def quarantine_root(params: Mapping[str, Any]) -> str:
    """The quarantine directory on the host (``quarantine_root=``; tests use their own)."""
    root = str(params.get("quarantine_root") or QUARANTINE_ROOT)
    if not root.startswith("/") or "\n" in root or "/../" in root + "/":
        raise ActionError(f"not an absolute directory: {visible(root)!r}; nothing was done")
    return root.rstrip("/") or "/"


def abs_path(params: Mapping[str, Any], name: str = "path") -> str:
    path = str(params.get(name, ""))
    if not path.startswith("/") or "\0" in path:
        raise ActionError(f"{name} must be an absolute path: {visible(path)!r}; nothing was done")
    return path


def yes(params: Mapping[str, Any], name: str) -> bool:
    return str(params.get(name, "")).strip().lower() in ("yes", "true", "1")


async def call(
    ctx: ActionContext, script: str, op: str, args: Mapping[str, Any], timeout: float = 120.0
) -> dict[str, Any]:
    """Run ``op`` of ``script`` on the host; its ``{"error", "state"}`` becomes :class:`Failed`."""
    answer = await ctx.exec.run_python(script, {**args, "op": op}, timeout=timeout)
    if not isinstance(answer, dict):
        raise Failed("the host's answer is unreadable", state="unknown: check the host by hand")
    if "error" in answer:
        raise Failed(str(answer["error"]), state=str(answer.get("state") or "nothing was done"))
    return answer


async def keep_copy(
    ctx: ActionContext, remote: str, parts: tuple[str, ...], sha256: str, action: str
) -> tuple[tuple[str, str] | None, str]:
    """Fetch ``remote`` (a quarantined file) into the incident's evidence directory and check
    its hash against the host's: ((local path, sha256) or None, a note for the result)."""
    store = EvidenceStore(ctx.evidence_dir)
    local = store.new_path(ctx.exec.host, *parts)
    try:
        copied = await ctx.exec.fetch(remote, local, limit=MAX_FETCH)
    except ExecError as exc:
        return None, f"the copy could not be fetched to the bastion: {exc}"
    entry = store.add(
        local,
        host=ctx.exec.host,
        remote=remote,
        action=action,
        note="truncated" if copied >= MAX_FETCH else "",
    )
    if entry.sha256 != sha256:
        return (str(local), entry.sha256), (
            f"the fetched copy's sha256 {entry.sha256} differs from the host's {sha256}"
        )
    return (str(local), entry.sha256), f"copy fetched to {local} (sha256 matches)"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class Quarantine:
    id = "quarantine"
    title = "Quarantine file"
    risk = Risk.DESTRUCTIVE
    params: tuple[str, ...] = ("path",)

    async def plan(self, ctx: ActionContext, params: Mapping[str, str]) -> ActionPlan:
        path = abs_path(params)
        root = quarantine_root(params)
        probe = await call(ctx, SCRIPT, "probe", {"path": path, "root": root}, timeout=300.0)
        if probe.get("inside"):
            raise ActionError(f"{visible(path)} is already in quarantine; nothing was done")
        qid = new_id(self.id)
        folder = f"{root}/{qid}"
        fetch = yes(params, "fetch")
        move = (
            f"os.rename({path!r}, {folder + '/file'!r})"
            if probe.get("same_fs")
            else f"shutil.copy2({path!r}, {folder + '/file'!r}); os.unlink({path!r})"
        )
        steps = [
            PlannedStep(
                "check the file is unchanged (sha256) and make the quarantine directory (0700)",
                f"{where(ctx)}: sha256 {path!r}; mkdir -m 700 {folder!r}",
            ),
        ]
        if probe.get("flags") and int(probe["flags"]) & 0x30:
            steps.append(
                PlannedStep(
                    "clear the file's chattr +i/+a (ioctl FS_IOC_SETFLAGS; recorded, put back "
                    "on restore)",
                    f"{where(ctx)}: ioctl({path!r}, FS_IOC_SETFLAGS, flags & ~(i|a))",
                )
            )
        steps += [
            PlannedStep(
                "move it into quarantine, timestamps kept ("
                + (
                    "same filesystem: rename"
                    if probe.get("same_fs")
                    else "another filesystem: copy with data, mode and times, then unlink"
                )
                + ")",
                f"{where(ctx)}: {move}",
            ),
            PlannedStep(
                "make it unreadable (mode 000); record path, owner, mode, times, sha256",
                f"{where(ctx)}: os.chmod({folder + '/file'!r}, 0o000); write "
                f"{folder + '/meta.json'!r}",
            ),
            PlannedStep(
                "verify: the path is gone, the kept copy hashes the same and is mode 000",
                f"{where(ctx)}: lstat {path!r}; sha256 {folder + '/file'!r}",
            ),
        ]
        if fetch:
            steps.append(
                PlannedStep(
                    "copy it to the incident's evidence directory (sha256 compared)",
                    f"fetch {folder + '/file'!r} -> {ctx.evidence_dir}",
                )
            )
        warnings = []
        if int(probe.get("nlink") or 1) > 1:
            warnings.append(
                f"the file has {probe['nlink']} hard links: its other names keep the content"
            )
        if path.startswith(SYSTEM_DIRS) or path.startswith("/etc/"):
            warnings.append("this is a system path: the host may need this file to work")
        mb = int(probe.get("size") or 0) >> 20
        return ActionPlan(
            action=self.id,
            host=ctx.exec.host,
            subject=f"{visible(path)} ({int(probe.get('size') or 0)} bytes"
            + (f", {mb} MiB" if mb else "")
            + f", sha256 {str(probe.get('sha256'))[:16]}...)",
            params={
                **params,
                "path": path,
                "id": qid,
                "quarantine_root": root,
                "sha256": probe.get("sha256"),
            },
            steps=tuple(steps),
            risk=self.risk,
            undo=("restore-file", {"id": qid, "quarantine_root": root}),
            warnings=tuple(warnings),
        )

    async def execute(self, ctx: ActionContext, plan: ActionPlan) -> ActionResult:
        p = plan.params
        args = {"path": p["path"], "root": p["quarantine_root"], "id": p["id"]}
        answer = await call(ctx, SCRIPT, "quarantine", {**args, "sha256": p["sha256"]}, 600.0)
        ctx.progress(f"moved {visible(str(p['path']))} to {visible(str(answer.get('kept')))}")
        undo = ("restore-file", {"id": str(p["id"]), "quarantine_root": str(p["quarantine_root"])})
        details: dict[str, Any] = {
            "id": p["id"],
            "kept": answer.get("kept"),
            "sha256": answer.get("sha256"),
            "how": answer.get("how"),
            "cleared_flags": answer.get("cleared") or [],
        }
        evidence: tuple[tuple[str, str], ...] = ()
        notes = []
        if yes(p, "fetch"):
            kept, note = await keep_copy(
                ctx,
                str(answer.get("kept")),
                ("quarantine", str(p["id"]), "file"),
                str(p["sha256"]),
                self.id,
            )
            notes.append(note)
            evidence = (kept,) if kept else ()
        checks = {
            "gone from its path": bool(answer.get("gone")),
            "sha256 unchanged": answer.get("sha256") == p["sha256"],
            "mode 000": answer.get("mode") == 0,
            "mtime kept": bool(answer.get("mtime_kept")),
        }
        verification = "; ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in checks.items())
        verification += "" if not notes else "; " + "; ".join(notes)
        ok = all(checks.values())
        return ActionResult(
            Outcome.DONE if ok else Outcome.UNVERIFIED,
            f"quarantined {visible(str(p['path']))} as {p['id']}"
            if ok
            else "quarantined, but the verification failed",
            verification=verification,
            state="" if ok else f"the file is in {visible(str(answer.get('kept')))}",
            details=details,
            undo=undo,
            evidence=evidence,
        )


class RestoreFile:
    id = "restore-file"
    title = "Restore quarantined file"
    risk = Risk.REVERSIBLE
    params: tuple[str, ...] = ("id",)

    async def plan(self, ctx: ActionContext, params: Mapping[str, str]) -> ActionPlan:
        qid = check_id(str(params.get("id", "")))
        root = quarantine_root(params)
        meta = await call(ctx, SCRIPT, "meta", {"root": root, "id": qid})
        if meta.get("type") != "move":
            raise ActionError(f"{qid} is not a quarantined file; use restore; nothing was done")
        if meta.get("restored") and not yes(params, "force"):
            raise ActionError(f"{qid} was already restored; pass force=yes; nothing was done")
        path = str(meta.get("path"))
        kept = f"{root}/{qid}/{meta.get('stored')}"
        mode = int(meta.get("mode") or 0)
        return ActionPlan(
            action=self.id,
            host=ctx.exec.host,
            subject=f"{visible(path)} from quarantine {qid}",
            params={**params, "id": qid, "quarantine_root": root},
            steps=(
                PlannedStep(
                    "check the kept copy's sha256 and that nothing is at the path now",
                    f"{where(ctx)}: sha256 {kept!r}; lstat {path!r}",
                ),
                PlannedStep(
                    "move it back (rename, or copy2 + unlink across filesystems)",
                    f"{where(ctx)}: os.rename({kept!r}, {path!r})",
                ),
                PlannedStep(
                    "put back owner, mode, times (and chattr flags if it had any)",
                    f"{where(ctx)}: os.chown({path!r}, {meta.get('uid')}, {meta.get('gid')}); "
                    f"os.chmod({path!r}, 0o{mode:o}); os.utime(..., ns=(atime, mtime))",
                ),
                PlannedStep(
                    "verify sha256, owner, mode, mtime", f"{where(ctx)}: sha256, lstat {path!r}"
                ),
            ),
            risk=self.risk,
            undo=("quarantine", {"path": path, "quarantine_root": root}),
            warnings=(
                "the file goes back with its original mode: if it is malware, it can run again",
            ),
        )

    async def execute(self, ctx: ActionContext, plan: ActionPlan) -> ActionResult:
        p = plan.params
        args = {"root": p["quarantine_root"], "id": p["id"], "force": yes(p, "force")}
        answer = await call(ctx, SCRIPT, "restore", args, 600.0)
        meta = answer.get("meta") or {}
        checks = {
            "sha256": answer.get("sha256") == meta.get("sha256"),
            "owner": [answer.get("uid"), answer.get("gid")] == [meta.get("uid"), meta.get("gid")],
            "mode": answer.get("mode") == meta.get("mode"),
            "mtime": answer.get("mtime_ns") == meta.get("mtime_ns"),
        }
        ok = all(checks.values())
        path = visible(str(answer.get("path")))
        return ActionResult(
            Outcome.DONE if ok else Outcome.UNVERIFIED,
            f"restored {path}" if ok else f"restored {path}, but it differs from the record",
            verification="; ".join(f"{k}: {'same' if v else 'DIFFERS'}" for k, v in checks.items()),
            state="" if ok else f"{path} is back but differs from what was quarantined",
            details={"id": p["id"], "how": answer.get("how"), "sha256": answer.get("sha256")},
            undo=(
                "quarantine",
                {"path": str(answer.get("path")), "quarantine_root": str(p["quarantine_root"])},
            ),
        )


QUARANTINE, RESTORE_FILE = Quarantine(), RestoreFile()
ACTIONS: tuple[HostAction, ...] = (QUARANTINE, RESTORE_FILE)
