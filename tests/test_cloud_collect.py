"""The collector through a cloud agent, in pages: the command's size, reading pages (hostile
output included) and merging them. The paged runs execute the real command with /bin/sh on this
machine, against real planted processes."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from backends.cloud.collect import (
    MARK,
    MIN_BUDGET,
    NO_PYTHON,
    AgentCollectError,
    Page,
    PageMerger,
    _compact_collector,
    collector_command,
    parse_output,
)
from tests.agent_pages import page_budget


def encoded(page: dict[str, Any]) -> str:
    return MARK + base64.b85encode(zlib.compress(json.dumps(page).encode())).decode() + "\n"


def run_pages(budget: int, limit: int = 20) -> tuple[PageMerger, list[str]]:
    """Every page, as the CLI asks for them; the raw marker lines too."""
    merger, lines, cursor = PageMerger(), [], None
    for _ in range(limit):
        done = subprocess.run(
            ["/bin/sh", "-c", collector_command(cursor, budget)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        lines += [ln for ln in done.stdout.splitlines() if ln.startswith(MARK)]
        cursor = merger.add(parse_output(done.stdout))
        if cursor is None:
            break
    return merger, lines


@pytest.fixture
def big_cmdline() -> Iterator[subprocess.Popen[bytes]]:
    """A process whose cmdline does not compress (60 KB of hex): no page can hold it whole."""
    proc = subprocess.Popen(["sh", "-c", "sleep 60; :", os.urandom(30000).hex()])
    yield proc
    proc.kill()
    proc.wait()


def test_the_command_fits_the_agents_size_caps() -> None:
    command = collector_command((0, 4194304, 0, 0, 0))
    assert len(base64.b64encode(command.encode())) <= 16 * 1024  # Cloud Assistant
    assert len(command) <= 64 * 1024  # TAT
    compact = _compact_collector().decode()
    assert "class Agent" not in compact and "def bench" not in compact
    compile(compact, "collector", "exec")


def test_a_budget_too_small_for_a_page_is_refused() -> None:
    with pytest.raises(ValueError, match="budget"):
        collector_command(None, MIN_BUDGET - 1)


def test_pages_hold_every_process_and_stay_within_the_budget(
    big_cmdline: subprocess.Popen[bytes],
) -> None:
    sleepers = [subprocess.Popen(["sleep", "60"]) for _ in range(40)]
    try:
        budget = min(page_budget(4), 20000)  # under the big row's size: it is always cut
        merger, lines = run_pages(budget)
    finally:
        for proc in sleepers:
            proc.kill()
            proc.wait()
    assert merger.complete and len(merger.pages) >= 2
    assert all(len(line) - len(MARK) <= budget for line in lines)
    sample = merger.sample()
    by_pid = {p["pid"]: p for p in sample["processes"]}
    assert len(by_pid) == len(sample["processes"])
    assert {p.pid for p in sleepers} <= set(by_pid)
    big = by_pid[big_cmdline.pid]
    assert len(big["cmdline"]) == 1 and len(big["cmdline"][0]) == 1024  # cut, and said so
    assert any("cmdline cut to 1 KB" in e["reason"] for e in sample["errors"])
    assert any("pages through the cloud agent" in e["what"] for e in sample["errors"])
    assert sample["metrics"] == merger.pages[0].sample["metrics"]


def test_hostile_or_broken_output_is_a_clear_error() -> None:
    with pytest.raises(AgentCollectError, match="no python3"):
        parse_output(f"{NO_PYTHON}\n")
    with pytest.raises(AgentCollectError, match="no sample"):
        parse_output("bash: something\n")
    with pytest.raises(AgentCollectError, match="could not be read"):
        parse_output(MARK + "@@@@not-base85\n")
    cut = encoded({"processes": [], "sockets": []})
    with pytest.raises(AgentCollectError, match="could not be read"):
        parse_output(cut[: len(cut) // 2])
    with pytest.raises(AgentCollectError, match="not an object"):
        parse_output(MARK + base64.b85encode(zlib.compress(b"[1]")).decode())
    with pytest.raises(AgentCollectError, match="processes"):
        parse_output(encoded({"processes": "x", "sockets": []}))
    for bad in ([1, 2, 3], ["a", 0, 0, 0, 0], [True, 0, 0, 0, 0], [-1, 0, 0, 0, 0], "$(reboot)"):
        with pytest.raises(AgentCollectError, match="cursor"):
            parse_output(encoded({"processes": [], "sockets": [], "next": bad}))


def test_a_page_that_does_not_go_forward_is_refused() -> None:
    merger = PageMerger()
    assert merger.add(Page({"processes": [], "sockets": []}, (0, 50, 0, 0, 0))) == (0, 50, 0, 0, 0)
    with pytest.raises(AgentCollectError, match="forward"):
        merger.add(Page({"processes": [], "sockets": []}, (0, 50, 0, 0, 0)))


def test_merging_keeps_the_first_copy_of_a_row_and_says_what_is_missing() -> None:
    first = {
        "metrics": {"cpu": 1},
        "processes": [{"pid": 1, "name": "init"}, {"pid": 7, "name": "a"}],
        "sockets": [],
        "errors": [{"what": "x", "reason": "y"}],
        "hidden": [],
        "proc_mounts": [],
    }
    second = {
        "metrics": {"cpu": 99},
        "processes": [{"pid": 7, "name": "b"}, {"pid": 9, "name": "c"}],
        "sockets": [{"proto": "tcp", "local_port": 22, "inode": 5}],
        "errors": [{"what": "x", "reason": "y"}],
        "hidden": [{"pid": 4000}],
        "proc_mounts": ["/proc/9"],
    }
    merger = PageMerger()
    merger.add(Page(first, (0, 7, 0, 0, 0)))
    merger.add(Page(second, (1, 5, 22, 0, 1)))  # and the host never sent the third page
    sample = merger.sample()
    assert not merger.complete
    assert sample["metrics"] == {"cpu": 1}
    assert [(p["pid"], p["name"]) for p in sample["processes"]] == [(1, "init"), (7, "a"), (9, "c")]
    assert sample["hidden"] == [{"pid": 4000}] and sample["proc_mounts"] == ["/proc/9"]
    whats = [e["what"] for e in sample["errors"]]
    assert whats.count("x") == 1
    assert "rows from [1, 5, 22, 0, 1] on" in whats
