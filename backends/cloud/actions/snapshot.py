"""Snapshot every disk of the instance (evidence before any change), followed until done."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping

from backends.cloud.actions.common import CloudAction, _base_params, _csv, _host, _Run
from domain.actions import ActionError, ActionPlan, ActionResult, Outcome, PlannedStep
from domain.cloud import (
    CloudError,
    CloudProvider,
    Instance,
    Snapshot,
)

# --- snapshot ---------------------------------------------------------------------------------


def _plan_snapshot(
    provider: CloudProvider, spec: CloudAction, instance: Instance, params: Mapping[str, str]
) -> ActionPlan:
    disks = provider.disks(instance.id)
    if not disks:
        raise ActionError(f"{instance.id} has no disks to snapshot")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    names = [f"sickbay-{instance.id}-{d.id}-{stamp}" for d in disks]
    steps = tuple(
        PlannedStep(
            f"snapshot the {d.kind} disk {d.id} ({d.size_gb} GB"
            + (f", {d.device})" if d.device else ")"),
            provider.plan_create_snapshot(d.id, name).render(),
        )
        for d, name in zip(disks, names, strict=True)
    )
    return ActionPlan(
        action="snapshot",
        host=_host(instance),
        subject=f"{len(disks)} disk(s) of {instance.id}, then wait until every snapshot is done",
        params=_base_params(
            provider,
            instance,
            disks=",".join(d.id for d in disks),
            names=",".join(names),
        ),
        steps=steps,
        risk=spec.risk,
    )


def _snapshot(run: _Run) -> ActionResult:
    disks = _csv(run.plan.params.get("disks"))
    names = _csv(run.plan.params.get("names"))
    created: dict[str, str] = {}
    for disk_id, name in zip(disks, names, strict=True):
        try:
            snapshot_id, request_id = run.provider.create_snapshot(disk_id, name, run.token())
        except CloudError as exc:
            done = ", ".join(f"{s} of {d}" for d, s in created.items()) or "none"
            return run.result(
                Outcome.FAILED,
                f"snapshot of {disk_id} failed: {exc}",
                state=f"snapshots started: {done}; not snapshotted: "
                + ", ".join(d for d in disks if d not in created),
                details={"snapshots": created},
            )
        run.did(request_id)
        created[disk_id] = snapshot_id
        run.progress(f"snapshot {snapshot_id} of {disk_id} started")
    deadline = time.monotonic() + run.timing.snapshot_timeout_s
    found: dict[str, Snapshot] = {}
    while True:
        try:
            listed = run.provider.snapshots(list(created))
            found = {s.id: s for s in listed if s.id in created.values()}
        except CloudError as exc:  # already retried: say so, look again at the next poll
            run.progress(f"snapshots: cannot read their progress now ({exc.code or exc})")
        progress = {
            sid: (
                f"{found[sid].status} {found[sid].progress}%" if sid in found else "not listed yet"
            )
            for sid in created.values()
        }
        run.progress("snapshots: " + ", ".join(f"{sid} {p}" for sid, p in progress.items()))
        failed = [sid for sid, s in found.items() if s.status == "failed"]
        finished = [sid for sid, s in found.items() if s.status == "accomplished"]
        details = {"snapshots": created, "progress": progress}
        if failed:
            return run.result(
                Outcome.FAILED,
                f"snapshot(s) failed: {', '.join(failed)}",
                verification="; ".join(f"{k}: {v}" for k, v in progress.items()),
                state="the failed snapshots hold no usable copy; the others: see progress",
                details=details,
            )
        if len(finished) == len(created):
            return run.result(
                Outcome.DONE,
                f"{len(finished)} snapshot(s) taken: {', '.join(created.values())}",
                verification="read back: every snapshot accomplished (100%)",
                details=details,
            )
        if time.monotonic() >= deadline or run.wait(run.timing.poll_s):
            return run.result(
                Outcome.UNVERIFIED,
                "snapshots started, not finished yet",
                verification="; ".join(f"{k}: {v}" for k, v in progress.items()),
                state="the snapshots go on in the cloud; check them later",
                details=details,
            )
