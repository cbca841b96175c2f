"""Tencent Cloud: the real SDK (tencentcloud-sdk-python cvm/vpc/cbs/tat) against the loopback
emulator, through backends.cloud.tencent and the provider-neutral backends.cloud.actions.

The emulator verifies the TC3-HMAC-SHA256 signature of every request, so each passing call also
proves the wire (signed headers, credential scope, JSON body) is what the gateway accepts. A
guard refuses any connection or name lookup that is not loopback, for every test here.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.audit_log import AuditLog
from backends.cloud import actions
from backends.cloud.actions import Timing, quarantine_group_name
from backends.cloud.calls import RetryPolicy
from backends.cloud.credentials import CloudCredential
from backends.cloud.tencent import (
    TOKEN_TAG,
    TencentProvider,
    flatten,
    parse_endpoint,
    unflatten,
)
from domain.actions import ActionError, Outcome
from domain.cloud import CloudError
from tests.cloud_emu.tencent_emu import (
    SECRET_ID,
    SECRET_KEY,
    SERVICES,
    EmuInstance,
    TencentEmulator,
    tc3_signature,
)

REGION = "ap-guangzhou"
WEB, DB = "ins-web00001", "ins-db000001"
WEB_SG = "sg-web00001"
OPERATOR = "198.51.100.20"
FAST = Timing(poll_s=0.05, snapshot_timeout_s=10, power_timeout_s=10, command_grace_s=5)
QUICK_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)
# The SDK warns when a response has fields its models do not know: the emulator's shapes must
# be exactly the SDK's.
pytestmark = [
    pytest.mark.filterwarnings("error::UserWarning"),
    pytest.mark.usefixtures("loopback_only"),
]

# --- the loopback guard -----------------------------------------------------------------------


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def emu() -> Iterator[TencentEmulator]:
    with TencentEmulator(
        region=REGION, transition_s=0.2, snapshot_s=0.4, command_s=0.15, hang_s=3.0
    ) as e:
        yield e


def make_provider(emu: TencentEmulator, **kw: Any) -> TencentProvider:
    key_id = kw.pop("key_id", emu.secret_id)
    secret = kw.pop("secret", emu.secret_key)
    token = kw.pop("token", "")
    region = kw.pop("region", REGION)
    options: dict[str, Any] = {"endpoint": emu.url, "timeouts": (1.0, 1.0), "policy": QUICK_RETRY}
    options.update(kw)
    credential = CloudCredential("tencent", key_id, secret, token, source="test")
    return TencentProvider(credential, region, **options)


@pytest.fixture
def provider(emu: TencentEmulator) -> TencentProvider:
    return make_provider(emu)


def run(provider: TencentProvider, action: str, instance_id: str, **params: str) -> Any:
    plan = actions.plan(provider, action, instance_id, params)
    lines: list[str] = []
    result = actions.execute(provider, plan, lines.append, timing=FAST)
    return plan, result, lines


def policies(emu: TencentEmulator, group_id: str, direction: str) -> list[tuple[str, ...]]:
    group = emu.state.groups[group_id]
    items = group.ingress if direction == "ingress" else group.egress
    return [(p.protocol, p.port, p.cidr, p.action) for p in items]


# --- the guard and the network hygiene --------------------------------------------------------


def test_the_guard_refuses_other_addresses(loopback_only: list[Any]) -> None:
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("192.0.2.1", 80))
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("cvm.tencentcloudapi.com", 443)
    assert loopback_only == [("192.0.2.1", 80), "cvm.tencentcloudapi.com"]
    loopback_only.clear()


def test_the_guard_sees_the_sdks_sockets(
    loopback_only: list[Any], emu: TencentEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var)
    elsewhere = make_provider(
        emu, endpoint="https://192.0.2.1:8443", policy=RetryPolicy(attempts=1)
    )
    with pytest.raises(CloudError) as error:
        elsewhere.list_instances()
    assert error.value.code == "ClientNetworkError"
    # refused at the lookup (urllib3 resolves even a literal address) or at the connect
    assert loopback_only and loopback_only[0] in ("192.0.2.1", ("192.0.2.1", 8443))
    loopback_only.clear()


def test_endpoints_https_by_default_and_http_only_on_loopback(emu: TencentEmulator) -> None:
    assert parse_endpoint(None) == (None, "https", False)
    assert parse_endpoint("http://127.0.0.1:9000") == ("127.0.0.1:9000", "http", True)
    assert parse_endpoint("cvm.internal.example:8443") == (
        "cvm.internal.example:8443",
        "https",
        False,
    )
    for bad in ("http://cvm.tencentcloudapi.com", "ftp://127.0.0.1", "https://h/path", "http://"):
        with pytest.raises(ValueError):
            parse_endpoint(bad)
    production = make_provider(emu, endpoint=None)
    assert production.endpoint == "https://<service>.tencentcloudapi.com"
    client = production._client("cvm")  # built, not called: no traffic
    http = client.profile.httpProfile
    assert (http.scheme, http.endpoint, http.reqTimeout) == ("https", None, (1.0, 1.0))
    assert client.profile.disable_region_breaker is True  # never falls back to another endpoint
    assert client.profile.language == "en-US"
    assert emu.calls == []


_names = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_:", min_size=1, max_size=8)
_leaves = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
_params = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_names, inner, max_size=3),
    max_leaves=12,
)


@given(st.dictionaries(_names, _params, max_size=4))
def test_flatten_round_trips(params: dict[str, Any]) -> None:
    flat = flatten(params)
    assert unflatten(flat) == params
    assert all(not isinstance(v, (dict, list)) or not v for v in flat.values())


def test_flatten_is_tencents_dotted_notation() -> None:
    params = {
        "SecurityGroupId": "sg-1",
        "SecurityGroupPolicySet": {"Ingress": [{"Port": "22", "CidrBlock": "::/0"}]},
        "InstanceIds": ["ins-1", "ins-2"],
        "SecurityGroups": [],
    }
    assert flatten(params) == {
        "SecurityGroupId": "sg-1",
        "SecurityGroupPolicySet.Ingress.0.Port": "22",
        "SecurityGroupPolicySet.Ingress.0.CidrBlock": "::/0",
        "InstanceIds.0": "ins-1",
        "InstanceIds.1": "ins-2",
        "SecurityGroups": [],
    }


# --- reading ----------------------------------------------------------------------------------


def test_list_and_describe(emu: TencentEmulator, provider: TencentProvider) -> None:
    instances = {i.id: i for i in provider.list_instances()}
    assert set(instances) == {WEB, DB}
    web = instances[WEB]
    assert (web.provider, web.region, web.name, web.state, web.raw_state) == (
        "tencent",
        REGION,
        "web-1",
        "running",
        "RUNNING",
    )
    assert web.private_ips == ("10.0.1.5",) and web.public_ips == ("203.0.113.10",)
    assert web.security_group_ids == (WEB_SG,) and web.vpc_id == "vpc-emu00001"
    assert web.zone == "ap-guangzhou-3" and web.tags == (("env", "prod"), ("role", "web"))
    assert instances[DB].state == "stopped" and instances[DB].public_ips == ()
    assert provider.instance(DB).zone == "ap-guangzhou-4"

    (group,) = provider.security_groups([WEB_SG])
    assert (group.id, group.name, group.description) == (WEB_SG, "web", "web servers")
    assert [
        (r.direction, r.policy, r.protocol, r.ports, r.cidr, r.priority) for r in group.rules
    ] == [
        ("ingress", "accept", "tcp", "22", "0.0.0.0/0", 1),
        ("ingress", "accept", "tcp", "80,443", "0.0.0.0/0", 2),
        ("egress", "accept", "all", "all", "0.0.0.0/0", 1),
    ]
    disks = provider.disks(WEB)
    assert [(d.id, d.kind, d.size_gb, d.category) for d in disks] == [
        ("disk-websys01", "system", 50, "CLOUD_PREMIUM"),
        ("disk-webdat01", "data", 200, "CLOUD_PREMIUM"),
    ]
    assert provider.snapshots([d.id for d in disks]) == []
    # every call is recorded with the gateway's request id, and the emulator saw the same
    records = provider.calls()
    assert [r.request_id for r in records] == [c.request_id for c in emu.calls]
    assert all(r.ok and r.attempts == 1 for r in records)
    assert {c.service for c in emu.calls} == {"cvm", "vpc", "cbs"}
    assert {c.host for c in emu.calls} == {emu.endpoint}


def test_unknown_and_malformed_instances(emu: TencentEmulator, provider: TencentProvider) -> None:
    with pytest.raises(CloudError) as missing:
        provider.instance("ins-00000000")
    assert missing.value.code == "InvalidInstanceId.NotFound"
    with pytest.raises(CloudError) as malformed:
        provider.instance("i-not-tencent")
    assert malformed.value.code == "InvalidInstanceId.Malformed"
    assert malformed.value.request_id == emu.calls[-1].request_id
    assert len(emu.calls_of("DescribeInstances")) == 2  # a final error is not retried


def test_paging_reads_every_page(emu: TencentEmulator, provider: TencentProvider) -> None:
    for n in range(150):
        emu.state.instances[f"ins-p{n:07d}"] = EmuInstance(f"ins-p{n:07d}", f"pool-{n}")
    assert len(provider.list_instances()) == 152
    assert [(c.params["Offset"], c.params["Limit"]) for c in emu.calls_of("DescribeInstances")] == [
        (0, 100),
        (100, 100),
    ]


# --- credentials and signatures ---------------------------------------------------------------


def test_wrong_secret_is_refused_and_not_retried(emu: TencentEmulator) -> None:
    wrong = make_provider(emu, secret="not-the-secret-key")
    with pytest.raises(CloudError) as error:
        wrong.list_instances()
    assert error.value.code == "AuthFailure.SignatureFailure"
    assert len(emu.calls) == 1 and wrong.calls()[-1].attempts == 1
    unknown = make_provider(emu, key_id="AKIDnobodyKnowsThisKey0000")
    with pytest.raises(CloudError) as error:
        unknown.list_instances()
    assert error.value.code == "AuthFailure.SecretIdNotFound"
    assert "not-the-secret-key" not in str(error.value)


def test_session_token_is_signed_and_checked() -> None:
    creds = {"AKIDtemporaryStsKey000001": ("sts-secret", "sts-session-token")}
    with TencentEmulator(region=REGION, credentials=creds) as emu:
        good = make_provider(emu, token="sts-session-token")
        assert len(good.list_instances()) == 2
        assert emu.calls[-1].secret_id == "AKIDtemporaryStsKey000001"
        with pytest.raises(CloudError) as error:
            make_provider(emu, token="").list_instances()
        assert error.value.code == "AuthFailure.TokenFailure"


def test_a_stale_timestamp_is_refused(emu: TencentEmulator, provider: TencentProvider) -> None:
    emu.clock_skew_s = 600  # the gateway's clock is 10 minutes ahead of ours
    with pytest.raises(CloudError) as error:
        provider.list_instances()
    assert error.value.code == "AuthFailure.SignatureExpire"


def _signed_request(
    emu: TencentEmulator,
    body: bytes,
    signed_body: bytes,
    service: str = "cvm",
    action: str = "DescribeInstances",
) -> dict[str, Any]:
    """A request signed with the emulator's own TC3 code (independent of the SDK)."""
    stamp = str(int(time.time()))
    date = dt.datetime.fromtimestamp(int(stamp), dt.timezone.utc).strftime("%Y-%m-%d")
    canonical = (
        f"POST\n/\n\ncontent-type:application/json\nhost:{emu.endpoint}\n\n"
        f"content-type;host\n{hashlib.sha256(signed_body).hexdigest()}"
    )
    signature = tc3_signature(SECRET_KEY, date, service, stamp, canonical)
    request = urllib.request.Request(
        emu.url + "/",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Host": emu.endpoint,
            "X-TC-Action": action,
            "X-TC-Version": SERVICES[service],
            "X-TC-Region": REGION,
            "X-TC-Timestamp": stamp,
            "Authorization": (
                f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{date}/{service}/tc3_request, "
                f"SignedHeaders=content-type;host, Signature={signature}"
            ),
        },
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        return dict(json.load(response)["Response"])


