"""Network rules: pool connections, unexpected and backdoor listeners, exposed services, fan-out.

Connections are told from listeners by state (LISTEN; UDP with no peer), and outbound from
inbound by the local port: a connection whose local port is one of the host's listening ports
was accepted, not made.
"""

from __future__ import annotations

from collections.abc import Iterator

from domain.findings import Evidence, Finding, Severity
from domain.model import Socket

from . import catalog as cat
from . import indicators as ioc
from .config import address_in
from .context import Check, Context, is_any_address, is_loopback

C, H, M, L = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW
_CONNECTING = frozenset({"ESTABLISHED", "SYN_SENT"})


def socket_text(s: Socket) -> str:
    return f"{s.proto} {s.local_addr}:{s.local_port} -> {s.remote_addr}:{s.remote_port} {s.state}"


def _evidence(ctx: Context, s: Socket, port: int | None = None) -> Evidence:
    p = ctx.by_pid.get(s.pid) if s.pid is not None else None
    if p is not None:
        return ctx.process_evidence(
            p,
            port=port,
            remote_addr=None if s.listening else s.remote_addr,
            remote_port=None if s.listening else s.remote_port,
            text=socket_text(s),
        )
    return Evidence(
        pid=s.pid,
        process=s.process or None,
        port=port,
        remote_addr=None if s.listening else s.remote_addr,
        remote_port=None if s.listening else s.remote_port,
        text=socket_text(s),
    )


def _owner(ctx: Context, s: Socket) -> str:
    p = ctx.by_pid.get(s.pid) if s.pid is not None else None
    return p.key if p is not None else f"{s.pid}:{s.process}"


def listener_identity(s: Socket) -> str:
    """What makes a listener the same across samples (not the pid: services restart)."""
    return f"{s.proto}|{s.local_addr}|{s.local_port}|{s.process}"


def pool_connections(ctx: Context) -> Iterator[Finding]:
    """NET-POOL-PORT: an outbound TCP connection to a mining-pool port (3333, 5555, 7777,
    14444...; ``Indicators.pool_ports``). High; medium when the remote end is loopback (a local
    miner proxy, or a test). Inbound connections (local port is a listening port) are skipped.
    NET-POOL-ADDRESS (critical): any connection to an address in ``Indicators.pool_addresses``
    (from the rules file; pool domains are never resolved here)."""
    port_rule = cat.BY_ID["NET-POOL-PORT"]
    addr_rule = cat.BY_ID["NET-POOL-ADDRESS"]
    pool_ports = ctx.indicators.pool_ports
    pool_addresses = ctx.indicators.pool_addresses
    for s in ctx.sockets:
        if not s.proto.startswith("tcp") or s.state not in _CONNECTING or not ctx.outbound(s):
            continue
        if pool_addresses and address_in(s.remote_addr, pool_addresses):
            yield ctx.finding(
                addr_rule,
                "The process is connected to an address listed as a mining pool or command server.",
                _evidence(ctx, s, s.remote_port),
                identity=f"{_owner(ctx, s)}|{s.remote_addr}|{s.remote_port}",
            )
        if s.remote_port in pool_ports:
            loop = is_loopback(s.remote_addr)
            yield ctx.finding(
                port_rule,
                "The process is connected to a port mining pools use"
                + (" on this machine (a local pool proxy?)." if loop else "."),
                _evidence(ctx, s, s.remote_port),
                severity=M if loop else H,
                identity=f"{_owner(ctx, s)}|{s.remote_addr}|{s.remote_port}",
            )


def _scope(address: str) -> str:
    if is_loopback(address):
        return "loopback"
    if is_any_address(address):
        return "all interfaces"
    return "an interface"


def listeners(ctx: Context) -> Iterator[Finding]:
    """NET-LISTENER-BACKDOOR-PORT: a listener on a port backdoors like (31337, 4444, 12345...;
    ``Indicators.backdoor_ports``), TCP or UDP: high, medium on loopback.
    NET-LISTENER-UNEXPECTED: a TCP listener reachable from the network (not loopback) on a port
    outside ``Indicators.listen_ports``: low, medium in 30000-32767 (NodePort range, favoured by
    backdoors), one level higher when it appeared after the detector first saw this host.
    Loopback listeners are not reported (local services), nor UDP ones (DNS and NTP clients bind
    random ports)."""
    backdoor = cat.BY_ID["NET-LISTENER-BACKDOOR-PORT"]
    unexpected = cat.BY_ID["NET-LISTENER-UNEXPECTED"]
    known = ctx.state.known_listeners
    for s in ctx.sockets:
        if not s.listening:
            continue
        scope = _scope(s.local_addr)
        identity = listener_identity(s)
        if s.local_port in ctx.indicators.backdoor_ports:
            yield ctx.finding(
                backdoor,
                f"Something listens on {scope} on port {s.local_port}, a port backdoors and bind "
                "shells favour.",
                _evidence(ctx, s, s.local_port),
                severity=M if scope == "loopback" else H,
                identity=identity,
            )
            continue
        if scope == "loopback" or not s.proto.startswith("tcp"):
            continue
        if s.local_port in ctx.indicators.listen_ports:
            continue
        severity = M if 30000 <= s.local_port <= 32767 else L
        new = known is not None and identity not in known
        if new:
            severity = severity.raised()
        yield ctx.finding(
            unexpected,
            f"Something listens on {scope} on TCP port {s.local_port}, which is not in the "
            "allowlist" + (" and appeared while sickbay was watching." if new else "."),
            _evidence(ctx, s, s.local_port),
            severity=severity,
            identity=identity,
        )


