"""Live messages beside thousands of idle widget sockets (bench/widget_sockets.py, part b).

`talkers` returning visitors, each with their own widget socket (spread over the hub processes),
write to agents; a supervisor's console (`/ws/agent` on the first process) receives every
message, and the supervisor replies over HTTP (to another process than the visitor's when there
are several), each reply coming back on the visitor's socket through their customer feed.

- **saturation**: every talker sends, waits for its ack, sends again (closed loop), for `seconds`;
  throughput = visitor messages that reached the console within the phase, per second.
- **latency**: visitors send at `rate` on a fixed schedule (open loop, taking turns), while the
  supervisor replies at `reply_rate`; a message's latency runs from its slot in the schedule to
  its arrival on the other side (console, or the visitor's socket).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench import http1
from bench.harness import HOST, REQUEST_TIMEOUT, percentile
from bench.widget_clients import Target, open_widget

DRAIN = 10.0


def marker_of(text: object) -> str:
    return str(text or "").rsplit(" ", 1)[-1]


class Arrivals:
    """First arrival time per marker, and a way to wait for a set of them."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self._event = asyncio.Event()

    def seen(self, marker: str) -> None:
        self.at.setdefault(marker, time.perf_counter())
        self._event.set()

    async def wait_for(self, markers: set[str]) -> None:
        """Until every marker arrived, or DRAIN seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN):
                while not markers <= self.at.keys():
                    self._event.clear()
                    await self._event.wait()


class Talker:
    def __init__(self, conn: ClientConnection, conversation_id: int, replies: Arrivals) -> None:
        self.conn, self.conversation_id, self.replies = conn, conversation_id, replies
        self.acks: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.errors: list[str] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for raw in self.conn:
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "event" and frame.get("event") == "message.created" \
                        and frame["data"].get("direction") == "out":
                    self.replies.seen(marker_of(frame["data"].get("text")))
                elif kind in ("ack", "error"):
                    if kind == "error":
                        self.errors.append(f"{frame.get('code')}: {frame.get('message')}")
                    self.acks.put_nowait(frame)

    async def say(self, marker: str) -> None:
        text = f"Where is my order? {marker}"
        await self.conn.send(json.dumps({"type": "message", "client_id": marker, "text": text}))

    async def close(self) -> None:
        self.reader.cancel()
        await self.conn.close()


async def console(url: str, token: str, arrivals: Arrivals, ready: asyncio.Event) -> None:
    """The supervisor's console: from the head of the log, every visitor message timestamped."""
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None,
                       ping_interval=None) as conn:
        await conn.send(json.dumps({"type": "resume", "last_event_id": 0}))
        while json.loads(await conn.recv()).get("type") != "ready":
            pass
        ready.set()
        async for raw in conn:
            frame = json.loads(raw)
            if frame.get("type") == "message.created":
                message = frame.get("data", {}).get("message", {})
                if message.get("direction") == "in":
                    arrivals.seen(marker_of(message.get("text")))


