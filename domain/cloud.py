"""The cloud instance behind a host, in provider-neutral terms (Alibaba Cloud ECS, Tencent CVM).

``backends.cloud`` fills these from the real SDKs; the UI and the checklist only see them. Every
call a provider makes is described by an :class:`ApiCall` first: that is what the operator is
shown in a preview, and what the audit log records with the request id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

ProviderName = Literal["aliyun", "tencent"]
PowerOp = Literal["stop", "force-stop", "start", "reboot"]
PROVIDERS: tuple[ProviderName, ...] = ("aliyun", "tencent")

# Provider-neutral instance states; the provider's own word is kept in Instance.raw_state.
STATES = ("pending", "starting", "running", "stopping", "stopped", "rebooting", "unknown")


@dataclass(frozen=True, slots=True)
class SecurityRule:
    direction: Literal["ingress", "egress"]
    policy: Literal["accept", "drop"]
    protocol: str  # "tcp", "udp", "icmp", "all"
    ports: str  # "22", "80-443", "all"
    cidr: str  # "203.0.113.5/32", "0.0.0.0/0"
    priority: int = 1
    description: str = ""


@dataclass(frozen=True, slots=True)
class SecurityGroup:
    id: str
    name: str
    vpc_id: str = ""
    description: str = ""
    rules: tuple[SecurityRule, ...] = ()


@dataclass(frozen=True, slots=True)
class Disk:
    id: str
    kind: Literal["system", "data"]
    size_gb: int
    category: str = ""
    device: str = ""
    state: str = ""


@dataclass(frozen=True, slots=True)
class Snapshot:
    id: str
    disk_id: str
    name: str
    status: Literal["progressing", "accomplished", "failed"]
    progress: int  # 0-100
    created: str = ""  # ISO 8601 as the provider gives it


@dataclass(frozen=True, slots=True)
class Instance:
    provider: ProviderName
    region: str
    id: str
    name: str
    state: str  # one of STATES
    raw_state: str = ""
    zone: str = ""
    private_ips: tuple[str, ...] = ()
    public_ips: tuple[str, ...] = ()  # public IPs and EIPs
    security_group_ids: tuple[str, ...] = ()
    vpc_id: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    os_name: str = ""
    instance_type: str = ""
    created: str = ""

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.private_ips + self.public_ips


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One API call, as shown before it is made: ``ecs.StopInstance InstanceId=i-1 ...``."""

    provider: ProviderName
    service: str  # "ecs", "cvm", "vpc", "cbs", "tat"
    action: str  # the API's own action name
    region: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        args = " ".join(f"{k}={_short(v)}" for k, v in self.params.items())
        return f"{self.service}.{self.action} [{self.region}] {args}".rstrip()


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A call that was made: its request id (from the provider), attempts and outcome."""

    call: ApiCall
    request_id: str
    ok: bool
    attempts: int
    elapsed_ms: float
    error: str = ""  # "Throttling: Request was denied due to request throttling"


@dataclass(frozen=True, slots=True)
class CommandResult:
    """A command run through the provider's agent (Cloud Assistant / TAT)."""

    invocation_id: str
    status: Literal["running", "success", "failed", "timeout"]
    exit_code: int | None
    output: str  # decoded; host text: display it through domain.sanitize.visible


class CloudError(Exception):
    """A call failed for good (after retries). ``code``: the provider's error code;
    ``request_id``: its request id, for the provider's support."""

    def __init__(
        self, message: str, *, code: str = "", request_id: str = "", call: ApiCall | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.request_id, self.call = code, request_id, call


class CloudProvider(Protocol):
    """One account in one region of one provider. Blocking: call from a thread."""

    name: ProviderName
    region: str

    def calls(self) -> Sequence[CallRecord]:
        """Every call made so far (for the audit log)."""
        ...

    def list_instances(self) -> list[Instance]: ...

    def instance(self, instance_id: str) -> Instance: ...

    def security_groups(self, group_ids: Sequence[str]) -> list[SecurityGroup]: ...

    def disks(self, instance_id: str) -> list[Disk]: ...

    def snapshots(self, disk_ids: Sequence[str]) -> list[Snapshot]: ...

    # --- changes (each one call; the multi-step actions are in backends.cloud.actions) --------
    # Each returns the provider's request id (and the new resource's id where one is created).
    # ``token``: an idempotency token (ClientToken) for APIs that take one.

    def plan_create_snapshot(self, disk_id: str, name: str) -> ApiCall: ...

    def create_snapshot(self, disk_id: str, name: str, token: str) -> tuple[str, str]:
        """-> (snapshot id, request id)"""
        ...

    def plan_create_security_group(self, vpc_id: str, name: str, description: str) -> ApiCall: ...

    def create_security_group(
        self, vpc_id: str, name: str, description: str, token: str
    ) -> tuple[str, str]:
        """A group with no rules (deny all, in both providers' default for a new group is NOT
        guaranteed: the caller adds explicit rules). -> (group id, request id)"""
        ...

    def plan_add_rule(self, group_id: str, rule: SecurityRule) -> ApiCall: ...

    def add_rule(self, group_id: str, rule: SecurityRule, token: str) -> str: ...

    def plan_remove_rule(self, group_id: str, rule: SecurityRule) -> ApiCall: ...

    def remove_rule(self, group_id: str, rule: SecurityRule) -> str: ...

    def plan_set_security_groups(self, instance_id: str, group_ids: Sequence[str]) -> ApiCall: ...

    def set_security_groups(self, instance_id: str, group_ids: Sequence[str]) -> str:
        """Replace all of the instance's groups at once."""
        ...

    def plan_power(self, instance_id: str, op: PowerOp) -> ApiCall: ...

    def power(self, instance_id: str, op: PowerOp, token: str) -> str: ...

    def plan_run_command(self, instance_id: str, script: str, timeout_s: int) -> ApiCall: ...

    def run_command(
        self, instance_id: str, script: str, timeout_s: int, token: str
    ) -> tuple[str, str]:
        """Through the provider's agent (Cloud Assistant / TAT). -> (invocation id, request id)"""
        ...

    def command_result(self, instance_id: str, invocation_id: str) -> CommandResult: ...


@dataclass(frozen=True, slots=True)
class InstanceView:
    """Everything the cloud screen shows about one host's instance, read at ``read_at``."""

    instance: Instance
    how: str  # how the host was matched to it ("i-abc (configured instance id)")
    groups: tuple[SecurityGroup, ...] = ()
    disks: tuple[Disk, ...] = ()
    snapshots: tuple[Snapshot, ...] = ()
    read_at: float = 0.0  # epoch seconds
