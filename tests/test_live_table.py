"""LiveTable, ProcessTable and SocketTable: behaviour under live updates, keys, hostile text."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest
from rich.cells import cell_len
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.pilot import Pilot

from domain.model import Process, Socket
from tests.conftest import HOSTILE_STRINGS
from tests.fakes import process, socket_row
from widgets.live_table import Column, LiveTable
from widgets.process_table import ProcessTable
from widgets.safe import fit, host_text
from widgets.socket_table import SocketTable

SIZES = [(120, 40), (80, 24)]
# What must never reach the terminal: C0, DEL, C1, bidi controls, zero-width and separators.
FORBIDDEN = (
    {chr(c) for c in range(0x20)}
    | {"\x7f"}
    | {chr(c) for c in range(0x80, 0xA0)}
    | set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
    | set("\u200b\u200c\u200d\ufeff\u2028\u2029")
)


class TableApp(App[None]):
    """Hosts one table; records the table's messages and any action a string might fire."""

    def __init__(self, make_table: Callable[[], LiveTable[Any]]) -> None:
        super().__init__()
        self.make_table = make_table
        self.messages: list[Message] = []
        self.fired: list[str] = []

    def compose(self) -> ComposeResult:
        yield self.make_table()

    def on_live_table_cursor_moved(self, message: LiveTable.CursorMoved) -> None:
        self.messages.append(message)

    def on_live_table_row_selected(self, message: LiveTable.RowSelected) -> None:
        self.messages.append(message)

    def action_boom(self) -> None:
        self.fired.append("boom")

    async def action_quit(self) -> None:
        self.fired.append("quit")
        await super().action_quit()

    @property
    def table(self) -> LiveTable[Any]:
        table: LiveTable[Any] = self.query_one(LiveTable)
        return table

    def moves(self) -> list[str | None]:
        return [m.key for m in self.messages if isinstance(m, LiveTable.CursorMoved)]

    def selections(self) -> list[str]:
        return [m.key for m in self.messages if isinstance(m, LiveTable.RowSelected)]


def procs(count: int, cpu: Callable[[int], float | None] = float) -> list[Process]:
    """pids 1000.., %CPU given by ``cpu(i)`` (default: i, so the highest pid is the busiest)."""
    return [process(1000 + i, f"proc{i}", cpu(i)) for i in range(count)]


def pids(table: LiveTable[Any]) -> list[int]:
    return [row.pid for row in table.rows]


def screen_lines(table: LiveTable[Any]) -> list[str]:
    """The text of every line the table shows now, from its own render_line."""
    return ["".join(s.text for s in table.render_line(y)) for y in range(table.size.height)]


def key_of(pid: int) -> str:
    return process(pid, "x").key


# ---------------------------------------------------------------- cursor and scroll


@pytest.mark.parametrize("size", SIZES)
async def test_cursor_follows_its_key_across_a_reordering_refresh(size: tuple[int, int]) -> None:
    app = TableApp(ProcessTable)
    async with app.run_test(size=size) as pilot:
        table = app.table
        rows = procs(50)
        table.set_rows(rows)
        await pilot.pause()
        assert pids(table)[:3] == [1049, 1048, 1047]  # %CPU descending
        await pilot.press("j", "j", "j")
        assert table.cursor_key == key_of(1046)
        moves_before = len(app.moves())

        # 1046 becomes the busiest, three new processes appear above it, one vanishes.
        changed = [replace(p, cpu_percent=99.0) if p.pid == 1046 else p for p in rows[1:]]
        new = [process(2000 + i, f"new{i}", 200.0 + i) for i in range(3)]
        table.set_rows(changed + new)
        await pilot.pause()

        assert pids(table)[:4] == [2002, 2001, 2000, 1046]
        assert table.cursor_key == key_of(1046)
        assert table.cursor_index == 3
        assert table.cursor_row is not None and table.cursor_row.pid == 1046
        assert len(app.moves()) == moves_before  # same key: no CursorMoved
        assert table.summary == "52 of 52"


