"""What every cloud action shares: the action table's types, timing, the execution context
(:class:`Run`) and the rule and parameter helpers."""

from __future__ import annotations

import ipaddress
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from domain.actions import ActionError, ActionPlan, ActionResult, Outcome, Risk
from domain.cloud import (
    CloudProvider,
    Instance,
    SecurityGroup,
    SecurityRule,
)

Progress = Callable[[str], None]

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
