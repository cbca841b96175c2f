"""sickbay's configuration file (TOML).

Looked up in this order: ``--config PATH``, ``$SICKBAY_CONFIG``, then ``config.toml`` in the
platform's config directory (``~/.config/sickbay/`` on Linux). A missing default file means the
defaults; a missing file that was asked for explicitly is an error. Unknown settings are reported,
not fatal, so an older sickbay can read a newer file.

Example::

    interval = 2.0            # seconds between samples
    theme = "textual-dark"    # any Textual theme (ansi-dark follows the terminal's palette)
    history_minutes = 5       # how much history the sparklines show

    [keymap]                  # remap keys by binding id (see `?` in the app)
    "app.quit" = "ctrl+q"
    "host.filter" = "f"

    [[hosts]]                 # named SSH targets: `sickbay web1`, `sickbay @prod`
    name = "web1"
    address = "10.0.0.5"
    user = "ops"
    port = 22
    jump = "bastion"          # another [[hosts]] name, or user@host:port
    tags = ["prod", "web"]
    provider = "aliyun"       # the cloud instance behind it (for the cloud console)
    region = "cn-hangzhou"
    instance_id = "i-bp1..."
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from domain.i18n import Language, pick_language

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on 3.10
    import tomli as tomllib

APP_NAME = "sickbay"
ENV_CONFIG = "SICKBAY_CONFIG"
MIN_INTERVAL = 0.2


class ConfigError(Exception):
    """The configuration file cannot be used; the message says why and where."""


@dataclass(frozen=True)
class HostEntry:
    """A ``[[hosts]]`` entry: a named SSH target, with tags for ``sickbay @group``, and the
    cloud instance behind it for the cloud console (provider, region, instance id)."""

    name: str
    address: str
    user: str | None = None
    port: int | None = None
    jump: str | None = None  # another host's name, or user@host[:port]
    tags: tuple[str, ...] = ()
    provider: str | None = None
    region: str | None = None
    instance_id: str | None = None


@dataclass(frozen=True)
class CloudSettings:
    """``[cloud]``: which account and region hosts without their own are looked up in, API
    endpoint overrides (private regions, tests), and the operator's address that isolation
    keeps SSH open for (default: the address the host sees our SSH connection come from)."""

    provider: str | None = None  # "aliyun" or "tencent"
    region: str | None = None
    profile: str | None = None
    endpoints: dict[str, str] = field(default_factory=dict)  # provider -> endpoint
    operator_address: str | None = None


@dataclass(frozen=True)
class Settings:
    interval: float = 2.0
    theme: str = "textual-dark"
    history_minutes: float = 5.0
    keymap: dict[str, str] = field(default_factory=dict)
    hosts: tuple[HostEntry, ...] = ()
    path: Path | None = None  # where these settings came from (None: built-in defaults)
    warnings: tuple[str, ...] = ()
    # Where secrets go: "auto" (the system keyring, else the encrypted file), "system",
    # "cryptfile" (backends.secrets).
    secrets_backend: str = "auto"
    # Response actions: the tamper-evident audit log; --read-only removes the actions, --dry-run
    # only previews them (command line flags, not config).
    audit_log: Path = field(default_factory=lambda: _default_audit_log())  # noqa: PLW0108 (defined below)
    read_only: bool = False
    dry_run: bool = False
    case_file: Path | None = None  # None: $SICKBAY_CASE_FILE, else the data dir's
    language: str = "auto"  # "en", "zh", or "auto": from LANG/LC_* (domain.i18n)
    cloud: CloudSettings = field(default_factory=lambda: CloudSettings())  # noqa: PLW0108

    @property
    def lang(self) -> Language:
        """The UI's language: the configured one, else the locale's."""
        return pick_language(self.language, os.environ)

    @property
    def history_size(self) -> int:
        """How many samples the sparklines keep."""
        return max(10, int(self.history_minutes * 60 / self.interval))


SECRETS_BACKENDS = ("auto", "system", "cryptfile")


def default_data_dir() -> Path:
    """Audit log, case file, evidence: ``$XDG_DATA_HOME/sickbay`` (``SICKBAY_AUDIT_LOG``
    overrides the audit log's path)."""
    return platformdirs.user_data_path(APP_NAME)


def _default_audit_log() -> Path:
    explicit = os.environ.get("SICKBAY_AUDIT_LOG")
    return Path(explicit).expanduser() if explicit else default_data_dir() / "audit.jsonl"


def default_config_path() -> Path:
    return platformdirs.user_config_path(APP_NAME) / "config.toml"


def _number(data: dict[str, Any], key: str, default: float, where: Path) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: '{key}' must be a number, not {value!r}")
    return float(value)


def parse_settings(data: dict[str, Any], where: Path) -> Settings:
    """Validate the decoded TOML document."""
    known = {
        "interval", "theme", "history_minutes", "keymap", "hosts", "secrets_backend", "audit_log",
        "cloud", "language",
    }  # fmt: skip
    warnings = tuple(
        f"{where}: unknown setting '{key}' ignored" for key in data if key not in known
    )
    interval = _number(data, "interval", Settings.interval, where)
    if interval < MIN_INTERVAL:
        raise ConfigError(f"{where}: 'interval' must be at least {MIN_INTERVAL} s")
    history = _number(data, "history_minutes", Settings.history_minutes, where)
    if history <= 0:
        raise ConfigError(f"{where}: 'history_minutes' must be positive")
    theme = data.get("theme", Settings.theme)
    if not isinstance(theme, str):
        raise ConfigError(f"{where}: 'theme' must be a string")
    keymap = data.get("keymap", {})
    if not isinstance(keymap, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in keymap.items()
    ):
        raise ConfigError(f'{where}: [keymap] maps binding ids to keys, e.g. "app.quit" = "q"')
    secrets_backend = data.get("secrets_backend", Settings.secrets_backend)
    if secrets_backend not in SECRETS_BACKENDS:
        raise ConfigError(
            f"{where}: 'secrets_backend' must be one of {', '.join(SECRETS_BACKENDS)}"
        )
    audit = data.get("audit_log")
    if audit is not None and not isinstance(audit, str):
        raise ConfigError(f"{where}: 'audit_log' must be a path")
    language = data.get("language", "auto")
    try:
        if not isinstance(language, str):
            raise ValueError(language)
        pick_language(language, {})
    except ValueError:
        raise ConfigError(f'{where}: language must be "en", "zh" or "auto"') from None
    return Settings(
        language=language,
        cloud=_cloud(data.get("cloud", {}), where),
        audit_log=Path(audit).expanduser() if audit else _default_audit_log(),
        secrets_backend=secrets_backend,
        interval=interval,
        theme=theme,
        history_minutes=history,
        keymap=dict(keymap),
        hosts=_hosts(data.get("hosts", []), where),
        path=where,
        warnings=warnings,
    )


_CLOUD_FIELDS = ("provider", "region", "profile", "operator_address")


def _cloud(value: object, where: Path) -> CloudSettings:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [cloud] must be a table")
    for key, item in value.items():
        if key == "endpoints":
            if not isinstance(item, dict) or not all(
                k in ("aliyun", "tencent") and isinstance(v, str) for k, v in item.items()
            ):
                raise ConfigError(f'{where}: [cloud.endpoints] maps aliyun/tencent to "host:port"')
        elif key not in _CLOUD_FIELDS:
            raise ConfigError(f"{where}: [cloud] has no setting '{key}'")
        elif not isinstance(item, str):
            raise ConfigError(f"{where}: [cloud] '{key}' must be a string")
    provider = value.get("provider")
    if provider not in (None, "aliyun", "tencent"):
        raise ConfigError(f"{where}: [cloud] provider must be aliyun or tencent")
    return CloudSettings(
        provider=provider,
        region=value.get("region"),
        profile=value.get("profile"),
        endpoints=dict(value.get("endpoints", {})),
        operator_address=value.get("operator_address"),
    )


_HOST_FIELDS = {
    "name": str, "address": str, "user": str, "port": int, "jump": str, "tags": list,
    "provider": str, "region": str, "instance_id": str,
}  # fmt: skip


def _hosts(value: object, where: Path) -> tuple[HostEntry, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: 'hosts' must be a list of [[hosts]] tables")
    entries: list[HostEntry] = []
    for number, item in enumerate(value, start=1):
        here = f"{where}: [[hosts]] #{number}"
        if not isinstance(item, dict):
            raise ConfigError(f"{here}: not a table")
        for key, wanted in _HOST_FIELDS.items():
            if key in item and (not isinstance(item[key], wanted) or isinstance(item[key], bool)):
                raise ConfigError(f"{here}: '{key}' must be a {wanted.__name__}")
        unknown = sorted(set(item) - set(_HOST_FIELDS))
        if unknown:
            raise ConfigError(f"{here}: unknown field(s) {', '.join(unknown)}")
        if "name" not in item or "address" not in item:
            raise ConfigError(f"{here}: 'name' and 'address' are required")
        tags = item.get("tags", [])
        if not all(isinstance(t, str) for t in tags):
            raise ConfigError(f"{here}: 'tags' must be a list of strings")
        port = item.get("port")
        if port is not None and not 0 < port < 65536:
            raise ConfigError(f"{here}: 'port' must be 1-65535")
        entries.append(
            HostEntry(
                name=item["name"],
                address=item["address"],
                user=item.get("user"),
                port=port,
                jump=item.get("jump"),
                tags=tuple(tags),
                provider=item.get("provider"),
                region=item.get("region"),
                instance_id=item.get("instance_id"),
            )
        )
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: two [[hosts]] have the same name")
    return tuple(entries)


def load_settings(explicit: str | os.PathLike[str] | None = None) -> Settings:
    """Read the configuration file, or return the defaults when there is none."""
    chosen = explicit or os.environ.get(ENV_CONFIG)
    path = Path(chosen).expanduser() if chosen else default_config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if chosen:
            raise ConfigError(f"{path}: no such configuration file") from None
        return Settings()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_settings(data, path)
