"""The two languages: both catalogs have the same keys and placeholders, the language is picked
from the config or the locale, translation falls back to English, and the catalogs and the
checklist ship inside the package (hatchling puts package files in the wheel)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import pytest

import domain.i18n as i18n
from domain.i18n import LANGUAGES, catalog, flatten, parse_language, pick_language, placeholders, tr

REPO = Path(__file__).resolve().parent.parent


def test_catalogs_have_the_same_keys_and_placeholders() -> None:
    en, zh = catalog("en"), catalog("zh")
    assert len(en) > 100
    assert set(en) == set(zh), set(en) ^ set(zh)
    for key, text in en.items():
        assert placeholders(text) == placeholders(zh[key]), key
        assert text.strip() and zh[key].strip(), key
    # Chinese is Chinese (a key copied over untranslated would be caught here)
    untranslated = [k for k in zh if zh[k] == en[k] and any(c.isalpha() for c in en[k])]
    assert set(untranslated) <= {"report.col.sha256"}, untranslated


@pytest.mark.parametrize(
    ("config", "env", "expected"),
    [
        ("zh", {"LANG": "en_US.UTF-8"}, "zh"),
        ("en", {"LANG": "zh_CN.UTF-8"}, "en"),
        ("zh_CN", {}, "zh"),
        (None, {"LANG": "zh_CN.UTF-8"}, "zh"),
        (None, {"LANG": "zh_TW.UTF-8"}, "zh"),
        ("auto", {"LC_ALL": "zh_CN.GB18030", "LANG": "en_US.UTF-8"}, "zh"),
        (None, {"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),  # LC_ALL wins
        (None, {"LC_MESSAGES": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),
        (None, {"LANGUAGE": "zh_CN:en", "LANG": "C"}, "zh"),
        (None, {"LANG": "C.UTF-8"}, "en"),
        (None, {"LANG": "de_DE.UTF-8"}, "en"),
        (None, {}, "en"),
        ("", {"LANG": ""}, "en"),
    ],
)
def test_pick_language(config: str | None, env: Mapping[str, str], expected: str) -> None:
    assert pick_language(config, env) == expected


def test_an_invalid_configured_language_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        pick_language("fr", {})
    assert parse_language(" ZH-Hans ") == "zh"


def test_tr_formats_and_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    assert tr("report.section.summary", "en") == "Summary"
    assert tr("report.section.summary", "zh") == "摘要"
    # host text as a value is inserted as is, never interpreted
    assert tr("cli.incident.noted", "en", id="{x}[bold]") == "note added to {x}[bold]"
    assert tr("report.minutes", "en") == "{n} min"  # no values: the message as written
    assert tr("report.summary.checklist", "en", done=1) == "Checklist: 1 of {total} steps finished."
    assert tr("no.such.key", "zh") == "no.such.key"
    fake = {"en": {"only.en": "English {n}"}, "zh": {}}
    monkeypatch.setattr(i18n, "catalog", lambda lang: fake[lang])
    assert tr("only.en", "zh", n=3) == "English 3"


def test_flatten_rejects_non_strings() -> None:
    assert flatten({"a": {"b": "x"}, "c": "y"}) == {"a.b": "x", "c": "y"}
    with pytest.raises(ValueError, match=r"'a\.b' is not a string"):
        flatten({"a": {"b": 1}})


def test_package_data_ships_with_the_package() -> None:
    root = resources.files("domain")
    files = [root / "locales" / f"{lang}.toml" for lang in LANGUAGES]
    files.append(root / "checklists" / "default.toml")
    for traversable in files:
        assert traversable.is_file()
        path = Path(str(traversable))
        # inside the package directory (hatchling includes every file there in the wheel) ...
        assert path.resolve().is_relative_to((REPO / "domain").resolve())
        # ... unless it is ignored by git, which hatchling also honours
        if shutil.which("git") and (REPO / ".git").exists():
            ignored = subprocess.run(
                ["git", "check-ignore", "-q", str(path)], cwd=REPO, check=False, timeout=30
            )
            assert ignored.returncode == 1, f"{path} is git-ignored: not in the wheel"
