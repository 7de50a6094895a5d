"""Checking `X-Twilio-Signature` with Twilio's own `RequestValidator`.

Twilio signs the URL *it* requested plus the posted fields. Behind a reverse proxy the hub sees
another scheme, host or port (http://10.0.0.5:8000 instead of https://support.example.com), so
the URL is rebuilt from the configured public URL first, not from the Host header: that is the
usual reason signature checks get switched off, and it works the same for a number inside a
Messaging Service, because the signature never depends on which number or service received the
message. As fallbacks the URL the proxy reports (X-Forwarded-Proto/Host) and the URL as received
are tried; each still needs a valid HMAC made with our auth token, so none of them lets an
unsigned request in.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlparse, urlsplit

from starlette.datastructures import URL
from twilio.request_validator import RequestValidator, add_port, remove_port

SIGNATURE_HEADER = "x-twilio-signature"
# The request headers a webhook reads: the body's type, the signature, and what the URL Twilio
# signed may be rebuilt from.
_READ_HEADERS = frozenset({b"content-type", SIGNATURE_HEADER.encode(), b"host", b"x-forwarded-proto",
                           b"x-forwarded-host"})


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

    def __iter__(self):  # type: ignore[no-untyped-def]
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


def candidate_urls(public_url: str, path: str, query: str, received_url: str,
                   headers: Mapping[str, str]) -> tuple[str, ...]:
    """The URLs Twilio may have signed, most trusted first."""
    return _candidate_urls(public_url, path, query, received_url,
                           _first(headers.get("x-forwarded-proto")), _first(headers.get("x-forwarded-host")))


# Webhooks arrive at two paths from a handful of proxies: the same few answers, every time
# (building them was 4 % of the CPU of an inbound SMS).
@functools.lru_cache(maxsize=1024)
def _candidate_urls(public_url: str, path: str, query: str, received_url: str, proto: str | None,
                    host: str | None) -> tuple[str, ...]:
    suffix = path + (f"?{query}" if query else "")
    public = urlsplit(public_url.rstrip("/"))
    urls = [f"{public.scheme}://{public.netloc}{public.path}{suffix}"]
    if public.path:
        # The proxy may pass its path prefix on to us (uvicorn --root-path): do not add it twice.
        urls.append(f"{public.scheme}://{public.netloc}{suffix}")
    if proto or host:
        received = urlsplit(received_url)
        urls.append(f"{proto or received.scheme}://{host or received.netloc}{suffix}")
    urls.append(received_url)
    return tuple(dict.fromkeys(urls))


@functools.lru_cache(maxsize=1024)
def _url_variants(url: str) -> tuple[str, ...] | None:
    """The URL without and with its port (Twilio signs either); None for a JSON-body signature."""
    parsed = urlparse(url)
    if "bodySHA256" in parsed.query:
        return None
    return remove_port(parsed), add_port(parsed)


class SignatureChecker:
    def __init__(self, auth_token: str, public_url: str) -> None:
        self.validator = RequestValidator(auth_token)
        self.public_url = public_url

    def is_valid(self, *, path: str, query: str, received_url: str, headers: Mapping[str, str],
                 params: FormParams) -> bool:
        signature = headers.get(SIGNATURE_HEADER)
        if not signature:
            return False
        return any(
            self._signed(url, params, signature)
            for url in candidate_urls(self.public_url, path, query, received_url, headers)
        )

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