def test_signature_covers_the_body(emu: TencentEmulator) -> None:
    body = b'{"InstanceIds": ["ins-web00001"]}'
    ok = _signed_request(emu, body, body)
    assert ok["TotalCount"] == 1 and "RequestId" in ok
    tampered = _signed_request(emu, b'{"InstanceIds": ["ins-db000001"]}', body)
    assert tampered["Error"]["Code"] == "AuthFailure.SignatureFailure"
    assert "InstanceSet" not in tampered


def test_a_client_token_makes_a_request_idempotent(emu: TencentEmulator) -> None:
    body = json.dumps(
        {"Content": "aWQ=", "InstanceIds": [WEB], "ClientToken": "same-token"}
    ).encode()
    first = _signed_request(emu, body, body, "tat", "RunCommand")
    again = _signed_request(emu, body, body, "tat", "RunCommand")
    assert first["InvocationId"] == again["InvocationId"]
    assert first["RequestId"] != again["RequestId"]
    assert len(emu.state.tasks) == 1


# --- retries and the CallRunner -------------------------------------------------------------


def test_a_throttled_call_is_retried(emu: TencentEmulator, provider: TencentProvider) -> None:
    emu.throttle("DescribeInstances", times=2)
    assert len(provider.list_instances()) == 2
    assert [c.code for c in emu.calls_of("DescribeInstances")] == [
        "RequestLimitExceeded",
        "RequestLimitExceeded",
        "",
    ]
    (record,) = provider.calls()
    assert record.ok and record.attempts == 3
    assert record.request_id == emu.calls[-1].request_id