def exposed_services(ctx: Context) -> Iterator[Finding]:
    """NET-EXPOSED-SERVICE: Redis (6379) or the Docker API (2375) listening on all interfaces:
    high (unauthenticated, these are the entry points of kinsing/TeamTNT/WatchDog); Docker TLS
    (2376), php-fpm (9000, only when php-fpm owns it), memcached, MongoDB, Elasticsearch, etcd,
    kubelet: medium. A security group may still block them; the host cannot tell."""
    rule = cat.BY_ID["NET-EXPOSED-SERVICE"]
    for s in ctx.sockets:
        if not (s.listening and s.proto.startswith("tcp") and is_any_address(s.local_addr)):
            continue
        service = ioc.EXPOSED_SERVICES.get(s.local_port)
        if service is None:
            continue
        name, owners = service
        if owners and s.process and not any(s.process.startswith(o) for o in owners):
            continue
        yield ctx.finding(
            rule,
            f"{name} listens on all interfaces on port {s.local_port}; exposed, it is a common "
            "way in for miners.",
            _evidence(ctx, s, s.local_port),
            severity=H if s.local_port in ioc.EXPOSED_CRITICAL_PORTS else M,
            identity=f"{s.proto}|{s.local_port}",
        )


def fanout(ctx: Context) -> Iterator[Finding]:
    """NET-FANOUT: one process with outbound TCP connections to many distinct remote addresses
    (``fanout_remotes``, default 50): medium; high when it is scanning (half of them still in
    SYN_SENT) or spreading over SSH (``fanout_ssh_remotes`` distinct servers on port 22, default
    10) or to Redis/Docker ports. Loopback peers are not counted. Crawlers and monitoring
    servers do this legitimately: allowlist them by process or exe."""
    rule = cat.BY_ID["NET-FANOUT"]
    th = ctx.thresholds
    per_pid: dict[int, list[Socket]] = {}
    for s in ctx.sockets:
        if (
            s.pid is not None
            and s.proto.startswith("tcp")
            and s.state in _CONNECTING
            and ctx.outbound(s)
            and not is_loopback(s.remote_addr)
        ):
            per_pid.setdefault(s.pid, []).append(s)
    for pid, socks in per_pid.items():
        remotes = {s.remote_addr for s in socks}
        ssh = {s.remote_addr for s in socks if s.remote_port == 22}
        worm = {s.remote_addr for s in socks if s.remote_port in (2375, 6379)}
        syn = {s.remote_addr for s in socks if s.state == "SYN_SENT"}
        if len(ssh) >= th.fanout_ssh_remotes:
            severity, why = (
                H,
                f"connects to {len(ssh)} SSH servers at once, as worms spreading over SSH do",
            )
        elif len(worm) >= th.fanout_ssh_remotes:
            severity, why = (
                H,
                f"connects to {len(worm)} Redis/Docker API ports, as worms looking for victims do",
            )
        elif len(remotes) >= th.fanout_remotes and len(syn) * 2 >= len(remotes):
            severity, why = (
                H,
                f"is opening connections to {len(remotes)} hosts, most unanswered: a scan",
            )
        elif len(remotes) >= th.fanout_remotes:
            severity, why = M, f"talks to {len(remotes)} different hosts at once"
        else:
            continue
        first = socks[0]
        p = ctx.by_pid.get(pid)
        ev = (
            ctx.process_evidence(p, text=f"{len(remotes)} remote hosts")
            if p is not None
            else Evidence(
                pid=pid, process=first.process or None, text=f"{len(remotes)} remote hosts"
            )
        )
        yield ctx.finding(
            rule, f"The process {why}.", ev, severity=severity, identity=p.key if p else str(pid)
        )


CHECKS: tuple[Check, ...] = (pool_connections, listeners, exposed_services, fanout)
