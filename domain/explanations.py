"""A finding's one-sentence explanation in the reader's language, translated when it is shown.

The detection rules write their explanations in English (``Finding.explanation``) and the model
keeps them that way: findings are stored, compared and exported as they were raised. This module
translates the sentence at display time, from ``domain/locales/explanations.zh.toml``:

- ``[[explanation]]`` entries, each for one rule: either ``en`` (the exact English sentence) or
  ``pattern`` (a regular expression that must match the whole sentence, with named groups for
  the parts that vary), and ``zh``, the Chinese sentence, with ``{group}`` placeholders. A
  group's value is inserted unchanged (it is host text or a number: never translated), unless
  the entry names a phrase set for it (``phrases = { what = "marker" }``): then the value is one
  of sickbay's own phrases (or several, joined by the set's ``split`` text) and each is
  translated through that set.
- ``[phrases.<name>]`` sets: ``split``/``join`` (how a list of phrases is cut and rejoined),
  ``passthrough`` (a phrase the set does not know is kept as it is, for product names), and
  ``[[phrases.<name>.phrase]]`` entries with ``en`` or ``pattern`` and ``zh``, like the above.

Anything the catalog does not know (a custom rule's explanation, a sentence a rule changed)
comes back in English, unchanged: a gap shows as English, never as a crash or a wrong sentence.
The catalog is checked when it loads (every pattern compiles, every placeholder is a group of
its pattern); a broken catalog is a test failure, and at run time it only means English.

The same machinery translates the sentences of response actions (a plan's subject, its steps'
``what``, its warnings; a result's summary, verification and state) from
``domain/locales/actions.zh.toml`` (:data:`ACTION_TEXTS`, :func:`action_text_in`): there the
entries are ``[[text]]`` tables keyed by ``action`` id, with ``action = "*"`` for sentences
several actions share, and patterns match across newlines (host text may hold them). Literal
commands and API calls (``PlannedStep.exact``) are never translated.
"""

from __future__ import annotations

import re
import string
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from domain.i18n import DEFAULT_LANGUAGE, Language

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on 3.10
    import tomli as tomllib

CATALOG_FILE = "explanations.zh.toml"
SHARED_KEY = "*"  # the actions catalog's key for sentences several actions write


@dataclass(frozen=True, slots=True)
class CatalogSpec:
    """One catalog file's shape: where it is, the array of tables holding its entries, the
    field of an entry that keys it (a rule id, an action id) and the flags its patterns get."""

    file: str
    table: str
    key: str
    flags: int = 0


