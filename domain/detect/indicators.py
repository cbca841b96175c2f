"""Built-in indicators: names, ports, domains and paths of cryptominer and botnet campaigns seen
on Alibaba/Tencent servers (kinsing/kdevtmpfsi, xmrig variants, Rocke, WatchDog, TeamTNT, 8220,
Outlaw), and the names of legitimate software rules must recognise.

Sources: ``shared/research/ir-anchors.md`` (Falco miner ports and pool domains, Sigma miner
command lines, kill lists from attacker scripts preserved in public repositories). A rules file
extends every set here (see :mod:`domain.detect.config`).
"""

from __future__ import annotations

# Executable / process names of miners and of the malware that ships them. Matched exactly
# (case-sensitive: "networkmanager" is an IOC, NetworkManager is not) against the process name,
# the executable's basename and argv[0]'s basename. Kernel threads are never matched.
MINER_NAMES: frozenset[str] = frozenset(
    {
        "xmrig",
        "xmrig-notls",
        "xmrig-proxy",
        "xmr-stak",
        "xmr-stak-cpu",
        "xmr-stak-rx",
        "minerd",
        "cpuminer",
        "cpuminer-multi",
        "cpuminer-opt",
        "ccminer",
        "nbminer",
        "lolminer",
        "t-rex",
        "phoenixminer",
        "ethminer",
        "nanominer",
        "teamredminer",
        "srbminer",
        "SRBMiner-MULTI",
        "gminer",
        "kdevtmpfsi",
        "kinsing",
        "sysupdate",
        "kworkerds",
        "watchdogs",
        "kthrotlds",
        "ksoftirqds",
        "kacpi_svc",
        "kswap_svc",
        "kthreadd_svc",
        "kworker34",
        "netdns",
        "sustse",
        "httpdns",
        "systemctI",  # capital I, imitating systemctl
        "kerberods",
        "khugepageds",
        "dbused",
        "networkservice",
        "sysguard",
        "phpguard",
        "phpupdate",
        "networkmanager",
        "zzh",
        "sysrv",
        "sysrv012",
        "kthreaddk",
        "kthreaddi",
    }
)
# Substrings that make any name a miner name (variants: xmrig-6.21.0, xmrig_x64...).
MINER_NAME_PARTS: tuple[str, ...] = ("xmrig", "xmr-stak", "cpuminer", "ccminer")

# Kernel-thread names that userland miners reuse (Outlaw's kswapd0): a miner when the process is
# NOT a kernel thread. Kept apart because these are legitimate kernel thread names.
KTHREAD_NAMES_USED_BY_MALWARE: frozenset[str] = frozenset({"kswapd0", "kdevtmpfs", "bioset"})

# Remote ports of mining pools (Falco's miner port list without the ports every web client uses:
# 25, 80xx, 8888, 8118, 8333 and 443/80 would cry wolf on any server).
POOL_PORTS: frozenset[int] = frozenset(
    {
        3333,
        3334,
        3335,
        3336,
        3357,
        4444,
        5555,
        5556,
        5588,
        5730,
        6099,
        6666,
        7777,
        7778,
        9332,
        9999,
        14433,
        14444,
        45560,
        45700,
    }
)

# Pool domains: matched as text in command lines and persistence lines (never resolved: no DNS
# from the responder's side). A domain matches itself and its subdomains.
POOL_HOSTS: tuple[str, ...] = (
    "supportxmr.com",
    "c3pool.com",
    "c3pool.org",
    "nanopool.org",
    "2miners.com",
    "f2pool.com",
    "hashvault.pro",
    "moneroocean.stream",
    "minexmr.com",
    "unmineable.com",
    "xmrpool.eu",
    "herominers.com",
    "nicehash.com",
    "monerohash.com",
    "xmrpool.net",
    "pool.minergate.com",
    "minergate.com",
    "dwarfpool.com",
    "viabtc.com",
    "antpool.com",
    "ethermine.org",
    "p2pool.io",
    "zergpool.com",
    "kryptex.network",
)

SCANNER_NAMES: frozenset[str] = frozenset(
    {"masscan", "pnscan", "zmap", "zgrab", "zgrab2", "xscan", "spirit", "sshbrute"}
)
# Scanners administrators also use: reported, at a lower severity.
ADMIN_SCANNER_NAMES: frozenset[str] = frozenset({"nmap"})

