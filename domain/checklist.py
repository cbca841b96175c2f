"""The response checklist, as data the user can adapt, its automatic checks, and the containment
clock.

The checklist is a TOML file: ``domain/checklists/default.toml`` ships with sickbay (detect,
isolate, preserve, scan, investigate, eradicate, restore, report); a ``checklist.toml`` in the
user's config directory replaces it whole (copy the default, edit it). Each step has an id, a
title and a text ("what to do and why") in every language, the action ids that carry it out, and
optional automatic verifications: ids from :data:`VERIFICATIONS`, which are pure functions over a
:class:`VerificationState` the caller gathers (the case file, plus what the cloud and the watch
currently say). A check passes, fails, or cannot tell (``unknown``: the state it needs was not
given); only the caller decides to mark a step done from it.

The containment clock: the "golden 30 minutes" from the first detection to isolation
(:func:`containment_clock`); the budget and the step that stops the clock are in the TOML.
Loading validates everything and says what is wrong and where.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from domain.actions import Outcome
from domain.cloud import Disk, Instance, Snapshot
from domain.findings import ACTIONS
from domain.i18n import LANGUAGES, Language, tr
from domain.incident import Case, StepStatus

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on 3.10
    import tomli as tomllib

USER_FILE = "checklist.toml"
DEFAULT_CLOCK_MINUTES = 30
# Action ids a step may name: the response actions, plus the evidence bundle and the report.
CHECKLIST_ACTIONS = frozenset(ACTIONS) | {"bundle", "report"}
# Findings that mean "a miner is (still) at work".
MINER_RULES = ("PROC-MINER-NAME", "PROC-MINER-CMDLINE", "NET-POOL-PORT", "NET-POOL-ADDRESS")
# Watching that stopped longer ago than this does not count as watching now.
STALE_OBSERVATION = dt.timedelta(minutes=5)
_STEP_ID = re.compile(r"[a-z][a-z0-9-]{0,39}")


class ChecklistError(ValueError):
    """The checklist file cannot be used; the message says which file, which step, what."""


@dataclass(frozen=True, slots=True)
class Verify:
    """An automatic verification of a step: its id and parameters (``minutes`` ...)."""

    id: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    title: Mapping[str, str]  # language -> title
    text: Mapping[str, str]  # language -> what to do and why
    actions: tuple[str, ...] = ()
    verify: tuple[Verify, ...] = ()

    def title_in(self, lang: Language) -> str:
        return self.title.get(lang) or self.title["en"]

    def text_in(self, lang: Language) -> str:
        return self.text.get(lang) or self.text["en"]


@dataclass(frozen=True, slots=True)
class Checklist:
    steps: tuple[Step, ...]
    clock_minutes: int = DEFAULT_CLOCK_MINUTES
    contained_by: str = "isolate"  # the step whose completion stops the containment clock
    source: str = ""  # where it was loaded from

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.steps)


# -- automatic verification ---------------------------------------------------------------------


class CheckStatus(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    UNKNOWN = "unknown"  # the state the check needs was not given


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A verification's verdict and why, as a message key with its values (host names among
    them: host text, escape it for display)."""

    verification: str
    status: CheckStatus
    key: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def describe(self, lang: Language) -> str:
        return tr(self.key, lang, **self.params)


@dataclass(frozen=True, slots=True)
class VerificationState:
    """What the checks look at. Only ``case`` and ``now`` are required; a check whose state is
    missing answers ``unknown``. Keys of the mappings are host names as in the case file.

    ``instances``: the cloud instances as just read; ``quarantine_groups``: the quarantine
    security group chosen for each host; ``disks`` / ``snapshots``: each host's disks and their
    snapshots as just read; ``observed``: (from, until) of the current uninterrupted watch of
    each host; ``pool_connections``: how many connections each host has now to mining pools."""

    case: Case
    now: dt.datetime
    instances: Mapping[str, Instance] = field(default_factory=dict)
    quarantine_groups: Mapping[str, str] = field(default_factory=dict)
    disks: Mapping[str, Sequence[Disk]] = field(default_factory=dict)
    snapshots: Mapping[str, Sequence[Snapshot]] = field(default_factory=dict)
    observed: Mapping[str, tuple[dt.datetime, dt.datetime]] = field(default_factory=dict)
    pool_connections: Mapping[str, int] = field(default_factory=dict)


