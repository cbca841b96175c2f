"""Cloud response actions, built only on ``domain.cloud.CloudProvider`` (any provider).

Two calls, both blocking (run them in a thread):

* :func:`plan` (``provider, action, instance_id, params``) reads the instance (never changes
  anything) and returns an :class:`ActionPlan` whose steps are the provider's exact calls
  (``ApiCall.render()``), with every value execution will use resolved and kept in
  ``plan.params`` (original security groups, snapshot names...): the plan is also the dry run.
* :func:`execute` (``provider, plan, progress``) makes those calls, then verifies by reading the
  state back, and returns an :class:`ActionResult` (request ids, details, undo). It first checks
  that the instance is still as planned; a failure half way is rolled back where it can be, and
  ``ActionResult.state`` says what the instance is left with.

Actions (:data:`CLOUD_ACTIONS`): ``snapshot`` (every disk, waited for: evidence before change),
``isolate`` / ``unisolate`` (a quarantine security group owned by the one instance: SSH from the
operator's address only, everything else dropped both ways), ``block`` / ``unblock`` (drop rules
for an address in the instance's own group), ``stop`` / ``force-stop`` / ``start`` / ``reboot``
(verified by polling the state), ``run-command`` (through the provider's agent; the output is
host text: display it through ``domain.sanitize.visible``).

Security rule priorities are the neutral ones of ``domain.cloud.SecurityRule``: 1 is the highest
(evaluated first), 100 the lowest; the providers map them to their own ordering.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from backends.cloud.actions.blocking import _block, _plan_block, _plan_unblock, _unblock
from backends.cloud.actions.command import _plan_run_command, _run_command
from backends.cloud.actions.common import (
    BLOCK_PRIORITY,
    CLOUD_ACTIONS,
    DENY_PRIORITY,
    NEW_GROUP,
    CloudAction,
    FindsGroups,
    Progress,
    Timing,
    _problems,
    _rule_text,
    _Run,
    block_rules,
    isolation_rules,
    quarantine_group_name,
)
from backends.cloud.actions.isolation import _isolate, _plan_isolate, _plan_unisolate, _unisolate
from backends.cloud.actions.power import _plan_power, _power
from backends.cloud.actions.snapshot import _plan_snapshot, _snapshot
from domain.actions import ActionError, ActionPlan, ActionResult, Outcome
from domain.cloud import CloudError, CloudProvider, Instance, PowerOp

__all__ = [
    "BLOCK_PRIORITY", "CLOUD_ACTIONS", "DENY_PRIORITY", "NEW_GROUP", "CloudAction", "FindsGroups",
    "PowerOp", "Progress", "Timing", "_problems", "_rule_text", "block_rules", "execute",
    "isolation_rules", "plan", "quarantine_group_name",
]  # fmt: skip

# --- public API -------------------------------------------------------------------------------


def plan(
    provider: CloudProvider, action: str, instance_id: str, params: Mapping[str, str] | None = None
) -> ActionPlan:
    """The plan for ``action`` on ``instance_id`` (reads only). Raises ActionError when the
    parameters are bad, the instance is not in a state the action applies to, or the cloud
    cannot be read."""
    spec = CLOUD_ACTIONS.get(action)
    if spec is None:
        raise ActionError(f"unknown cloud action {action!r}")
    given = dict(params or {})
    missing = [p for p in spec.params if not given.get(p, "").strip()]
    if missing:
        raise ActionError(f"{action} needs: {', '.join(missing)}")
    try:
        instance = provider.instance(instance_id)
        planner = _PLANNERS[action]
        return planner(provider, spec, instance, given)
    except CloudError as exc:
        raise ActionError(f"cannot plan {action} on {instance_id}: {exc}") from None


def execute(
    provider: CloudProvider,
    plan: ActionPlan,
    progress: Progress | None = None,
    *,
    timing: Timing | None = None,
    cancel: threading.Event | None = None,
) -> ActionResult:
    """Carry ``plan`` out, verify, and say what happened. Never raises for a cloud failure: the
    result says what was done and what state the instance is in. ``cancel`` cuts waits short
    (the result is then UNVERIFIED and says what was left running)."""
    params = plan.params
    if params.get("provider") != provider.name or params.get("region") != provider.region:
        raise ActionError(
            f"this plan is for {params.get('provider')} {params.get('region')}, "
            f"not {provider.name} {provider.region}"
        )
    runner = _EXECUTORS.get(plan.action)
    if runner is None:
        raise ActionError(f"unknown cloud action {plan.action!r}")
    run = _Run(provider, plan, progress or (lambda line: None), timing or Timing(), cancel)
    try:
        result = runner(run)
    except CloudError as exc:  # a read failed before anything was changed
        result = run.result(
            Outcome.FAILED,
            f"{plan.action} failed: {exc}",
            state=run.state_if_unchanged(),
        )
    return result


Planner = Callable[[CloudProvider, CloudAction, Instance, Mapping[str, str]], ActionPlan]
_PLANNERS: dict[str, Planner] = {
    "snapshot": _plan_snapshot,
    "isolate": _plan_isolate,
    "unisolate": _plan_unisolate,
    "block": _plan_block,
    "unblock": _plan_unblock,
    "stop": _plan_power,
    "force-stop": _plan_power,
    "start": _plan_power,
    "reboot": _plan_power,
    "run-command": _plan_run_command,
}
_EXECUTORS: dict[str, Callable[[_Run], ActionResult]] = {
    "snapshot": _snapshot,
    "isolate": _isolate,
    "unisolate": _unisolate,
    "block": _block,
    "unblock": _unblock,
    "stop": _power,
    "force-stop": _power,
    "start": _power,
    "reboot": _power,
    "run-command": _run_command,
}
