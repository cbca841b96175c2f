"""Watching one host: sample, read its facts now and then, run the detection rules.

Plain Python (no Textual): the app runs one HostWatch per source in a worker and posts what it
returns. Rule evaluation and facts gathering run in a thread so the UI's event loop never waits
on them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from domain.detect import Detector
from domain.facts import HostFacts
from domain.findings import Finding
from domain.model import HostSnapshot
from domain.source import FactsSource, Source

FACTS_INTERVAL = 300.0  # seconds: accounts, cron, units... change slowly


@dataclass(frozen=True)
class Observation:
    snapshot: HostSnapshot
    findings: tuple[Finding, ...]
    facts_at: float | None  # when the facts the findings used were read (None: no facts)


class HostWatch:
    """Turns one source into observations: snapshot -> (facts) -> findings."""

    def __init__(
        self,
        source: Source,
        detector: Detector | None = None,
        facts_interval: float = FACTS_INTERVAL,
    ) -> None:
        self.source = source
        self.detector = detector or Detector()
        self.facts_interval = facts_interval
        self.facts: HostFacts | None = None
        self.facts_at: float | None = None
        self.facts_error: str | None = None
        self._facts_due = True
        self.findings: tuple[Finding, ...] = ()
        self._since_detect: int | None = None  # samples since the rules last ran (None: never)

    def refresh_facts(self) -> None:
        """Read the facts again with the next sample (the operator asked, or after an action)."""
        self._facts_due = True

    async def _read_facts(self, snapshot: HostSnapshot) -> None:
        if not isinstance(self.source, FactsSource):
            return
        request = self.detector.facts_request(snapshot)
        try:
            self.facts = await self.source.facts(request.probe_paths, request.exe_probes)
        except Exception as exc:  # a facts failure must not stop live watching
            self.facts_error = f"host facts unreadable: {exc}"
        else:
            self.facts_error = None
        self.facts_at = time.time()
        self._facts_due = False

    async def step(self, detect_every: int = 1) -> Observation:
        """Sample; run the rules on this sample, or, with ``detect_every`` N > 1, on every Nth
        (a fleet's hosts that are not on screen: with a hundred hosts the rules would otherwise
        cost the bastion more than everything else). Skipped samples keep the last findings."""
        snapshot = await self.source.sample()
        stale = self.facts_at is None or time.time() - self.facts_at >= self.facts_interval
        if self._facts_due or stale:
            await self._read_facts(snapshot)
        since = self._since_detect
        if since is None or since + 1 >= detect_every:
            findings = await asyncio.to_thread(
                self.detector.evaluate, snapshot, self.facts, snapshot.taken_at, snapshot.host
            )
            self.findings, self._since_detect = tuple(findings), 0
        else:
            self._since_detect = since + 1
        return Observation(snapshot, self.findings, self.facts_at)
