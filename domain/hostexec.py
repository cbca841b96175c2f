"""How response actions reach a host: the local machine or an SSH target, same interface.

Actions prefer :meth:`HostExec.run_python` (a small stdlib script run by the target's own
python3 with ``-I -S``, nothing written to its disk, nothing from its PATH), read /proc
themselves and verify what they did by reading state back. They run a host binary only where
there is no other way (``nft``/``iptables``, ``clamscan``), by absolute path, and say so in the
plan.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

MAX_LINE = 1 << 16  # bytes of one streamed line


@dataclass(frozen=True, slots=True)
class ExecResult:
    status: int | None  # exit status; None: killed by a signal or timed out
    stdout: bytes
    stderr: bytes


class ExecError(Exception):
    """The host could not be reached, or the command could not be started or timed out."""


class HostExec(Protocol):
    @property
    def host(self) -> str:
        """The host's display name (as in the audit log)."""
        ...

    async def run(
        self, argv: Sequence[str], *, stdin: bytes = b"", timeout: float = 60.0
    ) -> ExecResult:
        """Run ``argv`` (no shell; arguments passed as given) on the host."""
        ...

    async def stream(
        self, argv: Sequence[str], on_line: Callable[[bytes], None], *, timeout: float = 60.0
    ) -> ExecResult:
        """Run ``argv`` like :meth:`run` (no stdin), handing each line of its stdout to
        ``on_line`` as it arrives (without the newline; a line longer than
        :data:`MAX_LINE` is cut there). For long commands whose progress the operator
        watches (clamscan); the result's ``stdout`` is empty: the lines went to ``on_line``."""
        ...

    async def run_python(
        self, script: str, args: Mapping[str, Any], *, timeout: float = 60.0
    ) -> Any:
        """Run ``script`` with the host's python3 -I -S; ``args`` travel as JSON on stdin and
        the script finds them decoded in its global ``ARGS``; it prints one JSON value (ASCII:
        ``json.dumps`` defaults), returned decoded. Raises :class:`ExecError` if it fails (a
        non-zero exit, a traceback, no JSON, a timeout, the host unreachable)."""
        ...

    async def fetch(self, remote: str, local: Path, *, limit: int | None = None) -> int:
        """Copy the host's file ``remote`` to ``local`` (SFTP over SSH); returns bytes copied.
        Works for /proc/PID/exe of a deleted or memfd executable."""
        ...
