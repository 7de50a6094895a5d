"""Routing: how soon a routable conversation gets its agent, and how fast a queue drains.

For each database (SQLite, PostgreSQL), in a fresh database and one real hub process
(`python -m config.cli serve`, i.e. `hub serve`, no Redis: the default single process):

Setup (by the hub's own code, in a child process run from the hub's source tree, before the server
starts): a team "Served" with `--agents` (200) online agents of capacity `--capacity` (10) on the
API channel, a supervisor, a team "Backlog" that nobody serves, and `--backlog` (10,000)
conversations waiting in it, put there through ingest and the route hook. Config routing rules
send source "served" to Served and source "backlog" to Backlog. The backlog stays waiting the whole
run: it is there to weigh on the queue and load queries, which should not have to scan it. On
PostgreSQL the preparation ends with ANALYZE, as autovacuum would soon do: the run measures a
settled database, not one whose planner has no statistics yet.

1. latency, once per `--rate` (default 100/s): new customers write through
   `POST /api/v1/inbound/messages` on a fixed schedule (open loop) for `--seconds` (20). A
   supervisor's websocket (`/ws/agent`) sees every `conversation.assigned`; each agent resolves
   their conversation `--hold` (1-3) seconds later (`POST /api/v1/conversations/{id}/status`), so
   capacity stays available. Latency runs from the message's *scheduled* send time (the customer
   writes; the conversation is routable as soon as the hub has it) to the `conversation.assigned`
   frame on the supervisor's websocket (the console knows). It includes the HTTP request, the
   ingest transaction (where routing runs when someone has room), the commit and the fan-out.
   Also reported: the HTTP answer time; from the events table after the run, how many
   conversations were assigned inside their own ingest transaction (routable-to-assigned 0 ms) and
   how long the others waited (`conversation.assigned.at - conversation.created.at`); the
   assignments per second; and the server's CPU per conversation (ingest, routing, the resolve,
   fan-out, all in). Between phases the server is left to go idle.
2. drain: every agent goes offline, `--drain` (1,000) new conversations queue up in Served, then
   all agents come online (32 concurrent presence calls). Drain throughput = conversations
   assigned / (last `conversation.assigned.at` - the first presence call); also reported, how
   long after the last presence call was answered the last conversation was assigned.

Run: `python -m bench.routing` (both databases), `python -m bench.routing --db sqlite --rate 25 50 100`
(to find the knee), `--hub-src DIR` or `--hub-commit REV` to measure another version of the hub.
Results are printed and written as JSON to bench/out/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection

from bench.harness import (
    HOST,
    ROOT,
    Listener,
    ServerProcess,
    add_run_arguments,
    fmt,
    fresh_postgres,
    machine,
    percentile,
    py_spy,
    run_async,
    source_version,
    wait_until_quiet,
)
from bench.http1 import Client, Response
from bench.inbound_api import exported

PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
TARGET_RATE = 100.0
TARGET_P99_MS = 50.0
RULES = [
    {"name": "served", "team": "Served", "match": {"source": ["served"]}},
    {"name": "backlog", "team": "Backlog", "match": {"source": ["backlog"]}},
]
HTTP_TIMEOUT = 30.0
CONNECTIONS = 64


# -- the database, prepared through the hub's own actions -------------------------------------------


@dataclass
class Prepared:
    api_key: str
    supervisor_token: str
    agent_tokens: dict[int, str]
    backlog_seconds: float


# Run by the hub's own interpreter and source tree (as bench.inbound_api does), so a `--hub-src` or
# `--hub-commit` tree migrates its own schema and fills it with its own actions; the benchmark
# process never imports the hub.
PREPARE_SCRIPT = """
import json, sys, time
from datetime import timedelta
from unittest import mock

