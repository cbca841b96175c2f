"""The cloud side of the console: which instance a host is, what it looks like, and the cloud
actions on it. Everything here blocks (the SDKs do): the app calls it from thread workers.

A host's instance comes from its ``[[hosts]]`` entry (provider, region, instance id), else from
``[cloud]`` (provider, region) matched by address (``backends.cloud.matching``). Credentials are
looked up as ``sickbay cloud`` does (``backends.cloud.credentials``); the secret store is asked
only when it is the system keyring (the encrypted file needs a master password only the
terminal commands ask for).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from backends.secrets import SecretStore
from domain.actions import ActionError, ActionPlan, ActionResult
from domain.cloud import (
    PROVIDERS,
    CloudError,
    CloudProvider,
    Instance,
    InstanceView,
    ProviderName,
)
from domain.i18n import tr
from tui.config import HostEntry, Settings
from tui.passphrases import PassphraseKeeper

if TYPE_CHECKING:
    from backends.cloud.actions import Timing
    from backends.cloud.agent_source import CloudAgentSource, Record


class NoCloud(Exception):
    """This host has no cloud instance sickbay can reach (the message says why)."""


@dataclass(frozen=True, slots=True)
class Where:
    provider: ProviderName
    region: str
    instance_id: str | None  # None: match by address


class CloudDesk:
    def __init__(
        self,
        settings: Settings,
        *,
        make_provider: Callable[[ProviderName, str], CloudProvider] | None = None,
        timing: Timing | None = None,
        agent_interval: float = 60.0,
    ) -> None:
        self.settings = settings
        self.agent_interval = agent_interval  # seconds between samples through the agent
        self.lang = settings.lang  # of our own messages (host and cloud text stay as they are)
        self.timing = timing
        self._make = make_provider or self._real_provider
        self._providers: dict[tuple[str, str], CloudProvider] = {}
        self._instances: dict[str, str] = {}  # host -> matched instance id
        self._agent_hosts: dict[str, Where] = {}  # hosts watched through the agent
        self._lock = threading.Lock()

    # --- which instance --------------------------------------------------------------------

    def where(self, host: str) -> Where:
        if host in self._agent_hosts:  # "i-... (cloud agent)": its instance is known
            return self._agent_hosts[host]
        entry: HostEntry | None = next((h for h in self.settings.hosts if h.name == host), None)
        cloud = self.settings.cloud
        provider = (entry.provider if entry else None) or cloud.provider
        region = (entry.region if entry else None) or cloud.region
        if provider not in PROVIDERS:
            raise NoCloud(tr("ui.desk.no-provider", self.lang, host=host))
        if not region:
            raise NoCloud(tr("ui.desk.no-region", self.lang, host=host, provider=provider))
        return Where(provider, region, entry.instance_id if entry else None)

    def provider(self, where: Where) -> CloudProvider:
        key = (where.provider, where.region)
        with self._lock:
            found = self._providers.get(key)
            if found is None:
                found = self._providers[key] = self._make(where.provider, where.region)
            return found

    def _real_provider(self, name: ProviderName, region: str) -> CloudProvider:
        from backends.cloud.credentials import lookup  # noqa: PLC0415 (the SDKs load late)

        keeper = PassphraseKeeper(self.settings.secrets_backend)
        store = None if keeper.uses_file else SecretStore("system")
        found = lookup(name, self.settings.cloud.profile, store=store)
        if found.credential is None:
            tried = "; ".join(found.tried)
            raise NoCloud(tr("ui.desk.no-key", self.lang, provider=name, tried=tried))
        endpoint = self.settings.cloud.endpoints.get(name)
        cred = found.credential
        if name == "tencent":
            from backends.cloud.tencent import TencentProvider  # noqa: PLC0415

            return TencentProvider(cred, region, endpoint=endpoint)
        from backends.cloud.aliyun import AliyunProvider  # noqa: PLC0415

        return AliyunProvider(region, cred.key_id, cred.secret, cred.token, endpoint=endpoint)

    def view(self, host: str, addresses: Iterable[str], reported_id: str = "") -> InstanceView:
        """The instance behind ``host``: the configured instance id, else the one the host
        reports (cloud-init's record), if its addresses agree, else by ``addresses`` (where the
        host is reached and what it reports)."""
        from backends.cloud.matching import MatchError, match_instance  # noqa: PLC0415

        where = self.where(host)
        provider = self.provider(where)
        addresses = list(addresses)
        try:
            if where.instance_id:
                instance = provider.instance(where.instance_id)
                how = tr("ui.desk.configured", self.lang, instance=instance.id)
            elif reported_id and (claimed := self._claimed(provider, reported_id, addresses)):
                instance = claimed
                how = tr("ui.desk.reported", self.lang, instance=instance.id)
            else:
                match = match_instance(provider.list_instances(), addresses=addresses)
                if match is None:
                    known = ", ".join(sorted(set(addresses))) or "-"
                    raise NoCloud(
                        tr(
                            "ui.desk.no-match",
                            self.lang,
                            provider=where.provider,
                            region=where.region,
                            host=host,
                            addresses=known,
                        )
                    )
                instance, how = match.instance, match.describe()
            groups = provider.security_groups(instance.security_group_ids)
            disks = provider.disks(instance.id)
            snapshots = provider.snapshots([d.id for d in disks])
        except (CloudError, MatchError) as exc:
            raise NoCloud(str(exc)) from None
        self._instances[host] = instance.id
        recent = sorted(snapshots, key=lambda s: s.created, reverse=True)
        return InstanceView(
            instance, how, tuple(groups), tuple(disks), tuple(recent), read_at=time.time()
        )

    def accounts(self) -> list[Where]:
        """Every (provider, region) the configuration names: [cloud] and the hosts'."""
        found: dict[tuple[str, str], Where] = {}
        cloud = self.settings.cloud
        pairs = [(cloud.provider, cloud.region)]
        pairs += [
            (h.provider or cloud.provider, h.region or cloud.region) for h in self.settings.hosts
        ]
        for provider, region in pairs:
            if provider in PROVIDERS and region:
                found.setdefault((provider, region), Where(provider, region, None))
        return list(found.values())

    def list_all(self) -> tuple[list[Instance], list[str]]:
        """Every instance of every configured account and region, and what could not be read."""
        instances: list[Instance] = []
        problems: list[str] = []
        accounts = self.accounts()
        if not accounts:
            problems.append(tr("ui.desk.no-account", self.lang))
        for where in accounts:
            try:
                instances.extend(self.provider(where).list_instances())
            except (NoCloud, CloudError, ValueError) as exc:
                problems.append(f"{where.provider} {where.region}: {exc}")
        return instances, problems

    @staticmethod
    def _claimed(
        provider: CloudProvider, reported_id: str, addresses: list[str]
    ) -> Instance | None:
        """The instance the host says it is, if that instance has one of its addresses (the
        host is attacker-controlled: its word alone must not point actions at another
        instance)."""
        from backends.cloud.matching import match_instance  # noqa: PLC0415

        try:
            instance = provider.instance(reported_id)
        except CloudError:
            return None
        if match_instance([instance], addresses=addresses) is None:
            return None
        return instance

    # --- actions ---------------------------------------------------------------------------

    def plan(self, host: str, action: str, params: Mapping[str, str]) -> ActionPlan:
        where = self.where(host)
        instance_id = params.get("instance") or self._instances.get(host) or where.instance_id
        if not instance_id:
            raise ActionError(tr("ui.desk.open-first", self.lang))
        given = {k: v for k, v in params.items() if k != "instance"}
        if action == "isolate" and "operator" not in given:
            operator = self.settings.cloud.operator_address or params.get("ssh_client")
            if not operator:
                raise ActionError(tr("ui.desk.operator-needed", self.lang))
            given["operator"] = operator
        given.pop("ssh_client", None)
        from backends.cloud import actions as cloud_actions  # noqa: PLC0415

        return cloud_actions.plan(self.provider(where), action, instance_id, given)

    def execute(self, host: str, plan: ActionPlan, progress: Callable[[str], None]) -> ActionResult:
        from backends.cloud import actions as cloud_actions  # noqa: PLC0415

        provider = self.provider(self.where(host))
        return cloud_actions.execute(provider, plan, progress, timing=self.timing)

    def agent_watch(
        self, host: str, instance_id: str, record: Record
    ) -> tuple[ActionPlan, CloudAgentSource]:
        """Watching ``instance_id`` through its cloud agent (blocking: call from a thread): the
        preview (the first run's exact call, and that it repeats) and the source that does it,
        to start once the operator confirms. ``record`` audits each run."""
        from backends.cloud import actions as cloud_actions  # noqa: PLC0415
        from backends.cloud.agent_source import CloudAgentSource  # noqa: PLC0415
        from backends.cloud.collect import collector_command  # noqa: PLC0415

        where = self.where(host)
        provider = self.provider(where)
        params = {"script": collector_command(), "timeout": "120"}
        plan = cloud_actions.plan(provider, "run-command", instance_id, params)
        name = tr("ui.desk.agent-name", self.lang, instance=instance_id)
        seconds = f"{self.agent_interval:g}"
        repeat = tr("ui.desk.agent-repeat", self.lang, seconds=seconds, name=name)
        plan = dataclasses.replace(
            plan,
            subject=tr("ui.desk.agent-subject", self.lang, instance=instance_id),
            warnings=(repeat, *plan.warnings),
        )
        source = CloudAgentSource(
            name, provider, instance_id, record, min_interval=self.agent_interval
        )
        self._agent_hosts[name] = Where(where.provider, where.region, instance_id)
        return plan, source
