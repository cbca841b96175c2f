"""The client side of the collector's agent protocol (``backends.collector.Agent``).

How the agent runs on a target: the SSH command is :func:`agent_command` (``python3 -I -S -c
LOADER``). The loader writes :data:`LOADER_MAGIC` (whatever comes before it is noise from the
login shell and is skipped; the sh fallback writes ``backends.shell.SH_MAGIC`` instead), then
reads :func:`agent_payload` (the script's length on one line, then the script). The agent writes
:data:`AGENT_MAGIC`, then answers one request line per sample (:meth:`DeltaState.request`) with
one frame: a 4-byte big-endian length and a chunk of one persistent zlib stream,
which inflates to one JSON object. :class:`DeltaState` turns those objects back into collector
samples for :class:`backends.decode.Decoder`.

Everything here comes from the target and is hostile: sizes are bounded, and a response that
cannot be applied raises :class:`ProtocolError` (the caller asks for a full sample again).
"""

from __future__ import annotations

import json
import shlex
import zlib
from pathlib import Path
from typing import Any

from backends.collector import AGENT_FRAME, AGENT_MAGIC, SOCKET_KEY
from backends.shell import SH_AGENT

COLLECTOR_PY = Path(__file__).resolve().parent / "collector.py"
MAX_FRAME = 16 << 20  # compressed bytes of one response
MAX_INFLATED = 256 << 20  # what one response may inflate to
MAX_NOISE = 64 << 10  # bytes the login may print before the agent's magic
MAX_REASON = 300  # characters of an agent's error message kept
PYTHONS = ("/usr/bin/python3", "/usr/libexec/platform-python", "/bin/python3",
           "/usr/local/bin/python3")  # fmt: skip

# Runs in the target's python3: read N bytes of script from stdin, run it as the agent. The rest
# of stdin stays buffered in the same sys.stdin.buffer, where the agent reads its requests.
LOADER_MAGIC = b"SICKBAY-LOADER/1\n"  # the loader runs: now send the script
LOADER = (
    "import sys;o=sys.stdout.buffer;o.write(b'SICKBAY-LOADER/1\\n');o.flush();"
    "b=sys.stdin.buffer;n=int(b.readline(20));s=b.read(n);"
    "sys.argv=['sickbay-collector','--agent'];"
    "exec(compile(s,'sickbay-collector','exec'),{'__name__':'__main__'})"
)
FACTS_PY = COLLECTOR_PY.parent / "facts.py"
FACTS_MAGIC = b"SICKBAY-FACTS/1\n"
# Runs in the target's python3: read N bytes of script, run it (not as __main__).
FACTS_LOADER = (
    "import sys;b=sys.stdin.buffer;n=int(b.readline(20));"
    "exec(compile(b.read(n),'sickbay-facts','exec'),{'__name__':'sickbay_facts'})"
)
# Appended to facts.py: read the request line, write the magic, then the facts as zlib'd JSON.
FACTS_DRIVER = b"""
def _sickbay_serve():
    import zlib
    request = json.loads(sys.stdin.buffer.readline(1 << 20).decode("utf-8", "replace"))
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    facts = gather_facts("/", "/proc", request["probe_paths"], request["exe_probes"])
    data = json.dumps(facts, ensure_ascii=True, separators=(",", ":")).encode()
    out.write(b"SICKBAY-FACTS/1\\n" + zlib.compress(data, 6))
    out.flush()


_sickbay_serve()
"""
SHELLS = ("/bin/bash", "/bin/sh")  # for the fallback: bash keeps the NULs of a cmdline
NO_PYTHON = 127  # the exit status of agent_command when no python3 was found

__all__ = [
    "AGENT_FRAME",
    "AGENT_MAGIC",
    "AgentError",
    "DeltaState",
    "Inflater",
    "ProtocolError",
    "agent_command",
    "agent_payload",
]


class ProtocolError(ValueError):
    """The agent's output cannot be used (garbage, too big, or a delta that does not apply)."""


class AgentError(ProtocolError):
    """The agent answered with an error of its own."""


