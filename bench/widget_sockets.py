"""Idle widget sockets: memory per socket against a bare FastAPI websocket, then live messages.

Issue 16's measure. Per round, two apps are measured one right after the other, each in fresh
server processes (`--processes`, default 1) started the same way:

- **bare** (`bench/bare_ws.py`): a FastAPI websocket route that accepts, answers the hello with a
  welcome and reads frames; served by uvicorn with the settings `hub serve` uses (websockets-sansio,
  the same frame cap, no proxy headers).
- **hub**: `hub serve` (config.cli) on a database prepared beforehand by the hub's own code: a
  supervisor (and their token), and `--sockets` + `--talkers` web chat visitors of the `demo`
  widget who each wrote once (their contact and conversation exist; their visitor tokens are
  minted with the key the hub derives from HUB_SECRET_KEY, so no round trip makes them). The idle
  visitors' conversations are resolved (they come back to the site after an earlier chat), or with
  `--visitors waiting` still in the queue (each socket then asks its place every
  `queue_refresh_seconds`); with `--visitors new` the idle sockets are new visitors (no token: no
  contact, no feed). The talkers' conversations are assigned to the supervisor.
  Several processes share PostgreSQL and Redis (`HUB_REDIS_URL`), each on its own port.

For each app: 100 sockets are opened and closed (warm-up), the servers' RSS is read (sum over
processes, /proc), `--sockets` idle sockets are opened by client processes (bench/widget_clients.py,
spread over the servers), and once the servers are idle again the RSS is read again: KiB per
idle socket = the growth / sockets. A returning visitor's socket is counted open once its replay
(their message) has arrived, so its customer feed is running. The verdict is the median over rounds
of hub KiB / bare KiB (target at most 1.5).

Then, in the hub's first round and with the idle sockets still open, the messages phases of
bench/widget_talk.py: visitors to a supervisor's console and replies back, msgs/s and p50/p99.

Run: `python -m bench.widget_sockets` (5,000 sockets, SQLite); `--db postgres --processes 4
--sockets 20000` for the scaled-out run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.harness import (
    HOST,
    ROOT,
    ServerProcess,
    add_run_arguments,
    fmt,
    machine,
    run_async,
    source_version,
)
from bench.inbound_api import exported, fresh_database, postgres_version, settle
from bench.machine import hold_machine, release_machine
from bench.widget_clients import Holders, Target
from bench.widget_talk import talk
from config.cli import raise_open_files_limit

TARGET_RATIO = 1.5
TARGET_P99_MS = 100.0
SECRET = "bench-widget-secret-" + "x" * 16
WARMUP_SOCKETS = 100
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")

PREPARE_SCRIPT = """
import json, sys, time
from datetime import timedelta

from channels.webchat.identity import VisitorTokens
from config.secrets import derive_key
from hub.agents import actions as agents
from hub.conversations.actions import do_assign, do_set_status, get_conversation
from hub.db import Database
from hub.events.log import head_id
from hub.ingest.entry import do_ingest_many
from hub.migrate import upgrade
from hub.ports import ContactRef, InboundMessage
from hub.routing.actions import Router, RoutingConfig

url, idle, talkers, idle_state, secret = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
upgrade(url)
db = Database(url)
with db.write() as s:
    boss = agents.do_create_agent(s, email="bench.supervisor@bench.example", name="Supervisor", role="supervisor",
                                  password="bench-password-123")
    token = agents.do_create_token(s, boss, timedelta(hours=12))
    boss_id = boss.id
