"""Which cloud instance is this host? By the instance id configured for it, else by address.

A host in the config may name its instance (``instance_id``); otherwise its addresses (the
address sickbay connects to, the addresses the host reports) are compared with each instance's
private and public IPs. Private addresses repeat across VPCs, so an address that matches more
than one instance is ambiguous and reported as such, never guessed; a public address (unique
to one instance at a time) wins over private ones.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from domain.cloud import Instance


class MatchError(Exception):
    """The configured instance is not there, or the addresses fit more than one instance."""


@dataclass(frozen=True, slots=True)
class Match:
    instance: Instance
    how: Literal["instance-id", "public-address", "private-address"]
    address: str = ""  # the address that matched ("" for instance-id)

    def describe(self) -> str:
        if self.how == "instance-id":
            return f"{self.instance.id} (configured instance id)"
        return f"{self.instance.id} (by {self.how.replace('-', ' ')} {self.address})"


def normalise_address(text: str) -> str | None:
    """An IP address in its canonical form (IPv4-mapped IPv6 as IPv4), or None if not one."""
    text = text.strip().strip("[]")
    if "%" in text:  # fe80::1%eth0
        text = text.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _addresses(values: Iterable[str]) -> set[str]:
    return {a for a in (normalise_address(v) for v in values) if a is not None}


def match_instance(
    instances: Sequence[Instance],
    *,
    instance_id: str | None = None,
    addresses: Iterable[str] = (),
) -> Match | None:
    """The instance for a host: ``instance_id`` if configured (MatchError if it is not among
    ``instances``), else the one whose public IPs, then private IPs, include one of
    ``addresses``. None when nothing matches; MatchError when more than one instance does."""
    if instance_id:
        for instance in instances:
            if instance.id == instance_id:
                return Match(instance, "instance-id")
        raise MatchError(f"configured instance {instance_id} is not among the instances listed")
    wanted = _addresses(addresses)
    if not wanted:
        return None
    kinds: tuple[Literal["public-address", "private-address"], ...] = (
        "public-address",
        "private-address",
    )
    for how in kinds:
        found: dict[str, tuple[Instance, str]] = {}
        for instance in instances:
            ips = instance.public_ips if how == "public-address" else instance.private_ips
            hits = sorted(wanted & _addresses(ips))
            if hits:
                found.setdefault(instance.id, (instance, hits[0]))
        if len(found) == 1:
            instance, address = next(iter(found.values()))
            return Match(instance, how, address)
        if len(found) > 1:
            ids = ", ".join(sorted(found))
            raise MatchError(
                f"the host's {how.replace('-', ' ')}es match several instances ({ids}): "
                "configure the instance id for this host"
            )
    return None
