"""Real planted "malware" for detection tests: processes that behave like what the rules look
for, and fixtures that always kill them (and their files) afterwards.

Everything listens and connects on 127.0.0.1 only. Each planted process blocks reading its
stdin, so closing stdin or killing it ends it; fixtures do both and wait.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path

from backends.local import local_source
from domain.model import HostSnapshot, Process, Socket

BASH = shutil.which("bash") or "/bin/bash"
SLEEP = shutil.which("sleep") or "/bin/sleep"


class Planted:
    """Started processes, killed (process group and all) by :meth:`kill_all`."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.paths: list[Path] = []

    def start(
        self, args: list[str], ready: str | None = None, **kw: object
    ) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # no controlling terminal: tty_nr is 0, like a daemon
            **kw,  # type: ignore[arg-type]
        )
        self.procs.append(proc)
        if ready is not None:
            assert proc.stdout is not None
            line = proc.stdout.readline().decode(errors="replace").strip()
            assert line == ready, f"planted process did not start: {line!r}"
        return proc

    def kill_all(self) -> None:
        for proc in self.procs:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
            except OSError:
                pass
            try:
                import os  # noqa: PLC0415

                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover
                proc.kill()
            if proc.stdout is not None:
                proc.stdout.close()
        self.procs.clear()
        for path in self.paths:
            shutil.rmtree(path, ignore_errors=True)
        self.paths.clear()


def shm_dir(planted: Planted) -> Path:
    """A fresh hidden directory under /dev/shm (or /tmp without it), removed afterwards."""
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path("/tmp")
    path = base / f".sickbay-test-{time.monotonic_ns()}"
    path.mkdir()
    planted.paths.append(path)
    return path


def deleted_binary(planted: Planted, name: str = "kd") -> subprocess.Popen[bytes]:
    """A copy of sleep under /dev/shm, started, then deleted (a dropper's run-and-delete)."""
    directory = shm_dir(planted)
    exe = directory / name
    shutil.copy2(SLEEP, exe)
    exe.chmod(0o755)
    proc = planted.start([str(exe), "300"])
    _wait_exec(proc.pid, str(exe))
    exe.unlink()
    return proc


def _wait_exec(pid: int, exe: str) -> None:
    import os  # noqa: PLC0415

    for _ in range(200):
        try:
            if os.readlink(f"/proc/{pid}/exe") == exe:
                return
        except OSError:
            pass
        time.sleep(0.01)
    raise AssertionError(f"pid {pid} never ran {exe}")


def kworker_impostor(planted: Planted) -> subprocess.Popen[bytes]:
    """bash renaming itself kworker/0:2 (comm) with argv[0] "[kworker/0:2]", like ps shows
    kernel threads, then waiting on stdin (no child processes)."""
    script = "printf kworker/0:2 > /proc/self/comm; echo ready; read -r _"
    return planted.start(
        [BASH, "-c", f"exec -a '[kworker/0:2]' {BASH} -c '{script}'"], ready="ready"
    )


def listener(planted: Planted, port: int) -> subprocess.Popen[bytes]:
    code = (
        "import socket,sys\n"
        "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"s.bind(('127.0.0.1', {port})); s.listen(1)\n"
        "print('ready', flush=True); sys.stdin.read()\n"
    )
    return planted.start([sys.executable, "-c", code], ready="ready")


def port_free(port: int) -> bool:
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
    except OSError:
        return False
    finally:
        s.close()
    return True


class _StratumHandler(socketserver.StreamRequestHandler):
    """Just enough of a stratum pool: answers mining.subscribe and mining.authorize."""

    def handle(self) -> None:
        for raw in self.rfile:
            try:
                request = json.loads(raw)
            except ValueError:
                return
            method = request.get("method")
            if method == "mining.subscribe":
                result: object = [
                    [["mining.notify", "ae6812eb4cd7735a302a8a9dd95cf71f"]],
                    "08000002",
                    4,
                ]
            elif method == "mining.authorize":
                result = True
            else:
                result = None
            reply = {"id": request.get("id"), "result": result, "error": None}
            self.wfile.write((json.dumps(reply) + "\n").encode())


class FakePool:
    def __init__(self, port: int) -> None:
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", port), _StratumHandler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


MINER_CLIENT = (
    "import json,socket,sys\n"
    "host, port = sys.argv[2].rsplit('/', 1)[-1].rsplit(':', 1)\n"
    "s = socket.create_connection((host, int(port)))\n"
    "f = s.makefile('rwb')\n"
    "for i, (m, p) in enumerate([('mining.subscribe', ['xmrig/6.21']), "
    "('mining.authorize', ['4' + 'A' * 94, 'x'])], 1):\n"
    "    f.write((json.dumps({'id': i, 'method': m, 'params': p}) + '\\n').encode()); f.flush()\n"
    "    assert json.loads(f.readline())['id'] == i\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
)


def miner(planted: Planted, pool: FakePool) -> subprocess.Popen[bytes]:
    """A 'miner' that talks stratum to the fake pool, with the pool's stratum URI in argv."""
    url = f"stratum+tcp://127.0.0.1:{pool.port}"
    return planted.start(
        [sys.executable, "-c", MINER_CLIENT, "-o", url, "--donate-level", "1"], ready="ready"
    )


def reverse_shell(planted: Planted, port: int) -> subprocess.Popen[bytes]:
    """bash holding a TCP connection to a local listener through /dev/tcp, no terminal."""
    script = f"exec 3<>/dev/tcp/127.0.0.1/{port}; echo ready; read -r _"
    return planted.start([BASH, "-c", script], ready="ready")


def local_snapshot() -> HostSnapshot:
    """One real snapshot of this machine through the local source."""

    async def take() -> HostSnapshot:
        source = local_source()
        try:
            return await source.sample()
        finally:
            await source.close()

    return asyncio.run(take())


def process_of(snapshot: HostSnapshot, pid: int) -> Process:
    for p in snapshot.processes:
        if p.pid == pid:
            return p
    raise AssertionError(f"pid {pid} is not in the snapshot")


def sockets_of(snapshot: HostSnapshot, pid: int) -> list[Socket]:
    return [s for s in snapshot.sockets if s.pid == pid]
