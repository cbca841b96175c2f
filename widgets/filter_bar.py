"""The `/` filter input. It only reports what the user typed; the screen applies it."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input

from domain.i18n import Language, tr


class FilterBar(Input):
    """A one-line input, hidden until `/`. Typing filters live; Enter keeps the filter and returns
    to the table; Escape clears it. For another language, make it with
    ``screens.localize.localized(FilterBar, lang)`` (its key label and ``LANG``)."""

    LANG: ClassVar[Language] = "en"

    BINDINGS = [Binding("escape", "cancel", "Clear filter", id="filter.cancel")]

    class FilterChanged(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class FilterDone(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder=tr("ui.filter.placeholder", self.LANG), id=id)

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.FilterChanged(event.value))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.FilterDone(event.value))

    def action_cancel(self) -> None:
        self.value = ""
        self.post_message(self.FilterDone(""))
