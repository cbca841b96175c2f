"""``sickbay scan``: one detection pass, findings printed, exit status by highest severity.

For scripts, cron and SIEM ingestion::

    sickbay scan                          # this machine: processes, sockets and host facts
    sickbay scan --format json            # one JSON finding per line (schema sickbay.finding/1)
    sickbay scan --rules rules.toml       # thresholds, allowlists, extra indicators and rules
    sickbay scan --sysroot /mnt/evidence  # a mounted disk or snapshot: files only

This machine is sampled twice, ``--rate-window`` seconds apart, so %CPU exists; rules that need a
condition to last (CPU for minutes, disk latency, packet rate against a baseline, /dev/shm growth,
hidden load) cannot fire in one pass, and the summary says so. With ``--sysroot`` only files are
examined (persistence, accounts, SUID/SGID files, ld.so.preload, executables in temporary
directories); nothing from the image is ever run. Remote targets come with the SSH source.

Exit status::

    0   no findings, or only info        64  usage error (bad arguments)
    1   highest severity low             65  the rules file is invalid
    2   highest severity medium          66  --sysroot is not a readable directory
    3   highest severity high            69  this machine could not be read
    4   highest severity critical        70  internal error

Use ``run_scan(argv)`` standalone, or ``add_scan_parser(subparsers)`` + ``cmd_scan(args)`` inside
the main ``sickbay`` parser (usage errors of the scan options then also exit 64).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from domain.detect import DetectConfig, Detector, RulesError, load_rules_file
from domain.facts import HostFacts
from domain.findings import Finding, Severity, evidence_summary, finding_to_json
from domain.model import HostSnapshot
from domain.sanitize import visible

EXIT_USAGE = 64
EXIT_RULES = 65
EXIT_NOINPUT = 66
EXIT_UNAVAILABLE = 69
EXIT_SOFTWARE = 70

SUSTAINED_NOTE = (
    "rules that need a condition to last (sustained CPU, CPU peaks, hidden load, disk latency, "
    "packet rate, /dev/shm growth) cannot fire in one pass: watch the host with `sickbay` for that"
)


def _usage_error(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    parser.print_usage(sys.stderr)
    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def _configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    # Usage errors must not exit 2 (argparse's default), which means "medium" here.
    parser.error = lambda message: _usage_error(parser, message)  # type: ignore[method-assign]
    parser.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="hosts to scan over SSH: [user@]host[:port], a [[hosts]] name, or @group",
    )
    parser.add_argument("-p", "--port", type=int, help="SSH port for targets that give none")
    parser.add_argument("-J", "--jump", metavar="[USER@]HOST[:PORT]", help="jump host (bastion)")
    parser.add_argument(
        "--format", choices=["table", "json"], default="table", help="output format"
    )
    parser.add_argument(
        "--rules",
        action="append",
        default=[],
        metavar="FILE",
        help="rules file (TOML): thresholds, allowlists, indicators, your own rules; repeatable",
    )
    parser.add_argument(
        "--sysroot",
        metavar="DIR",
        help="examine a mounted disk or snapshot (files only; nothing in it is run)",
    )
    parser.add_argument(
        "--min-severity",
        choices=[s.label for s in Severity],
        default="info",
        help="print only findings at least this severe (the exit status still counts all)",
    )
    parser.add_argument(
        "--rate-window",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="seconds between the two samples of this machine (default 1)",
    )
    parser.add_argument(
        "--show-errors",
        action="store_true",
        help="list what could not be read (to stderr)",
    )
    parser.set_defaults(handler=cmd_scan)
    return parser


_DESCRIPTION = (
    "Run the detection rules once and print the findings. Exit status: 0 none/info, 1 low, "
    "2 medium, 3 high, 4 critical; 64 usage, 65 bad rules file, 66 bad --sysroot, "
    "69 machine unreadable, 70 internal error."
)


def add_scan_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add ``scan`` to the main parser's subcommands; dispatch with ``cmd_scan(args)``."""
    parser = subparsers.add_parser(
        "scan",
        help="run the detection rules once and print findings",
        description=_DESCRIPTION,
    )
    return _configure(parser)


