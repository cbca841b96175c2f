"""The collector through the cloud agent (Alibaba Cloud Assistant, Tencent TAT): triage goes on
once isolation has cut SSH.

The command is one shell line that runs the target's python3 (absolute paths, ``-I -S``) on a
program carrying the collector compressed inside it: nothing is written to the target's disk.
It takes two samples a second apart (so %CPU and rates exist) and prints the second, compressed,
after a marker. The agents cap a command's size and its output (tens of KB), so the sample is
zlib-compressed and base64-encoded; a host whose sample does not fit says so.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import shlex
import zlib
from pathlib import Path
from typing import Any

from backends.delta import PYTHONS

MARK = "SICKBAY-SAMPLE:"
NO_PYTHON = "SICKBAY-NO-PYTHON"

# Python 3.6-compatible: runs on the target. P is the compressed collector.
_PROGRAM = (
    "import base64,io,json,sys,time,zlib\n"
    "g={'__name__':'sickbay_collector'}\n"
    "exec(zlib.decompress(base64.b64decode(P)),g)\n"
    "c=g['Collector']()\n"
    "c.sample()\n"
    "time.sleep(1)\n"
    "s=c.sample()\n"
    "out=base64.b64encode(zlib.compress(json.dumps(s).encode(),9)).decode()\n"
    "sys.stdout.write('" + MARK + "'+out+'\\n')\n"
)


class AgentCollectError(Exception):
    """The command ran but gave no sample (no python3, output cut, garbage); says which."""


def _compact_collector() -> bytes:
    """The collector without its docstrings (the agents cap a command's size: Cloud Assistant
    at about 16 KB, TAT at 64 KB). The same code: ast.unparse of the same tree."""
    source = (Path(__file__).resolve().parent.parent / "collector.py").read_text()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
            and isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree).encode()


def collector_command(pythons: tuple[str, ...] = PYTHONS) -> str:
    """The shell command to give the cloud agent: the program once, in a variable, tried with
    each python3 path in turn."""
    packed = base64.b64encode(zlib.compress(_compact_collector(), 9)).decode()
    program = f"P={packed!r}\n" + _PROGRAM
    paths = " ".join(shlex.quote(p) for p in pythons)
    return (
        f"P={shlex.quote(program)}; for p in {paths}; do "
        f'[ -x "$p" ] && exec "$p" -I -S -c "$P"; done; echo {NO_PYTHON}; exit 127'
    )


def command_digest(command: str) -> str:
    return hashlib.sha256(command.encode()).hexdigest()


def parse_output(output: str) -> dict[str, Any]:
    """The sample from the command's output (host text: anything may be in it)."""
    if NO_PYTHON in output:
        raise AgentCollectError("the host has no python3 for the collector")
    line = next((ln for ln in output.splitlines() if ln.startswith(MARK)), None)
    if line is None:
        raise AgentCollectError("no sample in the command's output (cut by the agent's limit?)")
    try:
        data = json.loads(zlib.decompress(base64.b64decode(line[len(MARK) :], validate=True)))
    except (ValueError, zlib.error) as exc:
        raise AgentCollectError(f"the sample could not be read: {exc}") from None
    if not isinstance(data, dict):
        raise AgentCollectError("the sample is not an object")
    return data
