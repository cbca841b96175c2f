"""Precision on this very machine: a real local snapshot and real host facts, through the
detector, must give no critical or high finding."""

from __future__ import annotations

from backends.facts import gather_facts
from backends.facts_decode import decode_facts
from domain.detect import Detector
from domain.findings import Severity
from tests.planted import local_snapshot


def test_this_machine_is_not_on_fire() -> None:
    snapshot = local_snapshot()
    detector = Detector()
    request = detector.facts_request(snapshot)
    facts = decode_facts(
        gather_facts("/", "/proc", request.probe_paths, request.exe_probes), snapshot.host
    )
    findings = detector.evaluate(snapshot, facts)
    assert detector.errors == []
    loud = [f for f in findings if f.severity >= Severity.HIGH]
    assert loud == [], "\n".join(f"{f.rule_id}: {f.evidence}" for f in loud)
