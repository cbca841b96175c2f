"""The console's side of encrypted SSH keys: ask for a passphrase (once by itself for the host
on screen, again after a wrong one, or when the operator presses the key), hand it to every host
waiting for the same key, and keep it in the secret store only when asked and only once it is
known to open the key."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from domain.i18n import tr
from domain.source import PassphraseInput, Source
from screens.passphrase import PassphraseAnswer, PassphraseQuestion, PassphraseScreen
from tui.passphrases import PassphraseKeeper

if TYPE_CHECKING:
    from tui.app import SickbayApp


class PassphraseFlow:
    def __init__(self, app: SickbayApp, keeper: PassphraseKeeper) -> None:
        self.app, self.keeper = app, keeper
        self._asked: set[tuple[Path, bool, int]] = set()  # questions already shown
        self._failures_seen = 0

    def maybe_ask(self, source: Source) -> None:
        """Ask once, by itself, for a passphrase the host on screen waits for (again after a
        wrong one); later the operator asks with the same key as for a host key."""
        if not isinstance(source, PassphraseInput):
            return
        request = source.passphrase_request()
        if request is None or isinstance(self.app.screen, PassphraseScreen):
            return
        key_path, wrong = request
        attempt = (key_path, wrong, self._failures_seen if wrong else 0)
        if attempt in self._asked:
            return
        self._asked.add(attempt)
        self.app.run_worker(self.ask(source), group="passphrase", exclusive=True)

    async def ask(self, source: Source) -> None:
        if not isinstance(source, PassphraseInput):
            return
        request = source.passphrase_request()
        if request is None:
            return
        key_path, wrong = request
        waiting = [
            s
            for s in self.app.sources
            if isinstance(s, PassphraseInput)
            and (r := s.passphrase_request()) is not None
            and r[0] == key_path
        ]
        store = await asyncio.to_thread(self.keeper.describe)
        question = PassphraseQuestion(
            host=source.name,
            key_path=key_path,
            wrong=wrong,
            store=store,
            uses_file=self.keeper.uses_file,
            others=len(waiting) - 1,
            lang=self.app.lang,
        )
        answer = await self.app.push_screen_wait(PassphraseScreen(question))
        if answer is not None:
            await self._use(key_path, answer, waiting or [source])

    async def _use(
        self, key_path: Path, answer: PassphraseAnswer, waiting: Sequence[Source]
    ) -> None:
        from backends.secrets import SecretStoreError  # noqa: PLC0415
        from backends.ssh import passphrase_opens  # noqa: PLC0415

        passphrase = answer.passphrase
        lang = self.app.lang
        try:
            if not passphrase:
                found = await asyncio.to_thread(self.keeper.lookup_in_file, key_path, answer.master)
                if found is None:
                    text = tr("ui.passphrase.not-in-file", lang, key=str(key_path))
                    self.app.notify(text, markup=False)
                    return
                passphrase = found
            opens = await asyncio.to_thread(passphrase_opens, key_path, passphrase)
            if answer.remember and opens:
                where = await asyncio.to_thread(
                    self.keeper.remember, key_path, passphrase, answer.master
                )
                text = tr("ui.passphrase.kept", lang, key=str(key_path), store=where)
                self.app.notify(text, markup=False)
            elif answer.remember:
                self.app.notify(tr("ui.passphrase.not-kept", lang))
        except SecretStoreError as exc:
            self.app.notify(str(exc), severity="error", markup=False)
            if not passphrase:
                return
        self._failures_seen += 1
        for source in waiting:
            if isinstance(source, PassphraseInput):
                source.provide_passphrase(key_path, passphrase)
