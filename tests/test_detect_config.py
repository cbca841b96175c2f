"""The rules file: thresholds, indicators, allowlists, user rules, and what bad files say."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.detect import (
    RULES,
    DetectConfig,
    Detector,
    RulesError,
    config_from_dict,
    load_rules_file,
)
from domain.detect.config import __doc__ as FORMAT_DOC
from domain.findings import ACTIONS, Severity
from domain.model import HostSnapshot
from tests.fakes import T0, metrics, process, socket_row
from tests.sysroots import write


def snapshot() -> HostSnapshot:
    procs = (
        process(
            10,
            "frpc",
            exe="/tmp/frpc",
            cmdline=("/tmp/frpc", "-c", "x.ini", "--remote-port", "7000"),
        ),
        process(11, "java", exe="/usr/lib/jvm/bin/java", user="app"),
        process(12, "node_exporter", exe="/opt/ne/node_exporter"),
    )
    sockets = (
        socket_row(8443, 11, "java"),
        socket_row(9100, 12, "node_exporter"),
        socket_row(
            40000,
            11,
            "java",
            local_addr="10.0.0.2",
            remote_addr="198.51.100.7",
            remote_port=4444,
            state="ESTABLISHED",
        ),
    )
    return HostSnapshot("h", "h", T0, "test", metrics(1), procs, sockets)


def test_the_documented_example_is_valid(tmp_path: Path) -> None:
    """The example in the module docstring is the format's documentation: it must load."""
    assert FORMAT_DOC is not None
    text = FORMAT_DOC.split("Example (``sickbay scan --rules rules.toml``)::", 1)[1]
    example = "\n".join(line[4:] for line in text.split("\n\nRegular expressions")[0].splitlines())
    path = write(tmp_path, "/rules.toml", example)
    config = load_rules_file(path)
    assert config.warnings == ()
    assert config.thresholds.fanout_remotes == 50
    assert "mysvc-miner" in config.indicators.miner_names
    assert {r.id for r in config.custom} == {"LOCAL-PROC-1", "LOCAL-FILE-1", "LOCAL-NET-1"}


def test_indicators_extend_the_defaults() -> None:
    config = config_from_dict(
        {"indicators": {"miner_names": ["frpc"], "pool_ports": [7000], "listen_ports": [8443]}}
    )
    assert "xmrig" in config.indicators.miner_names and "frpc" in config.indicators.miner_names
    fs = Detector(config).evaluate(snapshot())
    assert any(f.rule_id == "PROC-MINER-NAME" and f.evidence.pid == 10 for f in fs)
    assert not any(f.rule_id == "NET-LISTENER-UNEXPECTED" and f.evidence.port == 8443 for f in fs)


def test_allowlists_by_field() -> None:
    base = Detector().evaluate(snapshot())
    assert any(f.evidence.port == 9100 for f in base)
    assert any(f.rule_id == "PROC-EXE-TEMP" for f in base)
    config = config_from_dict(
        {"allow": {"ports": [9100], "exes": ["/tmp/frp*"], "rules": ["NET-LISTENER-*"]}}
    )
    fs = Detector(config).evaluate(snapshot())
    assert not any(f.evidence.port == 9100 for f in fs)
    assert not any(f.evidence.exe == "/tmp/frpc" for f in fs)
    assert not any(f.rule_id.startswith("NET-LISTENER-") for f in fs)


def test_scoped_allow_entries_need_every_field() -> None:
    config = config_from_dict(
        {"allow": {"match": [{"rule": "NET-LISTENER-UNEXPECTED", "port": 8443, "process": "java"}]}}
    )
    fs = Detector(config).evaluate(snapshot())
    ports = {f.evidence.port for f in fs if f.rule_id == "NET-LISTENER-UNEXPECTED"}
    assert ports == {9100}
    wrong_process = config_from_dict({"allow": {"match": [{"port": 8443, "process": "nginx"}]}})
    assert any(f.evidence.port == 8443 for f in Detector(wrong_process).evaluate(snapshot()))
    by_remote = config_from_dict(
        {"allow": {"match": [{"remote": "198.51.100.0/24", "user": "app"}]}}
    )
    assert not any(
        f.evidence.remote_addr == "198.51.100.7" for f in Detector(by_remote).evaluate(snapshot())
    )


