"""The hub's secret, and the keys derived from it (one per purpose, so no key serves two roles).

`secret_key` (HUB_SECRET_KEY) when set; otherwise a random one kept in `secret_key_file` (made on
first use, readable by its owner only), so a single embedded hub keeps its keys across restarts.
Several processes or nodes must share one: set HUB_SECRET_KEY there. Changing it makes stored
mailbox passwords unreadable (admins enter them again) and changes the Message-IDs of retries.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from config.settings import Settings


def hub_secret(settings: Settings) -> bytes:
    if settings.secret_key:
        return settings.secret_key.encode()
    path = Path(settings.secret_key_file)
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        f.write(value)
    return value


def derive_key(secret: bytes, purpose: str) -> bytes:
    """32 bytes for `purpose` ("email-ids", "channel-secrets", ...), by HKDF-SHA256."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"contact-hub:{purpose}".encode()).derive(secret)
