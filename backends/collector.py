"""sickbay's host collector: samples of a Linux host, read straight from /proc.

Shipped as-is to remote hosts and run there with ``python3 -I -S -``: stdlib only, Python 3.6+,
nothing from the project. It never runs ps/ss/netstat (on a compromised host they may lie). All it
reads is attacker-controlled and kept literally (bytes decoded as UTF-8 with backslashreplace).
No malformed or vanished file makes ``Collector.sample()`` raise: vanished processes are skipped,
other problems are reported in ``errors``.

``sample()`` returns a JSON-serialisable dict (schema "sickbay.collector/1"): schema, hostname
(<proc>/sys/kernel/hostname), taken_at (epoch s), cpu_ms (what the sample cost: the thread's CPU
time on 3.7+, the process's on 3.6), and
    metrics    the fields of domain.model.HostMetrics; rates are None on the first sample, any
               value None when its file could not be read.
    processes  [the fields of domain.model.Process, cmdline a list]. cpu_percent (of one CPU) is
               None the first time a process is seen. uid is the effective uid (the owner of
               /proc/PID). cmdline is cut at CMDLINE_MAX bytes. A process whose stat line did not
               change gets the previous sample's very dict: samples are read-only.
    sockets    [the fields of domain.model.Socket]; pid None and process "" when no readable
               process holds it; one shared by several processes goes to the lowest pid. Rows with
               inode 0 (TIME_WAIT, embryonic connections) are skipped.
    errors     [{what, reason}], at most MAX_ERRORS; permission errors are counted, not listed.

Disks: whole disks are the entries of <sys>/block that are not virtual (their link does not lead
into /devices/virtual/): no loop, ram, zram, dm-* or md* (those two would count the I/O twice).
Latency is Δ(ms reading + ms writing) / Δ(reads + writes completed).

Cost: a steady-state sample reads only /proc/PID/stat per process. uid, exe, cwd, cmdline are read
once per process (pid + start time), again when its name changes (execve) and on a rotating
refresh that visits each process every FULL_EVERY samples, which also rescans its fds. Socket
owners come from the fd links of new processes; an unknown socket inode has the processes whose
stat line changed rescanned; inodes still unowned then are remembered, not rescanned for. On the
live /proc, sockets come from NETLINK_SOCK_DIAG (one walk of the kernel's TCP tables for v4 and
v6, where each read of /proc/net/tcp* walks them again: ~5x the CPU), else from /proc/net/*.

``collector.py --once`` prints one sample as JSON; ``--bench K SLEEP_MS`` prints the median CPU ms
of a first sample (K fresh collectors) and of a steady-state one (K, SLEEP_MS apart).
"""

import binascii
import errno
import json
import os
import resource
import socket
import struct
import sys
import time
import zlib
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

SCHEMA = "sickbay.collector/1"
PF_KTHREAD = 0x00200000
FULL_EVERY = 30
MAX_ERRORS = 50
CMDLINE_MAX = 65536
ENVIRON_MAX = 65536  # read once per process, only LD_PRELOAD is kept (environments hold secrets)
PRELOAD_MAX = 512
PROBE_MAX = 2000  # pids probed per sample for the hidden-process check (a rotating slice)
PROBE_ALL_MAX = 100000  # a whole-range probe, when threads are missing, goes this far at most
PROBE_ALL_EVERY = 5  # samples between two whole-range probes
KEEP_OPEN_MAX = 4096  # /proc/PID/stat files kept open (each holds ~5 KiB of kernel memory)
_GONE = (errno.ENOENT, errno.ESRCH)  # the process exited while we looked
_DENIED = (errno.EACCES, errno.EPERM)
_TCP_STATES = {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
    6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING",
    12: "NEW_SYN_RECV",
}  # fmt: skip
# NETLINK_SOCK_DIAG: nlmsghdr, and inet_diag_msg up to idiag_uid and idiag_inode
_NL_HDR = struct.Struct("=IHHII")
_NL_MSG = struct.Struct("=BB2x2s2s16s16s24xII")
_PORT = struct.Struct(">H")
_NL_DUMPS = (  # (group, request type, family, protocol, the /proc/net files it replaces)
    ("tcp", 18, socket.AF_INET, 0, ("tcp", "tcp6")),  # TCPDIAG_GETSOCK: v4 and v6 in one walk
    ("udp", 20, socket.AF_INET, socket.IPPROTO_UDP, ("udp",)),  # SOCK_DIAG_BY_FAMILY
    ("udp6", 20, socket.AF_INET6, socket.IPPROTO_UDP, ("udp6",)),
)
_thread_time = getattr(time, "thread_time", time.process_time)  # Python 3.6 has no thread_time
Row = Dict[str, Any]


def _text(data: bytes) -> str:
    return data.decode("utf-8", "backslashreplace")