# Ports backdoors and bind shells like: worth a look even on loopback.
BACKDOOR_PORTS: frozenset[int] = frozenset(
    {1337, 2222, 4444, 5555, 6666, 6667, 7777, 12345, 31337, 54321, 65535}
)

# Listening ports that need no explanation on a server.
ALLOWED_LISTEN_PORTS: frozenset[int] = frozenset(
    {
        22,  # ssh
        25,  # smtp
        53,  # dns
        67,  # dhcp server
        68,  # dhcp client
        80,  # http
        111,  # rpcbind
        123,  # ntp
        323,  # chronyd
        443,  # https
        465,  # smtps
        546,  # dhcpv6 client
        587,  # submission
        993,  # imaps
        995,  # pop3s
        5353,  # mdns
    }
)
# Services that must not listen on every interface: port -> (service, exact process names that
# identify it; empty = any process on that port).
EXPOSED_SERVICES: dict[int, tuple[str, frozenset[str]]] = {
    2375: ("Docker API (plain HTTP, no authentication)", frozenset()),
    2376: ("Docker API (TLS)", frozenset()),
    6379: ("Redis", frozenset()),
    9000: ("php-fpm (FastCGI)", frozenset({"php-fpm", "php-fpm7", "php-fpm8"})),
    11211: ("memcached", frozenset()),
    27017: ("MongoDB", frozenset()),
    9200: ("Elasticsearch", frozenset()),
    2379: ("etcd", frozenset()),
    10250: ("kubelet API", frozenset()),
}
# Of those, the ones that are an unauthenticated root shell or equivalent when exposed.
EXPOSED_CRITICAL_PORTS: frozenset[int] = frozenset({2375, 6379})

SHELLS: frozenset[str] = frozenset(
    {"sh", "bash", "dash", "zsh", "ksh", "mksh", "csh", "tcsh", "ash", "busybox", "fish"}
)
INTERPRETERS: frozenset[str] = frozenset(
    {"python", "python2", "python3", "perl", "ruby", "php", "lua", "node", "nodejs", "tclsh"}
)
DOWNLOADERS: frozenset[str] = frozenset(
    {"curl", "wget", "tftp", "ftp", "nc", "ncat", "netcat", "socat", "wge", "wdt", "cur", "cdt"}
)
# Processes that serve the network and should not run shells or downloaders. Databases and caches
# never do in normal operation; web servers and app servers rarely (CGI, ImageMagick...).
DATABASE_PROCESSES: frozenset[str] = frozenset(
    {"redis-server", "mysqld", "mariadbd", "mongod", "memcached", "elasticsearch"}
)
DB_SHELL_TOLERANT: frozenset[str] = frozenset({"postgres", "postmaster"})  # archive_command
WEB_PROCESSES: frozenset[str] = frozenset(
    {
        "nginx",
        "apache2",
        "httpd",
        "php-fpm",
        "php-fpm7",
        "php-fpm8",
        "php-cgi",
        "lighttpd",
        "caddy",
        "tomcat",
        "catalina",
        "weblogic",
        "jboss",
        "uwsgi",
        "gunicorn",
    }
)
# Java servers are recognised by their command line (the process is just "java").
JAVA_SERVER_MARKERS: tuple[str, ...] = (
    "catalina",
    "tomcat",
    "weblogic",
    "confluence",
    "jira",
    "jboss",
    "wildfly",
    "elasticsearch",
    "solr",
    "spring",
    "activemq",
)

# Names of system daemons and where their executables live. A process with one of these names
# whose executable is elsewhere is pretending.
SYSTEM_DAEMONS: frozenset[str] = frozenset(
    {
        "sshd",
        "systemd",
        "systemd-journal",
        "systemd-logind",
        "systemd-udevd",
        "systemd-resolve",
        "systemd-network",
        "systemd-timesyn",
        "cron",
        "crond",
        "atd",
        "rsyslogd",
        "syslogd",
        "dbus-daemon",
        "agetty",
        "udevd",
        "auditd",
        "chronyd",
        "ntpd",
        "polkitd",
        "irqbalance",
        "init",
        "login",
        "getty",
        "dhclient",
        "NetworkManager",
        "snapd",
        "containerd",
        "dockerd",
        "tuned",
        "firewalld",
    }
)
# Where the distribution's packages put programs (and their set-id helpers).
PACKAGE_EXE_DIRS: tuple[str, ...] = (
    "/usr/bin/",
    "/usr/sbin/",
    "/bin/",
    "/sbin/",
    "/usr/lib/",
    "/usr/lib64/",
    "/usr/libexec/",
    "/lib/",
    "/lib64/",
)
SYSTEM_EXE_DIRS: tuple[str, ...] = (
    *PACKAGE_EXE_DIRS,
    "/usr/local/bin/",
    "/usr/local/sbin/",
    "/usr/local/lib/",
    "/opt/",
    "/snap/",
    "/nix/store/",
)
TEMP_DIRS: tuple[str, ...] = ("/tmp/", "/var/tmp/", "/dev/shm/")

