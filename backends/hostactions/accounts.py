"""Account actions: ``lock-user`` (and its undo ``unlock-user``) and ``remove-key``.

``lock-user`` never deletes anything. It runs the host's ``usermod -L -e 1 -- USER`` by absolute
path (``/usr/sbin/usermod`` or ``/sbin/usermod``: it takes the shadow lock and keeps
``/etc/shadow``'s format, which a hand edit could get wrong): ``-L`` puts ``!`` before the
password hash (no password login), ``-e 1`` expires the account (day 1 of 1970), which also stops
key logins (sshd and PAM refuse expired accounts). It is verified by reading ``/etc/shadow``
itself: the ``!`` prefix and the expiry field; the hash never leaves the host (the script returns
only "locked or not" and the expiry field). root and the account sickbay is logged in as (and
the ``SUDO_USER`` behind it) are refused. Sessions and processes already running as the user
are not touched: freeze or kill them separately. ``unlock-user`` puts the expiry field back as
it was and removes the ``!`` only if lock-user added it.

``remove-key`` removes ONE entry of an authorized_keys file, named by its fingerprint (SHA256 of
the key blob, as ``ssh-keygen -lf`` prints it; parsed by the same code as the facts gatherer),
and/or by its line number (``line=`` alone also removes a line that is not a key at all: the junk
a Redis dump leaves).
The original is kept first in the host's quarantine directory (with its sha256) and fetched to
the incident's evidence directory; the file is replaced atomically with the same owner, mode and
xattrs; the result must hash exactly as the original minus that one line (every other line
byte-identical) and the fingerprint must be gone. Undo: ``restore``.
"""

from __future__ import annotations

import base64
import re
import shlex
from collections.abc import Mapping
from typing import Any

from backends.facts import parse_authorized_keys
from backends.hostactions.base import ActionContext, HostAction
from backends.hostactions.files import LIB, Failed, abs_path, call, where
from backends.hostactions.persistence import (
    fetch_original,
    owner_kept,
    plan_line_edit,
    run_line_edit,
)
from domain.actions import ActionError, ActionPlan, ActionResult, Outcome, PlannedStep, Risk
from domain.sanitize import visible

USERMOD = ("/usr/sbin/usermod", "/sbin/usermod")
_USER = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]{0,31}\$?")

# Host side (after files.LIB). ARGS: {"op": "account", "user"}.
SCRIPT = (
    LIB
    + r"""
def fields(path, name, count):
    try:
        data, st, _ = read_regular(path, 16 << 20)
    except Fail:
        return None
    for raw in data.split(b'\n'):
        f = raw.split(b':')
        if f[0] == name and len(f) >= count:
            return f
    return False

def account(a):
    name = enc(a['user'])
    pw = fields(b'/etc/passwd', name, 7)
    out = {'exists': bool(pw), 'usermod': next((p for p in @USERMOD@ if os.access(p, os.X_OK)),
                                               None)}
    if pw:
        out['uid'] = int(pw[2]) if pw[2].isdigit() else None
        out['shell'] = dec(pw[6])
        out['in_passwd'] = pw[1] not in (b'x', b'*', b'!')
    sh = fields(b'/etc/shadow', name, 8)
    out['shadow'] = sh is not None and sh is not False
    if sh:
        # The hash itself never leaves this function.
        out['locked'] = sh[1].startswith(b'!')
        out['empty'] = sh[1] in (b'', b'!')
        out['expire'] = dec(sh[7])
    import pwd
    me = set()
    try:
        me.add(pwd.getpwuid(os.getuid()).pw_name)
        me.add(pwd.getpwuid(os.geteuid()).pw_name)
    except KeyError:
        pass
    for var in ('SUDO_USER', 'LOGNAME', 'USER'):
        if os.environ.get(var):
            me.add(os.environ[var])
    out['operator'] = sorted(me)
    return out

run({'account': account})
"""
).replace("@USERMOD@", repr(USERMOD))


def parse_user(params: Mapping[str, Any]) -> str:
    user = str(params.get("user", "")).strip()
    if not _USER.fullmatch(user):
        raise ActionError(f"not a user name: {visible(user)!r}; nothing was done")
    return user


