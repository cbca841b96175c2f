"""A loopback emulator of the Tencent Cloud APIs sickbay uses, for the real SDK to talk to.

One HTTP server on 127.0.0.1 (a random port, in a thread) answers cvm (2017-03-12), vpc
(2017-03-12), cbs (2017-03-12) and tat (2020-10-28): the SDK is pointed at it with
``HttpProfile(endpoint="127.0.0.1:PORT", protocol="http")`` and every service hits the same
host. Requests are dispatched on the ``X-TC-Action`` header and the service named in the
credential scope of the ``Authorization`` header, as the real gateway does.

What is real about it:

- the **TC3-HMAC-SHA256 signature is verified** (canonical request with the signed headers,
  which must include ``content-type`` and ``host``; the credential scope ``date/service/
  tc3_request``; the timestamp's freshness; the session token);
- the **wire shapes**: always HTTP 200 with ``Content-Type: application/json`` exactly (the SDK
  only looks for an error with that type), ``{"Response": {..., "RequestId"}}`` or
  ``{"Response": {"Error": {"Code", "Message"}, "RequestId"}}``, with the real error codes
  (``AuthFailure.SignatureFailure``, ``AuthFailure.SecretIdNotFound``,
  ``RequestLimitExceeded``, ``InternalError``, ``InvalidInstanceId.NotFound``...);
- **state**: instances with their power state (transitions take ``transition_s``), security
  groups and their ordered policies (``PolicyIndex``, one direction per write, a ``Version``
  bumped on each change), disks, snapshots whose ``Percent`` advances over ``snapshot_s`` from
  ``CREATING`` to ``NORMAL``, TAT invocations (``Content`` base64 in, ``TaskResult.Output``
  base64 out, produced by :attr:`TencentEmulator.command_handler`); a ``ClientToken`` in a
  request body makes it idempotent (none of the APIs used here has one, but the gateway's
  behaviour is kept for those that do).

Faults on demand (``tests.cloud_emu.Faults``, shared with the Alibaba emulator): the next N
calls of an action are throttled (:meth:`TencentEmulator.throttle`, ``RequestLimitExceeded``),
fail (:meth:`TencentEmulator.fail`, ``InternalError`` or any code) or hang
(:meth:`TencentEmulator.hang`: lost, nothing done; or ``after=True``: done, but the answer comes
too late, as a request that timed out on the client may still have been carried out). Every call
received is recorded in :attr:`TencentEmulator.calls`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import hmac
import ipaddress
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.cloud_emu import Fault, Faults, LoopbackServer, progress

SERVICES = {"cvm": "2017-03-12", "vpc": "2017-03-12", "cbs": "2017-03-12", "tat": "2020-10-28"}
SECRET_ID = "AKIDsickbayEmulatorKey0000000000000000"
SECRET_KEY = "sickbay-emulator-secret-key-000000000"
MAX_SKEW_S = 300
OUTPUT_LIMIT = 24 * 1024  # TAT keeps the first 24 KB of output


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


@dataclass(frozen=True)
class Received:
    """One call the emulator received (after parsing), and what it answered."""

    service: str
    action: str
    region: str
    params: dict[str, Any]
    secret_id: str
    code: str  # "" for success, else the error code returned
    request_id: str
    at: float
    host: str


@dataclass
class EmuInstance:
    id: str
    name: str
    state: str = "RUNNING"
    zone: str = "ap-guangzhou-3"
    private_ips: list[str] = field(default_factory=list)
    public_ips: list[str] = field(default_factory=list)
    sg_ids: list[str] = field(default_factory=list)
    vpc_id: str = "vpc-emu00001"
    subnet_id: str = "subnet-emu00001"
    tags: list[tuple[str, str]] = field(default_factory=list)
    os_name: str = "TencentOS Server 3.1 (TK4)"
    instance_type: str = "S5.MEDIUM4"
    created: str = "2024-03-01T08:00:00Z"
    agent_online: bool = True
    pending: tuple[str, float] | None = None  # (state to reach, monotonic time)
    last_stop_type: str = ""
    latest_op: tuple[str, str] = ("", "")  # (operation, request id)


@dataclass
class EmuPolicy:
    protocol: str  # TCP UDP ICMP ALL
    port: str  # "22", "80,443", "1-65535", "ALL"
    cidr: str
    action: str  # ACCEPT DROP
    description: str = ""
    modified: str = ""

    def key(self) -> tuple[str, str, str, str]:
        return (self.protocol, self.port, self.cidr, self.action)


@dataclass
class EmuGroup:
    id: str
    name: str
    description: str = ""
    tags: list[tuple[str, str]] = field(default_factory=list)
    ingress: list[EmuPolicy] = field(default_factory=list)
    egress: list[EmuPolicy] = field(default_factory=list)
    version: int = 1
    created: str = "2024-03-01 08:00:00"
    is_default: bool = False


@dataclass
class EmuDisk:
    id: str
    instance_id: str
    usage: str  # SYSTEM_DISK DATA_DISK
    size: int
    kind: str = "CLOUD_PREMIUM"
    name: str = ""
    zone: str = "ap-guangzhou-3"
    state: str = "ATTACHED"


@dataclass
class EmuSnapshot:
    id: str
    disk_id: str
    name: str
    started: float  # monotonic
    created: str
    tags: list[tuple[str, str]] = field(default_factory=list)
    disk_size: int = 0
    disk_usage: str = "DATA_DISK"
    zone: str = ""


@dataclass
class EmuTask:
    id: str
    invocation_id: str
    command_id: str
    instance_id: str
    command_name: str
    content: str  # base64, as sent
    started: float
    created: str
    timeout: int
    exit_code: int = 0
    output: str = ""
    error_info: str = ""


@dataclass
class RegionState:
    instances: dict[str, EmuInstance] = field(default_factory=dict)
    groups: dict[str, EmuGroup] = field(default_factory=dict)
    disks: dict[str, EmuDisk] = field(default_factory=dict)
    snapshots: dict[str, EmuSnapshot] = field(default_factory=dict)
    tasks: dict[str, EmuTask] = field(default_factory=dict)


def _now_text(fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return dt.datetime.now(dt.timezone.utc).strftime(fmt)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def tc3_signature(
    secret_key: str, date: str, service: str, timestamp: str, canonical_request: str
) -> str:
    """TC3-HMAC-SHA256, computed independently of the SDK from Tencent's documentation."""
    scope = f"{date}/{service}/tc3_request"
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{digest}"
    key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), date), service), "tc3_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