# The visitor tokens the hub would mint (config/channels.py derives the key from the hub's secret).
tokens = VisitorTokens(derive_key(secret.encode(), "webchat-visitor-tokens").hex().encode())
minted = [tokens.mint("demo") for _ in range(idle + talkers)]
router = Router(RoutingConfig())
started = time.perf_counter()
for first in range(0, len(minted), 500):
    with db.write() as s:
        results = do_ingest_many(s, [InboundMessage(
            channel="webchat", source="website", ingest_scope="webchat:demo", external_id=f"visitor:{vid}:hello0001",
            contact=ContactRef(external_ref=f"visitor:{vid}", verified=frozenset({"external_ref"})),
            text="Hello", metadata={"webchat": {"widget": "demo"}}) for vid, _ in minted[first:first + 500]],
            route=router)
        for i, result in enumerate(results, first):
            conv = get_conversation(s, result.conversation_id)
            if i >= idle:  # a talker: chatting with the supervisor
                do_assign(s, conv, assignee_id=boss_id, team_id=None, actor_agent_id=None, reason="auto")
            elif idle_state == "resolved":  # came back to the site after an earlier chat
                do_set_status(s, conv, "resolved", agent_id=boss_id)
if db.is_postgres:
    from sqlalchemy import text
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
with db.read() as s:
    head = head_id(s)
db.dispose()
print(json.dumps({"supervisor_token": token, "tokens": [t for _, t in minted], "head": head,
                  "seed_seconds": time.perf_counter() - started}))
