from __future__ import annotations

from pathlib import Path

import pytest

from tui.config import ConfigError, Settings, default_config_path, load_settings


def test_defaults_without_a_file(isolated_config: Path) -> None:
    settings = load_settings()
    assert settings == Settings()
    assert default_config_path().is_relative_to(isolated_config)


def test_reads_the_platform_config_file(isolated_config: Path) -> None:
    path = default_config_path()
    path.parent.mkdir(parents=True)
    path.write_text('interval = 5\ntheme = "ansi-dark"\n[keymap]\n"app.quit" = "ctrl+q"\n')
    settings = load_settings()
    assert settings.interval == 5.0
    assert settings.theme == "ansi-dark"
    assert settings.keymap == {"app.quit": "ctrl+q"}
    assert settings.path == path


def test_explicit_path_and_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / "env.toml"
    env_file.write_text("interval = 3\n")
    cli_file = tmp_path / "cli.toml"
    cli_file.write_text("interval = 4\n")
    monkeypatch.setenv("SICKBAY_CONFIG", str(env_file))
    assert load_settings().interval == 3.0
    assert load_settings(cli_file).interval == 4.0


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_settings(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("interval = ", "not valid TOML"),
        ('interval = "fast"', "must be a number"),
        ("interval = 0.01", "at least"),
        ("interval = true", "must be a number"),
        ("[keymap]\n'app.quit' = 3", "keymap"),
        ("theme = 3", "theme"),
        ("history_minutes = -1", "positive"),
    ],
)
def test_bad_values_are_explained(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(path)
    assert str(path) in str(info.value)


def test_unknown_settings_warn_but_load(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("interval = 2\nfuture_thing = 1\n")
    settings = load_settings(path)
    assert settings.interval == 2.0
    assert any("future_thing" in w for w in settings.warnings)


def test_history_size_follows_interval() -> None:
    assert Settings(interval=2.0, history_minutes=5).history_size == 150
    assert Settings(interval=60.0, history_minutes=1).history_size == 10  # never fewer than 10


def test_hosts_entries(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[[hosts]]\nname = "web1"\naddress = "10.0.0.5"\nuser = "ops"\nport = 2222\n'
        'jump = "bastion"\ntags = ["prod"]\nprovider = "aliyun"\nregion = "cn-hangzhou"\n'
        'instance_id = "i-1"\n\n[[hosts]]\nname = "bastion"\naddress = "203.0.113.1"\n'
    )
    web1, bastion = load_settings(path).hosts
    assert (web1.name, web1.address, web1.user, web1.port, web1.jump) == (
        "web1", "10.0.0.5", "ops", 2222, "bastion",
    )  # fmt: skip
    assert web1.tags == ("prod",) and web1.instance_id == "i-1"
    assert bastion.user is None and bastion.tags == ()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[[hosts]]\nname = "a"\n', "required"),
        ('[[hosts]]\nname = "a"\naddress = "x"\nport = "22"\n', "'port' must be a int"),
        ('[[hosts]]\nname = "a"\naddress = "x"\nport = 70000\n', "1-65535"),
        ('[[hosts]]\nname = "a"\naddress = "x"\nshell = "y"\n', "unknown field"),
        ('[[hosts]]\nname = "a"\naddress = "x"\n[[hosts]]\nname = "a"\naddress = "y"\n', "same"),
        ('hosts = "web1"\n', "list"),
    ],
)
def test_bad_hosts_are_explained(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_settings(path)
