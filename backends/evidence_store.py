"""Collected evidence on the bastion, per incident, with a chain-of-custody manifest.

Layout: ``<data dir>/incidents/<incident id>/evidence/<host>/...`` (:func:`incident_evidence_dir`;
the data dir is ``platformdirs.user_data_dir("sickbay")``). Every file added is hashed (sha256),
made read-only, and described by one line of ``manifest.jsonl`` in the evidence directory: its
path (relative), sha256, size, the host it came from and the path there, when, by whom (the local
user) and by which action; for process evidence also the pid and its start time (``kill`` asks
for them). :func:`verify` re-reads everything and lists what is missing, changed or extra.
Host text never becomes a path unescaped (:func:`safe_name`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import platformdirs

from backends.audit_log import local_actor, now_iso

MANIFEST = "manifest.jsonl"
SCHEMA = "sickbay.evidence/1"
_INCIDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")
DEFAULT_INCIDENT = "unfiled"


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir("sickbay"))


def incident_evidence_dir(incident: str | None, data: Path | None = None) -> Path:
    """``<data>/incidents/<incident>/evidence`` (``unfiled`` without an incident)."""
    name = incident or DEFAULT_INCIDENT
    if not _INCIDENT.fullmatch(name):
        raise ValueError(f"not an incident id (letters, digits, . _ -): {name!r}")
    return (data or data_dir()) / "incidents" / name / "evidence"


def safe_name(text: str, limit: int = 120) -> str:
    """A file name made of ``text``: anything but letters, digits and ``._@+-`` becomes ``_``;
    never empty, ``.`` or ``..``."""
    name = _UNSAFE.sub("_", text)[:limit].lstrip(".")
    return name or "_"


def sha256_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    path: str  # relative to the evidence directory
    sha256: str
    size: int
    host: str
    remote: str  # the path on the host ("" for what sickbay wrote, like a listing)
    collected_at: str
    collector: str
    action: str
    pid: int | None = None
    start: int | None = None  # the process's start time (clock ticks after boot)
    note: str = ""  # "truncated at 1048576 bytes", "password hashes removed"

    def as_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}


def _entry(data: object) -> ManifestEntry | None:
    if not isinstance(data, dict):
        return None
    try:
        return ManifestEntry(
            path=str(data["path"]),
            sha256=str(data["sha256"]),
            size=int(data["size"]),
            host=str(data["host"]),
            remote=str(data.get("remote", "")),
            collected_at=str(data.get("collected_at", "")),
            collector=str(data.get("collector", "")),
            action=str(data.get("action", "")),
            pid=None if data.get("pid") is None else int(data["pid"]),
            start=None if data.get("start") is None else int(data["start"]),
            note=str(data.get("note", "")),
        )
    except (KeyError, TypeError, ValueError):
        return None


class EvidenceStore:
    """One incident's evidence directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.manifest = root / MANIFEST

    def new_path(self, host: str, *parts: str) -> Path:
        """A fresh path under ``<root>/<host>/<parts...>`` (each part made safe); an existing
        file is never overwritten: ``-2``, ``-3``... are appended."""
        path = self.root / safe_name(host)
        for part in parts:
            path /= safe_name(part)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        candidate, number = path, 1
        while candidate.exists() and number < 10_000:
            number += 1
            candidate = path.with_name(f"{path.name}-{number}")
        return candidate

    def add(
        self,
        local: Path,
        *,
        host: str,
        remote: str,
        action: str,
        pid: int | None = None,
        start: int | None = None,
        note: str = "",
    ) -> ManifestEntry:
        """Hash ``local`` (a file under the root), make it read-only and record it."""
        digest, size = sha256_file(local)
        local.chmod(0o400)
        entry = ManifestEntry(
            path=local.relative_to(self.root).as_posix(),
            sha256=digest,
            size=size,
            host=host,
            remote=remote,
            collected_at=now_iso(),
            collector=local_actor(),
            action=action,
            pid=pid,
            start=start,
            note=note,
        )
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.manifest, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "ab") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.write(json.dumps(entry.as_dict(), ensure_ascii=True).encode() + b"\n")
            f.flush()
            os.fsync(f.fileno())
        return entry

    def write(
        self,
        data: bytes,
        host: str,
        parts: tuple[str, ...],
        *,
        remote: str,
        action: str,
        pid: int | None = None,
        start: int | None = None,
        note: str = "",
    ) -> ManifestEntry:
        """Store ``data`` (read on the host by a script, or a listing) as a new file."""
        path = self.new_path(host, *parts)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return self.add(
            path, host=host, remote=remote, action=action, pid=pid, start=start, note=note
        )

    def entries(self) -> list[ManifestEntry]:
        return [entry for _, entry in _read_manifest(self.manifest) if entry is not None]


def _read_manifest(path: Path) -> Iterator[tuple[int, ManifestEntry | None]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return
    for number, line in enumerate(text.splitlines(), 1):
        try:
            data = json.loads(line)
        except ValueError:
            yield number, None
            continue
        yield number, _entry(data)


def collected_pids(root: Path, host: str) -> set[tuple[int, int]]:
    """(pid, start time) of every process whose executable was collected from ``host``."""
    return {
        (entry.pid, entry.start)
        for entry in EvidenceStore(root).entries()
        if entry.host == host
        and entry.action == "collect"
        and entry.pid is not None
        and entry.start is not None
    }


def verify(root: Path) -> list[str]:
    """Everything wrong with the evidence directory ``root``: a missing or unreadable manifest,
    files missing or changed since they were recorded, files nobody recorded."""
    manifest = root / MANIFEST
    if not root.is_dir():
        return [f"{root} is not a directory"]
    if not manifest.is_file():
        return [f"{manifest} is missing"]
    problems: list[str] = []
    listed: dict[str, ManifestEntry] = {}
    for number, entry in _read_manifest(manifest):
        if entry is None:
            problems.append(f"manifest line {number}: not a manifest entry")
            continue
        rel = Path(entry.path)
        if rel.is_absolute() or ".." in rel.parts or entry.path in ("", MANIFEST):
            problems.append(f"manifest line {number}: a path outside the directory: {entry.path}")
            continue
        if entry.path in listed:
            problems.append(f"manifest line {number}: {entry.path} is listed twice")
        listed[entry.path] = entry
    for rel_path, entry in sorted(listed.items()):
        path = root / rel_path
        if not path.is_file():
            problems.append(f"missing: {rel_path}")
            continue
        try:
            digest, size = sha256_file(path)
        except OSError as exc:
            problems.append(f"unreadable: {rel_path} ({exc.strerror or exc})")
            continue
        if digest != entry.sha256 or size != entry.size:
            problems.append(
                f"changed: {rel_path} (sha256 {digest}, size {size}; recorded {entry.sha256}, "
                f"size {entry.size})"
            )
    for dirpath, _, files in os.walk(root):
        for name in files:
            rel_path = (Path(dirpath) / name).relative_to(root).as_posix()
            if rel_path != MANIFEST and rel_path not in listed:
                problems.append(f"extra: {rel_path} (not in the manifest)")
    return problems
