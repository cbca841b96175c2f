"""The audit trail's hash chain (pure; the file is ``backends.audit_log``).

The audit log is JSON lines. Each entry carries ``seq`` (0, 1, 2, ...), ``prev`` (the previous
entry's hash; ``GENESIS`` for the first) and ``hash``: the sha256 of the entry's canonical JSON
without ``hash``. Editing an entry breaks its hash; removing or reordering entries breaks ``seq``
and ``prev``. Cutting entries off the end is only seen against a recorded head (the last
``seq``/``hash``, kept apart from the log), which :func:`verify_lines` takes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from domain.actions import ActionPlan, ActionResult

SCHEMA = "sickbay.audit/1"
GENESIS = "0" * 64


def canonical(entry: Mapping[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: Mapping[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(canonical(body)).hexdigest()


def chain(prev: Mapping[str, Any] | None, record: Mapping[str, Any]) -> dict[str, Any]:
    """The next entry after ``prev`` (None: the first) holding ``record``'s fields."""
    entry: dict[str, Any] = {"schema": SCHEMA, **record}
    entry["seq"] = 0 if prev is None else int(prev["seq"]) + 1
    entry["prev"] = GENESIS if prev is None else str(prev["hash"])
    entry["hash"] = entry_hash(entry)
    return entry


def action_record(
    *,
    actor: str,
    at: str,
    plan: ActionPlan,
    result: ActionResult,
    incident: str | None = None,
) -> dict[str, Any]:
    """The fields of an action's audit entry: who, when, where, what (with the exact steps),
    the result and its verification."""
    return {
        "kind": "action",
        "at": at,
        "actor": actor,
        "incident": incident,
        "host": plan.host,
        "action": plan.action,
        "subject": plan.subject,
        "params": dict(plan.params),
        "risk": plan.risk.label,
        "steps": [step.exact for step in plan.steps],
        "outcome": result.outcome.value,
        "summary": result.summary,
        "verification": result.verification,
        "state": result.state,
        "details": dict(result.details),
        "undo": None if result.undo is None else [result.undo[0], dict(result.undo[1])],
        "request_ids": list(result.request_ids),
        "evidence": [list(item) for item in result.evidence],
    }


@dataclass(frozen=True, slots=True)
class Verification:
    entries: int
    problems: tuple[str, ...]
    head: tuple[int, str] | None  # (seq, hash) of the last entry

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_lines(
    lines: Iterable[str], expected_head: tuple[int, str] | None = None
) -> Verification:
    """Check the chain; every problem found is reported with its line number."""
    problems: list[str] = []
    prev: dict[str, Any] | None = None
    count = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            problems.append(f"line {number}: empty line")
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            problems.append(f"line {number}: not JSON")
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("hash"), str):
            problems.append(f"line {number}: not an audit entry")
            continue
        count += 1
        if entry_hash(entry) != entry["hash"]:
            problems.append(f"line {number}: entry {entry.get('seq')} was modified")
        want_seq = 0 if prev is None else int(prev["seq"]) + 1
        want_prev = GENESIS if prev is None else prev["hash"]
        if entry.get("seq") != want_seq:
            problems.append(
                f"line {number}: entry {entry.get('seq')} where {want_seq} was expected "
                "(entries removed or reordered)"
            )
        if entry.get("prev") != want_prev:
            problems.append(f"line {number}: does not follow the previous entry (chain broken)")
        prev = entry
    head = None if prev is None else (int(prev["seq"]), str(prev["hash"]))
    if expected_head is not None and head != expected_head:
        seq, digest = expected_head
        if head is None or head[0] < seq:
            problems.append(f"entries after {head[0] if head else -1} are missing (head was {seq})")
        elif head[0] == seq and head[1] != digest:
            problems.append(f"the last entry {seq} is not the one recorded")
        # a head behind the log is fine: entries appended by a process that died before
        # recording the head still chain correctly
    return Verification(count, tuple(problems), head)
