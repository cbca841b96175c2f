"""Snapshots as JSON-ready data (``sickbay snapshot --format json``)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from domain.model import HostSnapshot

SCHEMA = "sickbay.snapshot/1"


def snapshot_to_dict(snapshot: HostSnapshot) -> dict[str, Any]:
    data = dataclasses.asdict(snapshot)
    data["metrics"]["mem_used_percent"] = round(snapshot.metrics.mem_used_percent, 2)
    return {"schema": SCHEMA, **data}


def snapshot_to_json(snapshot: HostSnapshot, indent: int | None = None) -> str:
    # ensure_ascii keeps control characters and undecodable bytes escaped in the output, so the
    # JSON is safe to print to a terminal even though the data came from a hostile host.
    return json.dumps(snapshot_to_dict(snapshot), ensure_ascii=True, indent=indent)
