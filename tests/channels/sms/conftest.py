"""SMS fixtures: a fake Twilio REST API per test, and the app's settings pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from tests.channels.sms.twilio_side import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    PUBLIC_URL,
    inbound_params,
    inbound_url,
    sign,
    status_url,
    twilio_settings,
)
from tests.conftest import make_settings
from tests.fakes.twilio_api import FakeTwilioApi


@pytest.fixture
def twilio_api() -> Iterator[FakeTwilioApi]:
    fake = FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN).start()
    yield fake
    fake.stop()


@pytest.fixture
def settings(database_url: str, twilio_api: FakeTwilioApi) -> Settings:
    """Overrides the shared fixture: `client`, `db` and `live_server` get a hub connected to Twilio."""
    return make_settings(database_url, twilio=twilio_settings(twilio_api.url))


Poster = Callable[..., httpx.Response]


@pytest.fixture
def text_in(client: TestClient) -> Poster:
    """A customer texts our number: Twilio posts the signed inbound webhook."""

    def post(**fields: Any) -> httpx.Response:
        params = inbound_params(**fields)
        return client.post(inbound_url(), data=params, headers=sign(inbound_url(PUBLIC_URL), params))

    return post


@pytest.fixture
def status_in(client: TestClient, twilio_api: FakeTwilioApi) -> Poster:
    """Twilio reports a message's status: the signed status callback."""

    def post(sid: str, status: str, *, error_code: int | None = None) -> httpx.Response:
        params = twilio_api.status_params(sid, status, error_code=error_code)
        resp = client.post(status_url(), data=params, headers=sign(status_url(PUBLIC_URL), params))
        assert resp.status_code == 200, resp.text
        return resp

    return post