async def read_account(ctx: ActionContext, user: str) -> dict[str, Any]:
    info = await call(ctx, SCRIPT, "account", {"user": user})
    if not info.get("exists"):
        raise ActionError(f"no user {user} in /etc/passwd on the host; nothing was done")
    if not info.get("shadow"):
        raise ActionError(
            f"{user} has no /etc/shadow entry (or it is unreadable); nothing was done"
        )
    if not info.get("usermod"):
        raise ActionError(f"no usermod at {', '.join(USERMOD)}; nothing was done")
    return info


class LockUser:
    id = "lock-user"
    title = "Lock user account"
    risk = Risk.REVERSIBLE
    params: tuple[str, ...] = ("user",)

    async def plan(self, ctx: ActionContext, params: Mapping[str, str]) -> ActionPlan:
        user = parse_user(params)
        if user == "root":
            raise ActionError(
                "refusing to lock root: it would lock you out of the host's console and sudo "
                "fallbacks; nothing was done"
            )
        info = await read_account(ctx, user)
        if info.get("uid") == 0 and user == "root":
            raise ActionError("refusing to lock root; nothing was done")
        if user in (info.get("operator") or []):
            raise ActionError(
                f"refusing to lock {user}: sickbay is logged in to the host as that user; "
                "nothing was done"
            )
        argv = [str(info["usermod"]), "-L", "-e", "1", "--", user]
        warnings = [
            f"sessions and processes already running as {user} keep running: freeze/kill them"
        ]
        if info.get("in_passwd"):
            warnings.append("the password hash is in /etc/passwd, not /etc/shadow")
        if info.get("locked"):
            warnings.append("the password is already locked (only the expiry changes)")
        if info.get("uid") == 0:
            warnings.append(f"{user} has uid 0: a second root account")
        undo_password = "keep" if info.get("locked") or info.get("empty") else "unlock"
        undo = (
            "unlock-user",
            {"user": user, "expire": str(info.get("expire") or ""), "password": undo_password},
        )
        return ActionPlan(
            action=self.id,
            host=ctx.exec.host,
            subject=f"account {user} (uid {info.get('uid')})",
            params={**params, "user": user, "argv": argv, "expire_before": info.get("expire")},
            steps=(
                PlannedStep(
                    "lock the password (! prefix) and expire the account (no key logins either)"
                    " with the host's usermod, by absolute path",
                    f"{ctx.exec.host}: {shlex.join(argv)}",
                ),
                PlannedStep(
                    "verify in /etc/shadow: the password field starts with ! and the expiry "
                    "field is 1 (the hash is not read off the host)",
                    f"{where(ctx)}: read /etc/shadow ({user})",
                ),
            ),
            risk=self.risk,
            undo=undo,
            warnings=tuple(warnings),
        )

    async def execute(self, ctx: ActionContext, plan: ActionPlan) -> ActionResult:
        p = plan.params
        user = str(p["user"])
        argv = [str(a) for a in p["argv"]]
        result = await ctx.exec.run(argv, timeout=60.0)
        if result.status != 0:
            said = result.stderr.decode("utf-8", "replace").strip()[-300:]
            raise Failed(
                f"usermod failed (status {result.status}): {visible(said)}",
                state=f"{user} is probably unchanged: check /etc/shadow",
            )
        after = await call(ctx, SCRIPT, "account", {"user": user})
        locked, expire = bool(after.get("locked")), str(after.get("expire"))
        ok = locked and expire == "1"
        verification = f"/etc/shadow: password {'locked (!)' if locked else 'NOT locked'}, " + (
            f"expiry field {expire!r}"
        )
        return ActionResult(
            Outcome.DONE if ok else Outcome.UNVERIFIED,
            f"locked and expired {user}" if ok else f"{user} is not fully locked",
            verification=verification,
            state="" if ok else f"{user}: {verification}",
            details={"user": user, "locked": locked, "expire": expire},
            undo=plan.undo,
        )


