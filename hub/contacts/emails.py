"""Email addresses: checked with `email-validator` (syntax only, no DNS), stored lowercased.

An address is later a header of the mail we send (email replies): `x@x.io,y@y.io`, `a@b` and
`a@x.io\\r\\nBcc:victim@y.io` must never get in. email-validator costs ~0.23 ms an address, a
fifth of an inbound message's CPU, so the common shape (plain ASCII, a dotted domain) is accepted
by a strict pattern first; anything else (international addresses, odd but valid local parts,
what the pattern refuses) goes to email-validator, its answers cached per address.
"""

from __future__ import annotations

import functools
import re

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from hub.errors import Invalid

# A subset of what email-validator accepts: dot-atoms of letters, digits and .+_- before the @;
# after it, dotted labels of letters, digits and inner hyphens (never "--": IDNA rules), ending in
# a letters-only top-level name. Lengths as RFC 5321: 64 before the @, 254 in all.
_PLAIN = re.compile(r"[a-z0-9+_-]+(?:\.[a-z0-9+_-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_RESERVED = frozenset(SPECIAL_USE_DOMAIN_NAMES)


def _plain(value: str) -> bool:
    if len(value) > 254 or _PLAIN.fullmatch(value) is None or "--" in value:
        return False
    local, _, domain = value.rpartition("@")
    return len(local) <= 64 and domain.rpartition(".")[2] not in _RESERVED


@functools.lru_cache(maxsize=4096)
def _checked(value: str) -> str | None:
    """The problem email-validator finds with `value`, or None."""
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None


def valid_email(raw: str) -> str:
    """`raw` as stored (trimmed, lowercased), or Invalid saying what is wrong with it."""
    value = raw.strip().lower()
    if _plain(value):
        return value
    problem = _checked(value)
    if problem is not None:
        raise Invalid(f"not a valid email address: {raw[:80]!r} ({problem})", reason="email_invalid", address=raw[:80])
    return value
