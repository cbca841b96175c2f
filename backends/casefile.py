"""The incident case file: incidents, their hosts, findings, actions, evidence, notes and checklist
state, in one embedded SQLite database on the bastion.

Durability comes first: the console may be killed at any moment (a dropped SSH session to the
bastion, an OOM kill), and what it said was recorded must still be there. So: WAL journal,
``synchronous=FULL`` (every commit is on disk when the call returns), foreign keys on, and every
write is one ``BEGIN IMMEDIATE`` ... ``COMMIT`` transaction; a write that raised left nothing
behind. One connection per thread (SQLite connections are not shared across threads); writers
from other threads or processes wait for each other (busy timeout), readers never block.

The schema is versioned in the ``meta`` table and upgraded by :data:`MIGRATIONS` (append only:
migration *n* takes version *n* to *n + 1*). A file written by a newer sickbay is refused, not
rewritten. Times are stored as UTC ISO 8601 text (microseconds, ``+00:00``), which sorts in time
order. Text read from hosts is stored as read; lone surrogates (undecodable bytes) are kept as
visible ``\\udcxx`` escapes since SQLite text must be valid UTF-8.

Needs SQLite 3.24 or newer (upsert), which every supported distribution's Python has.
The default file is ``platformdirs.user_data_dir("sickbay")/cases.sqlite3``; ``$SICKBAY_CASE_FILE``
or an explicit path overrides it. The file is private to its user (mode 600, directory 700).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import platformdirs

from backends.audit_log import local_actor
from domain.actions import ActionPlan, ActionResult, Outcome
from domain.findings import Finding, Severity, evidence_summary
from domain.incident import (
    ActionRecord,
    Case,
    EvidenceRecord,
    FindingRecord,
    Incident,
    IncidentHost,
    IncidentStatus,
    Note,
    StepState,
    StepStatus,
    TimelineEntry,
    merge_timeline,
)

ENV_CASE_FILE = "SICKBAY_CASE_FILE"
FILE_NAME = "cases.sqlite3"
BUSY_TIMEOUT_S = 30.0
MIN_SQLITE = (3, 24, 0)  # INSERT ... ON CONFLICT DO UPDATE (upsert)

# Append only. Each migration is a list of statements run in one transaction.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE incidents (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            opened_by TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
            closed_at TEXT,
            first_detection_at TEXT
        )""",
        """CREATE TABLE hosts (
            incident TEXT NOT NULL REFERENCES incidents(id),
            name TEXT NOT NULL,
            address TEXT NOT NULL DEFAULT '',
            provider TEXT NOT NULL DEFAULT '',
            region TEXT NOT NULL DEFAULT '',
            instance_id TEXT NOT NULL DEFAULT '',
            added_at TEXT NOT NULL,
            PRIMARY KEY (incident, name)
        )""",
        """CREATE TABLE findings (
            id INTEGER PRIMARY KEY,
            incident TEXT NOT NULL REFERENCES incidents(id),
            host TEXT NOT NULL,
            rule_id TEXT NOT NULL,
            severity INTEGER NOT NULL CHECK (severity BETWEEN 0 AND 4),
            title TEXT NOT NULL,
            explanation TEXT NOT NULL DEFAULT '',
            evidence_summary TEXT NOT NULL DEFAULT '',
            evidence_json TEXT NOT NULL DEFAULT '{}',
            key TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            times_seen INTEGER NOT NULL DEFAULT 1,
            UNIQUE (incident, host, key)
        )""",
        "CREATE INDEX findings_by_time ON findings (incident, first_seen)",
        """CREATE TABLE actions (
            id INTEGER PRIMARY KEY,
            incident TEXT NOT NULL REFERENCES incidents(id),
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            host TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT NOT NULL DEFAULT '',
            risk TEXT NOT NULL DEFAULT '',
            params_json TEXT NOT NULL DEFAULT '{}',
            steps_json TEXT NOT NULL DEFAULT '[]',
            outcome TEXT NOT NULL,
            summary TEXT NOT NULL DEFAULT '',
            verification TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL DEFAULT '',
            details_json TEXT NOT NULL DEFAULT '{}',
            request_ids_json TEXT NOT NULL DEFAULT '[]',
            undo_json TEXT,
            audit_hash TEXT
        )""",
        "CREATE INDEX actions_by_time ON actions (incident, at)",
        """CREATE TABLE evidence (
            id INTEGER PRIMARY KEY,
            incident TEXT NOT NULL REFERENCES incidents(id),
            host TEXT NOT NULL,
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER,
            remote_path TEXT NOT NULL DEFAULT '',
            collected_at TEXT NOT NULL,
            collector TEXT NOT NULL,
            action TEXT NOT NULL DEFAULT '',
            UNIQUE (incident, path, sha256)
        )""",
        """CREATE TABLE notes (
            id INTEGER PRIMARY KEY,
            incident TEXT NOT NULL REFERENCES incidents(id),
            at TEXT NOT NULL,
            author TEXT NOT NULL,
            text TEXT NOT NULL
        )""",
        """CREATE TABLE checklist (
            incident TEXT NOT NULL REFERENCES incidents(id),
            step_id TEXT NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('pending', 'in-progress', 'done', 'skipped')),
            reason TEXT NOT NULL DEFAULT '',
            by TEXT NOT NULL,
            at TEXT NOT NULL,
            auto_verified INTEGER NOT NULL DEFAULT 0 CHECK (auto_verified IN (0, 1)),
            PRIMARY KEY (incident, step_id)
        )""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
# The columns the read models are built from, named (a later ALTER TABLE ADD COLUMN must not
# shift them).
_INCIDENT = "id, title, opened_at, opened_by, status, closed_at, first_detection_at"
_HOST = "name, address, provider, region, instance_id, added_at"
_FINDING = (
    "host, rule_id, severity, title, explanation, evidence_summary, evidence_json, key, "
    "first_seen, last_seen, times_seen"
)
_ACTION = (
    "id, at, actor, host, action, subject, risk, params_json, steps_json, outcome, summary, "
    "verification, state, details_json, request_ids_json, undo_json, audit_hash"
)
_EVIDENCE = "host, path, sha256, size, remote_path, collected_at, collector, action"
_ID = re.compile(r"INC-(\d{8})-(\d{4,})")


class CaseFileError(Exception):
    """The case file cannot be used, or an incident does not exist; the message says why."""


class UnknownIncident(CaseFileError):
    pass


def default_case_path() -> Path:
    return platformdirs.user_data_path("sickbay") / FILE_NAME


def case_path(explicit: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path:
    """``explicit`` (``--case-file``), else ``$SICKBAY_CASE_FILE``, else the default."""
    chosen = explicit or env.get(ENV_CASE_FILE)
    return Path(chosen).expanduser() if chosen else default_case_path()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def iso(moment: dt.datetime) -> str:
    """The stored form: UTC, microseconds, ``+00:00`` (sorts in time order as text)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: give a timezone-aware time")
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _opt_time(text: str | None) -> dt.datetime | None:
    return None if text is None else _time(text)


