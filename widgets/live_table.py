"""A keyed table for rows that change every few seconds, on Textual's line API.

``DataTable`` re-lays out on every removal and keeps the cursor's *index* across a sort; a live
process list needs the opposite. :class:`LiveTable` holds the current rows as given (any objects,
typically the frozen dataclasses of ``domain.model``), sorts and filters them on each
:meth:`LiveTable.set_rows`, and renders only the lines on screen:

* the cursor follows its row's key across refreshes, sorts and filters; if the row vanished the
  cursor stays at the same index (clamped);
* the scroll position is kept; a cursor that was on screen is kept on screen;
* a rendered row is cached by its key and reused while the row object is the same (or equal),
  so an unchanged row is not rendered again;
* cell text comes from :class:`Column` ``text`` functions that return strings already made
  visible (``domain.sanitize.visible``); the table writes them as plain segments, never markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, ClassVar, Generic, TypeVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from domain.i18n import Language
from domain.sanitize import visible
from widgets.safe import Align, Cut, fit

T = TypeVar("T")

SEVERITIES = ("critical", "high", "medium", "low")
# A mark is a letter, not only a colour: it survives NO_COLOR and colour-blind operators.
_MARK_GLYPHS = {"critical": "C", "high": "H", "medium": "M", "low": "L"}
_MARK_WIDTH = 2  # glyph + gap
_SEPARATOR = " "
_SORT_ARROWS = {False: "▲", True: "▼"}  # ascending, descending


@dataclass(frozen=True)
class Column(Generic[T]):
    """One column of a :class:`LiveTable`.

    ``text(row)`` must return a visible string (host strings passed through
    ``domain.sanitize.visible``). ``sort_key(row)`` defaults to that text; it may return ``None``
    for "no value", and such rows sort last in either direction. ``width`` is the column's width in
    cells, or for the ``flex`` column its minimum: the flex column takes what the others leave.
    ``descending`` is the direction a column sorts in when first chosen (numbers: biggest first).
    ``cut`` is where a too-long text loses characters: ``"end"``, or ``"start"`` to keep its end
    (an address's port). The table passes every text through ``visible`` again before drawing
    it (idempotent, cached), so a column that forgets cannot put a control character on screen.
    """

    id: str
    title: str
    text: Callable[[T], str]
    width: int = 8
    align: Align = "left"
    sort_key: Callable[[T], Any] | None = None
    flex: bool = False
    descending: bool = False
    cut: Cut = "end"


class LiveTable(ScrollView, Generic[T], can_focus=True):
    """A live, keyed, sortable and filterable table. See the module docstring."""

    _lang: Language = "en"

    DEFAULT_CSS = """
    LiveTable {
        background: $surface;
        color: $foreground;
        scrollbar-size-vertical: 1;
        & > .live-table--header {
            background: $panel;
            color: $foreground;
            text-style: bold;
        }
        & > .live-table--header-sorted {
            background: $panel;
            color: $accent;
            text-style: bold underline;
        }
        & > .live-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .live-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        & > .live-table--mark-critical {
            color: $error;
            text-style: bold;
        }
        & > .live-table--mark-high {
            color: $warning;
            text-style: bold;
        }
        & > .live-table--mark-medium {
            color: $warning;
        }
        & > .live-table--mark-low {
            color: $text-muted;
        }
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "live-table--header",
        "live-table--header-sorted",
        "live-table--cursor",
        *(f"live-table--mark-{severity}" for severity in SEVERITIES),
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False, id="table.cursor_up"),
        Binding("down,j", "cursor_down", "Down", show=False, id="table.cursor_down"),
        Binding("pageup", "page_up", "Page up", show=False, id="table.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="table.page_down"),
        Binding("home,g", "cursor_top", "First row", show=False, id="table.cursor_top"),
        Binding("end,G", "cursor_bottom", "Last row", show=False, id="table.cursor_bottom"),
        Binding("enter", "select", "Select", show=False, id="table.select"),
        Binding("less_than_sign", "sort_left", "Sort column ←", show=False, id="table.sort_left"),
        Binding(
            "greater_than_sign", "sort_right", "Sort column →", show=False, id="table.sort_right"
        ),
        Binding("I", "sort_invert", "Invert sort", show=False, id="table.sort_invert"),
    ]

    class CursorMoved(Message):
        """The cursor is on another row (``key``; ``None`` when the table is empty). Not posted
        when a refresh leaves the cursor on the same key."""

        def __init__(self, table: LiveTable[Any], key: str | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> LiveTable[Any]:
            return self.table

    class RowSelected(Message):
        """Enter (or a click on the cursor row) on the row with ``key``."""

        def __init__(self, table: LiveTable[Any], key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> LiveTable[Any]:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column[T]],
        *,
        key: Callable[[T], str],
        sort: str | None = None,
        reverse: bool | None = None,
        mark: Callable[[T], str | None] | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._titles: dict[str, str] = {}  # column id -> title in the operator's language
        if not columns:
            raise ValueError("a LiveTable needs at least one column")
        if sum(1 for column in columns if column.flex) > 1:
            raise ValueError("at most one column can be flex")
        ids = [column.id for column in columns]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate column ids: {ids}")
        self._columns: tuple[Column[T], ...] = tuple(columns)
        self._key = key
        self._mark = mark
        self._all: Sequence[T] = ()
        self._view: list[T] = []
        self._view_keys: list[str] = []
        self._cursor = 0
        self._cursor_key: str | None = None
        self._posted_key: str | None = None
        self._filter = ""
        self._needle = ""
        self._sort_index = 0
        self._sort_reverse = False
        self._haystacks: dict[str, tuple[T, str]] = {}
        self._row_cache: LRUCache[str, tuple[T, tuple[object, ...], Strip]] = LRUCache(1024)
        self._header_cache: tuple[tuple[object, ...], Strip] | None = None
        self._styles: dict[str, Style] = {}
        self._style_state: object = None
        self._widths_cache: tuple[int, tuple[int, ...]] | None = None
        fixed = sum(column.width for column in self._columns)
        self._min_width = (
            fixed
            + len(_SEPARATOR) * (len(self._columns) - 1)
            + (_MARK_WIDTH if mark is not None else 0)
        )
        self.sort_by(sort if sort is not None else self._columns[0].id, reverse)

    # ------------------------------------------------------------------ public API

    @property
    def columns(self) -> tuple[Column[T], ...]:
        return self._columns

    @property
    def rows(self) -> Sequence[T]:
        """The rows shown, in display order (sorted and filtered)."""
        return self._view

    @property
    def row_count(self) -> int:
        """Rows shown (after the filter)."""
        return len(self._view)

    @property
    def total_count(self) -> int:
        """Rows given to :meth:`set_rows` (before the filter)."""
        return len(self._all)

    @property
    def summary(self) -> str:
        """``"N of M"``: rows shown of rows known."""
        return f"{len(self._view)} of {len(self._all)}"

    @property
    def cursor_index(self) -> int:
        return self._cursor

    @property
    def cursor_key(self) -> str | None:
        """Key of the row under the cursor, ``None`` when the table is empty."""
        return self._cursor_key

    @property
    def cursor_row(self) -> T | None:
        """The row object under the cursor, ``None`` when the table is empty."""
        return self._view[self._cursor] if self._view else None

    @property
    def sort_column(self) -> str:
        return self._columns[self._sort_index].id

    @property
    def sort_reverse(self) -> bool:
        return self._sort_reverse

    @property
    def filter_text(self) -> str:
        """Case-insensitive substring matched against a row's visible cell texts."""
        return self._filter

    @filter_text.setter
    def filter_text(self, value: str) -> None:
        if value != self._filter:
            self._filter = value
            self._needle = value.casefold()
            self._apply(follow_cursor=True)

    def set_rows(self, rows: Sequence[T]) -> None:
        """Show ``rows`` (the whole current set): sorted, filtered, cursor kept on its key."""
        self._all = rows
        self._apply()

    def sort_by(self, column_id: str, reverse: bool | None = None) -> None:
        """Sort by ``column_id``; ``reverse=None`` uses the column's own first direction."""
        ids = [column.id for column in self._columns]
        if column_id not in ids:
            raise KeyError(column_id)
        self._sort_index = ids.index(column_id)
        column = self._columns[self._sort_index]
        self._sort_reverse = column.descending if reverse is None else reverse
        self._header_cache = None
        self._apply(follow_cursor=True)

    def move_cursor(self, index: int) -> None:
        """Put the cursor on row ``index`` (clamped) and scroll it into view."""
        if not self._view:
            return
        self._cursor = max(0, min(index, len(self._view) - 1))
        self._cursor_key = self._view_keys[self._cursor]
        if self.is_mounted:
            self._scroll_to_cursor()
            self._post_cursor()
            self.refresh()

    def move_cursor_to_key(self, key: str) -> bool:
        """Put the cursor on the row with ``key``; ``False`` if no such row is shown."""
        try:
            index = self._view_keys.index(key)
        except ValueError:
            return False
        self.move_cursor(index)
        return True

    def set_titles(self, titles: dict[str, str]) -> None:
        """Column titles in the operator's language, by column id (others keep their own)."""
        self._titles = dict(titles)
        self.clear_render_cache()

    def title_of(self, column: Column[T]) -> str:
        return self._titles.get(column.id, column.title)

    def set_mark(self, mark: Callable[[T], str | None] | None) -> None:
        """Change the function that marks rows (``"critical"``, ``"high"``, ...)."""
        had_mark = self._mark is not None
        self._mark = mark
        if had_mark != (mark is not None):
            self._min_width += _MARK_WIDTH if mark is not None else -_MARK_WIDTH
            self._widths_cache = None
            self._header_cache = None
        self.clear_render_cache()

    def row_mark(self, row: T) -> str | None:
        """The severity mark ``row`` is drawn with, if any."""
        return None if self._mark is None else self._mark(row)

    @property
    def lang(self) -> Language:
        """The language of our own words in the cells (host data stays as it is); columns that
        have such words read it when they render (``_lang``)."""
        return self._lang

    @lang.setter
    def lang(self, value: Language) -> None:
        self._lang = value
        self.clear_render_cache()

    def clear_render_cache(self) -> None:
        """Forget rendered rows, e.g. when a column's text depends on something other than the
        row (the clock, detection results)."""
        self._row_cache.clear()
        self._header_cache = None
        self.refresh()

    # ------------------------------------------------------------------ sorting and filtering

    def _haystack(self, key: str, row: T) -> str:
        cached = self._haystacks.get(key)
        if cached is not None and (cached[0] is row or cached[0] == row):
            return cached[1]
        haystack = "\0".join(visible(column.text(row)) for column in self._columns).casefold()
        self._haystacks[key] = (row, haystack)
        return haystack

    def _apply(self, follow_cursor: bool = False) -> None:
        """Recompute the view from ``self._all``, keep cursor and scroll, repaint."""
        rows = self._all
        keys = list(map(self._key, rows))
        needle = self._needle
        indices: Sequence[int]
        if needle:
            haystack = self._haystack
            indices = [i for i in range(len(rows)) if needle in haystack(keys[i], rows[i])]
            if len(self._haystacks) > 2 * len(rows) + 64:
                live = set(keys)
                self._haystacks = {k: v for k, v in self._haystacks.items() if k in live}
        else:
            indices = range(len(rows))
            self._haystacks.clear()

        column = self._columns[self._sort_index]
        sort_key = column.sort_key
        if sort_key is None:
            sort_key = column.text
        decorated = [(sort_key(rows[i]), i) for i in indices]
        present = [pair for pair in decorated if pair[0] is not None]
        present.sort(key=itemgetter(0), reverse=self._sort_reverse)
        order = [i for _, i in present]
        if len(present) != len(decorated):
            order.extend(i for value, i in decorated if value is None)

        self._view = [rows[i] for i in order]
        self._view_keys = [keys[i] for i in order]
        self._place_cursor(follow_cursor)

    def _place_cursor(self, follow_cursor: bool) -> None:
        old_index = self._cursor
        top = round(self.scroll_y)
        page = self._page_height()
        was_visible = top <= old_index < top + page
        count = len(self._view)
        if count == 0:
            self._cursor = 0
            self._cursor_key = None
        else:
            index = -1
            if self._cursor_key is not None:
                try:
                    index = self._view_keys.index(self._cursor_key)
                except ValueError:
                    index = -1
            if index < 0:
                index = max(0, min(old_index, count - 1))
            self._cursor = index
            self._cursor_key = self._view_keys[index]

        self.virtual_size = Size(self._min_width, count + 1)
        if not self.is_mounted:
            return  # on_mount finishes the job
        if self.scrollable_content_region.height > 1:  # laid out and shown (not hidden/zoomed)
            if top > max(0, count - page):
                self.scroll_to(y=max(0, count - page), animate=False, force=True)
            if (was_visible or follow_cursor) and count:
                self._scroll_to_cursor()
        self._post_cursor()
        self.refresh()

    def on_mount(self) -> None:
        self._post_cursor()

    # ------------------------------------------------------------------ cursor and scrolling

    def _page_height(self) -> int:
        """Rows that fit under the header."""
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_to_cursor(self) -> None:
        top = round(self.scroll_y)
        page = self._page_height()
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False, force=True)
        elif self._cursor >= top + page:
            self.scroll_to(y=self._cursor - page + 1, animate=False, force=True)

    def _post_cursor(self) -> None:
        if self._cursor_key != self._posted_key:
            self._posted_key = self._cursor_key
            self.post_message(self.CursorMoved(self, self._cursor_key))

    def action_cursor_up(self) -> None:
        self.move_cursor(self._cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self._cursor + 1)

    def action_page_up(self) -> None:
        page = self._page_height()
        self.scroll_to(y=max(0, round(self.scroll_y) - page), animate=False, force=True)
        self.move_cursor(self._cursor - page)

    def action_page_down(self) -> None:
        page = self._page_height()
        self.scroll_to(y=round(self.scroll_y) + page, animate=False, force=True)
        self.move_cursor(self._cursor + page)

    def action_cursor_top(self) -> None:
        self.move_cursor(0)

    def action_cursor_bottom(self) -> None:
        self.move_cursor(len(self._view) - 1)

    def action_select(self) -> None:
        if self._cursor_key is not None:
            self.post_message(self.RowSelected(self, self._cursor_key))

    def action_sort_left(self) -> None:
        index = max(0, self._sort_index - 1)
        self.sort_by(self._columns[index].id)

    def action_sort_right(self) -> None:
        index = min(len(self._columns) - 1, self._sort_index + 1)
        self.sort_by(self._columns[index].id)

    def action_sort_invert(self) -> None:
        self.sort_by(self.sort_column, not self._sort_reverse)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            column = self._column_at(offset.x + round(self.scroll_x))
            if column is not None:
                event.stop()
                if column == self._sort_index:
                    self.action_sort_invert()
                else:
                    self.sort_by(self._columns[column].id)
            return
        index = round(self.scroll_y) + offset.y - 1
        if 0 <= index < len(self._view):
            event.stop()
            if index == self._cursor:
                self.action_select()
            else:
                self.move_cursor(index)

    def _column_at(self, x: int) -> int | None:
        left = _MARK_WIDTH if self._mark is not None else 0
        for index, width in enumerate(self._widths(self._render_width())):
            if left <= x < left + width + len(_SEPARATOR):
                return index
            left += width + len(_SEPARATOR)
        return None

    # ------------------------------------------------------------------ rendering

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._forget_styles()

    def _forget_styles(self) -> None:
        self._styles.clear()
        self._row_cache.clear()
        self._header_cache = None

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            if name == "":
                style = self.rich_style
            else:
                style = self.get_component_rich_style(f"live-table--{name}")
            self._styles[name] = style
        return style

    def _render_width(self) -> int:
        return max(self.scrollable_content_region.width, self._min_width)

    def _widths(self, width: int) -> tuple[int, ...]:
        cached = self._widths_cache
        if cached is not None and cached[0] == width:
            return cached[1]
        spare = width - self._min_width
        widths = tuple(column.width + (spare if column.flex else 0) for column in self._columns)
        self._widths_cache = (width, widths)
        return widths

    def render_lines(self, crop: Region) -> list[Strip]:
        # Component styles follow pseudo classes (:focus); drop cached strips when they change.
        state = self.get_pseudo_class_state()
        if state != self._style_state:
            self._style_state = state
            self._forget_styles()
        lines: list[Strip] = super().render_lines(crop)
        return lines

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        view_width = self.size.width
        width = self._render_width()
        if y == 0:
            strip = self._render_header(width)
        else:
            index = scroll_y + y - 1
            if not 0 <= index < len(self._view):
                return Strip.blank(view_width, self._style(""))
            strip = self._render_row(index, width)
        if scroll_x or width != view_width:
            strip = strip.crop_extend(scroll_x, scroll_x + view_width, self._style(""))
        return strip

    def _render_header(self, width: int) -> Strip:
        state = (width, self._sort_index, self._sort_reverse)
        cached = self._header_cache
        if cached is not None and cached[0] == state:
            return cached[1]
        header = self._style("header")
        sorted_style = self._style("header-sorted")
        segments: list[Segment] = []
        if self._mark is not None:
            segments.append(Segment(" " * _MARK_WIDTH, header))
        widths = self._widths(width)
        last = len(self._columns) - 1
        for index, (column, cell_width) in enumerate(zip(self._columns, widths, strict=True)):
            sep = "" if index == last else _SEPARATOR
            if index == self._sort_index:
                arrow = _SORT_ARROWS[self._sort_reverse]
                if column.align == "right":
                    title = fit(arrow + self.title_of(column), cell_width, "right")
                else:
                    title = fit(self.title_of(column) + arrow, cell_width, "left")
                segments.append(Segment(title, sorted_style))
                segments.append(Segment(sep, header))
            else:
                segments.append(
                    Segment(fit(self.title_of(column), cell_width, column.align) + sep, header)
                )
        strip = Strip(segments, width).simplify()
        self._header_cache = (state, strip)
        return strip

    def _render_row(self, index: int, width: int) -> Strip:
        row = self._view[index]
        key = self._view_keys[index]
        is_cursor = index == self._cursor
        mark = self._mark(row) if self._mark is not None else None
        state = (width, is_cursor, mark)
        cached = self._row_cache.get(key)
        if cached is not None and cached[1] == state and (cached[0] is row or cached[0] == row):
            return cached[2]

        base = self._style("cursor") if is_cursor else self._style("")
        text_style = base
        segments: list[Segment] = []
        if self._mark is not None:
            if mark in _MARK_GLYPHS:
                mark_style = base + self._style(f"mark-{mark}")
                segments.append(Segment(_MARK_GLYPHS[mark], mark_style))
                segments.append(Segment(" " * (_MARK_WIDTH - 1), base))
                if not is_cursor:
                    text_style = mark_style
            else:
                segments.append(Segment(" " * _MARK_WIDTH, base))
        cells = [
            fit(visible(column.text(row)), cell_width, column.align, column.cut)
            for column, cell_width in zip(self._columns, self._widths(width), strict=True)
        ]
        segments.append(Segment(_SEPARATOR.join(cells), text_style))
        strip = Strip(segments, width)
        self._row_cache.discard(key)  # LRUCache.set keeps an existing entry
        self._row_cache.set(key, (row, state, strip))
        return strip
