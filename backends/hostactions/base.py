"""The interface every host action implements.

An action is planned first (:meth:`HostAction.plan`: it may *read* the host, to check the pid
still exists or resolve a process tree, but changes nothing), shown, confirmed, then executed
(:meth:`HostAction.execute`, which also verifies by reading the state back). The runner
(``backends.hostactions.runner``) does the audit entry; actions never write it themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from domain.actions import ActionPlan, ActionResult, Risk
from domain.hostexec import HostExec


@dataclass(frozen=True, slots=True)
class ActionContext:
    """``evidence_dir``: where collected files go on the bastion (per incident);
    ``progress``: called with one line of progress at a time (the UI shows it)."""

    exec: HostExec
    evidence_dir: Path
    incident: str | None = None
    progress: Callable[[str], None] = field(default=lambda line: None)


class HostAction(Protocol):
    id: str  # as in domain.findings.ACTIONS and `sickbay act TARGET ID`
    title: str  # "Freeze process tree"
    risk: Risk
    params: tuple[str, ...]  # the parameters it needs: "pid", "path", "user", "address", ...

    async def plan(self, ctx: ActionContext, params: Mapping[str, str]) -> ActionPlan:
        """Raises domain.actions.ActionError when the params are bad or the object is gone."""
        ...

    async def execute(self, ctx: ActionContext, plan: ActionPlan) -> ActionResult: ...