from hub.agents import actions as agents
from hub.ingest.entry import do_ingest
from hub.db import Database
from hub.migrate import upgrade
from hub.ports import ContactRef, InboundMessage
from hub.routing.actions import Router
from hub.routing.config import RoutingConfig
from hub.routing.rules import rule_from_dict

url, n_agents, capacity, backlog, rules = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
upgrade(url)
db = Database(url)
password = "bench-password-123"
# Nobody logs in with a password (tokens are made directly): hash it once, not 201 times.
one_hash = agents.hash_password(password)
tokens = {}
with db.write() as s, mock.patch.object(agents, "hash_password", lambda _password: one_hash):
    served = agents.do_create_team(s, "Served")
    agents.do_create_team(s, "Backlog")
    boss = agents.do_create_agent(s, email="bench.supervisor@bench.example", name="Supervisor", role="supervisor",
                                  password=password)
    boss_token = agents.do_create_token(s, boss, timedelta(hours=12))
    for i in range(n_agents):
        agent = agents.do_create_agent(s, email=f"agent{i}@bench.example", name=f"Agent {i}", role="agent",
                                       password=password)
        agents.do_add_member(s, served, agent)
        agents.do_set_presence(s, agent, "online")
        tokens[agent.id] = agents.do_create_token(s, agent, timedelta(hours=12))
    _, api_key = agents.do_create_api_key(s, name="bench", created_by=boss.id)
# The backlog goes through ingest and the route hook, like any message, 500 to a transaction.
router = Router(RoutingConfig(rules=[rule_from_dict(r) for r in json.loads(rules)], default_capacity={"api": capacity}))
started = time.perf_counter()
for first in range(0, backlog, 500):
    with db.write() as s:
        for i in range(first, min(backlog, first + 500)):
            msg = InboundMessage(channel="api", source="backlog", ingest_scope="api:backlog", external_id=f"b{i}",
                                 contact=ContactRef(email=f"waiting{i}@bench.example"), text="Still waiting")
            do_ingest(s, msg, route=router)
if db.is_postgres:  # statistics, as autovacuum would soon gather them: measure a settled database
    from sqlalchemy import text
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
db.dispose()
print(json.dumps({"api_key": api_key, "supervisor_token": boss_token, "agent_tokens": tokens,
                  "backlog_seconds": time.perf_counter() - started}))
"""


def prepare(url: str, args: argparse.Namespace) -> Prepared:
    """Migrate; a supervisor, the agents and an API key; the backlog (through ingest and routing)."""
    done = subprocess.run([sys.executable, "-c", PREPARE_SCRIPT, url, str(args.agents), str(args.capacity),
                           str(args.backlog), json.dumps(RULES)], cwd=args.hub_src, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"preparing the hub database failed:\n{done.stderr[-3000:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return Prepared(data["api_key"], data["supervisor_token"], {int(k): v for k, v in data["agent_tokens"].items()},
                    data["backlog_seconds"])


@contextmanager
def fresh_database(kind: str) -> Iterator[str]:
    if kind == "postgres":
        with fresh_postgres(PG_ADMIN_URL) as url:
            yield url
    else:
        with tempfile.TemporaryDirectory(prefix="bench-routing-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'hub.db'}"


def hub_server(url: str, args: argparse.Namespace) -> ServerProcess:
    """`hub serve` (config.cli) from `--hub-src`, one process, no Redis, default poll interval."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({
        "HUB_DATABASE_URL": url,
        "HUB_ROUTING__DEFAULT_CAPACITY": json.dumps({"api": args.capacity}),
        "HUB_ROUTING__RULES": json.dumps(RULES),
    })
    command = lambda port: [sys.executable, "-m", "config.cli", "serve", "--port", str(port),  # noqa: E731
                            "--log-level", "warning"]
    return ServerProcess("hub", command, env, cwd=args.hub_src)


# -- what the run observed ------------------------------------------------------------------------


