"""Signed Twilio webhooks whose fields could not be stored (a NUL, far longer than Twilio sends)
are refused with the same 4xx on SQLite and PostgreSQL, and store nothing (SQLite would have
stored what PostgreSQL refuses)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from hub.conversations.models import Message
from hub.db import Database
from tests.channels.sms.conftest import Poster  # the signed-webhook poster fixtures return

CASES = {
    "nul-in-body": ({"body": "hi\x00there"}, 400, "Body contains a NUL character"),
    "body-60kb": ({"body": "x" * 60_000}, 400, "Body is longer than 16000 characters"),
    "body-900kb": ({"body": "x" * 900_000}, 413, ""),  # over the webhook body cap: never parsed
    "sid-1kb": ({"sid": "SM" + "a" * 1_000}, 400, "MessageSid is longer than 64 characters"),
    "sid-100kb": ({"sid": "SM" + "a" * 100_000}, 413, ""),
    "to-5000": ({"to": "1" * 5_000}, 400, "To is longer than 64 characters"),
    "nul-in-media-url": ({"media": [("https://api.twilio.com/x\x00", "image/jpeg")]}, 400,
                         "MediaUrl0 contains a NUL character"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_unstorable_field_is_refused_alike_and_stores_nothing(text_in: Poster, db: Database, case: str) -> None:
    fields, status, words = CASES[case]
    resp = text_in(**fields)
    assert resp.status_code == status, resp.text
    assert words in resp.json()["message"]
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(Message)).scalar_one() == 0
    assert text_in(body="an ordinary text").status_code == 200  # and the channel still works