_AUTH = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<id>[^/\s]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[a-z]+)"
    r"/tc3_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<sig>[0-9a-f]{64})$"
)


class TencentEmulator:
    """Start with :meth:`start` (or use as a context manager); point the SDK at
    :attr:`endpoint`. ``credentials`` maps secret ids to (secret key, session token or "")."""

    def __init__(
        self,
        *,
        region: str = "ap-guangzhou",
        regions: tuple[str, ...] = ("ap-shanghai",),
        credentials: Mapping[str, tuple[str, str]] | None = None,
        transition_s: float = 0.2,
        snapshot_s: float = 0.6,
        command_s: float = 0.2,
        hang_s: float = 3.0,
        seed: bool = True,
    ) -> None:
        self.region = region
        self.states: dict[str, RegionState] = {r: RegionState() for r in (region, *regions)}
        self.credentials = dict(credentials or {SECRET_ID: (SECRET_KEY, "")})
        self.transition_s, self.snapshot_s, self.command_s = transition_s, snapshot_s, command_s
        self.hang_s = hang_s
        self.calls: list[Received] = []
        self.command_handler: Callable[[str, str], tuple[int, str]] = lambda _i, _s: (0, "")
        self.faults = Faults()
        self.clock_skew_s = 0.0  # added to the emulator's idea of "now" (signature freshness)
        self._lock = threading.RLock()
        self._tokens: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._server = LoopbackServer(self._http)
        if seed:
            self.seed()

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def state(self) -> RegionState:
        return self.states[self.region]

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def endpoint(self) -> str:
        """What HttpProfile.endpoint takes: host:port, no scheme."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def secret_id(self) -> str:
        return next(iter(self.credentials))

    @property
    def secret_key(self) -> str:
        return self.credentials[self.secret_id][0]

    def start(self) -> TencentEmulator:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()  # also releases hanging calls

    def __enter__(self) -> TencentEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- test controls --------------------------------------------------------------------

    def throttle(self, action: str, times: int = 1, code: str = "RequestLimitExceeded") -> None:
        """The next ``times`` calls of ``action`` ("StopInstances") are refused as throttled."""
        message = "Your current request times exceeds the limit, please try again later."
        self.faults.add(action, Fault("error", 200, code, message), times)

    def fail(
        self,
        action: str,
        times: int = 1,
        code: str = "InternalError",
        message: str = "An internal error has occurred. Retry your request.",
    ) -> None:
        """The next calls fail with ``code`` (nothing done)."""
        self.faults.add(action, Fault("error", 200, code, message), times)

    def hang(
        self, action: str, times: int = 1, *, after: bool = False, seconds: float | None = None
    ) -> None:
        """The next calls hang (longer than the client waits): lost, nothing done; ``after``:
        carried out, but the answer comes too late."""
        wait = self.hang_s if seconds is None else seconds
        fault = Fault("hang-after", seconds=wait) if after else Fault("hang", seconds=wait)
        self.faults.add(action, fault, times)

    def actions(self, *, ok_only: bool = False) -> list[str]:
        """The calls received, as "service.Action" (for asserting what was done)."""
        with self._lock:
            return [f"{c.service}.{c.action}" for c in self.calls if not ok_only or not c.code]

    def calls_of(self, action: str) -> list[Received]:
        with self._lock:
            return [c for c in self.calls if c.action == action]

    def instance_state(self, instance_id: str) -> str:
        with self._lock:
            self._tick(self.state)
            return self.state.instances[instance_id].state

    def seed(self) -> None:
        """Two instances, two groups, their disks (the tests' default world)."""
        st = self.state
        st.groups["sg-web00001"] = EmuGroup(
            "sg-web00001",
            "web",
            "web servers",
            ingress=[
                EmuPolicy("TCP", "22", "0.0.0.0/0", "ACCEPT", "ssh"),
                EmuPolicy("TCP", "80,443", "0.0.0.0/0", "ACCEPT", "http"),
            ],
            egress=[EmuPolicy("ALL", "ALL", "0.0.0.0/0", "ACCEPT")],
        )
        st.groups["sg-db000001"] = EmuGroup(
            "sg-db000001",
            "db",
            "databases",
            ingress=[EmuPolicy("TCP", "5432", "10.0.0.0/16", "ACCEPT")],
            egress=[EmuPolicy("ALL", "ALL", "0.0.0.0/0", "ACCEPT")],
        )
        st.instances["ins-web00001"] = EmuInstance(
            "ins-web00001",
            "web-1",
            private_ips=["10.0.1.5"],
            public_ips=["203.0.113.10"],
            sg_ids=["sg-web00001"],
            tags=[("env", "prod"), ("role", "web")],
        )
        st.instances["ins-db000001"] = EmuInstance(
            "ins-db000001",
            "db-1",
            state="STOPPED",
            private_ips=["10.0.2.7"],
            sg_ids=["sg-db000001"],
            tags=[("env", "prod")],
            zone="ap-guangzhou-4",
        )
        for disk in (
            EmuDisk("disk-websys01", "ins-web00001", "SYSTEM_DISK", 50, name="web-1 system"),
            EmuDisk("disk-webdat01", "ins-web00001", "DATA_DISK", 200, name="web-1 data"),
            EmuDisk("disk-dbsys001", "ins-db000001", "SYSTEM_DISK", 50, zone="ap-guangzhou-4"),
        ):
            st.disks[disk.id] = disk

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):08x}"

    # --- the request path -----------------------------------------------------------------

    def _http(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        answer, fault = self.handle(method, path, {k.lower(): v for k, v in headers.items()}, body)
        if fault is not None and fault.kind == "hang-after":
            self._server.pause(fault.seconds)
        data = json.dumps(answer, ensure_ascii=False).encode()
        # Always 200, and exactly this type: the SDK looks for an error only then.
        return 200, {"Content-Type": "application/json"}, data

    def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[dict[str, Any], Fault | None]:
        """One request (header names in lower case) -> the {"Response": ...} object and the
        fault applied, if any. Never raises."""
        request_id = str(uuid.uuid4())
        service = action = region = secret_id = ""
        params: dict[str, Any] = {}
        code = ""
        fault: Fault | None = None
        action = headers.get("x-tc-action", "")
        region = headers.get("x-tc-region", "")
        scope = _AUTH.match(headers.get("authorization", ""))
        if scope is not None:
            service, secret_id = scope["service"], scope["id"]
        try:
            service, secret_id = self._authenticate(method, path, headers, body)
            try:
                parsed = json.loads(body or b"{}")
            except ValueError:
                raise ApiError("InvalidParameter", "the request body is not JSON") from None
            if not isinstance(parsed, dict):
                raise ApiError("InvalidParameter", "the request body is not a JSON object")
            params = parsed
            handler = self._handler(service, action, region)
            fault = self.faults.take(action)
            if fault is not None and fault.kind == "error":
                raise ApiError(fault.code, fault.message)
            if fault is not None and fault.kind == "hang":
                self._server.pause(fault.seconds)  # the request is lost: nothing is done
                raise ApiError("InternalError", "the request timed out inside the service")
            response = self._apply(handler, service, action, region, params, request_id)
        except ApiError as exc:
            code = exc.code
            response = {"Error": {"Code": exc.code, "Message": exc.message}}
        except Exception as exc:  # a bug in the emulator: still answer like the gateway
            code = "InternalError"
            response = {"Error": {"Code": "InternalError", "Message": f"emulator: {exc!r}"}}
        response["RequestId"] = request_id
        with self._lock:
            self.calls.append(
                Received(
                    service,
                    action,
                    region,
                    params,
                    secret_id,
                    code,
                    request_id,
                    time.time(),
                    headers.get("host", ""),
                )
            )
        return {"Response": response}, fault

    def _authenticate(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[str, str]:
        auth = headers.get("authorization", "")
        match = _AUTH.match(auth)
        if match is None:
            raise ApiError("AuthFailure.InvalidAuthorization", "Authorization header malformed")
        service, date, secret_id = match["service"], match["date"], match["id"]
        signed = match["signed"].split(";")
        if "content-type" not in signed or "host" not in signed:
            raise ApiError(
                "AuthFailure.InvalidAuthorization", "SignedHeaders must include content-type;host"
            )
        if service not in SERVICES:
            raise ApiError("AuthFailure.InvalidAuthorization", f"unknown service {service}")
        stamp = headers.get("x-tc-timestamp", "")
        if not stamp.isdigit():
            raise ApiError("AuthFailure.InvalidAuthorization", "X-TC-Timestamp missing")
        now = time.time() + self.clock_skew_s
        if abs(now - int(stamp)) > MAX_SKEW_S:
            raise ApiError("AuthFailure.SignatureExpire", "the request timestamp is too far off")
        stamp_date = dt.datetime.fromtimestamp(int(stamp), dt.timezone.utc).strftime("%Y-%m-%d")
        if stamp_date != date:
            raise ApiError("AuthFailure.SignatureFailure", "credential scope date mismatch")
        if secret_id not in self.credentials:
            raise ApiError("AuthFailure.SecretIdNotFound", "the SecretId is not found")
        secret_key, token = self.credentials[secret_id]
        canonical_headers = "".join(
            f"{name}:{headers.get(name, '').strip().lower()}\n" for name in signed
        )
        path_part, _, query = path.partition("?")
        payload = body
        if headers.get("x-tc-content-sha256") == "UNSIGNED-PAYLOAD":
            payload = b"UNSIGNED-PAYLOAD"
        canonical = "\n".join(
            (
                method,
                path_part,
                query,
                canonical_headers,
                match["signed"],
                hashlib.sha256(payload).hexdigest(),
            )
        )
        expected = tc3_signature(secret_key, date, service, stamp, canonical)
        if not hmac.compare_digest(expected, match["sig"]):
            raise ApiError("AuthFailure.SignatureFailure", "the signature does not match")
        if headers.get("host") != self.endpoint:
            raise ApiError("AuthFailure.SignatureFailure", "signed for another host")
        if headers.get("x-tc-token", "") != token:
            raise ApiError("AuthFailure.TokenFailure", "the session token is invalid")
        if method != "POST":
            raise ApiError("InvalidParameter", "only POST with a JSON body is emulated")
        if headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise ApiError("InvalidParameter", "Content-Type must be application/json")
        version = headers.get("x-tc-version", "")
        if version != SERVICES[service]:
            raise ApiError("InvalidAction", f"{service} has no version {version!r}")
        return service, secret_id

    def _handler(self, service: str, action: str, region: str) -> Callable[..., dict[str, Any]]:
        handler = getattr(self, f"_{service}_{action}", None)
        if handler is None:
            raise ApiError("InvalidAction", f"{service} has no action {action!r}")
        if not region:
            raise ApiError("MissingParameter", "X-TC-Region is required")
        if region not in self.states:
            raise ApiError("UnsupportedRegion", f"region {region} is not supported")
        return handler  # type: ignore[no-any-return]

    def _apply(
        self,
        handler: Callable[..., dict[str, Any]],
        service: str,
        action: str,
        region: str,
        params: dict[str, Any],
        request_id: str,
    ) -> dict[str, Any]:
        token = params.get("ClientToken")
        with self._lock:
            key = (service, action, str(token))
            if token and key in self._tokens:
                return copy.deepcopy(self._tokens[key])
            state = self.states[region]
            self._tick(state)
            result = handler(state, params, request_id)
            if token:
                self._tokens[key] = copy.deepcopy(result)
            return result

    def _tick(self, state: RegionState) -> None:
        now = time.monotonic()
        for inst in state.instances.values():
            if inst.pending is not None and now >= inst.pending[1]:
                inst.state, inst.pending = inst.pending[0], None

    # --- cvm ------------------------------------------------------------------------------

    def _instance(self, state: RegionState, instance_id: Any) -> EmuInstance:
        if not isinstance(instance_id, str) or not re.fullmatch(r"ins-[0-9a-z]{8}", instance_id):
            raise ApiError("InvalidInstanceId.Malformed", f"instance id {instance_id!r}")
        inst = state.instances.get(instance_id)
        if inst is None:
            raise ApiError("InvalidInstanceId.NotFound", f"instance {instance_id} not found")
        return inst

    def _instances_param(self, state: RegionState, params: dict[str, Any]) -> list[EmuInstance]:
        ids = _str_list(params, "InstanceIds", required=True, limit=100)
        return [self._instance(state, i) for i in ids]

    def _instance_json(self, state: RegionState, inst: EmuInstance) -> dict[str, Any]:
        disks = [d for d in state.disks.values() if d.instance_id == inst.id]
        system = next((d for d in disks if d.usage == "SYSTEM_DISK"), None)
        return {
            "Placement": {"Zone": inst.zone, "ProjectId": 0, "HostIds": None, "HostId": None},
            "InstanceId": inst.id,
            "InstanceType": inst.instance_type,
            "CPU": 2,
            "Memory": 4,
            "RestrictState": "NORMAL",
            "InstanceName": inst.name,
            "InstanceChargeType": "POSTPAID_BY_HOUR",
            "SystemDisk": None
            if system is None
            else {"DiskType": system.kind, "DiskId": system.id, "DiskSize": system.size},
            "DataDisks": [
                {
                    "DiskSize": d.size,
                    "DiskType": d.kind,
                    "DiskId": d.id,
                    "DeleteWithInstance": True,
                    "Encrypt": False,
                }
                for d in disks
                if d.usage == "DATA_DISK"
            ]
            or None,
            "PrivateIpAddresses": list(inst.private_ips),
            "PublicIpAddresses": list(inst.public_ips) or None,
            "InternetAccessible": {
                "InternetChargeType": "TRAFFIC_POSTPAID_BY_HOUR",
                "InternetMaxBandwidthOut": 10,
                "PublicIpAssigned": bool(inst.public_ips),
            },
            "VirtualPrivateCloud": {
                "VpcId": inst.vpc_id,
                "SubnetId": inst.subnet_id,
                "AsVpcGateway": False,
                "PrivateIpAddresses": None,
                "Ipv6AddressCount": None,
            },
            "ImageId": "img-emu00001",
            "RenewFlag": None,
            "CreatedTime": inst.created,
            "ExpiredTime": None,
            "OsName": inst.os_name,
            "SecurityGroupIds": list(inst.sg_ids),
            "LoginSettings": {"Password": None, "KeyIds": ["skey-emu00001"]},
            "InstanceState": inst.state,
            "Tags": [{"Key": k, "Value": v} for k, v in inst.tags],
            "StopChargingMode": "NOT_APPLICABLE",
            "Uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, inst.id)),
            "LatestOperation": inst.latest_op[0] or None,
            "LatestOperationState": "SUCCESS" if inst.latest_op[0] else None,
            "LatestOperationRequestId": inst.latest_op[1] or None,
            "IPv6Addresses": None,
            "CamRoleName": "",
            "HpcClusterId": "",
            "DisasterRecoverGroupId": "",
            "IsolatedSource": "NOTISOLATED",
            "DisableApiTermination": False,
            "DefaultLoginUser": "root",
            "DefaultLoginPort": 22,
        }

    def _cvm_DescribeInstances(
        self, state: RegionState, params: dict[str, Any], _rid: str
    ) -> dict[str, Any]:
        ids = _str_list(params, "InstanceIds", limit=100)
        filters = _filters(params)
        if ids and filters:
            raise ApiError(
                "InvalidParameter.InstanceIdsFilterConflict",
                "InstanceIds and Filters cannot be given together",
            )
        selected = list(state.instances.values())
        if ids:
            for i in ids:
                if not re.fullmatch(r"ins-[0-9a-z]{8}", i):
                    raise ApiError("InvalidInstanceId.Malformed", f"instance id {i!r}")
            selected = [state.instances[i] for i in ids if i in state.instances]
        for name, values in filters:
            selected = [i for i in selected if _instance_matches(i, name, values)]
        offset, limit = _page(params, default=20, maximum=100)
        return {
            "TotalCount": len(selected),
            "InstanceSet": [
                self._instance_json(state, i) for i in selected[offset : offset + limit]
            ],
        }

    def _cvm_DescribeInstancesStatus(
        self, state: RegionState, params: dict[str, Any], _rid: str
    ) -> dict[str, Any]:
        ids = _str_list(params, "InstanceIds", limit=100)
        selected = (
            [self._instance(state, i) for i in ids] if ids else list(state.instances.values())
        )
        offset, limit = _page(params, default=20, maximum=100)
        return {
            "TotalCount": len(selected),
            "InstanceStatusSet": [
                {"InstanceId": i.id, "InstanceState": i.state}
                for i in selected[offset : offset + limit]
            ],
        }

    def _power(
        self,
        state: RegionState,
        params: dict[str, Any],
        rid: str,
        op: str,
        need: str,
        transient: str,
        final: str,
    ) -> dict[str, Any]:
        instances = self._instances_param(state, params)
        for inst in instances:
            if inst.state != need:
                word = inst.state.capitalize()
                raise ApiError(
                    f"UnsupportedOperation.InstanceState{word}",
                    f"instance {inst.id} is {inst.state}: {op} is not possible",
                )
        for inst in instances:
            inst.state = transient
            inst.pending = (final, time.monotonic() + self.transition_s)
            inst.latest_op = (op, rid)
        return {}

    def _cvm_StopInstances(
        self, state: RegionState, params: dict[str, Any], rid: str
    ) -> dict[str, Any]:
        stop_type = params.get("StopType", "SOFT")
        if stop_type not in ("SOFT", "HARD", "SOFT_FIRST"):
            raise ApiError("InvalidParameterValue", f"StopType {stop_type!r}")
        mode = params.get("StoppedMode", "KEEP_CHARGING")
        if mode not in ("KEEP_CHARGING", "STOP_CHARGING"):
            raise ApiError("InvalidParameterValue", f"StoppedMode {mode!r}")
        result = self._power(state, params, rid, "StopInstances", "RUNNING", "STOPPING", "STOPPED")
        for inst in self._instances_param(state, params):
            inst.last_stop_type = "HARD" if params.get("ForceStop") is True else stop_type
        return result

    def _cvm_StartInstances(
        self, state: RegionState, params: dict[str, Any], rid: str
    ) -> dict[str, Any]:
        return self._power(state, params, rid, "StartInstances", "STOPPED", "STARTING", "RUNNING")

    def _cvm_RebootInstances(
        self, state: RegionState, params: dict[str, Any], rid: str
    ) -> dict[str, Any]:
        stop_type = params.get("StopType", "SOFT")
        if stop_type not in ("SOFT", "HARD", "SOFT_FIRST"):
            raise ApiError("InvalidParameterValue", f"StopType {stop_type!r}")
        return self._power(state, params, rid, "RebootInstances", "RUNNING", "REBOOTING", "RUNNING")

    def _group_ids(self, state: RegionState, params: dict[str, Any], name: str) -> list[str]:
        ids = _str_list(params, name, required=True, limit=100)
        for gid in ids:
            if not re.fullmatch(r"sg-[0-9a-z]{8}", gid):
                raise ApiError("InvalidSecurityGroupId.Malformed", f"security group id {gid!r}")
            if gid not in state.groups:
                raise ApiError("InvalidSecurityGroupId.NotFound", f"security group {gid} not found")
        return ids

    def _cvm_AssociateSecurityGroups(
        self, state: RegionState, params: dict[str, Any], rid: str
    ) -> dict[str, Any]:
        groups = self._group_ids(state, params, "SecurityGroupIds")
        for inst in self._instances_param(state, params):
            merged = inst.sg_ids + [g for g in groups if g not in inst.sg_ids]
            if len(merged) > 5:
                raise ApiError(
                    "LimitExceeded.AssociateUSGLimitExceeded", "at most 5 security groups"
                )
            inst.sg_ids = merged
            inst.latest_op = ("AssociateSecurityGroups", rid)
        return {}

    def _cvm_DisassociateSecurityGroups(
        self, state: RegionState, params: dict[str, Any], rid: str
    ) -> dict[str, Any]:
        groups = self._group_ids(state, params, "SecurityGroupIds")
        for inst in self._instances_param(state, params):
            missing = [g for g in groups if g not in inst.sg_ids]
            if missing:
                raise ApiError(
                    "InvalidParameterValue", f"{inst.id} is not associated with {missing[0]}"
                )
            inst.sg_ids = [g for g in inst.sg_ids if g not in groups]
            inst.latest_op = ("DisassociateSecurityGroups", rid)
        return {}

    def _cvm_ModifyInstancesAttribute(
        self, state: RegionState, params: dict[str, Any], rid: str
    ) -> dict[str, Any]:
        attrs = [
            k for k in ("InstanceName", "SecurityGroups", "HostName", "UserData") if k in params
        ]
        if len(attrs) != 1:
            raise ApiError("InvalidParameter", "exactly one attribute is modified per request")
        instances = self._instances_param(state, params)
        if attrs == ["SecurityGroups"]:
            groups = self._group_ids(state, params, "SecurityGroups")
            if len(groups) > 5:
                raise ApiError("LimitExceeded.AssociateUSGLimitExceeded", "at most 5 groups")
            for inst in instances:
                inst.sg_ids = list(dict.fromkeys(groups))
        elif attrs == ["InstanceName"]:
            for inst in instances:
                inst.name = str(params["InstanceName"])[:128]
        for inst in instances:
            inst.latest_op = ("ModifyInstancesAttribute", rid)
        return {}

    # --- vpc ------------------------------------------------------------------------------

    def _group(self, state: RegionState, group_id: Any) -> EmuGroup:
        if not isinstance(group_id, str) or not re.fullmatch(r"sg-[0-9a-z]{8}", group_id):
            raise ApiError("InvalidParameterValue.Malformed", f"security group id {group_id!r}")
        group = state.groups.get(group_id)
        if group is None:
            raise ApiError("ResourceNotFound", f"security group {group_id} not found")
        return group

    def _vpc_DescribeSecurityGroups(
        self, state: RegionState, params: dict[str, Any], _rid: str
    ) -> dict[str, Any]:
        ids = _str_list(params, "SecurityGroupIds", limit=100)
        filters = _filters(params)
        if ids and filters:
            raise ApiError("InvalidParameter.Coexist", "SecurityGroupIds and Filters")
        selected = [self._group(state, g) for g in ids] if ids else list(state.groups.values())
        for name, values in filters:
            selected = [g for g in selected if _group_matches(g, name, values)]
        offset, limit = _page(params, default=20, maximum=100, text=True)
        return {
            "TotalCount": len(selected),
            "SecurityGroupSet": [
                {
                    "SecurityGroupId": g.id,
                    "SecurityGroupName": g.name,
                    "SecurityGroupDesc": g.description,
                    "ProjectId": "0",
                    "IsDefault": g.is_default,
                    "CreatedTime": g.created,
                    "UpdateTime": g.created,
                    "TagSet": [{"Key": k, "Value": v} for k, v in g.tags],
                }
                for g in selected[offset : offset + limit]
            ],
        }

    def _vpc_DescribeSecurityGroupPolicies(
        self, state: RegionState, params: dict[str, Any], _rid: str
    ) -> dict[str, Any]:
        group = self._group(state, params.get("SecurityGroupId"))

        def policies(items: list[EmuPolicy]) -> list[dict[str, Any]]:
            return [
                {
                    "PolicyIndex": index,
                    "Protocol": p.protocol,
                    "Port": p.port,
                    "ServiceTemplate": {"ServiceId": "", "ServiceGroupId": ""},
                    "CidrBlock": p.cidr,
                    "Ipv6CidrBlock": "",
                    "SecurityGroupId": "",
                    "AddressTemplate": {"AddressId": "", "AddressGroupId": ""},
                    "Action": p.action,
                    "PolicyDescription": p.description,
                    "ModifyTime": p.modified or group.created,
                }
                for index, p in enumerate(items)
            ]

        return {
            "SecurityGroupPolicySet": {
                "Version": str(group.version),
                "Ingress": policies(group.ingress),
                "Egress": policies(group.egress),
                "PolicyStatistics": {
                    "IngressIPv4TotalCount": len(group.ingress),
                    "IngressIPv6TotalCount": 0,
                    "EgressIPv4TotalCount": len(group.egress),
                    "EgressIPv6TotalCount": 0,
                },
            }
        }

    def _vpc_CreateSecurityGroup(
        self, state: RegionState, params: dict[str, Any], _rid: str
    ) -> dict[str, Any]:
        name, desc = params.get("GroupName"), params.get("GroupDescription")
        if not isinstance(name, str) or not name or len(name) > 60:
            raise ApiError("InvalidParameterValue.Range", "GroupName: 1-60 characters")
        if not isinstance(desc, str) or not desc or len(desc) > 100:
            raise ApiError("InvalidParameterValue.Range", "GroupDescription: 1-100 characters")
        tags = _tags(params)
        group = EmuGroup(self.new_id("sg"), name, desc, tags=tags, created=_now_text())
        state.groups[group.id] = group
        return {
            "SecurityGroup": {
                "SecurityGroupId": group.id,
                "SecurityGroupName": group.name,
                "SecurityGroupDesc": group.description,
                "ProjectId": "0",
                "IsDefault": False,
                "CreatedTime": group.created,
                "TagSet": [{"Key": k, "Value": v} for k, v in tags],
            }
        }

    def _policy_set(
        self, group: EmuGroup, params: dict[str, Any]
    ) -> tuple[str, list[EmuPolicy], list[dict[str, Any]]]:
        pset = params.get("SecurityGroupPolicySet")
        if not isinstance(pset, dict):
            raise ApiError("MissingParameter", "SecurityGroupPolicySet is required")
        version = pset.get("Version")
        if version not in (None, "") and str(version) != str(group.version):
            raise ApiError("UnsupportedOperation.VersionMismatch", "the policy version is stale")
        ingress, egress = pset.get("Ingress") or [], pset.get("Egress") or []
        if not isinstance(ingress, list) or not isinstance(egress, list):
            raise ApiError("InvalidParameter", "Ingress and Egress are lists")
        if ingress and egress:
            raise ApiError(
                "InvalidParameter", "Ingress and Egress cannot be changed in one request"
            )
        if not ingress and not egress:
            raise ApiError("MissingParameter", "no policy given")
        if ingress:
            return "ingress", group.ingress, ingress
        return "egress", group.egress, egress

    def _vpc_CreateSecurityGroupPolicies(
        self, state: RegionState, params: dict[str, Any], _rid: str
    ) -> dict[str, Any]:
        group = self._group(state, params.get("SecurityGroupId"))
        _, existing, items = self._policy_set(group, params)
        new = [_policy(item) for item in items]
        indexes = {item.get("PolicyIndex") for item in items}
        if len(indexes) > 1:
            raise ApiError("InvalidParameter", "all PolicyIndex values of one request must agree")
        index = indexes.pop()
        for policy in new:
            if any(p.key() == policy.key() for p in existing):
                raise ApiError("UnsupportedOperation.DuplicatePolicy", "the policy already exists")
        if index is None:
            existing.extend(new)
        else:
            if not isinstance(index, int) or not 0 <= index <= len(existing):
                raise ApiError("InvalidParameterValue.Range", f"PolicyIndex {index!r}")
            existing[index:index] = new
        group.version += 1
        return {}

    def _vpc_DeleteSecurityGroupPolicies(
        self, state: RegionState, params: dict[str, Any], _rid: str
    ) -> dict[str, Any]:
        group = self._group(state, params.get("SecurityGroupId"))
        _, existing, items = self._policy_set(group, params)
        doomed: list[int] = []
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("PolicyIndex"), int):
                index = item["PolicyIndex"]
                if not 0 <= index < len(existing):
                    raise ApiError("ResourceNotFound", f"no policy at index {index}")
                doomed.append(index)
                continue
            wanted = _policy(item).key()
            found = [i for i, p in enumerate(existing) if p.key() == wanted]
            if not found:
                raise ApiError("ResourceNotFound", "no such policy in the group")
            doomed.append(found[0])
        for index in sorted(set(doomed), reverse=True):
            del existing[index]
        group.version += 1
        return {}

    # --- cbs ------------------------------------------------------------------------------

    def _cbs_DescribeDisks(
        self, state: RegionState, params: dict[str, Any], _rid: str
    ) -> dict[str, Any]:
        ids = _str_list(params, "DiskIds", limit=100)
        filters = _filters(params)
        if ids and filters:
            raise ApiError("InvalidParameterValue", "DiskIds and Filters cannot be given together")
        selected = [d for d in state.disks.values() if not ids or d.id in ids]
        for name, values in filters:
            if name == "instance-id":
                selected = [d for d in selected if d.instance_id in values]
            elif name == "disk-id":
                selected = [d for d in selected if d.id in values]
            elif name == "disk-usage":
                selected = [d for d in selected if d.usage in values]
            else:
                raise ApiError("InvalidFilter", f"unknown filter {name!r}")
        offset, limit = _page(params, default=20, maximum=100)
        return {
            "TotalCount": len(selected),
            "DiskSet": [
                {
                    "DiskId": d.id,
                    "DiskUsage": d.usage,
                    "DiskSize": d.size,
                    "DiskType": d.kind,
                    "DiskState": d.state,
                    "DiskName": d.name,
                    "InstanceId": d.instance_id,
                    "InstanceIdList": [d.instance_id],
                    "Attached": bool(d.instance_id),
                    "Placement": {"Zone": d.zone, "ProjectId": 0},
                    "DiskChargeType": "POSTPAID_BY_HOUR",
                    "Encrypt": False,
                    "Portable": d.usage == "DATA_DISK",
                    "SnapshotAbility": True,
                    "SnapshotCount": sum(1 for s in state.snapshots.values() if s.disk_id == d.id),
                    "DeleteWithInstance": True,
                    "CreateTime": "2024-03-01 08:00:00",
                    "Tags": [],
                }
                for d in selected[offset : offset + limit]
            ],
        }

    def _cbs_CreateSnapshot(
        self, state: RegionState, params: dict[str, Any], _rid: str
    ) -> dict[str, Any]:
        disk_id = params.get("DiskId")
        if not isinstance(disk_id, str) or disk_id not in state.disks:
            raise ApiError("ResourceNotFound.NotFound", f"disk {disk_id!r} not found")
        name = params.get("SnapshotName", "")
        if not isinstance(name, str) or len(name) > 60:
            raise ApiError("InvalidParameterValue", "SnapshotName: at most 60 characters")
        disk = state.disks[disk_id]
        snap = EmuSnapshot(
            self.new_id("snap"),
            disk_id,
            name or "未命名",
            time.monotonic(),
            _now_text(),
            tags=_tags(params),
            disk_size=disk.size,
            disk_usage=disk.usage,
            zone=disk.zone,
        )
        state.snapshots[snap.id] = snap
        return {"SnapshotId": snap.id}

    def _snapshot_json(self, snap: EmuSnapshot) -> dict[str, Any]:
        percent = progress(snap.started, self.snapshot_s)
        return {
            "SnapshotId": snap.id,
            "DiskId": snap.disk_id,
            "SnapshotName": snap.name,
            "SnapshotState": "NORMAL" if percent >= 100 else "CREATING",
            "Percent": percent,
            "CreateTime": snap.created,
            "DiskSize": snap.disk_size,
            "DiskUsage": snap.disk_usage,
            "Placement": {"Zone": snap.zone, "ProjectId": 0},
            "Encrypt": False,
            "IsPermanent": True,
            "SnapshotType": "PRIVATE_SNAPSHOT",
            "Tags": [{"Key": k, "Value": v} for k, v in snap.tags],
            "Images": [],
            "ImageCount": 0,
            "CopyingToRegions": [],
            "CopyFromRemote": False,
            "ShareReference": 0,
            "TimeStartShare": None,
            "IsLocked": False,
            "LatestModifyTime": snap.created,
            "SnapshotMode": "standard",
        }

    def _cbs_DescribeSnapshots(
        self, state: RegionState, params: dict[str, Any], _rid: str
    ) -> dict[str, Any]:
        ids = _str_list(params, "SnapshotIds", limit=100)
        filters = _filters(params)
        if ids and filters:
            raise ApiError("InvalidParameterValue", "SnapshotIds and Filters cannot both be given")
        selected = [s for s in state.snapshots.values() if not ids or s.id in ids]
        rendered = [self._snapshot_json(s) for s in selected]
        keys = {
            "snapshot-id": "SnapshotId",
            "snapshot-name": "SnapshotName",
            "snapshot-state": "SnapshotState",
            "disk-id": "DiskId",
            "disk-usage": "DiskUsage",
        }
        for name, values in filters:
            if name not in keys:
                raise ApiError("InvalidFilter", f"unknown filter {name!r}")
            if name == "disk-id" and len(values) > 10:
                raise ApiError("InvalidParameterValue", "disk-id: at most 10 values")
            rendered = [s for s in rendered if s[keys[name]] in values]
        offset, limit = _page(params, default=20, maximum=100)
        return {"TotalCount": len(rendered), "SnapshotSet": rendered[offset : offset + limit]}

    # --- tat ------------------------------------------------------------------------------

    def _tat_RunCommand(
        self, state: RegionState, params: dict[str, Any], _rid: str
    ) -> dict[str, Any]:
        content = params.get("Content")
        if not isinstance(content, str) or not content:
            raise ApiError("MissingParameter", "Content is required")
        try:
            script = base64.b64decode(content, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError("InvalidParameterValue.CommandContentInvalid", "not base64") from None
        if len(content) > 64 * 1024:
            raise ApiError("InvalidParameterValue.LengthExceeded", "Content: at most 64 KB")
        if params.get("CommandType", "SHELL") not in ("SHELL", "POWERSHELL", "BAT"):
            raise ApiError("InvalidParameterValue", "CommandType")
        timeout = params.get("Timeout", 60)
        if not isinstance(timeout, int) or not 1 <= timeout <= 86400:
            raise ApiError("InvalidParameterValue", "Timeout: 1-86400")
        instances = self._instances_param(state, params)
        for inst in instances:
            if inst.state != "RUNNING" or not inst.agent_online:
                raise ApiError(
                    "InvalidParameterValue.AgentNotOnline"
                    if inst.state == "RUNNING"
                    else "UnsupportedOperation.InstanceStateNotRunning",
                    f"the TAT agent of {inst.id} is not online",
                )
        command_id, invocation_id = self.new_id("cmd"), self.new_id("inv")
        for inst in instances:
            exit_code, output = self.command_handler(inst.id, script)
            task = EmuTask(
                self.new_id("invt"),
                invocation_id,
                command_id,
                inst.id,
                str(params.get("CommandName", "")),
                content,
                time.monotonic(),
                _now_text(),
                timeout,
                exit_code,
                output,
            )
            state.tasks[task.id] = task
        return {"CommandId": command_id, "InvocationId": invocation_id}

    def _task_json(self, task: EmuTask, hide_output: bool) -> dict[str, Any]:
        done = time.monotonic() - task.started >= self.command_s
        status = "SUCCESS" if task.exit_code == 0 else "FAILED"
        if not done:
            status = "RUNNING"
        raw = task.output.encode("utf-8", "replace")
        dropped = max(0, len(raw) - OUTPUT_LIMIT)
        result = {
            "ExitCode": task.exit_code if done else 0,
            "Output": ""
            if hide_output or not done
            else base64.b64encode(raw[:OUTPUT_LIMIT]).decode(),
            "ExecStartTime": task.created,
            "ExecEndTime": task.created if done else "",
            "Dropped": dropped if done else 0,
            "OutputUrl": "",
            "OutputUploadCOSErrorInfo": "",
        }
        return {
            "InvocationId": task.invocation_id,
            "InvocationTaskId": task.id,
            "CommandId": task.command_id,
            "TaskStatus": status,
            "InstanceId": task.instance_id,
            "TaskResult": result,
            "StartTime": task.created,
            "EndTime": task.created if done else "",
            "CreatedTime": task.created,
            "UpdatedTime": task.created,
            "ErrorInfo": task.error_info,
            "InvocationSource": "USER",
            "CommandName": task.command_name,
            "CommandDocument": {
                "Content": "" if hide_output else task.content,
                "CommandType": "SHELL",
                "Timeout": task.timeout,
                "WorkingDirectory": "",
                "Username": "root",
                "OutputCOSBucketUrl": "",
                "OutputCOSKeyPrefix": "",
            },
        }

    def _tat_DescribeInvocationTasks(
        self, state: RegionState, params: dict[str, Any], _rid: str
    ) -> dict[str, Any]:
        ids = _str_list(params, "InvocationTaskIds", limit=100)
        filters = _filters(params)
        if ids and filters:
            raise ApiError("InvalidParameter.ConflictParameter", "ids and Filters")
        selected = [t for t in state.tasks.values() if not ids or t.id in ids]
        attr = {
            "invocation-id": "invocation_id",
            "instance-id": "instance_id",
            "command-id": "command_id",
        }
        for name, values in filters:
            if name not in attr:
                raise ApiError("InvalidFilter", f"unknown filter {name!r}")
            selected = [t for t in selected if getattr(t, attr[name]) in values]
        hide = params.get("HideOutput", True)
        offset, limit = _page(params, default=20, maximum=100)
        return {
            "TotalCount": len(selected),
            "InvocationTaskSet": [
                self._task_json(t, bool(hide)) for t in selected[offset : offset + limit]
            ],
        }


# --- request helpers ------------------------------------------------------------------------


def _str_list(
    params: dict[str, Any], name: str, *, required: bool = False, limit: int = 100
) -> list[str]:
    value = params.get(name)
    if value is None:
        if required:
            raise ApiError("MissingParameter", f"{name} is required")
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError("InvalidParameter", f"{name} must be a list of strings")
    if required and not value:
        raise ApiError("MissingParameter", f"{name} is empty")
    if len(value) > limit:
        raise ApiError("InvalidParameterValue.LimitExceeded", f"{name}: at most {limit}")
    return value


def _filters(params: dict[str, Any]) -> list[tuple[str, list[str]]]:
    raw = params.get("Filters")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ApiError("InvalidParameter", "Filters must be a list")
    out = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("Name"), str):
            raise ApiError("InvalidParameter", "a filter needs Name and Values")
        values = item.get("Values")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ApiError("InvalidParameter", "filter Values must be strings")
        out.append((item["Name"], values))
    return out


def _page(
    params: dict[str, Any], *, default: int, maximum: int, text: bool = False
) -> tuple[int, int]:
    """Offset and Limit: Integers, or Strings (``text``) where the API says so (vpc)."""

    def number(name: str, fallback: int) -> int:
        value = params.get(name, str(fallback) if text else fallback)
        if text:
            if not isinstance(value, str) or not value.isdigit():
                raise ApiError("InvalidParameterValue", f"{name} must be a String of digits")
            return int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ApiError("InvalidParameterValue", f"{name} must be a non-negative Integer")
        return value

    offset, limit = number("Offset", 0), number("Limit", default)
    if limit > maximum:
        raise ApiError("InvalidParameterValue.LimitExceeded", f"Limit: at most {maximum}")
    return offset, limit


def _tags(params: dict[str, Any]) -> list[tuple[str, str]]:
    raw = params.get("Tags") or []
    if not isinstance(raw, list):
        raise ApiError("InvalidParameter", "Tags must be a list")
    out = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("Key"), str):
            raise ApiError("InvalidParameter", "a tag needs Key and Value")
        out.append((item["Key"], str(item.get("Value", ""))))
    return out


