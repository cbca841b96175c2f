"""Alibaba Cloud ECS behind ``domain.cloud.CloudProvider``, with the official (legacy RPC) SDK.

Every call is described first as an :class:`ApiCall` whose parameters are *the wire parameters*
(``SecurityGroupIds.1=sg-...``, ``Permissions.1.PortRange=22/22``): the request is built from
that same mapping, so what the operator previews is literally what is sent (the SDK adds only
the common parameters: signature, nonce, timestamp, key id, and the ``ClientToken`` given at
execution). Every call goes through :class:`backends.cloud.calls.CallRunner`, which retries what
:func:`classify` calls retryable (throttling, 5xx, transport errors and timeouts); the SDK's own
retries are off so each attempt is counted and recorded.

Network hygiene: the endpoint is always set on the request (``endpoint=`` for tests, e.g.
``http://127.0.0.1:PORT``; otherwise ``https://`` to the SDK's endpoint for the region, else
``ecs.<region>.aliyuncs.com``), so the SDK never asks its location service; proxies from the
environment (``HTTP(S)_PROXY``, which the SDK would honour while ignoring ``NO_PROXY``) are not
used unless ``proxy=`` names one; connect and read timeouts are always set.

Credentials are given (key id, secret, optional STS token); ``backends.cloud.credentials`` finds
them. With a token the STS signer is installed explicitly: the SDK would otherwise prefer
``ALIYUN_ACCESS_KEY_ID`` from the environment over the credential it was given.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import ipaddress
import json
import logging
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.auth.signers.sts_token_signer import StsTokenSigner
from aliyunsdkcore.client import AcsClient
from aliyunsdkecs.endpoint import endpoint_data

from backends.cloud.calls import CallRunner, Failure, RetryPolicy
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

_REGION = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_STATES = {
    "Pending": "pending",
    "Starting": "starting",
    "Running": "running",
    "Stopping": "stopping",
    "Stopped": "stopped",
}
# Codes worth another attempt besides Throttling*: the service's own transient failures.
_RETRYABLE_CODES = frozenset(
    {
        "ServiceUnavailable",
        "InternalError",
        "UnknownError",
        "SDK.HttpError",
        "SDK.ServerUnreachable",
    }
)
_PAGE_SIZES = {
    "DescribeInstances": 100,
    "DescribeDisks": 100,
    "DescribeSnapshots": 100,
    "DescribeSecurityGroups": 50,
}
MAX_PAGES = 50  # 5,000 instances in one region is far beyond what this console is for

# The SDK logs every server error at ERROR, with the string to sign (key id included), and one of
# its modules adds its own stderr handler: on a terminal UI that is garbage on the screen, and in
# a log file it is a key id. Failures are recorded by CallRunner instead.
_sdk_log = logging.getLogger("aliyunsdkcore")
_sdk_log.addHandler(logging.NullHandler())
_sdk_log.propagate = False
for _name in ("aliyunsdkcore.http.http_response",):
    for _handler in list(logging.getLogger(_name).handlers):
        logging.getLogger(_name).removeHandler(_handler)


class BadResponse(Exception):
    """The service answered 2xx with something that is not the JSON object it documents."""


def classify(exc: BaseException) -> Failure | None:
    """The Aliyun SDK's exceptions, as :class:`Failure`; anything else is not ours (None)."""
    if isinstance(exc, ServerException):
        code = str(exc.get_error_code() or "Unknown")
        status = exc.get_http_status()
        retryable = (
            code.startswith("Throttling")
            or code in _RETRYABLE_CODES
            or (isinstance(status, int) and status >= 500)
        )
        return Failure(
            code, _redact(str(exc.get_error_msg())), exc.get_request_id() or "", retryable
        )
    if isinstance(exc, ClientException):
        code = str(exc.get_error_code())
        return Failure(code, _redact(str(exc.get_error_msg())), "", code in _RETRYABLE_CODES)
    if isinstance(exc, BadResponse):
        return Failure("BadResponse", str(exc), "", False)
    return None


