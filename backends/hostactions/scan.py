"""The ``scan`` action: ClamAV over the places malware is dropped, results as findings.

ClamAV is a host binary, so it is found and run by absolute path (never from the host's PATH):
``clamdscan`` when clamd's local socket exists (the daemon has its signatures loaded; ``--fdpass``
lets it read files with our rights), else ``clamscan``. Paths default to /tmp /var/tmp /dev/shm
/root /home /etc/cron* /usr/local/bin (globs expanded on the host; missing paths skipped).

Progress: clamdscan runs path by path, one progress line after each. clamscan runs once over all
the paths (loading its signatures takes tens of seconds each time) and its output is streamed
(``HostExec.stream``): it prints a line per file, which :class:`ScanProgress` counts (a progress
line every few seconds: files scanned, detections, where it is) and drops, keeping only the
detections, errors and summary; a detection is shown the moment it is printed. A scan that times
out or loses the host still returns the detections made until then.

The output is attacker-influenced (file names are the attacker's): :func:`parse_clamav` never
raises, takes a ``PATH: SIGNATURE FOUND`` line apart at the last ``": "``, and turns each into a
:class:`domain.findings.Finding` (rule ``SCAN-CLAMAV``, high; critical for miners, trojans,
backdoors, rootkits, webshells, ransomware; actions quarantine / collect). When ClamAV is not
installed the result is FAILED saying so; nothing raises.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backends.hostactions.base import ActionContext, HostAction
from backends.hostactions.files import call, where
from domain.actions import ActionError, ActionPlan, ActionResult, Outcome, PlannedStep, Risk
from domain.findings import Evidence, Finding, Severity, finding_to_dict
from domain.hostexec import ExecError, ExecResult
from domain.sanitize import visible

DEFAULT_PATHS = ("/tmp", "/var/tmp", "/dev/shm", "/root", "/home", "/etc/cron*", "/usr/local/bin")
CLAMDSCAN = ("/usr/bin/clamdscan", "/usr/local/bin/clamdscan", "/usr/sbin/clamdscan")
CLAMSCAN = ("/usr/bin/clamscan", "/usr/local/bin/clamscan", "/usr/sbin/clamscan")
CLAMD_SOCKETS = (
    "/run/clamav/clamd.ctl",
    "/var/run/clamav/clamd.ctl",
    "/run/clamd.scan/clamd.sock",
    "/var/run/clamd.scan/clamd.sock",
    "/run/clamav/clamd.sock",
    "/var/run/clamav/clamd.sock",
)
CLAMD_CONFS = ("/etc/clamav/clamd.conf", "/etc/clamd.d/scan.conf", "/etc/clamd.conf")
RULE_ID = "SCAN-CLAMAV"
MAX_PATHS = 64
MAX_FINDINGS = 5000
_CRITICAL_WORDS = (
    "miner",
    "trojan",
    "backdoor",
    "rootkit",
    "webshell",
    "ransom",
    "exploit",
    "botnet",
    "mirai",
    "gafgyt",
    "xorddos",
    "tsunami",
    "kinsing",
    "revshell",
    "reverseshell",
)

# Host side: which ClamAV binaries exist, whether clamd's socket does, and the paths (globs
# expanded, missing ones dropped).
SCRIPT = (
    r"""
import glob, json, os, stat

def first(paths):
    return next((p for p in paths if os.path.isfile(p) and os.access(p, os.X_OK)), None)

def sockets():
    found = list(@SOCKETS@)
    for conf in @CONFS@:
        try:
            with open(conf, 'rb') as f:
                for raw in f.read(1 << 20).split(b'\n'):
                    w = raw.split()
                    if len(w) == 2 and w[0] == b'LocalSocket':
                        found.insert(0, w[1].decode('utf-8', 'surrogateescape'))
        except OSError:
            pass
    for s in found:
        try:
            if stat.S_ISSOCK(os.stat(s).st_mode):
                return s
        except OSError:
            continue
    return None

paths = []
for p in ARGS['paths']:
    hits = sorted(glob.glob(p)) if any(c in p for c in '*?[') else [p]
    for h in hits:
        if os.path.lexists(h) and h not in paths:
            paths.append(h)
