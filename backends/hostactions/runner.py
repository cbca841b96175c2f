"""The one way a host action runs: plan -> (dry run: stop) -> confirmation -> execute -> audit.

Every path ends in exactly one audit entry (``backends.audit_log.AuditLog.record_action``): a
plan that cannot be made (the pid is gone, a bad path) is recorded as FAILED with "nothing was
done"; a dry run as DRY_RUN; a refusal as CANCELLED; an execution with its verification. A host
that drops mid-action, or an action that raises, is recorded as FAILED with the state it left
(the exception's ``state`` attribute when it has one). An interruption (cancellation, a bug) is
recorded too, then re-raised. The audit log is checked to be writable before anything runs.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping

from backends.audit_log import AuditLog
from backends.hostactions.base import ActionContext, HostAction
from domain.actions import NOTHING_DONE, ActionError, ActionPlan, ActionResult, Outcome
from domain.hostexec import ExecError

Confirm = Callable[[ActionPlan], Awaitable[bool]]


def unplanned(action: HostAction, ctx: ActionContext, params: Mapping[str, str]) -> ActionPlan:
    """The plan recorded for an action that could not be planned: no steps."""
    return ActionPlan(
        action=action.id,
        host=ctx.exec.host,
        subject="(could not be planned)",
        params=dict(params),
        steps=(),
        risk=action.risk,
    )


def _check_writable(audit: AuditLog) -> None:
    """Refuse to act when the record could not be written afterwards."""
    try:
        audit.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(audit.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.close(fd)
    except OSError as exc:
        raise ActionError(
            f"the audit log {audit.path} is not writable ({exc.strerror or exc}); {NOTHING_DONE}"
        ) from None


def _state_of(exc: BaseException, default: str) -> str:
    state = getattr(exc, "state", None)
    return state if isinstance(state, str) and state else default


async def run_action(
    action: HostAction,
    ctx: ActionContext,
    params: Mapping[str, str],
    *,
    confirm: Confirm,
    dry_run: bool,
    audit: AuditLog,
) -> tuple[ActionPlan, ActionResult]:
    """Run ``action`` the one way (see the module docstring); returns the plan and the result
    that were recorded. Raises only what interrupted it (after recording that)."""
    _check_writable(audit)
    try:
        plan = await action.plan(ctx, params)
    except (ActionError, ExecError) as exc:
        plan = unplanned(action, ctx, params)
        result = ActionResult(
            Outcome.FAILED,
            f"cannot plan {action.id}: {exc}",
            state=f"{NOTHING_DONE} (the action could not be planned)",
        )
        audit.record_action(plan, result, incident=ctx.incident)
        return plan, result
    if dry_run:
        result = ActionResult(
            Outcome.DRY_RUN, f"dry run: {NOTHING_DONE}", state=NOTHING_DONE, undo=plan.undo
        )
        audit.record_action(plan, result, incident=ctx.incident)
        return plan, result
    if not await confirm(plan):
        result = ActionResult(Outcome.CANCELLED, f"cancelled: {NOTHING_DONE}", state=NOTHING_DONE)
        audit.record_action(plan, result, incident=ctx.incident)
        return plan, result
    try:
        result = await action.execute(ctx, plan)
    except (ActionError, ExecError) as exc:
        result = ActionResult(
            Outcome.FAILED,
            f"{action.id} failed: {exc}",
            state=_state_of(exc, "unknown: the action failed part way; check the host"),
        )
    except BaseException as exc:
        interrupted = ActionResult(
            Outcome.FAILED,
            f"{action.id} was interrupted ({type(exc).__name__})",
            state="unknown: the action was interrupted part way; check the host",
        )
        audit.record_action(plan, interrupted, incident=ctx.incident)
        raise
    audit.record_action(plan, result, incident=ctx.incident)
    return plan, result
