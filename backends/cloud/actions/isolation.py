"""Isolate the instance in a quarantine security group of its own, and undo it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backends.cloud.actions.common import (
    NEW_GROUP,
    CloudAction,
    FindsGroups,
    _base_params,
    _csv,
    _find,
    _group_ids,
    _host,
    _network,
    _problems,
    _rule_text,
    _Run,
    _users,
    isolation_rules,
    quarantine_group_name,
)
from domain.actions import ActionError, ActionPlan, ActionResult, Outcome, PlannedStep
from domain.cloud import (
    CloudError,
    CloudProvider,
    Instance,
    SecurityGroup,
    SecurityRule,
)

# --- isolate / unisolate ----------------------------------------------------------------------


def _quarantine_candidates(
    provider: CloudProvider, instance: Instance, name: str, given: str
) -> tuple[SecurityGroup | None, list[str]]:
    """An existing quarantine group this instance alone may use, and why others were not."""
    notes: list[str] = []
    candidates: list[SecurityGroup] = []
    if given:
        candidates = provider.security_groups([given])
    elif isinstance(provider, FindsGroups):
        candidates = provider.find_security_groups(instance.vpc_id, name)
    for group in candidates:
        if group.name != name:
            notes.append(f"group {group.id} is called {group.name!r}, not {name!r}: not used")
            continue
        if instance.vpc_id and group.vpc_id and group.vpc_id != instance.vpc_id:
            notes.append(f"group {group.id} is in {group.vpc_id}, not {instance.vpc_id}: not used")
            continue
        others = _users(provider, group.id, instance.id)
        if others:
            notes.append(f"group {group.id} is also used by {', '.join(others)}: not used")
            continue
        return group, notes
    return None, notes


def _plan_isolate(
    provider: CloudProvider, spec: CloudAction, instance: Instance, params: Mapping[str, str]
) -> ActionPlan:
    operator = _network(params["operator"], "operator address")
    name = quarantine_group_name(instance.id)
    current = provider.security_groups(instance.security_group_ids)
    if len(current) == 1 and current[0].name == name:
        raise ActionError(f"{instance.id} is already isolated (in {current[0].id})")
    group, notes = _quarantine_candidates(provider, instance, name, params.get("group", "").strip())
    ipv6 = ":" in operator or any(":" in a for a in instance.addresses)
    wanted = isolation_rules(operator, ipv6)
    steps: list[PlannedStep] = []
    original = ",".join(instance.security_group_ids)
    if group is None:
        description = f"sickbay quarantine for {instance.id}; original groups: {original}"
        gid = NEW_GROUP
        steps.append(
            PlannedStep(
                f"create the quarantine group {name} in {instance.vpc_id or 'the classic network'}",
                provider.plan_create_security_group(instance.vpc_id, name, description).render(),
            )
        )
        extra: list[SecurityRule] = []
    else:
        gid = group.id
        extra = [r for r in group.rules if _find(wanted, r) is None]
        for rule in extra:
            steps.append(
                PlannedStep(
                    f"remove a rule the quarantine group should not have: {_rule_text(rule)}",
                    provider.plan_remove_rule(gid, rule).render(),
                )
            )
    for rule in wanted:
        if group is None or _find(group.rules, rule) is None:
            steps.append(
                PlannedStep(f"add {_rule_text(rule)}", provider.plan_add_rule(gid, rule).render())
            )
    steps.append(
        PlannedStep(
            f"replace all of {instance.id}'s security groups ({original}) with the quarantine "
            "group",
            provider.plan_set_security_groups(instance.id, [gid]).render(),
        )
    )
    warnings = [
        f"SSH stays open only from {operator}: make sure that is the address the instance sees "
        "you as (NAT, bastion)",
        "all other traffic is dropped both ways, which may also cut the cloud agent "
        "(run-command) and monitoring off",
        *notes,
    ]
    return ActionPlan(
        action="isolate",
        host=_host(instance),
        subject=f"{instance.id} into its own quarantine group "
        + (f"{gid} (existing)" if group else f"{name} (new)"),
        params=_base_params(
            provider,
            instance,
            operator=operator,
            original_groups=original,
            group=group.id if group else "",
            group_name=name,
            vpc_id=instance.vpc_id,
            ipv6=ipv6,
        ),
        steps=tuple(steps),
        risk=spec.risk,
        undo=("unisolate", {"instance_id": instance.id, "groups": original}),
        warnings=tuple(warnings),
    )


def _isolate(run: _Run) -> ActionResult:
    p = run.plan.params
    original = _csv(p["original_groups"])
    provider, instance_id = run.provider, run.instance_id
    instance = provider.instance(instance_id)
    if tuple(instance.security_group_ids) != original:
        return run.result(
            Outcome.FAILED,
            "the instance's groups changed since the plan: plan again",
            state=f"nothing was changed; {instance_id} is in "
            + ", ".join(instance.security_group_ids),
        )
    wanted = isolation_rules(str(p["operator"]), bool(p.get("ipv6")))
    gid = str(p.get("group") or "")
    created = False
    undo = ("unisolate", {"instance_id": instance_id, "groups": ",".join(original)})
    details: dict[str, Any] = {"original_groups": list(original)}
    # 1. the quarantine group, with exactly its rules (the instance is not touched yet)
    try:
        if gid:
            others = _users(provider, gid, instance_id)
            if others:
                return run.result(
                    Outcome.FAILED,
                    f"the quarantine group {gid} is now used by {', '.join(others)}: plan again",
                    state=f"nothing was changed; {instance_id} is in its original groups",
                    details=details,
                )
        else:
            description = (
                f"sickbay quarantine for {instance_id}; original groups: {','.join(original)}"
            )
            gid, request_id = provider.create_security_group(
                str(p.get("vpc_id") or ""), str(p["group_name"]), description, run.token()
            )
            run.did(request_id)
            created = True
            run.progress(f"created quarantine group {gid}")
        details.update(quarantine_group=gid, group_created=created)
        group = provider.security_groups([gid])[0]
        for rule in group.rules:
            if _find(wanted, rule) is None:
                run.did(provider.remove_rule(gid, rule))
                run.progress(f"removed {_rule_text(rule)} from {gid}")
        for rule in wanted:
            if _find(group.rules, rule) is None:
                run.did(provider.add_rule(gid, rule, run.token()))
                run.progress(f"added {_rule_text(rule)} to {gid}")
        rules = provider.security_groups([gid])[0].rules
        problems = _problems(rules, wanted)
        problems += [f"unexpected {_rule_text(r)}" for r in rules if _find(wanted, r) is None]
        if problems:
            raise CloudError(
                "the quarantine group's rules read back wrong: " + "; ".join(problems),
                code="VerificationFailed",
            )
    except CloudError as exc:
        where = (
            f"quarantine group {gid} ({'created' if created else 'existing'})"
            if gid
            else ("no quarantine group created")
        )
        return run.result(
            Outcome.FAILED,
            f"isolate failed while preparing the quarantine group: {exc}",
            state=f"{instance_id} was not touched: still in its original groups "
            f"{', '.join(original)}; {where}, left in place (owned by this instance only)",
            details=details,
        )
    # 2. the switch: all groups replaced at once
    switch_error: CloudError | None = None
    try:
        run.did(provider.set_security_groups(instance_id, [gid]))
        run.progress(f"{instance_id} moved into {gid}")
    except CloudError as exc:
        switch_error = exc
    now = _read_groups(provider, instance_id)
    if now == (gid,):
        note = (
            f" (the call reported {switch_error}, but the change is there)" if switch_error else ""
        )
        return run.result(
            Outcome.DONE,
            f"{instance_id} isolated in {gid}",
            verification=f"read back: {instance_id} is in {gid} only; the group has the "
            f"{len(wanted)} quarantine rules{note}",
            details=details,
            undo=undo,
        )
    # 3. not isolated: put the instance back in its original groups, and say where it is
    cause = f"{switch_error}" if switch_error else f"read back {now or 'nothing'}"
    state, undo_left = _restore(run, instance_id, original, now)
    return run.result(
        Outcome.FAILED,
        f"isolate failed moving {instance_id} into {gid}: {cause}",
        state=state + f"; quarantine group {gid} left in place",
        details=details,
        undo=undo if undo_left else None,
    )


def _read_groups(provider: CloudProvider, instance_id: str) -> tuple[str, ...] | None:
    try:
        return tuple(provider.instance(instance_id).security_group_ids)
    except CloudError:
        return None


def _restore(
    run: _Run, instance_id: str, original: tuple[str, ...], now: tuple[str, ...] | None
) -> tuple[str, bool]:
    """Back to ``original`` groups if not there; -> (the state, in words; undo still needed)."""
    if now is not None and set(now) == set(original):
        return f"{instance_id} is still in its original groups {', '.join(original)}", False
    try:
        run.did(run.provider.set_security_groups(instance_id, list(original)))
    except CloudError as exc:
        seen = ", ".join(now) if now else "unknown (could not be read)"
        return (
            f"rolling back to {', '.join(original)} failed ({exc}); {instance_id}'s groups: {seen}",
            True,
        )
    back = _read_groups(run.provider, instance_id)
    if back is not None and set(back) == set(original):
        return f"rolled back: {instance_id} is in its original groups {', '.join(original)}", False
    seen = ", ".join(back) if back else "unknown (could not be read)"
    return f"rollback to {', '.join(original)} not confirmed; {instance_id}'s groups: {seen}", True


def _plan_unisolate(
    provider: CloudProvider, spec: CloudAction, instance: Instance, params: Mapping[str, str]
) -> ActionPlan:
    groups = _group_ids(params["groups"])
    if set(groups) == set(instance.security_group_ids):
        raise ActionError(f"{instance.id} is already in {', '.join(groups)}")
    found = {g.id: g for g in provider.security_groups(groups)}
    for gid in groups:
        group = found.get(gid)
        if group is None:
            raise ActionError(f"security group {gid} not found")
        if instance.vpc_id and group.vpc_id and group.vpc_id != instance.vpc_id:
            raise ActionError(f"security group {gid} is in {group.vpc_id}, not {instance.vpc_id}")
    current = provider.security_groups(instance.security_group_ids)
    name = quarantine_group_name(instance.id)
    warnings = ["this reconnects a host that was compromised: make sure it is clean first"]
    undo: tuple[str, Mapping[str, Any]] | None = None
    if len(current) == 1 and current[0].name == name:
        quarantine = current[0]
        ssh = [r for r in quarantine.rules if r.direction == "ingress" and r.policy == "accept"]
        warnings.append(
            f"the quarantine group {quarantine.id} is kept (the next isolate reuses it)"
        )
        if ssh:
            undo = (
                "isolate",
                {"instance_id": instance.id, "operator": ssh[0].cidr, "group": quarantine.id},
            )
    else:
        warnings.append(
            f"{instance.id} is not in its quarantine group now but in "
            f"{', '.join(instance.security_group_ids)}"
        )
    return ActionPlan(
        action="unisolate",
        host=_host(instance),
        subject=f"{instance.id} back into {', '.join(groups)}",
        params=_base_params(
            provider,
            instance,
            groups=",".join(groups),
            current_groups=",".join(instance.security_group_ids),
        ),
        steps=(
            PlannedStep(
                f"replace {instance.id}'s security groups with {', '.join(groups)}",
                provider.plan_set_security_groups(instance.id, list(groups)).render(),
            ),
        ),
        risk=spec.risk,
        undo=undo,
        warnings=tuple(warnings),
    )


def _unisolate(run: _Run) -> ActionResult:
    groups = _csv(run.plan.params["groups"])
    before = _csv(run.plan.params["current_groups"])
    instance = run.provider.instance(run.instance_id)
    if tuple(instance.security_group_ids) != before:
        return run.result(
            Outcome.FAILED,
            "the instance's groups changed since the plan: plan again",
            state=f"nothing was changed; {run.instance_id} is in "
            + ", ".join(instance.security_group_ids),
        )
    try:
        run.did(run.provider.set_security_groups(run.instance_id, list(groups)))
    except CloudError as exc:
        now = _read_groups(run.provider, run.instance_id)
        return run.result(
            Outcome.FAILED,
            f"restoring the groups failed: {exc}",
            state=f"{run.instance_id}'s groups: " + (", ".join(now) if now else "unknown"),
        )
    now = _read_groups(run.provider, run.instance_id)
    ok = now is not None and set(now) == set(groups)
    return run.result(
        Outcome.DONE if ok else Outcome.UNVERIFIED,
        f"{run.instance_id} back in {', '.join(groups)}",
        verification=f"read back: {run.instance_id} is in "
        + (", ".join(now) if now else "(could not be read)"),
        details={"groups": list(groups), "previous_groups": list(before)},
        undo=run.plan.undo,
    )