"""


def prepare(url: str, idle: int, talkers: int, idle_state: str, src: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", PREPARE_SCRIPT, url, str(idle), str(talkers), idle_state, SECRET],
                          cwd=src,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"preparing the hub database failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def rss_kib(server: ServerProcess) -> int:
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def hub_servers(url: str, n: int, args: argparse.Namespace, prefix: str) -> list[ServerProcess]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({
        "HUB_DATABASE_URL": url, "HUB_SECRET_KEY": SECRET,
        # Every client is 127.0.0.1: lift the per-address limits (and the per-visitor one, for saturation).
        "HUB_WEBCHAT__ADDRESS_CONNECTIONS_PER_MINUTE": "10000000",
        "HUB_WEBCHAT__ADDRESS_MESSAGES_PER_10S": "10000000",
        "HUB_WEBCHAT__VISITOR_MESSAGES_PER_10S": "100000",
    })
    if n > 1:
        env.update({"HUB_REDIS_URL": REDIS_URL, "HUB_REDIS_PREFIX": prefix})
    env.update(item.split("=", 1) for item in args.hub_env)
    command = lambda port: [sys.executable, "-m", "config.cli", "serve", "--port", str(port),  # noqa: E731
                            "--log-level", "warning"]
    return [ServerProcess(f"hub{i}", command, env, cwd=args.hub_src) for i in range(n)]


def bare_servers(n: int) -> list[ServerProcess]:
    from agents_ui.ws_frames import MAX_FRAME_CHARS

    command = lambda port: [sys.executable, "-m", "uvicorn", "--factory", "bench.bare_ws:create_app",  # noqa: E731
                            "--host", HOST, "--port", str(port), "--log-level", "warning", "--no-access-log",
                            "--ws", "websockets-sansio", "--ws-max-size", str(4 * MAX_FRAME_CHARS),
                            "--no-proxy-headers"]
    return [ServerProcess(f"bare{i}", command, dict(os.environ)) for i in range(n)]


@contextlib.contextmanager
def running(servers: list[ServerProcess]) -> Iterator[list[ServerProcess]]:
    with contextlib.ExitStack() as stack:
        for s in servers:
            stack.enter_context(s)
        yield servers


def targets(servers: list[ServerProcess], tokens: list[str | None]) -> list[Target]:
    return [Target(f"{servers[i % len(servers)].ws_url}/ws/widget?widget=demo", servers[i % len(servers)].url, tok)
            for i, tok in enumerate(tokens)]


def wait_idle(servers: list[ServerProcess], max_cores: float = 0.05, give_up_after: float = 60.0) -> None:
    """Until the servers use at most `max_cores` over a second (a feed's replay, timers...)."""
    deadline = time.monotonic() + give_up_after
    while time.monotonic() < deadline:
        before = sum(s.cpu_seconds() for s in servers)
        time.sleep(1.0)
        if sum(s.cpu_seconds() for s in servers) - before <= max_cores * len(servers):
            return


def measure_app(name: str, servers: list[ServerProcess], idle: list[str | None], warm: list[str | None],
                replay: bool, talk_with: Any = None) -> dict[str, Any]:
    with running(servers):
        with Holders(targets(servers, warm), replay=replay):
            pass
        wait_idle(servers)
        before = sum(rss_kib(s) for s in servers)
        cpu0 = sum(s.cpu_seconds() for s in servers)
        with Holders(targets(servers, idle), replay=replay) as held:
            opening_cpu = sum(s.cpu_seconds() for s in servers) - cpu0
            wait_idle(servers)
            after = sum(rss_kib(s) for s in servers)
            opened = held.report["opened"]
            result: dict[str, Any] = {
                "app": name, "processes": len(servers), "sockets": opened, "errors": held.report["errors"],
                "first_errors": held.report["first_errors"], "open_seconds": held.report["open_seconds"],
                "rss_before_kib": before, "rss_after_kib": after,
                "kib_per_socket": (after - before) / opened if opened else None,
                "server_cpu_ms_per_open": opening_cpu * 1000 / opened if opened else None,
                "load_average": os.getloadavg()}
            print(f"  {name}: {opened} sockets ({held.report['errors']} failed) in {held.report['open_seconds']:.1f} s,"
                  f" RSS {before / 1024:.0f} -> {after / 1024:.0f} MiB: {fmt(result['kib_per_socket'])} KiB/socket",
                  file=sys.stderr)
            if talk_with is not None:
                result["talk"] = talk_with(servers)
        result["closed_by_server"] = held.report.get("closed_by_server", 0)
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    n, p = args.sockets, args.processes
    returning = args.visitors != "new"
    with fresh_database(args.db, "widgets") as url:
        t0 = time.perf_counter()
        prepared = prepare(url, n if returning else 0, args.talkers, args.visitors, args.hub_src)
        print(f"[{args.db}] {len(prepared['tokens'])} visitors prepared in {time.perf_counter() - t0:.0f} s",
              file=sys.stderr)
        tokens: list[str] = prepared["tokens"]
        idle: list[str | None] = list(tokens[:n]) if returning else [None] * n
        talker_tokens = tokens[-args.talkers:] if args.talkers else []
        warm = idle[:WARMUP_SOCKETS]

        def talk_with(servers: list[ServerProcess]) -> dict[str, Any]:
            print(f"  {args.talkers} visitors talk to a supervisor, beside the idle sockets", file=sys.stderr)
            return run_async(talk(  # type: ignore[no-any-return]
                [s.ws_url for s in servers], [s.port for s in servers], talker_tokens,
                prepared["supervisor_token"], seconds=args.seconds, rate=args.rate, reply_rate=args.reply_rate,
                cpu=lambda: sum(s.cpu_seconds() for s in servers)))

        rounds = []
        for r in range(args.repeat):
            settle(args)
            hold_machine()  # both apps of a round, with no other benchmark between them
            try:
                print(f"[{args.db}] round {r + 1}, load {os.getloadavg()[0]:.2f}", file=sys.stderr)
                bare = measure_app("bare", bare_servers(p), [None] * n, [None] * WARMUP_SOCKETS, replay=False)
                hub = measure_app("hub", hub_servers(url, p, args, f"bench-{uuid.uuid4().hex[:8]}:"), idle, warm,
                                  replay=returning, talk_with=talk_with if r == 0 and args.talkers else None)
            finally:
                release_machine()
            ratio = hub["kib_per_socket"] / bare["kib_per_socket"] if bare["kib_per_socket"] else None
            rounds.append({"bare": bare, "hub": hub, "ratio": ratio})
    return {"prepare_seconds": prepared["seed_seconds"], "rounds": rounds}


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"{'round':<7}{'bare KiB':>10}{'hub KiB':>10}{'ratio':>8}{'hub sockets':>13}{'failed':>8}{'load':>7}")
    for i, r in enumerate(result["rounds"], 1):
        print(f"{i:<7}{fmt(r['bare']['kib_per_socket']):>10}{fmt(r['hub']['kib_per_socket']):>10}"
              f"{fmt(r['ratio'], 2):>8}{r['hub']['sockets']:>13,}{r['hub']['errors']:>8}"
              f"{r['hub']['load_average'][0]:>7.2f}")
    ratios = [r["ratio"] for r in result["rounds"] if r["ratio"] is not None]
    if ratios:
        median = statistics.median(ratios)
        print(f"hub/bare memory per idle socket: {median:.2f} (median of {len(ratios)}; target <= {TARGET_RATIO}: "
              f"{'met' if median <= TARGET_RATIO else 'MISSED'})")
    talked = result["rounds"][0]["hub"].get("talk")
    if talked:
        sat, lat = talked["saturation"], talked["latency"]
        v2a, a2v = lat["visitor_to_agent"], lat["agent_to_visitor"]
        met = max(v2a["p99_ms"] or 1e9, a2v["p99_ms"] or 1e9) < TARGET_P99_MS
        print(f"saturation: {talked['talkers']} visitors, {sat['per_s']:.0f} msgs/s reached the console "
              f"({sat['lost']} lost, server CPU {sat['server_cpu']:.0%}, "
              f"{fmt(sat['server_cpu_ms_per_msg'], 2)} ms/msg)")
        print(f"latency at {lat['rate']:.0f} msgs/s + {lat['reply_rate']:.0f} replies/s: visitor -> agent "
              f"p50 {fmt(v2a['p50_ms'])} p99 {fmt(v2a['p99_ms'])} max {fmt(v2a['max_ms'])} ms ({v2a['lost']} lost); "
              f"agent -> visitor p50 {fmt(a2v['p50_ms'])} p99 {fmt(a2v['p99_ms'])} ms ({a2v['lost']} lost); "
              f"target p99 < {TARGET_P99_MS:.0f} ms: {'met' if met else 'MISSED'}")
        for e in talked.get("visitor_errors", []) + lat.get("reply_errors", []):
            print(f"  error: {e}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.widget_sockets", description=__doc__.split("\n\n")[0])
    p.add_argument("--sockets", type=int, default=5000, help="idle widget sockets, all processes (default 5000)")
    p.add_argument("--processes", type=int, default=1, help="hub (and bare) server processes (default 1; "
                   "more need --db postgres: they share it and Redis)")
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--visitors", choices=["resolved", "waiting", "new"], default="resolved",
                   help="idle sockets of visitors who wrote before, their conversation resolved (a feed each, "
                        "default) or still waiting in the queue, or of new visitors (no contact)")
    p.add_argument("--talkers", type=int, default=200, help="visitors who write in the messages phases (0: none)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each messages phase (default 10)")
    p.add_argument("--rate", type=float, default=50.0, help="visitor messages/s in the latency phase (default 50)")
    p.add_argument("--reply-rate", type=float, default=20.0, help="agent replies/s in the latency phase (default 20)")
    p.add_argument("--repeat", type=int, default=2, help="rounds of bare then hub (default 2)")
    p.add_argument("--hub-env", action="append", default=[], metavar="HUB_X=VALUE",
                   help="a setting for the hub processes (repeatable), e.g. HUB_POLL_INTERVAL_SECONDS=0.2")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    add_run_arguments(p)
    args = p.parse_args(argv)
    if args.processes > 1 and args.db != "postgres":
        p.error("several processes share PostgreSQL: add --db postgres")
    print(f"open files: {raise_open_files_limit()} here", file=sys.stderr)
    with contextlib.ExitStack() as stack:
        if args.hub_commit:
            args.hub_src = stack.enter_context(exported(args.hub_commit))
        hub_source = source_version(args.hub_src)
        result = run(args)
    print(f"hub source: {hub_source}; load average {os.getloadavg()[0]:.2f}")
    report(result, args)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"widget_sockets-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({
        "machine": machine(), "load_average": os.getloadavg(),
        "command": " ".join(["python -m bench.widget_sockets", *(argv if argv is not None else sys.argv[1:])]),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "hub_source": hub_source, "postgres_server": postgres_version() if args.db == "postgres" else None,
        **result}, indent=2))
    print(f"written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
