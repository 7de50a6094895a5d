"""Checking `X-Twilio-Signature` with Twilio's own `RequestValidator`.

Twilio signs the URL *it* requested plus the posted fields. Behind a reverse proxy the hub sees
another scheme, host or port (http://10.0.0.5:8000 instead of https://support.example.com), so
the URL checked is the route's URL under the configured public URL (HUB_PUBLIC_URL), never one
built from the request's own Host header: that works behind any proxy, and for a number inside a
Messaging Service too, because the signature never depends on which number or service received the
message. The one other URL tried is what a trusted proxy (`trusted_proxies`) reports in
X-Forwarded-Proto/Host; from any other peer those headers are ignored. So a request costs at most
four HMACs (each URL without and with its port), whatever headers it carries: a forged Host or
X-Forwarded-Host once added a URL to try each.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import unquote, urlparse, urlsplit

from starlette.datastructures import URL
from twilio.request_validator import RequestValidator, add_port, remove_port

SIGNATURE_HEADER = "x-twilio-signature"
# The request headers a webhook reads: the body's type, the signature, and what the URL Twilio
# signed may be rebuilt from.
_READ_HEADERS = frozenset({b"content-type", b"content-length", SIGNATURE_HEADER.encode(), b"host",
                           b"x-forwarded-proto", b"x-forwarded-host"})


def webhook_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The headers a webhook reads, from the ASGI scope's list in one pass, each as Starlette's
    `request.headers.get` gives it (the first of repeated ones, latin-1): looking each up in
    Starlette's `Headers` scans the whole list per name."""
    found: dict[str, str] = {}
    for name, value in raw:
        if name in _READ_HEADERS:
            found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found


class FormParams:
    """Posted fields, repeated keys kept, in the shape RequestValidator reads (Django's getlist)."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for key, value in pairs:
            self._values.setdefault(key, []).append(value)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def getlist(self, key: str) -> list[str]:
        return list(self._values.get(key, []))

    # RequestValidator tries `getall` (Flask) before `getlist` (Django): answering it spares an
    # AttributeError per field on every webhook.
    getall = getlist

    def get(self, key: str, default: str | None = None) -> str | None:
        values = self._values.get(key)
        return values[0] if values else default

    def as_dict(self) -> dict[str, str]:
        return {k: v[0] for k, v in self._values.items()}


def parse_form(text: str) -> list[tuple[str, str]]:
    """An `application/x-www-form-urlencoded` body as `parse_qsl(text, keep_blank_values=True)`
    reads it, without its generality (a tenth of the web thread's time per inbound SMS).

    Names and values are percent-decoded in one `unquote` of them all, joined by NUL: one call
    instead of one per name and value, which halved the parse. A NUL in the body, raw or as `%00`,
    adds a split (decoding never removes one), so then each part is decoded on its own."""
    parts: list[str] = []
    for part in text.split("&"):
        if part:
            name, _, value = part.partition("=")
            parts += (name, value)
    if not parts:
        return []
    joined = "\x00".join(parts).replace("+", " ")
    decoded = (unquote(joined) if "%" in joined else joined).split("\x00")
    if len(decoded) != len(parts):
        decoded = [_unquote_plus(p) for p in parts]
    pairs = iter(decoded)
    return list(zip(pairs, pairs, strict=True))


def _unquote_plus(text: str) -> str:
    if "+" in text:
        text = text.replace("+", " ")
    return unquote(text) if "%" in text else text


def received_url(scope: Mapping[str, Any], host: str | None) -> tuple[str, str, str]:
    """(path, query, full URL) of the request as it reached us, as Starlette's `request.url`
    reads them, remembered per distinct request line (building a URL was 4 % of an SMS)."""
    server = scope.get("server")
    return _received_url(scope["scheme"], tuple(server) if server else None, host, scope.get("root_path", ""),
                         scope["path"], scope["query_string"])


@functools.lru_cache(maxsize=1024)
def _received_url(scheme: str, server: tuple[str, int] | None, host: str | None, root_path: str, path: str,
                  query_string: bytes) -> tuple[str, str, str]:
    headers = [(b"host", host.encode("latin-1"))] if host is not None else []
    url = URL(scope={"scheme": scheme, "server": server, "root_path": root_path, "path": path,
                     "query_string": query_string, "headers": headers})
    return url.path, url.query, str(url)


def _first(header: str | None) -> str | None:
    # Several proxies in a row append to the header: the first value is what the client used.
    value = (header or "").split(",")[0].strip()
    return value or None


def public_route_url(public_url: str, route_path: str, query: str) -> str:
    """The URL Twilio was told to call for a route, as it signs it."""
    return public_url.rstrip("/") + route_path + (f"?{query}" if query else "")


def forwarded_url(scope: Mapping[str, Any], headers: Mapping[str, str]) -> str | None:
    """The URL a proxy says the client used (X-Forwarded-Proto/Host over what reached us), or None
    when it says nothing. Only for a peer in `TrustedProxies`."""
    proto, host = _first(headers.get("x-forwarded-proto")), _first(headers.get("x-forwarded-host"))
    if not (proto or host):
        return None
    path, query, url = received_url(scope, headers.get("host"))
    received = urlsplit(url)
    return f"{proto or received.scheme}://{host or received.netloc}{path}" + (f"?{query}" if query else "")


@functools.lru_cache(maxsize=1024)
def _url_variants(url: str) -> tuple[str, ...] | None:
    """The URL without and with its port (Twilio signs either); None for a JSON-body signature."""
    parsed = urlparse(url)
    if "bodySHA256" in parsed.query:
        return None
    return remove_port(parsed), add_port(parsed)


class SignatureChecker:
    def __init__(self, auth_token: str) -> None:
        self.validator = RequestValidator(auth_token)

    def is_valid(self, urls: Iterable[str], params: FormParams, signature: str) -> bool:
        return any(self._signed(url, params, signature) for url in urls)

    def _signed(self, url: str, params: FormParams, signature: str) -> bool:
        """`RequestValidator.validate` for a form post, with its own parts: the URL without and
        with its port (Twilio signs either), the second HMAC computed only when the first does not
        match (validate always computes both: a tenth of the CPU of an inbound SMS). The HMAC is
        Twilio's `compute_signature`; the comparison is the standard library's constant-time
        `hmac.compare_digest` (Twilio's `compare` does the same in a Python loop)."""
        variants = _url_variants(url)
        if variants is None:  # a JSON-body signature: let validate handle it whole
            return bool(self.validator.validate(url, params, signature))
        expected = signature.encode("utf-8", "replace")
        return any(hmac.compare_digest(self.validator.compute_signature(variant, params).encode(), expected)
                   for variant in variants)
