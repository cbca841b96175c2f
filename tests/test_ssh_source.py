"""The SSH source against a real OpenSSH sshd on 127.0.0.1 (see tests/sshd.py)."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from backends.local import LocalSource
from backends.ssh import HostKeyChanged, SshError, SshSource, SshState, SshTarget, UnknownHostKey
from domain.model import HostSnapshot
from domain.source import FactsSource, Source, SourceError
from tests.planted import SLEEP, Planted, deleted_binary
from tests.sshd import SilentServer, Sshd

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
MARKER = "sickbay-ssh-test-marker"
WAITER = ["/bin/sh", "-c", f"read -r _ # {MARKER}"]  # blocks on stdin, the marker in its argv


def target(sshd: Sshd, **kw: Any) -> SshTarget:
    options: dict[str, Any] = {
        "host": sshd.host,
        "port": sshd.port,
        "user": sshd.user,
        "client_keys": (sshd.client_key_path,),
        "use_agent": False,
        "known_hosts": (sshd.known_hosts,),
    }
    options.update(kw)
    return SshTarget(**options)


@pytest.fixture
async def opened() -> AsyncIterator[Any]:
    sources: list[SshSource] = []

    def make(target: SshTarget, **kw: Any) -> SshSource:
        kw.setdefault("connect_timeout", 10.0)
        kw.setdefault("sample_timeout", 20.0)
        source = SshSource(target, **kw)
        sources.append(source)
        return source

    yield make
    for source in sources:
        await asyncio.wait_for(source.close(), 15)


@pytest.fixture
def sleepers(planted: Planted) -> Iterator[Any]:
    def start(n: int) -> subprocess.Popen[bytes]:
        # one shell holding n sleepers, all in its process group: Planted kills the group
        return planted.start(
            ["/bin/sh", "-c", f"for i in $(seq {n}); do {SLEEP} 600 & done; echo ready; wait"],
            ready="ready",
        )

    yield start


def by_pid(snapshot: HostSnapshot, pid: int) -> Any:
    return snapshot.process_by_pid()[pid]


async def test_a_sample_over_ssh_matches_the_local_source(
    sshd: Sshd, opened: Any, planted: Planted
) -> None:
    sleeper = planted.start(WAITER)
    source = opened(target(sshd))
    assert isinstance(source, Source)
    assert source.state is SshState.CONNECTING
    remote = await source.sample()
    local_source = LocalSource()
    try:
        local = await local_source.sample()
    finally:
        await local_source.close()
    assert source.state is SshState.LIVE and source.reason == "live"
    assert remote.source == "ssh" and remote.host == source.name
    there, here = by_pid(remote, sleeper.pid), by_pid(local, sleeper.pid)
    assert there.cmdline == here.cmdline == tuple(WAITER)
    assert there.exe == here.exe == os.path.realpath("/bin/sh")
    for name in ("ppid", "uid", "user", "start_time", "cwd", "exe_deleted", "name", "tty_nr"):
        assert getattr(there, name) == getattr(here, name), name
    assert remote.hostname == local.hostname
    assert remote.metrics.mem_total == local.metrics.mem_total
    assert source.last_sample_at is not None and source.round_trip_ms is not None

    again = await source.sample()  # the same channel: a delta
    assert by_pid(again, sleeper.pid).cmdline == there.cmdline
    assert source.last_response_bytes is not None and source.first_response_bytes is not None
    assert source.last_response_bytes < source.first_response_bytes


async def test_a_deleted_executable_is_flagged_over_ssh(
    sshd: Sshd, opened: Any, planted: Planted
) -> None:
    dropper = deleted_binary(planted, "kd-ssh")
    snapshot = await opened(target(sshd)).sample()
    process = by_pid(snapshot, dropper.pid)
    assert process.exe_deleted and process.exe.endswith("/kd-ssh")


async def test_steady_state_is_at_most_5_percent_of_the_first_sample(
    sshd: Sshd, opened: Any, sleepers: Any
) -> None:
    sleepers(300)  # a host of realistic size (the benchmark: 300 and 1,000 processes)
    source = opened(target(sshd))
    sizes = []
    for _ in range(7):
        await source.sample()
        sizes.append(source.last_response_bytes)
        await asyncio.sleep(0.2)
    first = sizes[0]
    # the second carries every process's first %CPU; then the steady state
    steady = statistics.median(sizes[2:])
    assert first == source.first_response_bytes
    assert steady <= 0.05 * first, (first, sizes)


async def test_unknown_host_key_shows_its_fingerprint_and_waits_for_a_decision(
    sshd: Sshd, opened: Any
) -> None:
    sshd.known_hosts.write_text("")
    source = opened(target(sshd))
    with pytest.raises(UnknownHostKey) as raised:
        await source.sample()
    fingerprint = sshd.host_key.get_fingerprint("sha256")
    assert raised.value.fingerprint == fingerprint and fingerprint.startswith("SHA256:")
    assert fingerprint in raised.value.reason
    assert source.state is SshState.HOST_KEY_UNKNOWN and source.pending_host_key is raised.value
    with pytest.raises(UnknownHostKey):  # still waiting: no second connection needed
        await source.sample()
    with pytest.raises(ValueError):
        source.accept_host_key("SHA256:not-the-one")

    source.accept_host_key(fingerprint)
    await source.sample()
    assert source.state is SshState.LIVE
    assert sshd.known_hosts.read_text() == sshd.known_hosts_line(sshd.host_key)
    await source.close()

    again = opened(target(sshd))  # recorded: a new source trusts it
    await again.sample()
    assert again.state is SshState.LIVE


async def test_a_changed_host_key_is_refused_loudly(sshd: Sshd, opened: Any) -> None:
    impostor = asyncssh.generate_private_key("ssh-ed25519")
    sshd.known_hosts.write_text(sshd.known_hosts_line(impostor))  # known_hosts has another key
    source = opened(target(sshd))
    with pytest.raises(HostKeyChanged) as raised:
        await source.sample()
    assert raised.value.fingerprint == sshd.host_key.get_fingerprint("sha256")
    assert raised.value.known == (impostor.get_fingerprint("sha256"),)
    assert "HAS CHANGED" in raised.value.reason
    assert source.state is SshState.HOST_KEY_REFUSED and source.pending_host_key is None
    with pytest.raises(ValueError):
        source.accept_host_key(raised.value.fingerprint or "")
    with pytest.raises(HostKeyChanged):
        await source.sample()


async def test_a_key_the_host_does_not_accept_is_an_authentication_failure(
    sshd: Sshd, opened: Any, tmp_path: Path
) -> None:
    stranger = tmp_path / "id_stranger"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(stranger))
    source = opened(target(sshd, client_keys=(stranger,)))
    with pytest.raises(SshError) as raised:
        await source.sample()
    assert raised.value.state is SshState.AUTH_FAILED is source.state
    with pytest.raises(SshError, match="retrying in"):  # backs off: no new attempt at once
        await source.sample()


async def test_reconnects_after_sshd_is_killed_and_restarted(
    sshd: Sshd, opened: Any, planted: Planted
) -> None:
    source = opened(target(sshd), backoff=(0.05, 0.5))
    await source.sample()
    sshd.stop()  # kills the sessions, and with them the agent
    with pytest.raises(SshError) as raised:
        await source.sample()
    assert raised.value.state is SshState.STALE is source.state
    with pytest.raises(SshError):  # sshd is down: reconnecting fails
        await source.sample()
    assert source.state is SshState.STALE
    sshd.start()
    sleeper = planted.start(WAITER)
    deadline = time.monotonic() + 15
    while True:
        try:
            snapshot = await source.sample()
            break
        except SshError:
            assert time.monotonic() < deadline, source.reason
            await asyncio.sleep(0.05)
    assert source.state is SshState.LIVE
    assert by_pid(snapshot, sleeper.pid).cmdline == tuple(WAITER)


async def test_a_jump_through_a_second_sshd(sshd: Sshd, sshd2: Sshd, opened: Any) -> None:
    source = opened(target(sshd, jump=target(sshd2)))
    snapshot = await source.sample()
    assert source.state is SshState.LIVE and snapshot.processes
    assert "Accepted publickey" in sshd2.log.read_text()  # the bastion was used

    sshd2.known_hosts.write_text("")  # the bastion's key is unknown: it is the one asked about
    fresh = opened(target(sshd, jump=target(sshd2)))
    with pytest.raises(UnknownHostKey) as raised:
        await fresh.sample()
    assert raised.value.port == sshd2.port
    assert raised.value.fingerprint == sshd2.host_key.get_fingerprint("sha256")
    fresh.accept_host_key(raised.value.fingerprint)
    await fresh.sample()
    assert sshd2.known_hosts.read_text() == sshd2.known_hosts_line(sshd2.host_key)
    assert sshd.known_hosts.read_text() == sshd.known_hosts_line(sshd.host_key)


async def test_a_host_that_never_answers_is_unreachable_in_time(
    silent_server: SilentServer, opened: Any, tmp_path: Path
) -> None:
    silent = SshTarget("127.0.0.1", silent_server.port, "nobody", client_keys=(),
                       use_agent=False, known_hosts=(tmp_path / "known_hosts",))  # fmt: skip
    source = opened(silent, connect_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(SshError) as raised:
        await asyncio.wait_for(source.sample(), 10)
    assert time.monotonic() - started < 3.0
    assert raised.value.state is SshState.UNREACHABLE is source.state
    assert "no SSH answer within 1 s" in source.reason


async def test_a_closed_port_is_unreachable(opened: Any, tmp_path: Path) -> None:
    with socket_bound() as port:
        closed = SshTarget("127.0.0.1", port, "nobody", client_keys=(), use_agent=False,
                           known_hosts=(tmp_path / "kh",))  # fmt: skip
        source = opened(closed, connect_timeout=2.0)
        with pytest.raises(SshError):
            await source.sample()
    assert source.state is SshState.UNREACHABLE and "cannot connect" in source.reason


class socket_bound:
    """A port on 127.0.0.1 that is bound but not listening: connecting is refused."""

    def __enter__(self) -> int:
        import socket  # noqa: PLC0415

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return int(self.sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


async def test_a_host_without_python3_or_a_shell_says_so(sshd: Sshd, opened: Any) -> None:
    source = opened(target(sshd), pythons=("/nonexistent/python3",), shells=None)
    with pytest.raises(SshError, match="neither python3 nor a shell"):
        await source.sample()
    assert source.state is SshState.UNREACHABLE


@pytest.mark.parametrize("shell", ["/bin/bash", "/bin/sh"])
async def test_the_sh_fallback_where_python3_is_hidden(
    sshd: Sshd, opened: Any, planted: Planted, shell: str
) -> None:
    if not Path(shell).exists():
        pytest.skip(f"no {shell}")
    waiter = planted.start(WAITER, cwd="/tmp")
    source = opened(target(sshd), pythons=("/nonexistent/python3",), shells=(shell,))
    first = await source.sample()
    local_source = LocalSource()
    try:
        local = await local_source.sample()
    finally:
        await local_source.close()
    there, here = by_pid(first, waiter.pid), by_pid(local, waiter.pid)
    for name in ("ppid", "uid", "user", "start_time", "cwd", "name", "state", "tty_nr"):
        assert getattr(there, name) == getattr(here, name), name
    if shell == "/bin/bash":  # bash keeps the NULs between arguments
        assert there.cmdline == here.cmdline == tuple(WAITER)
    else:  # dash drops them: the arguments arrive joined
        assert there.cmdline == ("".join(WAITER),)
    assert any(e.what == "sh fallback" for e in first.errors)
    assert first.metrics.mem_total == local.metrics.mem_total
    assert first.hostname == local.hostname
    listening = {(s.local_addr, s.local_port) for s in first.sockets if s.state == "LISTEN"}
    assert ("127.0.0.1", sshd.port) in listening
    second = await source.sample()  # rates and %CPU from the second sample, as with python
    assert second.metrics.cpu_total is not None
    assert by_pid(second, waiter.pid).cpu_percent is not None
    assert source.state is SshState.LIVE
    waiter.kill()
    waiter.wait()
    third = await source.sample()
    assert waiter.pid not in third.process_by_pid()


_READY = b"import os,sys\nos.write(1,b'SICKBAY-AGENT/1\\n')\n"
HOSTILE_AGENTS = {
    "a huge frame": _READY + b"sys.stdin.buffer.readline()\nos.write(1,b'\\xff'*4)\n",
    "garbage": _READY + b"sys.stdin.buffer.readline()\nos.write(1,b'\\0\\0\\0\\5hello')\n",
    "silence": _READY,
    "no magic": b"import os,sys\nos.write(1,b'x'*200000)\n",
}  # each then waits for EOF


@pytest.mark.parametrize("kind", sorted(HOSTILE_AGENTS))
async def test_a_hostile_agent_cannot_hang_or_crash_the_source(
    sshd: Sshd, opened: Any, kind: str
) -> None:
    script = HOSTILE_AGENTS[kind] + b"sys.stdin.buffer.read()\n"
    source = opened(target(sshd), script=script, sample_timeout=2.0)
    started = time.monotonic()
    with pytest.raises(SourceError):
        await asyncio.wait_for(source.sample(), 10)
    assert time.monotonic() - started < 5.0
    assert source.state is SshState.UNREACHABLE, source.reason


async def test_samples_are_serialised_and_close_is_final(sshd: Sshd, opened: Any) -> None:
    source = opened(target(sshd))
    first, second = await asyncio.gather(source.sample(), source.sample())
    assert first.processes and second.processes
    await source.close()
    assert source.state is SshState.CLOSED
    with pytest.raises(SshError):
        await source.sample()


async def test_host_facts_over_ssh_match_the_local_ones(sshd: Sshd, opened: Any) -> None:
    source = opened(target(sshd))
    assert isinstance(source, FactsSource)
    remote = await source.facts(("/etc/hostname", "/nonexistent"), ())
    local_source = LocalSource()
    try:
        local = await local_source.facts(("/etc/hostname", "/nonexistent"), ())
    finally:
        await local_source.close()
    assert remote.host == source.name
    assert remote.hostname == local.hostname
    assert {u.name for u in remote.users} == {u.name for u in local.users}
    assert source.state is SshState.CONNECTING  # connected, no sample taken yet
    await source.sample()  # the facts channel did not disturb the agent
    assert source.state is SshState.LIVE


async def test_host_facts_without_python3_say_so(sshd: Sshd, opened: Any) -> None:
    source = opened(target(sshd), pythons=("/nonexistent/python3",))
    with pytest.raises(SshError, match="need python3"):
        await source.facts((), ())


async def test_an_ssh_config_alias(sshd: Sshd, opened: Any, tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host infected-web\n"
        f"  HostName {sshd.host}\n  Port {sshd.port}\n  User {sshd.user}\n"
        f"  IdentityFile {sshd.client_key_path}\n"
    )
    known_hosts = tmp_path / "known_hosts"
    alias = SshTarget("infected-web", use_agent=False, known_hosts=(known_hosts,),
                      ssh_config=(config,))  # fmt: skip
    source = opened(alias)
    assert source.name == "infected-web"
    with pytest.raises(UnknownHostKey) as raised:
        await source.sample()
    # recorded under the name ssh asks known_hosts about: the HostName and Port
    assert (raised.value.host, raised.value.port) == (sshd.host, sshd.port)
    source.accept_host_key(raised.value.fingerprint)
    await source.sample()
    assert known_hosts.read_text() == sshd.known_hosts_line(sshd.host_key)
