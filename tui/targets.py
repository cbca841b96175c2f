"""From what the operator typed to sources: ``user@host``, ``host:port``, ``-p``, ``-J``, names
from ``[[hosts]]`` and ``@group`` (hosts tagged with the group). SSH settings the target does
not give come from ~/.ssh/config (HostName, User, Port, IdentityFile, ProxyJump), as with ssh."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from backends.ssh import SshSource, SshTarget
from domain.source import Source
from tui.config import HostEntry


class TargetError(Exception):
    """A target that cannot be resolved (unknown group, malformed address)."""


def _ssh_config() -> tuple[Path, ...]:
    path = Path("~/.ssh/config").expanduser()
    return (path,) if path.is_file() else ()


def split_target(text: str) -> tuple[str | None, str, int | None]:
    """``[user@]host[:port]``, with IPv6 addresses in brackets: ``root@[::1]:2222``."""
    user, _, rest = text.rpartition("@")
    if not rest:
        raise TargetError(f"no host in {text!r}")
    port: int | None = None
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        if tail.startswith(":"):
            port = _port(tail[1:], text)
        elif tail:
            raise TargetError(f"cannot read {text!r}")
    elif rest.count(":") == 1:
        host, _, port_text = rest.partition(":")
        port = _port(port_text, text)
    else:
        host = rest  # a bare IPv6 address or a plain name
    if not host:
        raise TargetError(f"no host in {text!r}")
    return (user or None), host, port


def _port(text: str, target: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise TargetError(f"bad port in {target!r}")
    return int(text)


class Resolver:
    def __init__(self, hosts: Sequence[HostEntry] = ()) -> None:
        self.hosts = {h.name: h for h in hosts}

    def expand(self, targets: Sequence[str]) -> list[str]:
        """Replace each ``@group`` by the names of the hosts tagged with it, in config order."""
        out: list[str] = []
        for target in targets:
            if target.startswith("@"):
                group = target[1:]
                members = [h.name for h in self.hosts.values() if group in h.tags]
                if not members:
                    raise TargetError(f"no [[hosts]] entry is tagged {group!r}")
                out.extend(members)
            else:
                out.append(target)
        return list(dict.fromkeys(out))

    def target(self, text: str, port: int | None = None, jump: str | None = None) -> SshTarget:
        entry = self.hosts.get(text)
        if entry is not None:
            return SshTarget(
                host=entry.address,
                port=entry.port if port is None else port,
                user=entry.user,
                name=entry.name,
                ssh_config=_ssh_config(),
                jump=self.target(entry.jump) if entry.jump else self._jump(jump),
            )
        user, host, own_port = split_target(text)
        return SshTarget(
            host=host,
            port=own_port if own_port is not None else port,
            user=user,
            name=text,
            ssh_config=_ssh_config(),
            jump=self._jump(jump),
        )

    def _jump(self, jump: str | None) -> SshTarget | None:
        if not jump:
            return None
        if "," in jump:
            raise TargetError("one jump host only (-J a), chains go in [[hosts]] jump entries")
        return self.target(jump)

    def sources(
        self, targets: Sequence[str], port: int | None = None, jump: str | None = None
    ) -> list[Source]:
        return [SshSource(self.target(t, port, jump)) for t in self.expand(targets)]
