"""Rules from the rules file (``[[rules.process]]``, ``[[rules.file]]``, ``[[rules.socket]]``;
see :mod:`domain.detect.config` for the format). Every condition a rule gives must hold; a list
condition holds when any of its items matches."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator

from domain.findings import Evidence, Finding

from .catalog import RuleInfo
from .config import CustomRule, address_in
from .context import Check, Context, clip


def _info(rule: CustomRule) -> RuleInfo:
    return RuleInfo(rule.id, "custom", rule.title, rule.severity, rule.attack, rule.actions)


def _glob(value: str | None, patterns: tuple[str, ...]) -> bool:
    return bool(value) and any(fnmatch.fnmatchcase(value or "", g) for g in patterns)


def custom_processes(ctx: Context) -> Iterator[Finding]:
    rules = [r for r in ctx.config.custom if r.kind == "process"]
    if not rules:
        return
    for p in ctx.user_processes:
        names = ctx.names(p)
        command = " ".join(p.cmdline)
        for rule in rules:
            if rule.names and not any(n in rule.names for n in names):
                continue
            if rule.exes and not _glob(p.exe, rule.exes):
                continue
            if rule.users and p.user not in rule.users:
                continue
            match = None
            if rule.cmdline is not None:
                match = rule.cmdline.search(command)
                if match is None:
                    continue
            yield ctx.finding(
                _info(rule),
                rule.explanation,
                ctx.process_evidence(p, text=clip(match.group(0), 200) if match else None),
            )


def custom_files(ctx: Context) -> Iterator[Finding]:
    rules = [r for r in ctx.config.custom if r.kind == "file"]
    if not rules or ctx.facts is None:
        return
    for f in ctx.facts.files:
        for rule in rules:
            if rule.kinds and f.kind not in rule.kinds:
                continue
            if rule.paths and not _glob(f.meta.path, rule.paths):
                continue
            if rule.pattern is None:
                continue
            for line in f.lines:
                if rule.pattern.search(line.text):
                    yield ctx.finding(
                        _info(rule),
                        rule.explanation,
                        Evidence(
                            path=f.meta.path,
                            line=line.number,
                            text=clip(line.text.strip(), 500),
                            user=f.user,
                        ),
                    )


def custom_sockets(ctx: Context) -> Iterator[Finding]:
    rules = [r for r in ctx.config.custom if r.kind == "socket"]
    if not rules:
        return
    for s in ctx.sockets:
        for rule in rules:
            if rule.listening is not None and s.listening != rule.listening:
                continue
            port = s.local_port if s.listening else s.remote_port
            if rule.ports and port not in rule.ports:
                continue
            if rule.remotes and (s.listening or not address_in(s.remote_addr, rule.remotes)):
                continue
            if rule.processes and s.process not in rule.processes:
                continue
            p = ctx.by_pid.get(s.pid) if s.pid is not None else None
            extra = {
                "port": port,
                "remote_addr": None if s.listening else s.remote_addr,
                "remote_port": None if s.listening else s.remote_port,
            }
            ev = (
                ctx.process_evidence(p, **extra)
                if p is not None
                else Evidence(pid=s.pid, process=s.process or None, **extra)  # type: ignore[arg-type]
            )
            yield ctx.finding(_info(rule), rule.explanation, ev, identity=f"{s.key}|{rule.id}")


CHECKS: tuple[Check, ...] = (custom_processes, custom_files, custom_sockets)
