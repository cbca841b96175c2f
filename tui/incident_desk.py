"""The console's incident: the case file (``backends.casefile``), the checklist and the report.

``sickbay`` resumes the open incident. With none open, one is opened at the first high or
critical finding (its first detection starts the containment clock), or when the operator acts
or marks a checklist step. Findings are recorded as they appear (a timeline: first and last
seen), actions with their results and audit hashes, evidence with its hashes. Every write is
one SQLite transaction: killing the app loses nothing that was confirmed.

Blocking (SQLite, files): the app calls it from threads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from backends.audit_log import local_actor
from backends.casefile import CaseFile, case_path
from domain.actions import ActionPlan, ActionResult, Outcome, PlannedStep, Risk
from domain.cloud import InstanceView
from domain.findings import Finding, Severity
from domain.i18n import Language
from domain.incident import StepStatus

if TYPE_CHECKING:
    from domain.checklist import Checklist, ChecklistView

RECORD_EVERY = 30.0  # seconds: last_seen of findings that did not change is refreshed this often


class IncidentDesk:
    def __init__(self, path: Path | None = None, config_dir: Path | None = None) -> None:
        self.cases = CaseFile(path or case_path(None, os.environ))
        self.config_dir = config_dir
        self._checklist: Checklist | None = None
        current = self.cases.current()
        self.incident: str | None = None if current is None else current.id
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[frozenset[str], float]] = {}  # host -> (keys, recorded at)
        self._hosts: set[str] = set()
        self.views: dict[str, InstanceView] = {}  # the cloud as last read, by host

    @property
    def checklist(self) -> Checklist:
        from domain.checklist import Checklist, load_checklist, load_user_checklist  # noqa: PLC0415

        if self._checklist is None:
            self._checklist = (
                load_user_checklist(self.config_dir) if self.config_dir else Checklist(())
            )
            if not self._checklist.steps:
                self._checklist = load_checklist(None)
        return self._checklist

    def ensure(self, title: str, first_detection: dt.datetime | None = None) -> str:
        with self._lock:
            if self.incident is None:
                opened = self.cases.open_incident(title, first_detection_at=first_detection)
                self.incident = opened.id
            return self.incident

    def add_host(self, name: str, **where: str) -> None:
        if self.incident is not None and name not in self._hosts:
            self.cases.add_host(self.incident, name, **where)
            self._hosts.add(name)

    def observe(self, host: str, findings: Sequence[Finding], **where: str) -> None:
        """Record a host's findings: at once when they change, else every RECORD_EVERY s. The
        first high or critical finding opens an incident if none is open."""
        keys = frozenset(f.key for f in findings)
        last = self._seen.get(host)
        now = time.monotonic()
        if last is not None and last[0] == keys and now - last[1] < RECORD_EVERY:
            return
        if self.incident is None:
            serious = [f for f in findings if f.severity >= Severity.HIGH]
            if not serious:
                return
            worst = max(serious, key=lambda f: (f.severity, -f.first_seen))
            first = min(f.first_seen for f in serious)
            self.ensure(f"{host}: {worst.title}", dt.datetime.fromtimestamp(first, dt.timezone.utc))
        assert self.incident is not None
        self.add_host(host, **where)
        self.cases.record_findings(self.incident, findings, host)
        self._seen[host] = (keys, now)

    def record_action(
        self, host: str, plan: ActionPlan, result: ActionResult, audit_hash: str | None
    ) -> None:
        if result.outcome is Outcome.CANCELLED:
            return
        incident = self.ensure(f"{host}: response")
        self.add_host(host)
        self.cases.record_action(incident, plan, result, audit_hash)

    def set_step(self, step: str, status: StepStatus, reason: str = "") -> None:
        incident = self.ensure("response checklist")
        self.cases.set_step(incident, step, status, reason=reason)

    def view(self, pool_connections: Mapping[str, int]) -> ChecklistView:
        from domain.checklist import (  # noqa: PLC0415 (start-up time)
            ChecklistView,
            VerificationState,
            clock_for,
            verify_step,
        )

        checklist = self.checklist
        if self.incident is None:
            return ChecklistView(checklist, None)
        case = self.cases.case(self.incident)
        now = dt.datetime.now(dt.timezone.utc)
        state = VerificationState(
            case=case,
            now=now,
            instances={h: v.instance for h, v in self.views.items()},
            disks={h: v.disks for h, v in self.views.items()},
            snapshots={h: v.snapshots for h, v in self.views.items()},
            quarantine_groups={
                h: g.id for h, v in self.views.items() for g in v.groups if "quarantine" in g.name
            },
            pool_connections=pool_connections,
        )
        checks = {step.id: verify_step(step, state) for step in checklist.steps}
        return ChecklistView(checklist, case, checks, clock_for(case, checklist, now), now)

    def export_report(self, directory: Path, lang: Language) -> list[tuple[Path, str]]:
        """The report as Markdown and HTML files in ``directory`` (mode 600), each hashed and
        recorded as a report action. Returns (path, sha256) of each."""
        from domain.report import build_report, render  # noqa: PLC0415

        incident = self.ensure("response checklist")
        view = self.view({})
        assert view.case is not None
        report = build_report(
            view.case, view.checklist, lang=lang, now=view.now, generated_by=local_actor(),
            checks=view.checks,
        )  # fmt: skip
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        written = []
        for fmt in ("md", "html"):
            path = directory / f"{incident}-report.{lang}.{fmt}"
            data = render(report, fmt).encode("utf-8")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            plan = ActionPlan(
                "report", "", f"{fmt} report of {incident}",
                {"format": fmt, "language": lang, "path": str(path)},
                (PlannedStep("write the report (mode 600) and hash it", f"write {path}"),),
                Risk.READ_ONLY,
            )  # fmt: skip
            result = ActionResult(
                Outcome.DONE, f"report written to {path}",
                verification=f"read back: sha256 {digest}",
                details={"sha256": digest, "path": str(path), "size": len(data)},
            )  # fmt: skip
            self.cases.record_action(incident, plan, result)
            written.append((path, digest))
        return written