@dataclass
class LatencyResult:
    rate: float
    seconds: float
    posted: int
    errors: int
    assigned: int
    lost: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    http_p50_ms: float | None
    http_p99_ms: float | None
    assignments_per_s: float
    inline_share: float | None        # assigned inside the ingest transaction
    queued_p50_ms: float | None       # the others: conversation.created.at -> conversation.assigned.at
    queued_p99_ms: float | None
    resolved: int
    resolve_errors: int
    server_cpu: float                 # server CPU seconds per wall second (1.0 = one core busy)
    server_cpu_ms_per_conversation: float | None  # ingest, routing, fan-out and the resolve, all in
    loadgen_cpu: float
    first_error: str | None


@dataclass
class DrainResult:
    queued: int
    assigned: int
    online_calls_s: float             # bringing every agent online, through the API
    drain_s: float | None             # first presence call -> last assignment
    after_online_s: float | None      # last presence call answered -> last assignment
    assignments_per_s: float | None
    server_cpu: float
    first_error: str | None


@dataclass
class DbResult:
    kind: str
    backlog_setup_s: float
    latency: list[LatencyResult]  # one per --rate
    drain: DrainResult
    notes: list[str] = field(default_factory=list)


def cpu_of(server: ServerProcess) -> float:
    return server.cpu_seconds()


# Reads the events back (with the hub's own models, from its own tree): per conversation asked for,
# [created.at, first automatic assigned.at, assigned inside the ingest transaction] (epoch seconds).
# A transaction's events have consecutive ids (every write transaction holds the write lock, or
# SQLite's, from before its first event until it commits), so the ingest transaction made the
# assignment when every event from `conversation.created` to it belongs to that conversation.
TIMINGS_SCRIPT = """
import json, sys
from sqlalchemy import select
from hub.db import Database
from hub.events.models import Event

url, wanted = sys.argv[1], set(json.loads(sys.stdin.read()))
db = Database(url)
with db.read() as s:
    owner = dict(s.execute(select(Event.id, Event.conversation_id)).all())
    rows = s.execute(select(Event.id, Event.type, Event.conversation_id, Event.created_at, Event.payload)
                     .where(Event.type.in_(("conversation.created", "conversation.assigned"))).order_by(Event.id)).all()
db.dispose()
created, assigned = {}, {}
for event_id, kind, conv_id, at, payload in rows:
    if conv_id not in wanted:
        continue
    if kind == "conversation.created":
        created[conv_id] = (event_id, at.timestamp())
    elif payload.get("reason") == "auto" and conv_id not in assigned:
        assigned[conv_id] = (event_id, at.timestamp())
out = {}
for conv_id in wanted:
    c, a = created.get(conv_id), assigned.get(conv_id)
    inline = bool(c and a and all(owner.get(i) == conv_id for i in range(c[0], a[0] + 1)))
    out[conv_id] = [c[1] if c else None, a[1] if a else None, inline]
print(json.dumps(out))
"""


def db_timings(url: str, src: Path, conversation_ids: set[int]) -> dict[int, tuple[float | None, float | None, bool]]:
    done = subprocess.run([sys.executable, "-c", TIMINGS_SCRIPT, url], cwd=src, capture_output=True, text=True,
                          input=json.dumps(sorted(conversation_ids)))
    if done.returncode != 0:
        raise RuntimeError(f"reading the events failed:\n{done.stderr[-3000:]}")
    return {int(k): (v[0], v[1], bool(v[2])) for k, v in json.loads(done.stdout).items()}


# -- the phases -----------------------------------------------------------------------------------


