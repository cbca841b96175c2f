r"""Detection settings: thresholds, allowlists, indicators and user rules, from a TOML rules file.

Every section is optional; what a file gives is added to (indicators, allowlists, rules) or
replaces (thresholds) the built-in defaults. Unknown keys are reported as warnings, not errors,
so an older sickbay can read a newer file. Example (``sickbay scan --rules rules.toml``)::

    [thresholds]                  # see Thresholds for every name and its default
    cpu_percent = 80              # host CPU % (of all CPUs) that counts as busy
    cpu_window_s = 180            # ...for this long before it is a finding
    disk_latency_ms = 500
    fanout_remotes = 50

    [indicators]                  # added to the built-in lists
    miner_names = ["mysvc-miner"]
    pool_hosts = ["pool.example.net"]         # matched in command lines and persistence files
    pool_ports = [3390]                        # remote ports of pools
    pool_addresses = ["203.0.113.0/24"]       # remote addresses/CIDRs of pools
    scanner_names = ["myscan"]
    backdoor_ports = [7000]
    listen_ports = [8080, 8443]               # listeners that need no explanation
    ioc_paths = ["/tmp/.evil"]                # files whose existence is an indicator
    tool_dirs = [".mytool"]                   # hidden dirs in homes that hold ordinary tools

    [allow]                       # drop findings whose evidence matches ANY of these (all rules)
    rules = ["TAMP-STALE-PACKAGES"]           # rule ids (or globs) switched off
    ports = [9100]                            # evidence port / remote port
    exes = ["/opt/app/bin/*"]                 # evidence executable (glob)
    users = ["deploy"]                        # evidence user
    processes = ["node_exporter"]             # evidence process name
    remotes = ["10.0.0.0/8"]                  # evidence remote address (CIDR)
    paths = ["/etc/cron.d/backup"]            # evidence file (glob)

    [[allow.match]]               # drop findings matching ALL the fields given (scoped)
    rule = "NET-LISTENER-*"                   # rule id or glob (optional)
    port = 8443
    process = "java"

    [[rules.process]]             # your own rules: all given conditions must hold
    id = "LOCAL-PROC-1"
    title = "Unapproved tunnel"
    severity = "high"                         # critical | high | medium | low | info
    explanation = "A tunnelling tool is running."
    attack = ["T1572"]
    actions = ["freeze", "kill"]
    names = ["frpc", "ngrok"]                 # process name or executable basename (any)
    exes = ["/tmp/*"]                         # executable path globs (any)
    cmdline = '--remote-port\s+\d+'           # regular expression (TOML '...' keeps \ as is)
    users = ["www-data"]                      # user names (any)

    [[rules.file]]                # lines of persistence files (cron, systemd, rc, profile...)
    id = "LOCAL-FILE-1"
    title = "Backup job calls an unknown host"
    severity = "medium"
    kinds = ["cron", "cron-script"]           # cron cron-script systemd rc profile preload
                                              # authorized_keys firewall (default: all)
    paths = ["/etc/cron.d/*"]                 # file path globs (default: all)
    pattern = 'backup\.example\.org'          # regular expression searched in each line

    [[rules.socket]]              # sockets
    id = "LOCAL-NET-1"
    title = "Connection to the old C2"
    severity = "critical"
    remotes = ["198.51.100.7/32"]             # remote address CIDRs (any)
    ports = [4444]                            # remote port, or local port when listening
    listening = false                         # true: listeners only; false: connections only
    processes = ["bash"]

Regular expressions are Python's ``re`` syntax. A rule's id must be unique and not one of the
built-in ids.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from domain.facts import FILE_KINDS
from domain.findings import ACTIONS, Finding, Severity

from . import indicators as ioc
from .catalog import BUILTIN_IDS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on 3.10
    import tomli as tomllib

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class RulesError(Exception):
    """The rules file cannot be used; the message says why and where."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    cpu_percent: float = 80.0  # host CPU busy, % of all CPUs
    cpu_window_s: float = 180.0  # sustained this long
    cpu_peaks_per_day: int = 3  # sustained-CPU episodes in 24 h that make a pattern
    hidden_load_min_percent: float = 50.0  # host CPU busy (steal excluded) to consider
    hidden_load_ratio: float = 0.5  # sum of process CPU below this share of host busy
    hidden_load_window_s: float = 120.0
    hidden_load_max_new_processes: float = 5.0  # new processes per sample: churn explains it
    disk_latency_ms: float = 500.0
    disk_window_s: float = 180.0
    packet_rate_factor: float = 3.0  # current rate above baseline x this
    packet_rate_min_pps: float = 1000.0  # ...and above this many packets/s
    packet_window_s: float = 60.0
    packet_baseline_min_s: float = 600.0  # history needed before a baseline exists
    shm_growth_bytes: float = 64 * 2**20
    shm_window_s: float = 300.0
    fanout_remotes: int = 50  # distinct remote addresses one process talks to
    fanout_ssh_remotes: int = 10  # distinct remote SSH servers one process talks to
    recent_days: float = 30.0  # persistence files changed this recently are reported
    stale_package_days: float = 90.0
    sample_gap_s: float = 30.0  # a longer gap between samples breaks a sustained window
    forget_after_s: float = 900.0  # a finding unseen this long is forgotten


