"""Response actions from the console: key -> plan -> preview and confirmation -> execution ->
verification -> audit entry (and the incident's case file).

Host actions run over the host's own connection (``backends.hostexec_ssh`` on the SSH source,
``backends.hostexec_local`` on this machine) through ``backends.hostactions.runner``: the one
path the command line uses too. The confirmation is the UI's :class:`screens.action.ActionScreen`
(focus on Cancel; destructive actions need the host's name typed). ``dry_run``: the preview only.
``read_only``: no actions at all (the host screen hides their keys).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.audit_log import AuditLog
from backends.evidence_store import incident_evidence_dir
from backends.hostactions import registry
from backends.hostactions.base import ActionContext
from backends.hostactions.runner import run_action
from backends.hostexec_local import LocalExec
from backends.hostexec_ssh import SshExec
from backends.local import LocalSource
from backends.ssh import SshSource
from domain.actions import ActionPlan, ActionResult
from domain.hostexec import HostExec
from domain.source import Source

Confirm = Callable[[ActionPlan], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Done:
    plan: ActionPlan
    result: ActionResult
    audit_hash: str | None


def host_exec(source: Source) -> HostExec | None:
    """How to act on the host a source watches (None: it cannot be acted on)."""
    if isinstance(source, SshSource):
        return SshExec(source)
    if isinstance(source, LocalSource):
        return LocalExec(source.name)
    return None


class Responder:
    def __init__(
        self,
        audit_path: Path,
        *,
        read_only: bool = False,
        dry_run: bool = False,
        evidence_root: Path | None = None,
    ) -> None:
        self.audit = AuditLog(audit_path)
        self.read_only, self.dry_run = read_only, dry_run
        self.evidence_root = evidence_root  # None: the data dir's incidents/<id>/evidence
        self._execs: dict[str, HostExec] = {}

    def host_actions(self, source: Source) -> frozenset[str]:
        """The action ids the host screen offers for this source."""
        if self.read_only or host_exec(source) is None:
            return frozenset()
        return frozenset(registry.ACTIONS)

    def _exec(self, source: Source) -> HostExec:
        found = self._execs.get(source.name)
        if found is None:
            made = host_exec(source)
            if made is None:
                raise ValueError(f"{source.name} cannot be acted on")
            found = self._execs[source.name] = made
        return found

    def evidence_dir(self, incident: str | None) -> Path:
        if self.evidence_root is not None:
            return self.evidence_root / (incident or "unfiled")
        return incident_evidence_dir(incident)

    async def run_host_action(
        self,
        source: Source,
        action_id: str,
        params: Mapping[str, str],
        *,
        confirm: Confirm,
        incident: str | None,
        progress: Callable[[str], None],
    ) -> Done:
        if self.read_only:
            raise PermissionError("read-only mode: no actions")
        action = registry.get(action_id)
        ctx = ActionContext(
            exec=self._exec(source),
            evidence_dir=self.evidence_dir(incident),
            incident=incident,
            progress=progress,
        )
        plan, result = await run_action(
            action, ctx, dict(params), confirm=confirm, dry_run=self.dry_run, audit=self.audit
        )
        head = self.audit.head()
        return Done(plan, result, None if head is None else head[1])

    def known(self, action_id: str) -> bool:
        return action_id in registry.ACTIONS

    def describe(self) -> dict[str, Any]:
        return {"audit_log": str(self.audit.path), "dry_run": self.dry_run}