def test_user_rules() -> None:
    config = config_from_dict(
        {
            "rules": {
                "process": [
                    {
                        "id": "LOCAL-TUNNEL",
                        "title": "Tunnel",
                        "severity": "high",
                        "names": ["frpc"],
                        "cmdline": r"--remote-port\s+\d+",
                        "attack": ["T1572"],
                        "actions": ["kill"],
                    }
                ],
                "socket": [
                    {
                        "id": "LOCAL-C2",
                        "title": "Old C2",
                        "severity": "critical",
                        "remotes": ["198.51.100.0/24"],
                        "ports": [4444],
                    }
                ],
            }
        }
    )
    fs = Detector(config).evaluate(snapshot())
    tunnel = next(f for f in fs if f.rule_id == "LOCAL-TUNNEL")
    assert tunnel.severity == Severity.HIGH and tunnel.evidence.pid == 10
    assert (
        tunnel.evidence.text == "--remote-port 7000"
        and tunnel.attack == ("T1572",)
        and tunnel.actions == ("kill",)
    )
    c2 = next(f for f in fs if f.rule_id == "LOCAL-C2")
    assert c2.severity == Severity.CRITICAL and c2.evidence.remote_addr == "198.51.100.7"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"thresholds": {"cpu_percent": "high"}}, "'cpu_percent' must be a non-negative number"),
        ({"indicators": {"pool_ports": [70000]}}, "port numbers"),
        ({"indicators": {"pool_addresses": ["not-an-ip"]}}, "not an address or CIDR"),
        (
            {"rules": {"process": [{"id": "X", "title": "t", "cmdline": "("}]}},
            "bad regular expression",
        ),
        (
            {"rules": {"process": [{"id": "X", "title": "t"}]}},
            "needs names, exes, cmdline or users",
        ),
        (
            {"rules": {"process": [{"id": "PROC-MINER-NAME", "title": "t", "names": ["a"]}]}},
            "already used",
        ),
        (
            {
                "rules": {
                    "process": [{"id": "X", "title": "t", "names": ["a"], "severity": "urgent"}]
                }
            },
            "unknown severity",
        ),
        (
            {
                "rules": {
                    "process": [{"id": "X", "title": "t", "names": ["a"], "actions": ["nuke"]}]
                }
            },
            "unknown action",
        ),
        (
            {"rules": {"file": [{"id": "X", "title": "t", "pattern": "a", "kinds": ["crontab"]}]}},
            "unknown file kind",
        ),
        ({"allow": {"match": [{}]}}, "needs at least one field"),
        ({"allow": "everything"}, "must be a table"),
    ],
)
def test_bad_rules_say_what_and_where(data: dict[str, object], message: str) -> None:
    with pytest.raises(RulesError, match=message):
        config_from_dict(data, "rules.toml")


def test_unknown_keys_are_warnings(tmp_path: Path) -> None:
    path = write(tmp_path, "/r.toml", "future = 1\n[thresholds]\ncpu_percent = 90\nnew_knob = 2\n")
    config = load_rules_file(path)
    assert config.thresholds.cpu_percent == 90.0
    assert any("'future'" in w for w in config.warnings) and any(
        "'new_knob'" in w for w in config.warnings
    )


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="no such rules file"):
        load_rules_file(tmp_path / "missing.toml")
    bad = write(tmp_path, "/bad.toml", "[thresholds\n")
    with pytest.raises(RulesError, match="not valid TOML"):
        load_rules_file(bad)


def test_files_stack() -> None:
    first = config_from_dict({"indicators": {"miner_names": ["a"]}}, "one.toml")
    both = config_from_dict({"indicators": {"miner_names": ["b"]}}, "two.toml", first)
    assert {"a", "b"} <= both.indicators.miner_names
    assert both.sources == ("one.toml", "two.toml")


def test_catalog_is_consistent() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    for rule in RULES:
        assert set(rule.actions) <= set(ACTIONS), rule.id
        assert all(t.startswith("T") and t[1:5].isdigit() for t in rule.attack), rule.id
        assert rule.title and rule.theme


def test_every_check_only_emits_catalogued_rules() -> None:
    """Run the engine over everything the tests plant and check no unknown id appears."""
    known = {r.id for r in RULES}
    fs = Detector(DetectConfig()).evaluate(snapshot())
    assert {f.rule_id for f in fs} <= known