async def test_cursor_follows_its_key_across_sort_changes() -> None:
    app = TableApp(ProcessTable)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.table
        table.set_rows(procs(30))
        await pilot.pause()
        await pilot.press("down", "down")
        key = table.cursor_key
        assert key == key_of(1027)

        await pilot.press("I")  # invert: %CPU ascending
        assert table.sort_column == "cpu" and not table.sort_reverse
        assert pids(table)[0] == 1000
        assert table.cursor_key == key and table.cursor_index == 27

        await pilot.press("less_than_sign", "less_than_sign")  # %CPU -> USER -> PPID
        assert table.sort_column == "ppid"
        await pilot.press("greater_than_sign")
        assert table.sort_column == "user"
        table.sort_by("pid", reverse=True)
        assert pids(table)[0] == 1029
        assert table.cursor_key == key and table.cursor_index == 2
        header = screen_lines(table)[0]
        assert "PID▼" in header or "▼PID" in header


async def test_scroll_position_is_kept_when_rows_update() -> None:
    app = TableApp(ProcessTable)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.table
        table.sort_by("pid", reverse=False)
        rows = procs(300)
        table.set_rows(rows)
        await pilot.pause()
        await pilot.press("pagedown", "pagedown", "pagedown", "down")
        await pilot.pause()
        top = table.scroll_y
        key = table.cursor_key
        assert top > 0
        first_line = screen_lines(table)[1]

        # Every %CPU changes, rows are inserted at the end and removed below the view.
        updated = [replace(p, cpu_percent=(p.cpu_percent or 0) + 1) for p in rows[:250]]
        table.set_rows(updated + procs(320)[300:])
        await pilot.pause()
        assert table.scroll_y == top
        assert table.cursor_key == key
        assert screen_lines(table)[1].split()[0] == first_line.split()[0]
        assert "70.0" in screen_lines(table)[1] and "69.0" in first_line  # repainted

        # Rows vanish above the view: the cursor row moves up and the view follows it just
        # enough to keep it on screen (here: it becomes the top row).
        table.set_rows(updated[10:])
        await pilot.pause()
        assert table.cursor_key == key
        assert table.scroll_y == table.cursor_index == top + 1 - 10

        # The user scrolls away from the cursor with the wheel: refreshes do not yank the view.
        table.scroll_to(y=200, animate=False)
        await pilot.pause()
        table.set_rows(list(reversed(updated)))
        await pilot.pause()
        assert table.scroll_y == 200


async def test_cursor_on_a_vanished_key_clamps_to_its_index() -> None:
    app = TableApp(ProcessTable)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.table
        rows = procs(20)
        table.set_rows(rows)
        await pilot.pause()
        await pilot.press("j", "j", "j", "j", "j")
        assert table.cursor_key == key_of(1014)
        table.set_rows([p for p in rows if p.pid != 1014])
        await pilot.pause()
        assert table.cursor_index == 5
        assert table.cursor_key == key_of(1013)
        assert app.moves()[-1] == key_of(1013)

        await pilot.press("G")
        assert table.cursor_key == key_of(1000)
        table.set_rows(rows[5:])  # the last rows vanish: clamp to the new last row
        await pilot.pause()
        assert table.cursor_key == key_of(1005)

        table.set_rows([])
        await pilot.pause()
        assert table.cursor_key is None and table.cursor_row is None
        assert app.moves()[-1] is None
        await pilot.press("enter", "down")  # nothing to select or move to
        assert app.selections() == []


async def test_keys_move_the_cursor_and_enter_selects() -> None:
    app = TableApp(ProcessTable)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.table
        table.set_rows(procs(100))
        await pilot.pause()
        assert app.moves() == [key_of(1099)]  # the first row, posted once
        page = table.scrollable_content_region.height - 1
        await pilot.press("pagedown")
        assert table.cursor_index == page
        await pilot.press("pageup", "end")
        assert table.cursor_index == 99
        assert table.scroll_y == table.max_scroll_y
        await pilot.press("home", "k")
        assert table.cursor_index == 0 and table.scroll_y == 0
        await pilot.press("j", "enter")
        await pilot.pause()
        assert app.selections() == [key_of(1098)]

        moves = len(app.moves())
        table.set_rows(procs(100))  # equal rows, new objects: nothing to report
        await pilot.pause()
        assert len(app.moves()) == moves


