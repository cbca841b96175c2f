"""Run a script through the provider's agent (Cloud Assistant, TAT)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Any

from backends.cloud.actions.common import CloudAction, _base_params, _host, _Run
from domain.actions import ActionError, ActionPlan, ActionResult, Outcome, PlannedStep
from domain.cloud import (
    CloudError,
    CloudProvider,
    Instance,
)

# --- run-command ------------------------------------------------------------------------------


def _plan_run_command(
    provider: CloudProvider, spec: CloudAction, instance: Instance, params: Mapping[str, str]
) -> ActionPlan:
    script = params["script"]
    try:
        timeout = int(params.get("timeout") or 60)
    except ValueError:
        raise ActionError(
            f"timeout: {params.get('timeout')!r} is not a number of seconds"
        ) from None
    if not 1 <= timeout <= 86400:
        raise ActionError("timeout: between 1 and 86400 seconds")
    if instance.state != "running":
        raise ActionError(f"{instance.id} is {instance.state}: its agent cannot run commands")
    call = provider.plan_run_command(instance.id, script, timeout).render()
    steps = [PlannedStep("run the script as root through the cloud agent", call)]
    if script not in call:
        steps.append(PlannedStep("the script, in full", script))
    return ActionPlan(
        action="run-command",
        host=_host(instance),
        subject=f"a {len(script.splitlines()) or 1}-line script on {instance.id}, "
        f"timeout {timeout} s",
        params=_base_params(provider, instance, script=script, timeout=timeout),
        steps=tuple(steps),
        risk=spec.risk,
        warnings=(
            "the script runs as root on the compromised host, which sees it; "
            "its output is attacker-controlled text",
        ),
    )


def _run_command(run: _Run) -> ActionResult:
    script, timeout = str(run.plan.params["script"]), int(run.plan.params["timeout"])
    try:
        invocation, request_id = run.provider.run_command(
            run.instance_id, script, timeout, run.token()
        )
    except CloudError as exc:
        return run.result(
            Outcome.FAILED,
            f"run-command failed: {exc}",
            state="the command may not have started (see the provider's console)",
        )
    run.did(request_id)
    run.progress(f"invocation {invocation} started")
    deadline = time.monotonic() + timeout + run.timing.command_grace_s
    result = None
    cancelled = False
    while True:
        try:
            result = run.provider.command_result(run.instance_id, invocation)
        except CloudError as exc:
            run.progress(f"invocation {invocation}: cannot read the result yet ({exc.code})")
        if result is not None and result.status != "running":
            break
        if time.monotonic() >= deadline:
            break
        cancelled = run.wait(run.timing.poll_s)
        if cancelled:
            break
    details: dict[str, Any] = {"invocation_id": invocation}
    if result is None or result.status == "running":
        return run.result(
            Outcome.UNVERIFIED,
            f"invocation {invocation} still running" + (" (wait cancelled)" if cancelled else ""),
            state=f"the command may still be running on {run.instance_id}",
            details=details,
        )
    output = result.output
    details.update(
        status=result.status,
        exit_code=result.exit_code,
        output=output,
        output_sha256=hashlib.sha256(output.encode("utf-8", "surrogatepass")).hexdigest(),
    )
    finished = result.exit_code is not None
    return run.result(
        Outcome.DONE if finished else Outcome.FAILED,
        f"invocation {invocation}: {result.status}"
        + (f", exit {result.exit_code}" if finished else ""),
        verification=f"read back: the agent reports {result.status}",
        state="" if finished else f"the command did not finish ({result.status})",
        details=details,
    )
