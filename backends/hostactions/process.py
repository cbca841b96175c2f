"""Process actions: ``freeze`` (SIGSTOP a process tree with its watchdog parents), ``resume``
(SIGCONT the same set) and ``kill`` (SIGKILL it, only after evidence was collected).

Everything on the host goes through one in-memory script (:data:`SCRIPT`, run by the host's
python3 ``-I -S``): it reads /proc and calls ``os.kill`` itself, never the host's ps or kill.
Processes are named by (pid, start time) from the plan on, so a pid reused in between is never
signalled. The tree is resolved on the bastion (:func:`resolve_tree`, pure): the process, its
descendants and its *watchdog parents* (ancestors that would respawn it: the same executable,
or a shell loop without a terminal), never init, sshd, a service manager, an operator's
interactive shell, nor the session the script itself runs in. Parents are stopped first so a
watchdog cannot respawn what was stopped; new children that appear meanwhile are swept up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backends.evidence_store import collected_pids
from backends.hostactions.base import ActionContext, HostAction
from domain.actions import ActionError, ActionPlan, ActionResult, Outcome, PlannedStep, Risk
from domain.sanitize import visible

# Runs on the host (Python >= 3.6, stdlib only). ARGS: {"op": "table"} -> the process table;
# {"op": "signal", "sig": "STOP"|"CONT"|"KILL", "targets": [[pid, start], ...] (in order),
#  "root": [pid, start], "top": [pid, start]} -> what was signalled and the states read back.
SCRIPT = r"""
import json, os, signal, time

def stat(pid):
    with open('/proc/%d/stat' % pid, 'rb') as f:
        d = f.read()
    l, r = d.index(b'('), d.rindex(b')')
    f = d[r + 2:].split()
    return {'pid': pid, 'comm': d[l + 1:r].decode('utf-8', 'surrogateescape'),
            'state': f[0].decode('ascii', 'replace'), 'ppid': int(f[1]),
            'tty': int(f[4]), 'start': int(f[19])}

def info(pid):
    p = stat(pid)
    try:
        p['exe'] = os.readlink('/proc/%d/exe' % pid)
    except OSError:
        p['exe'] = None
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            raw = f.read(65536)
        p['cmdline'] = [a.decode('utf-8', 'surrogateescape') for a in raw.split(b'\0')[:-1]]
    except OSError:
        p['cmdline'] = []
    p['uid'] = None
    try:
        with open('/proc/%d/status' % pid, 'rb') as f:
            for line in f:
                if line.startswith(b'Uid:'):
                    p['uid'] = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return p

def pids():
    return [int(n) for n in os.listdir('/proc') if n.isdigit()]

def table():
    out = []
    for pid in pids():
        try:
            out.append(info(pid))
        except (OSError, ValueError, IndexError):
            pass
    return out

def alive(pid, start):
    try:
        return stat(pid)['start'] == start
    except (OSError, ValueError, IndexError):
        return False

def state(pid, start):
    try:
        s = stat(pid)
    except (OSError, ValueError, IndexError):
        return 'gone'
    return s['state'] if s['start'] == start else 'gone'

def children_of(top):
    kids = {}
    for pid in pids():
        try:
            s = stat(pid)
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(s['ppid'], []).append((pid, s['start']))
    found, todo = [], [top]
    while todo and len(found) < 100000:
        for child in kids.get(todo.pop(0), []):
            if child not in found:
                found.append(child)
                todo.append(child[0])
    return found

def send(pid, start, sig, done, skipped):
    if not alive(pid, start):
        skipped.append([pid, start])
        return
    try:
        os.kill(pid, sig)
        done.append([pid, start])
    except OSError as e:
        skipped.append([pid, start])

def settled(want, pid, start):
    s = state(pid, start)
    if want == 'STOP':
        return s in ('T', 't', 'Z', 'X', 'gone')
    if want == 'CONT':
        return s not in ('T', 't')
    return s in ('Z', 'X', 'gone')