async def test_clicks_sort_by_header_and_select_rows() -> None:
    app = TableApp(ProcessTable)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.table
        table.set_rows(procs(10))
        await pilot.pause()
        await pilot.click(LiveTable, offset=(2, 0))  # PID header
        assert table.sort_column == "pid" and not table.sort_reverse
        await pilot.click(LiveTable, offset=(2, 0))
        assert table.sort_reverse
        await pilot.click(LiveTable, offset=(2, 3))
        assert table.cursor_index == 2
        await pilot.click(LiveTable, offset=(2, 3))  # a click on the cursor row selects it
        await pilot.pause()
        assert app.selections() == [table.cursor_key]


# ---------------------------------------------------------------- filter and sort rules


async def test_filter_narrows_rows_and_counts() -> None:
    app = TableApp(ProcessTable)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.table
        rows = [
            *procs(40),
            process(7, "nginx", 1.0, user="www-data", cmdline=("nginx: worker",)),
            process(8, "NGINX-helper", 2.0),
            process(9, "x", 3.0, cmdline=("sh", "-c", "[/bar] \x1b[2J")),
        ]
        table.set_rows(rows)
        await pilot.pause()
        table.filter_text = "NginX"
        assert sorted(pids(table)) == [7, 8]
        assert table.summary == "2 of 43" and table.row_count == 2 and table.total_count == 43
        assert table.cursor_key == key_of(8)  # the old cursor row is gone: clamp

        table.filter_text = "www-data"  # USER column
        assert pids(table) == [7]
        table.filter_text = "[/bar] \\e[2j"  # the visible (escaped) text, case-insensitive
        assert pids(table) == [9]
        table.set_rows([*rows[:-1], replace(rows[-1], cpu_percent=50.0)])
        assert pids(table) == [9]  # the filter applies to refreshes too
        table.filter_text = "no such thing"
        assert table.rows == [] and table.summary == "0 of 43" and table.cursor_key is None
        table.filter_text = ""
        assert table.summary == "43 of 43"


async def test_none_sorts_last_in_both_directions() -> None:
    app = TableApp(ProcessTable)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.table
        table.set_rows(procs(6, cpu=lambda i: None if i % 2 else float(i)))
        await pilot.pause()
        assert pids(table) == [1004, 1002, 1000, 1001, 1003, 1005]
        table.sort_by("cpu", reverse=False)
        assert pids(table) == [1000, 1002, 1004, 1001, 1003, 1005]


async def test_socket_table_lists_listeners_first_by_port() -> None:
    app = TableApp(SocketTable)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.table
        sockets: list[Socket] = [
            socket_row(
                41234, 9, "miner", state="ESTABLISHED", remote_port=3333, remote_addr="203.0.113.9"
            ),
            socket_row(443, 2, "nginx"),
            socket_row(22, 1, "sshd", proto="tcp6", local_addr="::"),
            socket_row(
                1000,
                9,
                "miner",
                state="ESTABLISHED",
                remote_port=80,
                local_addr="2001:db8:1234:5678:9abc:def0:1234:5678",
                remote_addr="2001:db8::1",
                proto="tcp6",
            ),
            replace(socket_row(53, 3, "dns", proto="udp", state="UNCONN"), pid=None, process=""),
        ]
        table.set_rows(sockets)
        await pilot.pause()
        assert [s.local_port for s in table.rows] == [22, 53, 443, 1000, 41234]
        lines = screen_lines(table)
        assert "STATE▲" in lines[0]
        assert "[::]:22" in lines[1] and "0.0.0.0:*" in lines[1]
        assert " - " in lines[2]  # no known owner
        assert "…def0:1234:5678]:1000 " in lines[4]  # long address: cut at the start
        assert "[2001:db8::1]:80" in lines[4]