def test_internal_errors_are_retried_then_given_up(
    emu: TencentEmulator, provider: TencentProvider
) -> None:
    emu.fail("DescribeDisks", times=QUICK_RETRY.attempts)
    with pytest.raises(CloudError) as error:
        provider.disks(WEB)
    assert error.value.code == "InternalError"
    assert len(emu.calls_of("DescribeDisks")) == QUICK_RETRY.attempts
    record = provider.calls()[-1]
    assert not record.ok and record.attempts == 4 and record.error.startswith("InternalError")
    emu.fail("DescribeDisks", times=1, code="InvalidParameterValue", message="no")
    with pytest.raises(CloudError):
        provider.disks(WEB)
    assert len(emu.calls_of("DescribeDisks")) == QUICK_RETRY.attempts + 1  # final: once


def test_a_hang_hits_the_read_timeout_and_is_retried(
    emu: TencentEmulator, provider: TencentProvider
) -> None:
    emu.hang("DescribeInstances", seconds=3.0)
    started = time.monotonic()
    assert len(provider.list_instances()) == 2
    assert time.monotonic() - started < 2.9  # the client gave up after its 1 s read timeout
    (record,) = provider.calls()
    assert record.attempts == 2


def test_run_command_is_not_repeated_after_an_ambiguous_failure(
    emu: TencentEmulator, provider: TencentProvider
) -> None:
    emu.hang("RunCommand", after=True, seconds=2.0)  # it ran; the answer comes too late
    with pytest.raises(CloudError) as error:
        provider.run_command(WEB, "id", 30, "tok-1")
    assert error.value.code == "ClientNetworkError"
    assert len(emu.calls_of("RunCommand")) == 1 and len(emu.state.tasks) == 1
    emu.throttle("RunCommand")  # a refusal: nothing ran, so it is retried
    invocation, request_id = provider.run_command(WEB, "id", 30, "tok-2")
    assert invocation.startswith("inv-") and request_id
    assert len(emu.state.tasks) == 2


