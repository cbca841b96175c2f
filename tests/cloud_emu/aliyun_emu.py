"""A loopback emulator of the Alibaba Cloud ECS RPC API (version 2014-05-26), for the real SDK.

It checks what the real service checks, the way it does: the RPC signature (HMAC-SHA1 over the
sorted, RFC 3986-encoded parameters, key = secret + "&"), the access key, the STS token, the
timestamp (15 minutes of skew) and the signature nonce (a replay is refused), the API version
and the region; then it answers with the real response shapes and error shapes (HTTP status +
``{"RequestId", "HostId", "Code", "Message", "Recommend"}``).

State: instances (status with timed transitions Stopping -> Stopped, Starting -> Running; IPs,
EIP, VPC, security groups, tags), security groups and their rules, disks, snapshots whose
``Progress`` advances with time, Cloud Assistant invocations (output returned Base64), and
``ClientToken`` idempotency (same action + token -> the same result; different parameters ->
``IdempotentParameterMismatch``). Faults can be queued per action (:meth:`throttle`,
:meth:`fail`, :meth:`hang`) and every call is recorded (:attr:`calls`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import secrets
import string
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.cloud_emu import Fault, Faults, LoopbackServer, RecordedCall, progress, request_id

VERSION = "2014-05-26"
HOST_ID = "ecs.aliyuncs.com"
MAX_SKEW_S = 15 * 60
VOLATILE = {"Signature", "SignatureNonce", "Timestamp", "ClientToken", "SecurityToken"}
COMMAND_LIMIT = 16 * 1024  # CommandContent, once Base64-encoded (the stricter documented cap)
OUTPUT_LIMIT = 24 * 1024  # Cloud Assistant keeps 24 KB of a command's output

PAGE_LIMITS = {  # action: (default PageSize, max PageSize)
    "DescribeInstances": (10, 100),
    "DescribeDisks": (10, 100),
    "DescribeSnapshots": (10, 100),
    "DescribeSecurityGroups": (10, 50),
    "DescribeInvocationResults": (10, 50),
}

CommandHandler = Callable[[str, str], tuple[int, str]]  # (instance id, script) -> (exit, output)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _rid(prefix: str) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(20))


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def percent_encode(text: str) -> str:
    """RFC 3986: everything but unreserved characters (A-Z a-z 0-9 - _ . ~) escaped, UTF-8."""
    return urllib.parse.quote(text, safe="-_.~")


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    canonical = "&".join(
        f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items())
    )
    return f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"


def sign(method: str, params: Mapping[str, str], secret: str) -> str:
    digest = hmac.new(
        (secret + "&").encode(), string_to_sign(method, params).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode()


# --- state -----------------------------------------------------------------------------------


@dataclass
class Rule:
    id: str
    direction: str  # ingress / egress
    protocol: str  # TCP UDP ICMP ALL (upper case, as the API answers)
    port_range: str  # "22/22", "-1/-1"
    cidr: str  # SourceCidrIp (ingress) or DestCidrIp (egress), v4 or v6
    policy: str  # Accept / Drop
    priority: int
    description: str = ""

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """What identifies a rule (the priority does not: a second rule that differs only by
        priority is "already there")."""
        return (self.direction, self.protocol, self.port_range, self.cidr, self.policy)

    def permission(self, group_id: str) -> dict[str, Any]:
        v6 = ":" in self.cidr
        ingress = self.direction == "ingress"
        return {
            "SecurityGroupRuleId": self.id,
            "Direction": self.direction,
            "IpProtocol": self.protocol,
            "PortRange": self.port_range,
            "SourcePortRange": "",
            "SourceCidrIp": self.cidr if ingress and not v6 else "",
            "Ipv6SourceCidrIp": self.cidr if ingress and v6 else "",
            "DestCidrIp": self.cidr if not ingress and not v6 else "",
            "Ipv6DestCidrIp": self.cidr if not ingress and v6 else "",
            "SourceGroupId": "",
            "DestGroupId": "",
            "Policy": self.policy,
            "Priority": self.priority,
            "NicType": "intranet",
            "Description": self.description,
            "CreateTime": _now_iso(),
        }


@dataclass
class Group:
    id: str
    name: str
    vpc_id: str
    description: str = ""
    rules: list[Rule] = field(default_factory=list)
    created: str = field(default_factory=_now_iso)


@dataclass
class Instance:
    id: str
    name: str
    vpc_id: str
    private_ip: str
    public_ip: str = ""
    eip: str = ""
    groups: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    status: str = "Running"
    zone: str = ""
    # (monotonic time, status) still to come: the transitions of a stop/start/reboot
    schedule: list[tuple[float, str]] = field(default_factory=list)
    last_stop: dict[str, str] = field(default_factory=dict)
    created: str = field(default_factory=_now_iso)


@dataclass
class Disk:
    id: str
    instance_id: str
    kind: str  # system / data
    size_gb: int
    device: str
    category: str = "cloud_essd"


@dataclass
class Snapshot:
    id: str
    disk_id: str
    name: str
    description: str
    started: float
    created: str = field(default_factory=_now_iso)
    failed: bool = False


@dataclass
class Invocation:
    id: str
    command_id: str
    instance_id: str
    script: str
    exit_code: int
    output: str
    started: float
    created: str = field(default_factory=_now_iso)


def _default_command(instance_id: str, script: str) -> tuple[int, str]:
    return 0, f"ran on {instance_id}\n"


class AliyunEmulator:
    """Use as a context manager; ``url`` is the endpoint to give the provider."""

    def __init__(
        self,
        *,
        region: str = "cn-hangzhou",
        keys: Mapping[str, str] | None = None,
        sts: Mapping[str, tuple[str, str]] | None = None,
        transition_s: float = 0.3,
        snapshot_s: float = 0.6,
        command_s: float = 0.2,
        hang_s: float = 3.0,
    ) -> None:
        self.region = region
        self.keys = dict(keys if keys is not None else {"LTAI5tEmulatorKeyId0001": "emu-secret"})
        self.sts = dict(sts or {})  # key id -> (secret, token)
        self.transition_s = transition_s
        self.snapshot_s = snapshot_s
        self.command_s = command_s
        self.hang_s = hang_s
        self.command_handler: CommandHandler = _default_command
        self.failing_disks: set[str] = set()  # snapshots of these disks end "failed"
        self.faults = Faults()
        self.calls: list[RecordedCall] = []
        self.instances: dict[str, Instance] = {}
        self.groups: dict[str, Group] = {}
        self.disks: dict[str, Disk] = {}
        self.snapshots: dict[str, Snapshot] = {}
        self.invocations: dict[str, Invocation] = {}
        self.vpcs: set[str] = set()
        self._nonces: set[str] = set()
        self._tokens: dict[tuple[str, str], tuple[dict[str, str], dict[str, Any]]] = {}
        self._lock = threading.RLock()
        self._server = LoopbackServer(self.handle)

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def key_id(self) -> str:
        return next(iter(self.keys))

    @property
    def secret(self) -> str:
        return self.keys[self.key_id]

    def __enter__(self) -> AliyunEmulator:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    # --- set-up ---------------------------------------------------------------------------

    def add_security_group(
        self,
        name: str,
        vpc_id: str = "vpc-emu1",
        rules: Sequence[tuple[str, str, str, str, str, int]] = (),
        description: str = "",
    ) -> str:
        """``rules``: (direction, protocol, port range, cidr, policy, priority)."""
        with self._lock:
            self.vpcs.add(vpc_id)
            group = Group(_rid("sg-"), name, vpc_id, description)
            for direction, proto, ports, cidr, policy, priority in rules:
                group.rules.append(
                    Rule(_rid("sgr-"), direction, proto.upper(), ports, cidr, policy, priority)
                )
            self.groups[group.id] = group
            return group.id

    def add_instance(
        self,
        name: str,
        *,
        vpc_id: str = "vpc-emu1",
        private_ip: str = "172.16.0.10",
        public_ip: str = "",
        eip: str = "",
        groups: Sequence[str] = (),
        data_disks: Sequence[int] = (),
        tags: Mapping[str, str] | None = None,
        status: str = "Running",
    ) -> str:
        with self._lock:
            self.vpcs.add(vpc_id)
            if not groups:
                groups = [self.add_security_group(f"{name}-sg", vpc_id)]
            inst = Instance(
                _rid("i-"),
                name,
                vpc_id,
                private_ip,
                public_ip,
                eip,
                list(groups),
                dict(tags or {}),
                status,
                zone=f"{self.region}-h",
            )
            self.instances[inst.id] = inst
            sizes = [("system", 40), *(("data", size) for size in data_disks)]
            for n, (kind, size) in enumerate(sizes):
                disk = Disk(_rid("d-"), inst.id, kind, size, f"/dev/xvd{'abcdefgh'[n]}")
                self.disks[disk.id] = disk
            return inst.id

    # --- fault injection ------------------------------------------------------------------

    def throttle(self, action: str, times: int = 1, code: str = "Throttling") -> None:
        message = (
            "Request was denied due to user flow control."
            if code == "Throttling.User"
            else "Request was denied due to request throttling."
        )
        self.faults.add(action, Fault("error", 400, code, message), times)

    def unavailable(self, action: str, times: int = 1, internal: bool = False) -> None:
        if internal:
            fault = Fault(
                "error",
                500,
                "InternalError",
                "The request processing has failed due to some unknown error.",
            )
        else:
            fault = Fault(
                "error",
                503,
                "ServiceUnavailable",
                "The request has failed due to a temporary failure of the server.",
            )
        self.faults.add(action, fault, times)

    def fail(
        self,
        action: str,
        code: str,
        message: str,
        status: int = 400,
        times: int = 1,
        *,
        skip: int = 0,
    ) -> None:
        self.faults.add(action, Fault("error", status, code, message), times, skip=skip)

    def hang(self, action: str, times: int = 1, *, after: bool = False) -> None:
        """The next calls hang (beyond any sensible client timeout); ``after``: the call is
        processed first, then the answer never comes in time."""
        self.faults.add(
            action, Fault("hang-after" if after else "hang", seconds=self.hang_s), times
        )

    # --- inspection -----------------------------------------------------------------------

    def calls_of(self, action: str) -> list[RecordedCall]:
        with self._lock:
            return [c for c in self.calls if c.action == action]

    def instance_status(self, instance_id: str) -> str:
        with self._lock:
            inst = self.instances[instance_id]
            self._settle(inst)
            return inst.status

    # --- HTTP -----------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        parsed = urllib.parse.urlsplit(path)
        params = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        if body and "x-www-form-urlencoded" in content_type:
            params.update(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        action = params.get("Action", "")
        fault: Fault | None = None
        try:
            if parsed.path != "/":
                raise ApiError(404, "InvalidAction.NotFound", "Specified api is not found.")
            self._authenticate(method, params)
            fault = self.faults.take(action)
            if fault is not None and fault.kind == "error":
                raise ApiError(fault.status, fault.code, fault.message)
            if fault is not None and fault.kind == "hang":
                # The request is lost: the client waits, gives up; nothing is done.
                self._server.pause(fault.seconds)
                raise ApiError(504, "(hung)", "The emulator let this call hang.")
            with self._lock:
                result = self._dispatch(action, params)
            status, answer, code = 200, {"RequestId": request_id(), **result}, ""
        except ApiError as exc:
            status, code = exc.status, exc.code
            answer = {
                "RequestId": request_id(),
                "HostId": HOST_ID,
                "Code": exc.code,
                "Message": exc.message,
                "Recommend": f"https://api.aliyun.com/troubleshoot?q={exc.code}&product=Ecs",
            }
        recorded = {k: v for k, v in params.items() if k != "Signature"}
        with self._lock:
            self.calls.append(RecordedCall(action, recorded, status, code))
        if fault is not None and fault.kind == "hang-after":
            self._server.pause(fault.seconds)
        body_out = json.dumps(answer).encode()
        return status, {"Content-Type": "application/json;charset=utf-8"}, body_out

    def _authenticate(self, method: str, params: Mapping[str, str]) -> None:
        required = ("AccessKeyId", "Signature", "SignatureMethod", "SignatureNonce", "Timestamp")
        if any(not params.get(name) for name in required):
            raise ApiError(
                400,
                "IncompleteSignature",
                "The request signature does not conform to Aliyun standards.",
            )
        key_id = params["AccessKeyId"]
        secret = self.keys.get(key_id)
        token = ""
        if secret is None and key_id in self.sts:
            secret, token = self.sts[key_id]
        if secret is None:
            raise ApiError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        if params["SignatureMethod"] != "HMAC-SHA1" or params.get("SignatureVersion") != "1.0":
            raise ApiError(
                400, "InvalidSignatureMethod", "Specified signature method is not supported."
            )
        unsigned = {k: v for k, v in params.items() if k != "Signature"}
        expected = sign(method, unsigned, secret)
        if not hmac.compare_digest(expected, params["Signature"]):
            raise ApiError(
                400,
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation. server string to "
                "sign is:" + string_to_sign(method, unsigned),
            )
        try:
            stamp = dt.datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            raise ApiError(
                400,
                "InvalidTimeStamp.Format",
                "Specified time stamp or date value is not well formatted.",
            ) from None
        skew = abs(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - stamp).total_seconds()
        if skew > MAX_SKEW_S:
            raise ApiError(
                400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
            )
        with self._lock:
            if params["SignatureNonce"] in self._nonces:
                raise ApiError(
                    400, "SignatureNonceUsed", "Specified signature nonce was used already."
                )
            self._nonces.add(params["SignatureNonce"])
        if token and params.get("SecurityToken") != token:
            raise ApiError(
                400, "InvalidSecurityToken.Mismatch", "Specified SecurityToken is not valid."
            )
        if not token and params.get("SecurityToken"):
            raise ApiError(
                400, "InvalidSecurityToken.Malformed", "Specified SecurityToken is malformed."
            )
        if params.get("Version") != VERSION:
            raise ApiError(400, "InvalidVersion", "Specified parameter Version is not valid.")
        if params.get("RegionId") != self.region:
            raise ApiError(
                400, "InvalidRegionId.NotFound", "The specified RegionId does not exist."
            )

    def _dispatch(self, action: str, params: Mapping[str, str]) -> dict[str, Any]:
        handler = getattr(self, f"_do_{action}", None)
        if handler is None:
            raise ApiError(
                404,
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
            )
        token = params.get("ClientToken", "")
        if not token:
            return dict(handler(params))
        fingerprint = {k: v for k, v in params.items() if k not in VOLATILE}
        previous = self._tokens.get((action, token))
        if previous is not None:
            if previous[0] != fingerprint:
                raise ApiError(
                    400,
                    "IdempotentParameterMismatch",
                    "The specified parameters are different from before.",
                )
            return dict(previous[1])
        result = dict(handler(params))
        self._tokens[(action, token)] = (fingerprint, result)
        return result

    # --- helpers --------------------------------------------------------------------------

    def _settle(self, inst: Instance) -> None:
        now = time.monotonic()
        while inst.schedule and inst.schedule[0][0] <= now:
            inst.status = inst.schedule.pop(0)[1]

    def _instance(self, params: Mapping[str, str], name: str = "InstanceId") -> Instance:
        instance_id = params.get(name, "")
        if not instance_id:
            raise ApiError(400, "MissingParameter", f"The input parameter {name} is mandatory.")
        inst = self.instances.get(instance_id)
        if inst is None:
            raise ApiError(
                404, "InvalidInstanceId.NotFound", "The specified InstanceId does not exist."
            )
        self._settle(inst)
        return inst

    def _group(self, group_id: str) -> Group:
        group = self.groups.get(group_id)
        if group is None:
            raise ApiError(
                404,
                "InvalidSecurityGroupId.NotFound",
                "The specified SecurityGroupId does not exist.",
            )
        return group

    @staticmethod
    def _json_list(params: Mapping[str, str], name: str) -> list[str] | None:
        raw = params.get(name)
        if raw is None or raw == "":
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ApiError(400, f"Invalid{name}.Malformed", f"Specified {name} is not valid.")
        return value

    @staticmethod
    def _repeat(params: Mapping[str, str], prefix: str) -> list[str]:
        out = []
        for n in range(1, 101):
            value = params.get(f"{prefix}.{n}")
            if value is None:
                break
            out.append(value)
        return out

    @staticmethod
    def _page(
        action: str, params: Mapping[str, str], items: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        default, limit = PAGE_LIMITS[action]
        try:
            number = int(params.get("PageNumber") or 1)
            size = int(params.get("PageSize") or default)
        except ValueError:
            raise ApiError(
                400, "InvalidParameter", "PageNumber or PageSize is not valid."
            ) from None
        if number < 1 or size < 1 or size > limit:
            raise ApiError(400, "InvalidParameter", "PageNumber or PageSize is not valid.")
        start = (number - 1) * size
        meta = {"TotalCount": len(items), "PageNumber": number, "PageSize": size}
        return items[start : start + size], meta

    @staticmethod
    def _bool(params: Mapping[str, str], name: str) -> bool:
        return params.get(name, "").lower() == "true"

    # --- instances ------------------------------------------------------------------------

    def _instance_json(self, inst: Instance) -> dict[str, Any]:
        self._settle(inst)
        data: dict[str, Any] = {
            "InstanceId": inst.id,
            "InstanceName": inst.name,
            "HostName": inst.name,
            "Status": inst.status,
            "RegionId": self.region,
            "ZoneId": inst.zone,
            "InstanceType": "ecs.g7.large",
            "OSName": "Ubuntu  22.04 64位",
            "OSType": "linux",
            "CreationTime": inst.created,
            "InstanceNetworkType": "vpc",
            "VpcAttributes": {
                "VpcId": inst.vpc_id,
                "VSwitchId": "vsw-emu1",
                "PrivateIpAddress": {"IpAddress": [inst.private_ip]},
                "NatIpAddress": "",
            },
            "InnerIpAddress": {"IpAddress": []},
            "PublicIpAddress": {"IpAddress": [inst.public_ip] if inst.public_ip else []},
            "EipAddress": {
                "IpAddress": inst.eip,
                "AllocationId": "eip-emu" if inst.eip else "",
                "InternetChargeType": "",
            },
            "SecurityGroupIds": {"SecurityGroupId": list(inst.groups)},
            "NetworkInterfaces": {
                "NetworkInterface": [
                    {
                        "NetworkInterfaceId": "eni-" + inst.id[2:],
                        "PrimaryIpAddress": inst.private_ip,
                        "Type": "Primary",
                    }
                ]
            },
        }
        if inst.tags:  # the real API leaves "Tags" out when there are none
            data["Tags"] = {"Tag": [{"TagKey": k, "TagValue": v} for k, v in inst.tags.items()]}
        return data

    def _do_DescribeInstances(self, params: Mapping[str, str]) -> dict[str, Any]:
        ids = self._json_list(params, "InstanceIds")
        if ids is not None and len(ids) > 100:
            raise ApiError(400, "InvalidInstanceIds.ValueNotSupported", "Too many InstanceIds.")
        chosen = [
            i
            for i in self.instances.values()
            if (ids is None or i.id in ids)
            and (not params.get("VpcId") or i.vpc_id == params["VpcId"])
            and (not params.get("SecurityGroupId") or params["SecurityGroupId"] in i.groups)
        ]
        page, meta = self._page(
            "DescribeInstances", params, [self._instance_json(i) for i in chosen]
        )
        return {"Instances": {"Instance": page}, **meta}

    def _power(self, inst: Instance, allowed: str, steps: Sequence[tuple[float, str]]) -> None:
        if inst.status != allowed or inst.schedule:
            raise ApiError(
                403,
                "IncorrectInstanceStatus",
                "The current status of the resource does not support this operation.",
            )
        now = time.monotonic()
        inst.status = steps[0][1]
        inst.schedule = [(now + fraction * self.transition_s, s) for fraction, s in steps[1:]]

    def _do_StopInstance(self, params: Mapping[str, str]) -> dict[str, Any]:
        inst = self._instance(params)
        self._power(inst, "Running", [(0, "Stopping"), (1, "Stopped")])
        inst.last_stop = {
            "ForceStop": params.get("ForceStop", ""),
            "StoppedMode": params.get("StoppedMode", ""),
        }
        return {}

    def _do_StartInstance(self, params: Mapping[str, str]) -> dict[str, Any]:
        inst = self._instance(params)
        self._power(inst, "Stopped", [(0, "Starting"), (1, "Running")])
        return {}

    def _do_RebootInstance(self, params: Mapping[str, str]) -> dict[str, Any]:
        inst = self._instance(params)
        self._power(inst, "Running", [(0, "Stopping"), (0.5, "Starting"), (1, "Running")])
        return {}

    def _do_ModifyInstanceAttribute(self, params: Mapping[str, str]) -> dict[str, Any]:
        inst = self._instance(params)
        group_ids = self._repeat(params, "SecurityGroupIds")
        if group_ids:
            if len(group_ids) > 5:
                raise ApiError(
                    400,
                    "InvalidSecurityGroupId.MaxLimitExceeded",
                    "An instance can be in at most 5 security groups.",
                )
            for gid in group_ids:
                if self._group(gid).vpc_id != inst.vpc_id:
                    raise ApiError(
                        400,
                        "InvalidSecurityGroupId.VpcMismatch",
                        "The specified security group and instance are not in the same VPC.",
                    )
            inst.groups = list(dict.fromkeys(group_ids))
        if params.get("InstanceName"):
            inst.name = params["InstanceName"]
        return {}

    # --- disks and snapshots --------------------------------------------------------------

    def _do_DescribeDisks(self, params: Mapping[str, str]) -> dict[str, Any]:
        ids = self._json_list(params, "DiskIds")
        chosen = [
            d
            for d in self.disks.values()
            if (ids is None or d.id in ids)
            and (not params.get("InstanceId") or d.instance_id == params["InstanceId"])
        ]
        items = [
            {
                "DiskId": d.id,
                "DiskName": "",
                "InstanceId": d.instance_id,
                "Type": d.kind,
                "Category": d.category,
                "Size": d.size_gb,
                "Device": d.device,
                "Status": "In_use",
                "RegionId": self.region,
                "Portable": d.kind == "data",
            }
            for d in chosen
        ]
        page, meta = self._page("DescribeDisks", params, items)
        return {"Disks": {"Disk": page}, **meta}

    def _do_CreateSnapshot(self, params: Mapping[str, str]) -> dict[str, Any]:
        disk = self.disks.get(params.get("DiskId", ""))
        if disk is None:
            raise ApiError(404, "InvalidDiskId.NotFound", "The specified disk does not exist.")
        name = params.get("SnapshotName", "")
        if name.startswith(("auto", "http://", "https://")) or (name and not name[0].isalpha()):
            raise ApiError(
                400, "InvalidSnapshotName.Malformed", "Specified snapshot name is not valid."
            )
        snap = Snapshot(
            _rid("s-"),
            disk.id,
            name,
            params.get("Description", ""),
            time.monotonic(),
            failed=disk.id in self.failing_disks,
        )
        self.snapshots[snap.id] = snap
        return {"SnapshotId": snap.id}

    def _snapshot_json(self, snap: Snapshot) -> dict[str, Any]:
        done = progress(snap.started, self.snapshot_s)
        if snap.failed and done >= 50:
            status = "failed"
        elif done >= 100:
            status = "accomplished"
        else:
            status = "progressing"
        disk = self.disks.get(snap.disk_id)
        return {
            "SnapshotId": snap.id,
            "SnapshotName": snap.name,
            "Description": snap.description,
            "SourceDiskId": snap.disk_id,
            "SourceDiskType": disk.kind if disk else "",
            "SourceDiskSize": str(disk.size_gb if disk else 0),
            "Progress": f"{min(done, 50) if snap.failed else done}%",
            "Status": status,
            "CreationTime": snap.created,
            "Usage": "none",
        }

    def _do_DescribeSnapshots(self, params: Mapping[str, str]) -> dict[str, Any]:
        ids = self._json_list(params, "SnapshotIds")
        disk_of = {d.id: d.instance_id for d in self.disks.values()}
        chosen = [
            s
            for s in self.snapshots.values()
            if (ids is None or s.id in ids)
            and (not params.get("DiskId") or s.disk_id == params["DiskId"])
            and (not params.get("InstanceId") or disk_of.get(s.disk_id) == params["InstanceId"])
        ]
        page, meta = self._page(
            "DescribeSnapshots", params, [self._snapshot_json(s) for s in chosen]
        )
        return {"Snapshots": {"Snapshot": page}, **meta}

    # --- security groups ------------------------------------------------------------------

    def _do_DescribeSecurityGroups(self, params: Mapping[str, str]) -> dict[str, Any]:
        ids = self._json_list(params, "SecurityGroupIds")
        chosen = [
            g
            for g in self.groups.values()
            if (ids is None or g.id in ids)
            and (not params.get("VpcId") or g.vpc_id == params["VpcId"])
            and (not params.get("SecurityGroupName") or g.name == params["SecurityGroupName"])
        ]
        items = [
            {
                "SecurityGroupId": g.id,
                "SecurityGroupName": g.name,
                "Description": g.description,
                "VpcId": g.vpc_id,
                "SecurityGroupType": "normal",
                "CreationTime": g.created,
                "ResourceGroupId": "",
                "ServiceManaged": False,
                "Tags": {"Tag": []},
            }
            for g in chosen
        ]
        page, meta = self._page("DescribeSecurityGroups", params, items)
        return {"SecurityGroups": {"SecurityGroup": page}, "RegionId": self.region, **meta}

    def _do_DescribeSecurityGroupAttribute(self, params: Mapping[str, str]) -> dict[str, Any]:
        group = self._group(params.get("SecurityGroupId", ""))
        direction = params.get("Direction") or "all"
        rules = [r for r in group.rules if direction == "all" or r.direction == direction]
        return {
            "SecurityGroupId": group.id,
            "SecurityGroupName": group.name,
            "Description": group.description,
            "VpcId": group.vpc_id,
            "RegionId": self.region,
            "InnerAccessPolicy": "Accept",
            "Permissions": {"Permission": [r.permission(group.id) for r in rules]},
        }

    def _do_CreateSecurityGroup(self, params: Mapping[str, str]) -> dict[str, Any]:
        vpc_id = params.get("VpcId", "")
        if vpc_id and vpc_id not in self.vpcs:
            raise ApiError(404, "InvalidVpcId.NotFound", "The specified VpcId does not exist.")
        name = params.get("SecurityGroupName", "")
        if name and (len(name) > 128 or name.startswith(("http://", "https://"))):
            raise ApiError(
                400, "InvalidSecurityGroupName.Malformed", "The security group name is not valid."
            )
        group = Group(_rid("sg-"), name, vpc_id, params.get("Description", ""))
        self.groups[group.id] = group
        return {"SecurityGroupId": group.id}

    def _permissions(self, params: Mapping[str, str], direction: str) -> list[dict[str, str]]:
        """The rules a call names: Permissions.N.* (or the old flat parameters)."""
        out = []
        for n in range(1, 101):
            prefix = f"Permissions.{n}."
            entry = {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}
            if not entry:
                break
            out.append(entry)
        if not out and params.get("IpProtocol"):
            out.append(dict(params))
        if not out:
            raise ApiError(400, "MissingParameter", "The input parameter Permissions is mandatory.")
        return out

    def _rule(self, entry: Mapping[str, str], direction: str) -> Rule:
        proto = entry.get("IpProtocol", "").upper()
        if proto not in ("TCP", "UDP", "ICMP", "GRE", "ALL", "ICMPV6"):
            raise ApiError(400, "InvalidIpProtocol.Malformed", "Specified IpProtocol is not valid.")
        ports = entry.get("PortRange", "")
        try:
            low, high = (int(p) for p in ports.split("/"))
        except ValueError:
            raise ApiError(
                400, "InvalidPortRange.Malformed", "Specified PortRange is not valid."
            ) from None
        tcp_udp = proto in ("TCP", "UDP")
        valid = 1 <= low <= high <= 65535 if tcp_udp else (low, high) == (-1, -1)
        if not valid:
            raise ApiError(400, "InvalidPortRange.Malformed", "Specified PortRange is not valid.")
        if direction == "ingress":
            cidr = entry.get("SourceCidrIp") or entry.get("Ipv6SourceCidrIp") or ""
        else:
            cidr = entry.get("DestCidrIp") or entry.get("Ipv6DestCidrIp") or ""
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ApiError(
                400, "InvalidCidrIp.Malformed", "Specified CidrIp is not valid."
            ) from None
        policy = (entry.get("Policy") or "accept").lower()
        if policy not in ("accept", "drop"):
            raise ApiError(400, "InvalidPolicy.Malformed", "Specified Policy is not valid.")
        try:
            priority = int(entry.get("Priority") or 1)
        except ValueError:
            priority = 0
        if not 1 <= priority <= 100:
            raise ApiError(400, "InvalidPriority.Malformed", "Specified Priority is not valid.")
        return Rule(
            _rid("sgr-"),
            direction,
            proto,
            ports,
            cidr,
            policy.capitalize(),
            priority,
            entry.get("Description", ""),
        )

    def _authorize(self, params: Mapping[str, str], direction: str) -> dict[str, Any]:
        group = self._group(params.get("SecurityGroupId", ""))
        for entry in self._permissions(params, direction):
            rule = self._rule(entry, direction)
            # An identical rule already there: the call succeeds and adds nothing.
            if all(r.key != rule.key for r in group.rules):
                group.rules.append(rule)
        return {}

    def _revoke(self, params: Mapping[str, str], direction: str) -> dict[str, Any]:
        group = self._group(params.get("SecurityGroupId", ""))
        rule_ids = self._repeat(params, "SecurityGroupRuleId")
        if rule_ids:
            for rule_id in rule_ids:
                if all(r.id != rule_id or r.direction != direction for r in group.rules):
                    raise ApiError(
                        404,
                        "InvalidSecurityGroupRule.RuleNotExist",
                        "The specified security group rule does not exist.",
                    )
            group.rules = [r for r in group.rules if r.id not in rule_ids]
            return {}
        keys = {self._rule(entry, direction).key for entry in self._permissions(params, direction)}
        group.rules = [r for r in group.rules if r.key not in keys]
        return {}

    def _do_AuthorizeSecurityGroup(self, params: Mapping[str, str]) -> dict[str, Any]:
        return self._authorize(params, "ingress")

    def _do_AuthorizeSecurityGroupEgress(self, params: Mapping[str, str]) -> dict[str, Any]:
        return self._authorize(params, "egress")

    def _do_RevokeSecurityGroup(self, params: Mapping[str, str]) -> dict[str, Any]:
        return self._revoke(params, "ingress")

    def _do_RevokeSecurityGroupEgress(self, params: Mapping[str, str]) -> dict[str, Any]:
        return self._revoke(params, "egress")

    # --- Cloud Assistant ------------------------------------------------------------------

    def _do_RunCommand(self, params: Mapping[str, str]) -> dict[str, Any]:
        if params.get("Type") not in ("RunShellScript", "RunPythonScript", "RunBatScript"):
            raise ApiError(
                400, "InvalidCommandType.Malformed", "Specified command type is not valid."
            )
        content = params.get("CommandContent", "")
        encoding = params.get("ContentEncoding") or "PlainText"
        if encoding == "Base64":
            try:
                content = base64.b64decode(content, validate=True).decode()
            except ValueError:
                raise ApiError(
                    400,
                    "InvalidCommandContent.Malformed",
                    "The CommandContent is not valid Base64.",
                ) from None
        if len(base64.b64encode(content.encode())) > COMMAND_LIMIT:
            raise ApiError(
                400,
                "InvalidCommandContent.LengthLimitExceeded",
                "The CommandContent exceeds the length limit (16 KB once Base64-encoded).",
            )
        ids = self._repeat(params, "InstanceId")
        if not ids:
            raise ApiError(400, "MissingParameter", "The input parameter InstanceId is mandatory.")
        command_id = _rid("c-")
        invoke_id = _rid("t-")
        for instance_id in ids:
            inst = self._instance({"InstanceId": instance_id})
            if inst.status != "Running":
                raise ApiError(
                    400,
                    "InstanceNotRunning",
                    "The specified instance is not running.",
                )
        for instance_id in ids:
            exit_code, output = self.command_handler(instance_id, content)
            self.invocations[f"{invoke_id}/{instance_id}"] = Invocation(
                invoke_id, command_id, instance_id, content, exit_code, output, time.monotonic()
            )
        return {"CommandId": command_id, "InvokeId": invoke_id}

    def _do_DescribeInvocationResults(self, params: Mapping[str, str]) -> dict[str, Any]:
        invoke_id = params.get("InvokeId", "")
        instance_id = params.get("InstanceId", "")
        plain = params.get("ContentEncoding") == "PlainText"
        items = []
        for inv in self.invocations.values():
            if (invoke_id and inv.id != invoke_id) or (
                instance_id and inv.instance_id != instance_id
            ):
                continue
            done = progress(inv.started, self.command_s) >= 100
            if not done:
                status, record, exit_code, output = "Running", "Running", None, ""
                dropped = 0
            else:
                status = "Success" if inv.exit_code == 0 else "Failed"
                record, exit_code = "Finished", inv.exit_code
                raw = inv.output.encode("utf-8", "replace")
                dropped = max(0, len(raw) - OUTPUT_LIMIT)
                output = raw[:OUTPUT_LIMIT].decode("utf-8", "replace")
            items.append(
                {
                    "CommandId": inv.command_id,
                    "InvokeId": inv.id,
                    "InstanceId": inv.instance_id,
                    "InvocationStatus": status,
                    "InvokeRecordStatus": record,
                    "ExitCode": exit_code,
                    "Output": output if plain else base64.b64encode(output.encode()).decode(),
                    "ErrorCode": "" if exit_code in (None, 0) else "CommandFailed",
                    "ErrorInfo": "",
                    "Dropped": dropped,
                    "StartTime": inv.created,
                    "FinishedTime": _now_iso() if done else "",
                    "Repeats": 1,
                }
            )
        page, meta = self._page("DescribeInvocationResults", params, items)
        return {"Invocation": {"InvocationResults": {"InvocationResult": page}, **meta}}
