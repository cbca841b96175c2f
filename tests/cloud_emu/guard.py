"""A guard for cloud tests: no connection or name lookup may leave loopback.

``loopback_only`` (registered in conftest; modules use it with
``pytestmark = pytest.mark.usefixtures("loopback_only")``) refuses (and
remembers) every socket connect and getaddrinfo to anything but loopback, points the proxy
variables at a documentation address so a client that honours them fails loudly, and fails the
test if anything tried."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest


def is_loopback(host: Any) -> bool:
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return str(host) == "localhost"


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Refuse (and remember) every connection or lookup to anything but loopback; a proxy in
    the environment must not be used either."""
    refused: list[Any] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address[0]):
            refused.append(address)
            raise ConnectionRefusedError(f"test guard: {address!r} is not loopback")

    def connect(sock: socket.socket, address: Any) -> None:
        check(sock, address)
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        check(sock, address)
        return real_connect_ex(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kw: Any) -> Any:
        if host is not None and not is_loopback(host):
            refused.append(host)
            raise socket.gaierror(f"test guard: no lookup of {host!r}")
        return real_getaddrinfo(host, *args, **kw)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(var, "http://192.0.2.1:3128")
    for var in ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    yield refused
    assert refused == [], f"a test tried to leave loopback: {refused}"