def test_a_snapshot_whose_answer_was_lost_is_found_not_made_twice(
    emu: TencentEmulator, provider: TencentProvider
) -> None:
    emu.hang("CreateSnapshot", after=True, seconds=2.0)
    snapshot_id, _ = provider.create_snapshot("disk-webdat01", "evidence-1", "tok-snap")
    assert list(emu.state.snapshots) == [snapshot_id]
    assert emu.state.snapshots[snapshot_id].tags == [(TOKEN_TAG, "tok-snap")]
    assert len(emu.calls_of("CreateSnapshot")) == 1
    assert emu.actions()[-1] == "cbs.DescribeSnapshots"  # looked, found it, did not resend


def test_a_power_call_whose_answer_was_lost_is_verified_by_state(
    emu: TencentEmulator, provider: TencentProvider
) -> None:
    emu.hang("StopInstances", after=True, seconds=2.0)
    provider.power(WEB, "stop", "tok-stop")
    assert len(emu.calls_of("StopInstances")) == 1
    assert emu.instance_state(WEB) in ("STOPPING", "STOPPED")


# --- actions (backends.cloud.actions) -------------------------------------------------------


def test_snapshot_every_disk(emu: TencentEmulator, provider: TencentProvider) -> None:
    plan, result, lines = run(provider, "snapshot", WEB)
    assert [s.exact.split(" [")[0] for s in plan.steps] == ["cbs.CreateSnapshot"] * 2
    assert "DiskId=disk-websys01" in plan.steps[0].exact
    assert "<idempotency token>" in plan.steps[0].exact  # the token is made at execution
    assert result.outcome == Outcome.DONE, result
    assert len(emu.state.snapshots) == 2
    snaps = provider.snapshots(["disk-websys01", "disk-webdat01"])
    assert {(s.disk_id, s.status, s.progress) for s in snaps} == {
        ("disk-websys01", "accomplished", 100),
        ("disk-webdat01", "accomplished", 100),
    }
    assert any("progressing" in line for line in lines)
    assert len(result.request_ids) == 2


