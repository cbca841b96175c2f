"""The `sickbay` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from tui import __version__
from tui.config import MIN_INTERVAL, ConfigError, Settings, load_settings
from tui.scan_cmd import add_scan_parser, cmd_scan


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < MIN_INTERVAL:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_INTERVAL} s")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sickbay",
        description=(
            "A terminal console for responding to a compromised Linux server. "
            "With no command, opens the live console on this machine."
        ),
    )
    parser.add_argument("--version", action="version", version=f"sickbay {__version__}")
    parser.add_argument("--config", metavar="PATH", help="configuration file (TOML)")
    parser.add_argument(
        "--interval", type=_interval, metavar="SECONDS", help="seconds between samples (default 2)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    snapshot = commands.add_parser(
        "snapshot",
        help="print one snapshot of this machine and exit",
        description=(
            "Take a snapshot of this machine (metrics, processes, sockets) and print it. Two "
            "samples are taken --rate-window seconds apart so rates and %%CPU are filled in."
        ),
    )
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
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    if args.interval is not None:
        settings = Settings(
            interval=args.interval,
            theme=settings.theme,
            history_minutes=settings.history_minutes,
            keymap=settings.keymap,
            path=settings.path,
            warnings=settings.warnings,
        )
    return settings


async def _snapshot_json(rate_window: float, indent: int | None) -> str:
    from backends.local import sample_with_rates
    from domain.serialize import snapshot_to_json

    return snapshot_to_json(await sample_with_rates(rate_window), indent=indent)


def cmd_snapshot(args: argparse.Namespace) -> int:
    output = asyncio.run(_snapshot_json(args.rate_window, args.indent))
    try:
        sys.stdout.write(output + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # `sickbay snapshot | head`
        return 0
    return 0


def cmd_console(settings: Settings) -> int:
    from backends.local import local_source
    from tui.app import SickbayApp

    SickbayApp(local_source(), settings).run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "scan":  # headless; exit status by severity (see `sickbay scan --help`)
        return cmd_scan(args)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"sickbay: {exc}", file=sys.stderr)
        return 2
    if args.command == "snapshot":
        return cmd_snapshot(args)
    return cmd_console(settings)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
