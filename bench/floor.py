"""The floor: the least a server can do for the benchmark's job, to measure the hub against.

A bare FastAPI app under the same uvicorn settings as the hub: `POST /messages` validates the body,
commits one row (with a unique external id, as the hub's idempotency key) and answers only after
the commit; the row is then pushed, as JSON, to the one connected websocket (`/ws`, the latest
connection wins). No auth, no contacts, no conversations, no event log, no visibility rules.

The database is `FLOOR_DATABASE_URL`: `sqlite:///<path>` (WAL, synchronous=NORMAL, like the hub;
one connection used inline on the event loop, since a WAL insert is microseconds) or
`postgresql://...` (a small pool of async connections, one autocommit insert each).

Run: `FLOOR_DATABASE_URL=sqlite:////tmp/floor.db python -m uvicorn --factory bench.floor:create_app`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

SCHEMA = ("CREATE TABLE IF NOT EXISTS messages (id {pk}, external_id TEXT NOT NULL UNIQUE, "
          "text TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)")
INSERT = "INSERT INTO messages (external_id, text, created_at) VALUES ({p}, {p}, {p})"


class MessageIn(BaseModel):
    external_id: str = Field(min_length=1, max_length=400)
    text: str = Field(min_length=1, max_length=100_000)


class Store(Protocol):
    async def open(self) -> None: ...
    async def insert(self, external_id: str, text: str) -> int: ...
    async def close(self) -> None: ...


class SqliteStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute(SCHEMA.format(pk="INTEGER PRIMARY KEY"))

    async def insert(self, external_id: str, text: str) -> int:
        assert self.conn is not None
        # Autocommit: the statement is its own transaction, committed when execute returns.
        cur = self.conn.execute(INSERT.format(p="?"), (external_id, text, time.time()))
        return int(cur.lastrowid or 0)

    async def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


class PostgresStore:
    def __init__(self, url: str, size: int = 8) -> None:
        self.url = url
        self.size = size
        self.pool: asyncio.Queue[Any] = asyncio.Queue()

    async def open(self) -> None:
        import psycopg

        for _ in range(self.size):
            self.pool.put_nowait(await psycopg.AsyncConnection.connect(self.url, autocommit=True))
        conn = await self.pool.get()
        await conn.execute(SCHEMA.format(pk="BIGSERIAL PRIMARY KEY"))
        self.pool.put_nowait(conn)

    async def insert(self, external_id: str, text: str) -> int:
        conn = await self.pool.get()
        try:
            cur = await conn.execute(INSERT.format(p="%s") + " RETURNING id", (external_id, text, time.time()))
            row = await cur.fetchone()
        finally:
            self.pool.put_nowait(conn)
        return int(row[0])

    async def close(self) -> None:
        while not self.pool.empty():
            await self.pool.get_nowait().close()


def store_for(url: str) -> Store:
    if url.startswith("sqlite:///"):
        return SqliteStore(url.removeprefix("sqlite:///"))
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url)
    raise ValueError(f"FLOOR_DATABASE_URL must be sqlite:///... or postgresql://..., not {url!r}")


def create_app(database_url: str | None = None) -> FastAPI:
    store = store_for(database_url or os.environ.get("FLOOR_DATABASE_URL", "sqlite:///var/floor.db"))
    outbox: dict[str, asyncio.Queue[str] | None] = {"socket": None}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await store.open()
        try:
            yield
        finally:
            await store.close()

    # FastAPI's native OpenTelemetry check off, as in the hub's default settings: not the job.
    app = FastAPI(title="Benchmark floor", lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/messages")
    async def post_message(body: MessageIn) -> JSONResponse:
        message_id = await store.insert(body.external_id, body.text)
        queue = outbox["socket"]
        if queue is not None:
            queue.put_nowait(json.dumps({"type": "message.created", "id": message_id,
                                         "data": {"message": {"id": message_id, "text": body.text}}}))
        return JSONResponse({"message_id": message_id}, status_code=201)

    @app.websocket("/ws")
    async def socket(ws: WebSocket) -> None:
        await ws.accept()
        queue: asyncio.Queue[str] = asyncio.Queue()
        outbox["socket"] = queue

        async def pump() -> None:
            while True:
                await ws.send_text(await queue.get())

        sender = asyncio.create_task(pump())
        try:
            while True:
                await ws.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
            if outbox["socket"] is queue:
                outbox["socket"] = None

    return app
