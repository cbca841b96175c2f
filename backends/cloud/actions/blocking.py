"""Block or unblock an address in the instance's own security group."""

from __future__ import annotations

from collections.abc import Mapping

from backends.cloud.actions.common import (
    BLOCK_PRIORITY,
    CloudAction,
    _base_params,
    _csv,
    _find,
    _host,
    _network,
    _problems,
    _rule_text,
    _Run,
    _same_cidr,
    block_rules,
)
from domain.actions import ActionError, ActionPlan, ActionResult, Outcome, PlannedStep
from domain.cloud import (
    CloudError,
    CloudProvider,
    Instance,
    SecurityGroup,
    SecurityRule,
)

# --- block / unblock --------------------------------------------------------------------------


def _own_group(
    provider: CloudProvider, instance: Instance, given: str
) -> tuple[SecurityGroup, list[str]]:
    """The instance's group to put block rules in, and the other instances that share it."""
    if given and given not in instance.security_group_ids:
        raise ActionError(f"{given} is not one of {instance.id}'s security groups")
    choices: tuple[str, ...] = (given,) if given else tuple(instance.security_group_ids)
    if not choices:
        raise ActionError(f"{instance.id} has no security group")
    instances = provider.list_instances()
    sharing = {
        gid: sorted(i.id for i in instances if gid in i.security_group_ids and i.id != instance.id)
        for gid in choices
    }
    gid = next((g for g in choices if not sharing[g]), choices[0])
    return provider.security_groups([gid])[0], sharing[gid]


def _plan_block(
    provider: CloudProvider, spec: CloudAction, instance: Instance, params: Mapping[str, str]
) -> ActionPlan:
    cidr = _network(params["cidr"], "address to block")
    group, shared = _own_group(provider, instance, params.get("group", "").strip())
    wanted = block_rules(cidr)
    missing = [r for r in wanted if _find(group.rules, r) is None]
    if not missing:
        problems = _problems(group.rules, wanted)
        if problems:
            raise ActionError(
                f"{group.id} has drop rules for {cidr} that do not take effect "
                f"({'; '.join(problems)}): unblock first"
            )
        raise ActionError(f"{cidr} is already blocked in {group.id}")
    warnings = []
    if shared:
        warnings.append(
            f"{group.id} is shared with {len(shared)} other instance(s) ({', '.join(shared)}): "
            "the block applies to them too"
        )
    return ActionPlan(
        action="block",
        host=_host(instance),
        subject=f"all traffic to and from {cidr}, in {group.id}",
        params=_base_params(
            provider, instance, cidr=cidr, group=group.id, shared_with=",".join(shared)
        ),
        steps=tuple(
            PlannedStep(f"add {_rule_text(r)}", provider.plan_add_rule(group.id, r).render())
            for r in missing
        ),
        risk=spec.risk,
        undo=("unblock", {"instance_id": instance.id, "cidr": cidr, "group": group.id}),
        warnings=tuple(warnings),
    )


def _block(run: _Run) -> ActionResult:
    cidr, gid = str(run.plan.params["cidr"]), str(run.plan.params["group"])
    wanted = block_rules(cidr)
    added: list[str] = []
    error: CloudError | None = None
    try:
        rules = run.provider.security_groups([gid])[0].rules
        for rule in wanted:
            if _find(rules, rule) is None:
                run.did(run.provider.add_rule(gid, rule, run.token()))
                added.append(_rule_text(rule))
                run.progress(f"added {_rule_text(rule)} to {gid}")
    except CloudError as exc:
        error = exc
    try:
        rules = run.provider.security_groups([gid])[0].rules
    except CloudError as exc:
        return run.result(
            Outcome.UNVERIFIED if added and error is None else Outcome.FAILED,
            f"block of {cidr}: rules could not be read back ({exc})",
            state=f"added to {gid}: {'; '.join(added) or 'nothing'}",
            details={"group": gid, "added": added},
            undo=run.plan.undo if added else None,
        )
    present = [r for r in (_find(rules, w) for w in wanted) if r is not None]
    problems = _problems(rules, wanted)
    details = {"group": gid, "added": added, "rules": [_rule_text(r) for r in present]}
    if not problems:
        return run.result(
            Outcome.DONE,
            f"{cidr} blocked in {gid}",
            verification=f"read back: {gid} drops {cidr} both ways (priority {BLOCK_PRIORITY})",
            details=details,
            undo=run.plan.undo,
        )
    return run.result(
        Outcome.FAILED,
        f"block of {cidr} incomplete: {error or '; '.join(problems)}",
        state=f"in {gid}: " + ("; ".join(_rule_text(r) for r in present) or "no block rule"),
        details=details,
        undo=run.plan.undo if present else None,
    )


def _block_rules_in(group: SecurityGroup, cidr: str) -> list[SecurityRule]:
    return [
        r
        for r in group.rules
        if r.policy == "drop"
        and r.protocol == "all"
        and r.ports == "all"
        and _same_cidr(r.cidr, cidr)
    ]


def _plan_unblock(
    provider: CloudProvider, spec: CloudAction, instance: Instance, params: Mapping[str, str]
) -> ActionPlan:
    cidr = _network(params["cidr"], "address to unblock")
    given = params.get("group", "").strip()
    if given and given not in instance.security_group_ids:
        raise ActionError(f"{given} is not one of {instance.id}'s security groups")
    groups = provider.security_groups([given] if given else instance.security_group_ids)
    found = [(g, r) for g in groups for r in _block_rules_in(g, cidr)]
    if not found:
        raise ActionError(f"no block of {cidr} in {', '.join(g.id for g in groups)}")
    gids = sorted({g.id for g, _ in found})
    return ActionPlan(
        action="unblock",
        host=_host(instance),
        subject=f"the block of {cidr} in {', '.join(gids)}",
        params=_base_params(provider, instance, cidr=cidr, group=",".join(gids)),
        steps=tuple(
            PlannedStep(
                f"remove {_rule_text(r)} from {g.id}", provider.plan_remove_rule(g.id, r).render()
            )
            for g, r in found
        ),
        risk=spec.risk,
        undo=("block", {"instance_id": instance.id, "cidr": cidr, "group": gids[0]}),
    )


def _unblock(run: _Run) -> ActionResult:
    cidr = str(run.plan.params["cidr"])
    gids = _csv(run.plan.params["group"])
    error: CloudError | None = None
    removed: list[str] = []
    try:
        for group in run.provider.security_groups(gids):
            for rule in _block_rules_in(group, cidr):
                run.did(run.provider.remove_rule(group.id, rule))
                removed.append(f"{group.id}: {_rule_text(rule)}")
                run.progress(f"removed {_rule_text(rule)} from {group.id}")
        left = [
            f"{g.id}: {_rule_text(r)}"
            for g in run.provider.security_groups(gids)
            for r in _block_rules_in(g, cidr)
        ]
    except CloudError as exc:
        error, left = exc, ["(could not be read back)"]
    details = {"removed": removed, "left": left}
    if error is None and not left:
        return run.result(
            Outcome.DONE,
            f"{cidr} unblocked",
            verification=f"read back: no drop rule for {cidr} in {', '.join(gids)}",
            details=details,
            undo=run.plan.undo,
        )
    return run.result(
        Outcome.FAILED,
        f"unblock of {cidr} incomplete: {error or 'rules still there'}",
        state="block rules left: " + "; ".join(left),
        details=details,
        undo=run.plan.undo if removed else None,
    )