_PORT = re.compile(r"^(ALL|\d{1,5}(-\d{1,5})?(,\d{1,5})*)$")


def _policy(item: Any) -> EmuPolicy:
    if not isinstance(item, dict):
        raise ApiError("InvalidParameter", "a policy is an object")
    protocol = str(item.get("Protocol", "")).upper()
    if protocol not in ("TCP", "UDP", "ICMP", "ICMPV6", "ALL"):
        raise ApiError("InvalidParameterValue", f"Protocol {item.get('Protocol')!r}")
    port = str(item.get("Port", "ALL")).upper()
    if not _PORT.match(port):
        raise ApiError("InvalidParameterValue", f"Port {item.get('Port')!r}")
    if protocol in ("ICMP", "ICMPV6", "ALL") and port != "ALL":
        raise ApiError("InvalidParameterValue", f"Port must be ALL for {protocol}")
    cidr = item.get("CidrBlock")
    try:
        cidr = str(ipaddress.ip_network(str(cidr), strict=False))
    except ValueError:
        raise ApiError("InvalidParameterValue.Malformed", f"CidrBlock {cidr!r}") from None
    action = str(item.get("Action", "")).upper()
    if action not in ("ACCEPT", "DROP"):
        raise ApiError("InvalidParameterValue", f"Action {item.get('Action')!r}")
    description = item.get("PolicyDescription", "")
    if not isinstance(description, str) or len(description) > 100:
        raise ApiError("InvalidParameterValue.TooLong", "PolicyDescription: at most 100 characters")
    return EmuPolicy(protocol, port, cidr, action, description, _now_text())


