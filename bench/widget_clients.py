"""Idle widget sockets held open by client processes (bench/widget_sockets.py).

Thousands of websockets from one benchmark: each client process (multiprocessing, spawned) opens
its share with the `websockets` asyncio client, a bounded number of handshakes at a time, each as
a widget does (Origin the hub's own, `hello` with a visitor token, the `welcome` read, and for a
returning visitor the replay of their conversation), then holds them without a task of its own per
socket until told to close. Client pings are off (the server's keepalive pings still run). Each
process raises its open-files limit to the hard limit (as `hub serve` does); one process holds at most `PER_PROCESS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from config.cli import raise_open_files_limit

PER_PROCESS = 5000
HANDSHAKES_AT_ONCE = 64
OPEN_TIMEOUT = 60.0


@dataclass(frozen=True)
class Target:
    url: str     # ws://host:port/ws/widget?widget=demo
    origin: str  # http://host:port
    token: str | None


async def open_widget(target: Target, *, replay: bool) -> tuple[ClientConnection, list[dict[str, Any]]]:
    """A widget's socket: hello sent, welcome read, and for a returning visitor the first event."""
    conn = await connect(target.url, origin=target.origin, ping_interval=None, open_timeout=OPEN_TIMEOUT,  # type: ignore[arg-type]
                         max_size=2**20)
    await conn.send(json.dumps({"type": "hello", "token": target.token, "last_event_id": 0}))
    frames = []
    async with asyncio.timeout(OPEN_TIMEOUT):
        while True:
            frame = json.loads(await conn.recv())
            frames.append(frame)
            if frame.get("type") == "welcome" and not replay or frame.get("type") == "event":
                return conn, frames


async def _open_all(targets: list[Target], replay: bool) -> tuple[list[ClientConnection], list[str]]:
    gate = asyncio.Semaphore(HANDSHAKES_AT_ONCE)
    opened: list[ClientConnection] = []
    errors: list[str] = []

    async def one(target: Target) -> None:
        async with gate:
            try:
                conn, _ = await open_widget(target, replay=replay)
                opened.append(conn)
            except Exception as exc:  # noqa: BLE001 - counted, the first ones reported
                errors.append(f"{exc.__class__.__name__}: {exc}")

    await asyncio.gather(*(one(t) for t in targets))
    return opened, errors


async def _hold(targets: list[Target], replay: bool, pipe: Connection) -> None:
    started = time.perf_counter()
    opened, errors = await _open_all(targets, replay)
    pipe.send({"opened": len(opened), "errors": len(errors), "first_errors": errors[:3],
               "seconds": time.perf_counter() - started})
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, pipe.recv)  # "close"
    closed = [c for c in opened if c.close_code is not None]
    await asyncio.gather(*(c.close() for c in opened), return_exceptions=True)
    pipe.send({"closed_by_server": len(closed)})


def hold(targets: list[Target], replay: bool, pipe: Connection) -> None:
    """A client process: open every target, report, hold until "close", close, report."""
    raise_open_files_limit()
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        runner.run(_hold(targets, replay, pipe))


class Holders:
    """Client processes holding `targets` open (at most PER_PROCESS each), as a context manager."""

    def __init__(self, targets: list[Target], *, replay: bool, processes: int | None = None) -> None:
        n = processes or max(1, -(-len(targets) // PER_PROCESS))
        self.shares = [targets[i::n] for i in range(n)]
        self.replay = replay
        self.procs: list[tuple[Any, Connection]] = []
        self.report: dict[str, Any] = {}

    def __enter__(self) -> Holders:
        ctx = multiprocessing.get_context("spawn")
        for share in self.shares:
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=hold, args=(share, self.replay, theirs), daemon=True)
            proc.start()
            self.procs.append((proc, mine))
        reports = [pipe.recv() for _, pipe in self.procs]
        self.report = {"opened": sum(r["opened"] for r in reports), "errors": sum(r["errors"] for r in reports),
                       "first_errors": [e for r in reports for e in r["first_errors"]][:3],
                       "open_seconds": max(r["seconds"] for r in reports)}
        return self

    def __exit__(self, *_: object) -> None:
        for _, pipe in self.procs:
            with contextlib.suppress(OSError):
                pipe.send("close")
        for proc, pipe in self.procs:
            with contextlib.suppress(OSError, EOFError):
                if pipe.poll(60):
                    self.report["closed_by_server"] = self.report.get("closed_by_server", 0) + pipe.recv()[
                        "closed_by_server"]
            proc.join(10)
            if proc.is_alive():
                proc.kill()
