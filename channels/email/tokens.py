"""Conversation tokens and thread keys: how a reply finds its conversation again.

A conversation's token is minted once, by the first mail we send in it, and returned to the hub as
a thread key (`token:<t>`); later sends find it among `OutboundMessage.thread_keys` and reuse it.
It travels in the Reply-To (`support+<t>@example.com`, a strong key: only someone who got our mail
knows it) and, optionally, in the subject (`[#<t>]`, a weak key: subjects are copied and typed).
Message-IDs are keys as written, brackets included (`<id@host>`), so they never collide with a
token key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable

TOKEN_PREFIX = "token:"
_TOKEN = r"[a-z2-7]{10,32}"
_PLUS = re.compile(rf"^[^+@]+\+({_TOKEN})@", re.IGNORECASE)
_SUBJECT = re.compile(rf"\[#({_TOKEN})\]", re.IGNORECASE)
# "Re:", "RE[2]:", "AW:", "SV:", "Antw:", "Odp:", "Rif:", "Res:", "VS:" ...: replies in many languages.
_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|antw|odp|rif|res|vs|ynt|r)\s*(\[\d+\])?\s*:", re.IGNORECASE)


def mint(secret: bytes = b"", seed: str | None = None) -> str:
    """A new token: 50 bits in lower-case base32 (survives case-folding mail servers); random, or
    derived from `seed` (the outbox item) with `secret`, so a retried send uses the same one."""
    return _derive(secret, seed, "token")[:10]


def message_id(domain: str, secret: bytes = b"", seed: str | None = None) -> str:
    """`<id@domain>`: random, or derived from `seed` like `mint`. A retry of one outbox item then
    carries the same Message-ID, and a client that got the first copy shows one mail, not two.
    It must stay unguessable: a Message-ID in In-Reply-To is a strong thread key."""
    return f"<{_derive(secret, seed, 'message-id')[:26]}@{domain}>"


def _derive(secret: bytes, seed: str | None, purpose: str) -> str:
    if secret and seed:
        digest = hmac.new(secret, f"{purpose}:{seed}".encode(), hashlib.sha256).digest()
    else:
        digest = secrets.token_bytes(32)
    return base64.b32encode(digest).decode().lower().rstrip("=")


def token_key(token: str) -> str:
    return TOKEN_PREFIX + token.lower()


def token_of(keys: Iterable[str]) -> str | None:
    """The conversation's token among its thread keys, if one was minted before."""
    for key in keys:
        if key.startswith(TOKEN_PREFIX):
            return key[len(TOKEN_PREFIX):]
    return None


def plus_token(address: str, mailbox_address: str) -> str | None:
    """The token in `support+<token>@domain` when the address is `mailbox_address` plus a token."""
    match = _PLUS.match(address)
    if not match:
        return None
    local, _, domain = address.lower().rpartition("@")
    box_local, _, box_domain = mailbox_address.lower().rpartition("@")
    if domain != box_domain or local.partition("+")[0] != box_local:
        return None
    return match.group(1).lower()


def subject_token(subject: str | None) -> str | None:
    match = _SUBJECT.search(subject or "")
    return match.group(1).lower() if match else None


def with_subject_token(subject: str, token: str) -> str:
    if subject_token(subject) == token:
        return subject
    return f"{subject} [#{token}]"


def reply_subject(subject: str | None) -> str:
    """`Re: <subject>`, without piling prefixes up (`Re: Re: AW:`)."""
    subject = (subject or "").strip()
    if _REPLY_PREFIX.match(subject):
        return subject
    return f"Re: {subject}" if subject else "Re:"
