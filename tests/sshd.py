"""A real OpenSSH sshd on 127.0.0.1 for the SSH source's tests.

Each ``sshd`` fixture runs its own server in the foreground (``-D -e``) with a temporary host key,
a temporary authorized_keys holding a freshly generated client key, its own pid file, on a free
port, for the current user; it is killed after the test. Tests skip only if no sshd binary exists
(``./dev test`` installs openssh-server).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
import pytest

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd")


def find_sshd() -> str | None:
    for path in (shutil.which("sshd"), *SSHD_CANDIDATES):
        if path and os.access(path, os.X_OK):
            return path
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(
        f"sshd did not listen on {port} within {timeout} s: {log.read_text()[-2000:]}"
    )


@dataclass
class Sshd:
    """One sshd; ``start``/``stop`` may be called again (same port, same keys)."""

    binary: str
    root: Path
    port: int = field(default_factory=free_port)
    user: str = field(default_factory=lambda: pwd.getpwuid(os.getuid()).pw_name)
    host: str = "127.0.0.1"
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.host_key_path = self.root / "ssh_host_ed25519_key"
        self.host_key.write_private_key(str(self.host_key_path))
        self.host_key_path.chmod(0o600)
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key_path = self.root / "id_ed25519"
        self.client_key.write_private_key(str(self.client_key_path))
        self.client_key_path.chmod(0o600)
        self.authorized_keys = self.root / "authorized_keys"
        self.authorized_keys.write_bytes(self.client_key.export_public_key())
        self.known_hosts = self.root / "known_hosts"
        self.known_hosts.write_text(self.known_hosts_line(self.host_key))
        self.config = self.root / "sshd_config"
        self.log = self.root / "sshd.log"
        self.config.write_text(
            f"Port {self.port}\n"
            "ListenAddress 127.0.0.1\n"
            f"HostKey {self.host_key_path}\n"
            f"PidFile {self.root / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {self.authorized_keys}\n"
            "UsePAM no\n"
            "StrictModes no\n"
            "PubkeyAuthentication yes\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\n"
            f"AllowUsers {self.user}\n"
            "PrintMotd no\n"
            "PrintLastLog no\n"
            "MaxStartups 100\n"
            "LogLevel VERBOSE\n"
        )

    def known_hosts_line(self, key: asyncssh.SSHKey) -> str:
        public = key.export_public_key("openssh").decode().split()
        return f"[{self.host}]:{self.port} {public[0]} {public[1]}\n"

    def start(self, timeout: float = 10.0) -> None:
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # its privilege-separation dir
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "-D", "-e", "-f", str(self.config.resolve())],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        _wait_listening(self.port, self.proc, self.log, timeout)

    def stop(self) -> None:
        """Kill sshd and every process under it (per-connection sshd run in their own sessions,
        so they are found by parentage, then killed together)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        for pid in [proc.pid, *descendants(proc.pid)]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def __enter__(self) -> Sshd:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def descendants(root: int) -> list[int]:
    """The pids of every live process under ``root``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
            ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.append(child)
                todo.append(child)
    return found


@pytest.fixture
def sshd_binary() -> str:
    binary = find_sshd()
    if binary is None:
        pytest.skip("OpenSSH sshd is not installed (./dev test installs openssh-server)")
    return binary


@pytest.fixture
def sshd(sshd_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A running sshd for the current user on 127.0.0.1; stopped after the test."""
    server = Sshd(sshd_binary, tmp_path_factory.mktemp("sshd"))
    with server:
        yield server


@pytest.fixture
def sshd2(sshd_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A second, independent sshd (a jump host)."""
    server = Sshd(sshd_binary, tmp_path_factory.mktemp("sshd2"))
    with server:
        yield server


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never says a word."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.held: list[socket.socket] = []
        self._stop = threading.Event()
        self.sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self.held:
            conn.close()
        self.sock.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()