def test_isolate_then_unisolate(
    emu: TencentEmulator, provider: TencentProvider, tmp_path: Path
) -> None:
    plan = actions.plan(provider, "isolate", WEB, {"operator": OPERATOR})
    assert emu.actions(ok_only=True) == emu.actions()
    assert all(".Describe" in a for a in emu.actions())  # planning only reads
    name = quarantine_group_name(WEB)
    assert plan.steps[0].exact.startswith(f"vpc.CreateSecurityGroup [{REGION}] GroupName={name}")
    assert plan.steps[-1].exact == (
        f"cvm.ModifyInstancesAttribute [{REGION}] InstanceIds.0={WEB} "
        f"SecurityGroups.0={actions.NEW_GROUP}"
    )
    assert plan.undo == ("unisolate", {"instance_id": WEB, "groups": WEB_SG})

    result = actions.execute(provider, plan, timing=FAST)
    assert result.outcome == Outcome.DONE, result
    gid = result.details["quarantine_group"]
    assert emu.state.instances[WEB].sg_ids == [gid]
    assert emu.state.groups[gid].name == name
    # first match wins on Tencent: SSH from the operator before the drop-all
    assert policies(emu, gid, "ingress") == [
        ("TCP", "22", f"{OPERATOR}/32", "ACCEPT"),
        ("ALL", "ALL", "0.0.0.0/0", "DROP"),
    ]
    assert policies(emu, gid, "egress") == [("ALL", "ALL", "0.0.0.0/0", "DROP")]
    assert len(result.request_ids) == 5  # the group, three rules, the switch
    # what the plan and the records show is literally what reached the API
    received = {c.request_id: c.params for c in emu.calls}
    for record in provider.calls():
        assert unflatten(record.call.params) == received[record.request_id], record.call
    assert emu.state.instances[DB].sg_ids == ["sg-db000001"]
    log = AuditLog(tmp_path / "audit.jsonl")
    entry = log.record_action(plan, result)
    assert entry["outcome"] == "done" and entry["request_ids"] == list(result.request_ids)
    assert log.verify().ok

    with pytest.raises(ActionError, match="already isolated"):
        actions.plan(provider, "isolate", WEB, {"operator": OPERATOR})
    assert result.undo is not None
    undo_action, undo_params = result.undo
    back = actions.plan(provider, undo_action, WEB, dict(undo_params))
    restored = actions.execute(provider, back, timing=FAST)
    assert restored.outcome == Outcome.DONE, restored
    assert emu.state.instances[WEB].sg_ids == [WEB_SG]

    # isolating again finds the instance's quarantine group by name: no second group
    again = actions.plan(provider, "isolate", WEB, {"operator": OPERATOR})
    assert not any("CreateSecurityGroup" in s.exact for s in again.steps)
    assert actions.execute(provider, again, timing=FAST).outcome == Outcome.DONE
    assert len(emu.calls_of("CreateSecurityGroup")) == 1
    assert emu.state.instances[WEB].sg_ids == [gid]


def test_isolate_failing_at_the_switch_leaves_the_original_groups(
    emu: TencentEmulator, provider: TencentProvider
) -> None:
    plan = actions.plan(provider, "isolate", WEB, {"operator": OPERATOR})
    emu.fail("ModifyInstancesAttribute", times=QUICK_RETRY.attempts)
    result = actions.execute(provider, plan, timing=FAST)
    assert result.outcome == Outcome.FAILED
    assert "InternalError" in result.summary
    assert emu.state.instances[WEB].sg_ids == [WEB_SG]
    assert "still in its original groups" in result.state
    gid = result.details["quarantine_group"]
    assert f"quarantine group {gid} left in place" in result.state
    assert len(emu.calls_of("ModifyInstancesAttribute")) == QUICK_RETRY.attempts
    assert result.details["api_errors"]


