"""The incident case file on a real SQLite database: incidents open, resume and close; findings
are upserted; actions, evidence, notes and checklist steps read back; a process killed with
SIGKILL loses nothing it committed; readers see consistent snapshots while a writer works."""

from __future__ import annotations

import datetime as dt
import os
import selectors
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from backends.casefile import (
    ENV_CASE_FILE,
    SCHEMA_VERSION,
    CaseFile,
    CaseFileError,
    UnknownIncident,
    case_path,
)
from domain.actions import ActionPlan, ActionResult, Outcome, PlannedStep, Risk
from domain.findings import Evidence, Finding, Severity
from domain.incident import IncidentStatus, StepStatus

REPO = Path(__file__).resolve().parent.parent
T0 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.timezone.utc)


class Clock:
    """A settable clock for the case file."""

    def __init__(self, start: dt.datetime = T0) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def finding(pid: int = 4242, *, host: str = "web1", first: float, last: float, **kw: object):
    fields: dict[str, object] = {
        "rule_id": "PROC-MINER-NAME",
        "title": "Cryptominer process",
        "severity": Severity.HIGH,
        "explanation": "named like a miner",
        "evidence": Evidence(pid=pid, process="xmrig", exe="/tmp/.x/xmrig"),
        "host": host,
        "first_seen": first,
        "last_seen": last,
    }
    fields.update(kw)
    return Finding(**fields)  # type: ignore[arg-type]