async def test_process_columns() -> None:
    app = TableApp(ProcessTable)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.table
        table.set_rows(
            [
                process(1, "a", 150.0, rss=3 * 2**30, exe="/tmp/x (deleted)", exe_deleted=True),
                process(2, "kworker/0:1", None, exe="", cmdline=(), kernel_thread=True),
                process(3, "m", 1.0, exe="/memfd:x", exe_deleted=True, exe_memfd=True),
                process(4, "e", 0.5, cmdline=("prog", "", "arg")),
            ]
        )
        await pilot.pause()
        lines = screen_lines(table)
        assert lines[1].split()[:5] == ["1", "1", "root", "150", "3.0G"]
        assert "(deleted) /tmp/" in lines[1]  # the marker comes first: never cut off
        assert "(memfd) /memfd:x" in lines[2]
        assert "prog '' arg" in lines[3]
        assert "[kworker/0:1]" in lines[4] and " - " in lines[4]


async def test_narrow_terminal_scrolls_header_and_rows_together() -> None:
    app = TableApp(ProcessTable)
    async with app.run_test(size=(50, 10)) as pilot:
        table = app.table
        table.set_rows(procs(20))
        await pilot.pause()
        assert table.virtual_size.width > table.scrollable_content_region.width
        before = screen_lines(table)
        assert before[0].lstrip().startswith("PID")
        await pilot.press("right", "right", "right", "right")
        assert table.scroll_x > 0
        after = screen_lines(table)
        shift = round(table.scroll_x)
        assert after[0].startswith(before[0][shift:].rstrip()[:20])
        assert after[1].startswith(before[1][shift:].rstrip()[:20])


# ---------------------------------------------------------------- bindings


async def test_every_binding_has_an_id_and_can_be_remapped() -> None:
    ids = set()
    for binding in LiveTable.BINDINGS:
        assert isinstance(binding, Binding)
        assert binding.id and binding.id.startswith("table.")
        ids.add(binding.id)
    assert {"table.cursor_down", "table.sort_left", "table.sort_right", "table.sort_invert"} <= ids

    app = TableApp(ProcessTable)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.table
        table.set_rows(procs(5))
        await pilot.pause()
        app.set_keymap({"table.sort_invert": "x", "table.cursor_down": "n"})
        await pilot.press("x")
        assert not table.sort_reverse
        await pilot.press("I")  # the old key no longer inverts
        assert not table.sort_reverse
        await pilot.press("home", "n")
        assert table.cursor_index == 1


# ---------------------------------------------------------------- rendering and caching


@dataclass(frozen=True)
class Row:
    key: str
    value: int
    label: str


async def test_unchanged_rows_are_not_rendered_again() -> None:
    calls: list[str] = []

    def label(row: Row) -> str:
        calls.append(row.key)
        return row.label

    columns = [
        Column[Row]("value", "VALUE", lambda r: str(r.value), 6, "right", lambda r: r.value),
        Column[Row]("label", "LABEL", label, 10, flex=True),
    ]
    app = TableApp(lambda: LiveTable(columns, key=lambda r: r.key, sort="value"))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.table
        rows = [Row(f"k{i}", i, f"row {i}") for i in range(100)]
        table.set_rows(rows)
        await pilot.pause()
        shown = len(calls)
        assert 0 < shown < 30  # only the visible rows
        table.set_rows([Row(r.key, r.value, r.label) for r in rows])  # equal, new objects
        await pilot.pause()
        screen_lines(table)
        assert len(calls) == shown
        table.set_rows([Row("k3", 3, "changed"), *rows[:3], *rows[4:]])
        await pilot.pause()
        screen_lines(table)
        assert calls[shown:] == ["k3"]
        assert "changed" in screen_lines(table)[4]