@dataclass(frozen=True, slots=True)
class Indicators:
    miner_names: frozenset[str] = ioc.MINER_NAMES
    pool_hosts: tuple[str, ...] = ioc.POOL_HOSTS
    pool_ports: frozenset[int] = ioc.POOL_PORTS
    pool_addresses: tuple[IPNetwork, ...] = ()
    scanner_names: frozenset[str] = ioc.SCANNER_NAMES
    backdoor_ports: frozenset[int] = ioc.BACKDOOR_PORTS
    listen_ports: frozenset[int] = ioc.ALLOWED_LISTEN_PORTS
    ioc_paths: tuple[str, ...] = ioc.IOC_PATHS
    tool_dirs: frozenset[str] = ioc.TOOL_DIRS


@dataclass(frozen=True, slots=True)
class AllowRule:
    """Drops findings whose evidence matches every field given (a field left empty is not a
    condition). A finding without the field in its evidence does not match it."""

    rule: str | None = None  # rule id or glob; None: every rule
    ports: frozenset[int] = frozenset()
    exes: tuple[str, ...] = ()
    users: frozenset[str] = frozenset()
    processes: frozenset[str] = frozenset()
    remotes: tuple[IPNetwork, ...] = ()
    paths: tuple[str, ...] = ()

    def matches(self, finding: Finding) -> bool:
        if self.rule is not None and not fnmatch.fnmatchcase(finding.rule_id, self.rule):
            return False
        ev = finding.evidence
        if self.ports and not ({ev.port, ev.remote_port} & self.ports):
            return False
        if self.exes and not (ev.exe and any(fnmatch.fnmatchcase(ev.exe, g) for g in self.exes)):
            return False
        if self.users and ev.user not in self.users:
            return False
        if self.processes and ev.process not in self.processes:
            return False
        if self.remotes and not (ev.remote_addr and address_in(ev.remote_addr, self.remotes)):
            return False
        return not (
            self.paths
            and not (ev.path and any(fnmatch.fnmatchcase(ev.path, g) for g in self.paths))
        )


CustomKind = Literal["process", "file", "socket"]


@dataclass(frozen=True, slots=True)
class CustomRule:
    kind: CustomKind
    id: str
    title: str
    severity: Severity
    explanation: str
    attack: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    names: frozenset[str] = frozenset()
    exes: tuple[str, ...] = ()
    cmdline: re.Pattern[str] | None = None
    users: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    paths: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    remotes: tuple[IPNetwork, ...] = ()
    ports: frozenset[int] = frozenset()
    listening: bool | None = None
    processes: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class DetectConfig:
    thresholds: Thresholds = Thresholds()
    indicators: Indicators = Indicators()
    allow: tuple[AllowRule, ...] = ()
    disabled: tuple[str, ...] = ()  # rule ids or globs
    custom: tuple[CustomRule, ...] = ()
    sources: tuple[str, ...] = ()  # rules files read, in order
    warnings: tuple[str, ...] = field(default=())

    def rule_enabled(self, rule_id: str) -> bool:
        return not any(fnmatch.fnmatchcase(rule_id, pattern) for pattern in self.disabled)

    def allowed(self, finding: Finding) -> bool:
        """True when an allowlist entry drops this finding."""
        return any(entry.matches(finding) for entry in self.allow)


