"""Alibaba Cloud: the real SDK (AcsClient + aliyunsdkecs) against the loopback ECS emulator.

The emulator checks the real RPC signature, so every passing call here also proves the wire
format (parameters, encoding of odd characters) is what the service accepts. A guard refuses
any connection or name lookup that is not loopback for every test of this module.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aliyunsdkcore.auth.composer.rpc_signature_composer import get_signed_url

from backends.audit_log import AuditLog
from backends.cloud import actions
from backends.cloud.actions import Timing, quarantine_group_name
from backends.cloud.aliyun import AliyunProvider, default_endpoint
from backends.cloud.calls import RetryPolicy
from backends.cloud.matching import MatchError, match_instance
from domain.actions import ActionError, Outcome, Risk
from domain.cloud import CloudError, SecurityRule
from tests.cloud_emu.aliyun_emu import AliyunEmulator, sign

pytestmark = pytest.mark.usefixtures("loopback_only")

REGION = "cn-hangzhou"
OPERATOR = "203.0.113.9"
FAST = Timing(poll_s=0.05, snapshot_timeout_s=10, power_timeout_s=10, command_grace_s=5)
QUICK_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)

# --- the loopback guard -----------------------------------------------------------------------


def test_the_guard_refuses_other_addresses(loopback_only: list[Any]) -> None:
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("192.0.2.1", 80))
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("ecs.cn-hangzhou.aliyuncs.com", 443)
    assert loopback_only == [("192.0.2.1", 80), "ecs.cn-hangzhou.aliyuncs.com"]
    loopback_only.clear()


def test_the_guard_sees_the_sdks_sockets(loopback_only: list[Any]) -> None:
    elsewhere = AliyunProvider(
        REGION,
        "LTAIexample00000001",
        "secret",
        endpoint="https://192.0.2.1:8443",
        retry=RetryPolicy(attempts=1),
    )
    with pytest.raises(CloudError) as error:
        elsewhere.list_instances()
    assert error.value.code == "SDK.HttpError"
    assert loopback_only == ["192.0.2.1"]  # stopped at the lookup, before any connect
    loopback_only.clear()


# --- fixtures ---------------------------------------------------------------------------------


class World:
    """The emulator with: web1 (its own group + a group shared with db1), db1, and a stopped
    spare; web1 has a data disk."""

    def __init__(self, emu: AliyunEmulator) -> None:
        self.emu = emu
        self.own = emu.add_security_group(
            "web1-sg", rules=[("ingress", "tcp", "22/22", "0.0.0.0/0", "Accept", 1)]
        )
        self.shared = emu.add_security_group(
            "shared-sg", rules=[("ingress", "tcp", "443/443", "0.0.0.0/0", "Accept", 1)]
        )
        self.web1 = emu.add_instance(
            "web1",
            private_ip="172.16.0.10",
            public_ip="47.100.1.10",
            groups=[self.own, self.shared],
            data_disks=[100],
            tags={"role": "web"},
        )
        self.db1 = emu.add_instance(
            "db1", private_ip="172.16.0.20", eip="47.100.1.20", groups=[self.shared]
        )
        self.spare = emu.add_instance("spare", private_ip="172.16.0.30", status="Stopped")


@pytest.fixture
def emu() -> Iterator[AliyunEmulator]:
    with AliyunEmulator(
        region=REGION, transition_s=0.3, snapshot_s=0.5, command_s=0.2, hang_s=5.0
    ) as e:
        yield e


@pytest.fixture
def world(emu: AliyunEmulator) -> World:
    return World(emu)


def make_provider(emu: AliyunEmulator, **kw: Any) -> AliyunProvider:
    options: dict[str, Any] = {
        "endpoint": emu.url,
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        "retry": QUICK_RETRY,
    }
    options.update(kw)
    key_id = options.pop("key_id", None) or emu.key_id
    secret = options.pop("secret", None) or emu.secret
    return AliyunProvider(REGION, key_id, secret, **options)


@pytest.fixture
def provider(emu: AliyunEmulator) -> AliyunProvider:
    return make_provider(emu)


def run(provider: AliyunProvider, action: str, instance_id: str, **params: str) -> Any:
    plan = actions.plan(provider, action, instance_id, params)
    lines: list[str] = []
    result = actions.execute(provider, plan, lines.append, timing=FAST)
    return plan, result, lines


# --- reading ----------------------------------------------------------------------------------


def test_list_and_describe(world: World, provider: AliyunProvider) -> None:
    instances = {i.id: i for i in provider.list_instances()}
    assert set(instances) == {world.web1, world.db1, world.spare}
    web1 = instances[world.web1]
    assert (web1.provider, web1.region, web1.name, web1.state) == (
        "aliyun",
        REGION,
        "web1",
        "running",
    )
    assert web1.private_ips == ("172.16.0.10",)
    assert web1.public_ips == ("47.100.1.10",)
    assert web1.security_group_ids == (world.own, world.shared)
    assert web1.tags == (("role", "web"),)
    assert web1.vpc_id == "vpc-emu1"
    assert instances[world.db1].public_ips == ("47.100.1.20",)  # the EIP
    assert instances[world.spare].state == "stopped"
    assert provider.instance(world.web1) == web1

    with pytest.raises(CloudError) as missing:
        provider.instance("i-doesnotexist")
    assert missing.value.code == "InvalidInstanceId.NotFound"

    (own,) = provider.security_groups([world.own])
    assert own.name == "web1-sg"
    assert own.rules == (SecurityRule("ingress", "accept", "tcp", "22", "0.0.0.0/0", 1),)

    disks = provider.disks(world.web1)
    assert [(d.kind, d.size_gb) for d in disks] == [("system", 40), ("data", 100)]
    # every call recorded with the provider's request id, one attempt each
    assert all(r.ok and r.request_id and r.attempts == 1 for r in provider.calls())


def test_paging_reads_every_page(emu: AliyunEmulator, provider: AliyunProvider) -> None:
    group = emu.add_security_group("many")
    for n in range(130):
        emu.add_instance(f"n{n}", private_ip=f"172.16.1.{n}", groups=[group])
    assert len(provider.list_instances()) == 130
    pages = [c.params["PageNumber"] for c in emu.calls_of("DescribeInstances")]
    assert pages == ["1", "2"]


def test_default_endpoint_is_https_and_regional_without_any_call() -> None:
    assert default_endpoint("cn-shanghai") == "https://ecs.cn-shanghai.aliyuncs.com"
    assert default_endpoint("cn-hangzhou").startswith("https://")
    production = AliyunProvider("cn-shanghai", "LTAIexample00000001", "secret")
    assert production.endpoint == "https://ecs.cn-shanghai.aliyuncs.com"
    assert production.calls() == ()
    with pytest.raises(ValueError):
        AliyunProvider("cn-hangzhou/../evil", "LTAIexample00000001", "secret")
    with pytest.raises(ValueError, match="loopback"):  # signed requests, STS token: not in clear
        AliyunProvider(REGION, "LTAIexample00000001", "secret", endpoint="http://ecs.example.com")


# --- the service's checks ---------------------------------------------------------------------


def test_wrong_secret_is_a_clear_error_and_not_retried(world: World, emu: AliyunEmulator) -> None:
    bad = make_provider(emu, secret="not-the-secret")
    with pytest.raises(CloudError) as error:
        bad.list_instances()
    # The SDK recognises the service's string to sign as its own: the secret is wrong.
    assert error.value.code == "InvalidAccessKeySecret"
    assert "AccessKeySecret is incorrect" in str(error.value)
    assert error.value.request_id
    (record,) = bad.calls()
    assert (record.ok, record.attempts) == (False, 1)
    assert [c.code for c in emu.calls] == ["SignatureDoesNotMatch"]
    assert "string to sign" not in str(error.value)


def test_unknown_key_id(world: World, emu: AliyunEmulator) -> None:
    stranger = make_provider(emu, key_id="LTAI5tNobodyKnowsThis1")
    with pytest.raises(CloudError) as error:
        stranger.list_instances()
    assert error.value.code == "InvalidAccessKeyId.NotFound"


def test_sts_token_is_sent_and_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK would prefer these over an explicit STS credential: the provider must not.
    monkeypatch.setenv("ALIYUN_ACCESS_KEY_ID", "LTAI5tFromTheEnvironment")
    monkeypatch.setenv("ALIYUN_ACCESS_KEY_SECRET", "env-secret")
    sts = {"STS.NUemulatorTemporaryKey": ("sts-secret", "sts-token-value")}
    with AliyunEmulator(region=REGION, keys={}, sts=sts) as emu:
        emu.add_instance("web1")
        good = make_provider(
            emu, key_id="STS.NUemulatorTemporaryKey", secret="sts-secret", token="sts-token-value"
        )
        assert len(good.list_instances()) == 1
        (call,) = emu.calls_of("DescribeInstances")
        assert call.params["AccessKeyId"] == "STS.NUemulatorTemporaryKey"
        assert call.params["SecurityToken"] == "sts-token-value"
        stale = make_provider(
            emu, key_id="STS.NUemulatorTemporaryKey", secret="sts-secret", token="old-token"
        )
        with pytest.raises(CloudError) as error:
            stale.list_instances()
        assert error.value.code == "InvalidSecurityToken.Mismatch"


def test_replayed_nonce_and_stale_timestamp_are_refused(emu: AliyunEmulator) -> None:
    params = {"Action": "DescribeInstances", "Version": "2014-05-26", "RegionId": REGION}
    # Signed by the SDK's own composer, sent twice as is.
    url, _ = get_signed_url(dict(params), emu.key_id, emu.secret, "JSON", "POST", {})

    def post(path: str) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(emu.url + path, method="POST", data=b"")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=5) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    assert post(url)[0] == 200
    status, body = post(url)
    assert (status, body["Code"]) == (400, "SignatureNonceUsed")
    assert set(body) >= {"RequestId", "HostId", "Code", "Message"}

    old = {
        **params,
        "AccessKeyId": emu.key_id,
        "Format": "JSON",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": "nonce-stale-1",
        "Timestamp": "2020-01-01T00:00:00Z",
    }
    old["Signature"] = sign("POST", old, emu.secret)
    status, body = post("/?" + urllib.parse.urlencode(old))
    assert (status, body["Code"]) == (400, "InvalidTimeStamp.Expired")

    unsigned = {k: v for k, v in old.items() if k != "Signature"}
    status, body = post("/?" + urllib.parse.urlencode(unsigned))
    assert (status, body["Code"]) == (400, "IncompleteSignature")


# --- retries, timeouts ------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["Throttling", "Throttling.User"])
def test_throttled_call_is_retried(
    world: World, emu: AliyunEmulator, provider: AliyunProvider, code: str
) -> None:
    emu.throttle("DescribeInstances", times=2, code=code)
    assert len(provider.list_instances()) == 3
    (record,) = provider.calls()
    assert (record.ok, record.attempts) == (True, 3)
    assert [c.code for c in emu.calls_of("DescribeInstances")] == [code, code, ""]


@pytest.mark.parametrize("internal", [False, True])
def test_5xx_is_retried(
    world: World, emu: AliyunEmulator, provider: AliyunProvider, internal: bool
) -> None:
    emu.unavailable("DescribeDisks", internal=internal)
    assert len(provider.disks(world.web1)) == 2
    (record,) = provider.calls()
    assert record.attempts == 2
    statuses = [c.status for c in emu.calls_of("DescribeDisks")]
    assert statuses == [500 if internal else 503, 200]


def test_retries_give_up_with_the_last_error(world: World, emu: AliyunEmulator) -> None:
    provider = make_provider(emu, retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02))
    emu.throttle("DescribeInstances", times=5)
    with pytest.raises(CloudError) as error:
        provider.list_instances()
    assert error.value.code == "Throttling"
    assert provider.calls()[-1].attempts == 3
    assert len(emu.calls_of("DescribeInstances")) == 3


def test_a_hang_hits_the_client_timeout(world: World, emu: AliyunEmulator) -> None:
    provider = make_provider(
        emu, read_timeout=0.8, retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02)
    )
    emu.hang("DescribeInstances", times=2)
    started = time.monotonic()
    with pytest.raises(CloudError) as error:
        provider.list_instances()
    elapsed = time.monotonic() - started
    assert error.value.code == "SDK.HttpError"
    assert "timed out" in str(error.value).lower()
    assert "Signature=" not in str(error.value)  # no signed URL in errors
    assert provider.calls()[-1].attempts == 2
    assert elapsed < emu.hang_s  # the client gave up, not the server
    # after the hangs, the next call goes through
    assert len(provider.list_instances()) == 3


def test_not_retried_when_the_error_is_final(world: World, emu: AliyunEmulator) -> None:
    provider = make_provider(emu)
    with pytest.raises(CloudError) as error:
        provider.power(world.spare, "stop", "")
    assert error.value.code == "IncorrectInstanceStatus"
    assert provider.calls()[-1].attempts == 1


# --- snapshot ---------------------------------------------------------------------------------


def test_snapshot_every_disk_with_progress(world: World, provider: AliyunProvider) -> None:
    disks = provider.disks(world.web1)
    plan, result, lines = run(provider, "snapshot", world.web1)
    assert plan.risk == Risk.READ_ONLY
    names = plan.params["names"].split(",")
    assert [s.exact for s in plan.steps] == [
        provider.plan_create_snapshot(d.id, n).render() for d, n in zip(disks, names, strict=True)
    ]
    assert plan.steps[0].exact.startswith(f"ecs.CreateSnapshot [{REGION}] DiskId={disks[0].id}")

    assert result.outcome == Outcome.DONE, result
    snapshots = result.details["snapshots"]
    assert set(snapshots) == {d.id for d in disks}
    assert sorted(world.emu.snapshots) == sorted(snapshots.values())
    assert len(result.request_ids) == 2
    # the progress went through the callback, from under 100% to done
    percents = [line for line in lines if line.startswith("snapshots:")]
    assert any("progressing" in line for line in percents)
    assert "accomplished 100%" in percents[-1]
    for snap in provider.snapshots([d.id for d in disks]):
        assert (snap.status, snap.progress) == ("accomplished", 100)


def test_snapshot_lost_answer_is_retried_with_the_same_token(
    world: World, emu: AliyunEmulator
) -> None:
    provider = make_provider(emu, read_timeout=0.8)
    emu.hang("CreateSnapshot", after=True)  # made, but the answer comes too late
    _plan, result, _lines = run(provider, "snapshot", world.web1)
    assert result.outcome == Outcome.DONE, result
    assert len(emu.snapshots) == 2  # one per disk, not three
    first_disk = _plan.params["disks"].split(",")[0]
    calls = [c for c in emu.calls_of("CreateSnapshot") if c.params["DiskId"] == first_disk]
    assert len(calls) == 2
    assert calls[0].params["ClientToken"] == calls[1].params["ClientToken"]
    record = next(r for r in provider.calls() if r.call.action == "CreateSnapshot")
    assert record.attempts == 2
    assert record.call.params["ClientToken"] == calls[0].params["ClientToken"]


def test_snapshot_progress_survives_a_failed_read(world: World, emu: AliyunEmulator) -> None:
    provider = make_provider(emu)
    emu.fail("DescribeSnapshots", "Forbidden", "User not authorized to operate.", status=403)
    _plan, result, lines = run(provider, "snapshot", world.web1)
    assert result.outcome == Outcome.DONE, result
    assert any("cannot read their progress now (Forbidden)" in line for line in lines)


def test_snapshot_wait_can_be_cancelled(world: World, provider: AliyunProvider) -> None:
    plan = actions.plan(provider, "snapshot", world.web1)
    cancel = threading.Event()
    cancel.set()
    result = actions.execute(provider, plan, timing=FAST, cancel=cancel)
    assert result.outcome == Outcome.UNVERIFIED
    assert "go on in the cloud" in result.state
    assert len(result.details["snapshots"]) == 2 == len(world.emu.snapshots)


def test_snapshot_failure_is_reported(world: World, emu: AliyunEmulator) -> None:
    provider = make_provider(emu)
    data_disk = provider.disks(world.web1)[1]
    emu.failing_disks.add(data_disk.id)
    _plan, result, _lines = run(provider, "snapshot", world.web1)
    assert result.outcome == Outcome.FAILED
    assert result.details["snapshots"][data_disk.id] in result.summary


def test_snapshot_create_failure_half_way(world: World, emu: AliyunEmulator) -> None:
    provider = make_provider(emu)
    plan = actions.plan(provider, "snapshot", world.web1)
    emu.fail("CreateSnapshot", "QuotaExceed.Snapshot", "Snapshot quota exceeded.", skip=1)
    result = actions.execute(provider, plan, timing=FAST)
    assert result.outcome == Outcome.FAILED
    second = plan.params["disks"].split(",")[1]
    assert "QuotaExceed.Snapshot" in result.summary
    assert f"not snapshotted: {second}" in result.state
    assert len(result.details["snapshots"]) == 1


# --- isolate / unisolate ----------------------------------------------------------------------


def test_isolate_then_unisolate(world: World, provider: AliyunProvider, tmp_path: Path) -> None:
    emu = world.emu
    plan = actions.plan(provider, "isolate", world.web1, {"operator": OPERATOR})
    # planning only read
    assert {c.action for c in emu.calls} <= {
        "DescribeInstances",
        "DescribeSecurityGroups",
        "DescribeSecurityGroupAttribute",
    }
    name = quarantine_group_name(world.web1)
    assert plan.steps[0].exact.startswith(f"ecs.CreateSecurityGroup [{REGION}] VpcId=vpc-emu1")
    assert f"SecurityGroupName={name}" in plan.steps[0].exact
    assert plan.steps[-1].exact == (
        f"ecs.ModifyInstanceAttribute [{REGION}] InstanceId={world.web1} "
        f"SecurityGroupIds.1={actions.NEW_GROUP}"
    )
    assert plan.undo == (
        "unisolate",
        {"instance_id": world.web1, "groups": f"{world.own},{world.shared}"},
    )
    assert any(OPERATOR in w for w in plan.warnings)

    lines: list[str] = []
    result = actions.execute(provider, plan, lines.append, timing=FAST)
    assert result.outcome == Outcome.DONE, result
    gid = result.details["quarantine_group"]
    assert emu.instances[world.web1].groups == [gid]
    assert emu.groups[gid].name == name
    rules = {
        (r.direction, r.protocol, r.port_range, r.cidr, r.policy, r.priority)
        for r in emu.groups[gid].rules
    }
    assert rules == {
        ("ingress", "TCP", "22/22", f"{OPERATOR}/32", "Accept", 1),
        ("ingress", "ALL", "-1/-1", "0.0.0.0/0", "Drop", 100),
        ("egress", "ALL", "-1/-1", "0.0.0.0/0", "Drop", 100),
    }
    assert result.details["original_groups"] == [world.own, world.shared]
    assert result.undo == plan.undo
    # one request id per change: the group, three rules, the switch
    assert len(result.request_ids) == 5
    # the shared group and db1 were not touched
    assert emu.instances[world.db1].groups == [world.shared]
    assert len(emu.groups[world.shared].rules) == 1
    log = AuditLog(tmp_path / "audit.jsonl")
    entry = log.record_action(plan, result)
    assert entry["outcome"] == "done" and log.verify().ok

    with pytest.raises(ActionError, match="already isolated"):
        actions.plan(provider, "isolate", world.web1, {"operator": OPERATOR})

    assert result.undo is not None
    undo_action, undo_params = result.undo
    back = actions.plan(provider, undo_action, world.web1, dict(undo_params))
    assert back.undo == (
        "isolate",
        {"instance_id": world.web1, "operator": f"{OPERATOR}/32", "group": gid},
    )
    restored = actions.execute(provider, back, timing=FAST)
    assert restored.outcome == Outcome.DONE, restored
    assert emu.instances[world.web1].groups == [world.own, world.shared]

    # isolating again reuses the instance's quarantine group: no second group
    again = actions.plan(provider, "isolate", world.web1, {"operator": OPERATOR})
    assert not any("CreateSecurityGroup" in s.exact for s in again.steps)
    assert actions.execute(provider, again, timing=FAST).outcome == Outcome.DONE
    assert len(emu.calls_of("CreateSecurityGroup")) == 1
    assert emu.instances[world.web1].groups == [gid]


def test_isolate_never_reuses_a_group_other_instances_use(
    world: World, provider: AliyunProvider
) -> None:
    emu = world.emu
    name = quarantine_group_name(world.web1)
    trap = emu.add_security_group(name)
    emu.instances[world.db1].groups.append(trap)
    plan = actions.plan(provider, "isolate", world.web1, {"operator": OPERATOR})
    assert "CreateSecurityGroup" in plan.steps[0].exact
    assert any(trap in w and world.db1 in w for w in plan.warnings)
    result = actions.execute(provider, plan, timing=FAST)
    assert result.outcome == Outcome.DONE
    assert result.details["quarantine_group"] != trap
    assert emu.groups[trap].rules == []


def test_isolate_failing_at_the_switch_leaves_the_original_groups(
    world: World, provider: AliyunProvider
) -> None:
    emu = world.emu
    plan = actions.plan(provider, "isolate", world.web1, {"operator": OPERATOR})
    emu.fail(
        "ModifyInstanceAttribute",
        "OperationDenied",
        "The operation is denied due to the instance's current state.",
        status=403,
    )
    result = actions.execute(provider, plan, timing=FAST)
    assert result.outcome == Outcome.FAILED
    assert "OperationDenied" in result.summary
    assert emu.instances[world.web1].groups == [world.own, world.shared]
    assert f"still in its original groups {world.own}, {world.shared}" in result.state
    assert result.details["quarantine_group"] in result.state  # left in place, said so
    assert result.undo is None  # nothing to undo on the instance
    assert len(emu.calls_of("ModifyInstanceAttribute")) == 1  # a final error: not retried


def test_isolate_failing_while_preparing_the_group_never_touches_the_instance(
    world: World, provider: AliyunProvider
) -> None:
    emu = world.emu
    plan = actions.plan(provider, "isolate", world.web1, {"operator": OPERATOR})
    emu.fail("AuthorizeSecurityGroupEgress", "QuotaExceed.SecurityGroupRule", "Too many rules.")
    result = actions.execute(provider, plan, timing=FAST)
    assert result.outcome == Outcome.FAILED
    assert "was not touched" in result.state
    assert emu.calls_of("ModifyInstanceAttribute") == []
    assert emu.instances[world.web1].groups == [world.own, world.shared]


def test_isolate_switch_answer_lost_but_made_is_verified(world: World, emu: AliyunEmulator) -> None:
    provider = make_provider(emu, read_timeout=0.8, retry=RetryPolicy(attempts=1))
    plan = actions.plan(provider, "isolate", world.web1, {"operator": OPERATOR})
    emu.hang("ModifyInstanceAttribute", after=True)
    result = actions.execute(provider, plan, timing=FAST)
    assert result.outcome == Outcome.DONE, result
    assert "SDK.HttpError" in result.verification  # the call said it failed; the state says not
    assert emu.instances[world.web1].groups == [result.details["quarantine_group"]]


def test_isolate_refuses_a_stale_plan(world: World, provider: AliyunProvider) -> None:
    plan = actions.plan(provider, "isolate", world.web1, {"operator": OPERATOR})
    world.emu.instances[world.web1].groups = [world.own]
    result = actions.execute(provider, plan, timing=FAST)
    assert result.outcome == Outcome.FAILED
    assert result.state.startswith("nothing was changed")
    assert world.emu.calls_of("CreateSecurityGroup") == []


def test_isolate_with_an_ipv6_operator_drops_ipv6_too(
    world: World, provider: AliyunProvider
) -> None:
    _plan, result, _lines = run(provider, "isolate", world.web1, operator="2001:db8::9")
    assert result.outcome == Outcome.DONE, result
    rules = world.emu.groups[result.details["quarantine_group"]].rules
    cidrs = {(r.direction, r.cidr, r.policy) for r in rules}
    assert cidrs == {
        ("ingress", "2001:db8::9/128", "Accept"),
        ("ingress", "0.0.0.0/0", "Drop"),
        ("ingress", "::/0", "Drop"),
        ("egress", "0.0.0.0/0", "Drop"),
        ("egress", "::/0", "Drop"),
    }


def test_rule_order_is_checked_not_priority_numbers() -> None:
    ssh = SecurityRule("ingress", "accept", "tcp", "22", "203.0.113.9/32", 1)
    deny = SecurityRule("ingress", "drop", "all", "all", "0.0.0.0/0", 100)
    # a provider that numbers rules by position: same order, other numbers: fine
    assert (
        actions._problems([replace(ssh, priority=1), replace(deny, priority=2)], [ssh, deny]) == []
    )
    # the drop first: SSH would never get through
    assert actions._problems([replace(ssh, priority=2), replace(deny, priority=1)], [ssh, deny])
    # a block behind an accept rule does nothing
    block = actions.block_rules("198.51.100.7/32")
    web = SecurityRule("ingress", "accept", "tcp", "443", "0.0.0.0/0", 1)
    assert actions._problems([web, *block], block) == []  # equal priority: drop wins
    late = [web, *(replace(r, priority=5) for r in block)]
    assert any("evaluated before" in p for p in actions._problems(late, block))
    assert actions._problems([web], block) == [f"missing {actions._rule_text(r)}" for r in block]


@pytest.mark.parametrize("bad", ["", "0.0.0.0/0", "not-an-address"])
def test_isolate_needs_a_real_operator_address(
    world: World, provider: AliyunProvider, bad: str
) -> None:
    with pytest.raises(ActionError):
        actions.plan(provider, "isolate", world.web1, {"operator": bad})


# --- block / unblock --------------------------------------------------------------------------


def test_block_and_unblock_in_the_instances_own_group(
    world: World, provider: AliyunProvider
) -> None:
    emu = world.emu
    plan, result, _lines = run(provider, "block", world.web1, cidr="198.51.100.7")
    assert plan.params["group"] == world.own  # not the group shared with db1
    assert plan.warnings == ()
    assert [s.exact.split(" ")[0] for s in plan.steps] == [
        "ecs.AuthorizeSecurityGroup",
        "ecs.AuthorizeSecurityGroupEgress",
    ]
    assert result.outcome == Outcome.DONE, result
    drops = {
        (r.direction, r.cidr, r.policy, r.priority)
        for r in emu.groups[world.own].rules
        if r.policy == "Drop"
    }
    assert drops == {
        ("ingress", "198.51.100.7/32", "Drop", 1),
        ("egress", "198.51.100.7/32", "Drop", 1),
    }
    assert (
        emu.groups[world.shared].rules[0].policy == "Accept"
        and len(emu.groups[world.shared].rules) == 1
    )
    with pytest.raises(ActionError, match="already blocked"):
        actions.plan(provider, "block", world.web1, {"cidr": "198.51.100.7"})

    assert result.undo is not None
    undo_plan = actions.plan(provider, result.undo[0], world.web1, dict(result.undo[1]))
    undone = actions.execute(provider, undo_plan, timing=FAST)
    assert undone.outcome == Outcome.DONE, undone
    assert [r.policy for r in emu.groups[world.own].rules] == ["Accept"]


def test_block_in_a_shared_group_warns(world: World, provider: AliyunProvider) -> None:
    plan = actions.plan(provider, "block", world.db1, {"cidr": "198.51.100.0/24"})
    assert plan.params["group"] == world.shared
    assert any(world.web1 in w and "shared" in w for w in plan.warnings)


# --- power ------------------------------------------------------------------------------------


def test_stop_start_reboot_force_stop(world: World, provider: AliyunProvider) -> None:
    emu = world.emu
    plan, result, _lines = run(provider, "stop", world.web1)
    assert plan.steps[0].exact == (
        f"ecs.StopInstance [{REGION}] InstanceId={world.web1} ForceStop=false "
        "StoppedMode=KeepCharging"
    )
    assert plan.risk == Risk.DESTRUCTIVE and plan.undo == ("start", {"instance_id": world.web1})
    assert result.outcome == Outcome.DONE, result
    assert result.details["states"][-2:] == ["stopping", "stopped"]
    assert emu.instances[world.web1].last_stop == {
        "ForceStop": "false",
        "StoppedMode": "KeepCharging",
    }
    with pytest.raises(ActionError, match="stopped"):
        actions.plan(provider, "stop", world.web1)

    _plan, result, _lines = run(provider, "start", world.web1)
    assert result.outcome == Outcome.DONE and emu.instance_status(world.web1) == "Running"

    _plan, result, _lines = run(provider, "reboot", world.web1)
    assert result.outcome == Outcome.DONE, result
    assert "stopping" in result.details["states"] or "starting" in result.details["states"]
    assert result.details["states"][-1] == "running"

    plan, result, _lines = run(provider, "force-stop", world.web1)
    assert plan.risk == Risk.IRREVERSIBLE and plan.undo is None
    assert result.outcome == Outcome.DONE
    assert emu.instances[world.web1].last_stop["ForceStop"] == "true"


def test_power_call_refused_is_reported_quickly(world: World, provider: AliyunProvider) -> None:
    plan = actions.plan(provider, "stop", world.web1)
    world.emu.fail("StopInstance", "Forbidden.RAM", "User not authorized to operate.", status=403)
    started = time.monotonic()
    result = actions.execute(provider, plan, timing=FAST)
    assert result.outcome == Outcome.FAILED
    assert "Forbidden.RAM" in result.summary
    assert result.state == f"{world.web1} is running"
    assert time.monotonic() - started < 2


# --- run-command ------------------------------------------------------------------------------


def test_run_command_returns_the_output(world: World, provider: AliyunProvider) -> None:
    emu = world.emu
    hostile = "root  4242 kworker\x1b]0;PWNED\x07 \u202eevil\n"
    seen: list[tuple[str, str]] = []

    def handler(instance_id: str, script: str) -> tuple[int, str]:
        seen.append((instance_id, script))
        return 0, hostile

    emu.command_handler = handler
    script = "#!/bin/sh\nps -eo pid,comm | grep 'k*' && echo \"ünïcode & = + %\"\n"
    plan, result, _lines = run(provider, "run-command", world.web1, script=script, timeout="30")
    assert plan.risk == Risk.DESTRUCTIVE
    assert plan.steps[0].exact.startswith(f"ecs.RunCommand [{REGION}] Type=RunShellScript")
    assert plan.steps[-1].exact == script  # shown in full (the API call line is shortened)
    assert result.outcome == Outcome.DONE, result
    assert seen == [(world.web1, script)]  # the script arrived byte for byte
    assert result.details["output"] == hostile
    assert result.details["exit_code"] == 0
    assert result.details["output_sha256"] == hashlib.sha256(hostile.encode()).hexdigest()
    # the wire carried it Base64 (asked for explicitly)
    (call,) = emu.calls_of("DescribeInvocationResults")[-1:]
    assert call.params["ContentEncoding"] == "Base64"
    assert base64.b64encode(hostile.encode())  # sanity: the emulator's encoding


def test_run_command_non_zero_exit(world: World, provider: AliyunProvider) -> None:
    world.emu.command_handler = lambda instance_id, script: (3, "nope\n")
    _plan, result, _lines = run(provider, "run-command", world.web1, script="exit 3")
    assert result.outcome == Outcome.DONE
    assert (result.details["status"], result.details["exit_code"]) == ("failed", 3)
    assert "exit 3" in result.summary


def test_run_command_needs_a_running_instance(world: World, provider: AliyunProvider) -> None:
    with pytest.raises(ActionError, match="stopped"):
        actions.plan(provider, "run-command", world.spare, {"script": "id"})


# --- plans ------------------------------------------------------------------------------------


def test_a_plan_is_for_one_provider_and_region(world: World, emu: AliyunEmulator) -> None:
    provider = make_provider(emu)
    plan = actions.plan(provider, "snapshot", world.web1)
    elsewhere = AliyunProvider("cn-beijing", emu.key_id, emu.secret, endpoint=emu.url)
    with pytest.raises(ActionError, match="cn-hangzhou"):
        actions.execute(elsewhere, plan)
    with pytest.raises(ActionError, match="unknown cloud action"):
        actions.plan(provider, "explode", world.web1)
    with pytest.raises(ActionError, match="needs: cidr"):
        actions.plan(provider, "block", world.web1)


# --- matching ---------------------------------------------------------------------------------


def test_match_host_to_instance(world: World, provider: AliyunProvider) -> None:
    instances = provider.list_instances()
    by_id = match_instance(instances, instance_id=world.db1, addresses=["172.16.0.10"])
    assert by_id is not None and (by_id.instance.id, by_id.how) == (world.db1, "instance-id")
    with pytest.raises(MatchError):
        match_instance(instances, instance_id="i-gone")
    public = match_instance(instances, addresses=["::ffff:47.100.1.20", "10.9.9.9"])
    assert public is not None and (public.instance.id, public.how) == (world.db1, "public-address")
    private = match_instance(instances, addresses=["172.16.0.10"])
    assert private is not None and private.instance.id == world.web1
    assert private.how == "private-address"
    assert match_instance(instances, addresses=["192.0.2.77", "not an ip"]) is None

    # the same private address in another VPC: ambiguous, never guessed
    world.emu.add_instance("twin", vpc_id="vpc-emu2", private_ip="172.16.0.10")
    with pytest.raises(MatchError, match="several instances"):
        match_instance(provider.list_instances(), addresses=["172.16.0.10"])