class UnlockUser:
    id = "unlock-user"
    title = "Unlock user account"
    risk = Risk.REVERSIBLE
    params: tuple[str, ...] = ("user",)

    async def plan(self, ctx: ActionContext, params: Mapping[str, str]) -> ActionPlan:
        user = parse_user(params)
        expire = str(params.get("expire", "")).strip()
        if expire and not expire.lstrip("-").isdigit():
            raise ActionError(f"expire must be a day number or empty: {expire!r}; nothing was done")
        password = str(params.get("password", "unlock")).strip() or "unlock"
        if password not in ("unlock", "keep"):
            raise ActionError("password must be unlock or keep; nothing was done")
        info = await read_account(ctx, user)
        unlock = password == "unlock" and bool(info.get("locked"))
        argv = [str(info["usermod"]), *(["-U"] if unlock else []), "-e", expire, "--", user]
        warnings = []
        if password == "unlock" and info.get("empty"):
            warnings.append("no password behind the lock: usermod will not unlock it")
        if password == "keep":
            warnings.append("the password stays locked (it was locked or empty before)")
        return ActionPlan(
            action=self.id,
            host=ctx.exec.host,
            subject=f"account {user} (uid {info.get('uid')})",
            params={**params, "user": user, "argv": argv, "unlock": unlock, "expire": expire},
            steps=(
                PlannedStep(
                    ("unlock the password and " if unlock else "")
                    + f"set the expiry field back to {expire or '(none)'}",
                    f"{ctx.exec.host}: {shlex.join(argv)}",
                ),
                PlannedStep("verify in /etc/shadow", f"{where(ctx)}: read /etc/shadow ({user})"),
            ),
            risk=self.risk,
            undo=("lock-user", {"user": user}),
            warnings=tuple(warnings),
        )

    async def execute(self, ctx: ActionContext, plan: ActionPlan) -> ActionResult:
        p = plan.params
        user = str(p["user"])
        argv = [str(a) for a in p["argv"]]
        result = await ctx.exec.run(argv, timeout=60.0)
        said = result.stderr.decode("utf-8", "replace").strip()[-300:]
        if result.status != 0:
            raise Failed(
                f"usermod failed (status {result.status}): {visible(said)}",
                state=f"{user} is probably unchanged: check /etc/shadow",
            )
        after = await call(ctx, SCRIPT, "account", {"user": user})
        locked, expire = bool(after.get("locked")), str(after.get("expire"))
        ok = expire == p["expire"] and (not locked if p.get("unlock") else True)
        verification = (
            f"/etc/shadow: password {'locked (!)' if locked else 'not locked'}, expiry field "
            f"{expire!r}" + (f"; usermod said: {visible(said)}" if said else "")
        )
        return ActionResult(
            Outcome.DONE if ok else Outcome.UNVERIFIED,
            f"unlocked {user}" if ok else f"{user} is not unlocked as planned",
            verification=verification,
            state="" if ok else f"{user}: {verification}",
            details={"user": user, "locked": locked, "expire": expire},
            undo=("lock-user", {"user": user}),
        )


def parse_fingerprint(params: Mapping[str, Any]) -> str:
    text = str(params.get("fingerprint", "")).strip()
    body = text[7:] if text.upper().startswith("SHA256:") else text
    body = body.rstrip("=")
    if not re.fullmatch(r"[A-Za-z0-9+/]{43}", body):
        raise ActionError(
            f"not a SHA256 key fingerprint (as ssh-keygen -lf prints it): {visible(text)!r}; "
            "nothing was done"
        )
    return "SHA256:" + body


def key_lines(path: str, data: bytes) -> list[tuple[int, str | None]]:
    """(line number, fingerprint) of each entry of an authorized_keys file, parsed as the facts
    gatherer parses it."""
    entries = parse_authorized_keys(path, None, data)
    return [(int(e["line"]), e.get("fingerprint")) for e in entries]


