"""The sickbay Textual application: owns the sources and their collection workers."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import App
from textual.binding import Binding, BindingType

from backends.ssh import SshSource
from domain.actions import ActionPlan, ActionResult, Outcome
from domain.detect import Detector
from domain.findings import Finding, finding_from_dict
from domain.fleet import HostRecord
from domain.history import MetricHistory
from domain.i18n import tr
from domain.incident import StepStatus
from domain.sanitize import visible
from domain.source import HostKeyTrust, PassphraseInput, SlowSource, Source, SourceError
from screens.action import ActionScreen, ResultScreen
from screens.cloud import CloudScreen
from screens.cloud_list import CloudListScreen
from screens.confirm import ConfirmScreen
from screens.fleet import FleetScreen
from screens.help import HelpScreen, binding_rows
from screens.host import HostScreen
from screens.localize import localized
from screens.messages import (
    ActionRequested,
    HostKeyDecision,
    ScreenRequested,
    SnapshotReady,
    SourceFailed,
    StepMarked,
)
from tui.cloud_desk import CloudDesk, NoCloud
from tui.commands import HostCommands
from tui.config import Settings, default_config_path
from tui.incident_desk import IncidentDesk
from tui.passphrase_flow import PassphraseFlow
from tui.passphrases import PassphraseKeeper
from tui.responder import Done, Responder
from tui.watch import HostWatch
from widgets.safe import host_text

# Action ids the host and cloud screens send that are cloud actions (a finding's "isolate" and
# "snapshot" too), and the cloud action each one is.
CLOUD_FOR = {
    "isolate": "isolate",
    "snapshot": "snapshot",
    **{f"cloud:{a}": a for a in ("snapshot", "isolate", "unisolate", "stop", "force-stop")},
    **{f"cloud:{a}": a for a in ("start", "reboot", "block", "unblock", "run-command")},
}

# With several hosts, those not on screen run the detection rules on every Nth sample only.
BACKGROUND_DETECT_EVERY = 5


class SickbayApp(App[None]):
    """One long-lived collect/post/sleep worker per source, so a slow sample is never cancelled by
    the next tick and a slow host never delays another. One source opens its host screen; several
    open the fleet screen, from which Enter opens a host."""

    CSS_PATH = "app.tcss"
    TITLE = "sickbay"
    COMMANDS: ClassVar = App.COMMANDS | {HostCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="app.quit_now"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding(
            "ctrl+p,colon", "command_palette", "Commands", show=False, id="app.command_palette"
        ),
        Binding("ctrl+c", "help_quit", show=False, system=True),
    ]

    def __init__(
        self,
        sources: Source | Sequence[Source],
        settings: Settings | None = None,
        detector: Callable[[], Detector] = Detector,
        *,
        responder: Responder | None = None,
        cloud: CloudDesk | None = None,
        incidents: IncidentDesk | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.responder = responder or Responder(
            self.settings.audit_log,
            read_only=self.settings.read_only,
            dry_run=self.settings.dry_run,
        )
        self.sources = [sources] if isinstance(sources, Source) else list(sources)
        if not self.sources:
            raise ValueError("nothing to watch")
        names = [source.name for source in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"two targets have the same name: {names}")
        self.records = {
            name: HostRecord(name, MetricHistory(self.settings.history_size)) for name in names
        }
        self._detector = detector
        self.watches = [HostWatch(source, detector()) for source in self.sources]
        self.passphrases = PassphraseKeeper(self.settings.secrets_backend)
        self.cloud = cloud or CloudDesk(self.settings)
        config_dir = (self.settings.path or default_config_path()).parent
        self.incidents = incidents or IncidentDesk(self.settings.case_file, config_dir)
        self.lang = self.settings.lang
        for source in self.sources:
            if isinstance(source, PassphraseInput) and hasattr(source, "passphrase_lookup"):
                source.passphrase_lookup = self.passphrases.lookup
        self.passphrase_flow = PassphraseFlow(self, self.passphrases)

    @property
    def fleet(self) -> bool:
        return len(self.sources) > 1

    def on_mount(self) -> None:
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        else:
            theme = repr(self.settings.theme)
            text = tr("ui.notify.unknown-theme", self.lang, theme=theme)
            self.notify(text, severity="warning", markup=False)
        self.set_keymap(self.settings.keymap)
        for warning in self.settings.warnings:
            self.notify(warning, severity="warning", markup=False)
        if self.fleet:
            self.push_screen(localized(FleetScreen, self.lang)())
            self.set_interval(1.0, self._refresh_fleet)
        else:
            self.push_screen(self._host_screen(self.sources[0].name))
        # Spread the hosts' samples over the interval: a hundred hosts sampled at the same
        # instant would hold the event loop for a burst every interval and delay keys.
        spread = self.settings.interval / len(self.watches)
        for index, watch in enumerate(self.watches):
            self.run_worker(
                self._collect(watch, index * spread),
                name=f"collect {watch.source.name}",
                group=f"collect:{watch.source.name}",
                exit_on_error=False,
            )

    async def _collect(self, watch: HostWatch, delay: float = 0.0) -> None:
        """One host's loop: a slow or dead host only ever delays itself."""
        await asyncio.sleep(delay)
        interval = self.settings.interval
        if isinstance(watch.source, SlowSource):
            interval = max(interval, watch.source.min_interval)
        name = watch.source.name
        record = self.records[name]
        while True:
            started = time.monotonic()
            shown = isinstance(self.screen, HostScreen) and self.screen.host == name
            try:
                seen = await watch.step(1 if shown or not self.fleet else BACKGROUND_DETECT_EVERY)
            except SourceError as exc:
                record.failed(exc)
                message: SnapshotReady | SourceFailed = SourceFailed(name, record.reason)
                if shown or not self.fleet:
                    self.passphrase_flow.maybe_ask(watch.source)
            else:
                record.observed(seen.snapshot, seen.findings)
                message = SnapshotReady(seen.snapshot)
                await self._record_findings(name, seen.findings)
            screen = self.screen
            if isinstance(screen, HostScreen) and screen.host == name:
                screen.post_message(message)
            await asyncio.sleep(max(0.05, interval - (time.monotonic() - started)))

    def _refresh_fleet(self) -> None:
        """Once a second, whatever the number of hosts (ages move even when nothing reports)."""
        screen = self.screen
        if isinstance(screen, FleetScreen):
            now = time.monotonic()
            screen.show_rows([record.row(now) for record in self.records.values()])

    @on(FleetScreen.OpenHost)
    def _open_host(self, message: FleetScreen.OpenHost) -> None:
        if message.name in self.records:
            self.push_screen(self._host_screen(message.name))

    async def _record_findings(self, host: str, findings: tuple[Finding, ...]) -> None:
        """Into the incident's case file (a timeline); the first serious one opens it."""
        if not findings and self.incidents.incident is None:
            return
        try:
            await asyncio.to_thread(self.incidents.observe, host, findings, **self._where(host))
        except Exception as exc:  # the case file unwritable: say so, keep watching
            self._case_file_failed(exc)

    def _case_file_failed(self, exc: Exception) -> None:
        text = tr("ui.notify.case-file", self.lang, error=str(exc))
        self.notify(text, severity="error", markup=False, timeout=10)

    def _where(self, host: str) -> dict[str, str]:
        entry = next((h for h in self.settings.hosts if h.name == host), None)
        if entry is None:
            return {}
        where = {"address": entry.address}
        for key in ("provider", "region", "instance_id"):
            value = getattr(entry, key)
            if value:
                where[key] = value
        return where

    async def _recorded(self, host: str, done: Done) -> None:
        try:
            await asyncio.to_thread(
                self.incidents.record_action, host, done.plan, done.result, done.audit_hash
            )
        except Exception as exc:
            self._case_file_failed(exc)

    async def _record_scan(self, host: str, done: Done) -> None:
        from backends.hostactions.scan import findings_from_result  # noqa: PLC0415

        found = [f for d in findings_from_result(done.result) if (f := finding_from_dict(d))]
        if found and self.incidents.incident is not None:
            incident = self.incidents.incident
            await asyncio.to_thread(self.incidents.cases.record_findings, incident, found, host)

    def _host_screen(self, name: str) -> HostScreen:
        source = self._source(name)
        actions = frozenset() if source is None else self.responder.host_actions(source)
        return localized(HostScreen, self.lang)(self.records, name, actions=actions)

    def _watch(self, name: str) -> HostWatch | None:
        return next((w for w in self.watches if w.source.name == name), None)

    @on(ActionRequested)
    def _action_requested(self, message: ActionRequested) -> None:
        if message.action == "cloud:agent-watch":
            self.run_worker(
                self._watch_through_agent(message.host, message.params.get("instance", "")),
                name="agent watch",
                group="action",
                exit_on_error=False,
            )
            return
        source = self._source(message.host)
        cloud = CLOUD_FOR.get(message.action)
        if source is None or (cloud is None and not self.responder.known(message.action)):
            text = tr("ui.notify.not-available", self.lang, action=message.action)
            self.notify(text, markup=False)
            return
        self.run_worker(
            self._run_action(source, cloud or message.action, message.params, cloud is not None),
            name=f"action {message.action}",
            group="action",
            exit_on_error=False,
        )

    async def _run_action(
        self, source: Source, action: str, params: dict[str, str], cloud: bool
    ) -> None:
        """One action, host or cloud, the one way: the responder plans it, this shows the
        preview and asks, the responder runs, verifies and audits it, this records it in the
        case file and shows the result."""

        async def confirm(plan: ActionPlan) -> bool:
            confirmed: bool = await self.push_screen_wait(ActionScreen(plan, lang=self.lang))
            return confirmed

        def say(line: str) -> None:
            self.notify(visible(line), title=action, timeout=3, markup=False)

        def progress(line: str) -> None:  # cloud actions report from the SDK's thread
            if cloud:
                self.call_from_thread(say, line)
            else:
                say(line)

        params = dict(params)
        screen = self.screen
        if cloud and "instance" not in params and isinstance(screen, CloudScreen) and screen.view:
            params["instance"] = screen.view.instance.id
        try:
            incident = await asyncio.to_thread(self.incidents.ensure, f"{source.name}: response")
            if cloud:
                done = await self.responder.run_cloud_action(
                    self.cloud, source.name, action, params,
                    confirm=confirm, incident=incident, progress=progress,
                )  # fmt: skip
            else:
                done = await self.responder.run_host_action(
                    source, action, params, confirm=confirm, incident=incident, progress=progress
                )
        except Exception as exc:  # the audit log unwritable, an unknown action: say it
            self.notify(visible(str(exc)), title=action, severity="error", markup=False)
            return
        await self._recorded(source.name, done)
        if done.result.outcome is Outcome.DRY_RUN:
            await self.push_screen_wait(ActionScreen(done.plan, dry_run=True, lang=self.lang))
            return
        if done.result.outcome is Outcome.CANCELLED:
            self.notify(tr("ui.action.cancelled", self.lang, action=action), markup=False)
            return
        if action == "scan" and not cloud:  # ClamAV's detections become incident findings
            await self._record_scan(source.name, done)
        watch = self._watch(source.name)
        if watch is not None:
            watch.refresh_facts()  # what the action changed shows on the next sample
        await self.push_screen_wait(ResultScreen(done.plan, done.result, self.lang))
        if isinstance(self.screen, CloudScreen):
            self._read_cloud(self.screen)

    async def _watch_through_agent(self, host: str, instance_id: str) -> None:
        """The host through its cloud agent, as one more watched host: preview (the exact
        call, and that it repeats), confirmation, then a source whose every run is audited."""
        try:
            incident = await asyncio.to_thread(self.incidents.ensure, f"{host}: response")

            def record(plan: ActionPlan, result: ActionResult) -> None:
                """Each run (in the source's thread): the audit log, then the case file."""
                entry = self.responder.audit.record_action(plan, result, incident=incident)
                try:
                    self.incidents.record_action(host, plan, result, str(entry["hash"]))
                except Exception as exc:
                    self.call_from_thread(self._case_file_failed, exc)

            plan, source = await asyncio.to_thread(
                self.cloud.agent_watch, host, instance_id, record
            )
        except Exception as exc:  # no cloud, no key, the instance not running: say it
            self.notify(visible(str(exc)), severity="error", markup=False)
            return
        if source.name in self.records:
            self.push_screen(self._host_screen(source.name))
            return
        if self.responder.dry_run:
            await self.push_screen_wait(ActionScreen(plan, dry_run=True, lang=self.lang))
            return
        if not await self.push_screen_wait(ActionScreen(plan, lang=self.lang)):
            self.notify(tr("ui.action.cancelled", self.lang, action=plan.action), markup=False)
            return
        self.add_source(source)
        self.push_screen(self._host_screen(source.name))

    def _addresses(self, source: Source) -> list[str]:
        """Where a host is reached and what it reports: for matching it to its instance."""
        found = []
        target = getattr(source, "target", None)
        if target is not None:
            found.append(str(target.host))
        snapshot = self.records[source.name].snapshot
        if snapshot is not None:
            found.extend(s.local_addr for s in snapshot.sockets if s.local_addr)
        return [a for a in dict.fromkeys(found) if a not in ("0.0.0.0", "::", "127.0.0.1", "::1")]

    def _read_cloud(self, screen: CloudScreen) -> None:
        source = self._source(screen.host)
        if source is None:
            return
        addresses = self._addresses(source)
        watch = self._watch(screen.host)
        reported = watch.facts.cloud.instance_id if watch and watch.facts else ""

        async def read() -> None:
            try:
                view = await asyncio.to_thread(self.cloud.view, screen.host, addresses, reported)
            except NoCloud as exc:
                screen.show(None, str(exc))
            except Exception as exc:  # a provider that cannot be built, the SDK: say it
                screen.show(None, f"{type(exc).__name__}: {exc}")
            else:
                self.incidents.views[screen.host] = view
                screen.show(view)

        self.run_worker(read(), group=f"cloud:{screen.host}", exclusive=True, exit_on_error=False)

    def _read_instances(self, screen: CloudListScreen) -> None:
        async def read() -> None:
            instances, problems = await asyncio.to_thread(self.cloud.list_all)
            screen.show(instances, problems)

        self.run_worker(read(), group="instances", exclusive=True, exit_on_error=False)

    @on(CloudListScreen.Reread)
    def _reread_instances(self) -> None:
        if isinstance(self.screen, CloudListScreen):
            self._read_instances(self.screen)

    @on(CloudListScreen.AddTarget)
    def _add_instance(self, message: CloudListScreen.AddTarget) -> None:
        """Watch the instance over SSH, as if it had been given on the command line."""
        from tui.targets import Resolver, TargetError  # noqa: PLC0415

        instance = message.instance
        address = (instance.public_ips or instance.private_ips or ("",))[0]
        name = instance.name if instance.name and instance.name not in self.records else instance.id
        if name in self.records:
            self.push_screen(self._host_screen(name))
            return
        try:
            target = dataclasses.replace(Resolver(self.settings.hosts).target(address), name=name)
        except TargetError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self.add_source(SshSource(target))
        self.push_screen(self._host_screen(name))

    def add_source(self, source: Source) -> None:
        """Watch one more host (from the cloud list)."""
        if source.name in self.records:
            raise ValueError(f"already watching {source.name}")
        if isinstance(source, PassphraseInput) and hasattr(source, "passphrase_lookup"):
            source.passphrase_lookup = self.passphrases.lookup
        self.sources.append(source)
        self.records[source.name] = HostRecord(
            source.name, MetricHistory(self.settings.history_size)
        )
        watch = HostWatch(source, self._detector())
        self.watches.append(watch)
        self.run_worker(
            self._collect(watch),
            name=f"collect {source.name}",
            group=f"collect:{source.name}",
            exit_on_error=False,
        )

    @on(ScreenRequested)
    def _screen_requested(self, message: ScreenRequested) -> None:
        if message.screen == "instances":
            instances = localized(CloudListScreen, self.lang)()
            self.push_screen(instances)
            self._read_instances(instances)
        elif message.screen == "cloud":
            screen = localized(CloudScreen, self.lang)(
                message.host, read_only=self.settings.read_only
            )
            self.push_screen(screen)
            self._read_cloud(screen)
        elif message.screen == "cloud-refresh" and isinstance(self.screen, CloudScreen):
            self._read_cloud(self.screen)
        elif message.screen == "checklist":
            from screens.checklist import ChecklistScreen  # noqa: PLC0415 (start-up time)

            checklist = localized(ChecklistScreen, self.lang)(
                message.host, self.lang, read_only=self.settings.read_only
            )
            self.push_screen(checklist)
            self._refresh_checklist()
        elif message.screen == "checklist-refresh":
            self._refresh_checklist()
        elif message.screen == "report":
            self.run_worker(self._export_report(), group="report", exit_on_error=False)
        else:
            text = tr("ui.notify.no-screen", self.lang, screen=message.screen)
            self.notify(text, markup=False)

    def _refresh_checklist(self) -> None:
        from screens.checklist import ChecklistScreen  # noqa: PLC0415

        screen = self.screen
        if not isinstance(screen, ChecklistScreen):
            return
        pools = {
            name: sum(1 for f in record.findings if f.rule_id.startswith("NET-POOL"))
            for name, record in self.records.items()
            if record.snapshot is not None
        }

        async def read() -> None:
            try:
                view = await asyncio.to_thread(self.incidents.view, pools)
            except Exception as exc:
                text = tr("ui.notify.checklist", self.lang, error=str(exc))
                self.notify(text, severity="error", markup=False)
                return
            screen.show(view)

        self.run_worker(read(), group="checklist", exclusive=True, exit_on_error=False)

    @on(StepMarked)
    def _step_marked(self, message: StepMarked) -> None:
        async def mark() -> None:
            status = StepStatus.parse(message.status)
            await asyncio.to_thread(self.incidents.set_step, message.step, status, message.reason)
            self._refresh_checklist()

        self.run_worker(mark(), group="checklist-mark", exit_on_error=False)

    async def _export_report(self) -> None:
        from backends.evidence_store import data_dir  # noqa: PLC0415
        from screens.checklist import ChecklistScreen  # noqa: PLC0415

        lang = self.screen.lang if isinstance(self.screen, ChecklistScreen) else self.lang
        try:
            incident = await asyncio.to_thread(self.incidents.ensure, "response checklist")
            where = data_dir() / "incidents" / incident
            written = await asyncio.to_thread(self.incidents.export_report, where, lang)
        except Exception as exc:
            self.notify(
                tr("ui.notify.report", lang, error=str(exc)), severity="error", markup=False
            )
            return
        for path, digest in written:
            text = tr("ui.checklist.report-written", lang, path=str(path), sha256=digest[:16])
            self.notify(text, markup=False, timeout=10)
        self._refresh_checklist()

    def _source(self, name: str) -> Source | None:
        return next((s for s in self.sources if s.name == name), None)

    @on(HostKeyDecision)
    def _decide_host_key(self, message: HostKeyDecision) -> None:
        """Show the unknown key's fingerprint; trust it only on an explicit yes. (The same key
        answers a pending passphrase question.)"""
        record = self.records.get(message.host)
        source = self._source(message.host)
        if isinstance(source, PassphraseInput) and source.passphrase_request() is not None:
            self.run_worker(self.passphrase_flow.ask(source), group="passphrase", exclusive=True)
            return
        fingerprint = None if record is None else record.fingerprint
        if fingerprint is None or not isinstance(source, HostKeyTrust):
            self.notify(tr("ui.notify.no-host-key", self.lang), markup=False)
            return
        lang = self.lang
        body = Text()
        body.append(tr("ui.hostkey.host", lang) + "  ")
        body.append_text(host_text(message.host, "bold"))
        body.append(f"\n{tr('ui.hostkey.key', lang)}  {fingerprint}\n\n", style="bold")
        body.append(tr("ui.hostkey.explain", lang))

        def decided(trust: bool | None) -> None:
            if not trust:
                return
            try:
                source.accept_host_key(fingerprint)
            except ValueError as exc:  # the pending key changed meanwhile
                self.notify(str(exc), severity="error", markup=False)
                return
            source.retry_now()
            self.notify(tr("ui.notify.trusted", lang, fingerprint=fingerprint), markup=False)

        title, trust = tr("ui.hostkey.title", lang), tr("ui.hostkey.trust", lang)
        self.push_screen(ConfirmScreen(title, body, trust, tr("ui.common.cancel", lang)), decided)

    async def on_unmount(self) -> None:
        await asyncio.gather(*(source.close() for source in self.sources), return_exceptions=True)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(binding_rows(self.screen, self.lang), self.lang))
