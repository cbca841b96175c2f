"""block / unblock, for real, inside a network namespace each test creates (never this
machine's own firewall): after ``block`` a TCP connect to the blocked address fails while one to
another address works; after ``unblock`` (the recorded undo) it works again and our table /
chain is gone. With nftables and with iptables, IPv4 and IPv6, through LocalExec run inside the
namespace and through SshExec to an sshd running inside the namespace (reached over a
ProxyCommand relay that itself runs in the namespace). Refusals: every address, a network with
host bits set, and the network sickbay's own SSH connection comes from.

Nothing is installed at run time: the tests skip without ``ip`` or without ``nft``/``iptables``
(``./dev test`` installs nftables and iptables).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from backends.hostactions.firewall import (
    IP6TABLES,
    IPTABLES,
    NFT,
    parse_ipt_chain,
    parse_network,
    parse_nft_table,
    ssh_peer,
)
from backends.hostexec_local import LocalExec
from backends.hostexec_ssh import SshExec
from backends.ssh import SshSource
from domain.actions import ActionError, Outcome
from domain.hostexec import ExecResult
from tests.sshd import Sshd, find_sshd
from tests.test_host_files import act, audit_actions
from tests.test_ssh_source import target

IP = shutil.which("ip") or "/usr/sbin/ip"
PORT = 7777
V4_BLOCKED, V4_OTHER, V4_NET_HOST = "10.77.0.1", "10.77.0.2", "10.77.1.5"
V6_BLOCKED, V6_OTHER = "fd77::1", "fd77::2"


def first(paths: Sequence[str]) -> str | None:
    return next((p for p in paths if os.access(p, os.X_OK)), None)


NFT_BIN, IPT_BIN, IP6T_BIN = first(NFT), first(IPTABLES), first(IP6TABLES)
BACKENDS = [
    pytest.param(
        "nft", marks=pytest.mark.skipif(NFT_BIN is None, reason="nft not installed (nftables)")
    ),
    pytest.param(
        "iptables",
        marks=pytest.mark.skipif(IPT_BIN is None, reason="iptables not installed"),
    ),
]

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(not os.access(IP, os.X_OK), reason="needs ip (iproute2)"),
]

SERVER = r"""
import socket, sys, threading
def serve(family, addr):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, int(sys.argv[1])))
    s.listen(64)
    while True:
        c, _ = s.accept()
        c.close()
threading.Thread(target=serve, args=(socket.AF_INET6, '::'), daemon=True).start()
serve(socket.AF_INET, '0.0.0.0')
"""

CONNECT = r"""
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5).close()
except OSError:
    sys.exit(1)
"""

# stdin/stdout <-> 127.0.0.1:PORT, for ssh's ProxyCommand (runs inside the namespace).
RELAY = r"""
import os, socket, sys, threading
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10)
s.settimeout(None)
def up():
    while True:
        b = os.read(0, 65536)
        if not b:
            s.shutdown(socket.SHUT_WR)
            return
        s.sendall(b)
threading.Thread(target=up, daemon=True).start()
while True:
    b = s.recv(65536)
    if not b:
        break
    os.write(1, b)
