"""The /proc collector against real processes and sockets, and a fake, hostile /proc tree."""

from __future__ import annotations

import ast
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backends import collector as collector_module
from backends.collector import FULL_EVERY, MAX_ERRORS, Collector, hex_addr

REPO = Path(__file__).resolve().parent.parent
COLLECTOR_PY = REPO / "backends" / "collector.py"
LINUX = Path("/proc/self/stat").exists()
needs_linux = pytest.mark.skipif(not LINUX, reason="needs Linux /proc")

# A child that holds sockets on 127.0.0.1 / ::1 on request, one command per stdin line.
CHILD = r"""
import socket, sys, threading
held = []
def serve(s):
    while True:
        conn, _ = s.accept()
        held.append(conn)
        conn.sendall(b"!")  # the client waits for this: the accepted end exists
def listen(family, host):
    s = socket.socket(family)
    s.bind((host, 0))
    s.listen(16)
    held.append(s)
    threading.Thread(target=serve, args=(s,), daemon=True).start()
    return s.getsockname()[1]
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "listen":
        out = listen(socket.AF_INET, "127.0.0.1")
    elif cmd[0] == "listen6":
        out = listen(socket.AF_INET6, "::1")
    elif cmd[0] in ("connect", "connect6"):
        host = "127.0.0.1" if cmd[0] == "connect" else "::ffff:127.0.0.1"
        family = socket.AF_INET if cmd[0] == "connect" else socket.AF_INET6
        c = socket.socket(family)
        c.connect((host, int(cmd[1])))
        c.recv(1)
        held.append(c)
        out = c.getsockname()[1]
    elif cmd[0] == "udp":
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        held.append(u)
        out = u.getsockname()[1]
    else:
        out = "?"
    print(out, flush=True)
"""
HOSTILE_COMM = "a) (b \x1b[/x]"  # a ')' and spaces in the name, an escape: 12 bytes (< 16)
HOSTILE_ARGS: list[str | bytes] = [
    "[/x]",
    "[@click=app.quit]",
    "\x1b]0;PWN\x07",
    "\u202e",
    "",  # an empty argument between two NULs
    "two words",
    b"\xff\xfebad-utf8",
    "挖矿",
]
HOSTILE_CODE = (
    "import sys; open('/proc/self/comm', 'w').write(sys.argv[1]); "
    "print('ok', flush=True); sys.stdin.read()"
)


