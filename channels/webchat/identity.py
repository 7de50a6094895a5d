"""Who a widget visitor is: an anonymous visitor token, or a site's signed identity.

Visitor tokens: `<visitor id>.<signature>`, the id 128 random bits, the signature HMAC-SHA256 of
the hub's key over the widget id and the visitor id (so a token names one visitor of one widget;
nothing is stored). The browser keeps it in localStorage. A token is only a bearer credential
for a socket from one of its widget's allowed origins: a stolen one used from another site is
refused at the handshake (the Origin check), before it is read.

Signed identities (a site with logged-in users): the site computes
`hex(HMAC-SHA256(widget identity_secret, identifier + "|" + email))` on its server (email empty
when it passes none) and puts identifier, email and that hash in the embed snippet. A good one
makes the visitor "user:<identifier>" of the widget, with the email verified (it joins the known
customer who has it); a wrong one is refused, and a missing one too when the widget requires it.
Compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from channels.webchat.settings import WidgetSettings

MAX_IDENTIFIER = 200
MAX_EMAIL = 320


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class VisitorTokens:
    def __init__(self, key: bytes) -> None:
        self.key = key

    def _signature(self, widget_id: str, visitor_id: str) -> str:
        mac = hmac.new(self.key, f"visitor\n{widget_id}\n{visitor_id}".encode(), hashlib.sha256).digest()
        return _b64(mac[:16])

    def mint(self, widget_id: str) -> tuple[str, str]:
        """A new visitor of this widget: (visitor id, token)."""
        visitor_id = _b64(secrets.token_bytes(16))
        return visitor_id, f"{visitor_id}.{self._signature(widget_id, visitor_id)}"

    def visitor_of(self, widget_id: str, token: object) -> str | None:
        """The visitor id a token names for this widget, or None if it is not one of ours."""
        if not isinstance(token, str) or len(token) > 100:
            return None
        visitor_id, dot, signature = token.partition(".")
        if not dot or not visitor_id.isascii() or not signature.isascii():
            return None
        return visitor_id if hmac.compare_digest(signature, self._signature(widget_id, visitor_id)) else None


@dataclass(frozen=True)
class Identity:
    identifier: str
    email: str | None


class IdentityRefused(ValueError):
    """The signed identity is missing (when required) or wrong: the socket is closed with 4403."""


def identity_hash(secret: str, identifier: str, email: str | None = None) -> str:
    """What the site computes on its server: hex HMAC-SHA256 of `identifier|email`."""
    return hmac.new(secret.encode(), f"{identifier}|{email or ''}".encode(), hashlib.sha256).hexdigest()


def check_identity(widget: WidgetSettings, given: object) -> Identity | None:
    """The verified identity of a hello frame's `identity` ({identifier, email?, hash}), or None
    when there is none and the widget does not require one. Raises IdentityRefused."""
    if given is None or given == {}:
        if widget.require_identity:
            raise IdentityRefused("this site requires a signed identity")
        return None
    if not isinstance(given, dict) or widget.identity_secret is None:
        raise IdentityRefused("this widget takes no signed identity")
    identifier, email, digest = given.get("identifier"), given.get("email") or None, given.get("hash")
    if not (isinstance(identifier, str) and 0 < len(identifier) <= MAX_IDENTIFIER and isinstance(digest, str)):
        raise IdentityRefused("a signed identity needs an identifier and its hash")
    if email is not None and not (isinstance(email, str) and len(email) <= MAX_EMAIL):
        raise IdentityRefused("the identity's email is not one")
    expected = identity_hash(widget.identity_secret, identifier, email)
    if not hmac.compare_digest(digest.lower().encode(), expected.encode()):
        raise IdentityRefused("the identity's signature does not match")
    return Identity(identifier, email)