def _instance_matches(inst: EmuInstance, name: str, values: list[str]) -> bool:
    if name.startswith("tag:"):
        return any(k == name[4:] and v in values for k, v in inst.tags)
    fields: dict[str, Callable[[], list[str]]] = {
        "instance-id": lambda: [inst.id],
        "instance-name": lambda: [inst.name],
        "zone": lambda: [inst.zone],
        "instance-state": lambda: [inst.state],
        "private-ip-address": lambda: inst.private_ips,
        "public-ip-address": lambda: inst.public_ips,
        "vpc-id": lambda: [inst.vpc_id],
        "security-group-id": lambda: inst.sg_ids,
        "tag-key": lambda: [k for k, _ in inst.tags],
        "tag-value": lambda: [v for _, v in inst.tags],
    }
    if name not in fields:
        raise ApiError("InvalidFilter", f"unknown filter {name!r}")
    return any(v in values for v in fields[name]())


def _group_matches(group: EmuGroup, name: str, values: list[str]) -> bool:
    if name.startswith("tag:"):
        return any(k == name[4:] and v in values for k, v in group.tags)
    if name == "security-group-id":
        return group.id in values
    if name == "security-group-name":
        return group.name in values
    if name == "tag-key":
        return any(k in values for k, _ in group.tags)
    raise ApiError("InvalidFilter", f"unknown filter {name!r}")