def agent_command(
    pythons: tuple[str, ...] = PYTHONS, shells: tuple[str, ...] | None = SHELLS
) -> str:
    """The POSIX sh command that runs the agent with the first python3 found at an absolute path
    (never one from the target's PATH), isolated: no site hooks, no PYTHON* variables. Without
    one, the sh fallback (``backends.shell``) in the first of ``shells`` found; with ``shells``
    None, it exits with :data:`NO_PYTHON`."""
    loader = shlex.quote(LOADER)
    tries = "".join(
        f"[ -x {shlex.quote(p)} ] && exec {shlex.quote(p)} -I -S -c {loader}; " for p in pythons
    )
    if shells:
        script = shlex.quote(SH_AGENT)
        tries += "".join(
            f"[ -x {shlex.quote(s)} ] && exec {shlex.quote(s)} -c {script}; " for s in shells
        )
    return f"{tries}exit {NO_PYTHON}"


def facts_command(pythons: tuple[str, ...] = PYTHONS) -> str:
    """Like :func:`agent_command`, for the one-shot facts gatherer (no sh fallback)."""
    loader = shlex.quote(FACTS_LOADER)
    tries = "".join(
        f"[ -x {shlex.quote(p)} ] && exec {shlex.quote(p)} -I -S -c {loader}; " for p in pythons
    )
    return f"{tries}exit {NO_PYTHON}"


def facts_payload(probe_paths: tuple[str, ...], exe_probes: tuple[tuple[int, str], ...]) -> bytes:
    """What the facts loader reads: facts.py with its driver, then the request line."""
    script = FACTS_PY.read_bytes() + FACTS_DRIVER
    request = {"probe_paths": list(probe_paths), "exe_probes": [list(p) for p in exe_probes]}
    return b"%d\n" % len(script) + script + json.dumps(request).encode() + b"\n"


def inflate_facts(output: bytes) -> object:
    """The gatherer's output (noise, the magic, zlib'd JSON) -> its JSON, bounded."""
    at = output.find(FACTS_MAGIC, 0, MAX_NOISE + len(FACTS_MAGIC))
    if at < 0:
        raise ProtocolError("the facts gatherer did not start")
    z = zlib.decompressobj()
    try:
        data = z.decompress(output[at + len(FACTS_MAGIC) :], MAX_INFLATED)
    except zlib.error as exc:
        raise ProtocolError(f"bad compressed facts: {exc}") from None
    if z.unconsumed_tail or not z.eof:
        raise ProtocolError("the facts are truncated or too big")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"the facts are not JSON: {type(exc).__name__}") from None


def agent_payload(script: bytes | None = None) -> bytes:
    """What the loader reads from stdin: the length of the script on a line, then the script."""
    if script is None:
        script = COLLECTOR_PY.read_bytes()
    return b"%d\n" % len(script) + script


class Inflater:
    """Inflates the agent's frames (chunks of one zlib stream) into JSON objects, bounded."""

    def __init__(self) -> None:
        self._z = zlib.decompressobj()

    def inflate(self, chunk: bytes) -> object:
        try:
            data = self._z.decompress(chunk, MAX_INFLATED)
        except zlib.error as exc:
            raise ProtocolError(f"bad compressed data: {exc}") from None
        if self._z.unconsumed_tail:
            raise ProtocolError(f"a response inflates to more than {MAX_INFLATED} bytes")
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise ProtocolError(f"a response is not JSON: {type(exc).__name__}") from None


def _process_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["pid"], row["start_time"])


def _socket_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[f] for f in SOCKET_KEY)


