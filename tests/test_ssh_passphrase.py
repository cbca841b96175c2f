"""Encrypted client keys: the source waits for a passphrase, the UI asks for it, and on request
it is kept in the secret store (here the encrypted file: this machine has no keyring daemon)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncssh
import pytest
from textual.widgets import Checkbox, Input

from backends.secrets import system_keyring
from backends.ssh import PassphraseNeeded, SshSource, SshState, SshTarget
from screens.host import HostScreen
from screens.passphrase import PassphraseScreen
from tests.sshd import Sshd
from tui.app import SickbayApp
from tui.config import Settings

PASSPHRASE = "correct horse battery staple"


def encrypted_key(sshd: Sshd, path: Path) -> Path:
    """A new key, encrypted with PASSPHRASE, that the sshd accepts."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(path), passphrase=PASSPHRASE)
    path.chmod(0o600)
    sshd.authorized_keys.write_bytes(key.export_public_key())
    return path


def source_for(sshd: Sshd, keys: tuple[Path, ...] | None, **kw: object) -> SshSource:
    target = SshTarget(
        sshd.host, sshd.port, sshd.user, name="web1", client_keys=keys, use_agent=False,
        known_hosts=(sshd.known_hosts,),
    )  # fmt: skip
    return SshSource(target, connect_timeout=5, **kw)  # type: ignore[arg-type]


async def test_an_encrypted_key_waits_for_its_passphrase(sshd: Sshd, tmp_path: Path) -> None:
    key = encrypted_key(sshd, tmp_path / "id_enc")
    source = source_for(sshd, (key,))
    try:
        with pytest.raises(PassphraseNeeded) as raised:
            await source.sample()
        assert raised.value.key_path == key and not raised.value.wrong
        assert source.state is SshState.NEEDS_PASSPHRASE
        assert source.passphrase_request() == (key, False)
        with pytest.raises(PassphraseNeeded):  # waits: no retry loop, no backoff
            await source.sample()

        source.provide_passphrase(key, "not it")
        with pytest.raises(PassphraseNeeded) as raised:
            await source.sample()
        assert raised.value.wrong and source.passphrase_request() == (key, True)

        source.provide_passphrase(key, PASSPHRASE)
        snapshot = await source.sample()
        assert source.state is SshState.LIVE and snapshot.processes
        assert source.passphrase_request() is None
    finally:
        await source.close()


async def test_the_keyring_is_asked_before_the_operator(sshd: Sshd, tmp_path: Path) -> None:
    key = encrypted_key(sshd, tmp_path / "id_enc")
    asked: list[Path] = []

    def lookup(path: Path) -> str | None:
        asked.append(path)
        return PASSPHRASE

    source = source_for(sshd, (key,))
    source.passphrase_lookup = lookup
    try:
        await source.sample()
        assert asked == [key] and source.state is SshState.LIVE
    finally:
        await source.close()


async def test_an_encrypted_default_key_is_asked_for_when_the_host_refuses(
    sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    key = encrypted_key(sshd, home / ".ssh" / "id_ed25519")
    monkeypatch.setenv("HOME", str(home))
    source = source_for(sshd, None)  # the default keys, as ssh would use them
    try:
        with pytest.raises(PassphraseNeeded) as raised:
            await source.sample()
        assert raised.value.key_path == key
        source.provide_passphrase(key, PASSPHRASE)
        await source.sample()
        assert source.state is SshState.LIVE
    finally:
        await source.close()


async def _wait_for(pilot: object, condition: object, tries: int = 200) -> None:
    for _ in range(tries):
        await pilot.pause(0.05)  # type: ignore[attr-defined]
        if condition():  # type: ignore[operator]
            return


@pytest.mark.skipif(system_keyring() is not None, reason="expects a machine with no keyring")
async def test_the_console_asks_and_remembers_in_the_encrypted_file(
    sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    key = encrypted_key(sshd, tmp_path / "id_enc")
    app = SickbayApp(source_for(sshd, (key,)), Settings(interval=0.3))
    async with app.run_test(size=(100, 30)) as pilot:
        await _wait_for(pilot, lambda: isinstance(app.screen, PassphraseScreen))
        screen = app.screen
        assert isinstance(screen, PassphraseScreen)  # asked by itself, the host being on screen
        assert screen.question.key_path == key and screen.question.uses_file
        assert "encrypted secrets file" in screen.question.store
        assert app.focused is screen.query_one("#passphrase", Input)
        screen.query_one("#passphrase", Input).value = PASSPHRASE
        screen.query_one("#remember", Checkbox).value = True
        screen.query_one("#master", Input).value = "master-pw"
        screen.query_one("#connect").press()
        record = app.records["web1"]
        await _wait_for(pilot, lambda: record.state == "live")
        assert record.state == "live" and isinstance(app.screen, HostScreen)

    files = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert files, "the passphrase was to be remembered in the encrypted file"
    for path in files:
        assert PASSPHRASE.encode() not in path.read_bytes()  # never in plain text
        assert path.stat().st_mode & 0o077 == 0

    # Next time, the master password alone reads it back from the file.
    app = SickbayApp(source_for(sshd, (key,)), Settings(interval=0.3))
    async with app.run_test(size=(100, 30)) as pilot:
        await _wait_for(pilot, lambda: isinstance(app.screen, PassphraseScreen))
        screen = app.screen
        assert isinstance(screen, PassphraseScreen)
        screen.query_one("#master", Input).value = "master-pw"
        screen.query_one("#connect").press()
        record = app.records["web1"]
        await _wait_for(pilot, lambda: record.state == "live")
        assert record.state == "live"


async def test_a_wrong_passphrase_is_asked_again_and_never_remembered(
    sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    key = encrypted_key(sshd, tmp_path / "id_enc")
    app = SickbayApp(source_for(sshd, (key,)), Settings(interval=0.3))
    async with app.run_test(size=(100, 30)) as pilot:
        await _wait_for(pilot, lambda: isinstance(app.screen, PassphraseScreen))
        screen = app.screen
        assert isinstance(screen, PassphraseScreen)
        screen.query_one("#passphrase", Input).value = "wrong one"
        screen.query_one("#connect").press()
        await _wait_for(
            pilot,
            lambda: isinstance(app.screen, PassphraseScreen) and app.screen.question.wrong,
        )
        again = app.screen
        assert isinstance(again, PassphraseScreen) and again.question.wrong
        again.action_cancel()
        await asyncio.sleep(0.5)
        assert app.records["web1"].state == "passphrase needed"
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*.cfg"))