def _redact(message: str) -> str:
    """Keep signed URLs (key id, signature) and the string to sign out of errors and logs."""
    message = re.sub(r"url: /\?\S*", "url: /?<redacted>", message)
    cut = message.find("string to sign is:")
    if cut >= 0:
        message = message[:cut] + "string to sign is: <redacted>"
    return message[:500]


def default_endpoint(region: str) -> str:
    """The public HTTPS endpoint for ``region`` (no network: the SDK's table or the pattern)."""
    host = endpoint_data.getEndpointMap().get(region) or f"ecs.{region}.aliyuncs.com"
    return f"https://{host}"


def _split_endpoint(endpoint: str) -> tuple[str, str]:
    """("http"|"https", host[:port]) from "https://host", "http://127.0.0.1:8080" or "host".
    Plain http only to a loopback address (tests): an STS token travels in the request."""
    if "://" not in endpoint:
        endpoint = "https://" + endpoint
    parts = urllib.parse.urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"not an endpoint: {endpoint!r} (expected https://host[:port])")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(f"plain http is for loopback test endpoints only: {endpoint!r}")
    return parts.scheme, parts.netloc


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _request_class(action: str) -> Any:
    module = importlib.import_module(f"aliyunsdkecs.request.v20140526.{action}Request")
    return getattr(module, f"{action}Request")


