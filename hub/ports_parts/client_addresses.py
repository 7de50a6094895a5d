"""Who is on the other end of a request (`ClientAddresses`, believing only `TrustedProxies`), and a
URL's origin as a browser writes it (`origin_of`)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit


class TrustedProxies:
    """The peers (IP addresses or networks, setting `trusted_proxies`) whose forwarded headers are
    believed: by the SMS webhooks for the signed URL, by agents_ui.clients for the client address."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks = tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)

    def __contains__(self, peer: object) -> bool:
        if not self.networks or not isinstance(peer, str):
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:  # a name, not an address: nothing to trust
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)


# A forwarded entry that is not an address is kept as a throttle key, cut to this length.
_MAX_NAME = 64


def _address(value: str) -> str | None:
    """The IP address in a peer or X-Forwarded-For entry ("1.2.3.4", "1.2.3.4:5", "[::1]:5"),
    normalized; None when it is not one."""
    value = value.strip()
    if value.startswith("[") and "]" in value:
        value = value[1:value.index("]")]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address)


class ClientAddresses:
    """Who is on the other end of a request: the connecting peer, or, when that peer is one of the
    `trusted_proxies`, the client its X-Forwarded-For names (the console's throttles, the web
    chat's rate limits). Decided here rather than by uvicorn's proxy headers (which `hub serve`
    turns off): the Twilio webhooks must see the real peer to decide whether to believe
    X-Forwarded-Proto/Host, and the same answer comes whatever server runs the app."""

    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        self.trusted = TrustedProxies(trusted_proxies)

    def of(self, scope: Mapping[str, Any]) -> str:
        """The client's address: behind trusted proxies, the nearest X-Forwarded-For entry that is
        not itself a trusted proxy (each proxy appends the peer it saw, so only the entries our own
        proxies added are believed, not what the client wrote there)."""
        peer = scope.get("client")
        host = str(peer[0]) if peer else "?"
        if not self.trusted.networks or _address(host) not in self.trusted:
            return host
        hops = [hop for name, value in scope.get("headers", ()) if name == b"x-forwarded-for"
                for hop in value.decode("latin-1").split(",") if hop.strip()]
        for hop in reversed(hops):
            address = _address(hop)
            if address not in self.trusted:
                return address or hop.strip()[:_MAX_NAME]
        return (_address(hops[0]) or host) if hops else host  # every hop is ours


_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` as a browser writes it in `Origin` (lower case, default port left
    out), or None when `url` has no scheme and host (e.g. the `null` origin of a sandboxed page).
    The console's cross-site check and the web chat's allowed origins compare these."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if not scheme or not host:
        return None
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != _DEFAULT_PORTS.get(scheme) else "")
