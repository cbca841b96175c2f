"""Stop, force-stop, start and reboot, verified by polling the instance's state."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from backends.cloud.actions.common import CloudAction, _base_params, _host, _Run
from domain.actions import ActionError, ActionPlan, ActionResult, Outcome, PlannedStep
from domain.cloud import (
    CloudError,
    CloudProvider,
    Instance,
    PowerOp,
)

# --- power ------------------------------------------------------------------------------------

_POWER: dict[str, tuple[tuple[str, ...], str, str]] = {
    # op: (states it applies to, the state that verifies it, in words)
    "stop": (("running",), "stopped", "stop the instance (the OS shuts down cleanly)"),
    "force-stop": (
        ("running", "stopping"),
        "stopped",
        "force the instance off (like pulling the plug)",
    ),
    "start": (("stopped",), "running", "start the instance"),
    "reboot": (("running",), "running", "reboot the instance (the OS restarts cleanly)"),
}


def _power_op(action: str) -> PowerOp:
    if action == "stop":
        return "stop"
    if action == "force-stop":
        return "force-stop"
    if action == "start":
        return "start"
    if action == "reboot":
        return "reboot"
    raise ActionError(f"not a power action: {action!r}")


def _plan_power(
    provider: CloudProvider, spec: CloudAction, instance: Instance, params: Mapping[str, str]
) -> ActionPlan:
    op = _power_op(spec.id)
    allowed, _target, words = _POWER[op]
    if instance.state not in allowed:
        raise ActionError(f"{instance.id} is {instance.state}: cannot {op} it")
    warnings = []
    undo: tuple[str, Mapping[str, Any]] | None = None
    if op in ("stop", "force-stop", "reboot"):
        warnings.append(
            "the memory (running processes, in-memory malware, open connections) is lost: "
            "collect evidence and snapshot the disks first"
        )
    if op == "stop":
        undo = ("start", {"instance_id": instance.id})
    elif op == "start":
        undo = ("stop", {"instance_id": instance.id})
        warnings.append("a compromised host comes back online: isolate it first if it is not")
    return ActionPlan(
        action=op,
        host=_host(instance),
        subject=f"{instance.id} ({instance.state})",
        params=_base_params(provider, instance, state=instance.state),
        steps=(PlannedStep(words, provider.plan_power(instance.id, op).render()),),
        risk=spec.risk,
        undo=undo,
        warnings=tuple(warnings),
    )


def _power(run: _Run) -> ActionResult:
    op = _power_op(run.plan.action)
    allowed, target, _words = _POWER[op]
    instance = run.provider.instance(run.instance_id)
    if instance.state not in allowed:
        return run.result(
            Outcome.FAILED,
            f"{run.instance_id} is {instance.state} now: not {op}ped",
            state=f"nothing was changed; {run.instance_id} is {instance.state}",
        )
    call_error: CloudError | None = None
    try:
        run.did(run.provider.power(run.instance_id, op, run.token()))
        run.progress(f"{op} requested")
    except CloudError as exc:
        call_error = exc  # maybe it went through (a timed-out answer): the state will tell
    seen: list[str] = []
    deadline = time.monotonic() + run.timing.power_timeout_s
    state = instance.state
    cancelled = False
    polls = 0
    while True:
        try:
            state = run.provider.instance(run.instance_id).state
        except CloudError:
            state = "unknown"
        if not seen or seen[-1] != state:
            seen.append(state)
            run.progress(f"{run.instance_id}: {state}")
        polls += 1
        if state == target and (op != "reboot" or any(s != "running" for s in seen)):
            break
        if call_error is not None and seen == [instance.state] and polls >= 2:
            break  # the call failed and nothing moves: it did not go through
        if time.monotonic() >= deadline:
            break
        cancelled = run.wait(run.timing.poll_s)
        if cancelled:
            break
    path = " -> ".join(seen)
    details = {"states": seen}
    reached = state == target and (op != "reboot" or any(s != "running" for s in seen))
    if reached:
        note = f" (the call reported {call_error}, but the state changed)" if call_error else ""
        return run.result(
            Outcome.DONE,
            f"{run.instance_id} {target}" if op != "reboot" else f"{run.instance_id} rebooted",
            verification=f"read back: {path}{note}",
            details=details,
            undo=run.plan.undo,
        )
    if call_error is not None and seen == [instance.state]:
        return run.result(
            Outcome.FAILED,
            f"{op} failed: {call_error}",
            state=f"{run.instance_id} is {state}",
            details=details,
        )
    why = "cancelled" if cancelled else f"not {target} after {run.timing.power_timeout_s:.0f} s"
    return run.result(
        Outcome.UNVERIFIED,
        f"{op} requested, {why}",
        verification=f"read back: {path}",
        state=f"{run.instance_id} is {state}",
        details=details,
        undo=run.plan.undo,
    )
