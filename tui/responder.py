"""Response actions from the console: key -> plan -> preview and confirmation -> execution ->
verification -> audit entry (and the incident's case file).

Host actions run over the host's own connection (``backends.hostexec_ssh`` on the SSH source,
``backends.hostexec_local`` on this machine) through ``backends.hostactions.runner``: the one
path the command line uses too. The confirmation is the UI's :class:`screens.action.ActionScreen`
(focus on Cancel; destructive actions need the host's name typed). ``dry_run``: the preview only.
``read_only``: no actions at all (the host screen hides their keys).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from backends.audit_log import AuditLog
from backends.hostactions import HOST_ACTION_IDS
from backends.local import LocalSource
from backends.ssh import SshSource
from domain.actions import NOTHING_DONE, ActionError, ActionPlan, ActionResult, Outcome, Risk
from domain.cloud import CloudError
from domain.hostexec import HostExec
from domain.source import Source
from tui.cloud_desk import CloudDesk, NoCloud

Confirm = Callable[[ActionPlan], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Done:
    plan: ActionPlan
    result: ActionResult
    audit_hash: str | None


def host_exec(source: Source) -> HostExec | None:
    """How to act on the host a source watches (None: it cannot be acted on). The action
    modules load on first use, not at start-up (the first frame waits for imports)."""
    from backends.hostexec_local import LocalExec  # noqa: PLC0415
    from backends.hostexec_ssh import SshExec  # noqa: PLC0415

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
        if self.read_only or not isinstance(source, SshSource | LocalSource):
            return frozenset()
        return HOST_ACTION_IDS

    def _exec(self, source: Source) -> HostExec:
        found = self._execs.get(source.name)
        if found is None:
            made = host_exec(source)
            if made is None:
                raise ValueError(f"{source.name} cannot be acted on")
            found = self._execs[source.name] = made
        return found

    def evidence_dir(self, incident: str | None) -> Path:
        from backends.evidence_store import incident_evidence_dir  # noqa: PLC0415

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
        from backends.hostactions import registry  # noqa: PLC0415
        from backends.hostactions.base import ActionContext  # noqa: PLC0415
        from backends.hostactions.runner import run_action  # noqa: PLC0415

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

    async def run_cloud_action(
        self,
        desk: CloudDesk,
        host: str,
        action_id: str,
        params: Mapping[str, str],
        *,
        confirm: Confirm,
        incident: str | None,
        progress: Callable[[str], None],
    ) -> Done:
        """The same path as host actions: plan (reads only) -> dry run or confirmation ->
        execute (the blocking SDK, in a thread) -> audit entry for every outcome."""
        if self.read_only:
            raise PermissionError("read-only mode: no actions")
        if action_id == "unisolate" and "groups" not in params:
            undo = self.last_undo("isolate", params.get("instance", ""))
            if undo is None:
                raise ActionError("no recorded isolation of this instance to undo")
            params = {**params, **undo}
        try:
            plan = await asyncio.to_thread(desk.plan, host, action_id, params)
        except (ActionError, NoCloud) as exc:
            plan = ActionPlan(
                action_id, host, "(could not be planned)", dict(params), (), Risk.READ_ONLY
            )
            result = ActionResult(
                Outcome.FAILED, f"cannot plan {action_id}: {exc}", state=NOTHING_DONE
            )
            return self._record(plan, result, incident)
        if self.dry_run:
            result = ActionResult(Outcome.DRY_RUN, f"dry run: {NOTHING_DONE}", state=NOTHING_DONE)
            return self._record(plan, result, incident)
        if not await confirm(plan):
            result = ActionResult(
                Outcome.CANCELLED, f"cancelled: {NOTHING_DONE}", state=NOTHING_DONE
            )
            return self._record(plan, result, incident)
        try:
            result = await asyncio.to_thread(desk.execute, host, plan, progress)
        except (ActionError, NoCloud, CloudError) as exc:
            result = ActionResult(
                Outcome.FAILED, f"{action_id} failed: {exc}", state="unknown: check the instance"
            )
        return self._record(plan, result, incident)

    def _record(self, plan: ActionPlan, result: ActionResult, incident: str | None) -> Done:
        entry = self.audit.record_action(plan, result, incident=incident)
        return Done(plan, result, str(entry["hash"]))

    def last_undo(self, action: str, instance_id: str) -> dict[str, str] | None:
        """The undo params the last successful ``action`` on ``instance_id`` recorded."""
        for entry in reversed(self.audit.entries()):
            if entry.get("action") != action or entry.get("outcome") != "done":
                continue
            if entry.get("params", {}).get("instance_id") != instance_id:
                continue
            undo = entry.get("undo")
            if isinstance(undo, list) and len(undo) == 2 and isinstance(undo[1], dict):
                return {str(k): str(v) for k, v in undo[1].items()}
        return None

    def known(self, action_id: str) -> bool:
        return action_id in HOST_ACTION_IDS
