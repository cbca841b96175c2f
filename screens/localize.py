"""Key labels in the operator's language.

Textual reads a binding's description (the footer's label) from the class's ``BINDINGS``. For a
language other than English, :func:`localized` makes a subclass of a screen (or the app) whose
``BINDINGS`` are the same bindings (same keys, actions and ids, so keymaps still apply) with the
labels of the catalog's ``ui.short.<binding id>``, and ``LANG`` set (the screen's, or a widget's
such as the filter bar, other words). The subclass keeps the class name, so the stylesheet's type
selectors and ``isinstance`` checks see the same class. :func:`column_titles` and
:func:`table_summary` are the tables' words.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from textual.binding import Binding

from domain.i18n import Language, catalog, tr
from widgets.live_table import LiveTable

T = TypeVar("T", bound=type[Any])
_CACHE: dict[tuple[type[Any], str], type[Any]] = {}


def label(binding: Binding, lang: Language, table: str = "short") -> str:
    """The binding's label in ``lang`` (``table``: "short" for the footer, "keys" for help)."""
    if binding.id:
        text = catalog(lang).get(f"ui.{table}.{binding.id}")
        if text:
            return text
    return binding.description


def column_titles(lang: Language) -> dict[str, str]:
    """Table column titles in ``lang`` by column id (``ui.col.<id>``; English keeps its own)."""
    if lang == "en":
        return {}
    prefix = "ui.col."
    return {k[len(prefix) :]: v for k, v in catalog(lang).items() if k.startswith(prefix)}


def table_summary(table: LiveTable[Any], lang: Language) -> str:
    """A table's subtitle, rows shown of rows known (``LiveTable.summary`` in ``lang``)."""
    return tr("ui.table.summary", lang, shown=table.row_count, total=table.total_count)


def localized(cls: T, lang: Language) -> T:
    if lang == "en":
        return cls
    made = _CACHE.get((cls, lang))
    if made is None:
        bindings = [
            dataclasses.replace(b, description=label(b, lang))
            for b in cls.BINDINGS
            if isinstance(b, Binding)
        ]
        attrs = {"BINDINGS": bindings, "__module__": cls.__module__, "LANG": lang}
        made = type(cls.__name__, (cls,), attrs)
        _CACHE[(cls, lang)] = made
    return made  # type: ignore[return-value]
