"""Facts gathered by ``backends.facts`` (plain data, possibly from a hostile remote host) to
:class:`domain.facts.HostFacts`.

Every field is checked. An entry with a missing or ill-typed field is dropped and reported in
``HostFacts.errors``; a whole section of the wrong shape becomes empty and is reported. Nothing
here raises on bad data: the worst input gives empty facts and a list of what was wrong.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar, cast

from domain.facts import (
    FILE_KINDS,
    LOG_KINDS,
    PASSWORD_STATES,
    AgentInstall,
    AuthorizedKey,
    CloudFacts,
    ExeProbe,
    FactsError,
    FileKind,
    FileMeta,
    HostFacts,
    KernelFacts,
    KernelModule,
    Line,
    LogFile,
    LogKind,
    OsRelease,
    PackageActivity,
    PasswordState,
    PersistenceFile,
    TempFile,
    UserAccount,
)

T = TypeVar("T")
MAX_REPORTED = 50  # bad entries reported one by one; beyond that only counted


class Bad(ValueError):
    pass


def _int(value: object) -> int:
    if type(value) is not int:
        raise Bad(f"not an integer: {type(value).__name__}")
    return value


def _float(value: object) -> float:
    if type(value) not in (int, float) or not math.isfinite(cast(float, value)):
        raise Bad(f"not a finite number: {type(value).__name__}")
    return float(cast(float, value))


def _str(value: object) -> str:
    if type(value) is not str:
        raise Bad(f"not a string: {type(value).__name__}")
    return value


def _bool(value: object) -> bool:
    if type(value) is not bool:
        raise Bad(f"not a boolean: {type(value).__name__}")
    return value


def _dict(value: object) -> dict[str, Any]:
    if type(value) is not dict:
        raise Bad(f"not an object: {type(value).__name__}")
    return value


def _list(value: object) -> list[Any]:
    if type(value) is not list:
        raise Bad(f"not a list: {type(value).__name__}")
    return value


def _opt(check: Callable[[object], T], value: object) -> T | None:
    return None if value is None else check(value)


def _path(value: object) -> str:
    text = _str(value)
    if not text.startswith("/"):
        raise Bad("not an absolute path")
    return text


class _Decoder:
    def __init__(self) -> None:
        self.errors: list[FactsError] = []
        self.dropped = 0

    def report(self, what: str, reason: str) -> None:
        if len(self.errors) < MAX_REPORTED:
            self.errors.append(FactsError(what, reason))
        else:
            self.dropped += 1

    def entries(self, data: dict[str, Any], key: str, decode: Callable[[Any], T]) -> tuple[T, ...]:
        raw = data.get(key)
        if raw is None:
            return ()
        if type(raw) is not list:
            self.report(f"facts: {key}", "not a list")
            return ()
        out = []
        for i, item in enumerate(raw):
            try:
                out.append(decode(item))
            except (Bad, KeyError, TypeError, ValueError) as exc:
                self.report(f"facts: {key}[{i}]", str(exc) or type(exc).__name__)
        return tuple(out)

    def section(self, data: dict[str, Any], key: str, decode: Callable[[Any], T], default: T) -> T:
        value = self.optional(data, key, decode)
        return default if value is None else value

    def optional(self, data: dict[str, Any], key: str, decode: Callable[[Any], T]) -> T | None:
        raw = data.get(key)
        if raw is None:
            return None
        try:
            return decode(raw)
        except (Bad, KeyError, TypeError, ValueError) as exc:
            self.report(f"facts: {key}", str(exc) or type(exc).__name__)
            return None


def meta(value: object) -> FileMeta:
    d = _dict(value)
    return FileMeta(
        path=_path(d["path"]),
        uid=_opt(_int, d.get("uid")),
        gid=_opt(_int, d.get("gid")),
        mode=_opt(_int, d.get("mode")),
        mtime=_opt(_float, d.get("mtime")),
        ctime=_opt(_float, d.get("ctime")),
        size=_opt(_int, d.get("size")),
        immutable=_opt(_bool, d.get("immutable")),
        append_only=_opt(_bool, d.get("append_only")),
        link=_opt(_str, d.get("link")),
    )


def _line(value: object) -> Line:
    pair = _list(value)
    if len(pair) != 2:
        raise Bad("a line is [number, text]")
    return Line(_int(pair[0]), _str(pair[1]))


def persistence_file(value: object) -> PersistenceFile:
    d = _dict(value)
    kind = _str(d["kind"])
    if kind not in FILE_KINDS:
        raise Bad(f"unknown file kind {kind!r}")
    return PersistenceFile(
        kind=cast(FileKind, kind),
        meta=meta(d["meta"]),
        lines=tuple(_line(item) for item in _list(d.get("lines", []))),
        truncated=_bool(d.get("truncated", False)),
        user=_opt(_str, d.get("user")),
        vendor=_bool(d.get("vendor", False)),
    )


def authorized_key(value: object) -> AuthorizedKey:
    d = _dict(value)
    return AuthorizedKey(
        path=_path(d["path"]),
        user=_opt(_str, d.get("user")),
        line=_int(d["line"]),
        key_type=_str(d.get("key_type", "")),
        options=tuple(_str(o) for o in _list(d.get("options", []))),
        command=_opt(_str, d.get("command")),
        comment=_str(d.get("comment", "")),
        fingerprint=_opt(_str, d.get("fingerprint")),
        valid=_bool(d.get("valid", True)),
    )


def user(value: object) -> UserAccount:
    d = _dict(value)
    password = _str(d["password"])
    if password not in PASSWORD_STATES:
        raise Bad(f"unknown password state {password!r}")
    return UserAccount(
        name=_str(d["name"]),
        uid=_int(d["uid"]),
        gid=_int(d["gid"]),
        home=_str(d["home"]),
        shell=_str(d["shell"]),
        password=cast(PasswordState, password),
        last_change_day=_opt(_int, d.get("last_change_day")),
        line=_int(d.get("line", 0)),
    )


def module(value: object) -> KernelModule:
    d = _dict(value)
    return KernelModule(
        name=_str(d["name"]),
        size=_int(d.get("size", 0)),
        state=_str(d.get("state", "")),
        taint=_str(d.get("taint", "")),
    )


def log_file(value: object) -> LogFile:
    d = _dict(value)
    kind = _str(d["kind"])
    if kind not in LOG_KINDS:
        raise Bad(f"unknown log kind {kind!r}")
    raw_meta = d.get("meta")
    return LogFile(
        kind=cast(LogKind, kind),
        path=_path(d["path"]),
        meta=None if raw_meta is None else meta(raw_meta),
        rotated=tuple(meta(m) for m in _list(d.get("rotated", []))),
        user=_opt(_str, d.get("user")),
    )


def agent(value: object) -> AgentInstall:
    d = _dict(value)
    return AgentInstall(
        name=_str(d["name"]),
        vendor=_str(d["vendor"]),
        present=tuple(_path(p) for p in _list(d.get("present", []))),
    )


def temp_file(value: object) -> TempFile:
    d = _dict(value)
    return TempFile(
        meta=meta(d["meta"]), elf=_bool(d.get("elf", False)), venv=_bool(d.get("venv", False))
    )


def exe_probe(value: object) -> ExeProbe:
    d = _dict(value)
    current = d.get("current")
    return ExeProbe(
        pid=_int(d["pid"]),
        path=_path(d["path"]),
        current=None if current is None else meta(current),
    )


def decode_facts(data: object, host: str) -> HostFacts:
    """Turn the gatherer's output into :class:`HostFacts` for the host named ``host``."""
    dec = _Decoder()
    if type(data) is not dict:
        return HostFacts(
            host=host,
            root="/",
            gathered_at=0.0,
            errors=(FactsError("facts", f"not an object: {type(data).__name__}"),),
        )
    d = cast(dict[str, Any], data)

    def os_release(value: object) -> OsRelease:
        o = _dict(value)
        return OsRelease(
            id=_str(o.get("id", "")),
            version_id=_str(o.get("version_id", "")),
            pretty_name=_str(o.get("pretty_name", "")),
            id_like=_str(o.get("id_like", "")),
        )

    def kernel(value: object) -> KernelFacts:
        k = _dict(value)
        modules = None
        if k.get("modules") is not None:
            modules = dec.entries(k, "modules", module)
        return KernelFacts(
            release=_opt(_str, k.get("release")),
            tainted=_opt(_int, k.get("tainted")),
            modules=modules,
            nr_hugepages=_opt(_int, k.get("nr_hugepages")),
            nmi_watchdog=_opt(_int, k.get("nmi_watchdog")),
        )

    def packages(value: object) -> PackageActivity:
        p = _dict(value)
        return PackageActivity(
            last_change=_opt(_float, p.get("last_change")),
            sources=dec.entries(p, "sources", meta),
        )

    def cloud(value: object) -> CloudFacts:
        c = _dict(value)
        return CloudFacts(
            dmi_vendor=_str(c.get("dmi_vendor", "")),
            dmi_product=_str(c.get("dmi_product", "")),
            cloud_init_datasource=_str(c.get("cloud_init_datasource", "")),
            instance_id=_str(c.get("instance_id", "")),
        )

    def pids(value: object) -> frozenset[int]:
        return frozenset(_int(p) for p in _list(value))

    errors = list(
        dec.entries(d, "errors", lambda e: FactsError(_str(e["what"]), _str(e["reason"])))
    )
    facts = HostFacts(
        host=host,
        root=dec.section(d, "root", _str, "/"),
        gathered_at=dec.section(d, "gathered_at", _float, 0.0),
        hostname=dec.section(d, "hostname", _str, ""),
        sysroot=dec.section(d, "sysroot", _bool, False),
        gather_ms=dec.optional(d, "gather_ms", _float),
        os=dec.section(d, "os", os_release, OsRelease()),
        kernel=dec.optional(d, "kernel", kernel),
        users=dec.entries(d, "users", user),
        shadow_readable=dec.section(d, "shadow_readable", _bool, False),
        files=dec.entries(d, "files", persistence_file),
        authorized_keys=dec.entries(d, "authorized_keys", authorized_key),
        logs=dec.entries(d, "logs", log_file),
        packages=dec.section(d, "packages", packages, PackageActivity(None)),
        agents=dec.entries(d, "agents", agent),
        cloud=dec.section(d, "cloud", cloud, CloudFacts()),
        install_time=dec.optional(d, "install_time", _float),
        temp_files=dec.entries(d, "temp_files", temp_file),
        setid_files=dec.entries(d, "setid_files", meta),
        path_probes=dec.entries(d, "path_probes", meta),
        exe_probes=dec.entries(d, "exe_probes", exe_probe),
        foreign_mnt_ns_pids=dec.optional(d, "foreign_mnt_ns_pids", pids),
    )
    all_errors = errors + dec.errors
    if dec.dropped:
        all_errors.append(FactsError("facts", f"{dec.dropped} more bad entries not listed"))
    return replace(facts, errors=tuple(all_errors))