async def test_marks_show_a_letter_and_a_colour() -> None:
    def mark(p: Process) -> str | None:
        return {1002: "critical", 1001: "low"}.get(p.pid)

    app = TableApp(lambda: ProcessTable(mark=mark))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.table
        table.set_rows(procs(3))
        await pilot.pause()
        lines = screen_lines(table)
        assert lines[1].startswith("C ") and lines[2].startswith("L ") and lines[3][0] == " "
        await pilot.press("j")  # the critical row without the cursor carries the error colour
        critical = list(table.render_line(1))
        normal = list(table.render_line(3))
        assert critical[0].style != normal[0].style
        assert table.get_component_rich_style("live-table--mark-critical").color is not None


def test_fit_respects_wide_characters() -> None:
    for text in ("挖矿进程abc", "a挖矿进程", "plain text", "x\u0301yz"):
        for width in range(1, 12):
            for cut in ("end", "start"):
                out = fit(text, width, "left", cut)
                assert cell_len(out) == width, (text, width, cut, out)
    assert fit("挖矿进程", 5) == "挖矿…"
    assert fit("挖矿进程", 4) == "挖… "
    assert fit("12", 4, "right") == "  12"
    assert fit("10.0.0.1:22", 6, cut="start") == "….1:22"


def test_host_text_is_never_markup() -> None:
    text = host_text("[bold red]x[/] [@click=app.quit]q[/] \x1b[2J", "bold")
    assert text.plain == "[bold red]x[/] [@click=app.quit]q[/] \\e[2J"
    assert not text.spans


# ---------------------------------------------------------------- hostile strings

HOSTILE = (*HOSTILE_STRINGS, "[@click=app.boom]boom[/]", "[link=file:///etc/passwd]x[/link]")


def hostile_processes() -> list[Process]:
    rows = []
    for i, text in enumerate(HOSTILE):
        rows.append(
            process(
                100 + i,
                text,
                float(i),
                user=text,
                exe="/tmp/" + text,
                exe_deleted=bool(i % 2),
                cmdline=(text, "--arg", text) if i % 3 else (),
            )
        )
    return rows


def hostile_sockets() -> list[Socket]:
    return [
        socket_row(
            1000 + i,
            100 + i,
            text,
            state=text if i % 2 else "LISTEN",
            local_addr=text if i % 3 == 0 else "10.0.0.1",
        )
        for i, text in enumerate(HOSTILE)
    ]


async def _click_every_row(pilot: Pilot[None], table: LiveTable[Any]) -> None:
    """A click on each row's text, where a markup link would sit if one had been made."""
    for y in range(1, min(table.size.height, table.row_count + 1)):
        await pilot.click(LiveTable, offset=(table.size.width - 8, y))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", ["process", "socket"])
async def test_hostile_strings_render_as_inert_text(size: tuple[int, int], kind: str) -> None:
    make: Callable[[], LiveTable[Any]] = ProcessTable if kind == "process" else SocketTable
    rows: Sequence[Any] = hostile_processes() if kind == "process" else hostile_sockets()
    app = TableApp(make)
    async with app.run_test(size=size) as pilot:
        table = app.table
        table.set_rows(rows)
        await pilot.pause()
        table.filter_text = "["  # the filter sees the escaped text too
        table.filter_text = ""
        await pilot.pause()
        for y in range(table.size.height):
            strip = table.render_line(y)
            assert strip.cell_length == table.size.width
            text = "".join(segment.text for segment in strip)
            assert not FORBIDDEN & set(text), repr(text)
            for segment in strip:
                assert segment.style is None or not segment.style.meta  # no @click / links
        shown = "\n".join(screen_lines(table))
        assert "[/bar]" in shown  # literal text, not markup
        assert "\\e]0;PWNED" in shown or "\\e[2J" in shown
        assert "挖矿" in shown

        if size == SIZES[0]:  # clicks are slow to drive; once per table kind is enough
            await _click_every_row(pilot, table)
        await pilot.press("enter")
        await pilot.pause()
        assert app.fired == []
        assert app.is_running
        screenshot = app.export_screenshot()
        assert "\x1b" not in screenshot and "\u202e" not in screenshot
