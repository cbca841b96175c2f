"""Tencent Cloud behind ``domain.cloud.CloudProvider``: CVM instances, VPC security groups, CBS
disks and snapshots, TAT (the agent that runs commands without SSH).

The real SDK (``tencentcloud-sdk-python``'s per-service packages) does the signing
(TC3-HMAC-SHA256) and the wire; every call is described by a :class:`domain.cloud.ApiCall`
first (what the operator is shown), sent as exactly those parameters through the SDK's typed
request model, and goes through :class:`backends.cloud.calls.CallRunner` (retries, records,
request ids). Throttling (``RequestLimitExceeded*``), ``InternalError*`` and transport errors and
timeouts are retried.

Retrying a change is only safe when a repeat cannot do it twice. None of the APIs used here takes
a ``ClientToken``, so after an *ambiguous* failure (a timeout, a dropped connection, an internal
error: the change may have been made) a retry first looks whether it was: the snapshot or group
carries a ``sickbay-token`` tag with the caller's token, the rule is there (or gone), the
instance is already stopping. ``RunCommand`` cannot be looked up that way, so it is retried only
after throttling (a refusal: nothing ran).

Network: production is HTTPS to ``<service>.tencentcloudapi.com``; an endpoint override (tests,
private endpoints) may be plain HTTP only on loopback, where proxies are also bypassed. Connect
and read timeouts are always set. No credential is ever looked up here (no metadata service, no
role): the caller passes one (``backends.cloud.credentials``).
"""

from __future__ import annotations

import base64
import binascii
import importlib
import ipaddress
import itertools
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from backends.cloud.calls import CallRunner, Failure, RetryPolicy
from backends.cloud.credentials import CloudCredential
from domain.cloud import (
    ApiCall,
    CallRecord,
    CloudError,
    CommandResult,
    Disk,
    Instance,
    PowerOp,
    ProviderName,
    SecurityGroup,
    SecurityRule,
    Snapshot,
)

VERSIONS = {"cvm": "v20170312", "vpc": "v20170312", "cbs": "v20170312", "tat": "v20201028"}
CLIENTS = {"cvm": "CvmClient", "vpc": "VpcClient", "cbs": "CbsClient", "tat": "TatClient"}
TOKEN_TAG = "sickbay-token"
TOKEN_PLACEHOLDER = "<idempotency token>"
DEFAULT_TIMEOUTS = (5.0, 30.0)  # connect, read (seconds)
MAX_PAGES = 200  # 200 pages of 100: far beyond any real account; the loops stay bounded

RETRYABLE = ("RequestLimitExceeded", "InternalError", "ClientNetworkError", "ServerNetworkError")
# Failures after which the request may have been carried out.
AMBIGUOUS = ("InternalError", "ClientNetworkError", "ServerNetworkError")

STATES = {
    "PENDING": "pending",
    "LAUNCH_FAILED": "unknown",
    "RUNNING": "running",
    "STOPPED": "stopped",
    "STARTING": "starting",
    "STOPPING": "stopping",
    "REBOOTING": "rebooting",
    "SHUTDOWN": "stopped",
    "TERMINATING": "unknown",
}
TASK_STATUS: dict[str, Literal["running", "success", "failed", "timeout"]] = {
    "PENDING": "running",
    "DELIVERING": "running",
    "DELIVER_DELAYED": "running",
    "RUNNING": "running",
    "SUCCESS": "success",
    "TIMEOUT": "timeout",
}


def _matches(code: str, prefixes: Sequence[str]) -> bool:
    return any(code == p or code.startswith(p + ".") for p in prefixes)


def classify(exc: BaseException) -> Failure | None:
    """The SDK's exceptions (transport errors included: the SDK wraps them as
    ``ClientNetworkError``) -> a Failure; anything else is not an SDK error."""
    if not isinstance(exc, TencentCloudSDKException):
        return None
    code = str(exc.code or "ClientError")
    message = (
        exc.message.decode("utf-8", "replace") if isinstance(exc.message, bytes) else exc.message
    )
    return Failure(
        code, str(message or "")[:500], str(exc.requestId or ""), _matches(code, RETRYABLE)
    )