def test_isolate_failing_while_preparing_never_touches_the_instance(
    emu: TencentEmulator, provider: TencentProvider
) -> None:
    plan = actions.plan(provider, "isolate", WEB, {"operator": OPERATOR})
    emu.fail("CreateSecurityGroupPolicies", times=1, code="LimitExceeded", message="quota")
    result = actions.execute(provider, plan, timing=FAST)
    assert result.outcome == Outcome.FAILED
    assert "LimitExceeded" in result.summary
    assert "was not touched" in result.state
    assert emu.calls_of("ModifyInstancesAttribute") == []
    assert emu.state.instances[WEB].sg_ids == [WEB_SG]


def test_block_and_unblock(emu: TencentEmulator, provider: TencentProvider) -> None:
    attacker = "192.0.2.66"
    plan, result, _ = run(provider, "block", WEB, cidr=attacker)
    assert result.outcome == Outcome.DONE, result
    assert all("CreateSecurityGroupPolicies" in s.exact for s in plan.steps)
    # first in the group (before its own accept rules), and shown in full
    assert all(".0.PolicyIndex=0 " in s.exact for s in plan.steps)
    assert all(f"CidrBlock={attacker}/32 " in s.exact for s in plan.steps)
    assert policies(emu, WEB_SG, "ingress")[0] == ("ALL", "ALL", f"{attacker}/32", "DROP")
    assert policies(emu, WEB_SG, "egress")[0] == ("ALL", "ALL", f"{attacker}/32", "DROP")
    assert len(policies(emu, WEB_SG, "ingress")) == 3
    assert result.undo is not None
    undo_action, undo_params = result.undo
    assert undo_action == "unblock" and undo_params["instance_id"] == WEB
    back = actions.plan(provider, undo_action, WEB, dict(undo_params))
    unblocked = actions.execute(provider, back, timing=FAST)
    assert unblocked.outcome == Outcome.DONE, unblocked
    assert policies(emu, WEB_SG, "ingress") == [
        ("TCP", "22", "0.0.0.0/0", "ACCEPT"),
        ("TCP", "80,443", "0.0.0.0/0", "ACCEPT"),
    ]
    assert policies(emu, WEB_SG, "egress") == [("ALL", "ALL", "0.0.0.0/0", "ACCEPT")]


def test_stop_start_reboot_force_stop(emu: TencentEmulator, provider: TencentProvider) -> None:
    plan, result, _ = run(provider, "stop", WEB)
    assert plan.steps[0].exact == (
        f"cvm.StopInstances [{REGION}] InstanceIds.0={WEB} StopType=SOFT StoppedMode=KEEP_CHARGING"
    )
    assert result.outcome == Outcome.DONE, result
    assert emu.state.instances[WEB].last_stop_type == "SOFT"
    assert result.details["states"][-1] == "stopped"
    _, started, _ = run(provider, "start", WEB)
    assert started.outcome == Outcome.DONE and emu.instance_state(WEB) == "RUNNING"
    _, rebooted, _ = run(provider, "reboot", WEB)
    assert rebooted.outcome == Outcome.DONE, rebooted
    assert "rebooting" in rebooted.details["states"]
    _, forced, _ = run(provider, "force-stop", WEB)
    assert forced.outcome == Outcome.DONE
    assert emu.state.instances[WEB].last_stop_type == "HARD"
    with pytest.raises(ActionError):
        actions.plan(provider, "stop", DB, {})  # already stopped


def test_run_command_returns_the_output(emu: TencentEmulator, provider: TencentProvider) -> None:
    script = "cat /proc/1/comm\nls -la /tmp\n"
    emu.command_handler = lambda instance, text: (0, f"systemd\n\x1b[31mred\x1b[0m {instance}\n")
    plan, result, _ = run(provider, "run-command", WEB, script=script, timeout="30")
    assert result.outcome == Outcome.DONE, result
    assert result.details["exit_code"] == 0
    assert result.details["output"] == f"systemd\n\x1b[31mred\x1b[0m {WEB}\n"
    (call,) = emu.calls_of("RunCommand")
    assert base64.b64decode(call.params["Content"]).decode() == script
    assert call.params["Timeout"] == 30 and call.params["CommandType"] == "SHELL"
    assert any(step.exact == script for step in plan.steps)  # the script shown in full

    emu.command_handler = lambda instance, text: (3, "boom")
    _, failed, _ = run(provider, "run-command", WEB, script="false")
    assert failed.details["exit_code"] == 3 and failed.details["status"] == "failed"


def test_run_command_needs_a_running_instance(provider: TencentProvider) -> None:
    with pytest.raises(ActionError, match="stopped"):
        actions.plan(provider, "run-command", DB, {"script": "id"})
