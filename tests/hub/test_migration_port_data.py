"""Migration 0006 moves SMS opt-outs from contacts.sms_opted_out to contact_opt_outs, and back on
downgrade, on both databases (the PostgreSQL one is the run's shared database: it ends at head)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from hub.db import make_engine
from hub.migrate import alembic_config, upgrade


def test_sms_opt_outs_move_to_per_channel_rows_and_back(database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "0005")
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            for i, opted_out in enumerate((True, False), start=1):
                conn.execute(text(
                    "INSERT INTO contacts (id, name, tier, sms_opted_out, sms_opted_out_at, created_at, updated_at) "
                    "VALUES (:id, 'c', 'standard', :o, NULL, '2024-01-02 03:04:05', '2024-01-02 03:04:05')"),
                    {"id": i, "o": opted_out})
        upgrade(database_url)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT contact_id, channel, reason FROM contact_opt_outs")).all()
        assert [tuple(r) for r in rows] == [(1, "sms", "STOP")]
        command.downgrade(alembic_config(database_url), "0005")
        with engine.connect() as conn:
            flags = conn.execute(text("SELECT id, sms_opted_out FROM contacts ORDER BY id")).all()
        assert [(i, bool(o)) for i, o in flags] == [(1, True), (2, False)]
    finally:
        upgrade(database_url)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM contact_opt_outs"))
            conn.execute(text("DELETE FROM contacts"))
        engine.dispose()
