"""Watching a host through its cloud agent: CloudAgentSource against the ECS emulator, whose
agent really runs the command it is given on this machine, so each sample is the real collector
(in pages), decoded, and every run is recorded in a real audit log."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from backends.audit_log import AuditLog
from backends.cloud.agent_source import CloudAgentSource
from backends.cloud.aliyun import AliyunProvider
from domain.source import SlowSource, SourceError
from tests.agent_pages import page_budget
from tests.cloud_emu.aliyun_emu import AliyunEmulator
from tests.pilot_actions import REGION

pytestmark = pytest.mark.usefixtures("loopback_only")


def run_here(instance_id: str, script: str) -> tuple[int, str]:
    done = subprocess.run(
        ["/bin/sh", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    return done.returncode, done.stdout


def source_for(
    emu: AliyunEmulator, instance_id: str, audit: AuditLog, budget: int = 20000
) -> CloudAgentSource:
    provider = AliyunProvider(REGION, emu.key_id, emu.secret, endpoint=emu.url)
    return CloudAgentSource(
        "web1 (cloud agent)",
        provider,
        instance_id,
        audit.record_action,
        budget=budget,
        min_interval=30.0,
    )


async def test_a_sample_through_the_agent_is_the_real_collector_in_pages(
    tmp_path: Path,
) -> None:
    sleepers = [subprocess.Popen(["sleep", "60"]) for _ in range(60)]
    audit = AuditLog(tmp_path / "audit.jsonl")
    try:
        with AliyunEmulator(region=REGION, command_s=0.0, transition_s=0.0) as emu:
            emu.command_handler = run_here
            vm = emu.add_instance("web1")
            source = source_for(emu, vm, audit, page_budget(3))  # a few pages, on any machine
            assert isinstance(source, SlowSource) and source.min_interval == 30.0
            snapshot = await asyncio.wait_for(source.sample(), 120)
            runs = len(emu.calls_of("RunCommand"))
            await source.close()
    finally:
        for proc in sleepers:
            proc.kill()
            proc.wait()
    assert snapshot.host == "web1 (cloud agent)" and snapshot.source == "cloud-agent"
    pids = {p.pid for p in snapshot.processes}
    assert 1 in pids and {p.pid for p in sleepers} <= pids
    assert snapshot.metrics.cpu_total is not None  # two samples a second apart, on the host
    entries = audit.entries()
    assert runs >= 2 and len(entries) == runs
    assert [e["details"]["page"] for e in entries] == list(range(1, runs + 1))
    assert all(e["action"] == "run-command" and e["outcome"] == "done" for e in entries)
    assert audit.verify().ok


async def test_an_instance_whose_agent_cannot_run_is_a_source_error(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    with AliyunEmulator(region=REGION, command_s=0.0, transition_s=0.0) as emu:
        emu.command_handler = lambda instance, script: (127, "SICKBAY-NO-PYTHON\n")
        vm = emu.add_instance("web1")
        with pytest.raises(SourceError, match="no python3"):
            await source_for(emu, vm, audit).sample()
        stopped = emu.add_instance("web2", status="Stopped")
        with pytest.raises(SourceError, match=r"(?i)stopped"):
            await source_for(emu, stopped, audit).sample()
    (entry,) = audit.entries()  # the run that did happen, its exit status kept
    assert entry["outcome"] == "done" and entry["details"]["exit_code"] == 127