class _Table:
    """The rows of one kind (processes or sockets) as the client last knew them, by key."""

    def __init__(self, key: Any, width: int) -> None:
        self.key, self.width = key, width
        self.rows: dict[tuple[Any, ...], Any] = {}
        self.loose: list[object] = []  # entries without a usable key: the decoder reports them

    def keyed(self, entry: object) -> tuple[Any, ...] | None:
        try:
            key: tuple[Any, ...] = self.key(entry)
            hash(key)
        except (TypeError, KeyError):
            return None
        return key

    def load(self, entries: object) -> None:
        self.rows, self.loose = {}, []
        self.add(entries)

    def add(self, entries: object) -> None:
        for entry in _items(entries):
            key = self.keyed(entry)
            if key is None:
                self.loose.append(entry)
            else:
                self.rows[key] = entry

    def apply(self, change: object) -> None:
        if not isinstance(change, dict):
            raise ProtocolError("a change set is not an object")
        self.loose = []
        for item in _items(change.get("-")):
            key = _key_of(item, self.width)
            if self.rows.pop(key, None) is None:
                raise ProtocolError(f"delta removes an unknown entry {key!r}"[:MAX_REASON])
        for item in _items(change.get("~")):
            key = _key_of(item[:-1] if isinstance(item, list) else item, self.width)
            diff, old = item[-1], self.rows.get(key)
            if old is None or not isinstance(diff, dict) or not isinstance(old, dict):
                raise ProtocolError(f"delta changes an unknown entry {key!r}"[:MAX_REASON])
            row = {**old, **{k: v for k, v in diff.items() if k != "-"}}
            for name in _items(diff.get("-")):
                if isinstance(name, str):
                    row.pop(name, None)
            new_key = self.keyed(row)
            del self.rows[key]
            if new_key is None:
                self.loose.append(row)
            else:
                self.rows[new_key] = row
        self.add(change.get("+"))

    def entries(self) -> list[object]:
        return [*self.rows.values(), *self.loose]


def _items(value: object) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProtocolError(f"expected a list, got {type(value).__name__}")
    return value


def _key_of(item: object, width: int) -> tuple[Any, ...]:
    if not isinstance(item, list) or len(item) != width:
        raise ProtocolError("a delta entry has no proper key")
    try:
        key = tuple(item)
        hash(key)
    except TypeError:
        raise ProtocolError("a delta entry has an unhashable key") from None
    return key


class DeltaState:
    """What the client knows of the agent's last response: applies each response and gives the
    whole sample back (in ``backends.collector`` schema). Rows that did not change are the very
    same dicts as last time (the decoder then reuses its objects)."""

    def __init__(self) -> None:
        self.seq: int | None = None
        self._procs = _Table(_process_key, 2)
        self._socks = _Table(_socket_key, len(SOCKET_KEY))
        self._metrics: dict[str, Any] = {}
        self._last: dict[str, Any] = {}  # schema, hostname, errors: sent only when they change

    def reset(self) -> None:
        """Forget everything: the next request asks for a full sample."""
        self.__init__()  # type: ignore[misc]

    def request(self) -> bytes:
        return json.dumps({"op": "sample", "base": self.seq}).encode() + b"\n"

    def apply(self, message: object) -> dict[str, Any]:
        """The sample a response describes. Raises :class:`ProtocolError` (and forgets the state)
        if it is not a usable response."""
        try:
            return self._apply(message)
        except ProtocolError:
            self.reset()
            raise

    def _apply(self, msg: object) -> dict[str, Any]:
        if not isinstance(msg, dict):
            raise ProtocolError(f"a response is {type(msg).__name__}, not an object")
        if "error" in msg:
            raise AgentError(f"the agent failed: {str(msg['error'])[:MAX_REASON]}")
        seq = msg.get("seq")
        if type(seq) is not int:
            raise ProtocolError("a response has no seq")
        if msg.get("full") is True:
            metrics = msg.get("metrics")
            self._metrics = dict(metrics) if isinstance(metrics, dict) else {}
            self._procs.load(msg.get("processes"))
            self._socks.load(msg.get("sockets"))
        else:
            if self.seq is None or msg.get("base") != self.seq or seq != self.seq + 1:
                raise ProtocolError(f"a delta against {msg.get('base')!r} when we have {self.seq}")
            metrics = msg.get("m", {})
            if not isinstance(metrics, dict):
                raise ProtocolError("changed metrics are not an object")
            self._metrics = {**self._metrics, **metrics}
            for name in _items(msg.get("m-")):
                if isinstance(name, str):
                    self._metrics.pop(name, None)
            self._procs.apply(msg.get("p", {}))
            self._socks.apply(msg.get("s", {}))
        self.seq = seq
        for name in ("schema", "hostname", "errors", "hidden", "proc_mounts"):
            if name in msg or msg.get("full") is True:
                self._last[name] = msg.get(name)
        sample = {k: msg.get(k) for k in ("taken_at", "cpu_ms")}
        sample.update(self._last)
        sample["metrics"] = self._metrics
        sample["processes"] = self._procs.entries()
        sample["sockets"] = self._socks.entries()
        return sample