# --- parsing (defensive: a missing or odd field never raises) ---------------------------------


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any, key: str) -> list[Any]:
    """``{"Instance": [...]}`` -> the list (the RPC API wraps every list in an object)."""
    inner = _dict(value).get(key)
    return inner if isinstance(inner, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _strs(values: Sequence[Any]) -> tuple[str, ...]:
    return tuple(v for v in values if isinstance(v, str) and v)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(str(value).strip().rstrip("%"))
    except (TypeError, ValueError):
        return default


def parse_instance(data: Mapping[str, Any], region: str) -> Instance:
    vpc = _dict(data.get("VpcAttributes"))
    private = [
        *_list(vpc.get("PrivateIpAddress"), "IpAddress"),
        *_list(data.get("InnerIpAddress"), "IpAddress"),
    ]
    for nic in _list(data.get("NetworkInterfaces"), "NetworkInterface"):
        private.append(_dict(nic).get("PrimaryIpAddress"))
    public = [
        *_list(data.get("PublicIpAddress"), "IpAddress"),
        _dict(data.get("EipAddress")).get("IpAddress"),
    ]
    tags = tuple(
        (_str(_dict(t).get("TagKey")), _str(_dict(t).get("TagValue")))
        for t in _list(data.get("Tags"), "Tag")
    )
    raw_state = _str(data.get("Status"))
    return Instance(
        provider="aliyun",
        region=_str(data.get("RegionId")) or region,
        id=_str(data.get("InstanceId")),
        name=_str(data.get("InstanceName")),
        state=_STATES.get(raw_state, "unknown"),
        raw_state=raw_state,
        zone=_str(data.get("ZoneId")),
        private_ips=tuple(dict.fromkeys(_strs(private))),
        public_ips=tuple(dict.fromkeys(_strs(public))),
        security_group_ids=_strs(_list(data.get("SecurityGroupIds"), "SecurityGroupId")),
        vpc_id=_str(vpc.get("VpcId")),
        tags=tags,
        os_name=_str(data.get("OSName")),
        instance_type=_str(data.get("InstanceType")),
        created=_str(data.get("CreationTime")),
    )


def _ports_from_api(port_range: str) -> str:
    low, _, high = port_range.partition("/")
    if low in ("-1", "") and high in ("-1", ""):
        return "all"
    return low if low == high else f"{low}-{high}"


def parse_rule(data: Mapping[str, Any]) -> SecurityRule:
    direction: Literal["ingress", "egress"] = (
        "egress" if _str(data.get("Direction")).lower() == "egress" else "ingress"
    )
    if direction == "ingress":
        cidr = _str(data.get("SourceCidrIp")) or _str(data.get("Ipv6SourceCidrIp"))
        group, prefix_list = data.get("SourceGroupId"), data.get("SourcePrefixListId")
    else:
        cidr = _str(data.get("DestCidrIp")) or _str(data.get("Ipv6DestCidrIp"))
        group, prefix_list = data.get("DestGroupId"), data.get("DestPrefixListId")
    if not cidr and group:
        cidr = f"group:{_str(group)}"
    elif not cidr and prefix_list:
        cidr = f"prefix-list:{_str(prefix_list)}"
    policy: Literal["accept", "drop"] = (
        "drop" if _str(data.get("Policy")).lower() == "drop" else "accept"
    )
    return SecurityRule(
        direction=direction,
        policy=policy,
        protocol=_str(data.get("IpProtocol")).lower() or "all",
        ports=_ports_from_api(_str(data.get("PortRange"))),
        cidr=cidr,
        priority=_int(data.get("Priority"), 1),
        description=_str(data.get("Description")),
    )


def rule_params(rule: SecurityRule) -> dict[str, str]:
    """A rule as ``Permissions.1.*`` wire parameters."""
    if rule.protocol == "all" or rule.ports == "all":
        port_range = "-1/-1" if rule.protocol not in ("tcp", "udp") else "1/65535"
    else:
        low, _, high = rule.ports.partition("-")
        port_range = f"{low}/{high or low}"
    v6 = ":" in rule.cidr
    if rule.direction == "ingress":
        where = "Ipv6SourceCidrIp" if v6 else "SourceCidrIp"
    else:
        where = "Ipv6DestCidrIp" if v6 else "DestCidrIp"
    params = {
        "Permissions.1.IpProtocol": rule.protocol,
        "Permissions.1.PortRange": port_range,
        f"Permissions.1.{where}": rule.cidr,
        "Permissions.1.Policy": rule.policy,
        "Permissions.1.Priority": str(rule.priority),
        "Permissions.1.NicType": "intranet",
    }
    if rule.description:
        params["Permissions.1.Description"] = rule.description
    return params


def parse_snapshot(data: Mapping[str, Any]) -> Snapshot:
    raw = _str(data.get("Status")).lower()
    status: Literal["progressing", "accomplished", "failed"] = (
        "accomplished" if raw == "accomplished" else "failed" if raw == "failed" else "progressing"
    )
    return Snapshot(
        id=_str(data.get("SnapshotId")),
        disk_id=_str(data.get("SourceDiskId")),
        name=_str(data.get("SnapshotName")),
        status=status,
        progress=max(0, min(100, _int(data.get("Progress")))),
        created=_str(data.get("CreationTime")),
    )


def parse_command_result(data: Mapping[str, Any], invocation_id: str) -> CommandResult:
    raw = _str(data.get("InvocationStatus"))
    status: Literal["running", "success", "failed", "timeout"]
    if raw in ("Success", "Finished"):
        status = "success"
    elif raw in ("Timeout",):
        status = "timeout"
    elif raw in ("Failed", "Error", "Aborted", "Invalid", "Cancelled", "Terminated", "Stopped"):
        status = "failed"
    else:  # Pending, Running, Stopping, Scheduled ...
        status = "running"
    exit_code = data.get("ExitCode")
    if status == "running" or not isinstance(exit_code, int):
        exit_code = None
    try:
        output = base64.b64decode(_str(data.get("Output")), validate=False).decode(
            "utf-8", "replace"
        )
    except (binascii.Error, ValueError):
        output = _str(data.get("Output"))
    dropped = data.get("Dropped")
    if isinstance(dropped, int) and not isinstance(dropped, bool) and dropped > 0:
        output += f"\n[{dropped} more bytes of output were dropped by Cloud Assistant]"
    return CommandResult(
        invocation_id=invocation_id, status=status, exit_code=exit_code, output=output
    )


class AliyunProvider:
    """ECS in one region, for one access key. Blocking: use from a thread."""

    name: ProviderName = "aliyun"

    def __init__(
        self,
        region: str,
        key_id: str,
        secret: str,
        token: str = "",
        *,
        endpoint: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        proxy: Mapping[str, str] | None = None,
    ) -> None:
        if not _REGION.match(region):
            raise ValueError(f"not an Alibaba Cloud region id: {region!r}")
        if not key_id or not secret:
            raise ValueError("an access key id and secret are needed")
        self.region = region
        self.endpoint = endpoint or default_endpoint(region)
        self._scheme, self._host = _split_endpoint(self.endpoint)
        self._client = AcsClient(
            key_id,
            secret,
            region,
            auto_retry=False,  # CallRunner retries, and counts the attempts
            connect_timeout=connect_timeout,
            timeout=read_timeout,
            # No proxy from the environment: an explicit mapping with no entry for the scheme.
            proxy=dict(proxy) if proxy else {"http": None, "https": None},
        )
        if token:
            self._client._signer = StsTokenSigner(StsTokenCredential(key_id, secret, token))
        self._client.session.trust_env = False
        self._runner = CallRunner(classify, retry, sleep=sleep)

    def calls(self) -> Sequence[CallRecord]:
        return tuple(self._runner.records)

    # --- the one way out --------------------------------------------------------------------

    def api(self, action: str, params: Mapping[str, Any]) -> ApiCall:
        return ApiCall("aliyun", "ecs", action, self.region, dict(params))

    def _call(self, action: str, params: Mapping[str, Any], token: str = "") -> dict[str, Any]:
        wire = {"RegionId": self.region, **params}
        if token:
            wire["ClientToken"] = token
        api = self.api(action, {**params, "ClientToken": token} if token else params)
        request_class = _request_class(action)

        def attempt() -> dict[str, Any]:
            request = request_class()  # a new one per attempt: a fresh nonce and timestamp
            request.set_endpoint(self._host)
            request.set_protocol_type(self._scheme)
            request.set_accept_format("JSON")
            for key, value in wire.items():
                request.add_query_param(key, value)
            body = self._client.do_action_with_exception(request)
            try:
                data = json.loads(body)
            except (TypeError, ValueError):
                raise BadResponse(f"{action}: the answer is not JSON") from None
            if not isinstance(data, dict):
                raise BadResponse(f"{action}: the answer is not a JSON object")
            return data

        result, _record = self._runner.call(api, attempt, lambda d: _str(d.get("RequestId")))
        return result

    def _pages(self, action: str, params: Mapping[str, Any], *path: str) -> list[dict[str, Any]]:
        """Every item of a paged Describe* call; ``path``: where the list is in an answer."""
        items: list[dict[str, Any]] = []
        size = _PAGE_SIZES[action]
        for page in range(1, MAX_PAGES + 1):
            data = self._call(action, {**params, "PageNumber": str(page), "PageSize": str(size)})
            node: Any = data
            for key in path[:-1]:
                node = _dict(node).get(key)
            batch = [x for x in _list(node, path[-1]) if isinstance(x, dict)]
            items.extend(batch)
            if not batch or len(items) >= _int(data.get("TotalCount"), 0):
                break
        return items

    # --- reading ----------------------------------------------------------------------------

    def list_instances(self) -> list[Instance]:
        raw = self._pages("DescribeInstances", {}, "Instances", "Instance")
        return [parse_instance(d, self.region) for d in raw]

    def instance(self, instance_id: str) -> Instance:
        raw = self._pages(
            "DescribeInstances", {"InstanceIds": json.dumps([instance_id])}, "Instances", "Instance"
        )
        for data in raw:
            if data.get("InstanceId") == instance_id:
                return parse_instance(data, self.region)
        raise CloudError(
            f"instance {instance_id} not found in aliyun {self.region}",
            code="InvalidInstanceId.NotFound",
        )

    def security_groups(self, group_ids: Sequence[str]) -> list[SecurityGroup]:
        groups = []
        for group_id in dict.fromkeys(group_ids):
            data = self._call("DescribeSecurityGroupAttribute", {"SecurityGroupId": group_id})
            rules = tuple(
                parse_rule(p)
                for p in _list(data.get("Permissions"), "Permission")
                if isinstance(p, dict)
            )
            groups.append(
                SecurityGroup(
                    id=_str(data.get("SecurityGroupId")) or group_id,
                    name=_str(data.get("SecurityGroupName")),
                    vpc_id=_str(data.get("VpcId")),
                    description=_str(data.get("Description")),
                    rules=rules,
                )
            )
        return groups

    def find_security_groups(self, vpc_id: str, name: str) -> list[SecurityGroup]:
        """The groups called ``name`` in ``vpc_id`` (with their rules)."""
        params = {"SecurityGroupName": name}
        if vpc_id:
            params["VpcId"] = vpc_id
        raw = self._pages("DescribeSecurityGroups", params, "SecurityGroups", "SecurityGroup")
        ids = [
            _str(g.get("SecurityGroupId"))
            for g in raw
            if g.get("SecurityGroupName") == name and (not vpc_id or g.get("VpcId") == vpc_id)
        ]
        return self.security_groups([i for i in ids if i])

    def disks(self, instance_id: str) -> list[Disk]:
        raw = self._pages("DescribeDisks", {"InstanceId": instance_id}, "Disks", "Disk")
        out = []
        for data in raw:
            out.append(
                Disk(
                    id=_str(data.get("DiskId")),
                    kind="system" if _str(data.get("Type")) == "system" else "data",
                    size_gb=_int(data.get("Size")),
                    category=_str(data.get("Category")),
                    device=_str(data.get("Device")),
                    state=_str(data.get("Status")),
                )
            )
        return sorted(out, key=lambda d: (d.kind != "system", d.device, d.id))

    def snapshots(self, disk_ids: Sequence[str]) -> list[Snapshot]:
        out: list[Snapshot] = []
        for disk_id in dict.fromkeys(disk_ids):
            raw = self._pages("DescribeSnapshots", {"DiskId": disk_id}, "Snapshots", "Snapshot")
            out.extend(parse_snapshot(d) for d in raw)
        return out

    # --- changes ----------------------------------------------------------------------------

    def _snapshot_params(self, disk_id: str, name: str) -> dict[str, str]:
        return {
            "DiskId": disk_id,
            "SnapshotName": name,
            "Description": "evidence snapshot taken by sickbay",
        }

    def plan_create_snapshot(self, disk_id: str, name: str) -> ApiCall:
        return self.api("CreateSnapshot", self._snapshot_params(disk_id, name))

    def create_snapshot(self, disk_id: str, name: str, token: str) -> tuple[str, str]:
        data = self._call("CreateSnapshot", self._snapshot_params(disk_id, name), token)
        return self._new_id(data, "SnapshotId"), _str(data.get("RequestId"))

    def _group_params(self, vpc_id: str, name: str, description: str) -> dict[str, str]:
        params = {"SecurityGroupName": name, "Description": description}
        if vpc_id:
            params = {"VpcId": vpc_id, **params}
        return {**params, "SecurityGroupType": "normal"}

    def plan_create_security_group(self, vpc_id: str, name: str, description: str) -> ApiCall:
        return self.api("CreateSecurityGroup", self._group_params(vpc_id, name, description))

    def create_security_group(
        self, vpc_id: str, name: str, description: str, token: str
    ) -> tuple[str, str]:
        data = self._call(
            "CreateSecurityGroup", self._group_params(vpc_id, name, description), token
        )
        return self._new_id(data, "SecurityGroupId"), _str(data.get("RequestId"))

    @staticmethod
    def _rule_action(rule: SecurityRule, add: bool) -> str:
        verb = "AuthorizeSecurityGroup" if add else "RevokeSecurityGroup"
        return verb + ("Egress" if rule.direction == "egress" else "")

    def plan_add_rule(self, group_id: str, rule: SecurityRule) -> ApiCall:
        return self.api(
            self._rule_action(rule, True), {"SecurityGroupId": group_id, **rule_params(rule)}
        )

    def add_rule(self, group_id: str, rule: SecurityRule, token: str) -> str:
        params = {"SecurityGroupId": group_id, **rule_params(rule)}
        return _str(self._call(self._rule_action(rule, True), params, token).get("RequestId"))

    def _revoke_params(self, group_id: str, rule: SecurityRule) -> dict[str, str]:
        params = rule_params(rule)
        params.pop("Permissions.1.Description", None)  # not part of what identifies a rule
        return {"SecurityGroupId": group_id, **params}

    def plan_remove_rule(self, group_id: str, rule: SecurityRule) -> ApiCall:
        return self.api(self._rule_action(rule, False), self._revoke_params(group_id, rule))

    def remove_rule(self, group_id: str, rule: SecurityRule) -> str:
        data = self._call(self._rule_action(rule, False), self._revoke_params(group_id, rule))
        return _str(data.get("RequestId"))

    def _groups_params(self, instance_id: str, group_ids: Sequence[str]) -> dict[str, str]:
        if not group_ids:
            raise ValueError("an instance needs at least one security group")
        params = {"InstanceId": instance_id}
        for n, group_id in enumerate(group_ids, 1):
            params[f"SecurityGroupIds.{n}"] = group_id
        return params

    def plan_set_security_groups(self, instance_id: str, group_ids: Sequence[str]) -> ApiCall:
        return self.api("ModifyInstanceAttribute", self._groups_params(instance_id, group_ids))

    def set_security_groups(self, instance_id: str, group_ids: Sequence[str]) -> str:
        data = self._call("ModifyInstanceAttribute", self._groups_params(instance_id, group_ids))
        return _str(data.get("RequestId"))

    @staticmethod
    def _power_call(instance_id: str, op: PowerOp) -> tuple[str, dict[str, str]]:
        if op in ("stop", "force-stop"):
            # KeepCharging: the instance keeps its resources, its public IP among them.
            return "StopInstance", {
                "InstanceId": instance_id,
                "ForceStop": "true" if op == "force-stop" else "false",
                "StoppedMode": "KeepCharging",
            }
        if op == "start":
            return "StartInstance", {"InstanceId": instance_id}
        if op == "reboot":
            return "RebootInstance", {"InstanceId": instance_id, "ForceStop": "false"}
        raise ValueError(f"unknown power operation: {op!r}")

    def plan_power(self, instance_id: str, op: PowerOp) -> ApiCall:
        return self.api(*self._power_call(instance_id, op))

    def power(self, instance_id: str, op: PowerOp, token: str) -> str:
        # StopInstance/StartInstance/RebootInstance take no ClientToken: the state check
        # (IncorrectInstanceStatus on a second call) is what makes a retry harmless.
        action, params = self._power_call(instance_id, op)
        return _str(self._call(action, params).get("RequestId"))

    @staticmethod
    def _command_params(instance_id: str, script: str, timeout_s: int) -> dict[str, str]:
        return {
            "Type": "RunShellScript",
            "InstanceId.1": instance_id,
            "Name": "sickbay",
            "ContentEncoding": "PlainText",
            "Timeout": str(int(timeout_s)),
            "CommandContent": script,
        }

    def plan_run_command(self, instance_id: str, script: str, timeout_s: int) -> ApiCall:
        return self.api("RunCommand", self._command_params(instance_id, script, timeout_s))

    def run_command(
        self, instance_id: str, script: str, timeout_s: int, token: str
    ) -> tuple[str, str]:
        params = self._command_params(instance_id, script, timeout_s)
        data = self._call("RunCommand", params, token)
        return self._new_id(data, "InvokeId"), _str(data.get("RequestId"))

    def command_result(self, instance_id: str, invocation_id: str) -> CommandResult:
        data = self._call(
            "DescribeInvocationResults",
            {"InvokeId": invocation_id, "InstanceId": instance_id, "ContentEncoding": "Base64"},
        )
        results = _list(
            _dict(_dict(data.get("Invocation")).get("InvocationResults")), "InvocationResult"
        )
        for item in results:
            if isinstance(item, dict) and item.get("InstanceId") == instance_id:
                return parse_command_result(item, invocation_id)
        # Not visible yet (the service registers an invocation shortly after RunCommand).
        return CommandResult(invocation_id, "running", None, "")

    def _new_id(self, data: Mapping[str, Any], key: str) -> str:
        value = _str(data.get(key))
        if not value:
            raise CloudError(
                f"the answer has no {key}",
                code="BadResponse",
                request_id=_str(data.get("RequestId")),
            )
        return value