def signal_tree(a):
    targets = [tuple(t) for t in a['targets']]
    root, top = tuple(a['root']), tuple(a['top'])
    if not alive(*root):
        return {'gone': True}
    done, skipped, added = [], [], []
    stop = a['sig'] in ('STOP', 'KILL')
    order = targets if stop else list(reversed(targets))
    for pid, start in order:
        send(pid, start, signal.SIGSTOP if stop else signal.SIGCONT, done, skipped)
    if stop:
        for _ in range(5):
            new = [c for c in children_of(top[0]) if c not in targets and list(c) not in added]
            if not new:
                break
            for pid, start in new:
                send(pid, start, signal.SIGSTOP, done, skipped)
                added.append([pid, start])
    everyone = [tuple(t) for t in targets] + [tuple(t) for t in added]
    if a['sig'] == 'KILL':
        done = []
        for pid, start in everyone:
            send(pid, start, signal.SIGKILL, done, skipped)
    deadline = time.time() + 3.0
    while time.time() < deadline:
        if all(settled(a['sig'], p, s) for p, s in everyone):
            break
        time.sleep(0.02)
    return {'gone': False, 'signalled': done, 'skipped': skipped, 'added': added,
            'states': [[p, s, state(p, s)] for p, s in everyone]}

def me():
    chain, pid = [], os.getpid()
    for _ in range(64):
        chain.append(pid)
        try:
            pid = stat(pid)['ppid']
        except (OSError, ValueError, IndexError):
            break
        if pid <= 1:
            break
    return chain

if ARGS['op'] == 'table':
    print(json.dumps({'procs': table(), 'self': me()}))
else:
    print(json.dumps(signal_tree(ARGS)))
