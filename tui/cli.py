"""The `sickbay` command line.

    sickbay [OPTIONS] [TARGET...]        the console: this machine, or SSH targets
    sickbay snapshot [TARGET] [...]      one snapshot as JSON
    sickbay scan [...]                   the detection rules once (see `sickbay scan --help`)

A TARGET is ``[user@]host[:port]``, a ``[[hosts]]`` name from the config, or ``@group`` (every
configured host tagged with the group)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import sys
from collections.abc import Sequence

from domain.model import HostSnapshot
from domain.sanitize import visible
from domain.source import Source, SourceError
from tui import __version__
from tui.config import MIN_INTERVAL, ConfigError, Settings, load_settings
from tui.scan_cmd import add_scan_parser, cmd_scan

# Headless commands that take their own options: name -> module with
# ``add_parser(subparsers)`` and ``run(args) -> int`` (imported only when used).
COMMAND_MODULES: dict[str, str] = {
    "credentials": "tui.credentials_cmd",
    "cloud": "tui.cloud_cmd",
    "act": "tui.act_cmd",
    "audit": "tui.audit_cmd",
    "evidence": "tui.evidence_cmd",
    "incident": "tui.incident_cmd",
    "report": "tui.report_cmd",
}
COMMANDS = ("snapshot", "scan", *COMMAND_MODULES)
_VALUE_OPTIONS = {"--config", "--interval", "-p", "--port", "-J", "--jump"}


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < MIN_INTERVAL:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_INTERVAL} s")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"not a port: {text!r}")
    return int(text)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", help="configuration file (TOML)")
    parser.add_argument(
        "--interval", type=_interval, metavar="SECONDS", help="seconds between samples (default 2)"
    )


def _ssh_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-p", "--port", type=_port, help="SSH port for targets that give none")
    parser.add_argument("-J", "--jump", metavar="[USER@]HOST[:PORT]", help="jump host (bastion)")


def build_parser() -> argparse.ArgumentParser:
    """The console's parser; `sickbay --help` also lists the commands."""
    parser = argparse.ArgumentParser(
        prog="sickbay",
        description=(
            "A terminal console for responding to a compromised Linux server. With no target, "
            "watches this machine; with targets, watches them over SSH (nothing is installed "
            "on them). Commands: snapshot (one snapshot as JSON), scan (detection rules once)."
        ),
        epilog="TARGET: [user@]host[:port], a [[hosts]] name from the config, or @group.",
    )
    parser.add_argument("--version", action="version", version=f"sickbay {__version__}")
    _common(parser)
    _ssh_options(parser)
    parser.add_argument(
        "--read-only", action="store_true", help="no response actions (their keys are removed)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="response actions show their preview only"
    )
    parser.add_argument("targets", nargs="*", metavar="TARGET", help="hosts to watch over SSH")
    return parser


def build_command_parser(only: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The commands' parser; of COMMAND_MODULES, only those in ``only`` are imported."""
    parser = argparse.ArgumentParser(prog="sickbay")
    _common(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    snapshot = commands.add_parser(
        "snapshot",
        help="print one snapshot of a host and exit",
        description=(
            "Take a snapshot of this machine, or of TARGET over SSH (metrics, processes, "
            "sockets) and print it. Two samples are taken --rate-window seconds apart so rates "
            "and %%CPU are filled in."
        ),
    )
    snapshot.add_argument("target", nargs="?", metavar="TARGET", help="a host over SSH")
    _ssh_options(snapshot)
    snapshot.add_argument("--format", choices=["json"], default="json")
    snapshot.add_argument("--indent", type=int, default=None, help="pretty-print JSON")
    snapshot.add_argument(
        "--rate-window",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="seconds between the two samples (0: one sample, rates left empty)",
    )
    add_scan_parser(commands)
    for name, module in COMMAND_MODULES.items():
        if name in only:
            importlib.import_module(module).add_parser(commands)
    return parser


def _first_word(argv: Sequence[str]) -> str | None:
    """The first argument that is neither an option nor an option's value."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _VALUE_OPTIONS:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    if args.interval is not None:
        settings = dataclasses.replace(settings, interval=args.interval)
    return settings


def _sources(
    settings: Settings, targets: Sequence[str], port: int | None, jump: str | None
) -> list[Source]:
    from tui.targets import Resolver

    return Resolver(settings.hosts).sources(targets, port, jump)


async def _snapshot_json(settings: Settings, args: argparse.Namespace) -> str:
    from backends.local import sample_local
    from domain.serialize import snapshot_to_json

    if args.target is None:
        return snapshot_to_json(await sample_local(args.rate_window), indent=args.indent)
    (source,) = _sources(settings, [args.target], args.port, args.jump)
    try:
        snapshot = await _sample_asking(settings, source, args.rate_window)
    finally:
        await source.close()
    return snapshot_to_json(snapshot, indent=args.indent)


async def _sample_asking(settings: Settings, source: Source, rate_window: float) -> HostSnapshot:
    """A snapshot; an encrypted client key's passphrase comes from the system keyring or, on a
    terminal, is asked for (three tries)."""
    import getpass

    from domain.source import PassphraseInput, sample_with_rates
    from tui.passphrases import PassphraseKeeper

    if isinstance(source, PassphraseInput) and hasattr(source, "passphrase_lookup"):
        source.passphrase_lookup = PassphraseKeeper(settings.secrets_backend).lookup
    for _ in range(3):
        try:
            return await sample_with_rates(source, rate_window)
        except SourceError:
            if not isinstance(source, PassphraseInput) or not sys.stdin.isatty():
                raise
            request = source.passphrase_request()
            if request is None:
                raise
            key_path, wrong = request
            prompt = f"{'wrong; ' if wrong else ''}passphrase for {key_path}: "
            source.provide_passphrase(key_path, await asyncio.to_thread(getpass.getpass, prompt))
    return await sample_with_rates(source, rate_window)


def cmd_snapshot(settings: Settings, args: argparse.Namespace) -> int:
    from tui.targets import TargetError

    try:
        output = asyncio.run(_snapshot_json(settings, args))
    except (SourceError, TargetError) as exc:
        print(f"sickbay snapshot: {visible(str(exc))}", file=sys.stderr)  # may quote the host
        return 1
    try:
        sys.stdout.write(output + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # `sickbay snapshot | head`
        return 0
    return 0


def cmd_console(settings: Settings, args: argparse.Namespace) -> int:
    from backends.local import local_source
    from tui.app import SickbayApp
    from tui.targets import TargetError

    try:
        sources = (
            _sources(settings, args.targets, args.port, args.jump)
            if args.targets
            else [local_source()]
        )
    except TargetError as exc:
        print(f"sickbay: {exc}", file=sys.stderr)
        return 2
    settings = dataclasses.replace(settings, read_only=args.read_only, dry_run=args.dry_run)
    from screens.localize import localized

    localized(SickbayApp, settings.lang)(sources, settings).run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if _first_word(argv) in COMMANDS:
        command = _first_word(argv)
        args = build_command_parser(only=[command] if command else []).parse_args(argv)
        if args.command == "scan":  # headless; exit status by severity (see `scan --help`)
            return cmd_scan(args)
        if args.command in COMMAND_MODULES:
            return int(importlib.import_module(COMMAND_MODULES[args.command]).run(args))
    else:
        args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"sickbay: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "command", None) == "snapshot":
        return cmd_snapshot(settings, args)
    return cmd_console(settings, args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
