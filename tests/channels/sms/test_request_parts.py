"""The parts of a Twilio request the hub reads itself (form body, URL as received) must read
exactly as the standard library and Starlette would: the signature is computed over them."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from starlette.requests import Request

from channels.sms.keywords import classify
from channels.sms.signatures import parse_form, received_url

BODIES = [
    "",
    "Body=Hello+world&From=%2B14155550100&To=%2B14155550199",
    urlencode({"Body": "Ünïcode ✓ & = + % ? #", "MessageSid": "SM1", "Empty": ""}),
    "a=1&&b=2&a=3",  # an empty part, a repeated key
    "flag&x=",  # a name without '=', a blank value
    "Body=100%25+sure&Weird=%zz",  # a literal %, a broken escape
    "k%20ey=v%2Bal+ue",
    "a=x%00y&b=%00&c=3",  # a value that decodes to NUL: the pairs must not shift
    "a\x00b=c",  # a raw NUL (the bytes arrive as sent)
    "a=b\x00c&d=e\x00f",
    "a=%C3&b=%A9&c=%C3%A9",  # half a UTF-8 sequence at the end of one value, the rest in the next
    "a=%E2%9C%93%ZZ&%3D=%26",  # a name that decodes to '=', a value to '&'
]


@pytest.mark.parametrize("body", BODIES)
def test_form_bodies_read_as_parse_qsl_reads_them(body: str) -> None:
    assert parse_form(body) == parse_qsl(body, keep_blank_values=True)


SCOPES: list[dict[str, Any]] = [
    {"scheme": "http", "server": ("127.0.0.1", 8000), "path": "/channels/sms/twilio/inbound",
     "query_string": b"", "headers": [(b"host", b"127.0.0.1:8000")]},
    {"scheme": "https", "server": ("10.0.0.5", 443), "path": "/channels/sms/twilio/inbound",
     "query_string": b"a=1&b=two", "headers": [(b"host", b"support.example.com")]},
    {"scheme": "http", "server": ("10.0.0.5", 80), "path": "/hub/channels/sms/twilio/status", "root_path": "/hub",
     "query_string": b"", "headers": []},
    {"scheme": "http", "server": ("::1", 8080), "path": "/x", "query_string": b"", "headers": []},
    {"scheme": "http", "server": ["testserver", 80], "path": "/x", "query_string": b"", "headers": []},  # a list
]


@pytest.mark.parametrize("scope", SCOPES)
def test_the_received_url_reads_as_starlettes_request_url(scope: dict[str, Any]) -> None:
    request = Request({"type": "http", "method": "POST", **scope})
    expected = (request.url.path, request.url.query, str(request.url))
    assert received_url(request.scope, request.headers.get("host")) == expected
    assert received_url(request.scope, request.headers.get("host")) == expected  # from the cache too


def test_a_long_text_is_never_a_keyword_however_it_squashes() -> None:
    assert classify(" S . T . O . P ") == "stop"
    assert classify("S " + "." * 40 + " TOP") is None
    assert classify("please stop writing to me, I have told you many times") is None
