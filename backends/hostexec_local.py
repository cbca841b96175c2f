"""Response actions on this machine: :class:`LocalExec` implements ``domain.hostexec.HostExec``.

Commands run without a shell (``asyncio.create_subprocess_exec``); Python scripts run in our own
interpreter with ``-I -S`` through the same loader the SSH side uses (:data:`PY_LOADER`: the
script and its JSON arguments arrive on stdin, nothing is written to disk), so both sides share
one code path and one output format. ``fetch`` is a plain copy, opened with ``O_NOATIME`` where
the kernel allows it. Every wait has a timeout and every output a size bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import signal
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from domain.hostexec import MAX_LINE, ExecError, ExecResult

MAX_STDOUT = 64 << 20  # bytes of a command's (or script's) stdout we accept
MAX_STDERR = 1 << 20
MAX_NOISE = 64 << 10  # bytes a login may print before the script's magic
STDERR_SHOWN = 400  # characters of a failed script's stderr put in the error message
CHUNK = 1 << 16

# The loader, run as ``python3 -I -S -c PY_LOADER``: reads the script's length on one line, the
# script, then the arguments (JSON, up to EOF) into the global ARGS; writes PY_MAGIC (whatever a
# login shell printed before it is skipped) and runs the script, which prints one JSON value.
PY_MAGIC = b"SICKBAY-PY/1\n"
PY_LOADER = (
    "import sys,json;b=sys.stdin.buffer;n=int(b.readline(20));s=b.read(n);"
    "a=json.loads(b.read().decode('utf-8'));o=sys.stdout.buffer;"
    "o.write(b'SICKBAY-PY/1\\n');o.flush();"
    "exec(compile(s,'sickbay-action','exec'),{'__name__':'__main__','ARGS':a})"
)


def python_payload(script: str, args: Mapping[str, Any]) -> bytes:
    """What :data:`PY_LOADER` reads on stdin."""
    code = script.encode("utf-8")
    return b"%d\n" % len(code) + code + json.dumps(dict(args), ensure_ascii=True).encode()


def python_output(status: int | None, stdout: bytes, stderr: bytes, host: str) -> Any:
    """The script's JSON value, or an :class:`ExecError` saying why there is none."""
    at = stdout.find(PY_MAGIC, 0, MAX_NOISE + len(PY_MAGIC))
    if status != 0:
        tail = stderr.decode("utf-8", "replace").strip()[-STDERR_SHOWN:]
        where = "before the script started" if at < 0 else "in the script"
        what = "was killed" if status is None else f"exited with status {status}"
        raise ExecError(f"python3 on {host} {what} {where}" + (f": {tail}" if tail else ""))
    if at < 0:
        raise ExecError(f"python3 on {host} did not start the script")
    body = stdout[at + len(PY_MAGIC) :]
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise ExecError(f"the script on {host} did not print one JSON value") from None


async def _read_bounded(stream: Any, limit: int, what: str) -> bytes:
    """All of ``stream`` (an asyncio or asyncssh reader), at most ``limit`` bytes."""
    data = bytearray()
    while chunk := await stream.read(CHUNK):
        data += chunk
        if len(data) > limit:
            raise ExecError(f"{what}: more than {limit} bytes of output")
    return bytes(data)


async def _read_lines(stream: Any, on_line: Callable[[bytes], None]) -> bytes:
    """Hand each line of ``stream`` to ``on_line`` as it comes (a line over :data:`MAX_LINE`
    bytes is cut there, the rest of it dropped); returns b"" (nothing is kept)."""
    pending = bytearray()
    skipping = False  # inside the dropped rest of an over-long line
    while chunk := await stream.read(CHUNK):
        pending += chunk
        while (end := pending.find(b"\n")) >= 0:
            if not skipping:
                on_line(bytes(pending[: min(end, MAX_LINE)]))
            skipping = False
            del pending[: end + 1]
        if len(pending) > MAX_LINE:
            if not skipping:
                on_line(bytes(pending[:MAX_LINE]))
            skipping = True
            pending.clear()
    if pending and not skipping:
        on_line(bytes(pending))
    return b""


