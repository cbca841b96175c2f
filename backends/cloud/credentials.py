"""Where a cloud access key comes from, in a fixed order the operator can see.

For a provider (``aliyun``, ``tencent``) and a profile, the sources are tried in this order and
the first that has a key wins:

1. sickbay's secret store (``backends.secrets.SecretStore``: the system keyring, or the encrypted
   file on a headless bastion), kind ``cloud``, name ``<provider>:<profile>``, value JSON
   (:func:`encode_secret`);
2. the provider's environment variables (``ALIBABA_CLOUD_ACCESS_KEY_ID``/``_SECRET`` (+
   ``ALIBABA_CLOUD_SECURITY_TOKEN``), then ``ALIYUN_ACCESS_KEY_ID``/``_SECRET``;
   ``TENCENTCLOUD_SECRET_ID``/``_KEY`` (+ ``TENCENTCLOUD_SESSION_TOKEN``));
3. the provider CLIs' profile files: ``~/.aliyun/config.json`` (``profiles``, modes ``AK`` and
   ``StsToken``, the ``current`` profile), ``~/.tencentcloud/credentials`` (INI, the SDK's own
   file) and ``~/.tccli/<profile>.credential`` (JSON, which tccli writes world-readable).

No instance-role or metadata lookup is ever made (that is network traffic, and on a compromised
host the metadata service is not to be trusted). The :class:`CloudCredential` never shows its
secret: its ``repr`` and ``str`` mask it, and the warnings about files (world-readable, malformed)
name the file and the line, never its contents.
"""

from __future__ import annotations

import configparser
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.secrets import SecretStore, SecretStoreError
from domain.cloud import ProviderName

KIND = "cloud"
MAX_FILE_BYTES = 1 << 20  # a credentials file is small; anything bigger is not one

ENV_VARS: dict[str, tuple[tuple[str, str, str], ...]] = {
    # (key id, secret, session token) variable names, in order
    "aliyun": (
        (
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "ALIBABA_CLOUD_SECURITY_TOKEN",
        ),
        ("ALIYUN_ACCESS_KEY_ID", "ALIYUN_ACCESS_KEY_SECRET", ""),
    ),
    "tencent": (
        ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "TENCENTCLOUD_SESSION_TOKEN"),
    ),
}


def mask(text: str) -> str:
    """A key id as it may be shown: its first and last 4 characters (short ids: nothing)."""
    if len(text) < 12:
        return "****"
    return f"{text[:4]}****{text[-4:]}"


@dataclass(frozen=True, slots=True)
class CloudCredential:
    """An access key and where it was found. ``source`` is for the operator ("environment
    (TENCENTCLOUD_SECRET_ID)"); ``region``: the default region the source names, if any."""

    provider: ProviderName
    key_id: str
    secret: str = field(repr=False)
    token: str = field(default="", repr=False)
    source: str = ""
    region: str = ""

    def __repr__(self) -> str:
        token = ", token=****" if self.token else ""
        return (
            f"CloudCredential(provider={self.provider!r}, key_id={mask(self.key_id)!r}, "
            f"secret=****{token}, source={self.source!r}, region={self.region!r})"
        )

    __str__ = __repr__

    def describe(self) -> str:
        """One line for the operator: masked key id, kind, source."""
        kind = "temporary (STS) key" if self.token else "access key"
        region = f", region {self.region}" if self.region else ""
        return f"{self.provider}: {kind} {mask(self.key_id)} from {self.source}{region}"


@dataclass(frozen=True, slots=True)
class Lookup:
    """The outcome of a lookup: the key to use (the first found), every source that had one,
    in order, and what the operator should know (a world-readable file, a malformed one, a
    keyring that could not be opened)."""

    credential: CloudCredential | None
    found: tuple[CloudCredential, ...] = ()
    warnings: tuple[str, ...] = ()
    tried: tuple[str, ...] = ()


def keyring_name(provider: ProviderName, profile: str | None) -> str:
    return f"{provider}:{profile or 'default'}"


