"""Visitor tokens and signed identities: what a site or a thief can and cannot make the hub believe."""

from __future__ import annotations

import pytest

from channels.webchat.identity import IdentityRefused, VisitorTokens, check_identity, identity_hash
from channels.webchat.settings import WidgetSettings

SECRET = "widget-secret"
WIDGET = WidgetSettings(id="shop", identity_secret=SECRET)
STRICT = WidgetSettings(id="bank", identity_secret=SECRET, require_identity=True)


def test_a_token_names_its_visitor_for_its_widget_only() -> None:
    tokens = VisitorTokens(b"hub-key")
    visitor, token = tokens.mint("shop")
    assert tokens.visitor_of("shop", token) == visitor
    assert tokens.visitor_of("other", token) is None  # another widget of the same hub
    assert VisitorTokens(b"another-hub").visitor_of("shop", token) is None


@pytest.mark.parametrize("forged", ["", "abc", "abc.def", None, 42, "x" * 500])
def test_a_forged_or_altered_token_names_nobody(forged: object) -> None:
    tokens = VisitorTokens(b"hub-key")
    _, token = tokens.mint("shop")
    assert tokens.visitor_of("shop", forged) is None
    visitor, _, signature = token.partition(".")
    other = ("B" if visitor[0] == "A" else "A") + visitor[1:]
    assert tokens.visitor_of("shop", f"{other}.{signature}") is None
    assert tokens.visitor_of("shop", f"{visitor}.{signature[:-1]}") is None


def test_two_visitors_get_different_tokens() -> None:
    tokens = VisitorTokens(b"hub-key")
    assert tokens.mint("shop")[0] != tokens.mint("shop")[0]


def test_a_signed_identity_is_believed_with_its_email() -> None:
    digest = identity_hash(SECRET, "user-7", "ana@example.com")
    identity = check_identity(WIDGET, {"identifier": "user-7", "email": "ana@example.com", "hash": digest})
    assert identity is not None and (identity.identifier, identity.email) == ("user-7", "ana@example.com")
    assert check_identity(WIDGET, {"identifier": "user-7", "hash": identity_hash(SECRET, "user-7")}) is not None


@pytest.mark.parametrize("given", [
    {"identifier": "user-7", "email": "eve@example.com", "hash": identity_hash(SECRET, "user-7", "ana@example.com")},
    {"identifier": "user-8", "email": "ana@example.com", "hash": identity_hash(SECRET, "user-7", "ana@example.com")},
    {"identifier": "user-7", "hash": identity_hash("another secret", "user-7")},
    {"identifier": "user-7"},
    {"identifier": "", "hash": identity_hash(SECRET, "")},
    "user-7",
])
def test_a_wrongly_signed_identity_is_refused(given: object) -> None:
    with pytest.raises(IdentityRefused):
        check_identity(WIDGET, given)


def test_an_identity_is_required_only_where_the_widget_says_so() -> None:
    assert check_identity(WIDGET, None) is None
    with pytest.raises(IdentityRefused):
        check_identity(STRICT, None)
    with pytest.raises(IdentityRefused):  # a widget without a secret believes no identity
        check_identity(WidgetSettings(id="plain"), {"identifier": "x", "hash": identity_hash("", "x")})


def test_settings_refuse_required_identity_without_a_secret() -> None:
    with pytest.raises(ValueError, match="identity_secret"):
        WidgetSettings(id="bank", require_identity=True)
