"""Response actions, as plain data: the plan shown before anything runs, and the result.

Every action, on a host (``backends.hostactions``) or in the cloud (``backends.cloud``), goes the
same way: *plan* (exactly what will run, where: the command lines or API calls, literally) ->
*confirmation* by the operator (the UI or ``--yes``) -> *execution* -> *verification* (read the
state back: the process really is stopped, the rule really exists) -> an *audit entry*
(``domain.audit``). A plan is built without touching the target, so it is also the dry run.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from domain.sanitize import visible

NOTHING_DONE = "nothing was done"  # the state an action that did not run leaves


class Risk(enum.IntEnum):
    """How careful the confirmation must be."""

    READ_ONLY = 0  # collects, changes nothing on the target (evidence, scan, snapshot)
    REVERSIBLE = 1  # changes the target, with a recorded undo (freeze, block, isolate)
    DESTRUCTIVE = 2  # changes the target; partly restorable from a backup (disable, quarantine)
    IRREVERSIBLE = 3  # cannot be undone (kill, force stop)

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """One thing the action will do. ``exact`` is shown literally to the operator: the command
    line (with the host's name) or the API call with its parameters."""

    what: str  # in words: "stop the process tree (SIGSTOP), leaves first"
    exact: str  # "kill -STOP 4242 4243" / "ecs.StopInstance InstanceId=i-abc ForceStop=false"


@dataclass(frozen=True, slots=True)
class ActionPlan:
    """What an action will do, before it does it.

    ``action``: the action id (``freeze``, ``isolate``, ...; see ``domain.findings.ACTIONS``);
    ``host``: the host or instance it acts on (display name); ``subject``: the object acted on, in
    words ("pid 4242 (kworker/0:1), its tree of 3"); ``params``: the parameters as given (pid,
    path, address...), recorded in the audit log; ``undo``: how to undo it, as an action id and
    its params, when it can be undone; ``warnings``: what the operator should know first
    ("evidence not collected yet")."""

    action: str
    host: str
    subject: str
    params: Mapping[str, Any]
    steps: tuple[PlannedStep, ...]
    risk: Risk
    undo: tuple[str, Mapping[str, Any]] | None = None
    warnings: tuple[str, ...] = ()

    @property
    def needs_typed_confirmation(self) -> bool:
        """Destructive and irreversible actions are confirmed by typing the host's name."""
        return self.risk >= Risk.DESTRUCTIVE

    def preview(self) -> str:
        """The plan as plain text for a terminal (see :func:`render_plan`)."""
        return render_plan(self)


def _undo_text(undo: tuple[str, Mapping[str, Any]]) -> str:
    action, params = undo
    args = " ".join(f"{visible(str(k))}={visible(str(v))}" for k, v in params.items())
    return f"  undo: {visible(action)} {args}".rstrip()


def render_plan(plan: ActionPlan) -> str:
    """The plan as text, every field made visible on its own (host text in it: a newline in a
    file name cannot fake a line of the plan, an escape sequence cannot reach the terminal)."""
    v = visible
    lines = [f"{v(plan.action)} on {v(plan.host)}: {v(plan.subject)}  [{plan.risk.label}]"]
    for number, step in enumerate(plan.steps, 1):
        lines.append(f"  {number}. {v(step.what)}")
        lines.extend(f"     $ {v(line)}" for line in step.exact.splitlines() or [""])
    if plan.undo is not None:
        lines.append(_undo_text(plan.undo))
    lines.extend(f"  ! {v(warning)}" for warning in plan.warnings)
    return "\n".join(lines)


class Outcome(enum.Enum):
    DONE = "done"  # executed and verified
    UNVERIFIED = "unverified"  # executed, but the verification did not confirm it
    FAILED = "failed"  # did not (fully) execute; ``ActionResult.state`` says where it stopped
    DRY_RUN = "dry-run"  # previewed only
    CANCELLED = "cancelled"  # the operator said no


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What happened. ``summary``: one line for the status bar; ``verification``: what was read
    back and what it showed; ``state``: after a failure, the state the target was left in
    (rolled back or not); ``details``: anything worth keeping (hashes, paths, rule handles,
    the original security groups); ``undo``: the action id and params that undo it, if it can
    be; ``request_ids``: the cloud API request ids; ``evidence``: (path on the bastion, sha256)
    of what was collected."""

    outcome: Outcome
    summary: str
    verification: str = ""
    state: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    undo: tuple[str, Mapping[str, Any]] | None = None
    request_ids: tuple[str, ...] = ()
    evidence: tuple[tuple[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.DONE, Outcome.DRY_RUN)


def render_result(result: ActionResult) -> str:
    """What happened, as text for a terminal (every field made visible)."""
    v = visible
    lines = [f"{result.outcome.value}: {v(result.summary)}"]
    if result.verification:
        lines.append(f"  verified: {v(result.verification)}")
    if result.state:
        lines.append(f"  state: {v(result.state)}")
    if result.request_ids:
        lines.append(f"  request ids: {v(', '.join(result.request_ids))}")
    output = result.details.get("output")
    if isinstance(output, str) and output:
        lines.append("  output:")
        lines.extend(f"    | {v(line)}" for line in output.splitlines())
    if result.undo is not None:
        lines.append(_undo_text(result.undo))
    lines.extend(f"  evidence: {v(path)}  sha256 {digest}" for path, digest in result.evidence)
    return "\n".join(lines)


class ActionError(Exception):
    """An action cannot be planned (bad parameters, the pid is gone) or failed; the message is
    for the operator and says what was, and was not, done."""
