"""The host-exec layer (LocalExec on this machine, SshExec over the real sshd fixture): commands
without a shell, in-memory python3 -I -S scripts, fetch (also of a deleted executable through
/proc/PID/exe), and clear errors on timeouts, missing python3 and a dropped host."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backends.hostexec_local import LocalExec
from backends.hostexec_ssh import SshExec
from backends.ssh import SshSource
from domain.hostexec import MAX_LINE, ExecError, HostExec
from tests.planted import SLEEP, Planted, deleted_binary
from tests.sshd import Sshd
from tests.test_ssh_source import target

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

ECHO_ARGS = "import json,sys\nprint(json.dumps({'args': ARGS, 'flags': list(sys.flags)[:3]}))\n"


@pytest.fixture
def sftp_sshd(sshd_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """An sshd with the SFTP subsystem (the plain fixture has none: fetch then falls back to
    the in-memory python3)."""
    server = Sshd(sshd_binary, tmp_path_factory.mktemp("sftp-sshd"))
    with server.config.open("a") as config:
        config.write("Subsystem sftp internal-sftp\n")
    with server:
        yield server


async def _exec_factory(server: Sshd) -> AsyncIterator[Callable[..., SshExec]]:
    sources: list[SshSource] = []

    def make(**kw: Any) -> SshExec:
        source = SshSource(target(server), connect_timeout=10.0, sample_timeout=20.0)
        sources.append(source)
        return SshExec(source, **kw)

    yield make
    for source in sources:
        await asyncio.wait_for(source.close(), 15)


@pytest.fixture
async def ssh_exec(sshd: Sshd) -> AsyncIterator[Callable[..., SshExec]]:
    async for make in _exec_factory(sshd):
        yield make


@pytest.fixture
async def sftp_exec(sftp_sshd: Sshd) -> AsyncIterator[Callable[..., SshExec]]:
    async for make in _exec_factory(sftp_sshd):
        yield make


@pytest.fixture(params=["local", "ssh"])
def host(request: pytest.FixtureRequest) -> HostExec:
    if request.param == "local":
        return LocalExec("this-machine")
    make: Callable[..., SshExec] = request.getfixturevalue("ssh_exec")
    return make()


@pytest.fixture(params=["local", "ssh", "ssh-sftp-fallback"])
def fetcher(request: pytest.FixtureRequest) -> HostExec:
    """This machine; SSH to a host with SFTP and python3 (python3 is used, for O_NOATIME);
    SSH to a host with SFTP and no python3 (SFTP is used)."""
    if request.param == "local":
        return LocalExec("this-machine")
    make: Callable[..., SshExec] = request.getfixturevalue("sftp_exec")
    if request.param == "ssh":
        return make()
    return make(pythons=("/nonexistent/python3",))


async def test_run_passes_each_argument_as_given(host: HostExec, tmp_path: Path) -> None:
    odd = tmp_path / "a dir; rm -rf x\nline2 $(id) `id` 'q'"
    odd.mkdir()
    (odd / "f").write_text("content")
    result = await host.run(["/bin/ls", "-1", str(odd)], timeout=20)
    assert result.status == 0
    assert result.stdout == b"f\n"
    echoed = await host.run(["/bin/cat"], stdin=b"through stdin\x00\xff", timeout=20)
    assert echoed.stdout == b"through stdin\x00\xff"
    failed = await host.run(["/bin/ls", str(odd / "missing")], timeout=20)
    assert failed.status not in (0, None)
    assert failed.stderr


async def test_run_python_is_isolated_and_gets_its_args(host: HostExec) -> None:
    args = {"pid": 42, "path": "/tmp/x y\nz", "text": "挖矿\u202e"}
    value = await host.run_python(ECHO_ARGS, args, timeout=30)
    assert value["args"] == args
    # sys.flags: debug, inspect, interactive... -I sets isolated; check it directly too
    isolated = await host.run_python(
        "import json,sys\nprint(json.dumps([sys.flags.isolated, sys.flags.no_site]))\n", {}
    )
    assert isolated == [1, 1]


async def test_run_python_errors_are_exec_errors(host: HostExec) -> None:
    with pytest.raises(ExecError, match="ZeroDivisionError"):
        await host.run_python("1/0\n", {}, timeout=30)
    with pytest.raises(ExecError, match="JSON"):
        await host.run_python("print('not json {')\n", {}, timeout=30)
    with pytest.raises(ExecError, match="within"):
        await host.run_python("import time\ntime.sleep(30)\n", {}, timeout=1.0)


async def test_stream_hands_over_lines_as_they_come(host: HostExec) -> None:
    """The first line arrives while the command still runs; an over-long line is cut at
    MAX_LINE and the next line is whole; a last line without a newline is not lost."""
    loop = asyncio.get_running_loop()
    seen: list[tuple[float, bytes]] = []
    script = (
        "import sys,time\n"
        "w=sys.stdout.buffer.write\n"
        "w(b'first\\n');sys.stdout.flush();time.sleep(1.0)\n"
        "w(b'x'*(3*65536)+b'\\nafter\\nlast');sys.stdout.flush()\n"
    )
    started = loop.time()
    result = await host.stream(
        [sys.executable, "-c", script], lambda line: seen.append((loop.time(), line)), timeout=30
    )
    ended = loop.time()
    assert result.status == 0 and result.stdout == b""
    assert [line for _, line in seen] == [b"first", b"x" * MAX_LINE, b"after", b"last"]
    assert seen[0][0] - started < ended - started - 0.5  # before the command ended
    with pytest.raises(ExecError, match="within"):
        await host.stream([SLEEP, "30"], lambda line: None, timeout=0.5)


async def test_a_timed_out_command_is_an_error(host: HostExec) -> None:
    with pytest.raises(ExecError, match="within"):
        await host.run([SLEEP, "30"], timeout=0.5)


async def test_fetch_copies_a_deleted_executable_through_proc(
    fetcher: HostExec, planted: Planted, tmp_path: Path
) -> None:
    host = fetcher
    original = hashlib.sha256(Path(SLEEP).read_bytes()).hexdigest()
    proc = deleted_binary(planted)
    assert os.readlink(f"/proc/{proc.pid}/exe").endswith("(deleted)")
    local = tmp_path / "exe"
    copied = await host.fetch(f"/proc/{proc.pid}/exe", local)
    assert copied == Path(SLEEP).stat().st_size
    assert hashlib.sha256(local.read_bytes()).hexdigest() == original
    assert local.stat().st_mode & 0o777 == 0o600
    cut = await host.fetch(f"/proc/{proc.pid}/exe", tmp_path / "cut", limit=1000)
    assert cut == 1000
    assert (tmp_path / "cut").read_bytes() == Path(SLEEP).read_bytes()[:1000]
    cmdline = await host.fetch(f"/proc/{proc.pid}/cmdline", tmp_path / "cmdline")
    assert cmdline > 0
    assert (tmp_path / "cmdline").read_bytes().split(b"\0")[1] == b"300"
    with pytest.raises(ExecError):
        await host.fetch("/nonexistent/file", tmp_path / "none")


def _atime_ns(path: Path) -> int:
    return path.stat().st_atime_ns


async def test_fetch_leaves_the_access_time_alone(fetcher: HostExec, tmp_path: Path) -> None:
    """Evidence is read with O_NOATIME (root may use it on any file): a log's atime older than
    its mtime (relatime would refresh it on a plain read) is the same after the copy. Read
    over SFTP (no python3 on the host) the copy cannot promise that, and says so."""
    control = tmp_path / "control"
    control.write_bytes(b"y" * 100)
    old = time.time_ns() - 3 * 86400 * 10**9
    os.utime(control, ns=(old, control.stat().st_mtime_ns))
    control.read_bytes()
    if _atime_ns(control) == old:
        pytest.skip("this filesystem does not update access times")
    log = tmp_path / "auth.log"
    log.write_bytes(b"x" * 200_000)
    os.utime(log, ns=(old, log.stat().st_mtime_ns))
    copy = tmp_path / "copy"
    assert await fetcher.fetch(str(log), copy) == 200_000
    unchanged = _atime_ns(log) == old  # before anything else reads it
    assert copy.read_bytes() == b"x" * 200_000
    if isinstance(fetcher, SshExec) and fetcher.pythons == ("/nonexistent/python3",):
        assert fetcher.atime_kept is False  # read over SFTP, and said so
    else:
        assert unchanged
        assert getattr(fetcher, "atime_kept", True) is True


async def test_no_python_on_the_host_is_said_clearly(ssh_exec: Callable[..., SshExec]) -> None:
    host = ssh_exec(pythons=("/nonexistent/python3",))
    with pytest.raises(ExecError, match="no python3"):
        await host.run_python(ECHO_ARGS, {})
    local = LocalExec(python="/nonexistent/python3")
    with pytest.raises(ExecError, match="cannot run"):
        await local.run_python(ECHO_ARGS, {})


async def test_a_host_dropping_mid_command_is_an_exec_error(
    sshd: Sshd, ssh_exec: Callable[..., SshExec]
) -> None:
    host = ssh_exec()
    assert (await host.run(["/bin/true"])).status == 0
    running = asyncio.ensure_future(host.run_python("import time\ntime.sleep(20)\n", {}))
    await asyncio.sleep(1.0)
    sshd.stop()
    with pytest.raises(ExecError):
        await asyncio.wait_for(running, 15)
    with pytest.raises(ExecError, match="cannot reach"):
        await host.run(["/bin/true"], timeout=10)
    sshd.start()
    assert (await host.run(["/bin/true"], timeout=20)).status == 0  # reconnects


async def test_local_exec_names_the_host() -> None:
    assert LocalExec("x").host == "x"
    assert LocalExec().host
