"""Collector samples (see ``backends.collector``) to :class:`domain.model.HostSnapshot`.

The sample may come from a remote, hostile host: every field is checked. An entry with a missing
or ill-typed field is dropped and reported as a :class:`CollectionError`; only a sample that is
not even a JSON object raises :class:`SourceError`.

A :class:`Decoder` keeps the previous sample's objects: a process or socket whose fields did not
change is the very same object as last time, so consumers can skip unchanged rows with ``is``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Generic, TypeVar

from domain.model import (
    CollectionError,
    HiddenProcess,
    HostMetrics,
    HostSnapshot,
    Process,
    Socket,
)
from domain.source import SourceError

MAX_REPORTED = 20  # bad entries reported one by one; beyond that they are only counted

T = TypeVar("T")
E = TypeVar("E", Process, Socket)


class BadField(ValueError):
    pass


def _int(value: object) -> int:
    if type(value) is not int:
        raise BadField(f"not an integer: {type(value).__name__}")
    return value


def _float(value: object) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):  # type: ignore[arg-type]
        raise BadField(f"not a finite number: {type(value).__name__}")
    return float(value)  # type: ignore[arg-type]


def _str(value: object) -> str:
    if type(value) is not str:
        raise BadField(f"not a string: {type(value).__name__}")
    return value


def _bool(value: object) -> bool:
    if type(value) is not bool:
        raise BadField(f"not a boolean: {type(value).__name__}")
    return value


def _strs(value: object) -> tuple[str, ...]:
    if type(value) is not list:
        raise BadField(f"not a list: {type(value).__name__}")
    return tuple(_str(item) for item in value)


def _optional(check: Callable[[object], T]) -> Callable[[object], T | None]:
    return lambda value: None if value is None else check(value)


_PROCESS: dict[str, Callable[[object], Any]] = {
    "pid": _int, "ppid": _int, "name": _str, "state": _str, "uid": _optional(_int),
    "user": _str, "cpu_percent": _optional(_float), "rss": _int, "start_time": _float,
    "exe": _str, "exe_deleted": _bool, "exe_memfd": _bool, "cmdline": _strs, "cwd": _str,
    "kernel_thread": _bool, "threads": _int, "tty_nr": _int, "ld_preload": _str,
}  # fmt: skip
# Fields a collector may leave out (older collectors, the psutil fallback), with their default.
_DEFAULTS: dict[str, object] = {"ld_preload": ""}
_HIDDEN: dict[str, Callable[[object], Any]] = {"pid": _int, "name": _str, "ppid": _int}
_PROTOCOLS = ("tcp", "tcp6", "udp", "udp6")
_SOCKET_KEY = ("proto", "local_addr", "local_port", "remote_addr", "remote_port", "inode")
_SOCKET: dict[str, Callable[[object], Any]] = {
    "proto": _str, "local_addr": _str, "local_port": _int, "remote_addr": _str,
    "remote_port": _int, "state": _str, "inode": _int, "uid": _int, "pid": _optional(_int),
    "process": _str,
}  # fmt: skip
# Metrics the model requires (a missing one becomes 0) and those that may be None.
_REQUIRED_METRICS = {
    "cpu_count": _int, "load1": _float, "load5": _float, "load15": _float, "mem_total": _int,
    "mem_available": _int, "swap_total": _int, "swap_free": _int, "uptime_s": _float,
}  # fmt: skip
_OPTIONAL_METRICS = [f.name for f in fields(HostMetrics) if f.name not in _REQUIRED_METRICS]


def _fields(entry: object, spec: Mapping[str, Callable[[object], Any]]) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise BadField(f"not an object: {type(entry).__name__}")
    out = {}
    for name, check in spec.items():
        if name not in entry:
            if name in _DEFAULTS:
                out[name] = _DEFAULTS[name]
                continue
            raise BadField(f"{name}: missing")
        try:
            out[name] = check(entry[name])
        except BadField as exc:
            raise BadField(f"{name}: {exc}") from None
    return out


class Decoder:
    """Decodes successive samples of one host, reusing unchanged objects."""

    def __init__(self) -> None:
        self._processes: dict[tuple[Any, ...], tuple[object, Process]] = {}
        self._sockets: dict[tuple[Any, ...], tuple[object, Socket]] = {}

    def decode(self, data: object, host: str, source: str = "proc") -> HostSnapshot:
        if not isinstance(data, dict):
            raise SourceError(f"the collector sent {type(data).__name__}, not an object")
        errors: list[CollectionError] = []
        bad: list[CollectionError] = []  # what is wrong with the sample itself
        dropped = 0

        def report(what: str, reason: str) -> None:
            nonlocal dropped
            if len(bad) < MAX_REPORTED:
                bad.append(CollectionError(what, reason))
            else:
                dropped += 1

        for entry in _list(data.get("errors"), "errors", report):
            try:
                errors.append(CollectionError(**_fields(entry, {"what": _str, "reason": _str})))
            except BadField as exc:
                report("error entry", str(exc))
        metrics = self._metrics(data.get("metrics"), report)
        entries = _list(data.get("processes"), "processes", report)
        self._processes, processes = _decode(entries, self._processes, _PROCESS_KIND, report)
        entries = _list(data.get("sockets"), "sockets", report)
        self._sockets, sockets = _decode(entries, self._sockets, _SOCKET_KIND, report)
        hidden = []
        for entry in _list(data.get("hidden", []), "hidden", report):
            try:
                hidden.append(HiddenProcess(**_fields(entry, _HIDDEN)))
            except BadField as exc:
                report("hidden entry", str(exc))
        mounts = tuple(
            m
            for m in _list(data.get("proc_mounts", []), "proc_mounts", report)
            if isinstance(m, str)
        )
        errors += bad
        if dropped:
            errors.append(CollectionError("decoder", f"{dropped} more bad entries"))
        taken_at, cpu_ms = data.get("taken_at"), data.get("cpu_ms")
        return HostSnapshot(
            host=host,
            hostname=data["hostname"] if type(data.get("hostname")) is str else "",
            taken_at=_or(_float, taken_at, time.time()),
            source=source,
            metrics=metrics,
            processes=processes,
            sockets=sockets,
            errors=tuple(errors),
            collector_cpu_ms=_or(_float, cpu_ms, None),
            hidden_processes=tuple(hidden),
            proc_mounts=mounts,
        )

    @staticmethod
    def _metrics(data: object, report: Callable[[str, str], None]) -> HostMetrics:
        if not isinstance(data, dict):
            report(
                "metrics", "missing" if data is None else f"not an object: {type(data).__name__}"
            )
            data = dict.fromkeys(f.name for f in fields(HostMetrics))  # all unknown
        values: dict[str, Any] = {}
        for name, check in _REQUIRED_METRICS.items():
            values[name] = _metric(data, name, check, report)
            if values[name] is None:
                values[name] = 1 if name == "cpu_count" else check(0)
        for name in _OPTIONAL_METRICS:
            values[name] = _metric(data, name, _float, report)
            if values[name] is not None and name.startswith("shm_"):
                values[name] = int(values[name])
        return HostMetrics(**values)


@dataclass(frozen=True)
class _Kind(Generic[E]):
    name: str
    cls: Callable[..., E]
    spec: Mapping[str, Callable[[object], Any]]
    key: tuple[str, ...]  # the fields that identify an entry across samples
    check: Callable[[dict[str, Any]], None] = lambda kw: None


def _check_proto(kw: dict[str, Any]) -> None:
    if kw["proto"] not in _PROTOCOLS:
        raise BadField(f"proto: unknown {kw['proto']!r}")


_PROCESS_KIND = _Kind("process", Process, _PROCESS, ("pid", "start_time"))
_SOCKET_KIND = _Kind("socket", Socket, _SOCKET, _SOCKET_KEY, _check_proto)


def _decode(
    entries: list[object],
    cache: dict[tuple[Any, ...], tuple[object, E]],
    kind: _Kind[E],
    report: Callable[[str, str], None],
) -> tuple[dict[tuple[Any, ...], tuple[object, E]], tuple[E, ...]]:
    """Checked ``cls`` objects for the entries; an entry equal to the one that made a cached object
    (the collector even passes the very same dict) gets that object back without any checking."""
    new: dict[tuple[Any, ...], tuple[object, E]] = {}
    out = []
    for entry in entries:
        try:
            key: tuple[Any, ...] = tuple(entry[k] for k in kind.key)  # type: ignore[index]
            hit = cache.get(key)
        except (TypeError, KeyError):  # not a dict, missing or unhashable key fields
            hit = None
        if hit is None or not (hit[0] is entry or hit[0] == entry):
            try:
                kw = _fields(entry, kind.spec)
                kind.check(kw)
            except BadField as exc:
                report(f"{kind.name} entry", str(exc))
                continue
            key, hit = tuple(kw[k] for k in kind.key), (entry, kind.cls(**kw))
        if key in new:
            report(f"{kind.name} entry", f"duplicate {key}")
            continue
        new[key] = hit
        out.append(hit[1])
    return new, tuple(out)


def _metric(
    data: dict[str, Any],
    name: str,
    check: Callable[[object], Any],
    report: Callable[[str, str], None],
) -> Any:
    """The metric, or None: unknown (the collector said why) or bad (reported here)."""
    if name not in data:
        report(f"metrics.{name}", "missing")
        return None
    if data[name] is None:
        return None
    try:
        return check(data[name])
    except BadField as exc:
        report(f"metrics.{name}", str(exc))
        return None


def _list(value: object, what: str, report: Callable[[str, str], None]) -> list[object]:
    if isinstance(value, list):
        return value
    report(what, "missing" if value is None else f"not a list: {type(value).__name__}")
    return []


def _or(check: Callable[[object], T], value: object, default: Any) -> Any:
    try:
        return check(value)
    except BadField:
        return default
