"""The collector through the cloud agent (Alibaba Cloud Assistant, Tencent TAT): triage goes on
once isolation has cut SSH.

The command is one shell line that runs the target's python3 (absolute paths, ``-I -S``) on a
program carrying the collector compressed inside it: nothing is written to the target's disk.
It takes two samples a second apart (so %CPU and rates exist) and prints the second, compressed,
after a marker.

The agents keep only the first 24 KB of a command's output, and a sample of a host with a few
hundred processes is bigger than that. So the sample travels in pages: each run prints as many
rows (processes by pid, then sockets) as fit in ``budget`` characters, and the cursor of the
first row it left out; the next run is the same program given that cursor. Every run takes its
own sample, so pages are a few seconds apart: rows are merged by key, the first page's metrics
are kept, and the sample says it was taken in N pages. A cursor is five integers, checked to go
forward, so a hostile host cannot make the bastion loop or put text of its choosing into the
next command.

The command's size is capped too (Cloud Assistant: 16 KB once base64-encoded, TAT: 64 KB): the
collector goes without its docstrings and without the SSH agent loop, compressed and in base85.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import shlex
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.delta import PYTHONS

MARK = "SICKBAY-SAMPLE:"
NO_PYTHON = "SICKBAY-NO-PYTHON"
OUTPUT_BUDGET = 20000  # characters per page: under the agents' 24 KB with room for noise
MIN_BUDGET = 4000
MAX_PAGES = 12  # 12 pages of 20,000 characters: some 5,000 processes
CURSOR_LEN = 5

# Top-level definitions of collector.py the agent path does not need (the SSH agent loop, the
# command line): left out of the command, which must stay small.
_UNUSED = {"Agent", "serve", "agent_main", "bench", "main"}

# Python 3.6-compatible, runs on the target after the collector: argv is [budget, cursor JSON].
_PAGER = (
    '''
def _row_order(kind, row):
    if kind == "processes":
        return [0, int(row.get("pid") or 0), 0, 0, 0]
    text = json.dumps(_socket_key(row)).encode()
    return [1, int(row.get("inode") or 0), int(row.get("local_port") or 0),
            int(row.get("remote_port") or 0), zlib.crc32(text) & 0xFFFFFFFF]


def _page(argv):
    import base64
    budget = int(argv[0])
    start = json.loads(argv[1]) if len(argv) > 1 else None
    c = Collector()
    c.sample()
    time.sleep(1)
    s = c.sample()
    c.close()
    rows = [(_row_order(k, r), k, r) for k in ("processes", "sockets") for r in s[k]]
    rows.sort(key=lambda t: t[0])
    if start:
        rows = [t for t in rows if t[0] >= start]
    errors = list(s.get("errors") or [])

    def encode(n):
        page = dict(s, processes=[], sockets=[], errors=errors)
        for _, kind, row in rows[:n]:
            page[kind].append(row)
        page["next"] = rows[n][0] if n < len(rows) else None
        return base64.b85encode(zlib.compress(json.dumps(page).encode(), 9)).decode()

    lo, hi = 0, len(rows)
    out = encode(hi)
    if len(out) > budget:
        out = encode(0)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            text = encode(mid)
            if len(text) <= budget:
                lo, out = mid, text
            else:
                hi = mid
        if lo == 0 and rows:
            order, kind, row = rows[0]
            line = " ".join(row.get("cmdline") or [])
            rows[0] = (order, kind, dict(row, cmdline=[line[:1024]]))
            errors.append({"what": "row {}".format(order),
                           "reason": "too big for the agent's output: cmdline cut to 1 KB"})
            out = encode(1)
    sys.stdout.write("'''
    + MARK
    + """" + out + "\\n")


_page(sys.argv[1:])
"""
)


class AgentCollectError(Exception):
    """The command ran but gave no sample (no python3, output cut, garbage); says which."""


@dataclass(frozen=True)
class Page:
    """One run's output: a sample holding some of the rows, and where the next run starts
    (None: this was the last page)."""

    sample: dict[str, Any]
    next: tuple[int, ...] | None


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _is_main_block(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":``"""
    test = getattr(node, "test", None)
    return (
        isinstance(node, ast.If)
        and isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
    )


def _compact_collector() -> bytes:
    """collector.py without docstrings and without what only the SSH agent uses: the same code,
    ast.unparse of the same tree."""
    source = (Path(__file__).resolve().parent.parent / "collector.py").read_text()
    tree = ast.parse(source)
    tree.body = [
        node
        for node in tree.body
        if not (isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in _UNUSED)
        and not _is_main_block(node)
    ]
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
            and isinstance(body, list)
            and body
            and _is_docstring(body[0])
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree).encode()


def _payload() -> str:
    return base64.b85encode(zlib.compress(_compact_collector() + _PAGER.encode(), 9)).decode()