"""


@dataclass
class Netns:
    name: str

    def argv(self, *argv: str) -> list[str]:
        return [IP, "netns", "exec", self.name, *argv]

    def sh(self, *argv: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(self.argv(*argv), capture_output=True, timeout=30, check=False)

    def connects(self, address: str) -> bool:
        result = self.sh(sys.executable, "-c", CONNECT, address, str(PORT))
        return result.returncode == 0


class NetnsExec(LocalExec):
    """LocalExec whose every command (and script) runs inside the namespace."""

    def __init__(self, netns: Netns) -> None:
        super().__init__(f"netns-{netns.name}")
        self.netns = netns

    async def run(
        self, argv: Sequence[str], *, stdin: bytes = b"", timeout: float = 60.0
    ) -> ExecResult:
        return await super().run(self.netns.argv(*argv), stdin=stdin, timeout=timeout)


@pytest.fixture
def netns() -> Iterator[Netns]:
    name = f"sbfw-{os.getpid()}-{secrets.token_hex(3)}"
    if subprocess.run([IP, "netns", "add", name], capture_output=True, check=False).returncode:
        pytest.skip("cannot create a network namespace here")
    ns = Netns(name)
    server: subprocess.Popen[bytes] | None = None
    try:
        for argv in (
            ["link", "set", "lo", "up"],
            ["addr", "add", f"{V4_BLOCKED}/32", "dev", "lo"],
            ["addr", "add", f"{V4_OTHER}/32", "dev", "lo"],
            ["addr", "add", f"{V4_NET_HOST}/32", "dev", "lo"],
            ["-6", "addr", "add", f"{V6_BLOCKED}/128", "dev", "lo", "nodad"],
            ["-6", "addr", "add", f"{V6_OTHER}/128", "dev", "lo", "nodad"],
        ):
            subprocess.run([IP, "-n", name, *argv], check=True, capture_output=True)
        server = subprocess.Popen(ns.argv(sys.executable, "-c", SERVER, str(PORT)))
        deadline = time.monotonic() + 15
        while not ns.connects(V4_OTHER):
            assert time.monotonic() < deadline, "the test server did not start"
            time.sleep(0.1)
        yield ns
    finally:
        if server is not None:
            server.kill()
            server.wait(timeout=10)
        subprocess.run([IP, "netns", "del", name], check=False)


def nft_tables(ns: Netns) -> str:
    return ns.sh(NFT_BIN or "nft", "list", "tables").stdout.decode()


def ipt_chains(ns: Netns, binary: str | None) -> str:
    return ns.sh(binary or "iptables", "-S").stdout.decode()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_block_cuts_one_address_and_unblock_restores_it(
    backend: str, netns: Netns, tmp_path: Path
) -> None:
    exec_ = NetnsExec(netns)
    assert netns.connects(V4_BLOCKED) and netns.connects(V4_OTHER)
    plan, result = await act(exec_, tmp_path, "block", {"address": V4_BLOCKED, "backend": backend})
    assert result.outcome is Outcome.DONE, (result.summary, result.verification, result.state)
    assert plan.params["binary"].startswith("/")
    assert not netns.connects(V4_BLOCKED)
    assert netns.connects(V4_OTHER)
    bid = str(plan.params["id"])
    if backend == "nft":
        listed = netns.sh(str(NFT_BIN), "-j", "list", "table", "inet", "sickbay").stdout.decode()
        rules, chains = parse_nft_table(listed)
        assert {(r.chain, r.field) for r in rules} == {("input", "saddr"), ("output", "daddr")}
        assert {r.comment for r in rules} == {f"sickbay:{bid}"}
        assert chains["input"]["prio"] == -10 and chains["output"]["hook"] == "output"
    else:
        listed = netns.sh(str(IPT_BIN), "-S", "SICKBAY").stdout.decode()
        assert {r.field for r in parse_ipt_chain(listed)} == {"-s", "-d"}
        assert "-A INPUT -j SICKBAY" in ipt_chains(netns, IPT_BIN)
    assert plan.undo == ("unblock", {"address": f"{V4_BLOCKED}/32", "id": bid, "backend": backend})

    _, back = await act(exec_, tmp_path, "unblock", dict(plan.undo[1]))
    assert back.outcome is Outcome.DONE, (back.summary, back.verification, back.state)
    assert netns.connects(V4_BLOCKED)
    if backend == "nft":
        assert "sickbay" not in nft_tables(netns)
    else:
        assert "SICKBAY" not in ipt_chains(netns, IPT_BIN)
    assert audit_actions(tmp_path) == [("block", "done"), ("unblock", "done")]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_ipv6_and_cidr_blocks(backend: str, netns: Netns, tmp_path: Path) -> None:
    if backend == "iptables" and IP6T_BIN is None:
        pytest.skip("ip6tables not installed")
    exec_ = NetnsExec(netns)
    plan6, six = await act(exec_, tmp_path, "block", {"address": V6_BLOCKED, "backend": backend})
    plan4, net = await act(
        exec_, tmp_path, "block", {"address": "10.77.1.0/24", "backend": backend}
    )
    assert six.outcome is Outcome.DONE and net.outcome is Outcome.DONE, (six, net)
    assert not netns.connects(V6_BLOCKED) and netns.connects(V6_OTHER)
    assert not netns.connects(V4_NET_HOST) and netns.connects(V4_OTHER)
    # Unblocking one leaves the other in place (and our table/chain with it).
    assert plan4.undo is not None and plan6.undo is not None
    _, back4 = await act(exec_, tmp_path, "unblock", dict(plan4.undo[1]))
    assert back4.outcome is Outcome.DONE, back4.verification
    assert netns.connects(V4_NET_HOST) and not netns.connects(V6_BLOCKED)
    _, back6 = await act(exec_, tmp_path, "unblock", {"address": V6_BLOCKED})  # any sickbay block
    assert back6.outcome is Outcome.DONE, back6.verification
    assert netns.connects(V6_BLOCKED)
    _, none = await act(exec_, tmp_path, "unblock", {"address": V6_BLOCKED})
    assert none.outcome is Outcome.FAILED and "no sickbay rule blocks" in none.summary


async def test_refusals(netns: Netns, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if NFT_BIN is None and IPT_BIN is None:
        pytest.skip("no firewall tool")
    exec_ = NetnsExec(netns)
    for address, words in (
        ("0.0.0.0/0", "every address"),
        ("::/0", "every address"),
        ("10.77.0.5/8", "did you mean 10.0.0.0/8"),
        ("example.com", "not an IP address"),
    ):
        _, result = await act(exec_, tmp_path, "block", {"address": address})
        assert result.outcome is Outcome.FAILED and words in result.summary, result.summary
    # As if sickbay's SSH session came from 10.77.0.9: its network is refused, others are not.
    monkeypatch.setenv("SSH_CONNECTION", "10.77.0.9 50022 10.77.0.1 22")
    _, mine = await act(exec_, tmp_path, "block", {"address": "10.77.0.0/24"})
    assert mine.outcome is Outcome.FAILED and "cut yourself off" in mine.summary
    assert netns.connects(V4_BLOCKED)
    plan, ok = await act(exec_, tmp_path, "block", {"address": V4_BLOCKED}, dry_run=True)
    assert ok.outcome is Outcome.DRY_RUN and netns.connects(V4_BLOCKED)
    assert any("10.77.0.9" in w for w in plan.warnings)


def test_parsers_never_raise_and_read_what_the_tools_print() -> None:
    assert parse_nft_table("not json") == ([], {})
    assert parse_nft_table('{"nftables": [{"rule": {"table": "sickbay", "expr": 5}}]}') == (
        [],
        {},
    )
    rules = parse_ipt_chain(
        "-N SICKBAY\n"
        '-A SICKBAY -s 10.1.2.3/32 -m comment --comment "sickbay:block-1" -j DROP\n'
        '-A SICKBAY -d 10.1.2.3/32 -m comment --comment "unbalanced -j DROP\n'
    )
    assert len(rules) == 1 and rules[0].comment == "sickbay:block-1" and rules[0].drop
    assert str(rules[0].net) == "10.1.2.3/32"
    assert str(ssh_peer("::ffff:192.0.2.4 5000 10.0.0.1 22")) == "192.0.2.4"
    assert ssh_peer("junk") is None and ssh_peer(None) is None
    assert str(parse_network(" 2001:db8::/32 ")) == "2001:db8::/32"
    with pytest.raises(ActionError):
        parse_network("10.0.0.1/33")


# -- over SSH, to an sshd inside the namespace ----------------------------------------------------


@dataclass
class NetnsSshd(Sshd):
    netns: str = ""

    def start(self, timeout: float = 10.0) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    IP,
                    "netns",
                    "exec",
                    self.netns,
                    self.binary,
                    "-D",
                    "-e",
                    "-f",
                    str(self.config.resolve()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while b"Server listening" not in self.log.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sshd in {self.netns} did not start: {self.log.read_text()}")
            time.sleep(0.05)


@pytest.fixture
async def ns_ssh(netns: Netns, tmp_path: Path) -> AsyncIterator[SshExec]:
    binary = find_sshd()
    if binary is None:
        pytest.skip("OpenSSH sshd is not installed")
    server = NetnsSshd(binary, tmp_path / "sshd", netns=netns.name)
    relay = tmp_path / "relay.py"
    relay.write_text(RELAY)
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host *\n  ProxyCommand {IP} netns exec {netns.name} {sys.executable} {relay} "
        f"{server.port}\n"
    )
    with server:
        source = SshSource(
            target(server, ssh_config=(config,)), connect_timeout=20.0, sample_timeout=30.0
        )
        try:
            yield SshExec(source)
        finally:
            await asyncio.wait_for(source.close(), 15)


async def test_block_over_ssh_inside_the_namespace(
    ns_ssh: SshExec, netns: Netns, tmp_path: Path
) -> None:
    if NFT_BIN is None and IPT_BIN is None:
        pytest.skip("no firewall tool")
    # The SSH session comes from 127.0.0.1 as the target sees it: loopback is refused.
    _, mine = await act(ns_ssh, tmp_path, "block", {"address": "127.0.0.0/8"})
    assert mine.outcome is Outcome.FAILED and "127.0.0.1" in mine.summary
    plan, result = await act(ns_ssh, tmp_path, "block", {"address": V4_BLOCKED})
    assert result.outcome is Outcome.DONE, (result.summary, result.verification)
    assert not netns.connects(V4_BLOCKED) and netns.connects(V4_OTHER)
    assert plan.undo is not None
    _, back = await act(ns_ssh, tmp_path, "unblock", dict(plan.undo[1]))
    assert back.outcome is Outcome.DONE and netns.connects(V4_BLOCKED)
