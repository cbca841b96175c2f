"""The append-only audit log on the bastion (JSON lines, hash-chained: ``domain.audit``).

One writer at a time (``flock``), each entry fsync'd before :meth:`AuditLog.append` returns. The
head (last seq and hash) is also kept in ``<log>.head`` so entries cut off the end are noticed by
:meth:`AuditLog.verify`.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import getpass
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from domain.actions import ActionPlan, ActionResult
from domain.audit import Verification, action_record, chain, verify_lines


def local_actor() -> str:
    """Who is acting: the local user (and the sudo user behind root, if any)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    sudo = os.environ.get("SUDO_USER")
    return f"{user} (sudo from {sudo})" if sudo and sudo != user else user


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.head_path = path.with_name(path.name + ".head")

    def append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Chain ``record`` after the last entry and write it durably; returns the entry."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            entry = chain(_last_entry(f), record)
            f.write(json.dumps(entry, ensure_ascii=False).encode() + b"\n")
            f.flush()
            os.fsync(f.fileno())
            self._write_head(entry)
        return entry

    def record_action(
        self, plan: ActionPlan, result: ActionResult, *, incident: str | None = None
    ) -> dict[str, Any]:
        return self.append(
            action_record(
                actor=local_actor(), at=now_iso(), plan=plan, result=result, incident=incident
            )
        )

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                out.append(entry)
        return out

    def verify(self) -> Verification:
        head = self._read_head()
        if not self.path.exists():
            return verify_lines([], head)
        text = self.path.read_text(encoding="utf-8", errors="replace")
        return verify_lines(text.splitlines(), head)

    def head(self) -> tuple[int, str] | None:
        """(seq, hash) of the last entry written (as recorded beside the log)."""
        return self._read_head()

    def _write_head(self, entry: Mapping[str, Any]) -> None:
        tmp = self.head_path.with_name(self.head_path.name + ".tmp")
        tmp.write_text(json.dumps({"seq": entry["seq"], "hash": entry["hash"]}) + "\n")
        tmp.replace(self.head_path)

    def _read_head(self) -> tuple[int, str] | None:
        try:
            data = json.loads(self.head_path.read_text())
            return int(data["seq"]), str(data["hash"])
        except (OSError, ValueError, KeyError, TypeError):
            return None


def _last_entry(f: Any) -> dict[str, Any] | None:
    """The last complete entry of the open log (read backwards from the end)."""
    end = f.seek(0, os.SEEK_END)
    if end == 0:
        return None
    block = 1 << 16
    pos, tail = end, b""
    while pos > 0:
        step = min(block, pos)
        pos -= step
        f.seek(pos)
        tail = f.read(step) + tail
        lines = tail.rstrip(b"\n").split(b"\n")
        if len(lines) > 1 or pos == 0:
            try:
                entry = json.loads(lines[-1])
            except ValueError:
                raise ValueError(f"{f.name}: the last line is not an audit entry") from None
            return entry if isinstance(entry, dict) else None
    return None
