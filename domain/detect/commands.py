"""Reading shell commands for signs of trouble: what a command line, a cron line, an ExecStart=
or a profile line does that miners and botnets do.

Text from the host is only matched against patterns, never run or expanded. A :class:`Marker`
says what was recognised, in plain words, with a severity that reflects how sure the pattern is:
a download piped into a shell is critical anywhere; a path under /tmp is high only where it is
executed (``/tmp/x``, ``sh /tmp/x``, ``nohup /tmp/x &``), not where it is merely mentioned
(``find /tmp -mtime +7 -delete`` is housekeeping).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass

from domain.findings import Severity

from . import indicators as ioc

_CRIT = Severity.CRITICAL
_HIGH = Severity.HIGH
_MED = Severity.MEDIUM


@dataclass(frozen=True, slots=True)
class Marker:
    id: str
    group: str  # mining | download | reverse-shell | evasion | temp-exec | hidden-path | preload
    severity: Severity
    what: str  # plain words: "pipes a download into a shell"
    attack: tuple[str, ...]
    text: str  # the fragment that matched (bounded)


def base64_forms(text: str) -> tuple[str, ...]:
    """The substrings ``text`` always produces when base64-encoded at any of the three byte
    alignments (so an encoded ``stratum+tcp://`` is found inside a longer encoded blob)."""
    raw = text.encode()
    forms = []
    for offset, start in ((0, 0), (1, 2), (2, 3)):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        complete = ((offset + len(raw)) // 3) * 4  # characters of whole 3-byte groups
        forms.append(encoded[start:complete])
    return tuple(f for f in forms if len(f) >= 8)


_SH = r"(?:/\S*/)?(?:ba|da|z|k|a|mk)?sh\b"
_DL = r"\b(?:curl|wget|wge|wdt|cur|cdt|fetch|lwp-download)\b"
_TEMP = r"(?:/tmp|/var/tmp|/dev/shm)/"
_STRATUM_B64 = tuple(
    form
    for scheme in ("stratum+tcp://", "stratum+ssl://", "stratum+udp://", "stratum+tls://")
    for form in base64_forms(scheme)
)

# (id, group, severity, what, attack, pattern)
_PATTERNS: tuple[tuple[str, str, Severity, str, tuple[str, ...], str], ...] = (
    # Mining.
    (
        "stratum-uri",
        "mining",
        _CRIT,
        "names a mining pool by a stratum URI",
        ("T1496.001",),
        r"\bstratum2?\+(?:tcp|udp|ssl|tls)://",
    ),
    (
        "stratum-base64",
        "mining",
        _CRIT,
        "holds a base64-encoded stratum URI (a hidden mining pool address)",
        ("T1496.001", "T1027"),
        "|".join(re.escape(f) for f in _STRATUM_B64),
    ),
    (
        "xmrig-option",
        "mining",
        _CRIT,
        "uses options only XMRig-style miners have",
        ("T1496.001",),
        r"--donate-level\b|--randomx-1gb-pages\b|--cpu-max-threads-hint\b|--rig-id\b",
    ),
    (
        "miner-option",
        "mining",
        _HIGH,
        "uses cryptominer options (mining algorithm, coin or CPU priority)",
        ("T1496.001",),
        r"(?:--algo|\s-a)[= ](?:rx/0|rx/wow|cn/r|cn/0|cn/half|randomx|cryptonight|argon2/\w+"
        r"|kawpow|ethash|ghostrider)\b|--coin[= ](?:monero|xmr)\b|--nicehash\b|--cpu-priority\b",
    ),
    (
        "wallet",
        "mining",
        _HIGH,
        "contains a Monero wallet address",
        ("T1496.001",),
        r"\b[48][0-9AB][1-9A-HJ-NP-Za-km-z]{93}\b",
    ),
    (
        "msr-writes",
        "mining",
        _HIGH,
        "enables MSR writes, which XMRig does to speed up RandomX",
        ("T1496.001",),
        r"modprobe\s+msr\s+allow_writes=on",
    ),
    # Download and execute.
    (
        "download-pipe-shell",
        "download",
        _CRIT,
        "pipes a download straight into a shell",
        ("T1105", "T1059.004"),
        _DL + r"[^|;&\n]*\|\s*(?:sudo\s+)?" + _SH,
    ),
    (
        "download-pipe-interpreter",
        "download",
        _CRIT,
        "pipes a download straight into an interpreter",
        ("T1105", "T1059.006"),
        _DL + r"[^|;&\n]*\|\s*(?:sudo\s+)?(?:/\S*/)?(?:python[\d.]*|perl|php|ruby|node)\b",
    ),
    (
        "base64-pipe-shell",
        "download",
        _CRIT,
        "decodes base64 and runs the result in a shell",
        ("T1027", "T1059.004"),
        r"base64\s+(?:-d|--decode|-D)\b[^;&\n]*\|\s*(?:sudo\s+)?" + _SH,
    ),
    (
        "base64-blob",
        "download",
        _HIGH,
        "decodes a long base64 blob",
        ("T1027",),
        r"\becho\s+['\"]?[A-Za-z0-9+/]{60,}={0,2}['\"]?\s*\|\s*base64\s+(?:-d|--decode)",
    ),
    (
        "download-to-temp",
        "download",
        _HIGH,
        "downloads a file into a temporary directory",
        ("T1105",),
        _DL + r"[^;|&\n]*(?:-O|-o|-P|--output(?:-document)?)[= ]?\s*['\"]?" + _TEMP,
    ),
    (
        "download-raw-ip",
        "download",
        _HIGH,
        "downloads from a bare IP address",
        ("T1105",),
        _DL + r"[^;|&\n]*\bhttps?://\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?/",
    ),
    # Reverse shells.
    (
        "dev-tcp",
        "reverse-shell",
        _CRIT,
        "opens a network connection with bash's /dev/tcp (a reverse shell)",
        ("T1059.004",),
        r"/dev/(?:tcp|udp)/[^/\s]+/\d+",
    ),
    (
        "nc-exec",
        "reverse-shell",
        _CRIT,
        "hands a shell to netcat (-e/-c)",
        ("T1059.004",),
        r"\b(?:nc|ncat|netcat)\b[^;|&\n]*\s-[a-z]*[ec]\s",
    ),
    (
        "socat-exec",
        "reverse-shell",
        _CRIT,
        "hands a shell to socat",
        ("T1059.004",),
        r"\bsocat\b[^;|&\n]*\b(?:exec|system):",
    ),
    (
        "script-socket-shell",
        "reverse-shell",
        _CRIT,
        "is a scripted reverse shell (socket plus a spawned shell)",
        ("T1059.006",),
        r"\b(?:python[\d.]*|perl|ruby|php)\b.*\bsocket\b.*(?:pty\.spawn|subprocess|os\.dup2"
        r"|/bin/(?:ba)?sh|exec\s*\()",
    ),
    (
        "mkfifo-nc",
        "reverse-shell",
        _CRIT,
        "wires a named pipe to a network tool (a reverse shell)",
        ("T1059.004",),
        r"\bmkfifo\b[^\n]*\b(?:nc|ncat|netcat|telnet|openssl\s+s_client)\b",
    ),
    # Defence evasion.
    (
        "file-lock",
        "evasion",
        _HIGH,
        "changes immutable/append-only flags (chattr), as miners do to lock their files",
        ("T1222.002",),
        r"\bchattr\s+(?:-R\s+)?[-+=][aiAR]*[ia]\b|\btntrecht\b",
    ),
    (
        "history-off",
        "evasion",
        _MED,
        "turns off or clears shell history",
        ("T1070.003",),
        r"\bunset\s+HISTFILE\b|\bHISTFILE=/dev/null\b|\bhistory\s+-c\b|\bHISTSIZE=0\b"
        r"|\bHISTFILESIZE=0\b",
    ),
    (
        "ld-preload",
        "preload",
        _HIGH,
        "sets LD_PRELOAD, which injects a library into every program started",
        ("T1574.006",),
        r"\bLD_PRELOAD=",
    ),
    (
        "defense-off",
        "evasion",
        _HIGH,
        "turns off SELinux, the firewall or auditing",
        ("T1562.001", "T1562.004"),
        r"\bsetenforce\s+0\b|\bufw\s+disable\b|\biptables\s+(?:-t\s+\w+\s+)?(?:-F|--flush)\b"
        r"|\bsystemctl\s+(?:stop|disable|mask)\s+(?:firewalld|apparmor|auditd|ufw)\b",
    ),
    (
        "agent-kill",
        "evasion",
        _CRIT,
        "uninstalls or kills the cloud security agent (Alibaba aegis / Tencent YunJing)",
        ("T1562.001",),
        r"(?:aegis|aliyun|AliYunDun|YunJing|YDService|YDLive|bcm-agent|cloudmonitor)\S*\s*"
        r"[^;\n]{0,40}?\b(?:uninstall|uninst)\b|\b(?:quartz_uninstall|uninst)\.sh\b"
        r"|\buninstall\.sh\b[^;\n]*(?:aegis|aliyun|qcloud)|(?:aegis|aliyun|qcloud)\S*/uninstall\.sh"
        r"|\b(?:pkill|killall|kill\s+-9)\b[^;\n]*(?:aegis|aliyun|AliYunDun|YDService|YDLive)"
        r"|\brm\s+-[rf]+\s+[^;\n]*(?:/usr/local/aegis|/usr/local/qcloud)",
    ),
    (
        "pool-port-drop",
        "evasion",
        _HIGH,
        "blocks outgoing mining-pool ports, as miners do to starve rival miners",
        ("T1562.004", "T1496.001"),
        r"-A\s+OUTPUT\b[^\n]*--dport\s+(?:3333|4444|5555|7777|9999|14444)\b[^\n]*-j\s+(?:DROP|REJECT)",
    ),
)

# Base64 and base58 are case-sensitive; everything else is matched ignoring case.
_CASE_SENSITIVE = frozenset({"stratum-base64", "wallet"})

# Words at least one of which every pattern needs, lower-case (a superset is fine: this is
# only a filter that spares most command lines the full set of patterns).
_PREFILTER_WORDS: tuple[str, ...] = (
    "stratum",
    "c3ryyxr1b",  # "stratum" in base64, at each alignment (lower-cased like the text)
    "n0cmf0dw",
    "zdhjhdhvt",
    "--donate",
    "--randomx",
    "--cpu-",
    "--rig-id",
    "--algo",
    "-a",
    "--coin",
    "--nicehash",
    "msr",
    "cur",
    "wge",
    "wdt",
    "cdt",
    "fetch",
    "lwp-",
    "base64",
    "/dev/tcp",
    "/dev/udp",
    "nc",
    "socat",
    "socket",
    "mkfifo",
    "chattr",
    "tntrecht",
    "hist",
    "ld_preload",
    "setenforce",
    "ufw",
    "iptables",
    "systemctl",
    "aegis",
    "aliyun",
    "yunjing",
    "ydservice",
    "ydlive",
    "bcm-agent",
    "cloudmonitor",
    "uninst",
    "qcloud",
    "output",
    "/tmp/",
    "/shm/",
    "/.",
)
_WALLET_LENGTH = 95

_LAUNCHERS = (
    r"(?:sudo|exec|nohup|setsid|nice|ionice|env|command|time|timeout\s+\S+|chroot\s+\S+"
    r"|sh|bash|dash|zsh|ksh|ash|\.|source|python[\d.]*|perl|ruby|php|node)"
)
# A temporary-directory path where a command runs it: at the start of a command, after a shell
# separator, or after a launcher ("sh /tmp/x", "nohup /tmp/x &").
_TEMP_EXEC = re.compile(
    r"(?:^|[;&|`(]\s*|\$\(\s*|\b"
    + _LAUNCHERS
    + r"\s+(?:-\S+\s+)*)['\"]?(?P<path>"
    + _TEMP
    + r"[^\s;&|'\"`)<>]*)"
)
# chmod making something under a temp directory executable (not the sticky 1777 of /tmp dirs).
_CHMOD_TEMP = re.compile(
    r"\bchmod\s+(?:-\w+\s+)*(?:[ugoa]*\+[rwst]*x[rwst]*|0?[75][0-7][0-7])\s+['\"]?(?P<path>"
    + _TEMP
    + r"[^\s;&|'\"`)<>]*)"
)
# A path with a hidden directory in it (/tmp/.x/y, /root/.configrc/a/upd).
_HIDDEN_PATH = re.compile(
    r"(?:^|[\s=:'\"(])(?P<path>/(?:[^/\s'\"]+/)*\.[^/\s.'\"][^/\s'\"]*/[^\s;&|'\")<>]+)"
)
_HIDDEN_EXEC = re.compile(
    r"(?:^|[;&|`(]\s*|\$\(\s*|\b" + _LAUNCHERS + r"\s+(?:-\S+\s+)*)['\"]?(?P<path>/(?:[^/\s'\"]+/)*"
    r"\.[^/\s.'\"][^/\s'\"]*/[^\s;&|'\")<>]+)"
)


def _standard_temp(path: str) -> bool:
    """/tmp/.X11-unix and friends themselves (made by init scripts, with chmod 1777); not the
    files inside them."""
    parts = path.rstrip("/").split("/")
    return len(parts) == 3 and parts[2] in ioc.STANDARD_TEMP_DIRS


def hidden_dir(path: str) -> str | None:
    """The first hidden directory component of ``path`` (``.configrc`` in
    ``/root/.configrc/a/upd``), or None. The system's own /tmp/.X11-unix-style directories
    are not hiding anything and are skipped (a hidden directory inside one is not)."""
    parts = path.split("/")
    for part in parts[:-1]:
        if part.startswith(".") and part not in (".", "..") and part not in ioc.STANDARD_TEMP_DIRS:
            return part
    return None


def in_home(path: str) -> bool:
    return path.startswith(("/root/", "/home/"))


def in_temp(path: str) -> bool:
    return path.startswith(ioc.TEMP_DIRS) or path in ("/tmp", "/var/tmp", "/dev/shm")


def suspicious_hidden_dir(path: str, tool_dirs: frozenset[str]) -> str | None:
    """The hidden directory that makes ``path`` look like hiding, or None: tool directories
    in home directories (.local, .pyenv, .vscode-server...) are not hiding."""
    name = hidden_dir(path)
    if name is None:
        return None
    if in_home(path) and name in tool_dirs:
        return None
    return name


class CommandScanner:
    """Compiled patterns for one configuration (pool hosts and extra patterns come from it)."""

    def __init__(
        self,
        pool_hosts: Iterable[str] = ioc.POOL_HOSTS,
        tool_dirs: frozenset[str] = ioc.TOOL_DIRS,
    ) -> None:
        self.tool_dirs = tool_dirs
        patterns = list(_PATTERNS)
        hosts = sorted({h.strip().lower().strip(".") for h in pool_hosts if h.strip()})
        if hosts:
            alternation = "|".join(re.escape(h) for h in hosts)
            patterns.append(
                (
                    "pool-host",
                    "mining",
                    _CRIT,
                    "names a known mining pool",
                    ("T1496.001",),
                    r"(?<![\w.-])(?:[\w-]+\.)*(?:" + alternation + r")(?![\w-])",
                )
            )
        # Cheap substring checks first: every pattern needs one of these words (or, for a
        # wallet address, 95 characters), so most command lines skip the patterns.
        self._words: tuple[str, ...] = (*_PREFILTER_WORDS, *hosts)
        self._patterns = [
            (
                pid,
                group,
                sev,
                what,
                attack,
                re.compile(rx, 0 if pid in _CASE_SENSITIVE else re.IGNORECASE),
            )
            for pid, group, sev, what, attack, rx in patterns
        ]
        self._wallet = [p for p in self._patterns if p[0] == "wallet"]
        self._cache: dict[tuple[str, frozenset[str] | None], tuple[Marker, ...]] = {}

    _CACHE_SIZE = 16384

    def scan(self, text: str, groups: frozenset[str] | None = None) -> list[Marker]:
        """Every marker in ``text`` (one per pattern), most severe first. Results are remembered
        per text: command lines and persistence lines repeat from one sample to the next, so
        steady-state detection scans only what is new."""
        key = (text, groups)
        cache = self._cache
        cached = cache.get(key)
        if cached is None:
            if len(cache) >= self._CACHE_SIZE:
                cache.clear()  # bounded: a host churning through unique commands starts over
            cached = cache[key] = tuple(self._scan(text, groups))
        return list(cached)

    def _scan(self, text: str, groups: frozenset[str] | None) -> list[Marker]:
        if not text:
            return []
        patterns = self._patterns
        low = text.lower()
        if not any(word in low for word in self._words):
            if len(text) < _WALLET_LENGTH:
                return []
            patterns = self._wallet  # the only pattern without a keyword
        found: list[Marker] = []
        for pid, group, sev, what, attack, rx in patterns:
            if groups is not None and group not in groups:
                continue
            m = rx.search(text)
            if m is not None:
                found.append(Marker(pid, group, sev, what, attack, m.group(0)[:200]))
        if patterns is self._patterns:
            if groups is None or "temp-exec" in groups:
                found.extend(self._temp(text))
            if groups is None or "hidden-path" in groups:
                found.extend(self._hidden(text))
        found.sort(key=lambda mk: -mk.severity)
        return found

    def _temp(self, text: str) -> list[Marker]:
        if "/tmp/" not in text and "/shm/" not in text:
            return []
        found = []
        m = _TEMP_EXEC.search(text)
        if m is not None and not _standard_temp(m.group("path")):
            found.append(
                Marker(
                    "temp-exec",
                    "temp-exec",
                    _HIGH,
                    "runs a program from a temporary directory",
                    ("T1059.004",),
                    m.group("path")[:200],
                )
            )
        m = _CHMOD_TEMP.search(text)
        if m is not None and not _standard_temp(m.group("path")):
            found.append(
                Marker(
                    "chmod-temp",
                    "temp-exec",
                    _HIGH,
                    "makes a file in a temporary directory executable",
                    ("T1222.002", "T1059.004"),
                    m.group(0)[:200],
                )
            )
        return found

    def _hidden(self, text: str) -> list[Marker]:
        if "/." not in text:
            return []
        m = _HIDDEN_EXEC.search(text)
        if m is not None:
            path = m.group("path")
            name = suspicious_hidden_dir(path, self.tool_dirs)
            if name is not None:
                return [
                    Marker(
                        "hidden-exec",
                        "hidden-path",
                        _HIGH,
                        f"runs a program from a hidden directory ({name})",
                        ("T1564.001",),
                        path[:200],
                    )
                ]
        for m in _HIDDEN_PATH.finditer(text):
            path = m.group("path")
            name = suspicious_hidden_dir(path, self.tool_dirs)
            if name is None or in_home(path):
                continue
            return [
                Marker(
                    "hidden-path",
                    "hidden-path",
                    _MED,
                    f"refers to a hidden directory ({name}) outside home directories",
                    ("T1564.001",),
                    path[:200],
                )
            ]
        return []
