"""sickbay's two languages, English and Chinese: picking one, and translating a message key.

The catalogs are TOML files shipped in the package (``domain/locales/en.toml``, ``zh.toml``);
tables nest, so ``[report] title = "..."`` is the key ``report.title``. Messages use
``str.format`` placeholders (``{count}``); both catalogs have the same keys and the same
placeholders (a test checks). A key missing from ``zh`` falls back to ``en``; a key missing from
both is returned as is, so a gap shows up as a visible key instead of a crash.

Only sickbay's own words are translated. Host data (process names, paths, titles of findings read
from the host) is never translated: it goes into messages as a placeholder value.
"""

from __future__ import annotations

import string
import sys
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on 3.10
    import tomli as tomllib

Language = Literal["en", "zh"]
LANGUAGES: tuple[Language, ...] = ("en", "zh")
DEFAULT_LANGUAGE: Language = "en"
# Environment variables that name the locale, in gettext's order of precedence.
LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def parse_language(text: str) -> Language:
    """ "en", "zh", also locale-style "zh_CN.UTF-8", "zh-Hans", "en_US"; ValueError otherwise."""
    value = text.strip().lower().replace("-", "_")
    base = value.split(".", 1)[0].split("@", 1)[0].split("_", 1)[0]
    if base == "zh":
        return "zh"
    if base == "en":
        return "en"
    raise ValueError(f"unknown language {text!r} (one of: {', '.join(LANGUAGES)})")


def pick_language(config_value: str | None, env: Mapping[str, str]) -> Language:
    """The configured language (``language = "zh"``; "auto" or nothing: the environment);
    else the locale environment (``zh_*`` -> zh, anything else -> en). An invalid configured
    value raises ValueError, so the config loader can say where it is."""
    if config_value and config_value.strip().lower() != "auto":
        return parse_language(config_value)
    for name in LOCALE_VARIABLES:
        value = env.get(name, "")
        if name == "LANGUAGE":  # a priority list, "zh_CN:en"
            value = value.split(":", 1)[0]
        if value.strip():
            try:
                return parse_language(value)
            except ValueError:
                return DEFAULT_LANGUAGE  # "C", "POSIX", "de_DE.UTF-8": English
    return DEFAULT_LANGUAGE


class _Missing(dict[str, Any]):
    """format_map values: a placeholder with no value stays visible as ``{name}``."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def tr(key: str, lang: Language, /, **fmt: Any) -> str:
    """The message ``key`` in ``lang`` (en if ``lang`` lacks it), formatted with ``fmt``."""
    text = catalog(lang).get(key)
    if text is None:
        text = catalog(DEFAULT_LANGUAGE).get(key, key)
    if not fmt:
        return text
    try:
        return text.format_map(_Missing(fmt))
    except (ValueError, IndexError, AttributeError, KeyError):  # a malformed message
        return text


@cache
def catalog(lang: Language) -> Mapping[str, str]:
    """The flattened catalog of ``lang`` (read once from the package)."""
    raw = resources.files("domain").joinpath("locales").joinpath(f"{lang}.toml").read_text("utf-8")
    return flatten(tomllib.loads(raw))


def flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested TOML tables as dotted keys; every leaf must be a string."""
    out: dict[str, str] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            out.update(flatten(value, key + "."))
        elif isinstance(value, str):
            out[key] = value
        else:
            raise ValueError(f"catalog entry {key!r} is not a string")
    return out


def placeholders(text: str) -> frozenset[str]:
    """The ``{names}`` a message formats."""
    return frozenset(
        name.split(".", 1)[0].split("[", 1)[0]
        for _, name, _, _ in string.Formatter().parse(text)
        if name is not None
    )


def rule_title(rule_id: str, title: str, lang: Language) -> str:
    """A built-in rule's title in ``lang``; a title the catalog does not know (a custom rule's)
    is returned as it is."""
    if lang == DEFAULT_LANGUAGE or catalog(DEFAULT_LANGUAGE).get(f"rule.{rule_id}") != title:
        return title
    return catalog(lang).get(f"rule.{rule_id}", title)