def _epoch(seconds: float, fallback: dt.datetime) -> dt.datetime:
    if seconds <= 0:
        return fallback
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


def _text(value: object) -> str:
    """Storable text: lone surrogates (undecodable host bytes) become visible escapes."""
    text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _json(value: Any) -> str:
    # ensure_ascii: surrogates and control characters stay escaped, the text is always valid.
    return json.dumps(value, ensure_ascii=True, default=str, sort_keys=True)


def _load(text: str | None, default: Any) -> Any:
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


class CaseFile:
    """The case file at ``path`` (created on first use). Safe to share between the threads of
    one process; several processes may use the same file."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        actor: str | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.path = Path(path) if path is not None else default_case_path()
        self.actor = actor or local_actor()
        self._clock = clock
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._create_file()
        self._migrate()

    # -- connections and transactions ----------------------------------------------------------

    def _create_file(self) -> None:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
        except OSError as exc:
            raise CaseFileError(f"{self.path}: cannot create the case file: {exc}") from None

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise CaseFileError(
                f"SQLite {sqlite3.sqlite_version} is too old for the case file "
                f"(needs {'.'.join(map(str, MIN_SQLITE))} or newer)"
            )
        try:
            # Each connection is used by its own thread only; check_same_thread=False lets
            # disconnect() close them all from whichever thread shuts down.
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()
            if mode is None or str(mode[0]).lower() != "wal":
                raise CaseFileError(f"{self.path}: the file system does not support WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            raise CaseFileError(f"{self.path}: not a usable case file: {exc}") from None
        self._local.conn = conn
        with self._all_lock:
            self._all.append(conn)
        return conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it is on disk when the block ends, or none of it."""
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise CaseFileError(f"{self.path}: cannot write: {exc}") from None
        try:
            yield conn
        except sqlite3.Error as exc:  # a constraint, a full disk: nothing of it was written
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise CaseFileError(f"{self.path}: not written: {exc}") from None
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            with contextlib.suppress(sqlite3.DatabaseError):
                conn.execute("ROLLBACK")
            raise CaseFileError(f"{self.path}: cannot write: {exc}") from None

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every query in it sees the same committed state."""
        conn = self._connection()
        try:
            conn.execute("BEGIN")
        except sqlite3.DatabaseError as exc:
            raise CaseFileError(f"{self.path}: cannot read: {exc}") from None
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def _migrate(self) -> None:
        try:
            with self._write() as conn:
                conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                version = int(row[0]) if row else 0
                if version > SCHEMA_VERSION:
                    raise CaseFileError(
                        f"{self.path}: written by a newer sickbay (schema {version}, this one "
                        f"knows up to {SCHEMA_VERSION}); not touching it"
                    )
                for statements in MIGRATIONS[version:]:
                    for statement in statements:
                        conn.execute(statement)
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(SCHEMA_VERSION),),
                )
        except sqlite3.DatabaseError as exc:
            raise CaseFileError(f"{self.path}: not a usable case file: {exc}") from None

    def schema_version(self) -> int:
        row = self._connection().execute("SELECT value FROM meta WHERE key='schema_version'")
        found = row.fetchone()
        return int(found[0]) if found else 0

    def disconnect(self) -> None:
        """Close every connection this object opened (in any thread)."""
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()

    def __enter__(self) -> CaseFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    # -- incidents -----------------------------------------------------------------------------

    def open_incident(
        self,
        title: str,
        *,
        first_detection_at: dt.datetime | None = None,
        opened_by: str | None = None,
    ) -> Incident:
        """A new open incident, ``INC-<UTC day>-<sequence that day>``."""
        now = self._clock()
        day = now.astimezone(dt.timezone.utc).strftime("%Y%m%d")
        with self._write() as conn:
            rows = conn.execute(
                "SELECT id FROM incidents WHERE id LIKE ?", (f"INC-{day}-%",)
            ).fetchall()
            numbers = [int(m.group(2)) for (i,) in rows if (m := _ID.fullmatch(i))]
            incident_id = f"INC-{day}-{max(numbers, default=0) + 1:04d}"
            conn.execute(
                "INSERT INTO incidents (id, title, opened_at, opened_by, status, "
                "first_detection_at) VALUES (?, ?, ?, ?, 'open', ?)",
                (
                    incident_id,
                    _text(title),
                    iso(now),
                    _text(opened_by or self.actor),
                    None if first_detection_at is None else iso(first_detection_at),
                ),
            )
        return self.get(incident_id)

    def get(self, incident_id: str) -> Incident:
        row = (
            self._connection()
            .execute(f"SELECT {_INCIDENT} FROM incidents WHERE id = ?", (incident_id,))
            .fetchone()
        )
        if row is None:
            raise UnknownIncident(f"no incident {incident_id!r} in {self.path}")
        return _incident(row)

    def current(self) -> Incident | None:
        """The open incident to resume: the most recently opened one still open."""
        row = (
            self._connection()
            .execute(
                f"SELECT {_INCIDENT} FROM incidents WHERE status = 'open' "
                "ORDER BY opened_at DESC, id DESC LIMIT 1"
            )
            .fetchone()
        )
        return None if row is None else _incident(row)

    def list(self, status: IncidentStatus | None = None) -> tuple[Incident, ...]:
        """Every incident (or those with ``status``), newest first."""
        sql = f"SELECT {_INCIDENT} FROM incidents"
        args: tuple[str, ...] = ()
        if status is not None:
            sql += " WHERE status = ?"
            args = (status.value,)
        rows = self._connection().execute(sql + " ORDER BY opened_at DESC, id DESC", args)
        return tuple(_incident(row) for row in rows.fetchall())

    def close(self, incident_id: str) -> Incident:
        """Close the incident (closing a closed one changes nothing)."""
        with self._write() as conn:
            updated = conn.execute(
                "UPDATE incidents SET status = 'closed', closed_at = ? "
                "WHERE id = ? AND status = 'open'",
                (iso(self._clock()), incident_id),
            ).rowcount
            if (
                not updated
                and not conn.execute(
                    "SELECT 1 FROM incidents WHERE id = ?", (incident_id,)
                ).fetchone()
            ):
                raise UnknownIncident(f"no incident {incident_id!r} in {self.path}")
        return self.get(incident_id)

    # -- hosts ---------------------------------------------------------------------------------

    def add_host(
        self,
        incident: str,
        name: str,
        *,
        address: str = "",
        provider: str = "",
        region: str = "",
        instance_id: str = "",
    ) -> IncidentHost:
        """Add the host to the incident, or fill in what was not known about it yet."""
        with self._write() as conn:
            self._require(conn, incident)
            conn.execute(
                "INSERT INTO hosts (incident, name, address, provider, region, instance_id, "
                "added_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (incident, name) DO UPDATE SET "
                "address = CASE WHEN excluded.address != '' THEN excluded.address "
                "ELSE address END, "
                "provider = CASE WHEN excluded.provider != '' THEN excluded.provider "
                "ELSE provider END, "
                "region = CASE WHEN excluded.region != '' THEN excluded.region ELSE region END, "
                "instance_id = CASE WHEN excluded.instance_id != '' THEN excluded.instance_id "
                "ELSE instance_id END",
                (
                    incident,
                    _text(name),
                    _text(address),
                    provider,
                    region,
                    _text(instance_id),
                    iso(self._clock()),
                ),
            )
            row = conn.execute(
                f"SELECT {_HOST} FROM hosts WHERE incident = ? AND name = ?",
                (incident, _text(name)),
            ).fetchone()
        return _host(row)

    def hosts(self, incident: str) -> tuple[IncidentHost, ...]:
        with self._read() as conn:
            return self._hosts(conn, incident)

    # -- findings ------------------------------------------------------------------------------

    def record_finding(self, incident: str, finding: Finding, host: str | None = None) -> None:
        """Add the finding to the timeline; the same finding again (same host and key) only
        moves its ``last_seen`` (and raises its severity if it rose)."""
        self.record_findings(incident, [finding], host)

    def record_findings(
        self, incident: str, findings: Iterable[Finding], host: str | None = None
    ) -> None:
        """Several findings in one transaction (one sample's worth)."""
        now = self._clock()
        with self._write() as conn:
            self._require(conn, incident)
            earliest: dt.datetime | None = None
            for finding in findings:
                where = host if host is not None else finding.host
                first = _epoch(finding.first_seen, now)
                last = max(first, _epoch(finding.last_seen, first))
                earliest = first if earliest is None else min(earliest, first)
                self._ensure_host(conn, incident, where, now)
                conn.execute(
                    "INSERT INTO findings (incident, host, rule_id, severity, title, explanation, "
                    "evidence_summary, evidence_json, key, first_seen, last_seen) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (incident, host, key) DO UPDATE SET "
                    "last_seen = max(last_seen, excluded.last_seen), "
                    "first_seen = min(first_seen, excluded.first_seen), "
                    "severity = max(severity, excluded.severity), "
                    "title = excluded.title, explanation = excluded.explanation, "
                    "evidence_summary = excluded.evidence_summary, "
                    "evidence_json = excluded.evidence_json, times_seen = times_seen + 1",
                    (
                        incident,
                        _text(where),
                        _text(finding.rule_id),
                        int(finding.severity),
                        _text(finding.title),
                        _text(finding.explanation),
                        _text(evidence_summary(finding)),
                        _json(finding.evidence.as_dict()),
                        finding.key,
                        iso(first),
                        iso(last),
                    ),
                )
            if earliest is not None:
                conn.execute(
                    "UPDATE incidents SET first_detection_at = ? WHERE id = ? AND "
                    "(first_detection_at IS NULL OR first_detection_at > ?)",
                    (iso(earliest), incident, iso(earliest)),
                )

    def findings(self, incident: str) -> tuple[FindingRecord, ...]:
        with self._read() as conn:
            return self._findings(conn, incident)

    # -- actions and evidence ------------------------------------------------------------------

    def record_action(
        self,
        incident: str,
        plan: ActionPlan,
        result: ActionResult,
        audit_hash: str | None = None,
        *,
        at: dt.datetime | None = None,
        actor: str | None = None,
    ) -> ActionRecord:
        """The action with its exact plan, outcome, verification, request ids and undo;
        ``audit_hash`` links it to its audit-log entry. Evidence listed in the result (path,
        sha256) is added to the evidence table."""
        when = at or self._clock()
        who = actor or self.actor
        undo = result.undo if result.undo is not None else plan.undo
        with self._write() as conn:
            self._require(conn, incident)
            self._ensure_host(conn, incident, plan.host, when)
            cursor = conn.execute(
                "INSERT INTO actions (incident, at, actor, host, action, subject, risk, "
                "params_json, steps_json, outcome, summary, verification, state, details_json, "
                "request_ids_json, undo_json, audit_hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    incident,
                    iso(when),
                    _text(who),
                    _text(plan.host),
                    plan.action,
                    _text(plan.subject),
                    plan.risk.label,
                    _json(dict(plan.params)),
                    _json([[step.what, step.exact] for step in plan.steps]),
                    result.outcome.value,
                    _text(result.summary),
                    _text(result.verification),
                    _text(result.state),
                    _json(dict(result.details)),
                    _json(list(result.request_ids)),
                    None if undo is None else _json([undo[0], dict(undo[1])]),
                    audit_hash,
                ),
            )
            action_id = cursor.lastrowid
            for path, digest in result.evidence:
                conn.execute(
                    "INSERT INTO evidence (incident, host, path, sha256, size, remote_path, "
                    "collected_at, collector, action) VALUES (?, ?, ?, ?, ?, '', ?, ?, ?) "
                    "ON CONFLICT (incident, path, sha256) DO NOTHING",
                    (
                        incident,
                        _text(plan.host),
                        _text(path),
                        digest,
                        _size(path),
                        iso(when),
                        _text(who),
                        plan.action,
                    ),
                )
            row = conn.execute(
                f"SELECT {_ACTION} FROM actions WHERE id = ?", (action_id,)
            ).fetchone()
        return _action(row)

    def actions(self, incident: str) -> tuple[ActionRecord, ...]:
        with self._read() as conn:
            return self._actions(conn, incident)

    def record_evidence(
        self,
        incident: str,
        host: str,
        path: str,
        sha256: str,
        size: int | None,
        *,
        remote_path: str = "",
        collected_at: dt.datetime | None = None,
        collector: str | None = None,
        action: str = "",
    ) -> EvidenceRecord:
        """One collected file (on the bastion) with its hash; recording the same file again
        fills in what was missing (size, remote path, action)."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        when = collected_at or self._clock()
        with self._write() as conn:
            self._require(conn, incident)
            self._ensure_host(conn, incident, host, when)
            conn.execute(
                "INSERT INTO evidence (incident, host, path, sha256, size, remote_path, "
                "collected_at, collector, action) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (incident, path, sha256) DO UPDATE SET "
                "size = coalesce(excluded.size, size), "
                "remote_path = CASE WHEN excluded.remote_path != '' THEN excluded.remote_path "
                "ELSE remote_path END, "
                "action = CASE WHEN excluded.action != '' THEN excluded.action ELSE action END",
                (
                    incident,
                    _text(host),
                    _text(path),
                    sha256,
                    size,
                    _text(remote_path),
                    iso(when),
                    _text(collector or self.actor),
                    action,
                ),
            )
            row = conn.execute(
                f"SELECT {_EVIDENCE} FROM evidence WHERE incident = ? AND path = ? AND sha256 = ?",
                (incident, _text(path), sha256),
            ).fetchone()
        return _evidence(row)

    def evidence(self, incident: str) -> tuple[EvidenceRecord, ...]:
        with self._read() as conn:
            return self._evidence(conn, incident)

    # -- notes and the checklist ---------------------------------------------------------------

    def add_note(self, incident: str, text: str, *, author: str | None = None) -> Note:
        when = self._clock()
        who = author or self.actor
        with self._write() as conn:
            self._require(conn, incident)
            conn.execute(
                "INSERT INTO notes (incident, at, author, text) VALUES (?, ?, ?, ?)",
                (incident, iso(when), _text(who), _text(text)),
            )
        return Note(_time(iso(when)), _text(who), _text(text))

    def notes(self, incident: str) -> tuple[Note, ...]:
        with self._read() as conn:
            return self._notes(conn, incident)

    def set_step(
        self,
        incident: str,
        step_id: str,
        status: StepStatus,
        *,
        reason: str = "",
        by: str | None = None,
        auto_verified: bool = False,
    ) -> StepState:
        """Set a checklist step's state (the latest setting wins; the time is when it was set).
        ``auto_verified``: set by an automatic verification rather than by hand."""
        when = self._clock()
        who = by or self.actor
        with self._write() as conn:
            self._require(conn, incident)
            conn.execute(
                "INSERT INTO checklist (incident, step_id, status, reason, by, at, auto_verified) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (incident, step_id) DO UPDATE SET "
                "status = excluded.status, reason = excluded.reason, by = excluded.by, "
                "at = excluded.at, auto_verified = excluded.auto_verified",
                (
                    incident,
                    step_id,
                    status.value,
                    _text(reason),
                    _text(who),
                    iso(when),
                    int(auto_verified),
                ),
            )
        return StepState(
            step_id, status, _text(reason), _text(who), _time(iso(when)), auto_verified
        )

    def steps(self, incident: str) -> dict[str, StepState]:
        with self._read() as conn:
            return self._steps(conn, incident)

    # -- read models ---------------------------------------------------------------------------

    def case(self, incident: str) -> Case:
        """Everything about the incident, read in one transaction (a consistent picture)."""
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_INCIDENT} FROM incidents WHERE id = ?", (incident,)
            ).fetchone()
            if row is None:
                raise UnknownIncident(f"no incident {incident!r} in {self.path}")
            return Case(
                incident=_incident(row),
                hosts=self._hosts(conn, incident),
                findings=self._findings(conn, incident),
                actions=self._actions(conn, incident),
                evidence=self._evidence(conn, incident),
                notes=self._notes(conn, incident),
                steps=self._steps(conn, incident),
            )

    def timeline(self, incident: str) -> tuple[TimelineEntry, ...]:
        """Findings, actions, evidence, notes and checklist steps merged in time order."""
        return merge_timeline(self.case(incident))

    # -- internals -----------------------------------------------------------------------------

    def _require(self, conn: sqlite3.Connection, incident: str) -> None:
        if not conn.execute("SELECT 1 FROM incidents WHERE id = ?", (incident,)).fetchone():
            raise UnknownIncident(f"no incident {incident!r} in {self.path}")

    def _ensure_host(
        self, conn: sqlite3.Connection, incident: str, host: str, when: dt.datetime
    ) -> None:
        if not host:  # incident-wide records (the report export) name no host
            return
        conn.execute(
            "INSERT INTO hosts (incident, name, added_at) VALUES (?, ?, ?) "
            "ON CONFLICT (incident, name) DO NOTHING",
            (incident, _text(host), iso(when)),
        )

    def _hosts(self, conn: sqlite3.Connection, incident: str) -> tuple[IncidentHost, ...]:
        rows = conn.execute(
            f"SELECT {_HOST} FROM hosts WHERE incident = ? ORDER BY added_at, name", (incident,)
        )
        return tuple(_host(r) for r in rows.fetchall())

    def _findings(self, conn: sqlite3.Connection, incident: str) -> tuple[FindingRecord, ...]:
        rows = conn.execute(
            f"SELECT {_FINDING} FROM findings WHERE incident = ? ORDER BY first_seen, id",
            (incident,),
        )
        return tuple(_finding(r) for r in rows.fetchall())

    def _actions(self, conn: sqlite3.Connection, incident: str) -> tuple[ActionRecord, ...]:
        rows = conn.execute(
            f"SELECT {_ACTION} FROM actions WHERE incident = ? ORDER BY at, id", (incident,)
        )
        return tuple(_action(r) for r in rows.fetchall())

    def _evidence(self, conn: sqlite3.Connection, incident: str) -> tuple[EvidenceRecord, ...]:
        rows = conn.execute(
            f"SELECT {_EVIDENCE} FROM evidence WHERE incident = ? ORDER BY collected_at, id",
            (incident,),
        )
        return tuple(_evidence(r) for r in rows.fetchall())

    def _notes(self, conn: sqlite3.Connection, incident: str) -> tuple[Note, ...]:
        rows = conn.execute(
            "SELECT at, author, text FROM notes WHERE incident = ? ORDER BY at, id", (incident,)
        )
        return tuple(Note(_time(at), author, text) for at, author, text in rows.fetchall())

    def _steps(self, conn: sqlite3.Connection, incident: str) -> dict[str, StepState]:
        rows = conn.execute(
            "SELECT step_id, status, reason, by, at, auto_verified FROM checklist "
            "WHERE incident = ? ORDER BY at, step_id",
            (incident,),
        )
        return {
            step: StepState(step, StepStatus(status), reason, by, _time(at), bool(auto))
            for step, status, reason, by, at, auto in rows.fetchall()
        }


def _size(path: str) -> int | None:
    try:
        return Path(path).stat().st_size
    except (OSError, ValueError):
        return None


# Rows are tuples in the order of the column lists above.


def _incident(row: tuple[Any, ...]) -> Incident:
    id_, title, opened_at, opened_by, status, closed_at, first = row
    return Incident(
        id=id_,
        title=title,
        opened_at=_time(opened_at),
        opened_by=opened_by,
        status=IncidentStatus(status),
        closed_at=_opt_time(closed_at),
        first_detection_at=_opt_time(first),
    )


def _host(row: tuple[Any, ...]) -> IncidentHost:
    name, address, provider, region, instance_id, added_at = row
    return IncidentHost(name, address, provider, region, instance_id, _time(added_at))


def _finding(row: tuple[Any, ...]) -> FindingRecord:
    (
        host,
        rule_id,
        severity,
        title,
        explanation,
        summary,
        evidence_json,
        key,
        first_seen,
        last_seen,
        times_seen,
    ) = row
    evidence = _load(evidence_json, {})
    return FindingRecord(
        host=host,
        rule_id=rule_id,
        severity=Severity(int(severity)),
        title=title,
        explanation=explanation,
        evidence_summary=summary,
        evidence=evidence if isinstance(evidence, dict) else {},
        key=key,
        first_seen=_time(first_seen),
        last_seen=_time(last_seen),
        times_seen=int(times_seen),
    )


def _action(row: tuple[Any, ...]) -> ActionRecord:
    (
        id_,
        at,
        actor,
        host,
        action,
        subject,
        risk,
        params_json,
        steps_json,
        outcome,
        summary,
        verification,
        state,
        details_json,
        request_ids_json,
        undo_json,
        audit_hash,
    ) = row
    params = _load(params_json, {})
    steps = _load(steps_json, [])
    request_ids = _load(request_ids_json, [])
    details = _load(details_json, {})
    undo_raw = _load(undo_json, None)
    undo: tuple[str, Mapping[str, Any]] | None = None
    if isinstance(undo_raw, list) and len(undo_raw) == 2 and isinstance(undo_raw[1], dict):
        undo = (str(undo_raw[0]), undo_raw[1])
    return ActionRecord(
        id=int(id_),
        at=_time(at),
        actor=actor,
        host=host,
        action=action,
        subject=subject,
        risk=risk,
        params=params if isinstance(params, dict) else {},
        steps=tuple((str(s[0]), str(s[1])) for s in steps if isinstance(s, list) and len(s) == 2),
        outcome=Outcome(outcome),
        summary=summary,
        verification=verification,
        state=state,
        details=details if isinstance(details, dict) else {},
        request_ids=tuple(str(r) for r in request_ids) if isinstance(request_ids, list) else (),
        undo=undo,
        audit_hash=audit_hash,
    )


def _evidence(row: tuple[Any, ...]) -> EvidenceRecord:
    (
        host,
        path,
        sha256,
        size,
        remote_path,
        collected_at,
        collector,
        action,
    ) = row
    return EvidenceRecord(
        host=host,
        path=path,
        sha256=sha256,
        size=None if size is None else int(size),
        remote_path=remote_path,
        collected_at=_time(collected_at),
        collector=collector,
        action=action,
    )
