"""PostgreSQL restarts under a running hub: pooled connections die, and ingest still stores each
message once (the engine has no pre-ping; a dead connection is noticed on use, the pool is
renewed, and ingest retries)."""

from __future__ import annotations

import psycopg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from hub.conversations.models import Message
from hub.db import Database
from hub.ports import ContactRef, InboundMessage
from hub.runtime import Hub, HubOptions


def _message(n: int) -> InboundMessage:
    return InboundMessage(channel="api", source="crm", ingest_scope="api:crm", external_id=f"restart-{n}",
                          contact=ContactRef(email="ann@example.com"), text=f"message {n}")


def test_ingest_survives_the_database_dropping_every_connection(postgres_url: str) -> None:
    db = Database(postgres_url)
    hub = Hub(db, HubOptions(run_workers=False))
    try:
        first = hub.ingest(_message(1))
        # What a PostgreSQL restart does to the pool: every server-side session is gone.
        name = make_url(postgres_url).database
        with psycopg.connect(make_url(postgres_url).set(database="postgres").render_as_string(False),
                             autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchone()
        assert killed is not None and killed[0] >= 1
        second = hub.ingest(_message(2))
        again = hub.ingest(_message(2))
    finally:
        hub.ingests.close()
    assert second.created and second.conversation_id == first.conversation_id
    assert not again.created and again.message_id == second.message_id
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(Message)).scalar_one() == 2
    db.dispose()
