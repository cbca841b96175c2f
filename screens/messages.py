"""Messages that carry data from the app's collection workers to the screens."""

from __future__ import annotations

from textual.message import Message

from domain.model import HostSnapshot


class SnapshotReady(Message):
    """A new snapshot of a host (its record holds it, with the findings). A newer one replaces one
    still waiting in the queue, so a slow UI never works through a backlog of stale samples."""

    def __init__(self, snapshot: HostSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotReady) and message.snapshot.host == self.snapshot.host


class SourceFailed(Message):
    """A sample could not be taken. ``reason`` is our own text; ``host`` is the source name."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__()
        self.host = host
        self.reason = reason


class HostKeyDecision(Message):
    """The operator asked to decide about the unknown host key of ``host`` (the app shows the
    fingerprint and asks; screens never touch sources)."""

    def __init__(self, host: str) -> None:
        super().__init__()
        self.host = host


class ActionRequested(Message):
    """The operator asked for response action ``action`` (an id of ``domain.findings.ACTIONS``
    or a host/cloud action id) on ``host`` with ``params`` (pid, path, address, user...). The
    app plans it, shows the preview, asks, runs, verifies and records it."""

    def __init__(self, host: str, action: str, params: dict[str, str]) -> None:
        super().__init__()
        self.host, self.action, self.params = host, action, params


class ScreenRequested(Message):
    """The operator asked for one of the app's screens about ``host`` ("checklist", "cloud")."""

    def __init__(self, host: str, screen: str) -> None:
        super().__init__()
        self.host, self.screen = host, screen


class StepMarked(Message):
    """The operator set a checklist step's status ("done", "in-progress", "skipped")."""

    def __init__(self, step: str, status: str, reason: str = "") -> None:
        super().__init__()
        self.step, self.status, self.reason = step, status, reason
