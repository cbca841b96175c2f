"""Account rules over host facts: extra UID-0 accounts, empty passwords, new accounts, recent
password changes, service accounts that can log in."""

from __future__ import annotations

from collections.abc import Iterator

from domain.findings import Evidence, Finding, Severity

from . import catalog as cat
from .context import Check, Context

C, H, M, L = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW
DAY = 86400.0


def _evidence(name: str, line: int) -> Evidence:
    return Evidence(user=name, path="/etc/passwd", line=line or None)


def uid0(ctx: Context) -> Iterator[Finding]:
    """ACCT-UID0 (critical): an account other than root with UID 0 is a second root."""
    if ctx.facts is None:
        return
    for u in ctx.facts.users:
        if u.uid == 0 and u.name != "root":
            yield ctx.finding(
                cat.BY_ID["ACCT-UID0"],
                "An account other than root has user id 0, which makes it a second root.",
                _evidence(u.name, u.line),
            )


def empty_password(ctx: Context) -> Iterator[Finding]:
    """ACCT-EMPTY-PASSWORD: an account whose password field is empty (no password needed where
    PAM allows it). Critical for UID 0, high with a login shell, medium without one (su and
    some services still accept it). Locked ("!") and disabled ("*") passwords are not empty."""
    if ctx.facts is None:
        return
    for u in ctx.facts.users:
        if u.password != "empty":
            continue
        severity = C if u.uid == 0 else H if u.login_shell else M
        yield ctx.finding(
            cat.BY_ID["ACCT-EMPTY-PASSWORD"],
            "The account has an empty password: anyone can log in as it where empty passwords "
            "are accepted.",
            _evidence(u.name, u.line),
            severity=severity,
        )


def new_accounts(ctx: Context) -> Iterator[Finding]:
    """ACCT-NEW (high): an account that appeared after the detector first saw this host's
    accounts (live watching only: one scan has nothing to compare with; see
    ACCT-RECENT-PASSWORD for that)."""
    if ctx.facts is None or ctx.state.known_users is None:
        return
    for u in ctx.facts.users:
        if u.name not in ctx.state.known_users:
            yield ctx.finding(
                cat.BY_ID["ACCT-NEW"],
                "This account was created while sickbay was watching the host.",
                _evidence(u.name, u.line),
                severity=C if u.uid == 0 else H,
            )


def recent_password(ctx: Context) -> Iterator[Finding]:
    """ACCT-RECENT-PASSWORD (low): an account that can log in with a password whose password
    was set within ``recent_days``, later than the day the system was set up (accounts made by
    the installer or cloud-init on first boot are not reported)."""
    if ctx.facts is None:
        return
    today = ctx.now / DAY
    installed_day = None if ctx.facts.install_time is None else ctx.facts.install_time / DAY
    for u in ctx.facts.users:
        day = u.last_change_day
        if day is None or u.password != "set" or not u.login_shell:
            continue
        if today - day > ctx.thresholds.recent_days or day > today + 1:
            continue
        if installed_day is not None and day <= installed_day + 1:
            continue
        yield ctx.finding(
            cat.BY_ID["ACCT-RECENT-PASSWORD"],
            f"The password of this account was set {max(0, int(today - day))} day(s) ago.",
            _evidence(u.name, u.line),
        )


def service_login(ctx: Context) -> Iterator[Finding]:
    """ACCT-SERVICE-LOGIN (medium): a service account (UID 1-999) with a usable password and a
    login shell. Services get locked passwords and nologin shells; attackers give one back to an
    obscure account to keep a way in."""
    if ctx.facts is None:
        return
    for u in ctx.facts.users:
        if 0 < u.uid < 1000 and u.password == "set" and u.login_shell:
            yield ctx.finding(
                cat.BY_ID["ACCT-SERVICE-LOGIN"],
                "A service account has a password and a login shell.",
                _evidence(u.name, u.line),
            )


CHECKS: tuple[Check, ...] = (uid0, empty_password, new_accounts, recent_password, service_login)
