"""Loopback emulators of cloud provider APIs, for tests that drive the real SDKs.

Each emulator is a real HTTP server on 127.0.0.1 (a random port), run in a thread, that checks
the provider's real request signature and keeps the state the API describes. What they share
lives here and is provider-neutral:

* :class:`LoopbackServer`: the server thread; the emulator gives it one function
  ``handle(method, path, headers, body) -> (status, headers, body)``;
* :class:`Fault` / :class:`Faults`: "the next N calls of this action fail like this": an error
  response (throttling, 5xx, any code), a hang before the call is processed (the client times
  out, nothing happened), or a hang *after* it is processed (the client times out, but the
  change was made: what idempotency tokens are for);
* :class:`RecordedCall`: every call received, so a test can assert what really reached the API.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

Handler = Callable[[str, str, Mapping[str, str], bytes], tuple[int, dict[str, str], bytes]]


def request_id() -> str:
    """A request id in the usual upper-case UUID form."""
    return str(uuid.uuid4()).upper()


def progress(started: float, duration: float, now: float | None = None) -> int:
    """0-100: how far a job that takes ``duration`` seconds has come (snapshots, commands)."""
    elapsed = (time.monotonic() if now is None else now) - started
    if duration <= 0:
        return 100
    return max(0, min(100, int(elapsed * 100 / duration)))


@dataclass(frozen=True)
class RecordedCall:
    action: str
    params: dict[str, str]  # as received, the signature removed
    status: int  # HTTP status returned (0: the client was gone before the answer)
    code: str = ""  # the error code returned, "" on success
    at: float = field(default_factory=time.monotonic)


FaultKind = Literal["error", "hang", "hang-after"]


@dataclass(frozen=True)
class Fault:
    """``error``: answer ``status`` with ``code``/``message`` without doing anything; ``hang``:
    sleep ``seconds`` first (then process); ``hang-after``: process, then sleep before
    answering (the client has given up by then, but the change was made)."""

    kind: FaultKind
    status: int = 0
    code: str = ""
    message: str = ""
    seconds: float = 0.0


class Faults:
    """Per action, the faults to apply to its next calls, in order (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: dict[str, list[Fault | None]] = {}

    def add(self, action: str, fault: Fault, times: int = 1, *, skip: int = 0) -> None:
        """``skip``: let that many calls through first (after those already queued)."""
        with self._lock:
            self._queue.setdefault(action, []).extend([None] * skip + [fault] * times)

    def take(self, action: str) -> Fault | None:
        with self._lock:
            queue = self._queue.get(action)
            return queue.pop(0) if queue else None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = dict(self.headers.items())
        status, out_headers, out = self.server.handle(self.command, self.path, headers, body)
        try:
            self.send_response(status)
            for name, value in out_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        except OSError:
            pass  # the client gave up (timed out) before the answer

    do_GET = do_POST = _serve

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    handle: Handler


class LoopbackServer:
    """An HTTP server on 127.0.0.1 (random port) in a daemon thread. ``stopping`` is set when
    it stops: hanging handlers wait on it, so stopping never waits for a hang to end."""

    def __init__(self, handle: Handler) -> None:
        self.stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _RequestHandler)
        self._server.handle = handle
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def pause(self, seconds: float) -> None:
        """Sleep in a handler (a hang), cut short when the server stops."""
        self.stopping.wait(seconds)
