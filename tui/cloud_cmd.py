"""``sickbay cloud``: the cloud instances behind the hosts, and response actions on them, headless.

    sickbay cloud list [--provider aliyun|tencent] [--region R] [--profile P] [--endpoint URL]
                       [--format json|table]
    sickbay cloud act INSTANCE ACTION [--provider P] [--region R] [--address A]
                      [--operator-address A] [--groups G,G] [--group G] [--script TEXT]
                      [--timeout S] [--yes] [--dry-run] [--endpoint URL] [--audit-log PATH]

ACTION is one of ``backends.cloud.actions.CLOUD_ACTIONS`` (snapshot, isolate, unisolate, block,
unblock, stop, force-stop, start, reboot, run-command). The action is planned first (reads only)
and its preview printed: the exact API calls. ``--dry-run`` stops there. Otherwise an action
that changes anything runs with ``--yes`` or, on a terminal, after confirmation (destructive and
irreversible ones: typing the instance id); when stdin is not a terminal and there is no
``--yes``, nothing runs (exit 1). Every outcome (dry runs and refusals included) is appended to
the audit log: ``--audit-log``, else ``$SICKBAY_AUDIT_LOG``, else ``audit.jsonl`` in the data
directory.

The access key comes from ``backends.cloud.credentials`` (secret store, environment, the CLIs'
profile files; the source is shown, never the secret). The provider is ``--provider``, else
guessed from the instance id (``ins-``: Tencent, ``i-``: Alibaba); the region is ``--region``,
else the one stored with the key, else ``TENCENTCLOUD_REGION`` / ``ALIBABA_CLOUD_REGION_ID``.
Names, tags and command output are shown through ``domain.sanitize.visible``.

Exit status: 0 done (or listed, or previewed), 1 not done (failed, refused, not confirmed, a
cloud error), 2 usage error (no key, no region, bad parameters), 3 done but not verified.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, cast

from backends.audit_log import AuditLog
from backends.cloud import actions
from backends.cloud.credentials import CloudCredential, Lookup, lookup
from domain.actions import (
    ActionError,
    ActionPlan,
    ActionResult,
    Outcome,
    Risk,
    render_plan,
    render_result,
)
from domain.cloud import PROVIDERS, CloudError, CloudProvider, Instance, ProviderName
from domain.sanitize import visible
from tui.audit_cmd import audit_path

EXIT_USAGE, EXIT_UNVERIFIED = 2, 3
REGION_ENV: dict[ProviderName, tuple[str, ...]] = {
    "tencent": ("TENCENTCLOUD_REGION",),
    "aliyun": ("ALIBABA_CLOUD_REGION_ID", "ALIYUN_REGION_ID"),
}


class UsageError(Exception):
    """Something the operator must fix (no key, no region); the message says what."""


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider", choices=PROVIDERS, help="aliyun or tencent")
    parser.add_argument("--region", help="the region (ap-guangzhou, cn-hangzhou, ...)")
    parser.add_argument("--profile", help="the credentials profile (default: default)")
    parser.add_argument(
        "--endpoint",
        metavar="URL",
        help="API endpoint override (https://host[:port]; plain http only to loopback)",
    )
    parser.add_argument(
        "--secrets-backend",
        choices=("auto", "system", "cryptfile"),
        help="where stored keys are (default: the config's secrets_backend)",
    )


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "cloud",
        help="list cloud instances, act on one (isolate, snapshot, stop...)",
        description=(
            "The cloud instances (Alibaba Cloud ECS, Tencent Cloud CVM) behind the hosts. `list` "
            "shows them; `act` plans a response action, prints the exact API calls, and runs it "
            "after confirmation (--yes, or on a terminal), then verifies and records it in the "
            "audit log."
        ),
    )
    commands = parser.add_subparsers(dest="cloud_command", metavar="SUBCOMMAND", required=True)
    listing = commands.add_parser("list", help="list the instances of a region")
    _common(listing)
    listing.add_argument("--format", choices=("json", "table"), default="table")

    snap = commands.add_parser(
        "snapshot",
        help="one snapshot of an instance through its cloud agent (when SSH is cut)",
        description=(
            "Run sickbay's collector through Cloud Assistant / TAT (in memory, with the host's "
            "python3 -I -S) and print the snapshot as JSON. Asks first; --yes for scripts."
        ),
    )
    snap.add_argument("instance", metavar="INSTANCE", help="the instance id")
    _common(snap)
    snap.add_argument("--yes", action="store_true", help="do not ask")
    snap.add_argument("--timeout", type=int, help="seconds the agent may take (default 120)")
    snap.add_argument("--indent", type=int, default=None, help="pretty-print JSON")
    snap.add_argument("--audit-log", metavar="PATH", help="the audit log (default: data dir)")
    snap.add_argument(
        "--output-limit",
        type=int,
        default=None,
        metavar="CHARS",
        help="characters of output per run (default 20000: the agents keep 24 KB); a bigger "
        "sample is read in several runs",
    )

    act = commands.add_parser(
        "act",
        help="plan, confirm, run, verify and record an action on an instance",
        description="Actions: " + ", ".join(actions.CLOUD_ACTIONS),
    )
    act.add_argument("instance", metavar="INSTANCE", help="the instance id")
    act.add_argument(
        "action", metavar="ACTION", choices=tuple(actions.CLOUD_ACTIONS), help="see above"
    )
    _common(act)
    act.add_argument("--address", help="block/unblock: the address or CIDR")
    act.add_argument(
        "--operator-address", help="isolate: the address SSH stays open from (yours, as seen)"
    )
    act.add_argument("--group", help="isolate/block: the security group to use")
    act.add_argument("--groups", help="unisolate: the groups to restore (comma-separated)")
    act.add_argument("--script", help="run-command: the shell script")
    act.add_argument("--timeout", help="run-command: seconds (default 60)")
    act.add_argument("--yes", action="store_true", help="do it without asking")
    act.add_argument("--dry-run", action="store_true", help="only preview (recorded)")
    act.add_argument("--audit-log", metavar="PATH", help="the audit log (JSON lines)")


# --- provider and credentials -----------------------------------------------------------------


def guess_provider(instance_id: str) -> ProviderName | None:
    if instance_id.startswith("ins-"):
        return "tencent"
    if instance_id.startswith("i-"):
        return "aliyun"
    return None


def _secrets_backend(args: argparse.Namespace) -> str:
    if getattr(args, "secrets_backend", None):
        return str(args.secrets_backend)
    from tui.config import ConfigError, load_settings  # noqa: PLC0415

    try:
        return load_settings(getattr(args, "config", None)).secrets_backend
    except ConfigError:
        return "auto"


def find_credential(provider: ProviderName, args: argparse.Namespace) -> CloudCredential:
    from tui.credentials_cmd import open_store  # noqa: PLC0415

    store = open_store(cast(Any, _secrets_backend(args)))
    result: Lookup = lookup(provider, args.profile, store=store)
    for warning in result.warnings:
        print(f"sickbay cloud: ! {visible(warning)}", file=sys.stderr)
    if result.credential is None:
        raise UsageError(
            f"no {provider} access key found (tried: {'; '.join(result.tried)}); "
            f"store one with `sickbay credentials set {provider}`"
        )
    print(f"credentials: {visible(result.credential.describe())}", file=sys.stderr)
    return result.credential


def _region(provider: ProviderName, args: argparse.Namespace, credential: CloudCredential) -> str:
    if args.region:
        return str(args.region)
    if credential.region:
        return credential.region
    for var in REGION_ENV[provider]:
        if os.environ.get(var, "").strip():
            return os.environ[var].strip()
    raise UsageError(f"which region? give --region (or set {REGION_ENV[provider][0]})")


def make_provider(provider: ProviderName, args: argparse.Namespace) -> CloudProvider:
    credential = find_credential(provider, args)
    region = _region(provider, args, credential)
    try:
        if provider == "tencent":
            from backends.cloud.tencent import TencentProvider  # noqa: PLC0415

            return TencentProvider(credential, region, endpoint=args.endpoint)
        from backends.cloud.aliyun import AliyunProvider  # noqa: PLC0415

        return AliyunProvider(
            region, credential.key_id, credential.secret, credential.token, endpoint=args.endpoint
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


# --- list -------------------------------------------------------------------------------------


def _instance_json(instance: Instance) -> dict[str, Any]:
    data = dataclasses.asdict(instance)
    data["tags"] = dict(instance.tags)
    return data


def _table(instances: Sequence[Instance]) -> str:
    header = ("PROVIDER", "REGION", "ID", "NAME", "STATE", "PRIVATE", "PUBLIC", "GROUPS", "ZONE")
    rows = [header] + [
        (
            i.provider,
            i.region,
            visible(i.id),
            visible(i.name),
            i.state,
            ",".join(i.private_ips),
            ",".join(i.public_ips),
            visible(",".join(i.security_group_ids)),
            visible(i.zone),
        )
        for i in instances
    ]
    widths = [max(len(row[n]) for row in rows) for n in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def cmd_list(args: argparse.Namespace) -> int:
    providers: tuple[ProviderName, ...] = (args.provider,) if args.provider else PROVIDERS
    found: list[Instance] = []
    errors = 0
    for name in providers:
        try:
            provider = make_provider(name, args)
            found.extend(provider.list_instances())
        except UsageError as exc:
            if args.provider:  # asked for this one: a usage error
                raise
            print(f"sickbay cloud: {name}: skipped: {visible(str(exc))}", file=sys.stderr)
        except CloudError as exc:
            errors += 1
            print(f"sickbay cloud: {name}: {visible(str(exc))}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps([_instance_json(i) for i in found], indent=2))
    else:
        print(_table(found))
    return 1 if errors else 0


# --- act --------------------------------------------------------------------------------------


def params_of(args: argparse.Namespace) -> dict[str, str]:
    params: dict[str, str] = {}
    for option, key in (
        ("address", "cidr"),
        ("operator_address", "operator"),
        ("group", "group"),
        ("groups", "groups"),
        ("script", "script"),
        ("timeout", "timeout"),
    ):
        value = getattr(args, option)
        if value is not None:
            params[key] = value
    return params


preview = render_plan  # the same text as every other preview
report = render_result


def _confirmed(plan: ActionPlan, instance_id: str) -> bool:
    if plan.needs_typed_confirmation:
        answer = input(f"type the instance id ({visible(instance_id)}) to go ahead: ")
        return answer.strip() == instance_id
    return input("go ahead? [y/N] ").strip().lower() in ("y", "yes")


def _record(log: AuditLog, plan: ActionPlan, result: ActionResult) -> None:
    entry = log.record_action(plan, result)
    print(f"audit: entry {entry['seq']} in {log.path}", file=sys.stderr)


def cmd_act(args: argparse.Namespace) -> int:
    name = args.provider or guess_provider(args.instance)
    if name is None:
        raise UsageError(f"which provider is {args.instance!r}? give --provider")
    provider = make_provider(cast(ProviderName, name), args)
    log = AuditLog(audit_path(args.audit_log))
    try:
        plan = actions.plan(provider, args.action, args.instance, params_of(args))
    except ActionError as exc:
        print(f"sickbay cloud: {visible(str(exc))}", file=sys.stderr)
        return 1
    print(preview(plan))
    if args.dry_run:
        result = ActionResult(Outcome.DRY_RUN, "previewed only (dry run): nothing was changed")
        _record(log, plan, result)
        print(report(result))
        return 0
    if not args.yes and plan.risk is not Risk.READ_ONLY:
        if not sys.stdin.isatty():
            why = "not confirmed: stdin is not a terminal and --yes was not given"
        elif not _confirmed(plan, args.instance):
            why = "not confirmed by the operator"
        else:
            why = ""
        if why:
            result = ActionResult(Outcome.CANCELLED, why + ": nothing was done")
            _record(log, plan, result)
            print(report(result))
            return 1

    def progress(line: str) -> None:
        print(f"  … {visible(line)}", file=sys.stderr)

    interrupted = False
    before = len(provider.calls())
    try:
        result = actions.execute(provider, plan, progress)
    except ActionError as exc:
        result = ActionResult(Outcome.FAILED, f"not run: {exc}", state="nothing was changed")
    except KeyboardInterrupt:  # half done, maybe: recorded as such, never silently
        interrupted = True
        result = ActionResult(
            Outcome.UNVERIFIED,
            "interrupted by the operator while running",
            state="unknown: some calls may have been made; read the instance back",
            request_ids=tuple(
                r.request_id for r in provider.calls()[before:] if r.ok and r.request_id
            ),
        )
    _record(log, plan, result)
    if interrupted:
        print(report(result))
        return 130
    print(report(result))
    if result.outcome is Outcome.UNVERIFIED:
        return EXIT_UNVERIFIED
    return 0 if result.ok else 1


def cmd_snapshot(args: argparse.Namespace) -> int:
    """The collector through the cloud agent (when SSH is cut): one snapshot as JSON. A sample
    bigger than the agent's output cap is read in pages, one run each, each run audited."""
    from backends.cloud.agent_source import PageFailed, page_runner  # noqa: PLC0415
    from backends.cloud.collect import (  # noqa: PLC0415
        MAX_PAGES,
        MIN_BUDGET,
        OUTPUT_BUDGET,
        AgentCollectError,
        collect_pages,
        collector_command,
        command_digest,
    )
    from backends.decode import Decoder  # noqa: PLC0415
    from domain.serialize import snapshot_to_json  # noqa: PLC0415

    name = args.provider or guess_provider(args.instance)
    if name is None:
        raise UsageError(f"which provider is {args.instance!r}? give --provider")
    budget = OUTPUT_BUDGET if args.output_limit is None else args.output_limit
    if budget < MIN_BUDGET:
        raise UsageError(f"--output-limit: at least {MIN_BUDGET} characters")
    provider = make_provider(cast(ProviderName, name), args)
    log = AuditLog(audit_path(args.audit_log))
    timeout = str(args.timeout or 120)
    command = collector_command(None, budget)
    try:
        plan = actions.plan(
            provider, "run-command", args.instance, {"script": command, "timeout": timeout}
        )
    except ActionError as exc:
        print(f"sickbay cloud: {visible(str(exc))}", file=sys.stderr)
        return 1
    print(
        f"run sickbay's collector on {visible(args.instance)} as root through the cloud agent "
        f"(reads /proc, writes nothing; command sha256 {command_digest(command)}); a sample "
        f"bigger than {budget} characters is read in pages, one run each (at most {MAX_PAGES})",
        file=sys.stderr,
    )
    if not args.yes and not (sys.stdin.isatty() and _confirmed_plain()):
        result = ActionResult(Outcome.CANCELLED, "not confirmed: nothing was done")
        _record(log, plan, result)
        print("not confirmed (pass --yes): nothing was done", file=sys.stderr)
        return 1
    run_page = page_runner(
        provider,
        args.instance,
        lambda plan, result: _record(log, plan, result),
        timeout_s=int(timeout),
        say=lambda line: print(line, file=sys.stderr),
    )
    try:
        pages = collect_pages(run_page, budget)
    except PageFailed as exc:
        print(report(exc.result), file=sys.stderr)
        return 1
    except AgentCollectError as exc:
        print(f"sickbay cloud: {visible(str(exc))}", file=sys.stderr)
        return 1
    if not pages.complete:
        print(
            f"sickbay cloud: the sample needed more than {MAX_PAGES} pages; "
            "the rest is missing (listed in the snapshot's errors)",
            file=sys.stderr,
        )
    snapshot = Decoder().decode(pages.sample(), args.instance, "cloud-agent")
    sys.stdout.write(snapshot_to_json(snapshot, indent=args.indent) + "\n")
    return 0


def _confirmed_plain() -> bool:
    return input("go ahead? [y/N] ").strip().lower() in ("y", "yes")


def run(args: argparse.Namespace) -> int:
    try:
        if args.cloud_command == "list":
            return cmd_list(args)
        if args.cloud_command == "snapshot":
            return cmd_snapshot(args)
        return cmd_act(args)
    except UsageError as exc:
        print(f"sickbay cloud: {visible(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except CloudError as exc:
        print(f"sickbay cloud: {visible(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        return 130
    except EOFError:
        print("sickbay cloud: no answer: nothing was done", file=sys.stderr)
        return 1
