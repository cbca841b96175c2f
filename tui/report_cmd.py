"""``sickbay report``: the incident report, as Markdown, one self-contained HTML file, or JSON.

    sickbay report                          the open incident (else the newest), Markdown
    sickbay report INC-20261123-0001 --format html --output report.html --language zh

Without ``--output`` the report goes to standard output. With it, the file is written privately
(mode 600, replaced atomically), read back and hashed, and the export is recorded in the case
file as a ``report`` action with its sha256: the checklist's "report" step can then verify it.

Exit status: 0 written; 1 no such incident; 2 the case file or the checklist cannot be used, or
the output cannot be written.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

from backends.audit_log import local_actor
from backends.casefile import CaseFile, CaseFileError, UnknownIncident
from domain.actions import ActionPlan, ActionResult, Outcome, PlannedStep, Risk
from domain.checklist import Checklist, CheckStatus, VerificationState, verify_step
from domain.i18n import Language, tr
from domain.incident import Case
from domain.report import FORMATS, Report, build_report, render
from domain.sanitize import visible
from tui.incident_cmd import (
    EXIT_MISSING,
    EXIT_UNUSABLE,
    add_common_options,
    checklist,
    language,
    now,
    open_case_file,
    resolve,
)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write the incident report (Markdown, HTML or JSON)",
        description=(
            "Write the incident report: summary, timeline, hosts, findings, actions with their "
            "request ids, evidence with its sha256, checklist and what remains open. Exit "
            "status: 0 written, 1 no such incident, 2 case file, checklist or output unusable."
        ),
    )
    parser.add_argument(
        "id", nargs="?", metavar="ID", help="incident id (default: the open one, else the newest)"
    )
    parser.add_argument("--format", choices=FORMATS, default="md", help="output format")
    parser.add_argument(
        "--output", "-o", metavar="PATH", help="write to this file (default: standard output)"
    )
    add_common_options(parser)


def run(args: argparse.Namespace) -> int:
    lang = language(args)
    try:
        steps = checklist()
        with open_case_file(args) as cases:
            incident = resolve(cases, args.id, any_latest=True)
            text = render(_build(cases.case(incident.id), steps, lang), args.format)
            if not args.output:
                sys.stdout.write(text)
                sys.stdout.flush()
                return 0
            path = Path(args.output).expanduser()
            digest = _write(path, text.encode("utf-8"))
            _record(cases, incident.id, path, digest=digest, fmt=args.format, lang=lang)
    except UnknownIncident as exc:
        _error(str(exc))
        return EXIT_MISSING
    except (CaseFileError, OSError) as exc:
        _error(str(exc))
        return EXIT_UNUSABLE
    except BrokenPipeError:  # pragma: no cover - `sickbay report | head`
        return 0
    except ValueError as exc:  # a checklist error, or a report that cannot be rendered
        _error(str(exc))
        return EXIT_UNUSABLE
    print(visible(tr("cli.report.written", lang, path=str(path), sha256=digest)), file=sys.stderr)
    return 0


def _error(message: str) -> None:
    print(f"sickbay report: {visible(message)}", file=sys.stderr)


def _build(case: Case, steps: Checklist, lang: Language) -> Report:
    """The report, with the checks that the case file alone can answer (the cloud and the
    live watch are not consulted here: their checks would only say "cannot check")."""
    state = VerificationState(case=case, now=now())
    checks = {
        step.id: [r for r in verify_step(step, state) if r.status is not CheckStatus.UNKNOWN]
        for step in steps.steps
    }
    return build_report(case, steps, lang=lang, now=state.now, generated_by=local_actor(),
                        checks=checks)  # fmt: skip


def _write(path: Path, data: bytes) -> str:
    """Write privately and atomically, read back, and return the sha256 of what is on disk."""
    expected = hashlib.sha256(data).hexdigest()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != expected:
        raise OSError(f"{path}: read back a different file (sha256 {actual})")
    return actual


def _record(
    cases: CaseFile, incident: str, path: Path, *, digest: str, fmt: str, lang: Language
) -> None:
    target = str(path.absolute())
    plan = ActionPlan(
        action="report",
        host="",
        subject=f"{fmt} report of {incident}",
        params={"format": fmt, "language": lang, "path": target},
        steps=(
            PlannedStep("write the report to a file (mode 600) and hash it", f"write {target}"),
        ),
        risk=Risk.READ_ONLY,
    )
    result = ActionResult(
        outcome=Outcome.DONE,
        summary=f"report written to {target}",
        verification=f"read back: sha256 {digest}",
        details={"sha256": digest, "size": path.stat().st_size, "path": target},
    )
    cases.record_action(incident, plan, result)
