"""Every built-in rule: id, title, default severity, ATT&CK techniques and the response actions
that fit. The rule functions live in the theme modules (resources, processes, network,
persistence, accounts, tampering, files); a rule may report a lower or higher severity than its
default when the evidence says how sure it is (each rule's docstring says when).
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.findings import Severity

C, H, M, L, INFO = (
    Severity.CRITICAL,
    Severity.HIGH,
    Severity.MEDIUM,
    Severity.LOW,
    Severity.INFO,
)


@dataclass(frozen=True, slots=True)
class RuleInfo:
    id: str
    theme: str
    title: str
    severity: Severity
    attack: tuple[str, ...]
    actions: tuple[str, ...]


_PROC_ACTIONS = ("freeze", "collect", "kill", "quarantine")
_FILE_ACTIONS = ("collect", "disable", "quarantine")

RULES: tuple[RuleInfo, ...] = (
    # resources
    RuleInfo(
        "RES-CPU-SUSTAINED",
        "resources",
        "CPU busy for minutes",
        M,
        ("T1496.001",),
        ("freeze", "collect", "kill"),
    ),
    RuleInfo(
        "RES-CPU-PEAKS", "resources", "Repeated CPU peaks today", M, ("T1496.001",), ("collect",)
    ),
    RuleInfo(
        "RES-HIDDEN-LOAD",
        "resources",
        "CPU busy but no process accounts for it",
        M,
        ("T1014", "T1496.001"),
        ("snapshot", "collect", "scan"),
    ),
    RuleInfo(
        "RES-DISK-LATENCY",
        "resources",
        "Disk I/O latency high for minutes",
        L,
        ("T1496",),
        ("collect",),
    ),
    RuleInfo(
        "RES-PACKET-RATE",
        "resources",
        "Packet rate far above this host's baseline",
        M,
        ("T1498", "T1496"),
        ("collect", "block", "isolate"),
    ),
    RuleInfo(
        "RES-SHM-GROWTH",
        "resources",
        "/dev/shm is growing",
        M,
        ("T1564", "T1074.001"),
        ("collect", "scan"),
    ),
    # processes
    RuleInfo(
        "PROC-MINER-NAME",
        "processes",
        "Cryptominer process",
        C,
        ("T1496.001",),
        (*_PROC_ACTIONS, "block"),
    ),
    RuleInfo(
        "PROC-MINER-CMDLINE",
        "processes",
        "Mining command line",
        C,
        ("T1496.001",),
        (*_PROC_ACTIONS, "block"),
    ),
    RuleInfo(
        "PROC-DOWNLOAD-EXEC",
        "processes",
        "Download-and-execute command running",
        H,
        ("T1105", "T1059.004"),
        _PROC_ACTIONS,
    ),
    RuleInfo(
        "PROC-EVASION",
        "processes",
        "Process tampering with defences",
        H,
        ("T1562.001",),
        _PROC_ACTIONS,
    ),
    RuleInfo(
        "PROC-EXE-DELETED",
        "processes",
        "Executable deleted from disk",
        H,
        ("T1070.004",),
        ("collect", "freeze", "kill"),
    ),
    RuleInfo(
        "PROC-EXE-MEMFD",
        "processes",
        "Executable lives only in memory (memfd)",
        M,
        ("T1620",),
        ("collect", "freeze", "kill"),
    ),
    RuleInfo(
        "PROC-EXE-TEMP",
        "processes",
        "Executable in a temporary or hidden directory",
        H,
        ("T1059.004", "T1564.001"),
        _PROC_ACTIONS,
    ),
    RuleInfo(
        "PROC-KTHREAD-IMPOSTOR",
        "processes",
        "Process posing as a kernel thread",
        C,
        ("T1036.004",),
        _PROC_ACTIONS,
    ),
    RuleInfo(
        "PROC-DAEMON-IMPOSTOR",
        "processes",
        "Process posing as a system daemon",
        H,
        ("T1036.005",),
        _PROC_ACTIONS,
    ),
    RuleInfo(
        "PROC-REVERSE-SHELL",
        "processes",
        "Shell wired to the network (reverse shell)",
        C,
        ("T1059.004",),
        ("freeze", "collect", "kill", "block"),
    ),
    RuleInfo(
        "PROC-WEB-SPAWN",
        "processes",
        "Server process started a shell or downloader",
        H,
        ("T1505.003", "T1190"),
        ("freeze", "collect", "kill"),
    ),
    RuleInfo(
        "PROC-SCANNER",
        "processes",
        "Network scanner running",
        H,
        ("T1046",),
        ("freeze", "collect", "kill"),
    ),
    # network
    RuleInfo(
        "NET-POOL-PORT",
        "network",
        "Connection to a mining-pool port",
        H,
        ("T1496.001", "T1571"),
        ("block", "freeze", "kill"),
    ),
    RuleInfo(
        "NET-POOL-ADDRESS",
        "network",
        "Connection to a known pool or C2 address",
        C,
        ("T1496.001", "T1071"),
        ("block", "freeze", "kill", "isolate"),
    ),
    RuleInfo(
        "NET-LISTENER-UNEXPECTED",
        "network",
        "Listener outside the allowlist",
        L,
        ("T1571",),
        ("collect", "block"),
    ),
    RuleInfo(
        "NET-LISTENER-BACKDOOR-PORT",
        "network",
        "Listener on a backdoor port",
        H,
        ("T1571", "T1205"),
        ("collect", "freeze", "kill", "block"),
    ),
    RuleInfo(
        "NET-EXPOSED-SERVICE",
        "network",
        "Sensitive service listening on all interfaces",
        H,
        ("T1190", "T1133"),
        ("block",),
    ),
    RuleInfo(
        "NET-FANOUT",
        "network",
        "Process talking to many remote hosts",
        M,
        ("T1046", "T1021.004"),
        ("freeze", "collect", "block"),
    ),
    # persistence
    RuleInfo("PERS-CRON", "persistence", "Suspicious cron entry", H, ("T1053.003",), _FILE_ACTIONS),
    RuleInfo(
        "PERS-SYSTEMD",
        "persistence",
        "Suspicious systemd unit or timer",
        H,
        ("T1543.002", "T1053.006"),
        _FILE_ACTIONS,
    ),
    RuleInfo(
        "PERS-RC",
        "persistence",
        "Suspicious rc.local or init script",
        H,
        ("T1037.004",),
        _FILE_ACTIONS,
    ),
    RuleInfo(
        "PERS-PROFILE",
        "persistence",
        "Suspicious shell start-up file",
        H,
        ("T1546.004",),
        _FILE_ACTIONS,
    ),
    RuleInfo(
        "PERS-PRELOAD",
        "persistence",
        "Library preloaded into every program",
        H,
        ("T1574.006", "T1014"),
        ("collect", "quarantine", "disable"),
    ),
    RuleInfo(
        "PERS-FIREWALL-FILE",
        "persistence",
        "Saved firewall rules tampered with",
        H,
        ("T1562.004",),
        ("collect", "disable"),
    ),
    RuleInfo(
        "PERS-AUTHKEY-COMMAND",
        "persistence",
        "SSH key with a forced command or environment",
        M,
        ("T1098.004",),
        ("remove-key", "collect"),
    ),
    RuleInfo(
        "PERS-AUTHKEY-SYSTEM-USER",
        "persistence",
        "SSH key for a service account",
        H,
        ("T1098.004",),
        ("remove-key", "lock-user", "collect"),
    ),
    RuleInfo(
        "PERS-AUTHKEY-JUNK",
        "persistence",
        "authorized_keys holds non-key lines",
        H,
        ("T1098.004", "T1190"),
        ("remove-key", "collect"),
    ),
    RuleInfo(
        "PERS-RECENT-CHANGE",
        "persistence",
        "Start-up item changed recently",
        L,
        ("T1053", "T1543", "T1098.004"),
        ("collect",),
    ),
    RuleInfo(
        "PERS-UNIT-LINK",
        "persistence",
        "Unit linked from an odd place",
        H,
        ("T1543.002",),
        _FILE_ACTIONS,
    ),
    # accounts
    RuleInfo(
        "ACCT-UID0",
        "accounts",
        "Second root account (UID 0)",
        C,
        ("T1136.001", "T1078.003"),
        ("lock-user", "collect"),
    ),
    RuleInfo(
        "ACCT-EMPTY-PASSWORD",
        "accounts",
        "Account with an empty password",
        H,
        ("T1078.003",),
        ("lock-user",),
    ),
    RuleInfo("ACCT-NEW", "accounts", "New account", H, ("T1136.001",), ("lock-user", "collect")),
    RuleInfo(
        "ACCT-RECENT-PASSWORD",
        "accounts",
        "Password set or changed recently",
        L,
        ("T1098",),
        ("collect",),
    ),
    RuleInfo(
        "ACCT-SERVICE-LOGIN",
        "accounts",
        "Service account that can log in",
        M,
        ("T1078.003",),
        ("lock-user",),
    ),
    # tampering
    RuleInfo(
        "TAMP-KERNEL-TAINT",
        "tampering",
        "Kernel tainted by an unexpected module",
        M,
        ("T1547.006", "T1014"),
        ("snapshot", "collect"),
    ),
    RuleInfo(
        "TAMP-HIDDEN-MODULE",
        "tampering",
        "Kernel taint with no module to explain it",
        M,
        ("T1014", "T1547.006"),
        ("snapshot", "collect"),
    ),
    RuleInfo(
        "TAMP-MINER-TUNING",
        "tampering",
        "Kernel tuned the way miners tune it",
        L,
        ("T1496.001",),
        ("collect",),
    ),
    RuleInfo(
        "TAMP-IMMUTABLE",
        "tampering",
        "Immutable flag on a start-up or dropped file",
        H,
        ("T1222.002",),
        ("collect", "quarantine"),
    ),
    RuleInfo(
        "TAMP-AGENT-STOPPED",
        "tampering",
        "Cloud security agent installed but not running",
        H,
        ("T1562.001",),
        ("snapshot", "collect"),
    ),
    RuleInfo(
        "TAMP-AGENT-MISSING",
        "tampering",
        "Cloud security agent missing",
        M,
        ("T1562.001",),
        ("snapshot",),
    ),
    RuleInfo(
        "TAMP-LOG-EMPTY",
        "tampering",
        "Log file empty without a rotation",
        M,
        ("T1070.002",),
        ("snapshot", "collect"),
    ),
    RuleInfo(
        "TAMP-LOG-SHRUNK",
        "tampering",
        "Log or history file shrank",
        H,
        ("T1070.002", "T1070.003"),
        ("snapshot", "collect"),
    ),
    RuleInfo(
        "TAMP-HISTORY-OFF",
        "tampering",
        "Shell history sent to /dev/null",
        H,
        ("T1070.003",),
        ("collect",),
    ),
    RuleInfo(
        "TAMP-STALE-PACKAGES", "tampering", "No package updates for months", L, ("T1190",), ()
    ),
    # files (mostly --sysroot)
    RuleInfo(
        "FILE-TEMP-EXEC",
        "files",
        "Executable dropped in a temporary directory",
        M,
        ("T1105", "T1059.004"),
        ("collect", "quarantine", "scan"),
    ),
    RuleInfo(
        "FILE-SETID",
        "files",
        "SUID/SGID file outside the system directories",
        H,
        ("T1548.001",),
        ("collect", "quarantine"),
    ),
    RuleInfo(
        "FILE-IOC-PATH",
        "files",
        "File at a known malware location",
        H,
        ("T1105",),
        ("collect", "quarantine", "scan"),
    ),
    RuleInfo(
        "ROOTKIT-HIDDEN-PROCESS",
        "rootkit",
        "Process hidden from the process list",
        C,
        ("T1014", "T1564"),
        ("collect", "freeze", "isolate", "snapshot"),
    ),
    RuleInfo(
        "ROOTKIT-PROC-MOUNT",
        "rootkit",
        "Something is mounted over a process's /proc directory",
        C,
        ("T1014", "T1564"),
        ("collect", "isolate", "snapshot"),
    ),
    RuleInfo(
        "PROC-PRELOAD-ENV",
        "processes",
        "Process started with LD_PRELOAD",
        M,
        ("T1574.006",),
        ("collect", "freeze", "kill"),
    ),
)

BY_ID: dict[str, RuleInfo] = {r.id: r for r in RULES}
BUILTIN_IDS: frozenset[str] = frozenset(BY_ID)