def classify_refusals_only(exc: BaseException) -> Failure | None:
    """For calls a repeat could do twice: only a throttling refusal is retried."""
    failure = classify(exc)
    if failure is None or not failure.retryable:
        return failure
    return Failure(
        failure.code,
        failure.message,
        failure.request_id,
        _matches(failure.code, ("RequestLimitExceeded",)),
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_endpoint(endpoint: str | None) -> tuple[str | None, str, bool]:
    """An override (``https://host[:port]``, ``http://127.0.0.1:PORT``, ``host[:port]`` meaning
    https) -> (host[:port] for HttpProfile or None, scheme, loopback)."""
    if not endpoint:
        return None, "https", False
    parsed = urllib.parse.urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"not an endpoint URL: {endpoint!r}")
    if parsed.path not in ("", "/") or parsed.query or parsed.username:
        raise ValueError(f"an endpoint is scheme://host[:port] only: {endpoint!r}")
    loopback = is_loopback(parsed.hostname)
    if parsed.scheme == "http" and not loopback:
        raise ValueError(f"plain http is allowed only to a loopback address: {endpoint!r}")
    return parsed.netloc, parsed.scheme, loopback


def flatten(params: Mapping[str, Any]) -> dict[str, Any]:
    """Nested parameters in Tencent's own dotted notation (``SecurityGroupPolicySet.Ingress.0.
    CidrBlock``, as its API documentation and the SDK's GET mode write them): what a plan shows,
    one short value each, so nothing is cut off in a preview."""
    out: dict[str, Any] = {}

    def walk(key: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for name, item in value.items():
                walk(f"{key}.{name}", item)
        elif isinstance(value, list) and value:
            for number, item in enumerate(value):
                walk(f"{key}.{number}", item)
        else:
            out[key] = value

    for name, value in params.items():
        walk(name, value)
    return out


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`flatten` undone: the JSON body that is sent."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        node: Any = root
        for part, following in itertools.pairwise(parts):
            empty: Any = [] if following.isdigit() else {}
            if isinstance(node, list):
                index = int(part)
                node.extend([None] * (index + 1 - len(node)))
                if node[index] is None:
                    node[index] = empty
                node = node[index]
            else:
                node = node.setdefault(part, empty)
        if isinstance(node, list):
            index = int(parts[-1])
            node.extend([None] * (index + 1 - len(node)))
            node[index] = value
        else:
            node[parts[-1]] = value
    return root


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _request_id(result: Mapping[str, Any]) -> str:
    return _text(result.get("RequestId"))


def _cidr(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError:
        return text.strip()


def policy_of(rule: SecurityRule) -> dict[str, Any]:
    """A SecurityRule as a Tencent policy (without its position: see ``plan_add_rule``)."""
    protocol = rule.protocol.strip().upper()
    protocol = "ALL" if protocol in ("ALL", "-1", "") else protocol
    port = rule.ports.strip().upper()
    if protocol in ("ALL", "ICMP", "ICMPV6") or port in ("ALL", "", "-1/-1", "1-65535"):
        port = "ALL"
    policy: dict[str, Any] = {  # in this order: a plan's rendering may cut the end off
        "Action": "ACCEPT" if rule.policy == "accept" else "DROP",
        "Protocol": protocol,
        "Port": port,
        "CidrBlock": rule.cidr,
    }
    if rule.description:
        policy["PolicyDescription"] = rule.description[:100]
    return policy


def _policy_key(policy: Mapping[str, Any]) -> tuple[str, str, str, str]:
    port = _text(policy.get("Port")).upper() or "ALL"
    return (
        _text(policy.get("Protocol")).upper(),
        "ALL" if port == "1-65535" else port,
        _cidr(_text(policy.get("CidrBlock")) or _text(policy.get("Ipv6CidrBlock"))),
        _text(policy.get("Action")).upper(),
    )


def rule_of(direction: Literal["ingress", "egress"], policy: Mapping[str, Any]) -> SecurityRule:
    """A Tencent policy -> a SecurityRule. Tencent rules have no priority, only an order (first
    match wins): the priority is the position, from 1."""
    port = _text(policy.get("Port")) or "ALL"
    index = policy.get("PolicyIndex")
    return SecurityRule(
        direction=direction,
        policy="accept" if _text(policy.get("Action")).upper() == "ACCEPT" else "drop",
        protocol=(_text(policy.get("Protocol")) or "all").lower(),
        ports="all" if port.upper() == "ALL" else port,
        cidr=_text(policy.get("CidrBlock")) or _text(policy.get("Ipv6CidrBlock")),
        priority=index + 1 if isinstance(index, int) and not isinstance(index, bool) else 1,
        description=_text(policy.get("PolicyDescription")),
    )


_DIRECTIONS: tuple[tuple[Literal["ingress", "egress"], str], ...] = (
    ("ingress", "Ingress"),
    ("egress", "Egress"),
)


class TencentProvider:
    """One account in one region. Blocking: call from a thread. ``endpoint``: an override for
    all services (see :func:`parse_endpoint`); ``timeouts``: (connect, read) seconds."""

    name: ProviderName = "tencent"

    def __init__(
        self,
        credential: CloudCredential,
        region: str,
        *,
        endpoint: str | None = None,
        timeouts: tuple[float, float] = DEFAULT_TIMEOUTS,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if credential.provider != "tencent":
            raise ValueError(f"a {credential.provider} key cannot be used for Tencent Cloud")
        if not region:
            raise ValueError("a Tencent Cloud region is required (ap-guangzhou, ...)")
        self.region = region
        self._credential = credential
        self._endpoint, self._scheme, self._loopback = parse_endpoint(endpoint)
        self._timeouts = timeouts
        self._runner = CallRunner(classify, policy, sleep=sleep)
        self._strict = CallRunner(classify_refusals_only, policy, sleep=sleep)
        self._strict.records = self._runner.records  # one record of every call
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        """Where the calls go (for the operator)."""
        if self._endpoint is None:
            return f"{self._scheme}://<service>.tencentcloudapi.com"
        return f"{self._scheme}://{self._endpoint}"

    def calls(self) -> Sequence[CallRecord]:
        return tuple(self._runner.records)

    # --- the wire -----------------------------------------------------------------------------

    def _client(self, service: str) -> Any:
        with self._lock:
            client = self._clients.get(service)
            if client is not None:
                return client
            from tencentcloud.common import credential as tc_credential  # noqa: PLC0415
            from tencentcloud.common.profile.client_profile import ClientProfile  # noqa: PLC0415
            from tencentcloud.common.profile.http_profile import HttpProfile  # noqa: PLC0415

            module = importlib.import_module(
                f"tencentcloud.{service}.{VERSIONS[service]}.{service}_client"
            )
            http = HttpProfile(
                protocol=self._scheme,
                endpoint=self._endpoint,
                reqMethod="POST",
                reqTimeout=self._timeouts,  # requests takes (connect, read)
            )
            # No region breaker: when tripped it sends to a backup endpoint on the internet.
            profile = ClientProfile(httpProfile=http, language="en-US", disable_region_breaker=True)
            cred = self._credential
            try:
                sdk_cred = tc_credential.Credential(cred.key_id, cred.secret, cred.token or None)
            except TencentCloudSDKException as exc:
                raise CloudError(f"unusable key from {cred.source}: {exc.message}") from None
            client = getattr(module, CLIENTS[service])(sdk_cred, self.region, profile)
            if self._loopback:  # tests and local endpoints: never through a proxy
                conn = client.request.conn
                conn.proxy = None
                conn._session.trust_env = False
            self._clients[service] = client
            return client

    def _send(self, api: ApiCall) -> dict[str, Any]:
        """Send ``api.params`` as they are, through the SDK's typed request and client."""
        client = self._client(api.service)
        models = importlib.import_module(
            f"tencentcloud.{api.service}.{VERSIONS[api.service]}.models"
        )
        request = getattr(models, f"{api.action}Request")()
        params = unflatten(api.params)
        request.from_json_string(json.dumps(params))
        sent = json.loads(request.to_json_string())
        dropped = [
            key for key, value in params.items() if sent.get(key) is None and value is not None
        ]
        if dropped:  # the SDK would silently drop them: a bug here, not the operator's problem
            raise ValueError(f"{api.service}.{api.action} has no parameter {', '.join(dropped)}")
        response = getattr(client, api.action)(request)
        result = json.loads(response.to_json_string())
        return result if isinstance(result, dict) else {}

    def _api(self, service: str, action: str, params: Mapping[str, Any]) -> ApiCall:
        return ApiCall("tencent", service, action, self.region, flatten(params))

    def _get(self, api: ApiCall) -> dict[str, Any]:
        result, _ = self._runner.call(api, lambda: self._send(api), _request_id)
        return result

    def _change(
        self, api: ApiCall, reconcile: Callable[[], dict[str, Any] | None] | None
    ) -> dict[str, Any]:
        """Make a change. After an ambiguous failure, ``reconcile`` first looks whether it was
        made (its result then stands for the call's); without one, only refusals are retried."""
        ambiguous = False

        def once() -> dict[str, Any]:
            nonlocal ambiguous
            if ambiguous and reconcile is not None:
                done = reconcile()
                if done is not None:
                    return done
            try:
                return self._send(api)
            except TencentCloudSDKException as exc:
                ambiguous = _matches(str(exc.code or ""), AMBIGUOUS)
                raise

        runner = self._runner if reconcile is not None else self._strict
        result, _ = runner.call(api, once, _request_id)
        return result

    def _pages(self, service: str, action: str, params: Mapping[str, Any], key: str) -> list[Any]:
        text = service == "vpc"  # vpc's Offset and Limit are Strings, the others' Integers
        items: list[Any] = []
        for page in range(MAX_PAGES):
            offset, limit = page * 100, 100
            paging = (
                {"Offset": str(offset), "Limit": str(limit)}
                if text
                else {
                    "Offset": offset,
                    "Limit": limit,
                }
            )
            result = self._get(self._api(service, action, {**params, **paging}))
            batch = result.get(key) or []
            items.extend(batch)
            total = result.get("TotalCount")
            if not batch or not isinstance(total, int) or len(items) >= total:
                break
        return items

    # --- reading ------------------------------------------------------------------------------

    def _instance(self, data: Mapping[str, Any]) -> Instance:
        raw = _text(data.get("InstanceState"))
        placement = data.get("Placement") or {}
        vpc = data.get("VirtualPrivateCloud") or {}
        tags = tuple(
            (_text(t.get("Key")), _text(t.get("Value")))
            for t in data.get("Tags") or []
            if isinstance(t, dict)
        )
        return Instance(
            provider="tencent",
            region=self.region,
            id=_text(data.get("InstanceId")),
            name=_text(data.get("InstanceName")),
            state=STATES.get(raw, "unknown"),
            raw_state=raw,
            zone=_text(placement.get("Zone")) if isinstance(placement, dict) else "",
            private_ips=_texts(data.get("PrivateIpAddresses")),
            public_ips=_texts(data.get("PublicIpAddresses")),
            security_group_ids=_texts(data.get("SecurityGroupIds")),
            vpc_id=_text(vpc.get("VpcId")) if isinstance(vpc, dict) else "",
            tags=tags,
            os_name=_text(data.get("OsName")),
            instance_type=_text(data.get("InstanceType")),
            created=_text(data.get("CreatedTime")),
        )

    def list_instances(self) -> list[Instance]:
        items = self._pages("cvm", "DescribeInstances", {}, "InstanceSet")
        return [self._instance(i) for i in items if isinstance(i, dict)]

    def instance(self, instance_id: str) -> Instance:
        api = self._api("cvm", "DescribeInstances", {"InstanceIds": [instance_id]})
        result = self._get(api)
        for item in result.get("InstanceSet") or []:
            if isinstance(item, dict) and item.get("InstanceId") == instance_id:
                return self._instance(item)
        raise CloudError(
            f"instance {instance_id} not found in {self.region}",
            code="InvalidInstanceId.NotFound",
            request_id=_request_id(result),
            call=api,
        )

    def _policies(self, group_id: str) -> dict[str, Any]:
        api = self._api("vpc", "DescribeSecurityGroupPolicies", {"SecurityGroupId": group_id})
        result = self._get(api)
        policy_set = result.get("SecurityGroupPolicySet")
        return policy_set if isinstance(policy_set, dict) else {}

    def _group(self, item: Mapping[str, Any]) -> SecurityGroup:
        group_id = _text(item.get("SecurityGroupId"))
        policies = self._policies(group_id)
        return SecurityGroup(
            id=group_id,
            name=_text(item.get("SecurityGroupName")),
            vpc_id="",  # Tencent security groups belong to the region, not to a VPC
            description=_text(item.get("SecurityGroupDesc")),
            rules=tuple(
                rule_of(direction, p)
                for direction, key in _DIRECTIONS
                for p in policies.get(key) or []
                if isinstance(p, dict)
            ),
        )

    def find_security_groups(self, vpc_id: str, name: str) -> list[SecurityGroup]:
        """The groups called ``name`` (in the region: Tencent groups have no VPC)."""
        filters = [{"Name": "security-group-name", "Values": [name]}]
        items = self._pages(
            "vpc", "DescribeSecurityGroups", {"Filters": filters}, "SecurityGroupSet"
        )
        return [
            self._group(i)
            for i in items
            if isinstance(i, dict) and i.get("SecurityGroupName") == name
        ]

    def security_groups(self, group_ids: Sequence[str]) -> list[SecurityGroup]:
        ids = list(dict.fromkeys(group_ids))
        found: dict[str, Mapping[str, Any]] = {}
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            params = {"SecurityGroupIds": chunk, "Limit": str(len(chunk))}  # a String in vpc
            result = self._get(self._api("vpc", "DescribeSecurityGroups", params))
            for item in result.get("SecurityGroupSet") or []:
                if isinstance(item, dict):
                    found[_text(item.get("SecurityGroupId"))] = item
        return [self._group(found[g]) for g in ids if g in found]

    def disks(self, instance_id: str) -> list[Disk]:
        filters = [{"Name": "instance-id", "Values": [instance_id]}]
        items = self._pages("cbs", "DescribeDisks", {"Filters": filters}, "DiskSet")
        disks = []
        for item in items:
            if not isinstance(item, dict):
                continue
            size = item.get("DiskSize")
            disks.append(
                Disk(
                    id=_text(item.get("DiskId")),
                    kind="system" if item.get("DiskUsage") == "SYSTEM_DISK" else "data",
                    size_gb=size if isinstance(size, int) else 0,
                    category=_text(item.get("DiskType")),
                    device="",  # CBS does not say which device node the disk is
                    state=_text(item.get("DiskState")),
                )
            )
        disks.sort(key=lambda d: (d.kind != "system", d.id))
        return disks

    def _snapshot(self, item: Mapping[str, Any]) -> Snapshot:
        raw = _text(item.get("SnapshotState"))
        percent = item.get("Percent")
        progress = percent if isinstance(percent, int) else 0
        status: Literal["progressing", "accomplished", "failed"]
        if raw in ("NORMAL", "ROLLBACKING"):
            status, progress = "accomplished", 100
        elif raw in ("CREATING", "COPYING_FROM_REMOTE", "CHECKING_COPIED"):
            status = "progressing"
        else:
            status = "failed"
        return Snapshot(
            id=_text(item.get("SnapshotId")),
            disk_id=_text(item.get("DiskId")),
            name=_text(item.get("SnapshotName")),
            status=status,
            progress=max(0, min(100, progress)),
            created=_text(item.get("CreateTime")),
        )

    def snapshots(self, disk_ids: Sequence[str]) -> list[Snapshot]:
        ids = list(dict.fromkeys(disk_ids))
        out: list[Snapshot] = []
        for start in range(0, len(ids), 10):  # disk-id takes at most 10 values
            filters = [{"Name": "disk-id", "Values": ids[start : start + 10]}]
            items = self._pages("cbs", "DescribeSnapshots", {"Filters": filters}, "SnapshotSet")
            out.extend(self._snapshot(i) for i in items if isinstance(i, dict))
        return out

    # --- snapshots ----------------------------------------------------------------------------

    def _create_snapshot_call(self, disk_id: str, name: str, token: str) -> ApiCall:
        params = {
            "DiskId": disk_id,
            "SnapshotName": name[:60],
            "Tags": [{"Key": TOKEN_TAG, "Value": token}],
        }
        return self._api("cbs", "CreateSnapshot", params)

    def plan_create_snapshot(self, disk_id: str, name: str) -> ApiCall:
        return self._create_snapshot_call(disk_id, name, TOKEN_PLACEHOLDER)

    def create_snapshot(self, disk_id: str, name: str, token: str) -> tuple[str, str]:
        api = self._create_snapshot_call(disk_id, name, token)

        def made() -> dict[str, Any] | None:
            filters = [
                {"Name": "disk-id", "Values": [disk_id]},
                {"Name": "snapshot-name", "Values": [name[:60]]},
            ]
            result = self._get(self._api("cbs", "DescribeSnapshots", {"Filters": filters}))
            for item in result.get("SnapshotSet") or []:
                if not isinstance(item, dict):
                    continue
                if {"Key": TOKEN_TAG, "Value": token} in (item.get("Tags") or []):
                    return {"SnapshotId": item.get("SnapshotId"), "RequestId": _request_id(result)}
            return None

        result = self._change(api, made)
        return _text(result.get("SnapshotId")), _request_id(result)

    # --- security groups ----------------------------------------------------------------------

    def _create_group_call(self, name: str, description: str, token: str) -> ApiCall:
        params = {
            "GroupName": name[:60],
            "GroupDescription": (description or name)[:100],
            "Tags": [{"Key": TOKEN_TAG, "Value": token}],
        }
        return self._api("vpc", "CreateSecurityGroup", params)

    def plan_create_security_group(self, vpc_id: str, name: str, description: str) -> ApiCall:
        """``vpc_id`` is not used: a Tencent security group belongs to the region and is
        attached to instances, whatever their VPC. A new group has no rules."""
        return self._create_group_call(name, description, TOKEN_PLACEHOLDER)

    def create_security_group(
        self, vpc_id: str, name: str, description: str, token: str
    ) -> tuple[str, str]:
        api = self._create_group_call(name, description, token)

        def made() -> dict[str, Any] | None:
            filters = [{"Name": f"tag:{TOKEN_TAG}", "Values": [token]}]
            result = self._get(self._api("vpc", "DescribeSecurityGroups", {"Filters": filters}))
            for item in result.get("SecurityGroupSet") or []:
                if isinstance(item, dict) and item.get("SecurityGroupId"):
                    return {"SecurityGroup": item, "RequestId": _request_id(result)}
            return None

        result = self._change(api, made)
        group = result.get("SecurityGroup") or {}
        return _text(group.get("SecurityGroupId")), _request_id(result)

    @staticmethod
    def _direction(rule: SecurityRule) -> str:
        return "Ingress" if rule.direction == "ingress" else "Egress"

    def _rule_present(self, group_id: str, rule: SecurityRule) -> tuple[bool, str]:
        api = self._api("vpc", "DescribeSecurityGroupPolicies", {"SecurityGroupId": group_id})
        result = self._get(api)
        policy_set = result.get("SecurityGroupPolicySet") or {}
        wanted = _policy_key(policy_of(rule))
        present = any(
            isinstance(p, dict) and _policy_key(p) == wanted
            for p in policy_set.get(self._direction(rule)) or []
        )
        return present, _request_id(result)

    def plan_add_rule(self, group_id: str, rule: SecurityRule) -> ApiCall:
        """Tencent evaluates a group's rules in order, first match wins (there is no priority;
        read back, a rule's priority is its position): a rule of priority 1 (the highest) is
        put first (``PolicyIndex`` 0), any other is appended. So "allow SSH from the operator"
        (1) comes before "drop everything" (100), and "drop this address" (1) before the
        group's own "allow" rules."""
        policy = policy_of(rule)
        if rule.priority <= 1:
            policy = {"PolicyIndex": 0, **policy}
        params = {
            "SecurityGroupId": group_id,
            "SecurityGroupPolicySet": {self._direction(rule): [policy]},
        }
        return self._api("vpc", "CreateSecurityGroupPolicies", params)

    def add_rule(self, group_id: str, rule: SecurityRule, token: str) -> str:
        def made() -> dict[str, Any] | None:
            present, request_id = self._rule_present(group_id, rule)
            return {"RequestId": request_id} if present else None

        return _request_id(self._change(self.plan_add_rule(group_id, rule), made))

    def plan_remove_rule(self, group_id: str, rule: SecurityRule) -> ApiCall:
        params = {
            "SecurityGroupId": group_id,
            "SecurityGroupPolicySet": {
                self._direction(rule): [
                    {k: v for k, v in policy_of(rule).items() if k != "PolicyDescription"}
                ]
            },
        }
        return self._api("vpc", "DeleteSecurityGroupPolicies", params)

    def remove_rule(self, group_id: str, rule: SecurityRule) -> str:
        def made() -> dict[str, Any] | None:
            present, request_id = self._rule_present(group_id, rule)
            return None if present else {"RequestId": request_id}

        return _request_id(self._change(self.plan_remove_rule(group_id, rule), made))

    def plan_set_security_groups(self, instance_id: str, group_ids: Sequence[str]) -> ApiCall:
        """ModifyInstancesAttribute with SecurityGroups replaces all of the instance's groups
        in one call (Associate/Disassociate would leave a moment with both or neither)."""
        params = {"InstanceIds": [instance_id], "SecurityGroups": list(group_ids)}
        return self._api("cvm", "ModifyInstancesAttribute", params)

    def set_security_groups(self, instance_id: str, group_ids: Sequence[str]) -> str:
        # Idempotent: a repeat sets the same list.
        api = self.plan_set_security_groups(instance_id, group_ids)
        result, _ = self._runner.call(api, lambda: self._send(api), _request_id)
        return _request_id(result)

    # --- power --------------------------------------------------------------------------------

    def plan_power(self, instance_id: str, op: PowerOp) -> ApiCall:
        ids = [instance_id]
        if op in ("stop", "force-stop"):
            # KEEP_CHARGING: the instance keeps its disks, IPs and host (evidence stays put).
            stop_type = "SOFT" if op == "stop" else "HARD"
            params = {"InstanceIds": ids, "StopType": stop_type, "StoppedMode": "KEEP_CHARGING"}
            return self._api("cvm", "StopInstances", params)
        if op == "start":
            return self._api("cvm", "StartInstances", {"InstanceIds": ids})
        if op == "reboot":
            return self._api("cvm", "RebootInstances", {"InstanceIds": ids, "StopType": "SOFT"})
        raise ValueError(f"unknown power operation {op!r}")

    def power(self, instance_id: str, op: PowerOp, token: str) -> str:
        api = self.plan_power(instance_id, op)
        underway = {
            "stop": ("STOPPING", "STOPPED"),
            "force-stop": ("STOPPING", "STOPPED"),
            "start": ("STARTING", "RUNNING"),
            "reboot": ("REBOOTING",),
        }[op]

        def made() -> dict[str, Any] | None:
            describe = self._api("cvm", "DescribeInstances", {"InstanceIds": [instance_id]})
            result = self._get(describe)
            for item in result.get("InstanceSet") or []:
                if isinstance(item, dict) and item.get("InstanceState") in underway:
                    return {"RequestId": _request_id(result)}
            return None

        return _request_id(self._change(api, made))

    # --- commands (TAT) -----------------------------------------------------------------------

    def plan_run_command(self, instance_id: str, script: str, timeout_s: int) -> ApiCall:
        params = {
            "Content": base64.b64encode(script.encode()).decode(),
            "InstanceIds": [instance_id],
            "CommandType": "SHELL",
            "Timeout": max(1, min(86400, int(timeout_s))),
            "Username": "root",
            "CommandName": "sickbay",
            "SaveCommand": False,
        }
        return self._api("tat", "RunCommand", params)

    def run_command(
        self, instance_id: str, script: str, timeout_s: int, token: str
    ) -> tuple[str, str]:
        # No way to look a lost invocation up: retried only when refused (nothing ran).
        result = self._change(self.plan_run_command(instance_id, script, timeout_s), None)
        return _text(result.get("InvocationId")), _request_id(result)

    def command_result(self, instance_id: str, invocation_id: str) -> CommandResult:
        params = {
            "Filters": [
                {"Name": "invocation-id", "Values": [invocation_id]},
                {"Name": "instance-id", "Values": [instance_id]},
            ],
            "HideOutput": False,
        }
        api = self._api("tat", "DescribeInvocationTasks", params)
        result = self._get(api)
        tasks = [t for t in result.get("InvocationTaskSet") or [] if isinstance(t, dict)]
        if not tasks:
            raise CloudError(
                f"no task of invocation {invocation_id} on {instance_id}",
                code="ResourceNotFound",
                request_id=_request_id(result),
                call=api,
            )
        task = tasks[0]
        status = TASK_STATUS.get(_text(task.get("TaskStatus")), "failed")
        outcome = task.get("TaskResult") or {}
        exit_code = outcome.get("ExitCode") if isinstance(outcome, dict) else None
        output = _decode_output(outcome.get("Output") if isinstance(outcome, dict) else None)
        dropped = outcome.get("Dropped") if isinstance(outcome, dict) else 0
        if isinstance(dropped, int) and dropped > 0:
            output += f"\n[{dropped} more bytes of output were dropped by TAT]"
        error = _text(task.get("ErrorInfo"))
        if error and status != "success":
            output = f"{output}\n[{error}]" if output else f"[{error}]"
        return CommandResult(
            invocation_id=invocation_id,
            status=status,
            exit_code=exit_code if isinstance(exit_code, int) and status != "running" else None,
            output=output,
        )


def _decode_output(value: Any) -> str:
    if not isinstance(value, str) or not value:
        return ""
    try:
        return base64.b64decode(value).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return "[the output was not valid base64]"
