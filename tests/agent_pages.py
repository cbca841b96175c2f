"""A page size for tests of the collector through a cloud agent that gives a few pages on any
machine: this one has 70 processes, a CI machine may have a thousand, and a fixed small budget
would need more runs than the bastion allows (MAX_PAGES) on a big one."""

from __future__ import annotations

import subprocess

from backends.cloud.collect import MARK, MIN_BUDGET, collector_command


def page_budget(pages: int) -> int:
    """Characters per page so that this machine's sample (as it is now) takes about ``pages``
    runs: measured by one unpaged run of the real command."""
    done = subprocess.run(
        ["/bin/sh", "-c", collector_command(None, 10**8)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith(MARK))
    return max(MIN_BUDGET, (len(line) - len(MARK)) // pages + 1)
