"""Who is on the other end of a request: the connecting peer, or, when that peer is one of the
configured `trusted_proxies`, the client its X-Forwarded-For names.

Decided here rather than by uvicorn's proxy headers (which `hub serve` turns off): uvicorn would
rewrite `scope["client"]` for every route, and the Twilio webhooks must see the real peer to decide
whether to believe X-Forwarded-Proto/Host (channels/sms/signatures.py). This also gives the same
answer whatever server runs the app, tests included."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from hub.ports import TrustedProxies

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
