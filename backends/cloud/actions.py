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

import datetime as dt
import hashlib
import ipaddress
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from domain.actions import ActionError, ActionPlan, ActionResult, Outcome, PlannedStep, Risk
from domain.cloud import (
    CloudError,
    CloudProvider,
    Instance,
    SecurityGroup,
    SecurityRule,
    Snapshot,
)

Progress = Callable[[str], None]
PowerOp = Literal["stop", "force-stop", "start", "reboot"]

NEW_GROUP = "<new-group-id>"  # stands for the id a group to be created will get, in plans
SSH_PORT = "22"
BLOCK_PRIORITY = 1  # above anything the instance's own rules accept
DENY_PRIORITY = 100  # the quarantine group's catch-all drops, below the SSH accept
_GROUP_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


@dataclass(frozen=True, slots=True)
class CloudAction:
    """``params``: the parameters it needs; ``optional``: those it may take."""

    id: str
    title: str
    risk: Risk
    params: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


CLOUD_ACTIONS: dict[str, CloudAction] = {
    a.id: a
    for a in (
        CloudAction("snapshot", "Snapshot every disk", Risk.READ_ONLY),
        CloudAction(
            "isolate",
            "Isolate (quarantine security group)",
            Risk.REVERSIBLE,
            ("operator",),
            ("group",),
        ),
        CloudAction(
            "unisolate", "Restore the original security groups", Risk.REVERSIBLE, ("groups",)
        ),
        CloudAction("block", "Block an address", Risk.REVERSIBLE, ("cidr",), ("group",)),
        CloudAction("unblock", "Remove an address block", Risk.REVERSIBLE, ("cidr",), ("group",)),
        CloudAction("stop", "Stop the instance", Risk.DESTRUCTIVE),
        CloudAction("force-stop", "Force-stop the instance", Risk.IRREVERSIBLE),
        CloudAction("start", "Start the instance", Risk.REVERSIBLE),
        CloudAction("reboot", "Reboot the instance", Risk.DESTRUCTIVE),
        CloudAction(
            "run-command",
            "Run a script through the cloud agent",
            Risk.DESTRUCTIVE,
            ("script",),
            ("timeout",),
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Timing:
    """How long :func:`execute` waits for the cloud, and how often it looks."""

    poll_s: float = 3.0
    snapshot_timeout_s: float = 3600.0
    power_timeout_s: float = 300.0
    command_grace_s: float = 30.0  # on top of the command's own timeout


@runtime_checkable
class FindsGroups(Protocol):
    """Optional provider capability: look a security group up by name. Without it, ``isolate``
    reuses a quarantine group only when given its id (``group=``), else it creates one."""

    def find_security_groups(self, vpc_id: str, name: str) -> list[SecurityGroup]: ...


def quarantine_group_name(instance_id: str) -> str:
    return f"sickbay-quarantine-{instance_id}"


def isolation_rules(operator: str, ipv6: bool) -> tuple[SecurityRule, ...]:
    """SSH in from the operator only; everything else dropped, in and out (IPv6 too when the
    instance or the operator has it)."""
    rules = [
        SecurityRule(
            "ingress", "accept", "tcp", SSH_PORT, operator, 1, "sickbay: SSH from the operator"
        )
    ]
    for cidr in ("0.0.0.0/0", "::/0") if ipv6 else ("0.0.0.0/0",):
        rules.append(
            SecurityRule("ingress", "drop", "all", "all", cidr, DENY_PRIORITY, "sickbay: deny in")
        )
        rules.append(
            SecurityRule("egress", "drop", "all", "all", cidr, DENY_PRIORITY, "sickbay: deny out")
        )
    return tuple(rules)


def block_rules(cidr: str) -> tuple[SecurityRule, ...]:
    return (
        SecurityRule(
            "ingress", "drop", "all", "all", cidr, BLOCK_PRIORITY, f"sickbay: block {cidr}"
        ),
        SecurityRule(
            "egress", "drop", "all", "all", cidr, BLOCK_PRIORITY, f"sickbay: block {cidr}"
        ),
    )


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


# --- execution context ------------------------------------------------------------------------


@dataclass
class _Run:
    provider: CloudProvider
    plan: ActionPlan
    progress: Progress
    timing: Timing
    cancel: threading.Event | None
    request_ids: list[str] = field(default_factory=list)
    changed: bool = False  # whether any change call succeeded
    first_call: int = 0

    def __post_init__(self) -> None:
        self.first_call = len(self.provider.calls())

    @property
    def instance_id(self) -> str:
        return str(self.plan.params["instance_id"])

    def token(self) -> str:
        return f"sickbay-{uuid.uuid4().hex}"

    def did(self, request_id: str) -> None:
        self.changed = True
        if request_id:
            self.request_ids.append(request_id)

    def wait(self, seconds: float) -> bool:
        """Sleep; True if cancelled."""
        if self.cancel is not None:
            return self.cancel.wait(seconds)
        time.sleep(seconds)
        return False

    def state_if_unchanged(self) -> str:
        if not self.changed:
            return "nothing was changed"
        return "changes were made (see the request ids); the state could not be read back"

    def result(
        self,
        outcome: Outcome,
        summary: str,
        *,
        verification: str = "",
        state: str = "",
        details: Mapping[str, Any] | None = None,
        undo: tuple[str, Mapping[str, Any]] | None = None,
    ) -> ActionResult:
        records = list(self.provider.calls())[self.first_call :]
        extra: dict[str, Any] = {"api_calls": len(records)}
        errors = [f"{r.call.service}.{r.call.action}: {r.error}" for r in records if not r.ok]
        if errors:
            extra["api_errors"] = errors
        return ActionResult(
            outcome=outcome,
            summary=summary,
            verification=verification,
            state=state,
            details={**(details or {}), **extra},
            undo=undo,
            request_ids=tuple(self.request_ids),
        )


def _csv(value: Any) -> tuple[str, ...]:
    return tuple(v for v in str(value or "").split(",") if v)


def _base_params(provider: CloudProvider, instance: Instance, **extra: Any) -> dict[str, Any]:
    return {
        "provider": provider.name,
        "region": provider.region,
        "instance_id": instance.id,
        **extra,
    }


def _host(instance: Instance) -> str:
    return f"{instance.name} ({instance.id})" if instance.name else instance.id


def _network(text: str, what: str) -> str:
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ActionError(f"{what}: {text!r} is not an IP address or CIDR") from None
    if network.prefixlen == 0:
        raise ActionError(f"{what}: {network} is every address")
    return str(network)


def _same_cidr(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_network(a, strict=False) == ipaddress.ip_network(b, strict=False)
    except ValueError:
        return a == b


def _same_rule(a: SecurityRule, b: SecurityRule) -> bool:
    """The same traffic, the same verdict. Priorities are compared apart (:func:`_problems`):
    what matters is the order, and providers without priorities derive them from positions."""
    return (
        a.direction == b.direction
        and a.policy == b.policy
        and a.protocol == b.protocol
        and a.ports == b.ports
        and _same_cidr(a.cidr, b.cidr)
    )


def _find(rules: Sequence[SecurityRule], rule: SecurityRule) -> SecurityRule | None:
    return next((r for r in rules if _same_rule(r, rule)), None)


def _problems(rules: Sequence[SecurityRule], wanted: Sequence[SecurityRule]) -> list[str]:
    """What keeps ``rules`` (read back) from doing what ``wanted`` says: a rule missing, two
    wanted rules in the wrong order (a lower priority number must be evaluated first), or an
    accept rule that is not wanted evaluated before a wanted drop rule."""
    problems: list[str] = []
    found: dict[SecurityRule, SecurityRule] = {}
    for want in wanted:
        got = _find(rules, want)
        if got is None:
            problems.append(f"missing {_rule_text(want)}")
        else:
            found[want] = got
    for want, got in found.items():
        for other_want, other_got in found.items():
            if (
                want.direction == other_want.direction
                and want.priority < other_want.priority
                and not got.priority < other_got.priority
            ):
                problems.append(f"{_rule_text(got)} is not before {_rule_text(other_got)}")
        if want.policy != "drop":
            continue
        for rule in rules:
            if (
                rule.direction == want.direction
                and rule.policy == "accept"
                and rule.priority < got.priority
                and _find(wanted, rule) is None
            ):
                problems.append(f"{_rule_text(rule)} is evaluated before {_rule_text(got)}")
    return problems


def _rule_text(rule: SecurityRule) -> str:
    where = "from" if rule.direction == "ingress" else "to"
    return (
        f"{rule.direction} {rule.policy} {rule.protocol}/{rule.ports} {where} {rule.cidr} "
        f"(priority {rule.priority})"
    )


def _users(provider: CloudProvider, group_id: str, besides: str) -> list[str]:
    """The other instances in ``group_id``."""
    return sorted(
        i.id
        for i in provider.list_instances()
        if group_id in i.security_group_ids and i.id != besides
    )


def _group_ids(text: str) -> tuple[str, ...]:
    ids = tuple(dict.fromkeys(g.strip() for g in text.split(",") if g.strip()))
    if not ids or any(not _GROUP_ID.match(g) for g in ids):
        raise ActionError(f"not a list of security group ids: {text!r}")
    return ids


# --- snapshot ---------------------------------------------------------------------------------


def _plan_snapshot(
    provider: CloudProvider, spec: CloudAction, instance: Instance, params: Mapping[str, str]
) -> ActionPlan:
    disks = provider.disks(instance.id)
    if not disks:
        raise ActionError(f"{instance.id} has no disks to snapshot")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    names = [f"sickbay-{instance.id}-{d.id}-{stamp}" for d in disks]
    steps = tuple(
        PlannedStep(
            f"snapshot the {d.kind} disk {d.id} ({d.size_gb} GB"
            + (f", {d.device})" if d.device else ")"),
            provider.plan_create_snapshot(d.id, name).render(),
        )
        for d, name in zip(disks, names, strict=True)
    )
    return ActionPlan(
        action="snapshot",
        host=_host(instance),
        subject=f"{len(disks)} disk(s) of {instance.id}, then wait until every snapshot is done",
        params=_base_params(
            provider,
            instance,
            disks=",".join(d.id for d in disks),
            names=",".join(names),
        ),
        steps=steps,
        risk=spec.risk,
    )


def _snapshot(run: _Run) -> ActionResult:
    disks = _csv(run.plan.params.get("disks"))
    names = _csv(run.plan.params.get("names"))
    created: dict[str, str] = {}
    for disk_id, name in zip(disks, names, strict=True):
        try:
            snapshot_id, request_id = run.provider.create_snapshot(disk_id, name, run.token())
        except CloudError as exc:
            done = ", ".join(f"{s} of {d}" for d, s in created.items()) or "none"
            return run.result(
                Outcome.FAILED,
                f"snapshot of {disk_id} failed: {exc}",
                state=f"snapshots started: {done}; not snapshotted: "
                + ", ".join(d for d in disks if d not in created),
                details={"snapshots": created},
            )
        run.did(request_id)
        created[disk_id] = snapshot_id
        run.progress(f"snapshot {snapshot_id} of {disk_id} started")
    deadline = time.monotonic() + run.timing.snapshot_timeout_s
    found: dict[str, Snapshot] = {}
    while True:
        try:
            listed = run.provider.snapshots(list(created))
            found = {s.id: s for s in listed if s.id in created.values()}
        except CloudError as exc:  # already retried: say so, look again at the next poll
            run.progress(f"snapshots: cannot read their progress now ({exc.code or exc})")
        progress = {
            sid: (
                f"{found[sid].status} {found[sid].progress}%" if sid in found else "not listed yet"
            )
            for sid in created.values()
        }
        run.progress("snapshots: " + ", ".join(f"{sid} {p}" for sid, p in progress.items()))
        failed = [sid for sid, s in found.items() if s.status == "failed"]
        finished = [sid for sid, s in found.items() if s.status == "accomplished"]
        details = {"snapshots": created, "progress": progress}
        if failed:
            return run.result(
                Outcome.FAILED,
                f"snapshot(s) failed: {', '.join(failed)}",
                verification="; ".join(f"{k}: {v}" for k, v in progress.items()),
                state="the failed snapshots hold no usable copy; the others: see progress",
                details=details,
            )
        if len(finished) == len(created):
            return run.result(
                Outcome.DONE,
                f"{len(finished)} snapshot(s) taken: {', '.join(created.values())}",
                verification="read back: every snapshot accomplished (100%)",
                details=details,
            )
        if time.monotonic() >= deadline or run.wait(run.timing.poll_s):
            return run.result(
                Outcome.UNVERIFIED,
                "snapshots started, not finished yet",
                verification="; ".join(f"{k}: {v}" for k, v in progress.items()),
                state="the snapshots go on in the cloud; check them later",
                details=details,
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
