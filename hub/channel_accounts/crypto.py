"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) under a key the
composition root derives from the hub's secret (HKDF, config/secrets.py). No key of our own making:
a vetted recipe with authenticated encryption, so a tampered value fails rather than decrypts."""

from __future__ import annotations

import base64
import json

from cryptography.fernet import Fernet, InvalidToken


class SecretsUnreadable(Exception):
    """Sealed under another key (the hub's secret changed) or tampered with."""


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("a secret box needs a 32-byte key")
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, secrets: dict[str, str]) -> str:
        return self._fernet.encrypt(json.dumps(secrets, sort_keys=True).encode()).decode()

    def open(self, sealed: str) -> dict[str, str]:
        try:
            opened = json.loads(self._fernet.decrypt(sealed.encode()))
        except (InvalidToken, ValueError) as exc:
            raise SecretsUnreadable("stored secrets cannot be read with this hub's secret") from exc
        return {str(k): str(v) for k, v in opened.items()}

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"
