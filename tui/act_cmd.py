"""``sickbay act TARGET ACTION``: one response action on a host, headless.

    sickbay act local freeze --pid 4242 --dry-run        preview only (recorded as a dry run)
    sickbay act web1 collect --pid 4242 --incident IR-7  evidence into the incident's directory
    sickbay act web1 kill --pid 4242 --yes               after collect (or --skip-evidence)

TARGET is ``local`` (this machine) or an SSH target as for the console (``[user@]host[:port]``,
a ``[[hosts]]`` name; ``-p``/``-J`` apply). The action is planned first and its preview printed;
an action that changes the host runs only with ``--yes`` or, on a terminal, after confirmation
(destructive ones: typing the host's name). Without either, nothing runs (exit 1). Every
outcome, dry runs and refusals included, is written to the audit log (``--audit-log``, else
``$SICKBAY_AUDIT_LOG``, else the data directory). Evidence goes to ``--evidence-dir``, else
``<data dir>/incidents/<incident>/evidence``. Host text is shown through
``domain.sanitize.visible``.

Exit status: 0 done (or previewed), 1 not done (failed, refused, not confirmed), 2 usage error,
3 done but not verified.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from backends.audit_log import AuditLog
from backends.evidence_store import incident_evidence_dir
from backends.hostactions.base import ActionContext
from backends.hostactions.registry import get
from backends.hostactions.runner import run_action
from backends.hostexec_local import LocalExec
from backends.hostexec_ssh import SshExec
from backends.ssh import SshSource
from domain.actions import ActionPlan, Outcome, Risk, render_plan, render_result
from domain.sanitize import visible
from tui.audit_cmd import audit_path
from tui.config import ConfigError, load_settings
from tui.passphrases import PassphraseKeeper
from tui.targets import Resolver, TargetError

EXIT_UNVERIFIED = 3


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "act",
        help="run one response action on a host (preview, confirm, audit)",
        description=(
            "Plan ACTION on TARGET (`local` or an SSH target), print the plan, then run it with "
            "--yes or after confirmation on a terminal; --dry-run only previews. Everything is "
            "recorded in the audit log."
        ),
    )
    parser.add_argument("target", metavar="TARGET", help="`local`, or [user@]host[:port] / name")
    parser.add_argument("action", metavar="ACTION", help="freeze, resume, kill, collect, ...")
    parser.add_argument("--pid", help="the process to act on")
    parser.add_argument("--path", help="the file to act on")
    parser.add_argument("--user", help="the account to act on")
    parser.add_argument("--address", help="the remote address to act on")
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="any other parameter"
    )
    parser.add_argument("--dry-run", action="store_true", help="only preview (recorded)")
    parser.add_argument("--yes", action="store_true", help="do it without asking")
    parser.add_argument(
        "--skip-evidence",
        action="store_true",
        help="kill without collected evidence (recorded as such)",
    )
    parser.add_argument("--incident", metavar="ID", help="the incident this belongs to")
    parser.add_argument("--audit-log", metavar="PATH", help="the audit log (JSON lines)")
    parser.add_argument("--evidence-dir", metavar="DIR", help="where collected files go")
    parser.add_argument("-p", "--port", type=int, help="SSH port if TARGET gives none")
    parser.add_argument("-J", "--jump", metavar="[USER@]HOST[:PORT]", help="jump host")


def params_of(args: argparse.Namespace) -> dict[str, str]:
    params: dict[str, str] = {}
    for name in ("pid", "path", "user", "address"):
        value = getattr(args, name)
        if value is not None:
            params[name] = value
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--param wants KEY=VALUE, not {item!r}")
        params[key] = value
    if args.skip_evidence:
        params["skip_evidence"] = "yes"
    return params


preview = render_plan  # the same text as every other preview
report = render_result


def _confirm_on_terminal(plan: ActionPlan) -> bool:
    if plan.needs_typed_confirmation:
        answer = input(f"type the host's name ({visible(plan.host)}) to go ahead: ")
        return answer.strip() == plan.host
    return input("go ahead? [y/N] ").strip().lower() in ("y", "yes")


async def _act(args: argparse.Namespace, params: dict[str, str]) -> int:

    try:
        action = get(args.action)
    except KeyError as exc:
        print(f"sickbay act: {visible(str(exc.args[0]))}", file=sys.stderr)
        return 2
    try:
        evidence = (
            Path(args.evidence_dir).expanduser()
            if args.evidence_dir
            else incident_evidence_dir(args.incident)
        )
    except ValueError as exc:
        print(f"sickbay act: {exc}", file=sys.stderr)
        return 2
    host, close = _host(args)
    if host is None:
        return 2

    async def confirm(plan: ActionPlan) -> bool:
        print(preview(plan))
        if args.yes or plan.risk is Risk.READ_ONLY:
            return True
        if not sys.stdin.isatty():
            print("not confirmed: nothing was done (pass --yes to run it)", file=sys.stderr)
            return False
        return await asyncio.to_thread(_confirm_on_terminal, plan)

    ctx = ActionContext(
        exec=host,
        evidence_dir=evidence,
        incident=args.incident,
        progress=lambda line: print(f"  … {visible(line)}", file=sys.stderr),
    )
    try:
        plan, result = await run_action(
            action,
            ctx,
            params,
            confirm=confirm,
            dry_run=args.dry_run,
            audit=AuditLog(audit_path(args.audit_log)),
        )
    except Exception as exc:  # the audit log itself, or a bug: said, never a traceback
        print(f"sickbay act: {visible(str(exc)) or type(exc).__name__}", file=sys.stderr)
        return 1
    finally:
        await close()
    if result.outcome is Outcome.DRY_RUN:
        print(preview(plan))
    print(report(result))
    if result.outcome is Outcome.UNVERIFIED:
        return EXIT_UNVERIFIED
    return 0 if result.ok else 1


def _host(args: argparse.Namespace) -> tuple[Any, Any]:
    """The HostExec for TARGET and an async closer (None, _: an error was printed)."""

    async def nothing() -> None:
        return None

    if args.target == "local":
        return LocalExec(), nothing

    try:
        settings = load_settings(getattr(args, "config", None))
        target = Resolver(settings.hosts).target(args.target, args.port, args.jump)
    except (ConfigError, TargetError) as exc:
        print(f"sickbay act: {exc}", file=sys.stderr)
        return None, nothing
    source = SshSource(target)
    source.passphrase_lookup = PassphraseKeeper(settings.secrets_backend).lookup
    return SshExec(source), source.close


def run(args: argparse.Namespace) -> int:
    try:
        params = params_of(args)
    except ValueError as exc:
        print(f"sickbay act: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_act(args, params))
