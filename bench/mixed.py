"""Inbound messages at saturation while agents reply: what agents' work costs customers' messages.

One hub process on a fresh database (per `--db`), `--agents` agents logged in with a console each
on `/ws/agent` (resumed, online), and the API channel's callback URL pointing at a small HTTP
server in this process that counts what the outbox delivers. After a warm-up (which creates the
customers' conversations; routing gives each agent up to its `api` capacity of them), phases
alternate, `--rounds` times:

- **alone**: `--clients` customers post inbound API messages in a closed loop (as bench.inbound_api);
- **mixed**: the same, and in addition the agents reply at `--reply-rate` replies/s in all, on a
  fixed schedule, to the conversations assigned to them (`POST /api/v1/conversations/{id}/messages`,
  with a client id, as the console sends them); the delivery worker posts each reply to the receiver.

Inbound throughput is counted on the first agent's socket (messages that reached it within the
phase), as in bench.inbound_api. A reply's latency runs from its slot in the schedule to the
hub's answer (the commit), its delivery latency to its arrival at the receiver. A last alone phase
closes the run, so every mixed phase has an alone one before and after it. The verdict: inbound
with replies / the mean of the alone phases around each (means over the rounds) at least
`TARGET_RATIO`. Inbound throughput drifts down through a run as the tables grow, the same with no
replies at all, and a mixed phase always follows its first alone one: against the plain mean of
every alone phase (also printed) the drift counted as the replies' cost.

Run: `python -m bench.mixed --db both`; `--profile DIR` records each phase with py-spy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench import http1
from bench.harness import (
    HOST,
    REQUEST_TIMEOUT,
    ROOT,
    Listener,
    Phase,
    PhaseResult,
    ServerProcess,
    add_run_arguments,
    fmt,
    free_port,
    machine,
    percentile,
    py_spy,
    run_async,
    run_phase,
)
from bench.inbound_api import (
    extract_marker,
    fresh_database,
    hub_server,
    hub_tree,
    poster,
    postgres_version,
    settle,
)

TARGET_RATIO = 0.8
PASSWORD = "bench-password-123"
SOURCE = "bench"

PREPARE_SCRIPT = """
import sys
from hub.agents.actions import do_create_agent, do_create_api_key
from hub.db import Database
from hub.migrate import upgrade

url, agents, password = sys.argv[1], int(sys.argv[2]), sys.argv[3]
upgrade(url)
db = Database(url)
with db.write() as s:
    ids = [do_create_agent(s, email=f"agent{i}@bench.example", name=f"Agent {i}", role="agent",
                           password=password).id for i in range(agents)]
    _, secret = do_create_api_key(s, name="bench", created_by=ids[0])
db.dispose()
print(secret)
"""


def prepare(url: str, agents: int, src: Path) -> str:
    """Migrate, create the agents and an API key through the hub's own actions; return the key."""
    done = subprocess.run([sys.executable, "-c", PREPARE_SCRIPT, url, str(agents), PASSWORD], cwd=src,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"preparing the hub database failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1]


def marker_of(text: str) -> str:
    return text.rsplit(" ", 1)[-1]


class Receiver:
    """The API source's callback URL: a minimal keep-alive HTTP/1.1 server that answers 200 to
    every POST and timestamps each reply's first arrival by the marker ending its text."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.arrivals: dict[str, float] = {}
        self.posts = 0  # every delivery, repeats included
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._arrived = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/replies"

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, HOST, self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:  # the hub's keep-alive connections: their readers end
            writer.close()

    async def wait_for(self, markers: set[str]) -> None:
        """Return once every marker has arrived (bound it with asyncio.timeout)."""
        while not markers <= self.arrivals.keys():
            self._arrived.clear()
            await self._arrived.wait()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
                length = next((int(line.split(":", 1)[1]) for line in head.split("\r\n")
                               if line.startswith("content-length:")), 0)
                body = await reader.readexactly(length)
                self.posts += 1
                self.arrivals.setdefault(marker_of(json.loads(body)["text"]), time.perf_counter())
                self._arrived.set()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


@dataclass
class Agent:
    token: str
    conversations: list[int]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def console(url: str, token: str, frames: list[int]) -> None:
    """An agent's console: resume, go online, then read (and count) every frame, as a browser does."""
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None) as conn:
        await _online(conn)
        async for _ in conn:
            frames[0] += 1


