"""A failing statement's error, as logged, names the statement but never its parameter values
(they hold password hashes and customers' words). On SQLite and PostgreSQL."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import IntegrityError

from hub.agents.models import Agent
from hub.db import Database

SECRET = "$argon2id$v=19$m=65536,t=3,p=4$secret-hash-must-not-be-logged"


def test_a_failing_statements_logged_error_hides_its_parameters(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(database_url)
    try:
        with db.write() as s:
            s.add(Agent(email="taken@example.com", name="First", password_hash="first-hash"))
        with pytest.raises(IntegrityError) as failed, db.write() as s:
            s.add(Agent(email="taken@example.com", name="Second", password_hash=SECRET))
        logging.getLogger("hub.test").error("the write failed", exc_info=failed.value)
    finally:
        db.dispose()
    assert "INSERT INTO agents" in caplog.text  # the statement is still named
    assert "hidden" in caplog.text  # and says its parameters were left out
    assert SECRET not in caplog.text
    assert "secret-hash" not in caplog.text
