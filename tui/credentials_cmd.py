"""``sickbay credentials``: keep cloud access keys in the secret store, see where keys come from.

    sickbay credentials set aliyun|tencent [--profile NAME] [--backend auto|system|cryptfile]
    sickbay credentials show [aliyun|tencent] [--profile NAME] [--backend ...]
    sickbay credentials delete aliyun|tencent [--profile NAME] [--backend ...]

The key id and secret are read from the terminal without echo (``getpass``), never from the
command line (which other users see in ``ps``, and shells keep in their history). On a machine
with no system keyring (a headless bastion) this says so and uses the encrypted file, opened
with a master password typed on the terminal (twice when the file is created). ``show`` lists
every source that has a key, in the order they are tried, with the key id masked; no secret is
ever printed.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import cast

from backends.cloud.credentials import KIND, encode_secret, keyring_name, lookup
from backends.secrets import (
    BackendName,
    SecretStore,
    SecretStoreError,
    no_system_keyring_message,
)
from domain.cloud import PROVIDERS, ProviderName
from domain.sanitize import visible

BACKENDS = ("auto", "system", "cryptfile")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "credentials",
        help="store, show or delete cloud access keys (keyring or encrypted file)",
        description=(
            "Cloud access keys for the cloud commands. Keys are looked up in this order: the "
            "secret store (system keyring, or the encrypted file on a headless machine), the "
            "provider's environment variables, then the provider CLI's profile files. Secrets "
            "are read from the terminal, never from the command line, and never printed."
        ),
    )
    actions = parser.add_subparsers(dest="credentials_action", metavar="ACTION", required=True)
    for name, text in (
        ("set", "store a key (asks for it on the terminal)"),
        ("show", "list the sources that have a key (masked)"),
        ("delete", "remove a stored key"),
    ):
        sub = actions.add_parser(name, help=text, description=text)
        if name == "show":
            sub.add_argument("provider", nargs="?", choices=PROVIDERS, help="default: both")
        else:
            sub.add_argument("provider", choices=PROVIDERS)
        sub.add_argument("--profile", default=None, help="profile name (default: default)")
        sub.add_argument(
            "--backend",
            choices=BACKENDS,
            default=None,
            help="secret store: the system keyring, the encrypted file, or auto "
            "(default: the config's secrets_backend, else auto)",
        )
        if name == "set":
            sub.add_argument("--region", default="", help="default region to keep with the key")


def _backend(args: argparse.Namespace) -> BackendName:
    if args.backend:
        return cast(BackendName, args.backend)
    from tui.config import ConfigError, load_settings  # noqa: PLC0415

    try:
        return cast(BackendName, load_settings(getattr(args, "config", None)).secrets_backend)
    except ConfigError:
        return "auto"


def open_store(backend: BackendName, *, creating: bool = False) -> SecretStore:
    """The secret store; its master password (encrypted file only) is asked on the terminal
    when first needed: twice, when ``creating`` a file that does not exist yet."""
    holder: list[SecretStore] = []

    def master_password() -> str:
        store = holder[0]
        if not _terminal():
            raise SecretStoreError(
                "the encrypted secrets file needs a terminal to ask for its master password"
            )
        if creating and not store.cryptfile_path.exists():
            print(f"creating the encrypted secrets file {store.cryptfile_path}", file=sys.stderr)
            for _ in range(3):
                first = getpass.getpass("new master password: ")
                if not first:
                    print("the master password cannot be empty", file=sys.stderr)
                    continue
                if getpass.getpass("the same master password again: ") == first:
                    return first
                print("the two passwords differ; again", file=sys.stderr)
            raise SecretStoreError("no master password set")
        return getpass.getpass(f"master password for {store.cryptfile_path}: ")

    store = SecretStore(backend, master_password=master_password)
    holder.append(store)
    return store


def _terminal() -> bool:
    return sys.stdin.isatty()


def _announce(store: SecretStore, backend: BackendName) -> None:
    if store.uses_file and backend == "auto":
        print(no_system_keyring_message(), file=sys.stderr)
    else:
        print(f"secret store: {store.describe()}", file=sys.stderr)


def _ask(prompt: str) -> str:
    return getpass.getpass(prompt).strip()


def cmd_set(args: argparse.Namespace) -> int:
    provider = cast(ProviderName, args.provider)
    backend = _backend(args)
    store = open_store(backend, creating=True)
    try:
        _announce(store, backend)
    except SecretStoreError as exc:
        print(f"sickbay credentials: {exc}", file=sys.stderr)
        return 1
    name = keyring_name(provider, args.profile)
    try:
        existing = store.get(KIND, name)  # unlocks (or creates) the encrypted file first
    except SecretStoreError as exc:
        print(f"sickbay credentials: {exc}", file=sys.stderr)
        return 1
    if existing is not None:
        print(f"replacing the key stored as {name}", file=sys.stderr)
    label = "AccessKey ID" if provider == "aliyun" else "SecretId"
    secret_label = "AccessKey secret" if provider == "aliyun" else "SecretKey"
    key_id = _ask(f"{provider} {label} (not echoed): ")
    if not key_id or any(c.isspace() for c in key_id):
        print(f"sickbay credentials: not a {label}", file=sys.stderr)
        return 2
    secret = _ask(f"{provider} {secret_label} (not echoed): ")
    if not secret:
        print(f"sickbay credentials: the {secret_label} is empty; nothing stored", file=sys.stderr)
        return 2
    token = _ask("session (STS) token, if this is a temporary key (Enter for none): ")
    try:
        store.set(KIND, name, encode_secret(key_id, secret, token, args.region.strip()))
        where = store.describe()
    except SecretStoreError as exc:
        print(f"sickbay credentials: {exc}", file=sys.stderr)
        return 1
    print(f"stored {name} in {where}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    providers: tuple[ProviderName, ...] = (args.provider,) if args.provider else PROVIDERS
    store = open_store(_backend(args))
    any_found = False
    for provider in providers:
        result = lookup(provider, args.profile, store=store)
        print(f"{provider} (profile {args.profile or 'default'}):")
        if not result.found:
            print("  no key found; tried: " + "; ".join(result.tried))
        for number, credential in enumerate(result.found, 1):
            used = "  <- used" if number == 1 else ""
            print(f"  {number}. {visible(credential.describe())}{used}")
        for warning in result.warnings:
            print(f"  ! {visible(warning)}")
        any_found = any_found or bool(result.found)
    return 0 if any_found else 1


def cmd_delete(args: argparse.Namespace) -> int:
    provider = cast(ProviderName, args.provider)
    store = open_store(_backend(args))
    name = keyring_name(provider, args.profile)
    try:
        if store.uses_file and not store.cryptfile_path.exists():
            print(f"nothing stored: {store.cryptfile_path} does not exist")
            return 1
        deleted = store.delete(KIND, name)
        where = store.describe()
    except SecretStoreError as exc:
        print(f"sickbay credentials: {exc}", file=sys.stderr)
        return 1
    print(f"deleted {name} from {where}" if deleted else f"{name} was not in {where}")
    return 0 if deleted else 1


def run(args: argparse.Namespace) -> int:
    commands = {"set": cmd_set, "show": cmd_show, "delete": cmd_delete}
    try:
        return commands[args.credentials_action](args)
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        return 130
    except EOFError:
        print("sickbay credentials: no input", file=sys.stderr)
        return 2
