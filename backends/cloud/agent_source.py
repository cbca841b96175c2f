"""A host watched through its cloud agent, for when SSH is cut (sshd killed, keys changed, the
network isolated): each sample is sickbay's collector run by Cloud Assistant / TAT, in pages
(``backends.cloud.collect``), decoded like an SSH sample.

A sample costs seconds, a few API calls and a root command on the host, so a source asks for at
most one sample per ``min_interval`` seconds (``domain.source.SlowSource``). Every run is a
``run-command`` action: planned with the exact API call, executed, and recorded in the audit log
with the sha256 of its output (not the output itself). The operator confirms the preview once,
when the watch starts; the same command then repeats, only its cursor changing.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from backends.cloud import actions
from backends.cloud.collect import OUTPUT_BUDGET, AgentCollectError, collect_pages
from backends.decode import Decoder
from domain.actions import ActionError, ActionPlan, ActionResult
from domain.cloud import CloudError, CloudProvider
from domain.model import HostSnapshot
from domain.source import SourceError

Record = Callable[[ActionPlan, ActionResult], None]
AGENT_INTERVAL = 60.0  # seconds between two samples through the agent


class PageFailed(AgentCollectError):
    """A page's run-command did not succeed; ``result`` says how."""

    def __init__(self, number: int, result: ActionResult) -> None:
        super().__init__(f"page {number}: {result.summary}")
        self.result = result


def page_runner(
    provider: CloudProvider,
    instance_id: str,
    record: Record,
    *,
    timeout_s: int = 120,
    say: Callable[[str], None] = lambda line: None,
) -> Callable[[str, int], str]:
    """``run_page`` for :func:`collect_pages`: one audited run-command per page (blocking)."""

    def run_page(command: str, number: int) -> str:
        params = {"script": command, "timeout": str(timeout_s)}
        plan = actions.plan(provider, "run-command", instance_id, params)
        if number > 1:
            say(f"page {number}: the rows after the previous page")
        result = actions.execute(provider, plan, lambda line: None)
        digest = {
            "page": number,
            "exit_code": result.details.get("exit_code"),
            "output_sha256": result.details.get("output_sha256"),
        }
        record(plan, dataclasses.replace(result, details=digest))  # not the sample itself
        if not result.ok:
            raise PageFailed(number, result)
        return str(result.details.get("output", ""))

    return run_page


class CloudAgentSource:
    """Samples of ``instance_id`` through its cloud agent, under the display name ``name``."""

    def __init__(
        self,
        name: str,
        provider: CloudProvider,
        instance_id: str,
        record: Record,
        *,
        budget: int = OUTPUT_BUDGET,
        timeout_s: int = 120,
        min_interval: float = AGENT_INTERVAL,
    ) -> None:
        self._name = name
        self.provider, self.instance_id, self.record = provider, instance_id, record
        self.budget, self.timeout_s = budget, timeout_s
        self.min_interval = min_interval
        self._decoder = Decoder()

    @property
    def name(self) -> str:
        return self._name

    def _collect(self) -> HostSnapshot:
        run_page = page_runner(
            self.provider, self.instance_id, self.record, timeout_s=self.timeout_s
        )
        merged = collect_pages(run_page, self.budget).sample()
        return self._decoder.decode(merged, self._name, "cloud-agent")

    async def sample(self) -> HostSnapshot:
        try:
            return await asyncio.to_thread(self._collect)
        except (AgentCollectError, CloudError, ActionError) as exc:
            raise SourceError(f"through the cloud agent: {exc}") from None

    async def close(self) -> None:
        """Nothing is held between samples (each run is its own API call)."""
