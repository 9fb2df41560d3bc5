"""``SecretBox``: how the store keeps what a resume needs of a run's secrets, encrypted with Fernet
(AES-128-CBC and HMAC-SHA256, from the ``cryptography`` package).

The key comes from ``$FLOWLOOM_SECRET_KEY`` (a Fernet key: 32 url-safe base64 bytes), or from a key file that
is made once, with mode 0600, in the data directory beside the default SQLite store. Every process that
resumes runs of a store needs the same key."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from flowloom.ir import FlowloomError

SECRET_KEY_ENV = "FLOWLOOM_SECRET_KEY"
KEY_FILE_NAME = "secret.key"


class SecretKeyError(FlowloomError):
    """The secret key is unusable, or sealed data cannot be opened with it."""


class SecretBox:
    """Seals JSON values into text only the holder of the key can open. ``where`` says where the key came
    from (named in errors, never the key itself)."""

    __slots__ = ("_fernet", "where")

    def __init__(self, key: bytes | str, *, where: str = "the given key") -> None:
        from cryptography.fernet import Fernet  # loaded only by runs that have secrets to keep

        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise SecretKeyError(
                f"the secret key from {where} is not a Fernet key (32 url-safe base64-encoded bytes; "
                "make one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)"
            ) from exc
        self.where = where

    @classmethod
    def generate(cls) -> SecretBox:
        """A box with a new random key (for tests and for a process that resumes nothing)."""
        from cryptography.fernet import Fernet

        return cls(Fernet.generate_key(), where="a generated key")

    @classmethod
    def from_environment(cls, directory: Path) -> SecretBox:
        """The key of ``$FLOWLOOM_SECRET_KEY``, else of ``directory/secret.key``, made there (mode 0600) if
        there is none yet."""
        given = os.environ.get(SECRET_KEY_ENV)
        if given:
            return cls(given.strip(), where=f"${SECRET_KEY_ENV}")
        path = directory / KEY_FILE_NAME
        return cls(_key_file(path), where=str(path))

    def seal(self, value: Any) -> str:
        """``value`` (JSON-serialisable) as an encrypted, authenticated token."""
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        return self._fernet.encrypt(text.encode()).decode("ascii")

    def open(self, token: str) -> Any:
        """The value sealed in ``token``; ``SecretKeyError`` if this key did not seal it."""
        from cryptography.fernet import InvalidToken

        try:
            return json.loads(self._fernet.decrypt(token.encode("ascii")))
        except (InvalidToken, ValueError) as exc:
            raise SecretKeyError(
                f"cannot decrypt the run's secrets with the key from {self.where}: it was sealed with "
                f"another key (set ${SECRET_KEY_ENV} to the key of the process that started the run)"
            ) from exc


def _key_file(path: Path) -> bytes:
    """The key in ``path``, made with mode 0600 if the file does not exist (of two processes making it at
    once, one writes it and the other reads that)."""
    from cryptography.fernet import Fernet

    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise SecretKeyError(f"cannot read the secret key file {path}: {exc.strerror or exc}") from exc
    key = Fernet.generate_key()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    except OSError as exc:
        raise SecretKeyError(
            f"cannot make the secret key file {path}: {exc.strerror or exc} (or set ${SECRET_KEY_ENV})"
        ) from exc
    with os.fdopen(descriptor, "wb") as file:
        file.write(key)
    return key