def test_open_resume_and_close(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "cases.sqlite3"
    cases = CaseFile(path, actor="alice", clock=clock)
    assert cases.current() is None
    first = cases.open_incident("Miner on web1")
    assert first.id == "INC-20261123-0001"
    assert (first.status, first.opened_by, first.opened_at) == (IncidentStatus.OPEN, "alice", T0)
    clock.advance(minutes=5)
    second = cases.open_incident("Second host")
    assert second.id == "INC-20261123-0002"
    cases.disconnect()

    # A new process (a new CaseFile on the same file) resumes the latest open incident.
    resumed = CaseFile(path, actor="bob", clock=clock)
    assert resumed.current() == second
    assert [i.id for i in resumed.list()] == [second.id, first.id]
    clock.advance(minutes=1)
    closed = resumed.close(second.id)
    assert closed.status is IncidentStatus.CLOSED
    assert closed.closed_at == T0 + dt.timedelta(minutes=6)
    assert resumed.current() == first
    assert resumed.close(second.id) == closed  # closing again changes nothing
    assert [i.id for i in resumed.list(IncidentStatus.OPEN)] == [first.id]

    clock.advance(days=1)
    assert resumed.open_incident("Next day").id == "INC-20261124-0001"
    with pytest.raises(UnknownIncident):
        resumed.close("INC-19990101-0001")
    with pytest.raises(UnknownIncident):
        resumed.get("nope")
    with pytest.raises(UnknownIncident):
        resumed.add_note("INC-19990101-0001", "lost")


def test_findings_are_upserted_and_set_the_first_detection(tmp_path: Path) -> None:
    clock = Clock()
    cases = CaseFile(tmp_path / "c.db", clock=clock)
    incident = cases.open_incident("Miner")
    base = T0.timestamp()
    seen = finding(first=base - 600, last=base - 590)
    cases.record_finding(incident.id, seen)
    # the same problem in a later sample, now critical
    cases.record_finding(
        incident.id, finding(first=base - 600, last=base - 10, severity=Severity.CRITICAL)
    )
    # a different process: another row
    cases.record_finding(incident.id, finding(pid=5, first=base - 900, last=base - 900))
    rows = cases.findings(incident.id)
    assert len(rows) == 2
    older, miner = rows  # ordered by first seen
    assert older.evidence["pid"] == 5
    assert miner.key == seen.key
    assert miner.first_seen == dt.datetime.fromtimestamp(base - 600, dt.timezone.utc)
    assert miner.last_seen == dt.datetime.fromtimestamp(base - 10, dt.timezone.utc)
    assert miner.times_seen == 2
    assert miner.severity is Severity.CRITICAL
    assert miner.evidence_summary.startswith("pid 4242  xmrig")
    assert cases.get(incident.id).first_detection_at == older.first_seen
    assert [h.name for h in cases.hosts(incident.id)] == ["web1"]  # added with its finding
    # The same key on another host is another finding.
    cases.record_finding(incident.id, seen, host="web2")
    assert len(cases.findings(incident.id)) == 3


def _plan() -> ActionPlan:
    return ActionPlan(
        action="isolate",
        host="web1",
        subject="instance i-bp1abc",
        params={"instance": "i-bp1abc", "group": "sg-quarantine"},
        steps=(
            PlannedStep("attach the quarantine group", "ecs.JoinSecurityGroup InstanceId=i-bp1abc"),
            PlannedStep("detach the others", "ecs.LeaveSecurityGroup SecurityGroupId=sg-web"),
        ),
        risk=Risk.REVERSIBLE,
        undo=("restore-groups", {"groups": "sg-web"}),
    )


def test_actions_evidence_notes_and_steps_read_back(tmp_path: Path) -> None:
    clock = Clock()
    cases = CaseFile(tmp_path / "c.db", actor="alice", clock=clock)
    incident = cases.open_incident("Miner")
    host = cases.add_host(incident.id, "web1", address="10.0.0.5")
    assert (host.name, host.address, host.provider) == ("web1", "10.0.0.5", "")
    host = cases.add_host(incident.id, "web1", provider="aliyun", instance_id="i-bp1abc")
    assert (host.address, host.provider, host.instance_id) == ("10.0.0.5", "aliyun", "i-bp1abc")

    collected = tmp_path / "exe.bin"
    collected.write_bytes(b"x" * 10)
    digest = "ab" * 32
    clock.advance(minutes=3)
    result = ActionResult(
        outcome=Outcome.DONE,
        summary="isolated",
        verification="groups read back: sg-quarantine",
        details={"old_groups": ["sg-web"]},
        request_ids=("4F2A-REQ-1", "4F2A-REQ-2"),
        evidence=((str(collected), digest),),
    )
    record = cases.record_action(incident.id, _plan(), result, "c0ffee" * 10 + "abcd")
    assert record.at == T0 + dt.timedelta(minutes=3)
    assert record.actor == "alice"
    assert record.outcome is Outcome.DONE
    assert record.request_ids == ("4F2A-REQ-1", "4F2A-REQ-2")
    assert record.steps[0] == (
        "attach the quarantine group",
        "ecs.JoinSecurityGroup InstanceId=i-bp1abc",
    )
    assert record.undo == ("restore-groups", {"groups": "sg-web"})  # the plan's, kept
    assert record.params == {"instance": "i-bp1abc", "group": "sg-quarantine"}
    assert record.details == {"old_groups": ["sg-web"]}
    assert record.audit_hash == "c0ffee" * 10 + "abcd"
    assert cases.actions(incident.id) == (record,)

    (evidence,) = cases.evidence(incident.id)
    assert (evidence.path, evidence.sha256, evidence.size) == (str(collected), digest, 10)
    assert (evidence.action, evidence.remote_path) == ("isolate", "")
    again = cases.record_evidence(
        incident.id,
        "web1",
        str(collected),
        digest,
        10,
        remote_path="/tmp/.x/xmrig",
        action="collect",
    )
    assert (again.remote_path, again.action) == ("/tmp/.x/xmrig", "collect")
    assert len(cases.evidence(incident.id)) == 1
    with pytest.raises(ValueError, match="sha256"):
        cases.record_evidence(incident.id, "web1", "/x", "not-a-hash", None)

    clock.advance(minutes=1)
    cases.add_note(incident.id, "called the provider", author="bob")
    clock.advance(minutes=1)
    state = cases.set_step(incident.id, "isolate", StepStatus.DONE, auto_verified=True)
    assert (state.status, state.by, state.auto_verified) == (StepStatus.DONE, "alice", True)
    clock.advance(minutes=1)
    cases.set_step(incident.id, "scan", StepStatus.SKIPPED, reason="no ClamAV on the bastion")
    steps = cases.steps(incident.id)
    assert steps["isolate"].at == T0 + dt.timedelta(minutes=5)
    assert steps["scan"].reason == "no ClamAV on the bastion"

    kinds = [(e.kind, e.text) for e in cases.timeline(incident.id)]
    assert kinds == [
        ("opened", "Miner"),
        ("evidence", str(collected)),
        ("action", "isolate: isolated"),
        ("note", "called the provider"),
        ("step", "isolate"),
        ("step", "scan"),
    ]


def test_hostile_text_is_stored_and_read_back(tmp_path: Path) -> None:
    cases = CaseFile(tmp_path / "c.db")
    title = "[bold]x\x1b]0;t\x07\u202eevil\x00nul 挖矿"
    incident = cases.open_incident(title)
    assert cases.get(incident.id).title == title
    # an undecodable byte from the host (a lone surrogate) cannot be stored as SQLite text:
    # it is kept as a visible escape instead of failing the write
    note = cases.add_note(incident.id, "bad \udcff byte")
    assert note.text == "bad \\udcff byte"
    assert cases.notes(incident.id)[0].text == "bad \\udcff byte"
    f = finding(first=1.0, last=2.0, evidence=Evidence(process="\udcffminer"))
    cases.record_finding(incident.id, f)
    assert cases.findings(incident.id)[0].evidence == {"process": "\udcffminer"}  # JSON-escaped


def test_the_database_is_configured_for_durability(tmp_path: Path) -> None:
    path = tmp_path / "private" / "cases.sqlite3"
    cases = CaseFile(path)
    cases.open_incident("x")
    conn = cases._connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert cases.schema_version() == SCHEMA_VERSION
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # a foreign key holds: a note for no incident is refused, and nothing is written
    with pytest.raises(CaseFileError, match="not written"), cases._write() as c:
        c.execute("INSERT INTO notes (incident, at, author, text) VALUES ('INC-X', 'a', 'b', 'c')")


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    cases = CaseFile(tmp_path / "c.db")
    incident = cases.open_incident("x")
    good = finding(first=10.0, last=10.0)
    bad = finding(pid=7, first=10.0, last=10.0, severity=9)  # violates the severity CHECK
    with pytest.raises(CaseFileError):
        cases.record_findings(incident.id, [good, bad])
    assert cases.findings(incident.id) == ()
    assert cases.get(incident.id).first_detection_at is None


def test_newer_or_foreign_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    CaseFile(path).disconnect()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(CaseFileError, match="newer sickbay"):
        CaseFile(path)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database\n" * 100)
    with pytest.raises(CaseFileError, match="not a usable case file"):
        CaseFile(junk)
    assert junk.read_bytes() == b"this is not a database\n" * 100  # untouched


def test_case_path_resolution(tmp_path: Path) -> None:
    assert case_path(tmp_path / "a.db", {ENV_CASE_FILE: "/x/b.db"}) == tmp_path / "a.db"
    assert case_path(None, {ENV_CASE_FILE: "/x/b.db"}) == Path("/x/b.db")
    default = case_path(None, {})
    assert default.name == "cases.sqlite3" and "sickbay" in default.parts


_CHILD = r"""
import sys
from backends.casefile import CaseFile
from domain.findings import Evidence, Finding, Severity

cases = CaseFile(sys.argv[1])
incident = sys.argv[2]
for i in range(1_000_000):
    cases.add_note(incident, f"note {i}")
    cases.record_findings(incident, [
        Finding("PROC-MINER-NAME", "miner", Severity.HIGH, "x", Evidence(pid=i, text="a" * 2000),
                host=f"host{i % 3}", first_seen=1000.0 + i, last_seen=1000.0 + i)
        for _ in range(2)
    ])
    print(i, flush=True)
"""


def test_sigkill_loses_nothing_committed(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    incident = CaseFile(path).open_incident("crash test").id
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path), incident],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert child.stdout is not None
    committed: list[int] = []
    selector = selectors.DefaultSelector()
    selector.register(child.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + 60
    try:
        while len(committed) < 40 and time.monotonic() < deadline:
            if selector.select(timeout=1.0):
                line = child.stdout.readline()
                if not line:
                    break
                committed.append(int(line))
        assert len(committed) >= 40, "the child did not get going"
        # Kill it while it is writing (it never stops on its own).
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
        selector.close()
    assert child.returncode == -signal.SIGKILL

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    cases = CaseFile(path)
    notes = {n.text for n in cases.notes(incident)}
    pids = {int(f.evidence["pid"]) for f in cases.findings(incident)}
    for i in committed:
        assert f"note {i}" in notes
        assert i in pids
    # every finding batch is whole: never one of a pair without the other (one transaction)
    assert len(cases.findings(incident)) == len(pids)
    assert cases.get(incident).first_detection_at is not None


def test_concurrent_readers_see_whole_transactions(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    cases = CaseFile(path)
    incident = cases.open_incident("concurrency").id
    rounds = 60
    errors: list[BaseException] = []
    seen_counts: list[int] = []
    done = threading.Event()

    def writer(offset: int) -> None:
        try:
            for i in range(rounds):
                pid = offset + i
                # two findings per transaction: a reader must never see an odd count
                cases.record_findings(
                    incident,
                    [
                        finding(pid=pid, host="a", first=1.0, last=1.0),
                        finding(pid=pid, host="b", first=1.0, last=1.0),
                    ],
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader() -> None:
        other = CaseFile(path)  # its own connections, as another process would have
        try:
            last = 0
            for _ in range(10_000):
                count = len(other.case(incident).findings)
                assert count % 2 == 0, f"saw half a transaction: {count}"
                assert count >= last, "went back in time"
                last = count
                seen_counts.append(count)
                if done.is_set():
                    break
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            other.disconnect()

    writers = [threading.Thread(target=writer, args=(n * 1000,)) for n in range(2)]
    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join(timeout=60)
    done.set()
    for t in readers:
        t.join(timeout=60)
    assert not errors, errors
    assert not any(t.is_alive() for t in writers + readers)
    # both writers shared one CaseFile object (one connection per thread): nothing lost
    assert len(cases.findings(incident)) == 2 * 2 * rounds
    assert seen_counts and max(seen_counts) <= 4 * rounds
    # disconnect() closes the connections of every thread: the last close removes the WAL
    cases.disconnect()
    assert not Path(f"{path}-wal").exists()


def test_incident_ids_stay_unique_under_concurrent_opening(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    CaseFile(path).disconnect()
    opened: list[str] = []
    lock = threading.Lock()

    def opener() -> None:
        cases = CaseFile(path)  # like separate processes: separate connections
        try:
            for _ in range(5):
                incident = cases.open_incident("race")
                with lock:
                    opened.append(incident.id)
        finally:
            cases.disconnect()

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    day = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d")
    assert sorted(opened) == [f"INC-{day}-{n:04d}" for n in range(1, 21)]