def build_parser() -> argparse.ArgumentParser:
    return _configure(argparse.ArgumentParser(prog="sickbay scan", description=_DESCRIPTION))


def run_scan(argv: Sequence[str] | None = None) -> int:
    """``sickbay scan`` as a function: parse ``argv`` and run. Returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (64)
        return int(exc.code or 0)
    return cmd_scan(args)


def cmd_scan(args: argparse.Namespace) -> int:
    if args.targets and args.sysroot is not None:
        print("sickbay scan: give targets or --sysroot, not both", file=sys.stderr)
        return EXIT_USAGE
    if args.rate_window < 0 or args.rate_window > 60:
        print("sickbay scan: --rate-window must be between 0 and 60 seconds", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = DetectConfig()
        for path in args.rules:
            config = load_rules_file(path, config)
    except RulesError as exc:
        print(f"sickbay scan: {exc}", file=sys.stderr)
        return EXIT_RULES
    for warning in config.warnings:
        print(f"sickbay scan: warning: {warning}", file=sys.stderr)
    detector = Detector(config)
    if args.sysroot is not None:
        root = str(Path(args.sysroot).absolute())
        if not Path(root).is_dir() or not os.access(root, os.R_OK | os.X_OK):
            print(
                f"sickbay scan: --sysroot {visible(args.sysroot)}: not a readable directory",
                file=sys.stderr,
            )
            return EXIT_NOINPUT
        return _report(args, detector, None, _gather(root, None, detector, f"sysroot:{root}"))
    if args.targets:
        return _scan_targets(args, detector)
    try:
        from backends.local import sample_local  # noqa: PLC0415 - keep --version fast

        snapshot = asyncio.run(sample_local(args.rate_window))
    except Exception as exc:  # the source could not read this machine at all
        print(f"sickbay scan: cannot read this machine: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    return _report(args, detector, snapshot, _gather("/", snapshot, detector, snapshot.host))


def _scan_targets(args: argparse.Namespace, detector: Detector) -> int:
    """Every target over SSH, concurrently. A target that cannot be read is reported and makes
    the exit status 69; the others' findings are printed all the same."""
    from domain.source import SourceError, sample_with_rates  # noqa: PLC0415
    from tui.config import ConfigError, load_settings  # noqa: PLC0415
    from tui.targets import Resolver, TargetError  # noqa: PLC0415

    try:
        hosts = load_settings(getattr(args, "config", None)).hosts
        sources = Resolver(hosts).sources(args.targets, args.port, args.jump)
    except (ConfigError, TargetError) as exc:
        print(f"sickbay scan: {exc}", file=sys.stderr)
        return EXIT_USAGE

    async def one(source: Any) -> tuple[HostSnapshot, HostFacts] | str:
        try:
            snapshot = await sample_with_rates(source, args.rate_window)
            request = detector.facts_request(snapshot)
            facts = await source.facts(request.probe_paths, request.exe_probes)
            return snapshot, facts
        except SourceError as exc:
            return str(exc)
        finally:
            await source.close()

    async def everyone() -> list[tuple[HostSnapshot, HostFacts] | str]:
        return list(await asyncio.gather(*(one(s) for s in sources)))

    status = 0
    for source, result in zip(sources, asyncio.run(everyone()), strict=True):
        if isinstance(result, str):
            print(f"sickbay scan: {visible(source.name)}: {visible(result)}", file=sys.stderr)
            status = EXIT_UNAVAILABLE
        else:
            status = max(status, _report(args, detector, *result))
    return status