print(json.dumps({'clamdscan': first(@CLAMDSCAN@), 'clamscan': first(@CLAMSCAN@),
                  'socket': sockets(), 'paths': paths[:@MAX@]}))
""".replace("@SOCKETS@", repr(CLAMD_SOCKETS))
    .replace("@CONFS@", repr(CLAMD_CONFS))
    .replace("@CLAMDSCAN@", repr(CLAMDSCAN))
    .replace("@CLAMSCAN@", repr(CLAMSCAN))
    .replace("@MAX@", str(MAX_PATHS))
)


@dataclass(frozen=True, slots=True)
class Detection:
    path: str
    signature: str


@dataclass(frozen=True, slots=True)
class ClamReport:
    detections: tuple[Detection, ...]
    errors: tuple[str, ...]  # "PATH: reason ERROR" lines, and ClamAV's own error lines
    scanned_files: int | None  # from the summary, when there is one
    infected_files: int | None


def parse_clamav(output: bytes | str) -> ClamReport:
    """Parse clamscan / clamdscan output. Never raises on any input."""
    text = output.decode("utf-8", "surrogateescape") if isinstance(output, bytes) else output
    detections: list[Detection] = []
    errors: list[str] = []
    scanned = infected = None
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if line.endswith(" FOUND") and ": " in line:
            path, _, signature = line[: -len(" FOUND")].rpartition(": ")
            signature = signature.strip()
            if path and signature and " " not in signature and len(detections) < MAX_FINDINGS:
                detections.append(Detection(path, signature))
                continue
        if line.endswith(" ERROR") or line.startswith(("ERROR:", "LibClamAV Error")):
            if len(errors) < 1000:
                errors.append(line[:1000])
            continue
        key, _, value = line.partition(":")
        if key in ("Scanned files", "Infected files"):
            try:
                number = int(value.strip())
            except ValueError:
                continue
            if key == "Scanned files":
                scanned = number
            else:
                infected = number
    return ClamReport(tuple(detections), tuple(errors), scanned, infected)


def severity_of(signature: str) -> Severity:
    low = signature.lower()
    return Severity.CRITICAL if any(w in low for w in _CRITICAL_WORDS) else Severity.HIGH


def findings_of(report: ClamReport, host: str, scanner: str, now: float) -> list[Finding]:
    """One finding per detection (files with several signatures: one per signature)."""
    out = []
    for d in report.detections:
        out.append(
            Finding(
                rule_id=RULE_ID,
                title=f"ClamAV: {d.signature}",
                severity=severity_of(d.signature),
                explanation=f"{scanner} recognised this file as {d.signature}.",
                evidence=Evidence(path=d.path, text=d.signature),
                actions=("quarantine", "collect"),
                host=host,
                first_seen=now,
                last_seen=now,
            )
        )
    return out


def parse_paths(params: Mapping[str, Any]) -> list[str]:
    """``paths=`` (space- or comma-separated; shell-quoted for names with spaces)."""
    text = str(params.get("paths", "")).strip()
    if not text:
        return list(DEFAULT_PATHS)
    try:
        words = shlex.split(text.replace(",", " "))
    except ValueError as exc:
        raise ActionError(f"cannot read paths: {exc}; nothing was done") from None
    for word in words:
        if not word.startswith("/"):
            raise ActionError(f"paths must be absolute: {visible(word)!r}; nothing was done")
    if len(words) > MAX_PATHS:
        raise ActionError(f"at most {MAX_PATHS} paths; nothing was done")
    return words


def clamdscan_argv(binary: str, paths: Sequence[str]) -> list[str]:
    return [binary, "--fdpass", "--infected", "--no-summary", *paths]


def clamscan_argv(binary: str, paths: Sequence[str]) -> list[str]:
    """Not ``--infected``: the per-file lines are the progress (counted, not kept)."""
    return [binary, "--recursive", "--stdout", *paths]


_CLEAN = (b": OK", b": Empty file", b": Symbolic link", b": Excluded")
MAX_KEPT = 20000  # lines kept for parsing (detections, errors, the summary)


class ScanProgress:
    """Follows clamscan's lines as they come: counts the clean files, keeps the other lines
    (bounded) for :func:`parse_clamav`, reports each detection at once and a progress line at
    most every ``every_s`` seconds. Host text: reported through ``visible``."""

    def __init__(
        self,
        report: Callable[[str], None],
        *,
        every_s: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.report, self.every_s, self.clock = report, every_s, clock
        self.files = 0
        self.found = 0
        self.kept: list[bytes] = []
        self.last_path = b""
        self.reported_at = clock()

    def line(self, raw: bytes) -> None:
        line = raw.rstrip(b"\r")
        if line.endswith(_CLEAN):
            self.files += 1
            self.last_path = line.rpartition(b": ")[0]
        else:
            if len(self.kept) < MAX_KEPT:
                self.kept.append(line)
            for hit in parse_clamav(line).detections:
                self.files += 1
                self.found += 1
                self.report(f"FOUND {visible(hit.signature)}: {visible(hit.path)}")
        now = self.clock()
        if now - self.reported_at >= self.every_s:
            self.reported_at = now
            self.report(self.summary())

    def summary(self) -> str:
        where = self.last_path.decode("utf-8", "backslashreplace")
        return f"{self.files} file(s) scanned, {self.found} infected" + (
            f"; at {visible(where)[:120]}" if where else ""
        )

    def output(self) -> bytes:
        return b"\n".join(self.kept)


class Scan:
    id = "scan"
    title = "Scan files with ClamAV"
    risk = Risk.READ_ONLY
    params: tuple[str, ...] = ("paths",)

    async def plan(self, ctx: ActionContext, params: Mapping[str, str]) -> ActionPlan:
        wanted = parse_paths(params)
        probe = await call(ctx, SCRIPT, "probe", {"paths": wanted}, timeout=60.0)
        paths = [str(p) for p in probe.get("paths") or []]
        clamd, clamscan, socket = probe.get("clamdscan"), probe.get("clamscan"), probe.get("socket")
        steps = [
            PlannedStep(
                "find ClamAV (absolute paths only) and clamd's socket; expand the paths",
                f"{where(ctx)}: stat {', '.join(CLAMDSCAN + CLAMSCAN)}; glob "
                + " ".join(shlex.quote(w) for w in wanted),
            )
        ]
        warnings: list[str] = []
        scanner = ""
        if clamd and socket:
            scanner = str(clamd)
            steps += [
                PlannedStep(
                    f"scan {p} with clamd (signatures already loaded)",
                    f"{ctx.exec.host}: {shlex.join(clamdscan_argv(scanner, [p]))}",
                )
                for p in paths
            ]
        elif clamscan:
            scanner = str(clamscan)
            steps.append(
                PlannedStep(
                    "scan every path with clamscan (loads its signatures first: slow to start)",
                    f"{ctx.exec.host}: {shlex.join(clamscan_argv(scanner, paths))}",
                )
            )
        else:
            warnings.append(
                f"ClamAV is not installed on {ctx.exec.host} (no clamscan or clamdscan at "
                f"{', '.join(CLAMSCAN + CLAMDSCAN)}): nothing will be scanned"
            )
        if not paths:
            warnings.append("none of the paths exists on the host")
        missing = len(wanted) - len(paths)
        return ActionPlan(
            action=self.id,
            host=ctx.exec.host,
            subject=f"{len(paths)} path(s): {visible(' '.join(paths))[:300]}",
            params={
                **params,
                "paths": " ".join(shlex.quote(p) for p in paths),
                "scanner": scanner,
                "clamd": bool(clamd and socket),
                "fallback": str(clamscan or ""),
            },
            steps=tuple(steps),
            risk=self.risk,
            warnings=tuple(warnings)
            + ((f"{missing} path(s) do not exist",) if missing > 0 else ()),
        )

    async def execute(self, ctx: ActionContext, plan: ActionPlan) -> ActionResult:
        p = plan.params
        scanner = str(p.get("scanner") or "")
        paths = shlex.split(str(p.get("paths") or ""))
        if not scanner:
            where_ = ", ".join(CLAMSCAN + CLAMDSCAN)
            return ActionResult(
                Outcome.FAILED,
                f"ClamAV is not installed on {ctx.exec.host}: nothing was scanned",
                verification=f"looked for {where_}",
                state="nothing was done",
            )
        if not paths:
            return ActionResult(
                Outcome.FAILED,
                "none of the paths exists: nothing was scanned",
                state="nothing was done",
            )
        timeout = _timeout(p)
        outputs: list[bytes] = []
        statuses: list[int | None] = []
        if p.get("clamd"):
            refused = await self._clamd(ctx, scanner, paths, timeout, outputs, statuses)
            fallback = str(p.get("fallback") or "")
            if refused and fallback:
                ctx.progress(f"clamd refused the connection ({visible(refused)}); using clamscan")
                scanner, outputs, statuses = fallback, [], []
        lost = ""
        if not outputs:
            ctx.progress(
                f"clamscan over {len(paths)} path(s) (it loads its signatures first: this "
                "takes a while)"
            )
            progress = ScanProgress(ctx.progress)
            result: ExecResult | None = None
            try:
                result = await ctx.exec.stream(
                    clamscan_argv(scanner, paths), progress.line, timeout=timeout
                )
            except ExecError as exc:  # timed out, or the host went away: keep what was seen
                lost = str(exc)
            outputs.append(progress.output() + b"\n" + (result.stderr if result else b""))
            statuses.append(result.status if result else None)
            ctx.progress(progress.summary())
        else:
            for detection in parse_clamav(b"\n".join(outputs)).detections:
                ctx.progress(f"FOUND {visible(detection.signature)}: {visible(detection.path)}")
        report = parse_clamav(b"\n".join(outputs))
        now = time.time()
        name = scanner.rsplit("/", 1)[-1]
        findings = findings_of(report, ctx.exec.host, name, now)
        details_lost = {"stopped": visible(lost)} if lost else {}
        broken = [s for s in statuses if s not in (0, 1, 2)]
        details: dict[str, Any] = {
            "scanner": scanner,
            "paths": paths,
            "findings": [finding_to_dict(f) for f in findings],
            "errors": list(report.errors[:200]),
            "statuses": statuses,
            **details_lost,
        }
        if broken or lost:
            return ActionResult(
                Outcome.FAILED,
                f"{name} did not finish ({visible(lost) if lost else f'status {broken[0]}'})",
                verification=f"{len(findings)} detection(s) before it stopped",
                state="nothing was changed on the host (read-only)",
                details=details,
            )
        summary = (
            f"{len(findings)} infected file(s) found by {name}"
            if findings
            else f"{name}: nothing found in {len(paths)} path(s)"
        )
        verification = f"exit status {', '.join(map(str, statuses))}; {len(report.errors)} error(s)"
        if report.scanned_files is not None:
            verification += f"; {report.scanned_files} file(s) scanned"
        return ActionResult(Outcome.DONE, summary, verification=verification, details=details)

    async def _clamd(  # noqa: PLR0917
        self,
        ctx: ActionContext,
        scanner: str,
        paths: Sequence[str],
        timeout: float,
        outputs: list[bytes],
        statuses: list[int | None],
    ) -> str:
        """Scan path by path with clamdscan; returns clamd's refusal (then nothing is kept)."""
        for number, path in enumerate(paths, 1):
            result = await ctx.exec.run(clamdscan_argv(scanner, [path]), timeout=timeout)
            said = (result.stdout + result.stderr).decode("utf-8", "replace")
            if number == 1 and result.status == 2 and "connect" in said.lower():
                return said.strip()[:200]
            outputs.append(result.stdout + b"\n" + result.stderr)
            statuses.append(result.status)
            found = parse_clamav(result.stdout).detections
            ctx.progress(
                f"[{number}/{len(paths)}] {visible(path)}: "
                + (f"{len(found)} infected" if found else "done")
            )
        return ""


def _timeout(params: Mapping[str, Any]) -> float:
    text = str(params.get("timeout") or "3600").strip()
    try:
        value = float(text)
    except ValueError:
        raise ActionError(f"timeout must be seconds: {visible(text)!r}") from None
    return min(max(value, 10.0), 86400.0)


def findings_from_result(result: ActionResult) -> list[dict[str, Any]]:
    """The findings a scan result carries (as ``finding_to_dict`` dicts)."""
    found = result.details.get("findings") if result.details else None
    return [f for f in found if isinstance(f, dict)] if isinstance(found, list) else []


SCAN = Scan()
ACTIONS: tuple[HostAction, ...] = (SCAN,)
