from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.sanitize import visible, visible_args
from tests.conftest import HOSTILE_STRINGS

FORBIDDEN = (
    {chr(c) for c in range(0x20)}
    | {"\x7f"}
    | {chr(c) for c in range(0x80, 0xA0)}
    | {
        "\u202a",
        "\u202b",
        "\u202c",
        "\u202d",
        "\u202e",
        "\u2066",
        "\u2067",
        "\u2068",
        "\u2069",
        "\u200e",
        "\u200f",
        "\u061c",
        "\u200b",
        "\u200c",
        "\u200d",
        "\ufeff",
        "\u2028",
        "\u2029",
    }
)


def test_plain_text_is_unchanged() -> None:
    assert visible("/usr/sbin/sshd -D") == "/usr/sbin/sshd -D"
    assert visible("挖矿 进程") == "挖矿 进程"
    assert visible("[bold]x[/bold]") == "[bold]x[/bold]"  # markup stays literal text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\x1b]0;T\x07b", "a\\e]0;T\\x07b"),
        ("x\x00y", "x\\x00y"),
        ("tab\tnl\ncr\r", "tab\\tnl\\ncr\\r"),
        ("\x7f\x9b", "\\x7f\\x9b"),
        ("evil\u202etxt.exe", "evil\\u202etxt.exe"),
        ("\u2066a\u2069", "\\u2066a\\u2069"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("\U000e0041", "\\U000e0041"),  # tag character
    ],
)
def test_escapes(raw: str, shown: str) -> None:
    assert visible(raw) == shown


@pytest.mark.parametrize("raw", HOSTILE_STRINGS)
def test_hostile_strings_lose_every_dangerous_character(raw: str) -> None:
    assert not FORBIDDEN & set(visible(raw))


@given(st.text())
def test_never_emits_control_or_bidi(raw: str) -> None:
    assert not FORBIDDEN & set(visible(raw))


@given(st.text(st.characters(categories=["L", "N", "P", "S"], include_characters=" ")))
def test_printable_text_is_shown_as_is(raw: str) -> None:
    assert visible(raw) == raw


def test_lookalike_spaces_are_shown() -> None:
    # A no-break space can make one argument look like two.
    assert visible("rm\xa0-rf") == "rm\\xa0-rf"


def test_args_keep_empty_arguments_visible() -> None:
    assert visible_args(("python3", "", "-c", "x\x1by")) == "python3 '' -c x\\ey"
