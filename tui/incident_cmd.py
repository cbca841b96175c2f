"""``sickbay incident``: the incident case file from the command line.

    sickbay incident list                     every incident, newest first
    sickbay incident open TITLE               open a new incident (INC-<UTC day>-<n>)
    sickbay incident close [ID]               close it (default: the open incident)
    sickbay incident note TEXT [--incident]   add a note (default: the open incident)
    sickbay incident step STEP STATUS         set a checklist step (pending, in-progress,
                          [--reason TEXT]     done, skipped)
    sickbay incident show [ID]                summary, clock, hosts, findings, actions,
                                              evidence, checklist and notes

The case file: ``--case-file PATH``, else ``$SICKBAY_CASE_FILE``, else
``~/.local/share/sickbay/cases.sqlite3``. Language: ``--language``, else ``language`` in the
config, else the locale (``LANG``...). Host text is printed through ``domain.sanitize.visible``.

Exit status: 0 done; 1 no such incident (or none open); 2 the case file or the checklist cannot
be used.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys

from backends.casefile import CaseFile, CaseFileError, UnknownIncident, case_path
from domain.checklist import Checklist, ChecklistError, clock_for, load_user_checklist
from domain.i18n import LANGUAGES, Language, pick_language, tr
from domain.incident import Incident, StepStatus
from domain.report import build_report, outcome_word, severity_word, step_status_word, utc
from domain.sanitize import visible

EXIT_MISSING = 1
EXIT_UNUSABLE = 2


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """``--case-file`` and ``--language``; SUPPRESS defaults so a subcommand's copy of the
    option does not undo a value given before it."""
    parser.add_argument(
        "--case-file",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="the incident case file (default: $SICKBAY_CASE_FILE, else "
        "~/.local/share/sickbay/cases.sqlite3)",
    )
    parser.add_argument(
        "--language",
        choices=LANGUAGES,
        default=argparse.SUPPRESS,
        help="language of the output (default: the config's language, else the locale)",
    )


def open_case_file(args: argparse.Namespace) -> CaseFile:
    return CaseFile(case_path(getattr(args, "case_file", None), os.environ))


def language(args: argparse.Namespace) -> Language:
    """``--language``, else the config's ``language``, else the locale. A config file that
    cannot be read does not stop these commands (they do not need it): the locale decides."""
    chosen = getattr(args, "language", None)
    if chosen:
        return pick_language(chosen, os.environ)
    from tui.config import ConfigError, load_settings  # noqa: PLC0415

    try:
        return load_settings(getattr(args, "config", None)).lang
    except (ConfigError, ValueError):
        return pick_language(None, os.environ)


def checklist() -> Checklist:
    import platformdirs  # noqa: PLC0415

    return load_user_checklist(platformdirs.user_config_path("sickbay"))


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def resolve(cases: CaseFile, incident_id: str | None, *, any_latest: bool = False) -> Incident:
    """The incident named, else the open one, else (``any_latest``) the newest of all."""
    if incident_id:
        return cases.get(incident_id)
    current = cases.current()
    if current is not None:
        return current
    if any_latest:
        every = cases.list()
        if every:
            return every[0]
    raise UnknownIncident("no open incident (open one with: sickbay incident open TITLE)")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "incident",
        help="open, list, annotate, show and close incidents (the case file)",
        description=(
            "The incident case file: open an incident, add notes, set checklist steps, show it, "
            "close it. Exit status: 0 done, 1 no such incident, 2 case file or checklist "
            "unusable."
        ),
    )
    add_common_options(parser)
    sub = parser.add_subparsers(dest="incident_command", metavar="SUBCOMMAND", required=True)
    add_common_options(sub.add_parser("list", help="every incident, newest first"))
    opened = sub.add_parser("open", help="open a new incident")
    opened.add_argument("title", nargs="+", help="what happened, in a few words")
    add_common_options(opened)
    closed = sub.add_parser("close", help="close an incident (default: the open one)")
    closed.add_argument("id", nargs="?", help="incident id (INC-YYYYMMDD-NNNN)")
    add_common_options(closed)
    note = sub.add_parser("note", help="add a note to an incident (default: the open one)")
    note.add_argument("text", nargs="+")
    note.add_argument("--incident", metavar="ID", help="incident id (default: the open one)")
    add_common_options(note)
    step = sub.add_parser("step", help="set a checklist step's status")
    step.add_argument("step", help="step id: detect, isolate, preserve, ...")
    step.add_argument("status", choices=[s.value for s in StepStatus])
    step.add_argument("--reason", default="", help="why (for skipped steps especially)")
    step.add_argument("--incident", metavar="ID", help="incident id (default: the open one)")
    add_common_options(step)
    show = sub.add_parser("show", help="everything about an incident (default: the open one)")
    show.add_argument("id", nargs="?", help="incident id (default: the open one)")
    add_common_options(show)


def run(args: argparse.Namespace) -> int:
    lang = language(args)
    try:
        with open_case_file(args) as cases:
            return _dispatch(cases, args, lang)
    except UnknownIncident as exc:
        _error(str(exc))
        return EXIT_MISSING
    except (CaseFileError, ChecklistError) as exc:
        _error(str(exc))
        return EXIT_UNUSABLE
    except BrokenPipeError:  # `sickbay incident show | head`
        return 0


def _error(message: str) -> None:
    print(f"sickbay incident: {visible(message)}", file=sys.stderr)


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def _dispatch(cases: CaseFile, args: argparse.Namespace, lang: Language) -> int:
    command = args.incident_command
    if command == "list":
        return _list(cases, lang)
    if command == "open":
        incident = cases.open_incident(" ".join(args.title))
        _out(visible(tr("cli.incident.opened", lang, id=incident.id, title=incident.title)))
        return 0
    if command == "close":
        incident = resolve(cases, args.id)
        key = "cli.incident.closed" if incident.is_open else "cli.incident.already-closed"
        cases.close(incident.id)
        _out(visible(tr(key, lang, id=incident.id)))
        return 0
    if command == "note":
        incident = resolve(cases, args.incident)
        cases.add_note(incident.id, " ".join(args.text))
        _out(visible(tr("cli.incident.noted", lang, id=incident.id)))
        return 0
    if command == "step":
        steps = checklist()
        if steps.step(args.step) is None:
            _error(
                tr("cli.incident.unknown-step", lang, step=args.step, steps=", ".join(steps.ids))
            )
            return EXIT_UNUSABLE
        incident = resolve(cases, args.incident)
        state = cases.set_step(incident.id, args.step, StepStatus(args.status), reason=args.reason)
        word = step_status_word(state.status, lang)
        _out(
            visible(tr("cli.incident.step-set", lang, id=incident.id, step=args.step, status=word))
        )
        return 0
    if command == "show":
        return _show(cases, resolve(cases, args.id, any_latest=True).id, lang)
    raise AssertionError(command)  # argparse allows nothing else


def _list(cases: CaseFile, lang: Language) -> int:
    incidents = cases.list()
    if not incidents:
        _out(tr("cli.incident.none", lang))
    for incident in incidents:
        status = tr(f"incident-status.{incident.status.value}", lang)
        _out(f"{incident.id}  {status:<6}  {utc(incident.opened_at)}  {visible(incident.title)}")
    return 0


def _show(cases: CaseFile, incident_id: str, lang: Language) -> int:
    case = cases.case(incident_id)
    steps = checklist()
    report = build_report(case, steps, lang=lang, now=now())
    incident = case.incident
    status = tr(f"incident-status.{incident.status.value}", lang)
    _out(f"{incident.id}  {status}  {visible(incident.title)}")
    _out()
    for sentence in report.summary:
        _out(visible(sentence))
    clock = clock_for(case, steps, now())
    deadline = utc(clock.deadline)
    _out(f"{tr('report.section.clock', lang)}: {tr('report.clock.deadline', lang)} {deadline}")
    if report.open_items:
        _out()
        _out(tr("report.section.open", lang) + ":")
        for item in report.open_items:
            _out(f"  - {visible(item)}")
    _section(tr("report.section.hosts", lang), len(case.hosts))
    for host in case.hosts:
        where = " ".join(
            p for p in (host.address, host.provider, host.region, host.instance_id) if p
        )
        _out(f"  {visible(host.name)}  {visible(where)}".rstrip())
    _section(tr("report.section.findings", lang), len(case.findings))
    for f in case.findings:
        _out(
            f"  {severity_word(f.severity, lang):<8} {f.rule_id}  {visible(f.host)}  "
            f"{visible(f.title)}: {visible(f.evidence_summary)}  "
            f"[{utc(f.first_seen)} .. {utc(f.last_seen)}]"
        )
    _section(tr("report.section.actions", lang), len(case.actions))
    for a in case.actions:
        ids = f"  [{', '.join(visible(r) for r in a.request_ids)}]" if a.request_ids else ""
        _out(
            f"  {utc(a.at)}  {a.action}  {visible(a.host)}  {outcome_word(a.outcome, lang)}: "
            f"{visible(a.summary)}{ids}"
        )
    _section(tr("report.section.evidence", lang), len(case.evidence))
    for e in case.evidence:
        _out(f"  {e.sha256}  {visible(e.path)}  ({visible(e.host)})")
    _section(tr("report.section.checklist", lang), len(report.checklist))
    for line in report.checklist:
        mark = "x" if line.status is StepStatus.DONE else "-" if line.status.finished else " "
        reason = f" ({visible(line.reason)})" if line.reason else ""
        _out(f"  [{mark}] {line.step_id:<12} {visible(line.title)}: "
             f"{step_status_word(line.status, lang)}{reason}")  # fmt: skip
    _section(tr("report.section.notes", lang), len(case.notes))
    for n in case.notes:
        _out(f"  {utc(n.at)}  {visible(n.author)}: {visible(n.text)}")
    return 0


def _section(title: str, count: int) -> None:
    _out()
    _out(f"{title} ({count})")