class Child:
    """A real child process, driven over stdin; always killed by the fixture that made it."""

    def __init__(self, args: list[Any] | None, **popen: Any) -> None:
        args = args or [sys.executable, "-I", "-S", "-c", CHILD]
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1, **popen
        )
        self.pid = self.proc.pid

    def ask(self, command: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return str(self.proc.stdout.readline()).strip()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def spawn() -> Iterator[Any]:
    children: list[Child] = []

    def start(args: list[Any] | None = None, **popen: Any) -> Child:
        child = Child(args, **popen)
        children.append(child)
        return child

    try:
        yield start
    finally:
        for child in children:
            child.kill()


def by_pid(sample: dict[str, Any], pid: int) -> dict[str, Any]:
    matches = [p for p in sample["processes"] if p["pid"] == pid]
    assert len(matches) == 1, f"pid {pid} not in the sample"
    entry: dict[str, Any] = matches[0]
    return entry


def sockets_on(sample: dict[str, Any], port: int) -> list[dict[str, Any]]:
    return [s for s in sample["sockets"] if port in (s["local_port"], s["remote_port"])]


# --- the file itself ----------------------------------------------------------------------------


def test_collector_imports_only_the_standard_library() -> None:
    tree = ast.parse(COLLECTOR_PY.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            assert node.module is not None
            imported.add(node.module.split(".")[0])
    assert imported, "parsed no imports at all?"
    assert imported <= sys.stdlib_module_names, imported - sys.stdlib_module_names
    assert not imported & {"backends", "domain", "tui", "widgets", "screens", "psutil"}


def test_collector_is_python_36_compatible() -> None:
    vermin = Path(sys.executable).parent / "vermin"
    if not vermin.exists():
        pytest.skip("vermin is not installed")
    result = subprocess.run(
        [str(vermin), "-t=3.6-", "--no-tips", "--violations", str(COLLECTOR_PY)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@needs_linux
def test_collector_runs_isolated_as_a_script() -> None:
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(COLLECTOR_PY), "--once"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    sample = json.loads(result.stdout)
    assert sample["schema"] == "sickbay.collector/1"
    assert any(p["pid"] == 1 for p in sample["processes"])
    assert sample["metrics"]["mem_total"] > 0


def _python36() -> str | None:
    candidates = [shutil.which("python3.6") or ""]
    candidates += sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.6*/bin/python3"))
    for candidate in candidates:
        if candidate:
            ok = subprocess.run([candidate, "-c", "pass"], capture_output=True, check=False)
            if ok.returncode == 0:
                return candidate
    return None


@needs_linux
def test_collector_runs_on_python_36_from_stdin() -> None:
    """The way the SSH source will run it: ``python3 -I -S -`` with the file on stdin."""
    python36 = _python36()
    if python36 is None:
        pytest.skip("no Python 3.6 interpreter here")
    result = subprocess.run(
        [python36, "-I", "-S", "-", "--bench", "2", "10"],
        input=COLLECTOR_PY.read_bytes(),
        capture_output=True,
        check=True,
        timeout=120,
    )
    figures = json.loads(result.stdout)
    assert figures["python"].startswith("3.6")
    assert figures["nprocs"] > 0 and figures["first_ms"] > 0


def test_main_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert collector_module.main(["--bench", "x", "1"]) == 2
    assert collector_module.main([]) == 2
    assert "usage" in capsys.readouterr().err


# --- real processes -----------------------------------------------------------------------------


@needs_linux
def test_metrics_are_sane_and_rates_start_on_the_second_sample() -> None:
    collector = Collector()
    first = collector.sample()
    json.dumps(first)  # JSON-serialisable
    m = first["metrics"]
    for rate in ("cpu_total", "cpu_iowait", "cpu_steal", "net_rx_bytes_s", "net_tx_packets_s"):
        assert m[rate] is None, rate
    assert m["mem_total"] > 0 and 0 <= m["mem_available"] <= m["mem_total"]
    assert m["cpu_count"] >= 1 and m["uptime_s"] > 0 and m["load1"] >= 0
    assert first["cpu_ms"] > 0
    assert all(p["cpu_percent"] is None for p in first["processes"])
    time.sleep(0.2)
    second = collector.sample()["metrics"]
    for key in ("cpu_total", "cpu_iowait", "cpu_steal"):
        assert 0.0 <= second[key] <= 100.0, key
    for key in ("net_rx_bytes_s", "net_tx_bytes_s", "net_rx_packets_s", "net_tx_packets_s"):
        assert second[key] >= 0.0, key
    if m["shm_total"] is not None:
        assert 0 <= m["shm_used"] <= m["shm_total"]


@needs_linux
def test_own_process_is_described_correctly() -> None:
    sample = Collector().sample()
    me = by_pid(sample, os.getpid())
    assert me["ppid"] == os.getppid()
    assert me["uid"] == os.geteuid()
    assert me["exe"] == os.path.realpath(sys.executable)
    assert me["cwd"] == os.getcwd()
    raw = Path("/proc/self/cmdline").read_bytes()[:-1].split(b"\0")
    assert me["cmdline"] == [arg.decode("utf-8", "backslashreplace") for arg in raw]
    assert me["rss"] > 0 and me["threads"] >= 1 and not me["kernel_thread"]
    assert abs(me["start_time"] - time.time()) < 24 * 3600
    kernel = [p for p in sample["processes"] if p["kernel_thread"]]
    if kernel:  # none in some containers
        assert all(p["cmdline"] == [] and p["exe"] == "" for p in kernel)


@needs_linux
def test_deleted_executable(spawn: Any, tmp_path: Path) -> None:
    exe = tmp_path / "sleep"
    shutil.copy("/bin/sleep", exe)
    child = spawn([str(exe), "60"])
    deadline = time.monotonic() + 5
    while os.readlink(f"/proc/{child.pid}/exe") != str(exe) and time.monotonic() < deadline:
        time.sleep(0.01)  # until the exec is done
    exe.unlink()
    entry = by_pid(Collector().sample(), child.pid)
    assert entry["exe"] == str(exe)
    assert entry["exe_deleted"] is True
    assert entry["exe_memfd"] is False
    assert entry["cmdline"] == [str(exe), "60"]


@needs_linux
def test_hostile_name_and_command_line_come_back_literally(spawn: Any) -> None:
    args = [sys.executable, "-I", "-S", "-c", HOSTILE_CODE, HOSTILE_COMM, *HOSTILE_ARGS]
    child = spawn(args)
    assert child.proc.stdout.readline().strip() == "ok"
    collector = Collector()
    entry = by_pid(collector.sample(), child.pid)
    assert entry["name"] == HOSTILE_COMM
    expected = [a.decode("utf-8", "backslashreplace") if isinstance(a, bytes) else a for a in args]
    assert expected[-2] == "\\xff\\xfebad-utf8"
    assert entry["cmdline"] == expected
    json.loads(json.dumps(entry))  # still serialisable
    time.sleep(0.05)
    again = by_pid(collector.sample(), child.pid)  # through the cached path
    assert again["name"] == HOSTILE_COMM and again["cmdline"] == expected


@needs_linux
@pytest.mark.parametrize("netlink", [True, False], ids=["netlink", "proc-net"])
def test_listening_and_connected_sockets_map_to_their_processes(spawn: Any, netlink: bool) -> None:
    server, client = spawn(), spawn()
    port = int(server.ask("listen"))
    client_port = int(client.ask(f"connect {port}"))
    udp_port = int(server.ask("udp"))
    sample = Collector(netlink=netlink).sample()
    rows = sockets_on(sample, port)
    listen = [r for r in rows if r["state"] == "LISTEN"]
    assert len(listen) == 1
    assert listen[0]["pid"] == server.pid and listen[0]["proto"] == "tcp"
    assert listen[0]["local_addr"] == "127.0.0.1"
    assert listen[0]["process"] == by_pid(sample, server.pid)["name"] != ""
    assert listen[0]["uid"] == os.geteuid() and listen[0]["inode"] > 0
    established = {
        (r["local_port"], r["remote_port"]): r for r in rows if r["state"] == "ESTABLISHED"
    }
    assert established[(client_port, port)]["pid"] == client.pid
    assert established[(port, client_port)]["pid"] == server.pid  # the accepted end
    udp = [r for r in sockets_on(sample, udp_port) if r["proto"] == "udp"]
    assert len(udp) == 1 and udp[0]["state"] == "UNCONN" and udp[0]["pid"] == server.pid
    assert udp[0]["remote_addr"] == "0.0.0.0" and udp[0]["remote_port"] == 0


@needs_linux
def test_netlink_and_proc_net_agree(spawn: Any) -> None:
    child = spawn()
    port = int(child.ask("listen"))
    child.ask(f"connect {port}")
    child.ask("udp")
    try:
        port6 = int(child.ask("listen6"))
    except ValueError:
        port6 = None  # no IPv6 here
    mapped_port = int(child.ask(f"connect6 {port}"))  # a v6 socket talking to 127.0.0.1

    def mine(sample: dict[str, Any]) -> set[tuple[Any, ...]]:
        return {tuple(sorted(r.items())) for r in sample["sockets"] if r["pid"] == child.pid}

    via_netlink = Collector(netlink=True).sample()
    via_files = Collector(netlink=False).sample()
    assert mine(via_netlink) == mine(via_files)
    assert len(mine(via_files)) == 5 + (port6 is not None) + 1  # + the connect6's accepted end
    mapped = [r for r in via_files["sockets"] if r["local_port"] == mapped_port]
    assert mapped[0]["proto"] == "tcp6" and mapped[0]["local_addr"] == "::ffff:127.0.0.1"
    if port6 is not None:
        v6 = [r for r in via_files["sockets"] if r["local_port"] == port6]
        assert v6[0]["local_addr"] == "::1" and v6[0]["state"] == "LISTEN"


@needs_linux
def test_incremental_sampling_finds_new_owners(spawn: Any) -> None:
    old = spawn()
    collector = Collector()
    collector.sample()
    new = spawn()  # a process that appears after the first sample
    new_port = int(new.ask("listen"))
    old_port = int(old.ask("listen"))  # a known process opening a new socket
    time.sleep(0.02)
    sample = collector.sample()
    assert [r["pid"] for r in sockets_on(sample, new_port) if r["state"] == "LISTEN"] == [new.pid]
    assert [r["pid"] for r in sockets_on(sample, old_port) if r["state"] == "LISTEN"] == [old.pid]
    assert by_pid(sample, new.pid)["cpu_percent"] is None  # first time seen
    assert by_pid(sample, old.pid)["cpu_percent"] is not None


@needs_linux
def test_unchanged_processes_keep_their_dict(spawn: Any) -> None:
    child = spawn()
    child.ask("udp")  # started, and now idle
    collector = Collector()
    collector.sample()
    time.sleep(0.02)
    second = by_pid(collector.sample(), child.pid)
    time.sleep(0.02)
    third = by_pid(collector.sample(), child.pid)
    if (child.pid + collector.n - 1) % FULL_EVERY:  # not its turn for the full refresh
        assert third is second
    assert third["cpu_percent"] == 0.0


@needs_linux
def test_a_non_dumpable_process_gets_its_real_user(spawn: Any) -> None:
    """The files in /proc/PID of a non-dumpable process belong to root, but not /proc/PID."""
    python = "/usr/bin/python3"
    if os.geteuid() != 0 or not Path(python).exists():
        pytest.skip("needs root and a system python3")
    code = (
        "import ctypes, sys; ctypes.CDLL(None).prctl(4, 0, 0, 0, 0); "  # PR_SET_DUMPABLE 0
        "print('ok', flush=True); sys.stdin.read()"
    )
    child = spawn([python, "-I", "-S", "-c", code], user=65534, group=65534)
    assert child.ask("") == "ok"
    assert os.stat(f"/proc/{child.pid}/fd").st_uid == 0  # it is non-dumpable
    entry = by_pid(Collector().sample(), child.pid)
    assert entry["uid"] == 65534
    assert entry["user"] != "root"


@needs_linux
def test_permission_errors_are_counted_not_listed() -> None:
    """Run the collector as nobody (needs root): other users' fds, exe and cwd are unreadable."""
    python = "/usr/bin/python3"
    if os.geteuid() != 0 or not Path(python).exists():
        pytest.skip("needs root and a system python3")
    result = subprocess.run(
        [python, "-I", "-S", "-", "--once"],
        input=COLLECTOR_PY.read_bytes(),
        capture_output=True,
        user=65534,
        group=65534,
        extra_groups=[],
        cwd="/",
        check=True,
        timeout=60,
    )
    sample = json.loads(result.stdout)
    denied = [e for e in sample["errors"] if e["reason"] == "permission denied"]
    whats = {e["what"].split(" of ")[0] for e in denied}
    assert "fd" in whats and "exe" in whats
    assert all(" of " in e["what"] and e["what"].endswith("processes") for e in denied)
    assert len(sample["errors"]) <= MAX_ERRORS + 1
    root = by_pid(sample, 1)
    assert root["exe"] == "" and root["uid"] == 0


# --- a fake, hostile /proc ------------------------------------------------------------------------

GOOD_STAT = (
    "{pid} ({comm}) S 1 {pid} {pid} 34816 {pid} 4194560 100 0 0 0 {utime} 5 0 0 20 0 2 0 "
    "{start} 10000000 {rss} 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0"
)
TCP_HEADER = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
    "inode\n"
)
TCP_ROW = (
    "   {n}: {local} {remote} {state} 00000000:00000000 00:00000000 00000000  1000        0 "
    "{inode} 1 0000000000000000 100 0 0 10 0\n"
)


def write(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)


def fake_process(proc: Path, pid: int, stat: str | bytes, sockets: tuple[int, ...] = ()) -> None:
    base = proc / str(pid)
    write(base / "stat", stat)
    write(base / "cmdline", b"/usr/bin/fake\0--flag\0\0last\0")
    (base / "exe").symlink_to("/usr/bin/fake (deleted)")
    (base / "cwd").symlink_to("/srv")
    (base / "fd").mkdir()
    (base / "fd" / "0").symlink_to("/dev/null")
    for n, inode in enumerate(sockets, start=3):
        (base / "fd" / str(n)).symlink_to(f"socket:[{inode}]")


@pytest.fixture
def fake_host(tmp_path: Path) -> dict[str, Any]:
    proc, sys_root, etc = tmp_path / "proc", tmp_path / "sys", tmp_path / "etc"
    write(proc / "stat", "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 100 0 100 800 0 0 0 0 0 0\n"
          "intr 1 2 3\nbtime 1700000000\nprocs_running 1\n")  # fmt: skip
    write(proc / "loadavg", "0.50 0.25 0.10 1/100 4242\n")
    write(proc / "meminfo", "MemTotal:  2048 kB\nMemAvailable: 1024 kB\ngarbage line\n"
          "SwapTotal: x kB\nSwapFree: 0 kB\n\xff\xfe: 12 kB\n")  # fmt: skip
    write(proc / "uptime", "1234.50 100.00\n")
    write(proc / "sys/kernel/hostname", "evil\x1b]0;host\x07\n")
    write(proc / "diskstats",
          "   8 0 vda 100 0 0 200 100 0 0 300 0 0 0\n   8 1 vda1 100 0 0 200 100 0 0 300 0 0 0\n"
          "   7 0 loop0 50 0 0 50 0 0 0 0 0 0 0\n")  # fmt: skip
    write(proc / "net/dev", "Inter-|hdr\n face |hdr\n    lo: 5 5 0 0 0 0 0 0 5 5 0 0 0 0 0 0\n"
          "  eth0:1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n")  # fmt: skip
    tcp = TCP_HEADER
    tcp += TCP_ROW.format(
        n=0, local="0100007F:0016", remote="00000000:0000", state="0A", inode=7001
    )
    tcp += TCP_ROW.format(
        n=1, local="0100007F:0016", remote="0200007F:9C40", state="01", inode=7002
    )
    tcp += TCP_ROW.format(n=2, local="0100007F:0016", remote="0200007F:9C41", state="06", inode=0)
    tcp += TCP_ROW.format(n=3, local="ZZZZ007F:0016", remote="00000000:0000", state="0A", inode=1)
    tcp += "   4: 0100007F:0017 00000000:0000 0A 00000000:00000000\n"  # truncated
    tcp += TCP_ROW.format(
        n=5, local="0100007F:0018", remote="00000000:0000", state="0A", inode=7003
    )
    write(proc / "net/tcp", tcp)
    write(proc / "net/tcp6", TCP_HEADER + TCP_ROW.format(
        n=0, local="0000000000000000FFFF00000100007F:0050", remote="0" * 32 + ":0000", state="0A",
        inode=7004) + "\xff\xfe\x00 binary junk\n")  # fmt: skip
    write(proc / "net/udp", TCP_HEADER + TCP_ROW.format(
        n=0, local="00000000:0035", remote="00000000:0000", state="07", inode=7005))  # fmt: skip
    write(proc / "net/udp6", TCP_HEADER)
    fake_process(proc, 100, GOOD_STAT.format(pid=100, comm="sshd", utime=10, start=500,
                                             rss=10), sockets=(7001, 7002))  # fmt: skip
    if os.geteuid() == 0:
        os.chown(proc / "100", 1001, 1001)
    fake_process(proc, 102, GOOD_STAT.format(pid=102, comm="x) (y ) z", utime=20, start=600,
                                             rss=20), sockets=(7003,))  # fmt: skip
    fake_process(proc, 101, "101 (garbage) S this is not a stat line")
    fake_process(proc, 103, b"\xff\xfe\x00\x01 junk (((")
    fake_process(proc, 104, GOOD_STAT.format(pid=104, comm="nonnum", utime="x", start=1, rss=1))
    fake_process(proc, 105, "")
    (proc / "self").mkdir()
    # One mount hides pid 4242 from listings (a bind mount over its /proc entry), one is normal.
    write(proc / "self/mountinfo",
          f"22 1 0:5 / /proc rw - proc proc rw\n"
          f"99 22 8:1 /empty {proc}/4242 rw - ext4 /dev/sda1 rw\n"
          f"100 22 0:6 / {proc}/sys/fs/binfmt_misc rw - binfmt_misc x rw\n")  # fmt: skip
    (proc / "notapid").mkdir()
    (sys_root / "block").mkdir(parents=True)
    (sys_root / "block" / "vda").symlink_to("../devices/pci0000:00/0000:00:05.0/virtio2/block/vda")
    (sys_root / "block" / "loop0").symlink_to("../devices/virtual/block/loop0")
    write(etc / "passwd", "root:x:0:0:root:/root:/bin/bash\nalice\x1b[31m:x:1001:1001::/:/bin/sh\n"
          "broken line\nmallory:x:1001:1001::/:/bin/sh\n")  # fmt: skip
    return {"proc_root": str(proc), "sys_root": str(sys_root), "etc_root": str(etc),
            "shm_path": str(tmp_path / "no-shm")}  # fmt: skip


def test_fake_tree_with_garbage_is_parsed_and_reported(fake_host: dict[str, Any]) -> None:
    collector = Collector(**fake_host)
    sample = collector.sample()
    json.dumps(sample)
    assert sample["hostname"] == "evil\x1b]0;host\x07"
    m = sample["metrics"]
    assert (m["cpu_count"], m["load1"], m["load15"], m["uptime_s"]) == (1, 0.5, 0.1, 1234.5)
    assert (m["mem_total"], m["mem_available"], m["swap_total"]) == (2048 * 1024, 1024 * 1024, None)
    assert m["shm_used"] is None and m["shm_total"] is None  # no such mount: not an error
    pids = sorted(p["pid"] for p in sample["processes"])
    assert pids == [100, 102]
    sshd, odd = by_pid(sample, 100), by_pid(sample, 102)
    assert odd["name"] == "x) (y ) z"  # split at the last ')'
    assert odd["ppid"] == 1 and odd["state"] == "S" and odd["threads"] == 2
    if os.geteuid() == 0:  # the fake /proc/100 was given to uid 1001
        assert sshd["uid"] == 1001 and sshd["user"] == "alice\x1b[31m"  # the first name wins
    else:
        assert sshd["uid"] == os.geteuid()
    assert sshd["exe"] == "/usr/bin/fake" and sshd["exe_deleted"] and sshd["cwd"] == "/srv"
    assert sshd["cmdline"] == ["/usr/bin/fake", "--flag", "", "last"]
    assert sshd["start_time"] == 1700000000 + 500 / os.sysconf("SC_CLK_TCK")
    assert sshd["tty_nr"] == 34816 and sshd["rss"] == 10 * os.sysconf("SC_PAGE_SIZE")
    socks = {s["inode"]: s for s in sample["sockets"]}
    assert sorted(socks) == [7001, 7002, 7003, 7004, 7005]  # no inode 0, no garbage
    assert socks[7001]["state"] == "LISTEN" and socks[7001]["local_port"] == 22
    assert socks[7002]["remote_addr"] == "127.0.0.2" and socks[7002]["remote_port"] == 40000
    assert (socks[7001]["pid"], socks[7002]["pid"], socks[7003]["pid"]) == (100, 100, 102)
    assert socks[7003]["process"] == "x) (y ) z"
    assert socks[7004]["local_addr"] == "::ffff:127.0.0.1" and socks[7004]["proto"] == "tcp6"
    assert socks[7004]["pid"] is None and socks[7004]["process"] == ""
    assert socks[7005]["state"] == "UNCONN" and socks[7005]["uid"] == 1000
    whats = " | ".join(f"{e['what']}: {e['reason']}" for e in sample["errors"])
    for expected in ("pid 101 stat", "pid 103 stat", "pid 104 stat", "pid 105 stat",
                     "net/tcp: 2 bad lines", "net/tcp6: 1 bad lines"):  # fmt: skip
        assert expected in whats, whats
    assert "self" not in whats and "notapid" not in whats
    assert sample["proc_mounts"] == [f"{fake_host['proc_root']}/4242"]


def test_fake_tree_rates_use_whole_disks_only(fake_host: dict[str, Any]) -> None:
    collector = Collector(**fake_host)
    collector.sample()
    proc = Path(fake_host["proc_root"])
    write(proc / "stat", "cpu  150 0 150 850 40 0 0 10 0 0\ncpu0 1 1 1 1\nbtime 1700000099\n")
    write(proc / "diskstats",
          "   8 0 vda 110 0 0 230 120 0 0 370 0 0 0\n   8 1 vda1 999 0 0 999 999 0 0 999 0 0 0\n"
          "   7 0 loop0 5000 0 0 5000 0 0 0 0 0 0 0\n")  # fmt: skip
    write(proc / "net/dev", "a\nb\n  eth0: 3000 30 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n")
    sample = collector.sample()
    m = sample["metrics"]
    assert m["cpu_total"] == pytest.approx(100 * 110 / 200)  # user+system+steal of 200 ticks
    assert m["cpu_iowait"] == pytest.approx(20.0) and m["cpu_steal"] == pytest.approx(5.0)
    assert m["disk_latency_ms"] == pytest.approx((30 + 70) / 30)  # vda only: 10 reads, 20 writes
    assert m["disk_iops"] > 0 and m["net_rx_bytes_s"] > 0 and m["net_tx_bytes_s"] == 0
    # btime is kept from the first sample, so start times do not jitter
    assert by_pid(sample, 100)["start_time"] == 1700000000 + 500 / os.sysconf("SC_CLK_TCK")


def test_fake_tree_missing_files_never_raise(tmp_path: Path) -> None:
    collector = Collector(str(tmp_path / "none"), str(tmp_path / "none"), str(tmp_path / "none"))
    for _ in range(2):
        sample = collector.sample()
        assert sample["processes"] == [] and sample["sockets"] == []
        assert sample["metrics"]["mem_total"] is None and sample["metrics"]["cpu_total"] is None
        assert sample["errors"], "missing files are reported"


def test_fake_tree_unknown_inodes_do_not_rescan_every_sample(fake_host: dict[str, Any]) -> None:
    collector = Collector(**fake_host)
    scans: list[int] = []
    original = collector.scan_fds

    def counting(p: Any, pid: int, base: bytes) -> None:
        scans.append(pid)
        original(p, pid, base)

    collector.scan_fds = counting  # type: ignore[method-assign]
    collector.sample()
    assert sorted(scans) == [100, 102]  # the first sample scans everyone
    proc = Path(fake_host["proc_root"])
    for n in range(1, 4):  # sshd runs every sample; inode 7004 never has an owner
        scans.clear()
        stat = GOOD_STAT.format(pid=100, comm="sshd", utime=10 + n, start=500, rss=10)
        write(proc / "100" / "stat", stat)
        sample = collector.sample()
        refresh = [pid for pid in (100, 102) if (pid + collector.n - 1) % FULL_EVERY == 0]
        assert sorted(scans) == sorted(refresh), n  # only the rotating refresh, if due
        assert by_pid(sample, 100)["cpu_percent"] is not None
    # a new socket inode owned by the running process: found by rescanning it
    (proc / "100" / "fd" / "9").symlink_to("socket:[7010]")
    with (proc / "net" / "udp").open("a") as f:
        f.write(TCP_ROW.format(n=1, local="00000000:0036", remote="00000000:0000", state="07",
                               inode=7010))  # fmt: skip
    write(proc / "100" / "stat", GOOD_STAT.format(pid=100, comm="sshd", utime=99, start=500, rss=1))
    sample = collector.sample()
    assert [s["pid"] for s in sample["sockets"] if s["inode"] == 7010] == [100]


def test_error_list_is_bounded(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    for pid in range(1, MAX_ERRORS + 30):
        write(proc / str(pid) / "stat", "garbage")
    sample = Collector(str(proc), str(tmp_path), str(tmp_path)).sample()
    assert len(sample["errors"]) == MAX_ERRORS + 1
    assert sample["errors"][-1]["what"] == "errors" and "more" in sample["errors"][-1]["reason"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"0100007F", "127.0.0.1"),
        (b"00000000", "0.0.0.0"),
        (b"00000000000000000000000001000000", "::1"),
        (b"0000000000000000FFFF00000100007F", "::ffff:127.0.0.1"),
        (b"B80D0120000000000000000001000000", "2001:db8::1"),
    ],
)
def test_hex_addresses(text: bytes, expected: str) -> None:
    assert hex_addr(text) == expected
    assert socket.inet_pton(socket.AF_INET6 if ":" in expected else socket.AF_INET, expected)
