"""Where sickbay keeps secrets (cloud access keys, SSH key passphrases): never in plain text.

Two stores:

- ``system``: the desktop's keyring through ``keyring`` (Secret Service, KWallet, macOS
  Keychain...). Only real system backends count: ``keyring``'s own chain also holds
  keyrings.cryptfile's *plaintext* and password-prompting backends once that package is
  installed, so it is never used as is.
- ``cryptfile``: keyrings.cryptfile's encrypted file (Argon2id key derivation, AES-GCM), opened
  with a master password the operator types (the UI or the terminal asks; nothing reads it from
  the environment). This is the store for a headless bastion, which has no keyring daemon.

``backend = "auto"`` (the default) uses the system keyring where there is one, else says so and
uses the encrypted file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import platformdirs

BackendName = Literal["auto", "system", "cryptfile"]
SERVICE_PREFIX = "sickbay"

# Backends of `keyring` that are not a real system store (or that store in plain text).
_NOT_SYSTEM = ("keyring.backends.fail", "keyring.backends.chainer", "keyring.backends.null")
_NOT_SYSTEM_PACKAGES = ("keyrings.",)  # keyrings.alt, keyrings.cryptfile: files, some plaintext


class SecretStoreError(Exception):
    """The store cannot be used (no keyring daemon, wrong master password...); the message says
    what to do."""


def default_cryptfile() -> Path:
    return Path(platformdirs.user_data_dir("sickbay")) / "secrets.cfg"


def system_keyring() -> Any | None:
    """The best real system keyring backend, or None (a headless machine)."""
    import keyring.backend  # noqa: PLC0415 (slow import, only when secrets are used)

    candidates = []
    for backend in keyring.backend.get_all_keyring():
        module = type(backend).__module__
        if module.startswith(_NOT_SYSTEM) or module.startswith(_NOT_SYSTEM_PACKAGES):
            continue
        try:
            priority = float(backend.priority)
        except Exception:
            continue
        if priority > 0:
            candidates.append((priority, backend))
    if not candidates:
        return None
    return max(candidates, key=lambda item: item[0])[1]


def no_system_keyring_message() -> str:
    return (
        "this machine has no system keyring (no Secret Service/D-Bus session, as on most "
        "headless bastions); sickbay can keep secrets in an encrypted file instead "
        f"({default_cryptfile()}, Argon2 + AES-GCM, opened with a master password you type). "
        "It never stores them in plain text."
    )


class SecretStore:
    """Get and set secrets under ``sickbay/<kind>``. ``master_password`` is asked only when the
    encrypted file is used, and only once per store."""

    def __init__(
        self,
        backend: BackendName = "auto",
        *,
        cryptfile: Path | None = None,
        master_password: Callable[[], str] | None = None,
    ) -> None:
        self.backend_name = backend
        self.cryptfile_path = cryptfile or default_cryptfile()
        self._master_password = master_password
        self._backend: Any | None = None
        self._kind: str | None = None

    def describe(self) -> str:
        """Where secrets go, for the operator ("system keyring (SecretService Keyring)")."""
        self._resolve(open_file=False)
        if self._kind == "system":
            return f"system keyring ({type(self._backend).__name__})"
        return f"encrypted file {self.cryptfile_path}"

    @property
    def uses_file(self) -> bool:
        self._resolve(open_file=False)
        return self._kind == "cryptfile"

    def get(self, kind: str, name: str) -> str | None:
        backend = self._resolve()
        if self._kind == "cryptfile" and not self.cryptfile_path.exists():
            return None
        try:
            value = backend.get_password(f"{SERVICE_PREFIX}/{kind}", name)
        except Exception as exc:
            raise SecretStoreError(f"cannot read from {self.describe()}: {exc}") from None
        return value if isinstance(value, str) else None

    def set(self, kind: str, name: str, value: str) -> None:
        backend = self._resolve()
        if self._kind == "cryptfile":
            self.cryptfile_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            backend.set_password(f"{SERVICE_PREFIX}/{kind}", name, value)
        except Exception as exc:
            raise SecretStoreError(f"cannot write to {self.describe()}: {exc}") from None
        if self._kind == "cryptfile":
            self.cryptfile_path.chmod(0o600)

    def delete(self, kind: str, name: str) -> bool:
        backend = self._resolve()
        try:
            backend.delete_password(f"{SERVICE_PREFIX}/{kind}", name)
        except Exception:
            return False
        return True

    def _resolve(self, *, open_file: bool = True) -> Any:
        if self._kind is None:
            system = None if self.backend_name == "cryptfile" else system_keyring()
            if system is not None:
                self._kind, self._backend = "system", system
            elif self.backend_name == "system":
                raise SecretStoreError(no_system_keyring_message())
            else:
                self._kind = "cryptfile"
        if self._kind == "cryptfile" and self._backend is None and open_file:
            self._backend = self._open_cryptfile()
        return self._backend

    def _open_cryptfile(self) -> Any:
        from keyrings.cryptfile.cryptfile import CryptFileKeyring  # noqa: PLC0415

        if self._master_password is None:
            raise SecretStoreError(
                "the encrypted secrets file needs its master password, and nothing can ask for it"
            )
        password = self._master_password()
        if not password:
            raise SecretStoreError("no master password given")
        ring = CryptFileKeyring()
        ring.file_path = str(self.cryptfile_path)
        self.cryptfile_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            ring.keyring_key = password  # unlocks the file, or creates it with this password
        except ValueError:
            raise SecretStoreError("wrong master password for the encrypted secrets file") from None
        self.cryptfile_path.chmod(0o600)
        return ring