def _stats(due: dict[str, float], arrived: dict[str, float], end: float, seconds: float) -> dict[str, Any]:
    got = {m: arrived[m] for m in due if m in arrived}
    lat = sorted((got[m] - due[m]) * 1000 for m in got)
    return {"sent": len(due), "delivered": len(got), "lost": len(due) - len(got),
            "per_s": sum(1 for t in got.values() if t <= end) / seconds,
            "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99), "max_ms": lat[-1] if lat else None}


async def talk(ws_urls: list[str], http_ports: list[int], tokens: list[str], supervisor_token: str, *,
               seconds: float, rate: float | None, reply_rate: float, cpu: Any) -> dict[str, Any]:
    """Both phases; `cpu()` is the servers' CPU seconds so far (all processes)."""
    inbound, replies = Arrivals(), Arrivals()
    ready = asyncio.Event()
    listening = asyncio.create_task(console(ws_urls[0] + "/ws/agent", supervisor_token, inbound, ready))
    talkers: list[Talker] = []
    gate = asyncio.Semaphore(32)

    async def join(i: int, token: str) -> None:
        base = ws_urls[i % len(ws_urls)]
        async with gate:
            conn, frames = await open_widget(Target(f"{base}/ws/widget?widget=demo", base.replace("ws://", "http://"),
                                                    token), replay=True)
        talkers.append(Talker(conn, int(frames[-1]["conversation_id"]), replies))

    try:
        await asyncio.gather(*(join(i, t) for i, t in enumerate(tokens)))
        async with asyncio.timeout(30):
            await ready.wait()
        tag = uuid.uuid4().hex[:6]
        out = {"talkers": len(talkers), "saturation": await _saturation(talkers, inbound, seconds, tag, cpu)}
        chosen = rate or max(1.0, round(out["saturation"]["per_s"] / 2))
        await _quiet(cpu)  # whatever saturation left queued (deliveries, routing) is done first
        out["latency"] = await _latency(talkers, inbound, replies, http_ports, supervisor_token, seconds, chosen,
                                        reply_rate, tag, cpu)
        out["visitor_errors"] = [e for t in talkers for e in t.errors][:3]
        return out
    finally:
        listening.cancel()
        await asyncio.gather(*(t.close() for t in talkers), return_exceptions=True)


async def _quiet(cpu: Any, max_cores: float = 0.1, give_up_after: float = 30.0) -> None:
    deadline = time.monotonic() + give_up_after
    while time.monotonic() < deadline:
        before = cpu()
        await asyncio.sleep(1.0)
        if cpu() - before <= max_cores:
            return


async def _saturation(talkers: list[Talker], inbound: Arrivals, seconds: float, tag: str, cpu: Any) -> dict[str, Any]:
    due: dict[str, float] = {}
    seq = itertools.count()
    cpu0, start = cpu(), time.perf_counter()
    end = start + seconds

    async def loop(t: Talker) -> None:
        while time.perf_counter() < end:
            marker = f"s{tag}x{next(seq)}"
            due[marker] = time.perf_counter()
            await t.say(marker)
            async with asyncio.timeout(REQUEST_TIMEOUT):
                await t.acks.get()

    await asyncio.gather(*(loop(t) for t in talkers), return_exceptions=True)
    busy, used = time.perf_counter() - start, cpu() - cpu0
    await inbound.wait_for(set(due))
    return {**_stats(due, inbound.at, end, seconds), "server_cpu": used / busy,
            "server_cpu_ms_per_msg": used * 1000 / len(due) if due else None}


async def _latency(talkers: list[Talker], inbound: Arrivals, replies: Arrivals, http_ports: list[int], token: str,
                   seconds: float, rate: float, reply_rate: float, tag: str, cpu: Any) -> dict[str, Any]:
    due_in: dict[str, float] = {}
    due_out: dict[str, float] = {}
    errors: list[str] = []
    auth = {"Authorization": f"Bearer {token}"}
    clients = [http1.Client(HOST, port, 8) for port in http_ports]

    async def visitor(i: int, at: float) -> None:
        marker = f"l{tag}x{i}"
        due_in[marker] = at
        await talkers[i % len(talkers)].say(marker)

    async def reply(i: int, at: float) -> None:
        t = talkers[(i * 7) % len(talkers)]
        marker = f"r{tag}x{i}"
        due_out[marker] = at
        body = {"text": f"It ships today {marker}", "client_id": str(uuid.uuid4())}
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                # Another process than the visitor's, when there are several: across Redis.
                resp = await clients[(talkers.index(t) + 1) % len(clients)].post_json(
                    f"/api/v1/conversations/{t.conversation_id}/messages", body, auth)
            if resp.status != 201:
                raise RuntimeError(f"HTTP {resp.status}: {resp.body[:200]!r}")
        except Exception as exc:  # noqa: BLE001 - counted, the first ones reported
            errors.append(f"{exc.__class__.__name__}: {exc}")

    async def schedule(r: float, job: Any, start: float, end: float) -> None:
        tasks = []
        for i in itertools.count():
            at = start + i / r
            if at >= end:
                break
            if (delay := at - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(job(i, at)))
        await asyncio.gather(*tasks, return_exceptions=True)

    cpu0, start = cpu(), time.perf_counter()
    end = start + seconds
    try:
        await asyncio.gather(schedule(rate, visitor, start, end),
                             *([schedule(reply_rate, reply, start, end)] if reply_rate > 0 else []))
        busy, used = time.perf_counter() - start, cpu() - cpu0
        await inbound.wait_for(set(due_in))
        await replies.wait_for(set(due_out))
    finally:
        for c in clients:
            await c.aclose()
    return {"rate": rate, "reply_rate": reply_rate, "server_cpu": used / busy,
            "visitor_to_agent": _stats(due_in, inbound.at, end, seconds),
            "agent_to_visitor": _stats(due_out, replies.at, end, seconds), "reply_errors": errors[:3]}
