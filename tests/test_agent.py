"""The collector's agent mode and the client's delta state, locally (no SSH): the agent runs
as a subprocess started the way the SSH source starts it (the loader in ``python3 -I -S -c``,
the script on stdin)."""

from __future__ import annotations

import copy
import json
import os
import random
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.collector import AGENT_FRAME, AGENT_MAGIC, SOCKET_KEY, Agent
from backends.decode import Decoder
from backends.delta import (
    COLLECTOR_PY,
    LOADER,
    LOADER_MAGIC,
    NO_PYTHON,
    AgentError,
    DeltaState,
    Inflater,
    ProtocolError,
    agent_command,
    agent_payload,
)
from backends.shell import SH_AGENT, SH_MAGIC, ShellError, ShellMirror
from tests.planted import SLEEP, Planted
from tests.test_collector import _python36

LINUX = Path("/proc/self/stat").exists()
pytestmark = pytest.mark.skipif(not LINUX, reason="needs Linux /proc")


class LocalAgent:
    """The agent in a local subprocess, spoken to like the SSH source does."""

    def __init__(self, python: str = sys.executable, script: bytes | None = None) -> None:
        self.proc = subprocess.Popen(
            [python, "-I", "-S", "-c", LOADER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        assert self.stdout.read(len(LOADER_MAGIC)) == LOADER_MAGIC
        self.stdin.write(agent_payload(script))
        self.stdin.flush()
        self.noise = b""
        while not self.noise.endswith(AGENT_MAGIC):
            byte = self.stdout.read(1)
            assert byte, f"the agent ended: {self.proc.stderr.read()!r}"  # type: ignore[union-attr]
            self.noise += byte
        self.noise = self.noise[: -len(AGENT_MAGIC)]  # printed by the script before the agent ran
        self.inflater, self.state = Inflater(), DeltaState()
        self.sizes: list[int] = []

    def ask_raw(self, line: bytes) -> Any:
        self.stdin.write(line)
        self.stdin.flush()
        (length,) = AGENT_FRAME.unpack(self.stdout.read(AGENT_FRAME.size))
        self.sizes.append(AGENT_FRAME.size + length)
        return self.inflater.inflate(self.stdout.read(length))

    def sample(self) -> tuple[Any, dict[str, Any]]:
        message = self.ask_raw(self.state.request())
        return message, self.state.apply(message)

    def close(self) -> int:
        self.stdin.close()
        try:
            return self.proc.wait(timeout=10)
        finally:
            self.proc.kill()
            self.stdout.close()
            if self.proc.stderr is not None:
                self.proc.stderr.close()


@pytest.fixture
def agents() -> Iterator[Any]:
    started: list[LocalAgent] = []

    def start(**kw: Any) -> LocalAgent:
        agent = LocalAgent(**kw)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.close()


def pids(sample: dict[str, Any]) -> set[int]:
    return {p["pid"] for p in sample["processes"]}


def test_first_response_is_full_then_only_changes_travel(
    agents: Any, planted: Planted, tmp_path: Path
) -> None:
    agent = agents()
    first, sample = agent.sample()
    assert first["full"] is True and first["seq"] == 1
    assert sample["schema"] == "sickbay.collector/1" and sample["metrics"]["mem_total"] > 0
    assert agent.proc.pid in pids(sample)

    sleeper = planted.start([SLEEP, "300"])
    delta, sample = agent.sample()
    assert delta["full"] is False and delta["base"] == 1 and delta["seq"] == 2
    assert "processes" not in delta and "sockets" not in delta
    added = {p["pid"] for p in delta["p"].get("+", [])}
    assert sleeper.pid in added
    assert sleeper.pid in pids(sample)
    row = next(p for p in sample["processes"] if p["pid"] == sleeper.pid)
    assert row["cmdline"] == [SLEEP, "300"] and row["exe"] == os.path.realpath(SLEEP)

    sleeper.kill()
    sleeper.wait()
    delta, sample = agent.sample()
    assert [sleeper.pid, row["start_time"]] in delta["p"]["-"]
    assert sleeper.pid not in pids(sample)


def test_steady_state_is_small(agents: Any) -> None:
    agent = agents()
    for _ in range(5):
        agent.sample()
    first, steady = agent.sizes[0], sorted(agent.sizes[2:])[1]
    assert steady < first


def test_a_client_out_of_step_gets_a_full_sample(agents: Any) -> None:
    agent = agents()
    agent.sample()
    agent.state.reset()  # as after a delta that did not apply
    message, _ = agent.sample()
    assert message["full"] is True and message["seq"] == 2
    message = agent.ask_raw(b'{"op": "sample", "base": 1}\n')  # stale base
    assert message["full"] is True


def test_bad_requests_get_an_error_and_the_agent_goes_on(agents: Any) -> None:
    agent = agents()
    for line in (b"not json\n", b"[1, 2]\n", b'{"op": "rm -rf"}\n', b"\xff\xfe\n"):
        assert agent.ask_raw(line) == {"error": "unknown request"}
    message, _ = agent.sample()
    assert message["full"] is True
    with pytest.raises(AgentError):
        DeltaState().apply({"error": "x" * 10_000})


def test_the_agent_exits_on_eof(agents: Any) -> None:
    agent = agents()
    agent.sample()
    assert agent.close() == 0


def test_nothing_but_frames_reaches_stdout(agents: Any) -> None:
    """What the script prints before the agent starts comes before the magic (the client skips
    it); a stray print once it runs goes to stderr."""
    source = COLLECTOR_PY.read_text()
    hooks = (
        'print("LOGIN NOISE")\n'
        "_sample = Collector.sample\n"
        'Collector.sample = lambda self: (print("STRAY"), _sample(self))[1]\n'
    )
    script = source.replace('if __name__ == "__main__":', hooks + 'if __name__ == "__main__":')
    agent = agents(script=script.encode())
    assert agent.noise == b"LOGIN NOISE\n"
    for _ in range(3):
        message, _ = agent.sample()
        assert "seq" in message
    agent.stdin.close()
    assert agent.proc.wait(timeout=10) == 0
    assert b"STRAY" in agent.proc.stderr.read()  # type: ignore[union-attr]


def test_agent_runs_on_python_36(agents: Any) -> None:
    python36 = _python36()
    if python36 is None:
        pytest.skip("no Python 3.6 interpreter here")
    agent = agents(python=python36)
    for _ in range(3):
        _, sample = agent.sample()
    assert agent.proc.pid in pids(sample)


def test_agent_command_uses_absolute_pythons_and_reports_none() -> None:
    result = subprocess.run(
        ["/bin/sh", "-c", agent_command(("/nonexistent/python3",), None)],
        input=b"",
        capture_output=True,
        check=False,
        timeout=10,
    )
    assert result.returncode == NO_PYTHON
    command = agent_command()
    assert " -I -S -c " in command and "exec python3" not in command


# --- the delta protocol, in process -------------------------------------------------------------


class ScriptedCollector:
    """Returns prepared samples, as Collector.sample would."""

    def __init__(self, samples: list[dict[str, Any]]) -> None:
        self.samples = iter(samples)

    def sample(self) -> dict[str, Any]:
        return next(self.samples)


def _process(pid: int, start: float, **kw: Any) -> dict[str, Any]:
    row = {"pid": pid, "ppid": 1, "name": f"p{pid}", "state": "S", "uid": 0, "user": "root",
           "cpu_percent": None, "rss": 4096, "start_time": start, "exe": "/bin/x",
           "exe_deleted": False, "exe_memfd": False, "cmdline": ["x"], "cwd": "/",
           "kernel_thread": False, "threads": 1, "tty_nr": 0}  # fmt: skip
    row.update(kw)
    return row


def _socket(port: int, inode: int, **kw: Any) -> dict[str, Any]:
    row = {"proto": "tcp", "local_addr": "127.0.0.1", "local_port": port, "remote_addr": "0.0.0.0",
           "remote_port": 0, "state": "LISTEN", "inode": inode, "uid": 0, "pid": None,
           "process": ""}  # fmt: skip
    row.update(kw)
    return row


def _sample(procs: list[dict[str, Any]], socks: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    sample = {"schema": "sickbay.collector/1", "hostname": "h", "taken_at": 1.0, "cpu_ms": 1.0,
              "metrics": {"load1": 0.5, "mem_total": 100}, "processes": procs, "sockets": socks,
              "errors": []}  # fmt: skip
    sample.update(kw)
    return sample


def _by_key(rows: list[Any], key: tuple[str, ...]) -> dict[tuple[Any, ...], Any]:
    return {tuple(r[k] for k in key): r for r in rows}


def _same(got: dict[str, Any], want: dict[str, Any]) -> None:
    for name in ("schema", "hostname", "taken_at", "cpu_ms", "metrics", "errors"):
        assert got[name] == want[name], name
    pkey = ("pid", "start_time")
    assert _by_key(got["processes"], pkey) == _by_key(want["processes"], pkey)
    assert _by_key(got["sockets"], SOCKET_KEY) == _by_key(want["sockets"], SOCKET_KEY)


def _roundtrip(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each sample through Agent -> JSON -> one zlib stream -> Inflater -> DeltaState."""
    agent = Agent(ScriptedCollector(copy.deepcopy(samples)))  # type: ignore[arg-type]
    state, z, inflater, out = DeltaState(), zlib.compressobj(6), Inflater(), []
    for _ in samples:
        request = json.loads(state.request())
        data = json.dumps(agent.respond(request)).encode()
        message = inflater.inflate(z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH))
        out.append(state.apply(message))
    return out


def test_deltas_rebuild_every_sample() -> None:
    a, b, c = _process(10, 5.0), _process(11, 6.0), _process(12, 7.0)
    s1, s2 = _socket(22, 100), _socket(80, 200)
    samples = [
        _sample([a, b], [s1]),
        _sample([dict(a, cpu_percent=1.5), b, c], [s1, s2], hostname="renamed", taken_at=2.0),
        _sample([b, dict(c, cmdline=["y"])], [s2], errors=[{"what": "x", "reason": "y"}]),
        _sample([b, _process(12, 9.0)], [dict(s2, pid=11, process="p11")]),  # pid 12 reused
        _sample([], [], metrics={"load1": 0.7}),  # a metric vanished
    ]
    for got, want in zip(_roundtrip(samples), samples, strict=True):
        _same(got, want)


def test_unchanged_rows_stay_the_same_objects_for_the_decoder() -> None:
    a, b = _process(10, 5.0), _process(11, 6.0)
    got = _roundtrip([_sample([a, b], []), _sample([a, dict(b, rss=1)], [])])
    assert got[0]["processes"][0] is got[1]["processes"][0]
    assert got[1]["processes"][1]["rss"] == 1


_rows = st.lists(st.tuples(st.integers(1, 8), st.sampled_from([1.0, 2.0]), st.integers(0, 3)))


@given(st.lists(_rows, min_size=1, max_size=6), st.lists(st.integers(0, 5), max_size=6))
@settings(max_examples=60, deadline=None)
def test_deltas_rebuild_arbitrary_sequences(
    steps: list[list[tuple[int, float, int]]], ports: list[int]
) -> None:
    samples = []
    for i, step in enumerate(steps):
        procs = {(pid, start): _process(pid, start, rss=rss) for pid, start, rss in step}
        socks = [_socket(p, 1000 + p, state=random.choice(["LISTEN", "CLOSE"])) for p in ports[i:]]
        samples.append(_sample(list(procs.values()), socks, taken_at=float(i)))
    for got, want in zip(_roundtrip(samples), samples, strict=True):
        _same(got, want)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)
_message = st.fixed_dictionaries(
    {"seq": st.integers(0, 3) | _json, "full": st.booleans() | _json},
    optional={"base": st.integers(0, 3), "p": _json, "s": _json, "m": _json, "processes": _json,
              "sockets": _json, "metrics": _json, "errors": _json, "hostname": _json},
)  # fmt: skip


@given(st.lists(_message | _json, max_size=5))
@settings(max_examples=300, deadline=None)
def test_hostile_responses_raise_protocol_errors_only(messages: list[Any]) -> None:
    state, decoder = DeltaState(), Decoder()
    for message in messages:
        try:
            sample = state.apply(message)
        except ProtocolError:
            assert state.seq is None  # forgotten: the next request asks for everything
            continue
        decoder.decode(sample, "host", "ssh")  # the decoder copes with whatever is left


def test_inflater_refuses_bombs_and_garbage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("backends.delta.MAX_INFLATED", 1 << 20)
    z = zlib.compressobj(9)
    bomb = z.compress(b"[" + b" " * (2 << 20) + b"]") + z.flush(zlib.Z_SYNC_FLUSH)
    assert len(bomb) < 10_000
    with pytest.raises(ProtocolError, match="inflates to more"):
        Inflater().inflate(bomb)
    with pytest.raises(ProtocolError, match="compressed"):
        Inflater().inflate(b"\x00garbage")
    z = zlib.compressobj()
    with pytest.raises(ProtocolError, match="not JSON"):
        Inflater().inflate(z.compress(b"{nope") + z.flush(zlib.Z_SYNC_FLUSH))


# --- the sh fallback, locally -------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["/bin/bash", "/bin/sh"])
def test_sh_fallback_dump_mirrors_into_a_sample(shell: str) -> None:
    if not Path(shell).exists():
        pytest.skip(f"no {shell}")
    result = subprocess.run(
        [shell, "-c", SH_AGENT], input=b"sample\n", capture_output=True, timeout=60, check=True
    )
    assert result.stdout.startswith(SH_MAGIC) and result.stdout.endswith(b"E\n")
    mirror = ShellMirror()
    try:
        sample = mirror.sample(result.stdout[len(SH_MAGIC) : -2])
        assert 1 in pids(sample) and sample["metrics"]["mem_total"] > 0
        assert sample["errors"][0]["what"] == "sh fallback"
        assert not any(str(mirror.root) in e["what"] for e in sample["errors"])
        Decoder().decode(sample, "h", "ssh")
    finally:
        mirror.close()
    assert not mirror.root.exists()


@pytest.mark.parametrize(
    "dump",
    [
        b"F ../../etc/shadow 1\nx",
        b"F 12/exe 1\nx",
        b"F stat 99\nshort",
        b"F stat -1\n",
        b"no header at all" * 10,
        b"Q stat 1\nx",
    ],
)
def test_sh_fallback_refuses_hostile_dumps(dump: bytes) -> None:
    mirror = ShellMirror()
    try:
        with pytest.raises(ShellError):
            mirror.sample(dump)
        assert [p.name for p in mirror.root.iterdir()] != []  # nothing written outside
    finally:
        mirror.close()
