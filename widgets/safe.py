"""Host strings to screen text: the only way attacker-controlled text reaches a widget.

Everything here goes through :func:`domain.sanitize.visible` and comes out as plain text
(``rich.text.Text`` or a raw string for a ``Segment``), never as markup: ``[@click=...]``,
``[/bar]`` and escape sequences stay literal characters.
"""

from __future__ import annotations

from typing import Literal

from rich.cells import cell_len, get_character_cell_size
from rich.style import Style
from rich.text import Text

from domain.sanitize import visible

Align = Literal["left", "right"]
Cut = Literal["end", "start"]

ELLIPSIS = "…"


def host_text(value: str, style: str | Style = "") -> Text:
    """A host string as a Rich ``Text``: escaped by :func:`visible`, never parsed as markup."""
    return Text(visible(value), style=style)


def fit(text: str, width: int, align: Align = "left", cut: Cut = "end") -> str:
    """``text`` (already made visible) padded or truncated to exactly ``width`` terminal cells.

    Wide (East-Asian) characters count as two cells; a cut never leaves half of one (the cell is
    padded with a space instead). Truncated text gets an ellipsis at the end, or with
    ``cut="start"`` at the start (to keep what matters at the end, such as a port).
    """
    if width <= 0:
        return ""
    length = len(text) if text.isascii() else cell_len(text)
    if length <= width:
        pad = " " * (width - length)
        return text + pad if align == "left" else pad + text
    if text.isascii():
        # Printable ASCII (all visible() leaves of ASCII) is one cell per character.
        if cut == "start":
            return ELLIPSIS + text[length - width + 1 :]
        return text[: width - 1] + ELLIPSIS
    # Wide characters: take whole characters up to width - 1 cells; if that is one short
    # (half a wide character would not fit), pad with a space on the outer side.
    budget = width - 1
    cells = 0
    if cut == "start":
        start = len(text)
        while start > 0:
            size = get_character_cell_size(text[start - 1])
            if cells + size > budget:
                break
            cells += size
            start -= 1
        while start < len(text) and get_character_cell_size(text[start]) == 0:
            start += 1  # a combining mark without its base character
        return " " * (budget - cells) + ELLIPSIS + text[start:]
    end = 0
    while end < len(text):
        size = get_character_cell_size(text[end])
        if cells + size > budget:
            break
        cells += size
        end += 1
    return text[:end] + ELLIPSIS + " " * (budget - cells)
