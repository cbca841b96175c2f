"""The socket list: listeners first, then everything else, by local port."""

from __future__ import annotations

from collections.abc import Callable

from domain.model import Socket
from domain.sanitize import visible
from widgets.live_table import Column, LiveTable


def socket_key(socket: Socket) -> str:
    return socket.key


def endpoint(addr: str, port: int) -> str:
    """``1.2.3.4:22``, ``[2001:db8::1]:443``; port 0 (unbound, no peer) is ``*``."""
    shown = visible(addr)
    host = f"[{shown}]" if ":" in shown else shown
    return f"{host}:{port if port else '*'}"


def listening_first(socket: Socket) -> tuple[int, int, str]:
    return (0 if socket.listening else 1, socket.local_port, socket.state)


def socket_columns() -> list[Column[Socket]]:
    return [
        Column("proto", "PROTO", lambda s: visible(s.proto), 5),
        Column(
            "local",
            "LOCAL",
            lambda s: endpoint(s.local_addr, s.local_port),
            21,
            sort_key=lambda s: (s.local_port, s.local_addr),
            cut="start",
        ),
        Column(
            "remote",
            "REMOTE",
            lambda s: endpoint(s.remote_addr, s.remote_port),
            21,
            sort_key=lambda s: (s.remote_addr, s.remote_port),
            cut="start",
        ),
        Column("state", "STATE", lambda s: visible(s.state), 11, sort_key=listening_first),
        Column(
            "pid",
            "PID",
            lambda s: "-" if s.pid is None else str(s.pid),
            7,
            "right",
            lambda s: s.pid,
        ),
        Column(
            "process",
            "PROCESS",
            lambda s: visible(s.process) if s.process else "-",
            7,
            flex=True,
        ),
    ]


class SocketTable(LiveTable[Socket]):
    """Sockets, listeners first (sorted by the STATE column: listening, then local port)."""

    def __init__(
        self,
        *,
        mark: Callable[[Socket], str | None] | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(
            socket_columns(),
            key=socket_key,
            sort="state",
            reverse=False,
            mark=mark,
            name=name,
            id=id,
            classes=classes,
            disabled=disabled,
        )
