"""The one place hostile text is made safe to show.

Everything read from a target (process names, command lines, user names, file contents) is
attacker-controlled. :func:`visible` turns it into a literal, visible form: control characters
(C0, DEL, C1), bidirectional overrides and isolates, zero-width and other invisible format
characters, line/paragraph separators and lone surrogates are replaced by ``\\xNN`` / ``\\uNNNN``
escapes, so no escape sequence reaches the terminal and nothing reorders or hides what the operator
reads. The result is plain text: widgets must still render it as text (``rich.text.Text``, Strip
segments), never as markup; see ``widgets.safe``.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\x1b": "\\e"}
# Categories that are never shown as themselves: control, format (bidi, zero-width, soft hyphen,
# tags), line and paragraph separators, surrogates (undecodable bytes), unassigned.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Cn"})
_ALL_PRINTABLE_ASCII = re.compile(r"[ -~]*").fullmatch


def _escape_char(ch: str) -> str:
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


@lru_cache(maxsize=16384)
def visible(text: str) -> str:
    """Return ``text`` with every non-printing or reordering character shown as an escape."""
    if _ALL_PRINTABLE_ASCII(text):
        return text
    out = []
    for ch in text:
        if (ch.isprintable() and unicodedata.category(ch) not in _ESCAPED_CATEGORIES) or ch == " ":
            out.append(ch)
        else:
            out.append(_escape_char(ch))
    return "".join(out)


def visible_args(args: tuple[str, ...] | list[str]) -> str:
    """A command line as one visible string. Arguments are joined with spaces, as a shell user
    would read them; an empty argument is shown as ``''`` so it is not lost."""
    return " ".join(visible(a) if a else "''" for a in args)
