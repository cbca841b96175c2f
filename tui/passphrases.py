"""SSH key passphrases and the secret store: looked up before anyone is asked, remembered only on
the operator's request (``backends.secrets``: the system keyring, or the encrypted file on a
headless bastion; never plain text). Blocking (Argon2 takes a moment): call from a thread."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import cast

from backends.secrets import BackendName, SecretStore, SecretStoreError, system_keyring

KIND = "ssh-passphrase"


class PassphraseKeeper:
    def __init__(self, backend: str = "auto", cryptfile: Path | None = None) -> None:
        self.backend = cast(BackendName, backend)
        self.cryptfile = cryptfile
        self._system: bool | None = None
        self._lock = threading.Lock()

    def _has_system(self) -> bool:
        with self._lock:
            if self._system is None:
                self._system = self.backend != "cryptfile" and system_keyring() is not None
            return self._system

    def _store(self, master: str = "") -> SecretStore:
        return SecretStore(self.backend, cryptfile=self.cryptfile, master_password=(lambda: master))

    @property
    def uses_file(self) -> bool:
        return not self._has_system()

    def describe(self) -> str:
        if self._has_system():
            return self._store().describe()
        return f"encrypted secrets file ({self._store().cryptfile_path})"

    def lookup(self, key_path: Path) -> str | None:
        """The passphrase from the system keyring, if it holds one (never prompts: the
        encrypted file needs its master password, which only the operator can give)."""
        if not self._has_system():
            return None
        try:
            return self._store().get(KIND, str(key_path))
        except SecretStoreError:
            return None

    def lookup_in_file(self, key_path: Path, master: str) -> str | None:
        return self._store(master).get(KIND, str(key_path))

    def remember(self, key_path: Path, passphrase: str, master: str = "") -> str:
        """Store it; returns where it went."""
        store = self._store(master)
        store.set(KIND, str(key_path), passphrase)
        return store.describe()
