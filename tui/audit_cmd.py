"""``sickbay audit``: check and read the audit log (``backends.audit_log``).

    sickbay audit verify [--audit-log PATH]     exit 0: the chain is intact; 1: problems (listed)
    sickbay audit show [--audit-log PATH] [--last N]

The log is ``$SICKBAY_AUDIT_LOG``, else ``audit.jsonl`` in sickbay's data directory
(``platformdirs.user_data_dir("sickbay")``). ``verify`` finds edited, removed, reordered and
(against the recorded head) cut-off entries. Entries quote host text: shown through
``domain.sanitize.visible``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import platformdirs

from backends.audit_log import AuditLog
from domain.sanitize import visible

ENV = "SICKBAY_AUDIT_LOG"


def default_audit_path() -> Path:
    explicit = os.environ.get(ENV)
    if explicit:
        return Path(explicit).expanduser()
    return Path(platformdirs.user_data_dir("sickbay")) / "audit.jsonl"


def audit_path(arg: str | None) -> Path:
    return Path(arg).expanduser() if arg else default_audit_path()


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="verify or show the audit log of response actions",
        description=(
            "The audit log records every response action (hash-chained JSON lines). `verify` "
            "checks the chain (exit 1 when an entry was edited, removed, reordered or cut off); "
            f"`show` lists the entries. Log: --audit-log, else ${ENV}, else the data directory."
        ),
    )
    commands = parser.add_subparsers(dest="audit_command", metavar="SUBCOMMAND", required=True)
    verify = commands.add_parser("verify", help="check the hash chain")
    verify.add_argument("--audit-log", metavar="PATH", help="the audit log (JSON lines)")
    show = commands.add_parser("show", help="list the entries")
    show.add_argument("--audit-log", metavar="PATH", help="the audit log (JSON lines)")
    show.add_argument("--last", type=int, metavar="N", help="only the last N entries")


def describe(entry: dict[str, Any]) -> str:
    """One line for an entry (host text made visible)."""
    fields = [
        str(entry.get("seq", "?")),
        str(entry.get("at", "")),
        str(entry.get("actor", "")),
        str(entry.get("host", "")),
        str(entry.get("action", entry.get("kind", ""))),
        str(entry.get("outcome", "")),
        str(entry.get("summary", "")),
    ]
    return "  ".join(visible(f) for f in fields)


def run(args: argparse.Namespace) -> int:
    log = AuditLog(audit_path(args.audit_log))
    if args.audit_command == "verify":
        if not log.path.exists() and not log.head_path.exists():
            print(f"no audit log at {log.path}")
            return 0
        result = log.verify()
        if result.ok:
            head = f"; head: entry {result.head[0]}" if result.head else ""
            print(f"ok: {result.entries} entries, the chain is intact{head} ({log.path})")
            return 0
        print(f"{log.path}: {len(result.problems)} problem(s):", file=sys.stderr)
        for problem in result.problems:
            print(f"  {visible(problem)}", file=sys.stderr)
        return 1
    entries = log.entries()
    if args.last is not None:
        entries = entries[-args.last :] if args.last > 0 else []
    try:
        for entry in entries:
            print(describe(entry))
    except BrokenPipeError:
        return 0
    return 0