async def _online(conn: ClientConnection) -> None:
    await conn.send(json.dumps({"type": "resume", "last_event_id": 0}))
    while json.loads(await conn.recv()).get("type") != "ready":
        pass
    await conn.send(json.dumps({"type": "presence", "presence": "online"}))


@dataclass(frozen=True)
class ReplyResult:
    rate: float
    sent: int
    accepted: int
    errors: int
    accepted_per_s: float      # answered 201 within the phase
    delivered_per_s: float     # reached the receiver within the phase
    delivered: int             # reached the receiver, the drain included
    ack_p50_ms: float | None
    ack_p99_ms: float | None
    delivery_p50_ms: float | None
    delivery_p99_ms: float | None
    first_error: str | None


async def reply_phase(server: ServerProcess, receiver: Receiver, agents: list[Agent], rate: float,
                      seconds: float, drain: float, tag: str) -> ReplyResult:
    """Agents reply on a fixed schedule, taking turns over their conversations."""
    targets = [(a, c) for a in agents for c in a.conversations]
    due: dict[str, float] = {}
    acked: dict[str, float] = {}
    errors: list[str] = []
    async with http1.Client(HOST, server.port, 8) as client:

        async def one(i: int, at: float) -> None:
            agent, conv = targets[i % len(targets)]
            marker = f"{tag}r{i}"
            due[marker] = at
            body = {"text": f"Thanks, it is on its way {marker}", "client_id": str(uuid.uuid4())}
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    resp = await client.post_json(f"/api/v1/conversations/{conv}/messages", body, agent.auth)
                if resp.status != 201:
                    raise RuntimeError(f"HTTP {resp.status}: {resp.body[:200]!r}")
                acked[marker] = time.perf_counter()
            except Exception as exc:  # noqa: BLE001 - counted, the first one reported
                errors.append(f"{exc.__class__.__name__}: {exc}")

        start = time.perf_counter()
        end = start + seconds
        tasks = []
        i = 0
        while (at := start + i / rate) < end:
            if (delay := at - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, at)))
            i += 1
        await asyncio.gather(*tasks)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(drain):
            await receiver.wait_for(set(acked))
    arrived = {m: receiver.arrivals[m] for m in acked if m in receiver.arrivals}
    acks = sorted((acked[m] - due[m]) * 1000 for m in acked)
    deliveries = sorted((arrived[m] - due[m]) * 1000 for m in arrived)
    return ReplyResult(
        rate=rate, sent=len(due), accepted=len(acked), errors=len(errors),
        accepted_per_s=sum(1 for t in acked.values() if t <= end) / seconds,
        delivered_per_s=sum(1 for t in arrived.values() if t <= end) / seconds,
        delivered=len(arrived),
        ack_p50_ms=percentile(acks, 50), ack_p99_ms=percentile(acks, 99),
        delivery_p50_ms=percentile(deliveries, 50), delivery_p99_ms=percentile(deliveries, 99),
        first_error=errors[0] if errors else None,
    )


@contextlib.contextmanager
def profiled(server: ServerProcess, args: argparse.Namespace, name: str) -> Any:
    """py-spy on the server for this phase, if `--profile DIR` was given (raw, for bench.spy_summary)."""
    if args.profile is None:
        yield
        return
    with py_spy(server, args.profile / f"{name}.txt", seconds=args.seconds, gil=args.profile_gil):
        yield