def _report(
    args: argparse.Namespace, detector: Detector, snapshot: HostSnapshot | None, facts: HostFacts
) -> int:
    findings = detector.evaluate(snapshot, facts, now=time.time(), host=facts.host)
    minimum = Severity.parse(args.min_severity)
    shown = [f for f in findings if f.severity >= minimum]
    try:
        if args.format == "json":
            _print_json(shown, sys.stdout)
            out = sys.stderr
        else:
            _print_table(shown, sys.stdout)
            out = sys.stdout
        _print_summary(
            findings=findings,
            shown=shown,
            snapshot=snapshot,
            facts=facts,
            detector=detector,
            out=out,
            show_errors=args.show_errors,
        )
        sys.stdout.flush()
    except BrokenPipeError:  # `sickbay scan | head`
        pass
    return exit_status(findings)


def exit_status(findings: Sequence[Finding]) -> int:
    """0 for nothing or info, else the highest severity's value (low 1 ... critical 4)."""
    return int(max((f.severity for f in findings), default=Severity.INFO))


def _gather(root: str, snapshot: HostSnapshot | None, detector: Detector, host: str) -> HostFacts:
    from backends.facts import gather_facts  # noqa: PLC0415
    from backends.facts_decode import decode_facts  # noqa: PLC0415

    request = detector.facts_request(snapshot)
    raw = gather_facts(
        root,
        "/proc" if root == "/" else None,
        probe_paths=request.probe_paths,
        exe_probes=request.exe_probes,
    )
    return decode_facts(raw, host)


# -- output -------------------------------------------------------------------------------------


def _print_json(findings: Sequence[Finding], out: TextIO) -> None:
    for f in findings:
        out.write(finding_to_json(f) + "\n")


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def _print_table(findings: Sequence[Finding], out: TextIO) -> None:
    if not findings:
        return
    width = max(60, shutil.get_terminal_size((120, 24)).columns)
    rule_width = max(len(f.rule_id) for f in findings)
    indent = " " * (10 + rule_width)
    for f in findings:
        head = f"{f.severity.label.upper():<8}  {f.rule_id:<{rule_width}}  "
        out.write(_cut(head + visible(f.title) + ": " + evidence_summary(f), width) + "\n")
        out.write(_cut(indent + visible(f.explanation), width) + "\n")


def _print_summary(
    *,
    findings: Sequence[Finding],
    shown: Sequence[Finding],
    snapshot: HostSnapshot | None,
    facts: HostFacts,
    detector: Detector,
    out: TextIO,
    show_errors: bool,
) -> None:
    counts = {s: sum(1 for f in findings if f.severity == s) for s in Severity}
    by_severity = ", ".join(f"{n} {s.label}" for s, n in sorted(counts.items(), reverse=True) if n)
    what = (
        f"{len(snapshot.processes)} processes, {len(snapshot.sockets)} sockets and host facts"
        if snapshot is not None
        else f"files under {visible(facts.root)}"
    )
    out.write(
        f"sickbay scan: {visible(facts.host)}: {len(findings)} finding(s)"
        + (f" ({by_severity})" if by_severity else "")
        + (f", {len(shown)} shown" if len(shown) != len(findings) else "")
        + f"; examined {what}.\n"
    )
    if snapshot is not None:
        out.write(f"sickbay scan: note: {SUSTAINED_NOTE}.\n")
    errors = list(facts.errors) + (list(snapshot.errors) if snapshot is not None else [])
    if errors:
        out.write(
            f"sickbay scan: {len(errors)} thing(s) could not be read"
            + ("" if show_errors else " (--show-errors lists them)")
            + ".\n"
        )
        if show_errors:
            for e in errors:
                sys.stderr.write(f"  {visible(e.what)}: {visible(e.reason)}\n")
    if not facts.shadow_readable and facts.users:
        out.write(
            "sickbay scan: /etc/shadow was not readable: empty passwords were not checked "
            "(run as root).\n"
        )
    for error in detector.errors:
        sys.stderr.write(f"sickbay scan: a rule failed and was skipped: {error}\n")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(run_scan())