def encode_secret(key_id: str, secret: str, token: str = "", region: str = "") -> str:
    """The secret store's value for a key (JSON)."""
    value = {"key_id": key_id, "secret": secret}
    if token:
        value["token"] = token
    if region:
        value["region"] = region
    return json.dumps(value, sort_keys=True)


def decode_secret(value: str) -> tuple[str, str, str, str] | None:
    """(key id, secret, token, region) from the store's value, or None if it is not one."""
    try:
        data = json.loads(value)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    key_id, secret = data.get("key_id"), data.get("secret")
    token, region = data.get("token", ""), data.get("region", "")
    if not all(isinstance(v, str) for v in (key_id, secret, token, region)):
        return None
    if not key_id or not secret:
        return None
    return str(key_id), str(secret), str(token), str(region)


def lookup(
    provider: ProviderName,
    profile: str | None = None,
    *,
    store: SecretStore | None = None,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> Lookup:
    """Every source, in order (see the module's docstring). ``store`` None skips the secret
    store; a store on the encrypted file that does not exist yet is skipped without asking for
    the master password."""
    env = os.environ if environ is None else environ
    home = Path.home() if home is None else home
    found: list[CloudCredential] = []
    warnings: list[str] = []
    tried: list[str] = []

    if store is not None:
        tried.append(f"secret store ({keyring_name(provider, profile)})")
        found.extend(_from_store(store, provider, profile, warnings))
    names = ENV_VARS[provider]
    tried.append("environment (" + ", ".join(n[0] for n in names) + ")")
    found.extend(_from_env(provider, env))
    files: list[CloudCredential] = []
    if provider == "aliyun":
        tried.append("~/.aliyun/config.json")
        files = _from_aliyun_config(home, profile, warnings)
    else:
        tried.append("~/.tencentcloud/credentials")
        files = _from_tencent_ini(home, profile, warnings)
        name = profile or "default"
        tried.append(f"~/.tccli/{name}.credential")
        files += _from_tccli(home, name, warnings)
    found.extend(files)
    return Lookup(found[0] if found else None, tuple(found), tuple(warnings), tuple(tried))


# --- the sources ----------------------------------------------------------------------------


def _from_store(
    store: SecretStore, provider: ProviderName, profile: str | None, warnings: list[str]
) -> list[CloudCredential]:
    name = keyring_name(provider, profile)
    try:
        if store.uses_file and not store.cryptfile_path.exists():
            return []
        value = store.get(KIND, name)
        where = store.describe()
    except SecretStoreError as exc:
        warnings.append(f"secret store not read: {exc}")
        return []
    if value is None:
        return []
    decoded = decode_secret(value)
    if decoded is None:
        warnings.append(f"{where}: the entry {name} is not a sickbay cloud key: ignored")
        return []
    key_id, secret, token, region = decoded
    return [CloudCredential(provider, key_id, secret, token, f"{where}, entry {name}", region)]


def _from_env(provider: ProviderName, env: Mapping[str, str]) -> list[CloudCredential]:
    out = []
    for id_var, secret_var, token_var in ENV_VARS[provider]:
        key_id, secret = env.get(id_var, "").strip(), env.get(secret_var, "").strip()
        if key_id and secret:
            token = env.get(token_var, "").strip() if token_var else ""
            out.append(CloudCredential(provider, key_id, secret, token, f"environment ({id_var})"))
    return out


def _shown(path: Path, home: Path) -> str:
    try:
        return "~/" + str(path.relative_to(home))
    except ValueError:
        return str(path)


def _read_private(path: Path, home: Path, warnings: list[str]) -> str | None:
    """The file's text (None: absent or unreadable), warning when others may read it."""
    shown = _shown(path, home)
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        warnings.append(f"{shown}: cannot be read ({exc.strerror}): ignored")
        return None
    if not stat.S_ISREG(info.st_mode):
        warnings.append(f"{shown}: not a regular file: ignored")
        return None
    if info.st_size > MAX_FILE_BYTES:
        warnings.append(f"{shown}: larger than {MAX_FILE_BYTES} bytes, not a credentials file")
        return None
    if info.st_mode & 0o044:
        warnings.append(
            f"{shown} is readable by {'group and others' if info.st_mode & 0o004 else 'group'} "
            f"(mode {stat.S_IMODE(info.st_mode):04o}): run chmod 600 {shown}"
        )
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        warnings.append(f"{shown}: not UTF-8 text: ignored")
    except OSError as exc:
        warnings.append(f"{shown}: cannot be read ({exc.strerror}): ignored")
    return None


def _load_json(path: Path, home: Path, warnings: list[str]) -> Any:
    text = _read_private(path, home, warnings)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", "?")
        warnings.append(f"{_shown(path, home)}: not valid JSON (line {line}): ignored")
        return None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _from_aliyun_config(
    home: Path, profile: str | None, warnings: list[str]
) -> list[CloudCredential]:
    path = home / ".aliyun" / "config.json"
    data = _load_json(path, home, warnings)
    if data is None:
        return []
    shown = _shown(path, home)
    profiles = data.get("profiles") if isinstance(data, dict) else None
    if not isinstance(profiles, list):
        warnings.append(f"{shown}: no 'profiles' list: ignored")
        return []
    wanted = profile or _text(data.get("current")) or "default"
    for entry in profiles:
        if not isinstance(entry, dict) or _text(entry.get("name")) != wanted:
            continue
        mode = _text(entry.get("mode")) or "AK"
        key_id = _text(entry.get("access_key_id"))
        secret = _text(entry.get("access_key_secret"))
        token = _text(entry.get("sts_token")) if mode == "StsToken" else ""
        if mode not in ("AK", "StsToken"):
            warnings.append(
                f"{shown}: profile {wanted} uses mode {mode[:40]!r}; sickbay reads only AK and "
                "StsToken profiles"
            )
            return []
        if not key_id or not secret or (mode == "StsToken" and not token):
            warnings.append(f"{shown}: profile {wanted} ({mode}) lacks its key: ignored")
            return []
        source = f"{shown} (profile {wanted}, mode {mode})"
        region = _text(entry.get("region_id"))
        return [CloudCredential("aliyun", key_id, secret, token, source, region)]
    return []


def _from_tencent_ini(
    home: Path, profile: str | None, warnings: list[str]
) -> list[CloudCredential]:
    path = home / ".tencentcloud" / "credentials"
    text = _read_private(path, home, warnings)
    if text is None:
        return []
    shown = _shown(path, home)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=shown)
    except configparser.Error as exc:
        # The exception's text quotes the offending line (which may hold the key): say only where.
        line = getattr(exc, "lineno", None) or next(
            (err[0] for err in getattr(exc, "errors", ()) if err), "?"
        )
        warnings.append(f"{shown}: not a valid INI file (line {line}): ignored")
        return []
    section = profile or "default"
    if not parser.has_section(section):
        return []
    key_id = parser.get(section, "secret_id", fallback="").strip()
    secret = parser.get(section, "secret_key", fallback="").strip()
    token = parser.get(section, "token", fallback="").strip()
    if not key_id or not secret:
        warnings.append(f"{shown}: [{section}] lacks secret_id or secret_key: ignored")
        return []
    return [CloudCredential("tencent", key_id, secret, token, f"{shown} [{section}]")]


def _from_tccli(home: Path, profile: str, warnings: list[str]) -> list[CloudCredential]:
    if "/" in profile or profile.startswith("."):
        warnings.append(f"profile name {profile[:40]!r} is not a file name: tccli not read")
        return []
    path = home / ".tccli" / f"{profile}.credential"
    data = _load_json(path, home, warnings)
    if data is None:
        return []
    shown = _shown(path, home)
    if not isinstance(data, dict):
        warnings.append(f"{shown}: not a JSON object: ignored")
        return []
    key_id, secret = _text(data.get("secretId")), _text(data.get("secretKey"))
    token = _text(data.get("token"))
    if not key_id or not secret:
        warnings.append(f"{shown}: lacks secretId or secretKey: ignored")
        return []
    return [CloudCredential("tencent", key_id, secret, token, shown)]
