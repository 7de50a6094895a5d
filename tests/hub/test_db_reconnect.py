"""PostgreSQL restarts under a running hub: pooled connections die, and ingest still stores each
message once (the engine has no pre-ping; a dead connection is noticed on use, the pool is
renewed, and ingest retries)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest
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
        hub.writer.close()
    assert second.created and second.conversation_id == first.conversation_id
    assert not again.created and again.message_id == second.message_id
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(Message)).scalar_one() == 2
    db.dispose()


def _kill_sessions(postgres_url: str) -> int:
    name = make_url(postgres_url).database
    with psycopg.connect(make_url(postgres_url).set(database="postgres").render_as_string(False),
                         autocommit=True) as admin:
        row = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchone()
    return int(row[0]) if row else 0


def test_the_live_event_stream_survives_the_database_dropping_every_connection(postgres_url: str) -> None:
    """The event tail reader keeps one connection: when the database drops it, the reader opens a
    new one and consoles still receive every event."""

    async def scenario() -> list[str]:
        db = Database(postgres_url)
        hub = Hub(db, HubOptions(run_workers=False, poll_interval=0.2))
        await hub.start()
        sub = hub.bus.subscribe()
        texts: list[str] = []

        async def next_message_text() -> str:
            while True:
                for event in await asyncio.wait_for(sub.get(), timeout=15):
                    if event.type == "message.created":
                        return str(event.payload["message"]["text"])

        try:
            await hub.ingest_async(_message(1))
            texts.append(await next_message_text())
            assert _kill_sessions(postgres_url) >= 1  # the tail reader's connection among them
            await hub.ingest_async(_message(2))
            texts.append(await next_message_text())
        finally:
            await hub.stop()
            db.dispose()
        return texts

    assert asyncio.run(scenario()) == ["message 1", "message 2"]


def test_sqlite_commits_never_checkpoint_and_the_background_checkpoint_catches_up(sqlite_url: str) -> None:
    """Writers' COMMITs do not copy the log into the database (that stalled every writer behind the
    lock); Database.checkpoint does, without leaving frames behind."""
    db = Database(sqlite_url)
    hub = Hub(db, HubOptions(run_workers=False))
    try:
        for n in range(300):
            hub.ingest(_message(n))
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 0
        path = Path(make_url(sqlite_url).database or "")
        before = path.stat().st_size  # the messages are still only in the write-ahead log
        db.checkpoint()
        assert path.stat().st_size > before  # copied into the database file
    finally:
        hub.writer.close()
        db.dispose()


def test_a_postgresql_url_for_another_driver_is_refused_with_the_reason() -> None:
    """Ingest's hot path speaks psycopg's own cursor: another driver would fail at the first
    message, so the URL is refused when the hub starts, saying what to use instead."""
    with pytest.raises(ValueError, match="postgresql://"):
        Database("postgresql+psycopg2://hub@127.0.0.1:5432/hub")