# Hidden directories in home directories that hold ordinary tools (language version managers,
# editors' remote servers, user-level installs). An executable under one of these is not hiding.
TOOL_DIRS: frozenset[str] = frozenset(
    {
        ".local",
        ".acme.sh",
        ".cargo",
        ".rustup",
        ".pyenv",
        ".rbenv",
        ".nodenv",
        ".goenv",
        ".nvm",
        ".volta",
        ".bun",
        ".deno",
        ".npm",
        ".sdkman",
        ".asdf",
        ".conda",
        ".mamba",
        ".miniconda3",
        ".dotnet",
        ".krew",
        ".linuxbrew",
        ".jdks",
        ".cache",
        ".vscode-server",
        ".vscode-server-insiders",
        ".cursor-server",
        ".windsurf-server",
        ".jenkins",
        ".gradle",
        ".m2",
    }
)
# Hidden directories in /tmp that the system creates (X11 and font servers). Not suspicious as
# directories; an executable inside one still is.
STANDARD_TEMP_DIRS: frozenset[str] = frozenset(
    {".X11-unix", ".ICE-unix", ".font-unix", ".XIM-unix", ".Test-unix"}
)

# Files whose presence is itself an indicator (dropped payloads, renamed tools, rival "vaccines").
IOC_PATHS: tuple[str, ...] = (
    "/tmp/kdevtmpfsi",
    "/tmp/kinsing",
    "/var/tmp/kinsing",
    "/etc/kinsing",
    "/tmp/.kerberods",
    "/dev/shm/.scr",
    "/dev/shm/z3.sh",
    "/var/tmp/xmrig",
    "/var/tmp/moneroocean",
    "/root/moneroocean",
    "/root/c3pool",
    "/etc/sysupdate",
    "/etc/update.sh",
    "/etc/networkservice",
    "/etc/sysguard",
    "/etc/phpguard",
    "/etc/phpupdate",
    "/etc/networkmanager",
    "/usr/lib/systemd/systemd-update-daily",
    "/usr/local/lib/libntp.so",
    "/usr/local/lib/libioset.so",
    "/etc/init.d/watchdogs",
    "/usr/sbin/watchdogs",
    "/bin/httpdns",
    "/tmp/.X25-unix",
    "/usr/bin/wge",
    "/usr/bin/wdt",
    "/usr/bin/cur",
    "/usr/bin/cdt",
    "/usr/bin/tntrecht",
    "/bin/wge",
    "/bin/cur",
    "/usr/local/bin/tntrecht",
)

# Where each cloud's security agent runs, by process name (comm is cut at 15 characters).
AGENT_PROCESSES: dict[str, tuple[str, ...]] = {
    "aliyun-aegis": ("AliYunDun", "AliYunDunMonito", "AliYunDunUpdate", "AliYunDunMonitor"),
    "tencent-yunjing": ("YDService", "YDLive", "YDEdr"),
}

# Kernel modules known to taint the kernel legitimately (out-of-tree or proprietary drivers).
KNOWN_TAINTING_MODULES: frozenset[str] = frozenset(
    {
        "nvidia",
        "nvidia_drm",
        "nvidia_modeset",
        "nvidia_uvm",
        "zfs",
        "spl",
        "zavl",
        "znvpair",
        "zunicode",
        "zcommon",
        "icp",
        "zlua",
        "zzstd",
        "vboxdrv",
        "vboxnetflt",
        "vboxnetadp",
        "vboxguest",
        "vboxsf",
        "vmmon",
        "vmnet",
        "falcon_lsm_serviceable",
        "falcon_nf_netcontain",
        "falcon_kal",
        "wireguard",
        "v4l2loopback",
        "aegis_hook",
    }
)
