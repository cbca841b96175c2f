"""The SSH source: a remote host, read by the collector running in memory on it.

:class:`SshSource` connects with asyncssh (host keys strictly checked against known_hosts),
starts the collector as a long-lived agent in the target's python3 (``-I -S``, the script sent
over the channel: nothing is written to the target's disk, nothing from its PATH, site hooks or
PYTHON* variables is used) and asks it for one sample per :meth:`SshSource.sample`: one round
trip on the open channel; after the first sample only changes travel (``backends.delta``).

Every await is bounded. A failure leaves the source in a :class:`SshState` with a reason of our
own (:attr:`SshSource.state`, :attr:`SshSource.reason`) and raises a :class:`SshError` carrying
both. A dropped connection is reconnected on the next sample, with exponential backoff between
failed attempts. An unknown host key raises :class:`UnknownHostKey` (with its SHA256
fingerprint) until the operator calls :meth:`SshSource.accept_host_key`; a changed one raises
:class:`HostKeyChanged` and is never accepted by sickbay (fix known_hosts by hand).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

from backends.decode import Decoder
from backends.delta import (
    AGENT_FRAME,
    AGENT_MAGIC,
    LOADER_MAGIC,
    MAX_FRAME,
    MAX_NOISE,
    NO_PYTHON,
    PYTHONS,
    SHELLS,
    AgentError,
    DeltaState,
    Inflater,
    ProtocolError,
    agent_command,
    agent_payload,
    facts_command,
    facts_payload,
    inflate_facts,
)
from backends.facts_decode import decode_facts
from backends.shell import SH_MAGIC, ShellError, ShellMirror
from domain.facts import HostFacts
from domain.model import HostSnapshot
from domain.source import SourceError

STDERR_KEPT = 2048  # bytes of the agent's stderr kept for error messages


class SshState(enum.Enum):
    """Where a host stands. The value is what the UI shows."""

    CONNECTING = "connecting"  # no sample yet, trying
    LIVE = "live"  # the last sample succeeded
    STALE = "stale"  # there was a sample, the last attempt failed (see last_sample_at)
    UNREACHABLE = "unreachable"  # never sampled and cannot be reached (or cannot run the agent)
    AUTH_FAILED = "authentication failed"
    HOST_KEY_UNKNOWN = "host key unknown"  # waiting for the operator: accept_host_key()
    HOST_KEY_REFUSED = "host key refused"  # changed or revoked key: never connected
    NEEDS_PASSPHRASE = "passphrase needed"  # an encrypted client key: provide_passphrase()
    CLOSED = "closed"


class SshError(SourceError):
    """A sample failed; ``state`` is the state it left the source in, ``reason`` says why."""

    def __init__(self, state: SshState, reason: str) -> None:
        super().__init__(f"{state.value}: {reason}")
        self.state, self.reason = state, reason


class UnknownHostKey(SshError):
    """The host presented a key known_hosts does not know. Show ``fingerprint``; accept it only
    on an explicit decision (:meth:`SshSource.accept_host_key`)."""

    def __init__(self, host: str, port: int, key: asyncssh.SSHKey) -> None:
        self.host, self.port, self.key = host, port, key
        self.fingerprint: str = key.get_fingerprint("sha256")
        self.key_type: str = key.get_algorithm()
        super().__init__(
            SshState.HOST_KEY_UNKNOWN,
            f"the host key of {_host_port(host, port)} is not in known_hosts: "
            f"{self.key_type} {self.fingerprint}. Check it out of band before accepting it.",
        )

    @property
    def known_hosts_line(self) -> str:
        """The line that records this key in an OpenSSH known_hosts file."""
        return known_hosts_line(self.host, self.port, self.key)


class HostKeyChanged(SshError):
    """The host presented a key that differs from (or is revoked in) known_hosts: refused."""

    def __init__(self, host: str, port: int, presented: str | None, known: Sequence[str]) -> None:
        self.host, self.port = host, port
        self.fingerprint, self.known = presented, tuple(known)
        where = _host_port(host, port)
        super().__init__(
            SshState.HOST_KEY_REFUSED,
            f"THE HOST KEY OF {where} HAS CHANGED (or is revoked): it presents "
            f"{presented or 'a key we could not read'}, known_hosts has "
            f"{', '.join(known) or 'it revoked'}. Someone may be intercepting the connection, "
            "or the host was reinstalled. sickbay will not connect. If the change is legitimate, "
            f"remove the old key (ssh-keygen -R '{_known_hosts_name(host, port)}') and reconnect.",
        )


class PassphraseNeeded(SshError):
    """A client key is encrypted and no (or a wrong) passphrase is known for it: waits for
    :meth:`SshSource.provide_passphrase` (the UI asks; the keyring may know it)."""

    def __init__(self, key_path: Path, *, wrong: bool = False) -> None:
        self.key_path, self.wrong = key_path, wrong
        what = "the passphrase given is wrong for" if wrong else "a passphrase is needed for"
        super().__init__(SshState.NEEDS_PASSPHRASE, f"{what} the encrypted key {key_path}")


DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa", "id_ed25519_sk", "id_ecdsa_sk")


def passphrase_opens(key_path: Path, passphrase: str) -> bool:
    """Whether ``passphrase`` decrypts the private key at ``key_path`` (checked before it is
    remembered anywhere)."""
    try:
        asyncssh.read_private_key(str(key_path), passphrase)
    except (OSError, asyncssh.KeyImportError, asyncssh.KeyEncryptionError):
        return False
    return True


def _host_port(host: str, port: int) -> str:
    return host if port == 22 else f"{host}:{port}"


def _known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def known_hosts_line(host: str, port: int, key: asyncssh.SSHKey) -> str:
    algorithm, blob = key.export_public_key("openssh").decode().split()[:2]
    return f"{_known_hosts_name(host, port)} {algorithm} {blob}\n"


@dataclass(frozen=True)
class SshTarget:
    """Where and how to connect. ``client_keys`` None: asyncssh's default (~/.ssh/id_*);
    ``use_agent``: also offer the keys of the ssh-agent at $SSH_AUTH_SOCK; ``ssh_config``:
    OpenSSH client config files to apply (HostName, User, Port, IdentityFile, ProxyJump...);
    ``known_hosts``: the files to verify host keys against (and where an accepted key is
    recorded: the first)."""

    host: str
    port: int | None = None  # None: from ssh_config, else 22
    user: str | None = None
    name: str | None = None
    client_keys: tuple[Path, ...] | None = None
    passphrase: str | None = None
    use_agent: bool = True
    known_hosts: tuple[Path, ...] = field(
        default_factory=lambda: (Path("~/.ssh/known_hosts").expanduser(),)
    )
    ssh_config: tuple[Path, ...] = ()
    jump: SshTarget | None = None  # a bastion to tunnel through (its own keys and known_hosts)

    @property
    def display(self) -> str:
        if self.name:
            return self.name
        user = f"{self.user}@" if self.user else ""
        return user + _host_port(self.host, self.port or 22)


class _Agent:
    """One connection with the collector agent running on it."""

    def __init__(
        self,
        conn: asyncssh.SSHClientConnection,
        proc: Any,
        jump: asyncssh.SSHClientConnection | None = None,
    ) -> None:
        self.conn, self.proc, self.jump = conn, proc, jump
        self.mirror: ShellMirror | None = None  # the sh fallback's /proc, on the bastion
        self.stderr = b""
        self.inflater = Inflater()
        self.drain = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        """Read the agent's stderr as it comes (unread, it would stall the channel), keep the
        tail for error messages."""
        with contextlib.suppress(Exception):
            while chunk := await self.proc.stderr.read(4096):
                self.stderr = (self.stderr + chunk)[-STDERR_KEPT:]

    async def close(self, timeout: float) -> None:
        self.drain.cancel()
        if self.mirror is not None:
            self.mirror.close()
        for conn in (self.conn, self.jump):
            if conn is not None:
                conn.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.wait_closed(), timeout)


class SshSource:
    """A :class:`domain.source.Source` for one host over SSH. Not thread-safe; samples are
    serialised. ``backoff``: (first, max) seconds between failed connection attempts;
    ``script``: what runs as the agent (default: backends/collector.py); ``pythons``: where to
    look for python3 on the target (absolute paths, first found wins); ``shells``: where to
    look for a shell for the fallback collector without python3 (None: no fallback)."""

    def __init__(
        self,
        target: SshTarget,
        *,
        connect_timeout: float = 10.0,
        sample_timeout: float = 20.0,
        backoff: tuple[float, float] = (1.0, 60.0),
        script: bytes | None = None,
        pythons: tuple[str, ...] = PYTHONS,
        shells: tuple[str, ...] | None = SHELLS,
        facts_timeout: float = 120.0,
    ) -> None:
        self.target = target
        self.connect_timeout, self.sample_timeout = connect_timeout, sample_timeout
        self.backoff = backoff
        self._payload = agent_payload(script)
        self._command = agent_command(pythons, shells)
        self._facts_command = facts_command(pythons)
        self.facts_timeout = facts_timeout
        self._state, self._reason = SshState.CONNECTING, "not connected yet"
        self._error: SshError | None = None  # a host key error: repeated until resolved
        self._agent: _Agent | None = None
        self._delta = DeltaState()
        self._decoder = Decoder()
        self._lock = asyncio.Lock()
        self._failures = 0  # connection attempts failed in a row
        self._retry_at = 0.0  # monotonic time before which no new attempt is made
        self._accepted: dict[tuple[str, int], list[asyncssh.SSHKey]] = {}
        self._unknown: UnknownHostKey | None = None
        self._unknown_hop = target  # the hop (target or jump host) whose key is pending
        self._passphrases: dict[Path, str] = {}  # given by the operator, by key path
        self._needs: PassphraseNeeded | None = None
        # Looks a passphrase up (the system keyring) before anyone is asked; set by the caller.
        self.passphrase_lookup: Callable[[Path], str | None] | None = None
        self._known: list[str] = []  # fingerprints known_hosts has for the host (last lookup)
        self._known_revoked = False
        self._asked: tuple[str, int] | None = None  # (host, port) known_hosts was asked about
        self.last_sample_at: float | None = None  # epoch seconds of the last good sample
        self.first_response_bytes: int | None = None  # wire bytes of the last full response
        self.last_response_bytes: int | None = None
        self.round_trip_ms: float | None = None  # of the last sample

    # --- what the UI reads --------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.target.display

    @property
    def state(self) -> SshState:
        return self._state

    @property
    def reason(self) -> str:
        """Why the source is in its state (our words; never text from the host)."""
        return self._reason

    @property
    def pending_host_key(self) -> UnknownHostKey | None:
        """The unknown host key waiting for the operator's decision, if any."""
        return self._unknown

    def accept_host_key(self, fingerprint: str, *, record: bool = True) -> None:
        """Trust the pending unknown host key, which must have this SHA256 fingerprint (what the
        operator was shown). ``record``: append it to the first known_hosts file."""
        pending = self._unknown
        if pending is None or pending.fingerprint != fingerprint:
            raise ValueError("that is not the host key waiting for a decision")
        self._accepted.setdefault((pending.host, pending.port), []).append(pending.key)
        if record and self._unknown_hop.known_hosts:
            path = self._unknown_hop.known_hosts[0]
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a") as f:
                f.write(pending.known_hosts_line)
        self._unknown = self._error = None
        self.retry_now()

    @property
    def pending_passphrase(self) -> PassphraseNeeded | None:
        """The encrypted client key waiting for its passphrase, if any."""
        return self._needs

    def passphrase_request(self) -> tuple[Path, bool] | None:
        needs = self._needs
        return None if needs is None else (needs.key_path, needs.wrong)

    def provide_passphrase(self, key_path: Path, passphrase: str) -> None:
        """The passphrase for the encrypted key ``key_path`` (kept in memory only); the next
        sample connects with it."""
        self._passphrases[key_path] = passphrase
        if self._needs is not None and self._needs.key_path == key_path:
            self._needs = self._error = None
        self.retry_now()

    def retry_now(self) -> None:
        """Forget the backoff (and a refused host key): the next sample connects."""
        self._retry_at, self._failures = 0.0, 0
        if self._error is not None and self._unknown is None and self._needs is None:
            self._error = None

    # --- Source -------------------------------------------------------------------------------

    async def sample(self) -> HostSnapshot:
        async with self._lock:
            if self._state is SshState.CLOSED:
                raise SshError(SshState.CLOSED, "the source is closed")
            if self._error is not None:
                raise self._error
            if self._agent is None:
                wait = self._retry_at - time.monotonic()
                if wait > 0:
                    raise SshError(self._state, f"{self._reason}; retrying in {wait:.0f} s")
                await self._connect()
            return await self._sample()

    async def facts(
        self, probe_paths: tuple[str, ...], exe_probes: tuple[tuple[int, str], ...]
    ) -> HostFacts:
        """The host facts (``backends.facts`` run once in the target's python3, in memory, on a
        second channel of the sample connection, which is opened first if need be). Samples go
        on meanwhile. Needs python3 on the target."""
        async with self._lock:
            if self._state is SshState.CLOSED:
                raise SshError(SshState.CLOSED, "the source is closed")
            if self._error is not None:
                raise self._error
            if self._agent is None:
                await self._connect()
            assert self._agent is not None
            conn = self._agent.conn
        payload = facts_payload(probe_paths, exe_probes)
        try:
            output, status = await asyncio.wait_for(
                self._run_facts(conn, payload), self.facts_timeout
            )
        except TimeoutError:
            raise SshError(self._state, f"no host facts within {self.facts_timeout:g} s") from None
        except (OSError, asyncssh.Error) as exc:
            raise SshError(self._state, f"cannot gather host facts: {_describe(exc)}") from None
        if status == NO_PYTHON:
            raise SshError(self._state, "host facts need python3, which the host does not have")
        if len(output) > MAX_FRAME:
            raise SshError(self._state, "the host facts were too big")
        try:
            data = inflate_facts(output)
        except ProtocolError as exc:
            raise SshError(self._state, f"bad host facts: {exc}") from None
        return await asyncio.to_thread(decode_facts, data, self.name)

    async def connection(self) -> asyncssh.SSHClientConnection:
        """The sample connection (opened first if need be; a dropped one is reopened), for
        response actions (``backends.hostexec_ssh``): each command gets its own channel."""
        async with self._lock:
            if self._state is SshState.CLOSED:
                raise SshError(SshState.CLOSED, "the source is closed")
            if self._error is not None:
                raise self._error
            if self._agent is not None and self._agent.conn.is_closed():
                await self._drop()
            if self._agent is None:
                await self._connect()
            assert self._agent is not None
            return self._agent.conn

    async def _run_facts(
        self, conn: asyncssh.SSHClientConnection, payload: bytes
    ) -> tuple[bytes, int | None]:
        """Run the gatherer: (its stdout, at most MAX_FRAME + 1 bytes; its exit status)."""
        proc: Any = await conn.create_process(
            self._facts_command, encoding=None, stderr=asyncssh.DEVNULL
        )
        try:
            proc.stdin.write(payload)
            proc.stdin.write_eof()
            output = b""
            while len(output) <= MAX_FRAME and (chunk := await proc.stdout.read(1 << 16)):
                output += chunk
            if len(output) <= MAX_FRAME:
                await proc.wait_closed()
            return output, proc.exit_status
        finally:
            proc.close()

    async def close(self) -> None:
        async with self._lock:
            self._state, self._reason = SshState.CLOSED, "closed"
            await self._drop()

    # --- internals ----------------------------------------------------------------------------

    def _fail(self, error: SshError) -> SshError:
        self._state, self._reason = error.state, error.reason
        return error

    def _failed_state(self) -> SshState:
        return SshState.STALE if self.last_sample_at is not None else SshState.UNREACHABLE

    async def _drop(self) -> None:
        agent, self._agent = self._agent, None
        self._delta = DeltaState()  # not reset(): a timed-out thread may still hold the old one
        if agent is not None:
            await agent.close(self.connect_timeout)

    def _trusted_keys(self, hop: SshTarget) -> Any:
        """An asyncssh known_hosts callback for one hop: the keys its known_hosts files have for
        the host, plus those the operator accepted for that very host and port."""
        self._known = []
        self._known_revoked = False
        self._asked = None

        def trusted(host: str, addr: str, port: int | None) -> Any:
            keys: list[asyncssh.SSHKey] = []
            cas: list[asyncssh.SSHKey] = []
            revoked: list[asyncssh.SSHKey] = []
            for path in hop.known_hosts:
                if not path.is_file():
                    continue
                try:
                    found = asyncssh.read_known_hosts(str(path)).match(host, addr, port)
                except (OSError, ValueError):
                    continue  # unreadable or garbled: trusts nothing
                keys += found[0]
                cas += found[1]
                revoked += found[2]
            self._known = list(dict.fromkeys(k.get_fingerprint("sha256") for k in keys + cas))
            self._known_revoked = bool(revoked)
            self._asked = (host, port or 22)  # what known_hosts is asked about (after ssh_config)
            accepted = self._accepted.get((host, port or 22), [])
            return [*keys, *accepted], cas, revoked

        return trusted

    async def _open(
        self, hop: SshTarget, tunnel: asyncssh.SSHClientConnection | None
    ) -> asyncssh.SSHClientConnection:
        """One authenticated connection (through ``tunnel`` if given), or an SshError."""
        what = "" if hop is self.target else f"jump host {hop.display}: "
        try:
            client_keys = await asyncio.to_thread(self._client_keys, hop)
            return await asyncio.wait_for(
                asyncssh.connect(
                    hop.host,
                    hop.port or (),
                    tunnel=tunnel or (),
                    username=hop.user or (),
                    known_hosts=self._trusted_keys(hop),
                    client_keys=client_keys,
                    passphrase=hop.passphrase,
                    agent_path=() if hop.use_agent else None,
                    config=[str(p) for p in hop.ssh_config] or None,
                    connect_timeout=self.connect_timeout,
                ),
                self.connect_timeout + 1.0,
            )
        except asyncssh.HostKeyNotVerifiable:
            error: SshError = await self._host_key_error(hop, tunnel)
            self._error = error
            raise self._fail(error) from None
        except asyncssh.PermissionDenied as exc:
            locked = self._locked_default_key(hop)
            if locked is not None:  # the host may want the encrypted key we could not offer
                raise self._wait_for_passphrase(PassphraseNeeded(locked)) from None
            reason = f"{what}the host refused our keys ({exc.reason})"
            raise self._backoff(SshState.AUTH_FAILED, reason) from None
        except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
            reason = f"{what}cannot load the client key: {exc}"
            raise self._backoff(SshState.AUTH_FAILED, reason) from None
        except TimeoutError:
            reason = f"{what}no SSH answer within {self.connect_timeout:g} s"
            raise self._backoff(self._failed_state(), reason) from None
        except (OSError, asyncssh.Error) as exc:
            reason = f"{what}cannot connect: {_describe(exc)}"
            raise self._backoff(self._failed_state(), reason) from None

    def _client_keys(self, hop: SshTarget) -> Any:
        """The keys to offer: explicit key files are loaded here, so an encrypted one is known
        by its path (PassphraseNeeded) instead of failing inside asyncssh; with the default
        keys, the unencrypted ones and the encrypted ones we have a passphrase for."""
        if hop.client_keys is None:
            loaded = [k for path in self._default_keys() if (k := self._load(path, hop, False))]
            return loaded or ()
        return [self._load(Path(path).expanduser(), hop, True) for path in hop.client_keys]

    @staticmethod
    def _default_keys() -> list[Path]:
        home = Path("~/.ssh").expanduser()
        return [home / name for name in DEFAULT_KEYS if (home / name).is_file()]

    def _load(self, path: Path, hop: SshTarget, required: bool) -> Any:
        """A private key (None: an encrypted default key without passphrase, skipped). The
        keyring lookup is asked only for a key that turns out to be encrypted."""
        passphrase = self._passphrases.get(path) or hop.passphrase
        looked_up = False
        while True:
            try:
                return asyncssh.read_private_key(str(path), passphrase)
            except asyncssh.KeyEncryptionError:
                self._passphrases.pop(path, None)
                if looked_up:  # a stale passphrase in the keyring: ask, do not say "wrong"
                    raise self._wait_for_passphrase(PassphraseNeeded(path)) from None
                raise self._wait_for_passphrase(PassphraseNeeded(path, wrong=True)) from None
            except asyncssh.KeyImportError as exc:
                encrypted = "assphrase" in str(exc)
                if encrypted and not looked_up and self.passphrase_lookup is not None:
                    looked_up = True
                    passphrase = self.passphrase_lookup(path)
                    if passphrase is not None:
                        self._passphrases[path] = passphrase
                        continue
                if required and encrypted:
                    raise self._wait_for_passphrase(PassphraseNeeded(path)) from None
                if required:
                    raise
                return None
            except OSError:
                if required:
                    raise
                return None

    def _locked_default_key(self, hop: SshTarget) -> Path | None:
        """An encrypted default key we could not offer (no passphrase known), if any."""
        if hop.client_keys is not None:
            return None
        for path in self._default_keys():
            if path in self._passphrases:
                continue
            try:
                asyncssh.read_private_key(str(path))
            except asyncssh.KeyImportError as exc:
                if "assphrase" in str(exc):
                    return path
            except (OSError, asyncssh.KeyEncryptionError):
                continue
        return None

    def _wait_for_passphrase(self, needed: PassphraseNeeded) -> SshError:
        self._needs = self._error = needed
        return self._fail(needed)

    async def _connect(self) -> None:
        if self.last_sample_at is None:
            self._state, self._reason = SshState.CONNECTING, "connecting"
        jump = None
        if self.target.jump is not None:
            jump = await self._open(self.target.jump, None)
        try:
            conn = await self._open(self.target, jump)
        except BaseException:
            if jump is not None:
                jump.close()
            raise
        try:
            self._agent = await asyncio.wait_for(self._start_agent(conn, jump), self.sample_timeout)
        except BaseException as exc:
            conn.close()
            if jump is not None:
                jump.close()
            if isinstance(exc, SshError):
                raise self._backoff(exc.state, exc.reason) from None
            if isinstance(exc, TimeoutError | OSError | asyncssh.Error | ProtocolError):
                reason = f"cannot start the collector: {_describe(exc)}"
                raise self._backoff(self._failed_state(), reason) from None
            raise
        self._failures = 0

    def _backoff(self, state: SshState, reason: str) -> SshError:
        first, most = self.backoff
        delay = min(most, first * 2**self._failures)
        self._failures += 1
        self._retry_at = time.monotonic() + delay
        return self._fail(SshError(state, reason))

    async def _host_key_error(
        self, hop: SshTarget, tunnel: asyncssh.SSHClientConnection | None
    ) -> SshError:
        try:
            key = await asyncio.wait_for(
                asyncssh.get_server_host_key(
                    hop.host,
                    hop.port or (),
                    tunnel=tunnel or (),
                    config=[str(p) for p in hop.ssh_config] or None,
                ),
                self.connect_timeout,
            )
        except (TimeoutError, OSError, asyncssh.Error):
            key = None
        if self._known or self._known_revoked or key is None:
            presented = key.get_fingerprint("sha256") if key is not None else None
            host, port = self._asked or (hop.host, hop.port or 22)
            return HostKeyChanged(host, port, presented, self._known)
        host, port = self._asked or (hop.host, hop.port or 22)
        self._unknown, self._unknown_hop = UnknownHostKey(host, port, key), hop
        return self._unknown

    async def _start_agent(
        self, conn: asyncssh.SSHClientConnection, jump: asyncssh.SSHClientConnection | None
    ) -> _Agent:
        proc = await conn.create_process(self._command, encoding=None)
        agent = _Agent(conn, proc, jump)
        try:
            magic, rest = await self._await_magic(agent, (LOADER_MAGIC, SH_MAGIC), MAX_NOISE)
            if rest:
                raise ProtocolError("the collector said something before it was asked")
            if magic == SH_MAGIC:
                agent.mirror = await asyncio.to_thread(ShellMirror)
                return agent
            proc.stdin.write(self._payload)
            _, rest = await self._await_magic(agent, (AGENT_MAGIC,), 0)
            if rest:
                raise ProtocolError("the collector said something before it was asked")
        except BaseException:
            await agent.close(self.connect_timeout)
            raise
        return agent

    async def _await_magic(
        self, agent: _Agent, magics: tuple[bytes, ...], noise: int
    ) -> tuple[bytes, bytes]:
        """Read until one of ``magics``, skipping at most ``noise`` bytes before it: (the magic,
        what came after it)."""
        seen = b""
        while True:
            for magic in magics:
                if magic in seen:
                    return magic, seen.split(magic, 1)[1]
            if len(seen) > noise + max(map(len, magics)):
                raise ProtocolError("the login printed too much before the collector started")
            chunk = await agent.proc.stdout.read(4096)
            if not chunk:
                await asyncio.sleep(0.05)  # let the exit status and stderr arrive
                status = agent.proc.exit_status
                if status == NO_PYTHON:
                    reason = "neither python3 nor a shell for the fallback on the host"
                    raise SshError(self._failed_state(), reason)
                raise ProtocolError(f"the collector exited (status {status}) before starting")
            seen += chunk

    async def _sample(self) -> HostSnapshot:
        agent = self._agent
        assert agent is not None
        try:
            sample = await asyncio.wait_for(self._round_trip(agent), self.sample_timeout)
        except (TimeoutError, OSError, asyncssh.Error, asyncio.IncompleteReadError) as exc:
            await self._drop()
            if isinstance(exc, TimeoutError):
                why = f"no answer within {self.sample_timeout:g} s"
            elif isinstance(exc, asyncio.IncompleteReadError):
                why = "the connection or the collector ended"
            else:
                why = _describe(exc)
            self._retry_at = 0.0  # reconnect at once on the next sample; back off after that
            raise self._fail(SshError(self._failed_state(), f"lost the collector: {why}")) from None
        except AgentError as exc:
            raise self._fail(SshError(self._failed_state(), str(exc))) from None
        except ProtocolError as exc:
            await self._drop()
            self._retry_at = 0.0
            raise self._fail(
                SshError(self._failed_state(), f"bad collector output: {exc}")
            ) from None
        snapshot = await asyncio.to_thread(self._decoder.decode, sample, self.name, "ssh")
        self.last_sample_at = time.time()
        self._state, self._reason = SshState.LIVE, "live"
        return snapshot

    async def _round_trip(self, agent: _Agent) -> dict[str, Any]:
        """One request and its response, inflated and applied to the last state. The CPU work
        (zlib, JSON, the delta) runs in a thread: with a hundred hosts it would otherwise hold
        the event loop, and the operator's keys, a few milliseconds per host."""
        if agent.mirror is not None:
            return await self._shell_round_trip(agent, agent.mirror)
        t0 = time.perf_counter()
        delta = self._delta  # a thread left running by a timeout keeps to this one
        chunk, size = await self._exchange(agent)
        message, sample = await asyncio.to_thread(_apply, agent, delta, chunk)
        if sample is None:  # a delta that does not apply: the state was reset, ask for all
            chunk, size = await self._exchange(agent)
            message, sample = await asyncio.to_thread(_apply, agent, delta, chunk, True)
            assert sample is not None
        self.round_trip_ms = (time.perf_counter() - t0) * 1000.0
        self.last_response_bytes = size
        if isinstance(message, dict) and message.get("full") is True:
            self.first_response_bytes = size
        return sample

    async def _shell_round_trip(self, agent: _Agent, mirror: ShellMirror) -> dict[str, Any]:
        t0 = time.perf_counter()
        agent.proc.stdin.write(b"sample\n")
        buf, pos = bytearray(), 0

        async def more() -> None:
            chunk = await agent.proc.stdout.read(65536)
            if not chunk:
                raise asyncio.IncompleteReadError(bytes(buf), None)
            buf.extend(chunk)
            if len(buf) > MAX_FRAME:
                raise ProtocolError(f"a dump of more than {MAX_FRAME} bytes")

        while True:  # records until "E\n" (see backends.shell); the sizes make it bounded
            while (end := buf.find(b"\n", pos, pos + 80)) < 0:
                if len(buf) - pos > 80:
                    raise ProtocolError("a garbled record header")
                await more()
            header = bytes(buf[pos:end])
            if header == b"E":
                break
            try:
                length = int(header.rsplit(b" ", 1)[-1])
            except ValueError:
                raise ProtocolError("a garbled record header") from None
            if not 0 <= length <= MAX_FRAME:
                raise ProtocolError("a record with a bad length")
            while len(buf) < end + 1 + length:
                await more()
            pos = end + 1 + length
        if len(buf) > end + 1:
            raise ProtocolError("the fallback said more than it was asked")
        try:
            sample = await asyncio.to_thread(mirror.sample, bytes(buf[:pos]))
        except ShellError as exc:
            raise ProtocolError(str(exc)) from None
        self.round_trip_ms = (time.perf_counter() - t0) * 1000.0
        self.first_response_bytes = self.last_response_bytes = len(buf)
        return sample

    async def _exchange(self, agent: _Agent) -> tuple[bytes, int]:
        agent.proc.stdin.write(self._delta.request())
        header = await agent.proc.stdout.readexactly(AGENT_FRAME.size)
        (length,) = AGENT_FRAME.unpack(header)
        if length > MAX_FRAME:
            raise ProtocolError(f"a response of {length} bytes (at most {MAX_FRAME})")
        chunk = await agent.proc.stdout.readexactly(length)
        return chunk, AGENT_FRAME.size + length


def _apply(
    agent: _Agent, delta: DeltaState, chunk: bytes, last_try: bool = False
) -> tuple[object, dict[str, Any] | None]:
    """Inflate a response and apply it: (the message, the sample it makes; None: a delta that
    does not apply to our state)."""
    message = agent.inflater.inflate(chunk)
    try:
        return message, delta.apply(message)
    except AgentError:
        raise
    except ProtocolError:
        if last_try:
            raise
        return message, None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncssh.DisconnectError):
        return exc.reason or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