class Run:
    def __init__(self, server: ServerProcess, url: str, prepared: Prepared, args: argparse.Namespace) -> None:
        self.server = server
        self.url = url
        self.prepared = prepared
        self.args = args
        self.resolving = False
        self.assignee: dict[int, int] = {}
        self.resolves: set[asyncio.Task[None]] = set()
        self.resolved = 0
        self.resolve_errors: list[str] = []
        self.rng = random.Random(7)
        self.seq = itertools.count()
        self.client: Client | None = None

    async def post(self, path: str, data: dict[str, Any], headers: dict[str, str]) -> Response:
        """POST once more if a kept-alive connection turns out closed (uvicorn drops idle ones after
        5 s, which the pauses between phases exceed); every request here is idempotent."""
        assert self.client is not None
        async with asyncio.timeout(HTTP_TIMEOUT):
            for _ in range(3):
                try:
                    return await self.client.post_json(path, data, headers)
                except (asyncio.IncompleteReadError, ConnectionError):
                    continue
            return await self.client.post_json(path, data, headers)

    async def fresh_connections(self) -> None:
        """New connections for a new phase: the server has closed the idle ones."""
        if self.client is not None:
            await self.client.aclose()
        self.client = Client(HOST, self.server.port, CONNECTIONS)

    # the supervisor's websocket: every automatic assignment, timestamped on arrival
    def extract(self, frame: dict[str, Any]) -> str | None:
        if frame.get("type") != "conversation.assigned" or frame.get("data", {}).get("reason") != "auto":
            return None
        conv_id = int(frame["conversation_id"])
        if conv_id not in self.assignee:
            self.assignee[conv_id] = int(frame["data"]["assignee_id"])
            if self.resolving:
                task = asyncio.get_running_loop().create_task(self.resolve_later(conv_id))
                self.resolves.add(task)
                task.add_done_callback(self.resolves.discard)
        return f"c{conv_id}"

    async def resolve_later(self, conv_id: int) -> None:
        lo, hi = self.args.hold
        await asyncio.sleep(self.rng.uniform(lo, hi))
        token = self.prepared.agent_tokens[self.assignee[conv_id]]
        try:
            resp = await self.post(f"/api/v1/conversations/{conv_id}/status", {"status": "resolved"},
                                   {"Authorization": f"Bearer {token}"})
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}: {resp.body[:200]!r}")
            self.resolved += 1
        except Exception as exc:  # noqa: BLE001 - counted and reported
            self.resolve_errors.append(f"{exc.__class__.__name__}: {exc}")

    def listener(self) -> Listener:
        async def resume(conn: ClientConnection) -> None:
            await conn.send(json.dumps({"type": "resume", "last_event_id": 0}))
            while json.loads(await conn.recv()).get("type") != "ready":
                pass

        return Listener(self.server.ws_url + "/ws/agent", self.extract, handshake=resume,
                        headers={"Authorization": f"Bearer {self.prepared.supervisor_token}"})

    async def post_inbound(self, marker: str) -> int:
        body = {"source": "served", "external_id": marker, "contact": {"email": f"{marker}@customers.example"},
                "text": "Hello, I need help"}
        resp = await self.post("/api/v1/inbound/messages", body, {"X-Api-Key": self.prepared.api_key})
        if resp.status != 201:
            raise RuntimeError(f"HTTP {resp.status}: {resp.body[:200]!r}")
        return int(resp.json()["conversation_id"])

    async def presence_all(self, presence: str) -> None:
        gate = asyncio.Semaphore(32)

        async def one(token: str) -> None:
            async with gate:
                resp = await self.post("/api/v1/agents/me/presence", {"presence": presence},
                                       {"Authorization": f"Bearer {token}"})
                if resp.status != 200:
                    raise RuntimeError(f"presence: HTTP {resp.status}: {resp.body[:200]!r}")

        await asyncio.gather(*(one(t) for t in self.prepared.agent_tokens.values()))

    async def settle(self, max_cores: float = 0.1, give_up_after: float = 60.0) -> None:
        """Wait until the server is idle (whatever an earlier phase left queued is done)."""
        deadline = time.monotonic() + give_up_after
        while time.monotonic() < deadline:
            before = cpu_of(self.server)
            await asyncio.sleep(1.0)
            if cpu_of(self.server) - before <= max_cores:
                return

    def profiled(self, rate: float) -> contextlib.AbstractContextManager[None]:
        """py-spy on the server for the arrival phase, with `--profile DIR` (raw, for bench.spy_summary)."""
        if self.args.profile is None:
            return contextlib.nullcontext()
        name = f"routing-{rate:g}-{time.strftime('%H%M%S')}.txt"
        return py_spy(self.server, self.args.profile / name, gil=self.args.profile_gil)

    async def latency_phase(self, listener: Listener, rate: float) -> LatencyResult:
        args = self.args
        due: dict[int, float] = {}
        answered: dict[int, float] = {}
        errors: list[str] = []
        resolved0, resolve_errors0 = self.resolved, len(self.resolve_errors)
        await self.settle()
        await self.fresh_connections()

        async def one(at: float) -> None:
            try:
                conv_id = await self.post_inbound(f"l{next(self.seq)}")
                answered[conv_id] = time.perf_counter()
                due[conv_id] = at
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors.append(f"{exc.__class__.__name__}: {exc}")

        self.resolving = True
        cpu0, gen0 = cpu_of(self.server), time.process_time()
        wall0 = time.time()
        start = time.perf_counter()
        end = start + args.seconds
        tasks = []
        with self.profiled(rate):
            for i in itertools.count():
                at = start + i / rate
                if at >= end:
                    break
                if (delay := at - time.perf_counter()) > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(at)))
            await asyncio.gather(*tasks)
        busy = time.perf_counter() - start
        cpu1, gen1 = cpu_of(self.server), time.process_time()
        markers = {f"c{c}" for c in due}
        try:
            async with asyncio.timeout(10):
                await listener.wait_for(markers)
        except TimeoutError:
            pass
        self.resolving = False
        if self.resolves:  # let the agents finish: the drain phase starts from empty desks
            await asyncio.wait(set(self.resolves), timeout=args.hold[1] + 30)

        latencies = sorted((listener.arrivals[f"c{c}"] - due[c]) * 1000 for c in due if f"c{c}" in listener.arrivals)
        http = sorted((answered[c] - due[c]) * 1000 for c in due)
        timings = await asyncio.to_thread(db_timings, self.url, args.hub_src, set(due))
        inline = [t for t in timings.values() if t[1] is not None and t[2]]
        queued = sorted((a - c) * 1000 for c, a, is_inline in timings.values()
                        if c is not None and a is not None and not is_inline)
        assigned_at = sorted(a for _, a, _ in timings.values() if a is not None)
        in_window = sum(1 for a in assigned_at if wall0 <= a <= wall0 + args.seconds)
        return LatencyResult(
            rate=rate, seconds=args.seconds, posted=len(due), errors=len(errors), assigned=len(latencies),
            lost=len(due) - len(latencies),
            p50_ms=percentile(latencies, 50), p90_ms=percentile(latencies, 90), p99_ms=percentile(latencies, 99),
            max_ms=latencies[-1] if latencies else None,
            http_p50_ms=percentile(http, 50), http_p99_ms=percentile(http, 99),
            assignments_per_s=in_window / args.seconds,
            inline_share=len(inline) / len(timings) if timings else None,
            queued_p50_ms=percentile(queued, 50), queued_p99_ms=percentile(queued, 99),
            resolved=self.resolved - resolved0, resolve_errors=len(self.resolve_errors) - resolve_errors0,
            server_cpu=(cpu1 - cpu0) / busy,
            server_cpu_ms_per_conversation=(cpu1 - cpu0) * 1000 / len(due) if due else None,
            loadgen_cpu=(gen1 - gen0) / busy,
            first_error=(errors or self.resolve_errors[resolve_errors0:] or [None])[0],
        )

    async def drain_phase(self, listener: Listener) -> DrainResult:
        args = self.args
        errors: list[str] = []
        await self.presence_all("offline")
        gate = asyncio.Semaphore(32)
        queued: list[int] = []

        async def one(i: int) -> None:
            async with gate:
                try:
                    queued.append(await self.post_inbound(f"d{i}"))
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    errors.append(f"{exc.__class__.__name__}: {exc}")

        await asyncio.gather(*(one(i) for i in range(args.drain)))
        early = [c for c in queued if f"c{c}" in listener.arrivals]
        if early:
            errors.append(f"{len(early)} conversations were assigned while every agent was offline")
        cpu0 = cpu_of(self.server)
        wall0 = time.time()
        start = time.perf_counter()
        await self.presence_all("online")
        online_s = time.perf_counter() - start
        online_done = time.time()
        try:
            async with asyncio.timeout(max(60.0, args.drain / 10)):
                await listener.wait_for({f"c{c}" for c in queued})
        except TimeoutError:
            errors.append("not every queued conversation was assigned in time")
        cpu1 = cpu_of(self.server)
        busy = time.perf_counter() - start
        timings = await asyncio.to_thread(db_timings, self.url, args.hub_src, set(queued))
        assigned_at = [a for _, a, _ in timings.values() if a is not None]
        drain_s = max(assigned_at) - wall0 if assigned_at else None
        return DrainResult(
            queued=len(queued), assigned=len(assigned_at), online_calls_s=online_s, drain_s=drain_s,
            after_online_s=max(assigned_at) - online_done if assigned_at else None,
            assignments_per_s=len(assigned_at) / drain_s if drain_s else None,
            server_cpu=(cpu1 - cpu0) / busy, first_error=errors[0] if errors else None,
        )

    async def run(self) -> tuple[list[LatencyResult], DrainResult]:
        try:
            async with self.listener() as listener:
                latencies = []
                for rate in self.args.rate:
                    latency = await self.latency_phase(listener, rate)
                    latencies.append(latency)
                    print(f"  {rate:g}/s: {fmt(latency.p50_ms)} / {fmt(latency.p99_ms)} ms (p50/p99), "
                          f"{latency.assigned}/{latency.posted} assigned, {latency.errors} errors, "
                          f"{fmt(latency.server_cpu_ms_per_conversation)} ms server CPU each", file=sys.stderr)
                await self.settle()
                await self.fresh_connections()
                drain = await self.drain_phase(listener)
                print(f"  drain: {drain.assigned}/{drain.queued} in {fmt(drain.drain_s, 2)} s", file=sys.stderr)
            return latencies, drain
        finally:
            if self.client is not None:
                await self.client.aclose()