def _names(hosts: Sequence[str]) -> str:
    return ", ".join(hosts)


def _minutes(delta: dt.timedelta) -> int:
    return max(0, int(delta.total_seconds() // 60))


def check_findings_recorded(state: VerificationState, params: Mapping[str, Any]) -> CheckResult:
    """detect: the incident has at least one finding."""
    count = len(state.case.findings)
    if count:
        return CheckResult("findings-recorded", CheckStatus.PASSED, "check.findings.passed",
                           {"count": count})  # fmt: skip
    return CheckResult("findings-recorded", CheckStatus.FAILED, "check.findings.failed")


def check_instance_quarantined(state: VerificationState, params: Mapping[str, Any]) -> CheckResult:
    """isolate: every cloud instance of the incident has exactly the quarantine group."""
    vid = "instance-quarantined"
    hosts = sorted(
        {h.name for h in state.case.hosts if h.instance_id} | set(state.instances),
    )
    if not hosts:
        return CheckResult(vid, CheckStatus.UNKNOWN, "check.no-instance")
    unknown: list[str] = []
    for host in hosts:
        instance = state.instances.get(host)
        group = state.quarantine_groups.get(host)
        if instance is None or not group:
            unknown.append(host)
            continue
        if set(instance.security_group_ids) != {group}:
            return CheckResult(vid, CheckStatus.FAILED, "check.quarantine.failed", {
                "host": host,
                "groups": ", ".join(instance.security_group_ids) or "-",
                "quarantine": group,
            })  # fmt: skip
    if unknown:
        return CheckResult(vid, CheckStatus.UNKNOWN, "check.quarantine.unknown",
                           {"hosts": _names(unknown)})  # fmt: skip
    return CheckResult(vid, CheckStatus.PASSED, "check.quarantine.passed",
                       {"hosts": _names(hosts)})  # fmt: skip


def parse_time(text: str) -> dt.datetime | None:
    """A provider's ISO 8601 time; no offset means UTC; None if it is not a time."""
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def check_snapshots_complete(state: VerificationState, params: Mapping[str, Any]) -> CheckResult:
    """preserve: every disk of every instance has an accomplished snapshot taken after the first
    detection (a snapshot from before may already contain the attacker, or not the evidence)."""
    vid = "snapshots-complete"
    incident = state.case.incident
    since = incident.first_detection_at or incident.opened_at
    hosts = sorted({h.name for h in state.case.hosts if h.instance_id} | set(state.disks))
    if not hosts:
        return CheckResult(vid, CheckStatus.UNKNOWN, "check.no-instance")
    missing_state = [h for h in hosts if h not in state.disks]
    count = 0
    for host in hosts:
        if host in missing_state:
            continue
        lacking = []
        for disk in state.disks[host]:
            count += 1
            if not any(
                s.disk_id == disk.id
                and s.status == "accomplished"
                and (taken := parse_time(s.created)) is not None
                and taken >= since
                for s in state.snapshots.get(host, ())
            ):
                lacking.append(disk.id)
        if lacking:
            return CheckResult(vid, CheckStatus.FAILED, "check.snapshots.failed", {
                "host": host, "disks": ", ".join(lacking), "since": _utc(since),
            })  # fmt: skip
    if missing_state:
        return CheckResult(vid, CheckStatus.UNKNOWN, "check.snapshots.unknown",
                           {"hosts": _names(missing_state)})  # fmt: skip
    return CheckResult(vid, CheckStatus.PASSED, "check.snapshots.passed",
                       {"count": count, "since": _utc(since)})  # fmt: skip


def check_no_miner_for(state: VerificationState, params: Mapping[str, Any]) -> CheckResult:
    """eradicate/restore: while watched without a break, no finding of the miner rules for
    ``minutes`` minutes (on every host of the incident)."""
    vid = "no-miner-for"
    minutes = int(params["minutes"])
    rules = frozenset(params.get("rules", MINER_RULES))
    need = dt.timedelta(minutes=minutes)
    hosts = state.case.host_names
    if not hosts:
        return CheckResult(vid, CheckStatus.UNKNOWN, "check.no-hosts")
    unwatched: list[str] = []
    for host in hosts:
        span = state.observed.get(host)
        if span is None or state.now - span[1] > STALE_OBSERVATION:
            unwatched.append(host)
            continue
        start, until = span
        last = max(
            (f.last_seen for f in state.case.findings if f.host == host and f.rule_id in rules),
            default=None,
        )
        quiet_from = start if last is None else max(start, last)
        quiet = until - quiet_from
        if quiet < need:
            if last is not None:
                return CheckResult(vid, CheckStatus.FAILED, "check.miner.failed", {
                    "host": host, "at": _utc(last), "quiet": _minutes(quiet), "minutes": minutes,
                })  # fmt: skip
            return CheckResult(vid, CheckStatus.FAILED, "check.miner.short", {
                "host": host, "watched": _minutes(quiet), "minutes": minutes,
            })  # fmt: skip
    if unwatched:
        return CheckResult(vid, CheckStatus.UNKNOWN, "check.miner.unknown",
                           {"hosts": _names(unwatched)})  # fmt: skip
    return CheckResult(vid, CheckStatus.PASSED, "check.miner.passed", {"minutes": minutes})


def check_no_pool_connections(state: VerificationState, params: Mapping[str, Any]) -> CheckResult:
    """eradicate: no host of the incident has a connection to a mining pool now."""
    vid = "no-pool-connections"
    hosts = state.case.host_names
    if not hosts:
        return CheckResult(vid, CheckStatus.UNKNOWN, "check.no-hosts")
    unknown = [h for h in hosts if h not in state.pool_connections]
    for host in hosts:
        count = state.pool_connections.get(host, 0)
        if count > 0:
            return CheckResult(vid, CheckStatus.FAILED, "check.pool.failed",
                               {"host": host, "count": count})  # fmt: skip
    if unknown:
        return CheckResult(vid, CheckStatus.UNKNOWN, "check.pool.unknown",
                           {"hosts": _names(unknown)})  # fmt: skip
    return CheckResult(vid, CheckStatus.PASSED, "check.pool.passed")


def check_evidence_collected(state: VerificationState, params: Mapping[str, Any]) -> CheckResult:
    """preserve: evidence was collected (from every host that has findings)."""
    vid = "evidence-collected"
    evidence = state.case.evidence
    if not evidence:
        return CheckResult(vid, CheckStatus.FAILED, "check.evidence.none")
    with_findings = sorted({f.host for f in state.case.findings})
    lacking = [h for h in with_findings if not any(e.host == h for e in evidence)]
    if lacking:
        return CheckResult(vid, CheckStatus.FAILED, "check.evidence.failed",
                           {"hosts": _names(lacking)})  # fmt: skip
    return CheckResult(vid, CheckStatus.PASSED, "check.evidence.passed", {"count": len(evidence)})


def check_report_exported(state: VerificationState, params: Mapping[str, Any]) -> CheckResult:
    """report: the report was exported (a ``report`` action that succeeded)."""
    vid = "report-exported"
    exports = [a for a in state.case.actions if a.action == "report" and a.outcome is Outcome.DONE]
    if not exports:
        return CheckResult(vid, CheckStatus.FAILED, "check.report.failed")
    return CheckResult(vid, CheckStatus.PASSED, "check.report.passed", {"at": _utc(exports[-1].at)})


Check = Callable[[VerificationState, Mapping[str, Any]], CheckResult]


@dataclass(frozen=True, slots=True)
class _Spec:
    check: Check
    required: Mapping[str, type] = field(default_factory=dict)
    optional: Mapping[str, type] = field(default_factory=dict)


VERIFICATIONS: Mapping[str, _Spec] = {
    "findings-recorded": _Spec(check_findings_recorded),
    "instance-quarantined": _Spec(check_instance_quarantined),
    "snapshots-complete": _Spec(check_snapshots_complete),
    "no-miner-for": _Spec(check_no_miner_for, {"minutes": int}, {"rules": list}),
    "no-pool-connections": _Spec(check_no_pool_connections),
    "evidence-collected": _Spec(check_evidence_collected),
    "report-exported": _Spec(check_report_exported),
}


def run_verification(spec: Verify, state: VerificationState) -> CheckResult:
    return VERIFICATIONS[spec.id].check(state, spec.params)


def verify_step(step: Step, state: VerificationState) -> tuple[CheckResult, ...]:
    """Every automatic verification of the step (none: the step is checked by hand)."""
    return tuple(run_verification(v, state) for v in step.verify)


def overall(results: Sequence[CheckResult]) -> CheckStatus | None:
    """Failed if one failed, else unknown if one could not tell, else passed (None: no checks)."""
    if not results:
        return None
    statuses = {r.status for r in results}
    for status in (CheckStatus.FAILED, CheckStatus.UNKNOWN):
        if status in statuses:
            return status
    return CheckStatus.PASSED


# -- the containment clock ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContainmentClock:
    """From the first detection to containment (the isolate step done), against the budget.
    ``elapsed`` stops when contained; ``remaining`` never goes below zero; ``in_time``: None
    while not contained and the budget is not used up yet."""

    started_at: dt.datetime
    budget: dt.timedelta
    elapsed: dt.timedelta
    remaining: dt.timedelta
    contained_at: dt.datetime | None
    in_time: bool | None

    @property
    def deadline(self) -> dt.datetime:
        return self.started_at + self.budget

    @property
    def overdue(self) -> bool:
        """Not contained, and the budget is used up."""
        return self.contained_at is None and self.in_time is False


def containment_clock(
    first_detection_at: dt.datetime,
    contained_at: dt.datetime | None,
    now: dt.datetime,
    budget: dt.timedelta = dt.timedelta(minutes=DEFAULT_CLOCK_MINUTES),
) -> ContainmentClock:
    end = now if contained_at is None else contained_at
    elapsed = max(dt.timedelta(0), end - first_detection_at)
    remaining = max(dt.timedelta(0), budget - elapsed)
    if contained_at is not None:
        in_time: bool | None = elapsed <= budget
    else:
        in_time = False if elapsed > budget else None
    return ContainmentClock(first_detection_at, budget, elapsed, remaining, contained_at, in_time)


def clock_for(case: Case, checklist: Checklist, now: dt.datetime) -> ContainmentClock:
    """The incident's clock: from its first detection (or its opening, if no finding was
    recorded) to when the checklist's containment step was marked done."""
    incident = case.incident
    start = incident.first_detection_at or incident.opened_at
    state = case.step(checklist.contained_by)
    contained = state.at if state is not None and state.status is StepStatus.DONE else None
    return containment_clock(start, contained, now, dt.timedelta(minutes=checklist.clock_minutes))


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- loading ------------------------------------------------------------------------------------


def default_checklist_text() -> str:
    return (
        resources.files("domain").joinpath("checklists").joinpath("default.toml").read_text("utf-8")
    )


def load_checklist(path: Path | None = None) -> Checklist:
    """The checklist in ``path``, or the one shipped with sickbay (None)."""
    if path is None:
        return parse_checklist(default_checklist_text(), "default checklist")
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ChecklistError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ChecklistError(f"{path}: not UTF-8 text") from None
    return parse_checklist(text, str(path))


def load_user_checklist(config_dir: Path) -> Checklist:
    """``<config_dir>/checklist.toml`` if there is one (it replaces the default), else the
    default."""
    user = config_dir / USER_FILE
    return load_checklist(user if user.is_file() else None)


def parse_checklist(text: str, where: str) -> Checklist:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ChecklistError(f"{where}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"clock", "steps"})
    if unknown:
        raise ChecklistError(f"{where}: unknown key(s) {', '.join(unknown)} (known: clock, steps)")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ChecklistError(f"{where}: no steps (add [[steps]] tables)")
    steps = tuple(_step(raw, f"{where}: step #{number}") for number, raw in enumerate(raw_steps, 1))
    ids = [s.id for s in steps]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ChecklistError(f"{where}: step id(s) used twice: {', '.join(duplicates)}")
    clock = data.get("clock", {})
    if not isinstance(clock, dict):
        raise ChecklistError(f"{where}: [clock] must be a table")
    bad = sorted(set(clock) - {"minutes", "contained_by"})
    if bad:
        raise ChecklistError(f"{where}: [clock]: unknown key(s) {', '.join(bad)}")
    minutes = clock.get("minutes", DEFAULT_CLOCK_MINUTES)
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes <= 0:
        raise ChecklistError(f"{where}: [clock] minutes must be a positive whole number")
    contained_by = clock.get("contained_by", "isolate")
    if contained_by not in ids:
        raise ChecklistError(
            f"{where}: [clock] contained_by = {contained_by!r} is not a step id "
            f"(steps: {', '.join(ids)})"
        )
    return Checklist(steps, minutes, contained_by, where)


def _step(raw: object, here: str) -> Step:
    if not isinstance(raw, dict):
        raise ChecklistError(f"{here}: not a table")
    step_id = raw.get("id")
    if not isinstance(step_id, str) or not _STEP_ID.fullmatch(step_id):
        raise ChecklistError(
            f"{here}: 'id' must be lowercase letters, digits and '-' (like \"isolate\")"
        )
    here = f"{here.rsplit(': step #', 1)[0]}: step {step_id!r}"
    unknown = sorted(set(raw) - {"id", "actions", "verify", *LANGUAGES})
    if unknown:
        raise ChecklistError(f"{here}: unknown key(s) {', '.join(unknown)}")
    titles: dict[str, str] = {}
    texts: dict[str, str] = {}
    for lang in LANGUAGES:
        table = raw.get(lang)
        if not isinstance(table, dict):
            raise ChecklistError(
                f"{here}: no {lang} text (add [steps.{lang}] with title and text; "
                f"every step needs every language: {', '.join(LANGUAGES)})"
            )
        for key, out in (("title", titles), ("text", texts)):
            value = table.get(key)
            if not isinstance(value, str) or not value.strip():
                raise ChecklistError(f"{here}: [steps.{lang}] {key} is missing or empty")
            out[lang] = value.strip()
        extra = sorted(set(table) - {"title", "text"})
        if extra:
            raise ChecklistError(f"{here}: [steps.{lang}]: unknown key(s) {', '.join(extra)}")
    actions = raw.get("actions", [])
    if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
        raise ChecklistError(f"{here}: 'actions' must be a list of action ids")
    strange = [a for a in actions if a not in CHECKLIST_ACTIONS]
    if strange:
        raise ChecklistError(
            f"{here}: unknown action id(s) {', '.join(strange)} "
            f"(known: {', '.join(sorted(CHECKLIST_ACTIONS))})"
        )
    verify = raw.get("verify", [])
    if isinstance(verify, str | dict):
        verify = [verify]
    if not isinstance(verify, list):
        raise ChecklistError(f"{here}: 'verify' must be a list of verification ids or tables")
    return Step(step_id, titles, texts, tuple(actions), tuple(_verify(v, here) for v in verify))


def _verify(raw: object, here: str) -> Verify:
    vid: object
    params: dict[str, Any]
    if isinstance(raw, str):
        vid, params = raw, {}
    elif isinstance(raw, dict):
        vid, params = raw.get("id"), {k: v for k, v in raw.items() if k != "id"}
    else:
        raise ChecklistError(f"{here}: a verification is an id or {{ id = ..., ... }}")
    if not isinstance(vid, str) or vid not in VERIFICATIONS:
        raise ChecklistError(
            f"{here}: unknown verification {vid!r} (known: {', '.join(sorted(VERIFICATIONS))})"
        )
    spec = VERIFICATIONS[vid]
    for name in spec.required:
        if name not in params:
            raise ChecklistError(f"{here}: verification {vid!r} needs '{name}'")
    allowed = {**spec.required, **spec.optional}
    for name, value in params.items():
        kind: type | None = allowed.get(name)
        if kind is None:
            known = ", ".join(allowed) or "none"
            raise ChecklistError(
                f"{here}: verification {vid!r} has no parameter '{name}' (parameters: {known})"
            )
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ChecklistError(f"{here}: {vid} {name} must be a {kind.__name__}")
    if "minutes" in params and params["minutes"] <= 0:
        raise ChecklistError(f"{here}: {vid} minutes must be positive")
    if "rules" in params and (
        not params["rules"] or not all(isinstance(r, str) for r in params["rules"])
    ):
        raise ChecklistError(f"{here}: {vid} rules must be a non-empty list of rule ids")
    if "rules" in params:
        params["rules"] = tuple(params["rules"])
    return Verify(vid, params)


@dataclass(frozen=True, slots=True)
class ChecklistView:
    """What the checklist screen shows (read in a thread, shown on the UI's loop)."""

    checklist: Checklist
    case: Case | None
    checks: Mapping[str, tuple[CheckResult, ...]] = field(default_factory=dict)
    clock: ContainmentClock | None = None
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
