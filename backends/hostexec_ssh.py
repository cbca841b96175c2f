"""Response actions over SSH: :class:`SshExec` implements ``domain.hostexec.HostExec`` on the
connection of an :class:`backends.ssh.SshSource` (same host key checks, keys and jump host).

* ``run``: one channel per command; the argv is ``shlex.quote``'d for the remote login shell, so
  every argument arrives as given (a path with spaces or newlines is one argument).
* ``run_python``: the first python3 found at an absolute path (``backends.delta.PYTHONS``; never
  one from the target's PATH) with ``-I -S`` and the loader of ``backends.hostexec_local``: the
  script and its arguments travel on stdin, nothing is written to the target's disk.
* ``fetch``: the same in-memory python3 reads the file (:data:`CAT`) with ``O_NOATIME``, so
  evidence is taken without touching its access time (sftp-server's reads update it), up to a
  byte limit; it works for ``/proc/PID/exe`` of a deleted or memfd executable (the open follows
  the kernel's link). Only a host without python3 is read over SFTP, and the copy says so
  (``atime_kept``).

A dropped connection, a refused channel or a timeout raises :class:`ExecError` with our words.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import asyncssh

from backends.delta import NO_PYTHON, PYTHONS
from backends.hostexec_local import (
    CHUNK,
    MAX_NOISE,
    PY_LOADER,
    PY_MAGIC,
    STDERR_SHOWN,
    communicate,
    python_output,
    python_payload,
)
from backends.ssh import SshError, SshSource
from domain.hostexec import ExecError, ExecResult


def python_command(pythons: Sequence[str] = PYTHONS) -> str:
    """The POSIX sh command running :data:`PY_LOADER` in the first python3 of ``pythons`` that
    exists (exit status :data:`NO_PYTHON` when there is none)."""
    loader = shlex.quote(PY_LOADER)
    tries = "".join(
        f"[ -x {shlex.quote(p)} ] && exec {shlex.quote(p)} -I -S -c {loader}; " for p in pythons
    )
    return f"{tries}exit {NO_PYTHON}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncssh.DisconnectError):
        return exc.reason or type(exc).__name__
    if isinstance(exc, asyncssh.SFTPError):
        return exc.reason or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class _NoPython(Exception):
    """The host has no python3 at the expected paths."""


class SshExec:
    """Commands on ``source``'s host. ``fetch_timeout``: seconds one fetch may take.
    ``atime_kept`` turns False once a file had to be read over SFTP (its atime may have been
    updated: the evidence notes say so)."""

    def __init__(
        self,
        source: SshSource,
        *,
        pythons: Sequence[str] = PYTHONS,
        fetch_timeout: float = 900.0,
    ) -> None:
        self.source = source
        self.pythons = tuple(pythons)
        self.fetch_timeout = fetch_timeout
        self.atime_kept = True

    @property
    def host(self) -> str:
        return self.source.name

    async def _connection(self) -> asyncssh.SSHClientConnection:
        try:
            return await self.source.connection()
        except SshError as exc:
            raise ExecError(f"cannot reach {self.host}: {exc.reason}") from None

    async def _exec(
        self,
        command: str,
        stdin: bytes,
        timeout: float,
        what: str,
        on_line: Callable[[bytes], None] | None = None,
    ) -> ExecResult:
        conn = await self._connection()
        procs: list[Any] = []

        async def go() -> tuple[int | None, bytes, bytes]:
            proc = await conn.create_process(command, encoding=None)
            procs.append(proc)
            out, err = await communicate(proc.stdin, proc.stdout, proc.stderr, stdin, what, on_line)
            await proc.wait_closed()
            return proc.exit_status, out, err

        try:
            status, out, err = await asyncio.wait_for(go(), timeout)
        except asyncio.TimeoutError:
            raise ExecError(
                f"{what} on {self.host} did not finish within {timeout:g} s (channel closed)"
            ) from None
        except (OSError, asyncssh.Error) as exc:
            raise ExecError(f"lost {self.host} while running {what}: {_describe(exc)}") from None
        finally:
            for proc in procs:
                proc.close()
        return ExecResult(None if status is None or status < 0 else status, out, err)

    async def run(
        self, argv: Sequence[str], *, stdin: bytes = b"", timeout: float = 60.0
    ) -> ExecResult:
        if not argv:
            raise ExecError("nothing to run")
        return await self._exec(shlex.join(argv), stdin, timeout, argv[0])

    async def stream(
        self, argv: Sequence[str], on_line: Callable[[bytes], None], *, timeout: float = 60.0
    ) -> ExecResult:
        if not argv:
            raise ExecError("nothing to run")
        return await self._exec(shlex.join(argv), b"", timeout, argv[0], on_line)

    async def run_python(
        self, script: str, args: Mapping[str, Any], *, timeout: float = 60.0
    ) -> Any:
        result = await self._exec(
            python_command(self.pythons), python_payload(script, args), timeout, "python3"
        )
        if result.status == NO_PYTHON and not result.stdout:
            raise ExecError(f"{self.host} has no python3 at {', '.join(self.pythons)}")
        return python_output(result.status, result.stdout, result.stderr, self.host)

    async def fetch(self, remote: str, local: Path, *, limit: int | None = None) -> int:
        """Copy ``remote`` to ``local`` (created 0600); a file bigger than ``limit`` is cut at
        ``limit`` bytes (a return value equal to ``limit``: maybe truncated). Read by the
        in-memory python3 with O_NOATIME; over SFTP only when the host has no python3."""
        conn = await self._connection()
        try:
            return await asyncio.wait_for(
                self._fetch(conn, remote, local, limit), self.fetch_timeout
            )
        except asyncio.TimeoutError:
            raise ExecError(
                f"copying {remote} from {self.host} took more than {self.fetch_timeout:g} s"
            ) from None
        except asyncssh.SFTPError as exc:
            raise ExecError(f"cannot read {remote} on {self.host}: {_describe(exc)}") from None
        except (OSError, asyncssh.Error) as exc:
            raise ExecError(f"lost {self.host} while copying {remote}: {_describe(exc)}") from None

    async def _fetch(
        self, conn: asyncssh.SSHClientConnection, remote: str, local: Path, limit: int | None
    ) -> int:
        try:
            return await self._fetch_python(conn, remote, local, limit)
        except _NoPython:
            pass
        try:
            sftp = await conn.start_sftp_client()
        except asyncssh.ChannelOpenError:  # no SFTP subsystem on the host
            raise ExecError(
                f"{self.host} has neither python3 nor SFTP to copy {remote} with"
            ) from None
        self.atime_kept = False
        copied = 0
        async with sftp, sftp.open(remote, "rb") as src:
            with _output(local) as out:
                while limit is None or copied < limit:
                    want = CHUNK if limit is None else min(CHUNK, limit - copied)
                    chunk = await src.read(want, copied)
                    assert isinstance(chunk, bytes)
                    if not chunk:
                        break
                    out.write(chunk)
                    copied += len(chunk)
        return copied

    async def _fetch_python(
        self, conn: asyncssh.SSHClientConnection, remote: str, local: Path, limit: int | None
    ) -> int:
        proc: Any = await conn.create_process(python_command(self.pythons), encoding=None)
        try:
            proc.stdin.write(python_payload(CAT, {"path": remote, "limit": limit}))
            proc.stdin.write_eof()
            seen = b""
            while PY_MAGIC not in seen:
                chunk = await proc.stdout.read(CHUNK)
                if not chunk or len(seen) > MAX_NOISE:
                    break
                seen += chunk
            copied = 0
            with _output(local) as out:
                if PY_MAGIC in seen:
                    rest = seen.split(PY_MAGIC, 1)[1]
                    while limit is None or copied < limit:
                        if limit is not None:
                            rest = rest[: limit - copied]
                        out.write(rest)
                        copied += len(rest)
                        rest = await proc.stdout.read(CHUNK)
                        if not rest:
                            break
            await proc.wait_closed()
            status = proc.exit_status
            error = (await proc.stderr.read(STDERR_SHOWN)).decode("utf-8", "replace").strip()
        finally:
            proc.close()
        if status == NO_PYTHON and PY_MAGIC not in seen:
            local.unlink(missing_ok=True)
            raise _NoPython
        if status != 0 and not (limit is not None and copied >= limit):
            local.unlink(missing_ok=True)
            raise ExecError(f"cannot read {remote} on {self.host}: {error or status}")
        return copied


@contextlib.contextmanager
def _output(local: Path) -> Iterator[BinaryIO]:
    """``local`` opened for writing (0600, truncated), fsync'd when closed."""
    local.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as out:
        yield out
        out.flush()
        os.fsync(out.fileno())


# Runs on the host: copy ARGS["path"] to stdout, at most ARGS["limit"] bytes, O_NOATIME if it can.
CAT = r"""
import os, sys
path, limit = ARGS['path'], ARGS['limit']
flags = os.O_RDONLY
try:
    try:
        fd = os.open(path, flags | getattr(os, 'O_NOATIME', 0))
    except OSError as e:
        if e.errno != 1:
            raise
        fd = os.open(path, flags)
except OSError as e:
    sys.stderr.write(e.strerror or str(e))
    sys.exit(3)
out, n = sys.stdout.buffer, 0
while limit is None or n < limit:
    b = os.read(fd, 65536 if limit is None else min(65536, limit - n))
    if not b:
        break
    out.write(b)
    n += len(b)
out.flush()
"""