class RemoveKey:
    id = "remove-key"
    title = "Remove authorized key"
    risk = Risk.DESTRUCTIVE
    params: tuple[str, ...] = ("path", "fingerprint")

    async def plan(self, ctx: ActionContext, params: Mapping[str, str]) -> ActionPlan:
        path = abs_path(params)
        number_text = str(params.get("line", "")).strip()
        number = int(number_text) if number_text.isdigit() else None
        given = str(params.get("fingerprint", "")).strip()
        fingerprint = parse_fingerprint(params) if given or number is None else None
        found: dict[str, Any] = {}

        def index_of(lines: list[bytes]) -> tuple[int, list[str]]:
            entries = key_lines(path, b"\n".join(lines))
            if fingerprint is None and number is not None:  # the entry on that line, whatever
                at = dict(entries)
                if number not in at:
                    raise ActionError(
                        f"line {number} is not an entry of the file; nothing was done"
                    )
                found["fingerprint"] = at[number] or ""
                found["count"] = sum(1 for _, fp in entries if at[number] and fp == at[number])
                return number - 1, [] if at[number] else ["that line is not a key (junk)"]
            hits = [n for n, fp in entries if fp == fingerprint]
            found["count"] = len(hits)
            if not hits:
                raise ActionError(f"no key {fingerprint} in {visible(path)}; nothing was done")
            if number is not None:
                if number not in hits:
                    raise ActionError(f"line {number} is not key {fingerprint}; nothing was done")
                return number - 1, []
            if len(hits) > 1:
                lines_text = ", ".join(map(str, hits))
                raise ActionError(
                    f"{fingerprint} is on several lines ({lines_text}): pass line=N; "
                    "nothing was done"
                )
            return hits[0] - 1, []

        recorded, steps, warnings, line = await plan_line_edit(
            ctx,
            params,
            action=self.id,
            path=path,
            kind="authorized_keys",
            index_of=index_of,
            remove=True,
        )
        fingerprint = found.get("fingerprint", fingerprint) or ""
        recorded["fingerprint"] = fingerprint
        recorded["count"] = found.get("count", 1)
        steps.insert(
            2,
            PlannedStep(
                "copy the kept original to the incident's evidence directory (sha256 compared)",
                f"fetch {recorded['quarantine_root']}/{recorded['id']}/original -> "
                f"{ctx.evidence_dir}",
            ),
        )
        steps.append(
            PlannedStep(
                f"verify: {fingerprint or 'the line'} is gone and every other line is "
                "byte-identical",
                f"{where(ctx)}: read {path!r} back; parse; compare",
            )
        )
        me = await call(ctx, SCRIPT, "account", {"user": "root"})
        operator = ", ".join(me.get("operator") or [])
        if path.startswith("/root/") or any(
            f"/{name}/" in path for name in me.get("operator") or []
        ):
            warnings.append(
                f"this may be the key file of the account sickbay uses ({operator}): make sure "
                "the key is not yours"
            )
        words = line.decode("utf-8", "backslashreplace").split()
        comment = " ".join(w for w in words[2:] if not w.startswith("AAAA"))[:80]
        return ActionPlan(
            action=self.id,
            host=ctx.exec.host,
            subject=f"key {fingerprint or '(not a key)'} (line {recorded['line']}"
            + (f", {visible(comment)}" if comment else "")
            + f") from {visible(path)}",
            params=recorded,
            steps=tuple(steps),
            risk=self.risk,
            undo=(
                "restore",
                {"id": recorded["id"], "quarantine_root": recorded["quarantine_root"]},
            ),
            warnings=tuple(warnings),
        )

    async def execute(self, ctx: ActionContext, plan: ActionPlan) -> ActionResult:
        p = plan.params
        undo = ("restore", {"id": str(p["id"]), "quarantine_root": str(p["quarantine_root"])})
        answer = await run_line_edit(ctx, plan, want_after=True)
        evidence, note = await fetch_original(ctx, answer, str(p["id"]), self.id)
        try:
            after = base64.b64decode(str(answer.get("after_b64")), validate=True)
        except ValueError:
            after = b""
        fingerprint = str(p.get("fingerprint") or "")
        entries = key_lines(str(p["path"]), after)
        left = [n for n, fp in entries if fingerprint and fp == fingerprint]
        checks = {
            "the key is gone": not fingerprint or len(left) == int(p.get("count") or 1) - 1,
            "every other line byte-identical": answer.get("after_sha256") == p["after_sha256"],
            "owner and mode kept": owner_kept(p, answer),
        }
        ok = all(checks.values()) and bool(evidence)
        verification = "; ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in checks.items())
        return ActionResult(
            Outcome.DONE if ok else Outcome.UNVERIFIED,
            f"removed {('key ' + fingerprint) if fingerprint else 'line ' + str(p['line'])} from "
            f"{visible(str(p['path']))}",
            verification=f"{verification}; {note}",
            state="" if ok else "check the file and the kept original by hand",
            details={
                "id": p["id"],
                "kept": answer.get("kept"),
                "sha256": answer.get("sha256"),
                "after_sha256": answer.get("after_sha256"),
                "uid": answer.get("uid"),
                "gid": answer.get("gid"),
                "mode": answer.get("mode"),
                "left": left,
            },
            undo=undo,
            evidence=evidence,
        )


LOCK_USER, UNLOCK_USER, REMOVE_KEY = LockUser(), UnlockUser(), RemoveKey()
ACTIONS: tuple[HostAction, ...] = (LOCK_USER, UNLOCK_USER, REMOVE_KEY)