EXPLANATIONS = CatalogSpec(CATALOG_FILE, "explanation", "rule")
ACTION_TEXTS = CatalogSpec("actions.zh.toml", "text", "action", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Phrase:
    """One translation: an exact English text or a whole-text pattern, and its Chinese."""

    zh: str
    en: str | None = None
    pattern: re.Pattern[str] | None = None
    phrases: Mapping[str, str] | None = None  # group -> phrase set that translates its value


@dataclass(frozen=True, slots=True)
class PhraseSet:
    """sickbay's own phrases that rules put into sentences (what a command line does...)."""

    name: str
    split: str  # "" when a value is one phrase
    join: str
    passthrough: bool  # an unknown phrase is kept as it is (product names)
    exact: Mapping[str, str]
    patterns: tuple[Phrase, ...]


@dataclass(frozen=True, slots=True)
class Entry:
    rule: str  # the entry's key: a rule id (explanations) or an action id (action texts)
    phrase: Phrase


@dataclass(frozen=True, slots=True)
class Catalog:
    entries: tuple[Entry, ...]
    exact: Mapping[tuple[str, str], str]  # (rule id, English sentence) -> Chinese
    patterns: Mapping[str, tuple[Phrase, ...]]  # rule id -> its patterns, in file order
    phrase_sets: Mapping[str, PhraseSet]


def explanation_in(rule_id: str, text: str, lang: Language) -> str:
    """The explanation ``text`` of a finding of ``rule_id`` in ``lang``; the English text when
    ``lang`` is English or the catalog does not know the sentence. Never raises."""
    if lang == DEFAULT_LANGUAGE or not isinstance(text, str) or not isinstance(rule_id, str):
        return text
    try:
        translated = _translate(rule_id, text)
    except Exception:  # a broken catalog at run time means English, not a crash
        return text
    return text if translated is None else translated


@lru_cache(maxsize=4096)
def _translate(rule_id: str, text: str) -> str | None:
    return translate(load_catalog(), rule_id, text)


def action_text_in(action_id: str, text: str, lang: Language) -> str:
    """A sentence an action wrote (a plan's subject, a step's ``what``, a warning, a result's
    summary, verification or state) in ``lang``: by the entries of ``action_id``, then the shared
    ones; the English text when ``lang`` is English or nothing matches. Never raises."""
    if lang == DEFAULT_LANGUAGE or not isinstance(text, str) or not isinstance(action_id, str):
        return text
    try:
        translated = _translate_action(action_id, text)
    except Exception:  # a broken catalog at run time means English, not a crash
        return text
    return text if translated is None else translated


@lru_cache(maxsize=4096)
def _translate_action(action_id: str, text: str) -> str | None:
    cat = load_catalog(ACTION_TEXTS)
    out = translate(cat, action_id, text)
    return translate(cat, SHARED_KEY, text) if out is None else out


def translate(cat: Catalog, rule_id: str, text: str) -> str | None:
    """The Chinese of ``text`` for ``rule_id`` by ``cat``, or None when no entry matches."""
    exact = cat.exact.get((rule_id, text))
    if exact is not None:
        return exact
    for phrase in cat.patterns.get(rule_id, ()):
        out = _apply(cat, phrase, text)
        if out is not None:
            return out
    return None


def _apply(cat: Catalog, phrase: Phrase, text: str) -> str | None:
    """``phrase``'s Chinese when its pattern matches all of ``text``, else None."""
    if phrase.pattern is None:
        return phrase.zh if phrase.en == text else None
    match = phrase.pattern.fullmatch(text)
    if match is None:
        return None
    values: dict[str, str] = {}
    for name, raw in match.groupdict().items():
        set_name = (phrase.phrases or {}).get(name)
        if set_name is None:
            values[name] = raw or ""  # host text or a number: inserted as it is
            continue
        translated = _phrase(cat, cat.phrase_sets[set_name], raw or "")
        if translated is None:
            return None
        values[name] = translated
    return phrase.zh.format_map(values)


def _phrase(cat: Catalog, phrases: PhraseSet, value: str) -> str | None:
    """A value made of one or more of a set's phrases, translated; None if one is unknown."""
    parts = value.split(phrases.split) if phrases.split else [value]
    out: list[str] = []
    for part in parts:
        zh = phrases.exact.get(part)
        for pattern in phrases.patterns if zh is None else ():
            zh = _apply(cat, pattern, part)
            if zh is not None:
                break
        if zh is None:
            if not phrases.passthrough:
                return None
            zh = part
        out.append(zh)
    return phrases.join.join(out)


@cache
def load_catalog(spec: CatalogSpec = EXPLANATIONS) -> Catalog:
    """A Chinese catalog (the explanations' unless told), read once from the package;
    ValueError when it is malformed."""
    raw = resources.files("domain").joinpath("locales").joinpath(spec.file).read_text("utf-8")
    return parse_catalog(raw, spec)


def parse_catalog(raw: str, spec: CatalogSpec = EXPLANATIONS) -> Catalog:
    """Parse and check a catalog: patterns compile, placeholders are groups, sets exist."""
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{spec.file}: {exc}") from exc
    sets_raw = data.get("phrases", {})
    if not isinstance(sets_raw, dict):
        raise ValueError("[phrases] must be a table of phrase sets")
    set_names = frozenset(sets_raw)
    phrase_sets: dict[str, PhraseSet] = {}
    for name, table in sets_raw.items():
        if not isinstance(table, dict):
            raise ValueError(f"[phrases.{name}] must be a table")
        exact: dict[str, str] = {}
        patterns: list[Phrase] = []
        for item in table.get("phrase", []):
            phrase = _parse_phrase(item, f"phrases.{name}", set_names, spec.flags)
            if phrase.pattern is None and phrase.en is not None:
                exact[phrase.en] = phrase.zh
            else:
                patterns.append(phrase)
        phrase_sets[name] = PhraseSet(
            name=name,
            split=_string(table.get("split", ""), f"phrases.{name}.split"),
            join=_string(table.get("join", ""), f"phrases.{name}.join"),
            passthrough=bool(table.get("passthrough", False)),
            exact=exact,
            patterns=tuple(patterns),
        )
    entries: list[Entry] = []
    exact_by_rule: dict[tuple[str, str], str] = {}
    patterns_by_rule: dict[str, list[Phrase]] = {}
    items = data.get(spec.table, [])
    if not isinstance(items, list):
        raise ValueError(f"[[{spec.table}]] must be an array of tables")
    for index, item in enumerate(items):
        where = f"{spec.table} #{index + 1}"
        if not isinstance(item, dict):
            raise ValueError(f"{where} must be a table")
        rule = _string(item.get(spec.key), f"{where}.{spec.key}")
        phrase = _parse_phrase(item, f"{where} ({rule})", set_names, spec.flags)
        entries.append(Entry(rule, phrase))
        if phrase.pattern is None and phrase.en is not None:
            if (rule, phrase.en) in exact_by_rule:
                raise ValueError(f"{where}: duplicate sentence for {rule}")
            exact_by_rule[(rule, phrase.en)] = phrase.zh
        else:
            patterns_by_rule.setdefault(rule, []).append(phrase)
    return Catalog(
        entries=tuple(entries),
        exact=exact_by_rule,
        patterns={rule: tuple(ps) for rule, ps in patterns_by_rule.items()},
        phrase_sets=phrase_sets,
    )


def _parse_phrase(item: Any, where: str, set_names: frozenset[str], flags: int = 0) -> Phrase:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: an entry must be a table")
    zh = _string(item.get("zh"), f"{where}.zh")
    en, pattern_text = item.get("en"), item.get("pattern")
    if (en is None) == (pattern_text is None):
        raise ValueError(f"{where}: give exactly one of en and pattern")
    if en is not None:  # an exact sentence: its zh is used as written, braces and all
        return Phrase(zh=zh, en=_string(en, f"{where}.en"))
    try:
        pattern = re.compile(_string(pattern_text, f"{where}.pattern"), flags)
    except re.error as exc:
        raise ValueError(f"{where}: bad pattern {pattern_text!r}: {exc}") from exc
    groups = frozenset(pattern.groupindex)
    missing = _placeholders(zh, where) - groups
    if missing:
        raise ValueError(f"{where}: placeholders {sorted(missing)} are not groups of the pattern")
    phrases = item.get("phrases", {})
    if not isinstance(phrases, dict) or not all(isinstance(v, str) for v in phrases.values()):
        raise ValueError(f"{where}: phrases must map group names to phrase set names")
    for group, set_name in phrases.items():
        if group not in groups:
            raise ValueError(f"{where}: phrases names {group!r}, which is not a group")
        if set_name not in set_names:
            raise ValueError(f"{where}: no phrase set {set_name!r}")
    return Phrase(zh=zh, pattern=pattern, phrases=dict(phrases))


def _placeholders(text: str, where: str) -> frozenset[str]:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise ValueError(f"{where}: malformed template {text!r}: {exc}") from exc
    for name in names:
        if not name.isidentifier():
            raise ValueError(f"{where}: placeholder {{{name}}} must be a plain group name")
    return frozenset(names)


def _string(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a string")
    return value
