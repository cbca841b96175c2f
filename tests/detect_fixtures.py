"""Fixtures for the detection tests (loaded with ``pytest_plugins``): planted processes that are
always killed, a fake stratum pool, and system roots whose set-uid and immutable files are always
made harmless again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.planted import FakePool, Planted, port_free
from tests.sysroots import Sysroot, build_centos, build_compromised, build_debian


@pytest.fixture
def planted() -> Iterator[Planted]:
    p = Planted()
    try:
        yield p
    finally:
        p.kill_all()


@pytest.fixture
def fake_pool() -> Iterator[FakePool]:
    """A stratum pool on 127.0.0.1:3333 when that port is free, else on a free port (tests then
    add the port to the pool-port list)."""
    pool = FakePool(3333 if port_free(3333) else 0)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def compromised_root(tmp_path: Path) -> Iterator[Sysroot]:
    sysroot = build_compromised(tmp_path / "sysroot")
    try:
        yield sysroot
    finally:
        sysroot.cleanup()


@pytest.fixture
def debian_root(tmp_path: Path) -> Iterator[Sysroot]:
    sysroot = build_debian(tmp_path / "debian")
    try:
        yield sysroot
    finally:
        sysroot.cleanup()


@pytest.fixture
def centos_root(tmp_path: Path) -> Iterator[Sysroot]:
    sysroot = build_centos(tmp_path / "centos")
    try:
        yield sysroot
    finally:
        sysroot.cleanup()