def run_db(kind: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    receiver = Receiver(free_port())
    with fresh_database(kind, "mixed") as url:
        key = prepare(url, args.agents, args.hub_src)
        server = hub_server(url, args.hub_src)
        server.env["HUB_API_CHANNEL__CALLBACKS"] = json.dumps({SOURCE: receiver.url})
        with server:
            print(f"[{kind}] hub on {server.url}, receiver on {receiver.url}", file=sys.stderr)
            tokens = [httpx.post(server.url + "/api/v1/auth/login",
                                 json={"email": f"agent{i}@bench.example", "password": PASSWORD}).json()["token"]
                      for i in range(args.agents)]
            settle(args)
            try:
                return run_async(_phases(kind, server, receiver, tokens, key, args))  # type: ignore[no-any-return]
            except Exception:
                print(f"the hub's output:\n{server.log_tail()}", file=sys.stderr)
                raise


async def _phases(kind: str, server: ServerProcess, receiver: Receiver, tokens: list[str], key: str,
                  args: argparse.Namespace) -> list[dict[str, Any]]:
    post = poster("/api/v1/inbound/messages", {"X-Api-Key": key}, args.customers)
    listener = Listener(server.ws_url + "/ws/agent", extract_marker, handshake=_online,
                        headers={"Authorization": f"Bearer {tokens[0]}"})
    frames = [0]
    consoles = [asyncio.create_task(console(server.ws_url + "/ws/agent", t, frames)) for t in tokens[1:]]
    out: list[dict[str, Any]] = []
    try:
        async with receiver, listener:
            await run_phase(server, listener, post, Phase("warmup", args.warmup, args.clients))
            agents = []
            async with http1.Client(HOST, server.port, 1) as client:
                for token in tokens:
                    resp = await client.request("GET", "/api/v1/conversations?view=mine&limit=50",
                                                headers={"Authorization": f"Bearer {token}"})
                    agents.append(Agent(token, [c["id"] for c in resp.json()["items"]]))
            agents = [a for a in agents if a.conversations]
            if not agents:
                raise RuntimeError("routing gave no agent a conversation during the warm-up")
            print(f"  {len(agents)} agents reply on {sum(len(a.conversations) for a in agents)} conversations",
                  file=sys.stderr)
            if args.control:  # the drift without replies: every phase alone
                for r in range(2 * args.rounds + 1):
                    result = await run_phase(server, listener, post, Phase("alone", args.seconds, args.clients))
                    out.append({"round": r + 1, "mode": "alone", "inbound": result.as_dict(), "replies": None})
                    _print_phase(f"{kind}-alone-{r + 1}", result, None)
                return out
            # Replies alone: what one costs the server (HTTP, the writer, fan-out, delivery), in CPU,
            # less what the idle hub spends meanwhile (timers, consoles' pings).
            cpu0, t0 = server.cpu_seconds(), time.perf_counter()
            await asyncio.sleep(5.0)
            idle = (server.cpu_seconds() - cpu0) / (time.perf_counter() - t0)
            cpu0, t0 = server.cpu_seconds(), time.perf_counter()
            with profiled(server, args, f"{kind}-replies"):
                alone = await reply_phase(server, receiver, agents, args.reply_rate, args.seconds, 10.0,
                                          f"{kind}-replies")
            used = server.cpu_seconds() - cpu0 - idle * (time.perf_counter() - t0)
            per_reply = used * 1000 / max(1, alone.delivered)
            out.append({"round": 0, "mode": "replies", "cpu_ms_per_reply": per_reply, "idle_cpu": idle,
                        "replies": asdict(alone)})
            print(f"  replies only: {alone.accepted_per_s:.1f}/s accepted, {alone.delivered}/{alone.accepted} "
                  f"delivered, server CPU {per_reply:.1f} ms per reply (idle hub: {idle:.1%} of a core)",
                  file=sys.stderr)
            # alone, mixed, alone, mixed, ..., alone: each mixed phase between two alone ones (the
            # verdict compares it with their mean: throughput drifts down as the tables grow).
            order = [(r, mode) for r in range(args.rounds) for mode in ("alone", "mixed")] + [(args.rounds, "alone")]
            for r, mode in order:
                name = f"{kind}-{mode}-{r + 1}"
                with profiled(server, args, name):
                    inbound = run_phase(server, listener, post, Phase(mode, args.seconds, args.clients))
                    if mode == "alone":
                        result, replies = await inbound, None
                    else:
                        result, replies = await asyncio.gather(inbound, reply_phase(
                            server, receiver, agents, args.reply_rate, args.seconds, 10.0, name))
                out.append({"round": r + 1, "mode": mode, "inbound": result.as_dict(),
                            "replies": asdict(replies) if replies else None})
                _print_phase(name, result, replies)
    finally:
        for task in consoles:
            task.cancel()
    return out


def _print_phase(name: str, inbound: PhaseResult, replies: ReplyResult | None) -> None:
    line = (f"  {name}: inbound {inbound.throughput:,.0f} msgs/s ({fmt(inbound.server_cpu_ms_per_msg, 2)} ms "
            f"CPU/msg, server CPU {inbound.server_cpu:.0%}, others {inbound.other_cpu:.0%}, lost {inbound.lost}, "
            f"errors {inbound.errors})")
    if replies is not None:
        line += (f"; replies {replies.accepted_per_s:.1f}/s accepted, {replies.delivered_per_s:.1f}/s delivered "
                 f"({replies.delivered}/{replies.accepted}), answer p99 {fmt(replies.ack_p99_ms)} ms, delivery "
                 f"p99 {fmt(replies.delivery_p99_ms)} ms, errors {replies.errors}"
                 + (f" (first: {replies.first_error})" if replies.first_error else ""))
    print(line, file=sys.stderr)


def verdict(phases: list[dict[str, Any]]) -> dict[str, Any]:
    only = next((p for p in phases if p["mode"] == "replies"), None)
    phases = [p for p in phases if p["mode"] != "replies"]
    alone = [p["inbound"]["throughput"] for p in phases if p["mode"] == "alone"]
    mixed = [p["inbound"]["throughput"] for p in phases if p["mode"] == "mixed"]
    replies = [p["replies"] for p in phases if p["replies"]]
    # Each mixed phase against the mean of the alone phases just before and after it: inbound
    # throughput drifts down through a run as the tables grow (alone phases alone fell 20-30 % from
    # the first to the third, bench/RESULTS.md "Issue 17, session 11"), and a mixed phase always
    # comes after its alone one. A run without a closing alone phase (older JSON) has no bracket
    # for its last mixed phase: the alone phase before it stands in.
    brackets = [statistics.mean(alone[i:i + 2]) for i in range(len(mixed))]
    ratio = statistics.mean(mixed) / statistics.mean(brackets) if statistics.mean(brackets) else 0.0
    plain = statistics.mean(mixed) / statistics.mean(alone) if statistics.mean(alone) else 0.0
    # The same per server CPU second: what is left of inbound capacity when the hub is CPU-bound,
    # whatever share of the machine its neighbours leave it in each phase.
    cost = {mode: statistics.mean(p["inbound"]["server_cpu_ms_per_msg"] or 0.0 for p in phases if p["mode"] == mode)
            for mode in ("alone", "mixed")}
    return {
        "inbound_alone": round(statistics.mean(alone), 1),
        "inbound_mixed": round(statistics.mean(mixed), 1),
        "ratio": round(ratio, 3),
        "ratio_unbracketed": round(plain, 3),
        "round_ratios": [round(m / b, 3) if b else 0.0 for b, m in zip(brackets, mixed, strict=True)],
        "cpu_ratio": round(cost["alone"] / cost["mixed"], 3) if cost["mixed"] else 0.0,
        "replies_accepted_per_s": round(statistics.mean(r["accepted_per_s"] for r in replies), 1),
        "replies_delivered_per_s": round(statistics.mean(r["delivered_per_s"] for r in replies), 1),
        "reply_ack_p99_ms": max((r["ack_p99_ms"] or 0.0) for r in replies),
        "reply_delivery_p99_ms": max((r["delivery_p99_ms"] or 0.0) for r in replies),
        "replies_lost": sum(r["accepted"] - r["delivered"] for r in replies),
        "errors": sum(p["inbound"]["errors"] for p in phases) + sum(r["errors"] for r in replies),
        "cpu_ms_per_reply": round(only["cpu_ms_per_reply"], 2) if only else None,
        "met": ratio >= TARGET_RATIO,
    }


def table(every: dict[str, list[dict[str, Any]]]) -> str:
    lines = ["| db | round | phase | inbound msgs/s | CPU ms/msg | server CPU | replies accepted/s | delivered/s "
             "| reply answer p50/p99 ms | delivery p50/p99 ms | errors | others' CPU |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for kind, phases in every.items():
        for p in phases:
            if p["mode"] == "replies":
                continue
            i, r = p["inbound"], p["replies"]
            lines.append(
                f"| {kind} | {p['round']} | {p['mode']} | {fmt(i['throughput'], 0)} "
                f"| {fmt(i['server_cpu_ms_per_msg'], 2)} | {i['server_cpu']:.0%} "
                + (f"| {r['accepted_per_s']:.1f} | {r['delivered_per_s']:.1f} "
                   f"| {fmt(r['ack_p50_ms'])}/{fmt(r['ack_p99_ms'])} "
                   f"| {fmt(r['delivery_p50_ms'])}/{fmt(r['delivery_p99_ms'])} " if r else "| - | - | - | - ")
                + f"| {i['errors'] + (r['errors'] if r else 0)} | {i['other_cpu']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.mixed", description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each phase (default 10)")
    p.add_argument("--warmup", type=float, default=3.0, help="warm-up before measuring (default 3)")
    p.add_argument("--rounds", type=int, default=2, help="pairs of phases, alone then mixed (default 2)")
    p.add_argument("--clients", type=int, default=32, help="concurrent customers posting (default 32)")
    p.add_argument("--customers", type=int, default=200, help="distinct customers writing (default 200)")
    p.add_argument("--agents", type=int, default=4, help="agents with a console, who reply (default 4)")
    p.add_argument("--control", action="store_true",
                   help="no replies at all: every phase alone (how inbound drifts through a run by itself)")
    p.add_argument("--reply-rate", type=float, default=15.0, help="replies per second, all agents (default 15)")
    p.add_argument("--profile", type=Path, help="record each phase with py-spy (raw) into this folder")
    p.add_argument("--profile-gil", action="store_true",
                   help="profile only threads holding the GIL (where the CPU goes, not where threads wait)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    add_run_arguments(p)
    args = p.parse_args(argv)
    with hub_tree(args) as hub_source:
        kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
        every = {kind: run_db(kind, args) for kind in kinds}
    verdicts = {} if args.control else {kind: verdict(phases) for kind, phases in every.items()}
    print(f"hub source: {hub_source}")
    print(table(every))
    for kind, v in verdicts.items():
        print(f"{kind}: inbound with replies / alone around it {v['ratio']:.0%} (rounds: "
              f"{', '.join(f'{r:.0%}' for r in v['round_ratios'])}; target >= {TARGET_RATIO:.0%}: "
              f"{'met' if v['met'] else 'MISSED'}; against every alone phase {v['ratio_unbracketed']:.0%}; "
              f"per server CPU second {v['cpu_ratio']:.0%}); "
              f"replies {v['replies_accepted_per_s']}/s accepted, "
              f"{v['replies_delivered_per_s']}/s delivered, answer p99 {fmt(v['reply_ack_p99_ms'])} ms, "
              f"delivery p99 {fmt(v['reply_delivery_p99_ms'])} ms, {v['replies_lost']} undelivered; "
              f"replies alone: {fmt(v['cpu_ms_per_reply'])} ms of server CPU each")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"mixed-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({
        "machine": machine(), "load_average": os.getloadavg(),
        "command": " ".join(["python -m bench.mixed", *(argv if argv is not None else sys.argv[1:])]),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "hub_source": hub_source, "postgres_server": postgres_version() if "postgres" in kinds else None,
        "verdicts": verdicts, "every_phase": every,
    }, indent=2))
    print(f"written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