def collector_command(
    cursor: tuple[int, ...] | None = None,
    budget: int = OUTPUT_BUDGET,
    pythons: tuple[str, ...] = PYTHONS,
) -> str:
    """The shell command to give the cloud agent for the page starting at ``cursor`` (None: the
    first): the program once, in a variable, tried with each python3 path in turn."""
    if budget < MIN_BUDGET:
        raise ValueError(f"an output budget under {MIN_BUDGET} characters cannot hold a page")
    program = (
        f"P={_payload()!r}\n"
        "import base64,zlib\n"
        "exec(zlib.decompress(base64.b85decode(P)),{'__name__':'sickbay_collector'})\n"
    )
    args = [str(int(budget))]
    if cursor is not None:
        args.append(json.dumps([int(v) for v in cursor], separators=(",", ":")))
    paths = " ".join(shlex.quote(p) for p in pythons)
    argv = " ".join(shlex.quote(a) for a in args)
    return (
        f"P={shlex.quote(program)}; for p in {paths}; do "
        f'[ -x "$p" ] && exec "$p" -I -S -c "$P" {argv}; done; echo {NO_PYTHON}; exit 127'
    )


def command_digest(command: str) -> str:
    return hashlib.sha256(command.encode()).hexdigest()


def _cursor(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    if (
        isinstance(value, list)
        and len(value) == CURSOR_LEN
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**64 for v in value)
    ):
        return tuple(value)
    raise AgentCollectError("the page's cursor is not five integers")


def parse_output(output: str) -> Page:
    """One page from a run's output (host text: anything may be in it)."""
    if NO_PYTHON in output:
        raise AgentCollectError("the host has no python3 for the collector")
    line = next((ln for ln in output.splitlines() if ln.startswith(MARK)), None)
    if line is None:
        raise AgentCollectError("no sample in the command's output (cut by the agent's limit?)")
    try:
        data = json.loads(zlib.decompress(base64.b85decode(line[len(MARK) :].strip())))
    except (ValueError, zlib.error) as exc:
        raise AgentCollectError(
            f"the sample could not be read ({len(line)} characters; cut by the agent?): {exc}"
        ) from None
    if not isinstance(data, dict):
        raise AgentCollectError("the sample is not an object")
    following = _cursor(data.pop("next", None))
    for part in ("processes", "sockets"):
        if not isinstance(data.get(part), list):
            raise AgentCollectError(f"the sample's {part} are not a list")
    return Page(data, following)


def _socket_identity(row: Any) -> str:
    fields = ("proto", "local_addr", "local_port", "remote_addr", "remote_port", "inode")
    return json.dumps([row.get(f) for f in fields] if isinstance(row, dict) else row)


class PageMerger:
    """Pages into one sample. ``add`` returns the next page's cursor, or None when complete."""

    def __init__(self) -> None:
        self.pages: list[Page] = []

    def add(self, page: Page) -> tuple[int, ...] | None:
        last = self.pages[-1].next if self.pages else None
        if last is not None and (page.next is not None and page.next <= last):
            raise AgentCollectError("the host sent a page that does not go forward")
        self.pages.append(page)
        return page.next

    @property
    def complete(self) -> bool:
        return bool(self.pages) and self.pages[-1].next is None

    def sample(self) -> dict[str, Any]:
        """The merged sample (the first page's metrics; rows by key, first seen kept)."""
        if not self.pages:
            raise AgentCollectError("no page was read")
        merged = dict(self.pages[0].sample)
        procs: dict[Any, Any] = {}
        socks: dict[str, Any] = {}
        errors: list[Any] = []
        hidden: dict[Any, Any] = {}
        mounts: list[Any] = []
        for page in self.pages:
            for p in page.sample["processes"]:
                procs.setdefault(p.get("pid") if isinstance(p, dict) else id(p), p)
            for s in page.sample["sockets"]:
                socks.setdefault(_socket_identity(s), s)
            for e in page.sample.get("errors") or []:
                if e not in errors:
                    errors.append(e)
            for h in page.sample.get("hidden") or []:
                hidden.setdefault(h.get("pid") if isinstance(h, dict) else repr(h), h)
            for m in page.sample.get("proc_mounts") or []:
                if m not in mounts:
                    mounts.append(m)
        if len(self.pages) > 1:
            errors.append(
                {
                    "what": f"sample taken in {len(self.pages)} pages through the cloud agent",
                    "reason": "rows come from runs a few seconds apart",
                }
            )
        if not self.complete:
            cut = self.pages[-1].next
            errors.append(
                {
                    "what": f"rows from {list(cut or [])} on",
                    "reason": f"not read: the sample needed more than {len(self.pages)} pages",
                }
            )
        merged.update(
            processes=list(procs.values()),
            sockets=list(socks.values()),
            errors=errors,
            hidden=list(hidden.values()),
            proc_mounts=mounts,
        )
        return merged


def collect_pages(
    run_page: Callable[[str, int], str],
    budget: int = OUTPUT_BUDGET,
    max_pages: int = MAX_PAGES,
) -> PageMerger:
    """The collector through the agent, page by page: ``run_page(command, number)`` runs one
    page's command (plan, execute, audit: the caller's) and returns its output. Stops at the
    last page or after ``max_pages`` (the merged sample then lists what is missing). Raises
    :class:`AgentCollectError` naming the page that could not be read."""
    merger = PageMerger()
    cursor: tuple[int, ...] | None = None
    for number in range(1, max_pages + 1):
        output = run_page(collector_command(cursor, budget), number)
        try:
            cursor = merger.add(parse_output(output))
        except AgentCollectError as exc:
            raise AgentCollectError(f"page {number}: {exc}") from None
        if cursor is None:
            break
    return merger