"""

# Ancestors never treated as watchdogs (the walk up stops at them).
SERVICE_COMMS = frozenset(
    {
        "init", "systemd", "sshd", "sshd-session", "sshd-auth", "login", "cron", "crond",
        "atd", "anacron", "containerd", "containerd-shim", "containerd-shim-runc-v2", "runc",
        "dockerd", "supervisord", "tmux: server", "screen", "SCREEN", "su", "sudo", "agetty",
        "kthreadd", "systemd-journal", "dbus-daemon", "dbus-broker", "tini", "dumb-init",
    }
)  # fmt: skip
SHELL_NAMES = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox"})
_TOKENS = re.compile(r"[^\w.+-]+")  # a command line cut into words and path components
_LOOP = re.compile(r"\b(while|until|for)\b.*\bdo\b", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Proc:
    pid: int
    ppid: int
    comm: str
    state: str
    start: int
    tty: int
    exe: str | None
    cmdline: tuple[str, ...]
    uid: int | None

    @property
    def exe_name(self) -> str:
        exe = (self.exe or "").removesuffix(" (deleted)")
        return exe.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class Member:
    proc: Proc
    role: str  # "watchdog parent", "target", "child"

    @property
    def label(self) -> str:
        return f"pid {self.proc.pid} ({visible(self.proc.comm)}, {self.role})"


def parse_table(data: object) -> tuple[dict[int, Proc], tuple[int, ...]]:
    """The host's answer to ``{"op": "table"}`` -> processes by pid and the script's own
    ancestry. Malformed rows are skipped (the host is hostile)."""
    if not isinstance(data, dict):
        raise ActionError("the host's process table is unreadable")
    procs: dict[int, Proc] = {}
    for row in data.get("procs") or []:
        try:
            proc = Proc(
                pid=int(row["pid"]),
                ppid=int(row["ppid"]),
                comm=str(row["comm"]),
                state=str(row["state"]),
                start=int(row["start"]),
                tty=int(row["tty"]),
                exe=None if row.get("exe") is None else str(row["exe"]),
                cmdline=tuple(str(a) for a in row.get("cmdline") or ()),
                uid=None if row.get("uid") is None else int(row["uid"]),
            )
        except (KeyError, TypeError, ValueError):
            continue
        procs[proc.pid] = proc
    own = data.get("self") or []
    session = tuple(int(p) for p in own if isinstance(p, int))
    return procs, session


def _is_service(proc: Proc) -> bool:
    return (
        proc.pid <= 2
        or proc.ppid == 2
        or proc.comm in SERVICE_COMMS
        or proc.exe_name in SERVICE_COMMS
    )


def _is_watchdog(parent: Proc, target: Proc) -> bool:
    if _is_service(parent):
        return False
    if parent.exe and target.exe and parent.exe == target.exe:
        return True  # a forking watchdog: the same binary
    shell = parent.exe_name in SHELL_NAMES or parent.comm in SHELL_NAMES
    if not shell or parent.tty != 0:  # an interactive shell with a terminal: the operator's
        return False
    text = "\0".join(parent.cmdline)
    if _LOOP.search(text):
        return True
    names = {n for n in (target.exe_name, target.comm) if n and n not in SHELL_NAMES}
    return bool(names & set(_TOKENS.split(text)))


def resolve_tree(procs: Mapping[int, Proc], pid: int, session: Sequence[int] = ()) -> list[Member]:
    """The process ``pid``, its watchdog parents (top-down) and every descendant of the topmost
    one, parents before children. Raises ActionError for a pid that cannot be acted on."""
    target = procs.get(pid)
    if target is None:
        raise ActionError(f"pid {pid} does not exist (any more); nothing was done")
    if pid <= 2 or target.ppid == 2:
        raise ActionError(f"pid {pid} is init or a kernel thread; refused, nothing was done")
    if pid in session:
        raise ActionError(
            f"pid {pid} is the session sickbay acts through; refused, nothing was done"
        )
    parents: list[Proc] = []
    current = target
    for _ in range(64):
        parent = procs.get(current.ppid)
        if parent is None or parent.pid in session or not _is_watchdog(parent, target):
            break
        parents.append(parent)
        current = parent
    top = parents[-1] if parents else target
    children: dict[int, list[Proc]] = {}
    for proc in procs.values():
        children.setdefault(proc.ppid, []).append(proc)
    members = [Member(p, "watchdog parent") for p in reversed(parents)]
    seen = {m.proc.pid for m in members}
    if top is target:
        members.append(Member(target, "target"))
        seen.add(target.pid)
    queue = [top.pid]
    while queue and len(members) < 100_000:
        for child in sorted(children.get(queue.pop(0), []), key=lambda p: p.pid):
            if child.pid in seen or child.pid in session:
                continue
            seen.add(child.pid)
            members.append(Member(child, "target" if child.pid == pid else "child"))
            queue.append(child.pid)
    return members


async def read_tree(ctx: ActionContext, pid: int) -> list[Member]:
    data = await ctx.exec.run_python(SCRIPT, {"op": "table"}, timeout=60.0)
    procs, session = parse_table(data)
    return resolve_tree(procs, pid, session)


def parse_pid(params: Mapping[str, str]) -> int:
    text = str(params.get("pid", "")).strip()
    if not text.isdigit() or not 0 < int(text) < 1 << 22:
        raise ActionError(f"not a pid: {visible(text)!r}; nothing was done")
    return int(text)


def _where(ctx: ActionContext) -> str:
    return f"{ctx.exec.host}: python3 -I -S (in memory)"


def _tree_param(members: Sequence[Member]) -> list[list[int]]:
    return [[m.proc.pid, m.proc.start] for m in members]


def _subject(pid: int, members: Sequence[Member]) -> str:
    target = next((m for m in members if m.proc.pid == pid), members[0])
    watchdogs = sum(1 for m in members if m.role == "watchdog parent")
    extra = f", {watchdogs} watchdog parent(s)" if watchdogs else ""
    return f"pid {pid} ({visible(target.proc.comm)}), a tree of {len(members)}{extra}"


def _targets(plan: ActionPlan) -> tuple[list[list[int]], list[int], list[int]]:
    tree = plan.params.get("tree")
    root = plan.params.get("root")
    if not isinstance(tree, list) or not tree or not isinstance(root, list):
        raise ActionError("the plan has no process tree; nothing was done")
    return [list(map(int, t)) for t in tree], list(map(int, root)), list(map(int, tree[0]))


async def _signal(ctx: ActionContext, plan: ActionPlan, sig: str) -> dict[str, Any]:
    targets, root, top = _targets(plan)
    args = {"op": "signal", "sig": sig, "targets": targets, "root": root, "top": top}
    answer = await ctx.exec.run_python(SCRIPT, args, timeout=60.0)
    if not isinstance(answer, dict):
        raise ActionError("the host's answer is unreadable; check the processes by hand")
    if answer.get("gone"):
        pid = root[0]
        raise _Failed(
            f"pid {pid} is gone (exited or replaced) since the plan; nothing was signalled",
            state="nothing was done",
        )
    return answer


class _Failed(ActionError):
    def __init__(self, message: str, *, state: str) -> None:
        super().__init__(message)
        self.state = state


def _states(answer: Mapping[str, Any]) -> list[tuple[int, str]]:
    out = []
    for row in answer.get("states") or []:
        try:
            out.append((int(row[0]), str(row[2])))
        except (TypeError, ValueError, IndexError):
            continue
    return out


def _checked(
    states: list[tuple[int, str]],
    wrong: list[int],
    *,
    failed: str,
    left: str,
    done: str,
    failed_details: dict[str, Any],
    done_details: dict[str, Any],
    undo: tuple[str, Mapping[str, Any]] | None = None,
    done_undo: tuple[str, Mapping[str, Any]] | None = None,
) -> ActionResult:
    """The result of a signal, verified by the processes' states read back: UNVERIFIED listing
    the ``wrong`` pids (``left``: what they still are), else DONE. ``undo`` goes with either
    outcome, ``done_undo`` only with DONE."""
    detail = ", ".join(f"{pid}:{state}" for pid, state in states)
    verification = f"/proc/PID/stat states: {detail}"
    if wrong:
        return ActionResult(
            Outcome.UNVERIFIED,
            failed,
            verification=verification,
            state=f"{left}: {', '.join(map(str, wrong))}",
            details=failed_details,
            undo=undo,
        )
    return ActionResult(
        Outcome.DONE, done, verification=verification, details=done_details, undo=undo or done_undo
    )


class Freeze:
    id = "freeze"
    title = "Freeze process tree"
    risk = Risk.REVERSIBLE
    params: tuple[str, ...] = ("pid",)

    async def plan(self, ctx: ActionContext, params: Mapping[str, str]) -> ActionPlan:
        pid = parse_pid(params)
        members = await read_tree(ctx, pid)
        steps = [
            PlannedStep(
                f"stop {m.label} (SIGSTOP)", f"{_where(ctx)}: os.kill({m.proc.pid}, SIGSTOP)"
            )
            for m in members
        ]
        steps.append(
            PlannedStep(
                "stop any child that appears meanwhile; verify each is in state T",
                f"{_where(ctx)}: read /proc/PID/stat",
            )
        )
        pids = ",".join(str(m.proc.pid) for m in members)
        return ActionPlan(
            action=self.id,
            host=ctx.exec.host,
            subject=_subject(pid, members),
            params={**params, "tree": _tree_param(members), "root": [pid, _start(members, pid)]},
            steps=tuple(steps),
            risk=self.risk,
            undo=("resume", {"pid": str(pid), "pids": pids}),
        )

    async def execute(self, ctx: ActionContext, plan: ActionPlan) -> ActionResult:
        answer = await _signal(ctx, plan, "STOP")
        states = _states(answer)
        running = [pid for pid, state in states if state not in ("T", "t", "Z", "X", "gone")]
        added = len(answer.get("added") or [])
        pids = ",".join(str(pid) for pid, _ in states)
        return _checked(
            states,
            running,
            failed=f"stopped the tree, but {len(running)} process(es) are not in state T",
            left="not stopped",
            done=f"froze {len(states)} process(es)"
            + (f" ({added} appeared meanwhile)" if added else ""),
            failed_details={"states": states, "added": answer.get("added") or []},
            done_details={"states": states, "skipped": answer.get("skipped") or []},
            undo=("resume", {"pid": str(plan.params.get("pid")), "pids": pids}),
        )


def _start(members: Sequence[Member], pid: int) -> int:
    return next(m.proc.start for m in members if m.proc.pid == pid)


class Resume:
    id = "resume"
    title = "Resume frozen process tree"
    risk = Risk.REVERSIBLE
    params: tuple[str, ...] = ("pid",)

    async def plan(self, ctx: ActionContext, params: Mapping[str, str]) -> ActionPlan:
        pid = parse_pid(params)
        data = await ctx.exec.run_python(SCRIPT, {"op": "table"}, timeout=60.0)
        procs, session = parse_table(data)
        listed = str(params.get("pids", "")).strip()
        if listed:
            wanted = []
            for text in listed.split(","):
                if not text.strip().isdigit():
                    raise ActionError(f"not a pid list: {visible(listed)!r}; nothing was done")
                wanted.append(int(text))
            if pid not in procs:
                raise ActionError(f"pid {pid} does not exist (any more); nothing was done")
            members = [  # only what is stopped now: a pid reused since is left alone
                Member(procs[p], "target" if p == pid else "tree")
                for p in wanted
                if p in procs and p not in session and (p == pid or procs[p].state in ("T", "t"))
            ]
            if pid not in wanted:
                members.insert(0, Member(procs[pid], "target"))
        else:
            members = resolve_tree(procs, pid, session)
        steps = [
            PlannedStep(
                f"continue {m.label} (SIGCONT)", f"{_where(ctx)}: os.kill({m.proc.pid}, SIGCONT)"
            )
            for m in reversed(members)
        ]
        steps.append(
            PlannedStep("verify none is in state T", f"{_where(ctx)}: read /proc/PID/stat")
        )
        return ActionPlan(
            action=self.id,
            host=ctx.exec.host,
            subject=_subject(pid, members),
            params={**params, "tree": _tree_param(members), "root": [pid, _start(members, pid)]},
            steps=tuple(steps),
            risk=self.risk,
            undo=("freeze", {"pid": str(pid)}),
        )

    async def execute(self, ctx: ActionContext, plan: ActionPlan) -> ActionResult:
        answer = await _signal(ctx, plan, "CONT")
        states = _states(answer)
        stopped = [pid for pid, state in states if state in ("T", "t")]
        return _checked(
            states,
            stopped,
            failed=f"{len(stopped)} process(es) are still stopped",
            left="still stopped",
            done=f"resumed {len(states)} process(es)",
            failed_details={"states": states},
            done_details={"states": states},
            done_undo=("freeze", {"pid": str(plan.params.get("pid"))}),
        )


class Kill:
    id = "kill"
    title = "Kill process tree"
    risk = Risk.IRREVERSIBLE
    params: tuple[str, ...] = ("pid",)

    async def plan(self, ctx: ActionContext, params: Mapping[str, str]) -> ActionPlan:
        pid = parse_pid(params)
        members = await read_tree(ctx, pid)
        start = _start(members, pid)
        skip = str(params.get("skip_evidence", "")).strip().lower() == "yes"
        warnings: list[str] = []
        if (pid, start) not in collected_pids(ctx.evidence_dir, ctx.exec.host):
            if not skip:
                raise ActionError(
                    f"no evidence was collected for pid {pid} in this incident "
                    f"({ctx.evidence_dir}): run `collect` first, or pass skip_evidence=yes "
                    "(recorded); nothing was done"
                )
            warnings.append("evidence was NOT collected for this pid (skip_evidence=yes)")
        running = [m for m in members if m.proc.state not in ("T", "t")]
        if running:
            warnings.append(f"{len(running)} process(es) of the tree are not frozen yet")
        steps = [
            PlannedStep(
                "stop the whole tree first (SIGSTOP, parents first) so nothing respawns",
                f"{_where(ctx)}: " + "; ".join(f"os.kill({m.proc.pid}, SIGSTOP)" for m in members),
            )
        ]
        steps += [
            PlannedStep(
                f"kill {m.label} (SIGKILL)", f"{_where(ctx)}: os.kill({m.proc.pid}, SIGKILL)"
            )
            for m in members
        ]
        steps.append(
            PlannedStep("verify each is gone (or a zombie)", f"{_where(ctx)}: read /proc/PID/stat")
        )
        recorded = {**params, "tree": _tree_param(members), "root": [pid, start]}
        if skip:
            recorded["skip_evidence"] = "yes"
        return ActionPlan(
            action=self.id,
            host=ctx.exec.host,
            subject=_subject(pid, members),
            params=recorded,
            steps=tuple(steps),
            risk=self.risk,
            warnings=tuple(warnings),
        )

    async def execute(self, ctx: ActionContext, plan: ActionPlan) -> ActionResult:
        answer = await _signal(ctx, plan, "KILL")
        states = _states(answer)
        alive = [pid for pid, state in states if state not in ("Z", "X", "gone")]
        skipped = plan.params.get("skip_evidence") == "yes"
        return _checked(
            states,
            alive,
            failed=f"{len(alive)} process(es) are still alive after SIGKILL",
            left="alive (stopped)",
            done=f"killed {len(states)} process(es)",
            failed_details={"states": states},
            done_details={"states": states, "skip_evidence": skipped},
        )


FREEZE, RESUME, KILL = Freeze(), Resume(), Kill()
ACTIONS: tuple[HostAction, ...] = (FREEZE, RESUME, KILL)