def _read(path: bytes, once: int = 0) -> bytes:
    """The whole file, or with ``once`` at most that many bytes in one read (enough for
    /proc/PID/cmdline). seq_files such as /proc/net/tcp come back a page per read."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if once:
            return os.read(fd, once)
        chunks = []  # type: List[bytes]
        while not chunks or chunks[-1]:
            chunks.append(os.read(fd, 65536))
        return b"".join(chunks)
    finally:
        os.close(fd)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return "malformed ({})".format(type(exc).__name__)


# --- parsers: they raise ValueError / IndexError on garbage --------------------------------------


def parse_loadavg(data: bytes) -> Tuple[float, float, float, int, int]:
    """load1, load5, load15, the number of threads on the system, the last pid handed out."""
    f = data.split()
    return float(f[0]), float(f[1]), float(f[2]), int(f[3].split(b"/")[1]), int(f[4])


def preload_of(environ: bytes) -> str:
    """The value of LD_PRELOAD in a NUL-separated environment, "" when it is not set."""
    for entry in environ.split(b"\0"):
        if entry.startswith(b"LD_PRELOAD="):
            return _text(entry[11 : 11 + PRELOAD_MAX])
    return ""


def status_field(status: bytes, name: bytes) -> Optional[bytes]:
    for line in status.split(b"\n"):
        if line.startswith(name + b":"):
            return line[len(name) + 1 :].strip()
    return None


def proc_mounts(mountinfo: bytes, proc: bytes) -> List[str]:
    """Mount points that cover a /proc/PID directory: a way to hide a process from readdir."""
    found = []
    prefix = proc + b"/"
    for line in mountinfo.split(b"\n"):
        fields = line.split(b" ")
        if len(fields) > 4 and fields[4].startswith(prefix):
            rest = fields[4][len(prefix) :].split(b"/")[0]
            if rest.isdigit():
                found.append(_text(fields[4]))
    return found


def parse_proc_stat(data: bytes) -> Tuple[Optional[List[int]], int, Optional[int]]:
    """/proc/stat -> (aggregate cpu ticks user..steal, number of cpuN lines, btime)."""
    total, count, btime = None, 0, None
    for line in data.split(b"\n"):
        if line.startswith(b"cpu "):
            total = [int(x) for x in line.split()[1:9]]
        elif line.startswith(b"cpu"):
            count += 1
        elif line.startswith(b"btime "):
            btime = int(line.split()[1])
    return total, count, btime


def parse_meminfo(data: bytes) -> Dict[bytes, int]:
    """/proc/meminfo -> {field: bytes} (the file counts in kB); garbled lines are skipped."""
    out = {}
    for f in (line.split() for line in data.split(b"\n")):
        if len(f) >= 2 and f[1].isdigit():
            out[f[0].rstrip(b":")] = int(f[1]) * 1024
    return out


def parse_diskstats(data: bytes, disks: Set[bytes]) -> Dict[bytes, Tuple[int, ...]]:
    """/proc/diskstats -> {disk: (reads + writes completed, ms reading + ms writing)}."""
    out = {}  # type: Dict[bytes, Tuple[int, ...]]
    for f in (line.split() for line in data.split(b"\n")):
        if len(f) >= 11 and f[2] in disks:
            out[f[2]] = (int(f[3]) + int(f[7]), int(f[6]) + int(f[10]))
    return out


def parse_net_dev(data: bytes) -> Dict[bytes, Tuple[int, ...]]:
    """/proc/net/dev -> {interface: (rx bytes, rx packets, tx bytes, tx packets)}, without lo."""
    out = {}  # type: Dict[bytes, Tuple[int, ...]]
    for name, sep, rest in (line.partition(b":") for line in data.split(b"\n")[2:]):
        f, name = rest.split(), name.strip()
        if sep and name != b"lo" and len(f) >= 10:
            out[name] = (int(f[0]), int(f[1]), int(f[8]), int(f[9]))
    return out


def parse_passwd(data: bytes) -> Dict[int, str]:
    """/etc/passwd -> {uid: name}; the first line for a uid wins, as with getpwuid()."""
    users = {}  # type: Dict[int, str]
    for f in (line.split(b":") for line in data.split(b"\n")):
        if len(f) >= 3 and f[2].isdigit():
            users.setdefault(int(f[2]), _text(f[0]))
    return users


def hex_addr(text: bytes) -> str:
    """An address as /proc/net prints it (32-bit words in host order, in hex) -> text."""
    raw = binascii.unhexlify(text)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = struct.pack(">4I", *struct.unpack("<4I", raw))
    return socket.inet_ntop(socket.AF_INET6, words)  # v4-mapped comes out as ::ffff:a.b.c.d


def parse_net_sockets(data: bytes, addr: Dict[Any, str]) -> Iterator[Optional[Tuple[Any, ...]]]:
    """/proc/net/{tcp,udp}[6] -> (local, lport, remote, rport, state, uid, inode) per row, None per
    malformed row. ``addr`` caches address conversions."""
    for f in (line.split() for line in data.split(b"\n")[1:]):
        try:
            if f:
                (local, _, lport), (remote, _, rport) = f[1].partition(b":"), f[2].partition(b":")
                for a in (local, remote):
                    if a not in addr:
                        addr[a] = hex_addr(a)
                state, uid, inode = int(f[3], 16), int(f[7]), int(f[9])
                yield addr[local], int(lport, 16), addr[remote], int(rport, 16), state, uid, inode
        except (ValueError, IndexError, struct.error):
            yield None


def netlink_dump(sock: socket.socket, kind: int, family: int, proto: int) -> List[Tuple[Any, ...]]:
    """One NETLINK_SOCK_DIAG dump -> (family, state, sport, dport, src, dst, uid, inode) each."""
    if kind == 18:  # inet_diag_req: family, src_len, dst_len, ext, sockid, states, dbs
        body = struct.pack("=BBBB48sII", family, 0, 0, 0, b"", 0xFFFFFFFF, 0)
    else:  # inet_diag_req_v2: family, protocol, ext, pad, states, sockid
        body = struct.pack("=BBBxI48s", family, proto, 0, 0xFFFFFFFF, b"")
    sock.sendall(_NL_HDR.pack(16 + len(body), kind, 0x301, 1, 0) + body)  # NLM_F_REQUEST|DUMP
    out = []  # type: List[Tuple[Any, ...]]
    while True:
        data, off = sock.recv(65536), 0
        if not data:
            raise OSError(errno.EIO, "netlink dump ended early")
        while off + 16 <= len(data):
            length, kind = _NL_HDR.unpack_from(data, off)[:2]
            if kind == 3:  # NLMSG_DONE
                return out
            if kind == 2:  # NLMSG_ERROR
                code = -struct.unpack_from("=i", data, off + 16)[0]
                raise OSError(code, os.strerror(code))
            if length < 16 + _NL_MSG.size:
                raise OSError(errno.EIO, "short netlink message")
            fam, st, sport, dport, src, dst, uid, inode = _NL_MSG.unpack_from(data, off + 16)
            sport, dport = _PORT.unpack(sport)[0], _PORT.unpack(dport)[0]
            out.append((fam, st, sport, dport, src, dst, uid, inode))
            off += (length + 3) & ~3


def socket_row(proto: str, local: str, lport: int, remote: str, rport: int, *rest: int) -> Row:
    st, uid, inode = rest
    state = "UNCONN" if st == 7 and proto[:3] == "udp" else _TCP_STATES.get(st, str(st))
    return {"proto": proto, "local_addr": local, "local_port": lport, "remote_addr": remote,
            "remote_port": rport, "state": state, "inode": inode, "uid": uid}  # fmt: skip


class _Proc:
    """What the collector remembers about one process between samples."""

    __slots__ = ("start", "comm", "raw", "out", "static", "ticks", "ran", "inodes", "scanned",
                 "denied")  # fmt: skip

    def __init__(self, start: int) -> None:
        self.start = start  # starttime in clock ticks: with the pid, the process's identity
        self.comm = None  # type: Optional[bytes]
        self.raw = b""  # its stat line at the last sample
        self.out = {}  # type: Row  # what the last sample said about it
        self.static = {}  # type: Row  # uid, exe, cwd, cmdline, ...
        self.ticks = -1  # utime + stime at the last sample (-1: not seen yet)
        self.ran = True  # its stat line changed since the previous sample
        self.inodes = None  # type: Optional[List[int]]  # its socket inodes (None: unreadable)
        self.scanned = -1  # the sample number of its last fd scan
        self.denied = ()  # type: Tuple[str, ...]  # of exe and cwd: those it may not read


class Collector:
    """Takes samples of the host whose /proc, /sys and /etc are given (for tests: a fake tree).
    ``netlink``: read sockets with NETLINK_SOCK_DIAG (default: only when proc_root is /proc, as
    netlink asks the kernel, not the tree)."""

    def __init__(
        self,
        proc_root: str = "/proc",
        sys_root: str = "/sys",
        etc_root: str = "/etc",
        shm_path: str = "/dev/shm",
        netlink: Optional[bool] = None,
    ) -> None:
        self.proc, self.sys = os.fsencode(proc_root), os.fsencode(sys_root)
        self.passwd = os.path.join(os.fsencode(etc_root), b"passwd")
        self.shm_path = shm_path
        self.netlink = proc_root == "/proc" if netlink is None else netlink
        self.netlink = self.netlink and hasattr(socket, "AF_NETLINK")
        self.netlink_failed = set()  # type: Set[str]
        self.clk_tck, self.page_size = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")
        self.n = 0  # samples taken
        self.dt = None  # type: Optional[float]  # seconds since the previous sample
        self.procs = {}  # type: Dict[int, _Proc]
        self.stat_fds = {}  # type: Dict[int, int]  # pid -> its /proc/PID/stat, kept open
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self.keep_open = max(0, min(KEEP_OPEN_MAX, soft // 2 - 64))  # leave fds for the rest
        self.owner = {}  # type: Dict[int, int]  # socket inode -> pid
        self.owners_stale = True
        self.unowned = set()  # type: Set[int]  # inodes no readable process held at last look
        self.users, self.users_changed = {}, False  # type: Dict[int, str], bool
        self.passwd_stamp = None  # type: Optional[Tuple[int, int]]
        self.disks = None  # type: Optional[Set[bytes]]
        self.prev = {}  # type: Dict[str, Any]  # the previous sample's counters, for rates
        self.addr_cache = {}  # type: Dict[Any, str]
        self.errors, self.dropped = [], 0  # type: List[Dict[str, str]], int
        self.suspects = {}  # type: Dict[int, Row]  # pids that answered but were not listed
        self.probed_all = -PROBE_ALL_EVERY  # the sample of the last whole-range probe

    def error(self, what: str, reason: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"what": what, "reason": reason})
        else:
            self.dropped += 1

    def sample(self) -> Row:
        """One sample of the host (see the module docstring for the schema)."""
        cpu0, now = _thread_time(), time.monotonic()
        self.errors, self.dropped = [], 0
        self.dt = now - self.prev["t"] if "t" in self.prev else None
        metrics = self.host_metrics()
        self.users_changed = self.read_users()
        processes = self.processes()
        hidden = self.hidden_processes()
        mounts = self.parse("self/mountinfo", proc_mounts, self.proc)
        sockets = self.sockets({p["pid"]: p["name"] for p in processes})
        hostname = self.parse("sys/kernel/hostname", lambda data: _text(data.strip()))
        if self.dropped:
            self.errors.append({"what": "errors", "reason": "{} more".format(self.dropped)})
        self.n, self.prev["t"] = self.n + 1, now
        return {"schema": SCHEMA, "hostname": hostname or "", "taken_at": time.time(),
                "cpu_ms": (_thread_time() - cpu0) * 1000.0, "metrics": metrics,
                "processes": processes, "sockets": sockets, "errors": self.errors,
                "hidden": hidden, "proc_mounts": mounts or []}  # fmt: skip

    def read_file(self, name: bytes) -> Optional[bytes]:
        path = os.path.join(self.proc, name)
        try:
            return _read(path)
        except OSError as exc:
            self.error(_text(path), _reason(exc))
            return None

    def parse(self, name: str, parser: Callable[..., Any], *args: Any) -> Any:
        """parser(contents of <proc>/name, *args), or None (reported) if unreadable or garbled."""
        data = self.read_file(name.encode())
        try:
            return None if data is None else parser(data, *args)
        except (ValueError, IndexError) as exc:
            self.error(_text(os.path.join(self.proc, name.encode())), _reason(exc))
            return None

    # --- host metrics -------------------------------------------------------------------------

    def host_metrics(self) -> Row:
        prev, dt = self.prev, self.dt
        m = dict.fromkeys(("cpu_total", "cpu_iowait", "cpu_steal", "disk_latency_ms", "disk_iops",
                           "shm_used", "shm_total"))  # type: Row  # fmt: skip
        ticks, count, boot = self.parse("stat", parse_proc_stat) or (None, 0, None)
        m["cpu_count"] = count or os.cpu_count() or 1
        old, prev["cpu"] = prev.get("cpu"), ticks
        if old and ticks and len(old) == len(ticks) == 8:
            d = [a - b for a, b in zip(ticks, old)]
            total = sum(d)
            if total > 0:
                m["cpu_total"] = 100.0 * (total - d[3] - d[4]) / total  # all but idle, iowait
                m["cpu_iowait"] = 100.0 * d[4] / total
                m["cpu_steal"] = 100.0 * d[7] / total
        # btime is kept from the first sample: process start times (their keys) must not jitter
        prev.setdefault("btime", time.time() - time.monotonic() if boot is None else boot)
        load = self.parse("loadavg", parse_loadavg)
        m["load1"], m["load5"], m["load15"] = load[:3] if load else (None,) * 3
        if load:  # all threads, and the last pid handed out: for the hidden-process check
            prev["threads_total"], prev["last_pid"] = load[3], load[4]
        mem = self.parse("meminfo", parse_meminfo) or {}
        m["mem_total"], m["mem_available"] = mem.get(b"MemTotal"), mem.get(b"MemAvailable")
        m["swap_total"], m["swap_free"] = mem.get(b"SwapTotal"), mem.get(b"SwapFree")
        m["uptime_s"] = self.parse("uptime", lambda data: float(data.split()[0]))
        disks = self.whole_disks()
        stats = None if disks is None else self.parse("diskstats", parse_diskstats, disks)
        io = self.deltas("disk", stats)
        if dt and io:
            m["disk_iops"], m["disk_latency_ms"] = io[0] / dt, io[1] / io[0] if io[0] else 0.0
        net = self.deltas("net", self.parse("net/dev", parse_net_dev))
        for i, key in enumerate(("rx_bytes", "rx_packets", "tx_bytes", "tx_packets")):
            m["net_" + key + "_s"] = net[i] / dt if dt and net else None
        try:
            st = os.statvfs(self.shm_path)
            m["shm_total"] = st.f_blocks * st.f_frsize
            m["shm_used"] = (st.f_blocks - st.f_bfree) * st.f_frsize
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                self.error(self.shm_path, _reason(exc))
        return m

    def deltas(self, kind: str, now: Optional[Dict[bytes, Tuple[int, ...]]]) -> Optional[List[int]]:
        """Summed per-device counter increases since the last sample (None without one). Devices
        that appeared, vanished or whose counters went backwards are left out."""
        old, self.prev[kind] = self.prev.get(kind), now
        if not old or now is None:
            return None
        sums = [0] * len(next(iter(old.values())))
        for name, after in now.items():
            before = old.get(name)
            if before is not None and all(a >= b for a, b in zip(after, before)):
                sums = [s + a - b for s, a, b in zip(sums, after, before)]
        return sums

    def whole_disks(self) -> Optional[Set[bytes]]:
        """Names of the whole, non-virtual disks (listed again every FULL_EVERY samples)."""
        if self.disks is not None and self.n % FULL_EVERY:
            return self.disks
        block = os.path.join(self.sys, b"block")
        try:
            links = {name: os.readlink(os.path.join(block, name)) for name in os.listdir(block)}
        except OSError as exc:
            self.error(_text(block), _reason(exc))
            return None
        self.disks = {name for name, link in links.items() if b"/virtual/" not in link}
        return self.disks

    def read_users(self) -> bool:
        """Parse <etc>/passwd again if it changed; True if the user names may have changed."""
        try:
            st = os.stat(self.passwd)
            stamp = (st.st_mtime_ns, st.st_size)
            if stamp == self.passwd_stamp:
                return False
            self.users, self.passwd_stamp = parse_passwd(_read(self.passwd)), stamp
            return True
        except OSError as exc:
            self.error(_text(self.passwd), _reason(exc))
            changed = bool(self.users)
            self.users, self.passwd_stamp = {}, None
            return changed

    # --- processes ----------------------------------------------------------------------------

    def processes(self) -> List[Row]:
        try:
            names = os.listdir(self.proc)
        except OSError as exc:
            self.error(_text(self.proc), _reason(exc))
            return []
        old, procs = self.procs, {}  # type: Dict[int, _Proc], Dict[int, _Proc]
        denied = {"exe": 0, "cwd": 0}
        prefix, n, dt, users_changed = self.proc + b"/", self.n, self.dt, self.users_changed
        for name in names:
            if not name.isdigit():
                continue
            pid, base = int(name), prefix + name
            try:
                data = self.read_stat(pid, base)
            except OSError as exc:
                if exc.errno not in _GONE:
                    self.error("pid {} stat".format(pid), _reason(exc))
                continue
            p = old.get(pid)
            refresh = (pid + n) % FULL_EVERY == 0  # the rotating full refresh
            if p is not None and data == p.raw and not refresh and not users_changed:
                p.ran = False  # nothing changed: the last sample's entry holds, but for %CPU
                if dt and p.out["cpu_percent"] != 0.0:
                    p.out = dict(p.out, cpu_percent=0.0)
            else:
                p = self.update(p, pid, base, data, refresh)
                if p is None:
                    continue
            procs[pid] = p
            for what in p.denied:
                denied[what] += 1
        self.procs = procs
        for pid in [pid for pid in self.stat_fds if pid not in procs]:
            os.close(self.stat_fds.pop(pid))
        if self.owners_stale or len(procs) != len(old):
            self.rebuild_owners()
        for what, count in sorted(denied.items()):
            if count:
                self.error("{} of {} processes".format(what, count), "permission denied")
        return [p.out for p in procs.values()]

    def hidden_processes(self) -> List[Row]:
        """Processes that exist but are missing from the /proc listing (a rootkit filtering
        readdir). Each sample probes a rotating slice of the pid space (at most PROBE_MAX pids,
        up to the last pid the kernel handed out) plus the parents of listed processes; a pid
        that answers, is a thread group leader (not a thread) and is not listed is a suspect, and
        it is reported only when the next sample's second look, with a fresh listing, still
        finds it hidden (a process born between the listing and the probe is not). When the
        kernel's thread count exceeds what the listing holds, the whole range is probed."""
        procs, prefix = self.procs, self.proc + b"/"
        last = max(self.prev.get("last_pid", 0), max(procs) if procs else 0)
        size = min(PROBE_MAX, last // FULL_EVERY + 1)
        slices = last // size + 1
        first = (self.n % slices) * size + 1
        # The kernel counts every thread (loadavg); more than the listed processes hold means
        # something is missing: probe the whole range then (bounded, and not every sample).
        listed = sum(p.out.get("threads", 1) for p in procs.values())
        missing = self.prev.get("threads_total", 0) > listed
        if missing and self.n - self.probed_all >= PROBE_ALL_EVERY:
            first, size, self.probed_all = 1, min(last, PROBE_ALL_MAX), self.n
        probe = set(range(first, first + size)) | set(self.suspects)
        probe.update(p.out.get("ppid", 0) for p in procs.values())
        found, confirmed = {}, []  # type: Dict[int, Row], List[Row]
        for pid in probe:
            if pid <= 0 or pid in procs:
                continue
            base = prefix + str(pid).encode()
            try:
                os.stat(base)  # cheap, and what hiding readdir does not stop
                status = _read(base + b"/status", 4096)
            except OSError:
                continue
            if status_field(status, b"Tgid") != str(pid).encode():
                continue  # a thread: /proc/TID answers but is never listed
            ppid = status_field(status, b"PPid") or b"0"
            row = {"pid": pid, "name": _text(status_field(status, b"Name") or b""),
                   "ppid": int(ppid) if ppid.isdigit() else 0}  # fmt: skip
            found[pid] = row
            if pid in self.suspects:
                confirmed.append(row)
        self.suspects = found
        return sorted(confirmed, key=lambda row: row["pid"])

    def read_stat(self, pid: int, base: bytes) -> bytes:
        """/proc/PID/stat. Up to keep_open files stay open: reading one again from offset 0 costs
        a third of opening it. A kept file whose process is gone fails with ESRCH, even if its
        pid is another process's now."""
        fd = self.stat_fds.pop(pid, -1)
        if fd >= 0:
            try:
                data = os.pread(fd, 4096, 0)
                if data:
                    self.stat_fds[pid] = fd
                    return data
            except OSError:
                pass
            os.close(fd)
        fd = os.open(base + b"/stat", os.O_RDONLY)
        try:
            data = os.read(fd, 4096)
        except OSError:
            os.close(fd)
            raise
        if len(self.stat_fds) < self.keep_open:
            self.stat_fds[pid] = fd
        else:
            os.close(fd)
        return data

    def close(self) -> None:
        """Close the stat files kept open (the collector still works: it opens them again)."""
        while self.stat_fds:
            os.close(self.stat_fds.popitem()[1])

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # half-built, or the interpreter is shutting down
            pass

    def update(self, p: Optional[_Proc], pid: int, base: bytes, data: bytes, refresh: bool) -> Any:
        """Parse a changed stat line; read the static part and fds if needed. None: skip it."""
        try:
            left, right = data.index(b"("), data.rindex(b")")  # the name may contain ") ("
            comm, f = data[left + 1 : right], data[right + 2 :].split()
            start, ticks, flags = int(f[19]), int(f[11]) + int(f[12]), int(f[6])
            out = {"ppid": int(f[1]), "state": _text(f[0]), "tty_nr": int(f[4]),
                   "threads": int(f[17]), "rss": int(f[21]) * self.page_size}  # fmt: skip
        except (ValueError, IndexError) as exc:
            self.error("pid {} stat".format(pid), _reason(exc))
            return None
        if p is None or p.start != start:
            p = _Proc(start)
        kthread = bool(flags & PF_KTHREAD)
        if comm != p.comm or refresh:
            p.comm = comm
            if not self.read_static(p, base, pid, kthread):
                return None  # vanished
        if not kthread and (p.scanned < 0 or refresh):
            self.scan_fds(p, pid, base)
        out.update(p.static)
        uid = p.static["uid"]  # type: Optional[int]
        out["user"] = "" if uid is None else self.users.get(uid, str(uid))
        dt, cpu = self.dt, None  # type: Optional[float], Optional[float]
        if dt and p.ticks >= 0:
            cpu = (ticks - p.ticks) * 100.0 / (self.clk_tck * dt)
        out["cpu_percent"] = cpu
        p.ticks, p.raw, p.out, p.ran = ticks, data, out, True
        return p

    def read_static(self, p: _Proc, base: bytes, pid: int, kthread: bool) -> bool:
        """Read what rarely changes about a process: uid, exe, cwd, cmdline. False: it vanished."""
        start = p.static.get("start_time", self.prev["btime"] + p.start / self.clk_tck)
        s = p.static = {"pid": pid, "name": _text(p.comm or b""), "kernel_thread": kthread,
                        "start_time": start, "uid": None, "exe": "", "cwd": "", "cmdline": [],
                        "exe_deleted": False, "exe_memfd": False, "ld_preload": ""}  # fmt: skip
        p.denied = ()
        try:  # /proc/PID (dr-xr-xr-x) belongs to the euid, dumpable or not; status costs more
            s["uid"] = os.stat(base).st_uid
        except OSError as exc:
            if exc.errno in _GONE:
                return False
            self.error("pid {} uid".format(pid), _reason(exc))
        if kthread:
            return True
        for what, path in (("exe", base + b"/exe"), ("cwd", base + b"/cwd")):
            try:
                s[what] = _text(os.readlink(path))
            except OSError as exc:
                if exc.errno in _DENIED:
                    p.denied += (what,)
                elif exc.errno not in _GONE:
                    self.error("pid {} {}".format(pid, what), _reason(exc))
        if s["exe"].endswith(" (deleted)"):
            s["exe"], s["exe_deleted"] = s["exe"][:-10], True
        s["exe_memfd"] = s["exe"].startswith("/memfd:")
        try:  # the environment it started with; of it, only LD_PRELOAD is kept
            s["ld_preload"] = preload_of(_read(base + b"/environ", ENVIRON_MAX))
        except OSError as exc:
            if exc.errno not in _GONE and exc.errno not in _DENIED:
                self.error("pid {} environ".format(pid), _reason(exc))
        try:
            raw = _read(base + b"/cmdline", CMDLINE_MAX)
            # NUL never ends a multi-byte sequence: decoding, then splitting, is the same
            text = _text(raw[:-1] if raw[-1:] == b"\0" else raw)  # without the last arg's NUL
            s["cmdline"] = text.split("\0") if raw else []
        except OSError as exc:
            if exc.errno not in _GONE:
                self.error("pid {} cmdline".format(pid), _reason(exc))
        return True

    def scan_fds(self, p: _Proc, pid: int, base: bytes) -> None:
        """Note the socket inodes among the process's fds (None when they are unreadable)."""
        ours = {str(fd) for fd in self.stat_fds.values()} if pid == os.getpid() else ()
        self.owners_stale = True
        p.inodes, p.scanned = [], self.n
        try:
            dfd = os.open(base + b"/fd", os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            if exc.errno in _DENIED:
                p.inodes = None
            elif exc.errno not in _GONE:
                self.error(_text(base + b"/fd"), _reason(exc))
            return
        try:
            for fd in os.listdir(dfd):
                if fd in ours:
                    continue  # our own stat files: not sockets
                try:
                    link = os.readlink(fd, dir_fd=dfd)
                    if link.startswith("socket:["):
                        p.inodes.append(int(link[8:-1]))
                except (OSError, ValueError):
                    continue  # closed meanwhile
        except OSError:
            pass  # exited while we listed
        finally:
            os.close(dfd)

    def rebuild_owners(self) -> None:
        owner = {}  # type: Dict[int, int]
        for pid in sorted(self.procs):
            for inode in self.procs[pid].inodes or ():
                owner.setdefault(inode, pid)  # a shared socket goes to the lowest pid
        self.owner, self.owners_stale = owner, False

    # --- sockets ------------------------------------------------------------------------------

    def sockets(self, names: Dict[int, str]) -> List[Row]:
        rows = self.read_sockets()
        if self.n % FULL_EVERY == 0:
            self.unowned = set()
        owner, unowned = self.owner, self.unowned
        if self.n and any(r["inode"] not in owner and r["inode"] not in unowned for r in rows):
            for pid, p in self.procs.items():  # whoever opened it has run since the last sample
                if p.ran and p.scanned != self.n and not p.static["kernel_thread"]:
                    self.scan_fds(p, pid, self.proc + b"/" + str(pid).encode())
            self.rebuild_owners()
            owner = self.owner
        self.unowned = {r["inode"] for r in rows if r["inode"] not in owner}
        denied = sum(1 for p in self.procs.values() if p.inodes is None and p.scanned >= 0)
        if denied:
            self.error("fd of {} processes".format(denied), "permission denied")
        for r in rows:
            owned = r["pid"] = owner.get(r["inode"])
            r["process"] = "" if owned is None else names.get(owned, "")
        return rows

    def read_sockets(self) -> List[Row]:
        rows = []  # type: List[Row]
        if len(self.addr_cache) > 4096:
            self.addr_cache.clear()
        for group, kind, family, proto, files in _NL_DUMPS:
            if self.netlink and group not in self.netlink_failed:
                try:
                    rows.extend(self.netlink_sockets(group, kind, family, proto))
                    continue
                except (OSError, ValueError, struct.error):
                    self.netlink_failed.add(group)  # use /proc/net from now on
            for name in files:
                data = self.read_file(b"net/" + name.encode()) or b""
                parsed = list(parse_net_sockets(data, self.addr_cache))
                rows.extend(socket_row(name, *row) for row in parsed if row and row[-1])
                if None in parsed:
                    self.error("/proc/net/" + name, "{} bad lines".format(parsed.count(None)))
        return rows

    def netlink_sockets(self, group: str, kind: int, family: int, proto: int) -> List[Row]:
        addr, rows = self.addr_cache, []
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 4) as sock:  # NETLINK_SOCK_DIAG
            sock.settimeout(5.0)
            found = netlink_dump(sock, kind, family, proto)
        for fam, st, sport, dport, src, dst, uid, inode in found:
            if inode:
                for a in (src, dst):
                    if (fam, a) not in addr:
                        addr[fam, a] = socket.inet_ntop(fam, a if fam == socket.AF_INET6 else a[:4])
                name = group[:3] + ("6" if fam == socket.AF_INET6 else "")
                local, remote = addr[fam, src], addr[fam, dst]
                rows.append(socket_row(name, local, sport, remote, dport, st, uid, inode))
        return rows


# --- agent: one long-lived collector answering requests, sending only what changed -------------

AGENT_MAGIC = b"SICKBAY-AGENT/1\n"  # written first: anything before it is the login's noise
AGENT_FRAME = struct.Struct(">I")  # each response: its length, then a chunk of one zlib stream
SOCKET_KEY = ("proto", "local_addr", "local_port", "remote_addr", "remote_port", "inode")


def _changes(old: Dict[Any, Row], new: Dict[Any, Row], key: Callable[[Row], List[Any]]) -> Row:
    """What turns the rows ``old`` into ``new``: {"+": new rows, "~": [key..., {changed fields}],
    "-": [key...]}, empty parts left out."""
    added, changed = [], []  # type: List[Row], List[Any]
    for k, row in new.items():
        before = old.get(k)
        if before is None:
            added.append(row)
        elif before is not row and before != row:
            diff = {f: v for f, v in row.items() if f not in before or before[f] != v}
            gone = [f for f in before if f not in row]
            if gone:
                diff["-"] = gone
            changed.append(key(row) + [diff])
    removed = [key(old[k]) for k in old if k not in new]
    out = {}  # type: Row
    for name, part in (("+", added), ("~", changed), ("-", removed)):
        if part:
            out[name] = part
    return out


def _process_key(row: Row) -> List[Any]:
    return [row.get("pid"), row.get("start_time")]


def _socket_key(row: Row) -> List[Any]:
    return [row.get(f) for f in SOCKET_KEY]


class Agent:
    """Answers sample requests with deltas. Request: one JSON line {"op": "sample", "base": N}
    where N is the seq of the last response the client applied (null: none). Response: a JSON
    object with "seq"; if "full" is true it holds the whole sample ("metrics", "processes",
    "sockets" as in Collector.sample), else only changes against response ``base``: "m" the
    changed metrics, "m-" the names of vanished ones, "p" and "s" the process and socket
    changes (see _changes; processes keyed by [pid, start_time], sockets by SOCKET_KEY).
    taken_at and cpu_ms are always sent; schema, hostname and errors (whole) only when they
    changed. A failure is {"error": reason} and resets the delta state."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self.seq = 0  # seq of the last response (0: none sent)
        self.procs = {}  # type: Dict[Any, Row]
        self.socks = {}  # type: Dict[Any, Row]
        self.metrics = {}  # type: Row
        self.last = {}  # type: Row  # the previous sample

    def respond(self, request: Any) -> Row:
        if not isinstance(request, dict) or request.get("op") != "sample":
            return {"error": "unknown request"}
        try:
            sample = self.collector.sample()
        except Exception as exc:  # a bug must not end the agent: say so, start afresh
            self.seq, self.procs, self.socks = 0, {}, {}
            return {"error": "sample failed: {}".format(_reason(exc))}
        procs = {tuple(_process_key(p)): p for p in sample["processes"]}
        socks = {tuple(_socket_key(s)): s for s in sample["sockets"]}
        metrics = sample["metrics"]
        full = not self.seq or request.get("base") != self.seq
        out = {"seq": self.seq + 1, "full": full}  # type: Row
        for name in ("schema", "hostname", "taken_at", "cpu_ms", "errors", "hidden", "proc_mounts"):
            if full or name in ("taken_at", "cpu_ms") or sample.get(name) != self.last.get(name):
                out[name] = sample.get(name)
        self.last = sample
        if full:
            out["metrics"] = metrics
            out["processes"], out["sockets"] = sample["processes"], sample["sockets"]
        else:
            out["base"] = self.seq
            m = {k: v for k, v in metrics.items() if k not in self.metrics or self.metrics[k] != v}
            gone = [k for k in self.metrics if k not in metrics]
            if gone:
                out["m-"] = gone
            for name, part in (("m", m), ("p", _changes(self.procs, procs, _process_key)),
                               ("s", _changes(self.socks, socks, _socket_key))):  # fmt: skip
                if part:
                    out[name] = part
        self.seq, self.procs, self.socks, self.metrics = self.seq + 1, procs, socks, metrics
        return out


def serve(collector: Collector, stdin: Any, stdout: Any) -> int:
    """The agent loop: a JSON request line in, a frame out, until EOF on ``stdin``."""
    agent, z = Agent(collector), zlib.compressobj(6)
    stdout.write(AGENT_MAGIC)
    stdout.flush()
    while True:
        line = stdin.readline(65536)
        if not line:
            return 0
        try:
            request = json.loads(line.decode("utf-8", "replace"))
        except ValueError:
            request = None
        data = json.dumps(agent.respond(request), separators=(",", ":")).encode()
        chunk = z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH)
        stdout.write(AGENT_FRAME.pack(len(chunk)) + chunk)
        stdout.flush()


def agent_main() -> int:
    """Serve on the real stdin/stdout. fd 1 becomes a copy of stderr first, so nothing but the
    frames (no stray print, no warning) can ever reach the client."""
    sys.stdout.flush()  # what was printed before goes before the magic, where it is skipped
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    collector = Collector()
    try:
        return serve(collector, sys.stdin.buffer, out)
    except (BrokenPipeError, KeyboardInterrupt):
        return 0
    finally:
        collector.close()


# --- command line -------------------------------------------------------------------------------


def bench(k: int, sleep_ms: int) -> Row:
    """Median CPU ms (process time) of a first sample and of a steady-state sample."""
    costs, collector, sample = [], Collector(), {}  # type: List[float], Collector, Row
    for i in range(2 * k + 1):
        time.sleep(sleep_ms / 1000.0 if i else 0)
        c0 = time.process_time()
        fresh = Collector() if i < k else collector  # k first samples, then steady ones
        sample = fresh.sample()
        costs.append((time.process_time() - c0) * 1000.0)
        if fresh is not collector:
            fresh.close()
    first, steady = sorted(costs[:k]), sorted(costs[k + 1 :])  # (skipping steady's own first)
    return {"impl": "collector.py", "python": sys.version.split()[0],
            "nprocs": len(sample["processes"]), "nsockets": len(sample["sockets"]),
            "first_ms": first[k // 2], "steady_ms": steady[k // 2]}  # fmt: skip


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--agent"]:
        return agent_main()
    if args == ["--once"]:
        out = Collector().sample()
    elif len(args) == 3 and args[0] == "--bench" and args[1].isdigit() and args[2].isdigit():
        out = bench(max(1, int(args[1])), int(args[2]))
    else:
        sys.stderr.write("usage: collector.py --once | --agent | --bench K SLEEP_MS\n")
        return 2
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