def run_database(kind: str, args: argparse.Namespace) -> DbResult:
    with fresh_database(kind) as url:
        print(f"[{kind}] preparing {args.agents} agents and a backlog of {args.backlog:,}", file=sys.stderr)
        prepared = prepare(url, args)
        with hub_server(url, args) as server:
            print(f"[{kind}] hub on {server.url} (backlog took {prepared.backlog_seconds:.1f} s)", file=sys.stderr)
            notes = []
            if args.quiet_wait > 0:
                level = wait_until_quiet(args.quiet_cores, args.quiet_wait)
                notes.append(f"other processes used {level:.2f} cores just before the run")
                print(f"  {notes[-1]}", file=sys.stderr)
            try:
                latency, drain = run_async(Run(server, url, prepared, args).run())
            except Exception:
                print(f"[{kind}] the server's log ends:\n{server.log_tail(6_000)}", file=sys.stderr)
                raise
            if "Traceback" in (tail := server.log_tail(20_000)):
                notes.append("the server logged errors: " + tail[-1500:])
    return DbResult(kind, prepared.backlog_seconds, latency, drain, notes)


def table(results: list[DbResult]) -> str:
    lines = [
        "| db | arrivals/s | assigned | errors | p50 ms | p90 ms | p99 ms | max ms | HTTP p99 ms | in ingest txn "
        "| assignments/s | server CPU | CPU ms/conversation |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        for lat in r.latency:
            lines.append(
                f"| {r.kind} | {fmt(lat.rate, 0)} | {lat.assigned}/{lat.posted} | {lat.errors + lat.resolve_errors} "
                f"| {fmt(lat.p50_ms)} | {fmt(lat.p90_ms)} | {fmt(lat.p99_ms)} | {fmt(lat.max_ms)} "
                f"| {fmt(lat.http_p99_ms)} "
                f"| {'-' if lat.inline_share is None else f'{lat.inline_share:.0%}'} | {fmt(lat.assignments_per_s)} "
                f"| {lat.server_cpu:.0%} | {fmt(lat.server_cpu_ms_per_conversation)} |"
            )
    lines += [
        "",
        "| db | drain: queued | assigned | agents online (API calls) s | drain s | after the last call s "
        "| assignments/s | server CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        dr = r.drain
        lines.append(f"| {r.kind} | {dr.queued} | {dr.assigned} | {fmt(dr.online_calls_s, 2)} | {fmt(dr.drain_s, 2)} "
                     f"| {fmt(dr.after_online_s, 2)} | {fmt(dr.assignments_per_s, 0)} | {dr.server_cpu:.0%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.routing", description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--rate", type=float, nargs="+", default=[TARGET_RATE], metavar="RATE",
                   help="arrivals per second; several rates run one after the other on the same server (default 100)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of the arrival phase (default 20)")
    p.add_argument("--agents", type=int, default=200)
    p.add_argument("--capacity", type=int, default=10, help="each agent's API capacity (default 10)")
    p.add_argument("--backlog", type=int, default=10_000, help="conversations waiting in the unserved team")
    p.add_argument("--drain", type=int, default=1_000, help="conversations queued for the drain phase")
    p.add_argument("--hold", type=float, nargs=2, default=(1.0, 3.0), metavar=("MIN", "MAX"),
                   help="an agent resolves a conversation this many seconds after getting it (default 1 3)")
    add_run_arguments(p)
    p.add_argument("--profile", type=Path, metavar="DIR",
                   help="record the arrival phase with py-spy (raw, for bench.spy_summary) into this folder")
    p.add_argument("--profile-gil", action="store_true", help="only threads holding the GIL (where the CPU goes)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = p.parse_args(argv)
    if args.agents * args.capacity < args.drain:
        p.error("--drain must fit in --agents x --capacity")
    with contextlib.ExitStack() as stack:
        if args.hub_commit:
            args.hub_src = stack.enter_context(exported(args.hub_commit))
        return run(args, argv)


def run(args: argparse.Namespace, argv: list[str] | None) -> int:
    hub_source = source_version(args.hub_src)  # before the run: others may commit meanwhile
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    results = [run_database(kind, args) for kind in kinds]

    print(f"hub source: {hub_source}")
    print(table(results))
    for r in results:
        for lat in r.latency:
            met = (lat.rate >= TARGET_RATE and lat.p99_ms is not None and lat.p99_ms < TARGET_P99_MS and lat.lost == 0
                   and lat.errors == 0)
            print(f"{r.kind}: p99 {fmt(lat.p99_ms)} ms at {lat.rate:g} arrivals/s"
                  + (f" (target < {TARGET_P99_MS:.0f} ms at {TARGET_RATE:.0f}/s: {'met' if met else 'MISSED'})"
                     if lat.rate >= TARGET_RATE else ""))
        print(f"{r.kind}: drain {fmt(r.drain.assignments_per_s, 0)} assignments/s")
        for note in r.notes:
            print(f"  note: {note}")

    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"routing-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({
        "machine": machine(),
        "command": " ".join(["python -m bench.routing", *(argv if argv is not None else sys.argv[1:])]),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "hub_source": hub_source,
        "results": [asdict(r) for r in results],
    }, indent=2))
    print(f"written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