async def communicate(  # noqa: PLR0917
    stdin_writer: Any,
    stdout: Any,
    stderr: Any,
    data: bytes,
    what: str,
    on_line: Callable[[bytes], None] | None = None,
) -> tuple[bytes, bytes]:
    """Write ``data`` then EOF, read both outputs (bounded) at once; with ``on_line``, stdout
    goes to it line by line instead of being kept."""

    async def feed() -> None:
        try:
            if data:
                stdin_writer.write(data)
                with contextlib.suppress(AttributeError):  # asyncssh writers have no drain
                    await stdin_writer.drain()
        finally:
            with contextlib.suppress(OSError, BrokenPipeError, ConnectionResetError):
                if hasattr(stdin_writer, "write_eof"):
                    stdin_writer.write_eof()
                else:
                    stdin_writer.close()

    out, err, _ = await asyncio.gather(
        _read_bounded(stdout, MAX_STDOUT, what)
        if on_line is None
        else _read_lines(stdout, on_line),
        _read_bounded(stderr, MAX_STDERR, what),
        feed(),
    )
    return out, err


class LocalExec:
    """This machine (``host``: its hostname unless given)."""

    def __init__(self, name: str | None = None, *, python: str = sys.executable) -> None:
        self._host = name or socket.gethostname()
        self.python = python

    @property
    def host(self) -> str:
        return self._host

    async def run(
        self, argv: Sequence[str], *, stdin: bytes = b"", timeout: float = 60.0
    ) -> ExecResult:
        """Run ``argv`` (no shell). A timeout kills it and raises :class:`ExecError`."""
        return await self._run(argv, stdin, timeout, None)

    async def stream(
        self, argv: Sequence[str], on_line: Callable[[bytes], None], *, timeout: float = 60.0
    ) -> ExecResult:
        return await self._run(argv, b"", timeout, on_line)

    async def _run(
        self,
        argv: Sequence[str],
        stdin: bytes,
        timeout: float,
        on_line: Callable[[bytes], None] | None,
    ) -> ExecResult:
        if not argv:
            raise ExecError("nothing to run")
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise ExecError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
        try:
            out, err = await asyncio.wait_for(
                communicate(proc.stdin, proc.stdout, proc.stderr, stdin, argv[0], on_line),
                timeout,
            )
            await asyncio.wait_for(proc.wait(), timeout)
        except asyncio.TimeoutError:
            raise ExecError(f"{argv[0]} did not finish within {timeout:g} s (killed)") from None
        finally:
            if proc.returncode is None:
                # its own session: the whole group goes, children holding the pipes included
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(proc.wait(), 5.0)
        code = proc.returncode
        return ExecResult(None if code is None or code < 0 else code, out, err)

    async def run_python(
        self, script: str, args: Mapping[str, Any], *, timeout: float = 60.0
    ) -> Any:
        result = await self.run(
            [self.python, "-I", "-S", "-c", PY_LOADER],
            stdin=python_payload(script, args),
            timeout=timeout,
        )
        return python_output(result.status, result.stdout, result.stderr, self.host)

    async def fetch(self, remote: str, local: Path, *, limit: int | None = None) -> int:
        """Copy ``remote`` to ``local`` (created 0600); a file bigger than ``limit`` is cut at
        ``limit`` bytes (a return value equal to ``limit`` means: maybe truncated)."""
        return await asyncio.to_thread(copy_file, remote, local, limit)


def open_noatime(path: str) -> int:
    """A read-only descriptor that leaves the access time alone when the kernel lets us (owner
    or CAP_FOWNER); a plain one otherwise."""
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    noatime = getattr(os, "O_NOATIME", 0)
    if noatime:
        try:
            return os.open(path, flags | noatime)
        except OSError as exc:
            if exc.errno != errno.EPERM:
                raise
    return os.open(path, flags)


def copy_file(remote: str, local: Path, limit: int | None) -> int:
    try:
        src = open_noatime(remote)
    except OSError as exc:
        raise ExecError(f"cannot read {remote}: {exc.strerror or exc}") from None
    copied = 0
    try:
        local.parent.mkdir(parents=True, exist_ok=True)
        dst = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(dst, "wb") as out:
            while limit is None or copied < limit:
                want = CHUNK if limit is None else min(CHUNK, limit - copied)
                try:
                    chunk = os.read(src, want)
                except OSError as exc:
                    raise ExecError(f"cannot read {remote}: {exc.strerror or exc}") from None
                if not chunk:
                    break
                out.write(chunk)
                copied += len(chunk)
            out.flush()
            os.fsync(out.fileno())
    finally:
        os.close(src)
    return copied
