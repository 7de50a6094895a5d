"""The client's address: the peer, or behind a trusted proxy the client it names (and nothing more)."""

from __future__ import annotations

from agents_ui.clients import ClientAddresses


def _scope(peer: str, *forwarded: str) -> dict[str, object]:
    return {"client": (peer, 5000), "headers": [(b"x-forwarded-for", f.encode()) for f in forwarded]}


def test_forwarded_addresses_are_ignored_when_no_proxy_is_trusted() -> None:
    assert ClientAddresses([]).of(_scope("127.0.0.1", "1.2.3.4")) == "127.0.0.1"


def test_forwarded_addresses_are_ignored_from_a_peer_that_is_not_a_trusted_proxy() -> None:
    assert ClientAddresses(["10.0.0.0/8"]).of(_scope("203.0.113.9", "1.2.3.4")) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_client_is_the_entry_our_proxies_added() -> None:
    addresses = ClientAddresses(["10.0.0.0/8", "::1"])
    assert addresses.of(_scope("10.0.0.5", "1.2.3.4")) == "1.2.3.4"
    # Two of our proxies in a row, the second header appended by the nearer one.
    assert addresses.of(_scope("10.0.0.5", "1.2.3.4, 10.0.0.7")) == "1.2.3.4"
    assert addresses.of(_scope("10.0.0.5", "1.2.3.4", "10.0.0.7")) == "1.2.3.4"
    # A client writing its own X-Forwarded-For cannot choose its address: the proxy appends the real one.
    assert addresses.of(_scope("10.0.0.5", "6.6.6.6, 7.7.7.7, 1.2.3.4")) == "1.2.3.4"
    # Ports, brackets and IPv4-mapped IPv6 addresses are the same client.
    assert addresses.of(_scope("::1", "1.2.3.4:6000")) == "1.2.3.4"
    assert addresses.of(_scope("::ffff:10.0.0.5", "[2001:db8::1]:443")) == "2001:db8::1"
    assert addresses.of(_scope("10.0.0.5", "::ffff:1.2.3.4")) == "1.2.3.4"


def test_a_trusted_proxy_without_a_forwarded_address_is_the_client() -> None:
    addresses = ClientAddresses(["10.0.0.0/8"])
    assert addresses.of(_scope("10.0.0.5")) == "10.0.0.5"
    assert addresses.of(_scope("10.0.0.5", "10.0.0.8, 10.0.0.7")) == "10.0.0.8"
    assert addresses.of({"client": None, "headers": []}) == "?"