def address_in(address: str, networks: Iterable[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


# -- parsing -----------------------------------------------------------------------------------


class _Reader:
    """Typed access to one table of the decoded TOML, with errors that say where."""

    def __init__(self, data: Any, where: str, warnings: list[str]) -> None:
        if not isinstance(data, dict):
            raise RulesError(f"{where}: must be a table")
        self.data: dict[str, Any] = data
        self.where = where
        self.warnings = warnings
        self.used: set[str] = set()

    def get(self, key: str) -> Any:
        self.used.add(key)
        return self.data.get(key)

    def done(self) -> None:
        for key in self.data:
            if key not in self.used:
                self.warnings.append(f"{self.where}: unknown setting '{key}' ignored")

    def strings(self, key: str) -> list[str]:
        value = self.get(key)
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RulesError(f"{self.where}: '{key}' must be a list of strings")
        return list(value)

    def ports(self, key: str) -> list[int]:
        value = self.get(key)
        if value is None:
            return []
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 65535 for v in value
        ):
            raise RulesError(f"{self.where}: '{key}' must be a list of port numbers (0-65535)")
        return list(value)

    def networks(self, key: str) -> list[IPNetwork]:
        out = []
        for text in self.strings(key):
            try:
                out.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise RulesError(
                    f"{self.where}: '{key}': not an address or CIDR: {text!r}"
                ) from None
        return out

    def regex(self, key: str) -> re.Pattern[str] | None:
        value = self.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise RulesError(f"{self.where}: '{key}' must be a regular expression string")
        try:
            return re.compile(value)
        except re.error as exc:
            raise RulesError(f"{self.where}: '{key}': bad regular expression: {exc}") from None

    def text(self, key: str, required: bool = False, default: str = "") -> str:
        value = self.get(key)
        if value is None:
            if required:
                raise RulesError(f"{self.where}: '{key}' is required")
            return default
        if not isinstance(value, str) or (required and not value.strip()):
            raise RulesError(f"{self.where}: '{key}' must be a non-empty string")
        return value

    def boolean(self, key: str) -> bool | None:
        value = self.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise RulesError(f"{self.where}: '{key}' must be true or false")
        return value


def _thresholds(base: Thresholds, table: _Reader) -> Thresholds:
    changes: dict[str, Any] = {}
    for f in fields(Thresholds):
        value = table.get(f.name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise RulesError(f"{table.where}: '{f.name}' must be a non-negative number")
        changes[f.name] = int(value) if f.type == "int" else float(value)
    table.done()
    return replace(base, **changes)


def _indicators(base: Indicators, table: _Reader) -> Indicators:
    result = replace(
        base,
        miner_names=base.miner_names | frozenset(table.strings("miner_names")),
        pool_hosts=base.pool_hosts + tuple(table.strings("pool_hosts")),
        pool_ports=base.pool_ports | frozenset(table.ports("pool_ports")),
        pool_addresses=base.pool_addresses + tuple(table.networks("pool_addresses")),
        scanner_names=base.scanner_names | frozenset(table.strings("scanner_names")),
        backdoor_ports=base.backdoor_ports | frozenset(table.ports("backdoor_ports")),
        listen_ports=base.listen_ports | frozenset(table.ports("listen_ports")),
        ioc_paths=base.ioc_paths
        + tuple(p for p in table.strings("ioc_paths") if p.startswith("/")),
        tool_dirs=base.tool_dirs | frozenset(table.strings("tool_dirs")),
    )
    table.done()
    return result


def _allow(table: _Reader) -> tuple[list[AllowRule], list[str]]:
    entries: list[AllowRule] = []
    disabled = table.strings("rules")
    ports = frozenset(table.ports("ports"))
    if ports:
        entries.append(AllowRule(ports=ports))
    exes = tuple(table.strings("exes"))
    if exes:
        entries.append(AllowRule(exes=exes))
    users = frozenset(table.strings("users"))
    if users:
        entries.append(AllowRule(users=users))
    processes = frozenset(table.strings("processes"))
    if processes:
        entries.append(AllowRule(processes=processes))
    remotes = tuple(table.networks("remotes"))
    if remotes:
        entries.append(AllowRule(remotes=remotes))
    paths = tuple(table.strings("paths"))
    if paths:
        entries.append(AllowRule(paths=paths))
    matches = table.get("match")
    if matches is not None:
        if not isinstance(matches, list):
            raise RulesError(f"{table.where}: 'match' must be an array of tables ([[allow.match]])")
        for i, raw in enumerate(matches, 1):
            m = _Reader(raw, f"{table.where}.match[{i}]", table.warnings)
            rule = m.text("rule") or None
            entry = AllowRule(
                rule=rule,
                ports=frozenset(m.ports("port") + m.ports("ports")),
                exes=tuple(m.strings("exe") + m.strings("exes")),
                users=frozenset(m.strings("user") + m.strings("users")),
                processes=frozenset(m.strings("process") + m.strings("processes")),
                remotes=tuple(m.networks("remote") + m.networks("remotes")),
                paths=tuple(m.strings("path") + m.strings("paths")),
            )
            m.done()
            if entry == AllowRule(rule=rule):
                if rule is None:
                    raise RulesError(f"{m.where}: an allow entry needs at least one field")
                disabled.append(rule)  # a rule with no conditions: switch the rule off
                continue
            entries.append(entry)
    table.done()
    return entries, disabled


def _custom(kind: CustomKind, raw: Any, where: str, warnings: list[str]) -> CustomRule:
    t = _Reader(raw, where, warnings)
    rule_id = t.text("id", required=True).strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", rule_id):
        raise RulesError(f"{where}: 'id' must be letters, digits, '-', '_' or '.' (up to 64)")
    try:
        severity = Severity.parse(t.text("severity", default="medium"))
    except ValueError as exc:
        raise RulesError(f"{where}: {exc}") from None
    actions = t.strings("actions")
    unknown = [a for a in actions if a not in ACTIONS]
    if unknown:
        raise RulesError(f"{where}: unknown action(s) {unknown} (known: {', '.join(ACTIONS)})")
    kinds = t.strings("kinds")
    bad_kinds = [k for k in kinds if k not in FILE_KINDS]
    if bad_kinds:
        raise RulesError(
            f"{where}: unknown file kind(s) {bad_kinds} (known: {', '.join(FILE_KINDS)})"
        )
    rule = CustomRule(
        kind=kind,
        id=rule_id,
        title=t.text("title", required=True),
        severity=severity,
        explanation=t.text("explanation", default="Matched a rule from the rules file."),
        attack=tuple(t.strings("attack")),
        actions=tuple(actions),
        names=frozenset(t.strings("names")),
        exes=tuple(t.strings("exes")),
        cmdline=t.regex("cmdline"),
        users=frozenset(t.strings("users")),
        kinds=frozenset(kinds),
        paths=tuple(t.strings("paths")),
        pattern=t.regex("pattern"),
        remotes=tuple(t.networks("remotes")),
        ports=frozenset(t.ports("ports")),
        listening=t.boolean("listening"),
        processes=frozenset(t.strings("processes")),
    )
    t.done()
    conditions = {
        "process": (rule.names, rule.exes, rule.cmdline, rule.users),
        "file": (rule.pattern,),
        "socket": (rule.remotes, rule.ports, rule.processes),
    }[kind]
    if not any(c for c in conditions):
        needs = {
            "process": "names, exes, cmdline or users",
            "file": "pattern",
            "socket": "remotes, ports or processes",
        }
        raise RulesError(f"{where}: a {kind} rule needs {needs[kind]}")
    return rule


def config_from_dict(
    data: dict[str, Any], where: str = "rules", base: DetectConfig | None = None
) -> DetectConfig:
    """Apply one decoded rules document on top of ``base`` (the defaults when None)."""
    config = base or DetectConfig()
    warnings: list[str] = list(config.warnings)
    top = _Reader(data, where, warnings)
    thresholds = config.thresholds
    if top.get("thresholds") is not None:
        thresholds = _thresholds(
            thresholds, _Reader(top.get("thresholds"), f"{where} [thresholds]", warnings)
        )
    indicators_ = config.indicators
    if top.get("indicators") is not None:
        indicators_ = _indicators(
            indicators_, _Reader(top.get("indicators"), f"{where} [indicators]", warnings)
        )
    allow = list(config.allow)
    disabled = list(config.disabled)
    if top.get("allow") is not None:
        entries, off = _allow(_Reader(top.get("allow"), f"{where} [allow]", warnings))
        allow.extend(entries)
        disabled.extend(off)
    custom = list(config.custom)
    if top.get("rules") is not None:
        rules = _Reader(top.get("rules"), f"{where} [rules]", warnings)
        kinds: tuple[CustomKind, ...] = ("process", "file", "socket")
        for kind in kinds:
            items = rules.get(kind)
            if items is None:
                continue
            if not isinstance(items, list):
                raise RulesError(
                    f"{where}: 'rules.{kind}' must be an array of tables ([[rules.{kind}]])"
                )
            for i, raw in enumerate(items, 1):
                custom.append(_custom(kind, raw, f"{where} [[rules.{kind}]] #{i}", warnings))
        rules.done()
    seen: set[str] = set()
    for rule in custom:
        if rule.id in BUILTIN_IDS or rule.id in seen:
            raise RulesError(f"{where}: rule id {rule.id!r} is already used")
        seen.add(rule.id)
    top.done()
    return DetectConfig(
        thresholds=thresholds,
        indicators=indicators_,
        allow=tuple(allow),
        disabled=tuple(disabled),
        custom=tuple(custom),
        sources=(*config.sources, where),
        warnings=tuple(warnings),
    )


def load_rules_file(path: str | os.PathLike[str], base: DetectConfig | None = None) -> DetectConfig:
    """Read a rules file (TOML) on top of ``base``. Raises :class:`RulesError`."""
    where = Path(path)
    try:
        raw = where.read_bytes()
    except FileNotFoundError:
        raise RulesError(f"{where}: no such rules file") from None
    except OSError as exc:
        raise RulesError(f"{where}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RulesError(f"{where}: not valid TOML: {exc}") from None
    return config_from_dict(data, str(where), base)
