"""The console's reads: the inbox of 500 conversations, and opening a conversation of 1,000 messages.

For each database (SQLite, PostgreSQL), in a fresh database and one real hub process
(`python -m config.cli serve`, i.e. `hub serve`, no Redis):

Setup (by the hub's own code, in a child process run from the hub's source tree, before the server
starts): teams "Mine" and "Other"; an agent in Mine and a supervisor; `--conversations` (2,000)
open conversations waiting in Mine and as many in Other (the agent may not see those: the
visibility rule has something to filter), each with two customer messages and then an internal
note (so every row's preview has a note to step over); half of Mine's marked read by the agent,
and every tenth note mentions them; one more conversation in Mine with `--thread` (1,000) messages
(customer messages, every fourth a note) and an assignment every hundred. On PostgreSQL the
preparation ends with ANALYZE, as autovacuum would soon do.

Then, one request at a time over one keep-alive connection, `--requests` (50) times each after 5
unmeasured ones:
- `inbox`: `GET /api/v1/conversations?view=teams&limit=500` as the agent (500 rows, 2,000 candidates);
- `inbox_all`: `GET /api/v1/conversations?view=all&limit=500` as the supervisor (4,000 candidates);
- `counts`: `GET /api/v1/conversations/counts` as the agent;
- `open`: `GET /api/v1/conversations/{id}` of the long thread as the agent (its latest 100 messages
  and the page's events);
- `open_500`: the same with `limit=500`.
The time is the client's, from sending the request to the last byte of the answer, on the same
machine (loopback): the server's time plus a loopback round trip. Also reported: the answer's size,
the server process's CPU per request, and the cores other processes used meanwhile (PostgreSQL's
own work included): on a shared box the wall times grow with that.

Target (issue 14): under 100 ms for the inbox of 500 and for opening the 1,000-message
conversation, on SQLite and on PostgreSQL.

Run: `python -m bench.console_api` (both databases), `--db sqlite` for one. Results are printed and
written as JSON to bench/out/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
    ROOT,
    ServerProcess,
    add_run_arguments,
    fmt,
    fresh_postgres,
    machine,
    percentile,
    wait_until_quiet,
)
from bench.inbound_api import hub_tree
from bench.machine import busy_cpu_seconds

PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
TARGET_MS = 100.0
WARMUP_REQUESTS = 5

# Run by the hub's own interpreter and source tree (as bench.routing does): the benchmark process
# never imports the hub.
PREPARE_SCRIPT = """
import json, sys, time
from datetime import timedelta
from unittest import mock

from hub.agents import actions as agents
from hub.conversations.actions import do_add_note, do_assign, get_conversation
from hub.ingest.entry import do_ingest
from hub.conversations.inbox import do_mark_read
from hub.db import Database
from hub.migrate import upgrade
from hub.ports import ContactRef, InboundMessage

url, n, thread = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
upgrade(url)
db = Database(url)
password = "bench-password-123"
one_hash = agents.hash_password(password)
started = time.perf_counter()
with db.write() as s, mock.patch.object(agents, "hash_password", lambda _password: one_hash):
    mine, other = agents.do_create_team(s, "Mine"), agents.do_create_team(s, "Other")
    agent = agents.do_create_agent(s, email="agent@bench.example", name="Agent", role="agent", password=password)
    agents.do_add_member(s, mine, agent)
    boss = agents.do_create_agent(s, email="boss@bench.example", name="Boss", role="supervisor", password=password)
    tokens = {"agent": agents.do_create_token(s, agent, timedelta(hours=12)),
              "supervisor": agents.do_create_token(s, boss, timedelta(hours=12))}
    ids = {"agent": agent.id, "mine": mine.id, "other": other.id}


def message(scope, i, email, name=None, text="Hello, I have a question about my order"):
    return InboundMessage(channel="api", source="bench", ingest_scope="api:bench", external_id=f"{scope}{i}",
                          contact=ContactRef(email=email, name=name), text=text)


for first in range(0, 2 * n, 250):
    with db.write() as s:
        for i in range(first, min(2 * n, first + 250)):
            team = ids["mine"] if i % 2 == 0 else ids["other"]
            email = f"customer{i}@bench.example"
            r = do_ingest(s, message("a", i, email, name=f"Customer {i}"))
            do_ingest(s, message("b", i, email, text="Any news? " * 20))
            conv = get_conversation(s, r.conversation_id)
            do_assign(s, conv, assignee_id=None, team_id=team, actor_agent_id=None, reason="bench")
            do_add_note(s, conv, agent_id=ids["agent"], text="Internal: check the warehouse first.",
                        mentions=[ids["agent"]] if i % 20 == 0 else [])
            if team == ids["mine"] and i % 4 == 0:
                s.flush()
                do_mark_read(s, ids["agent"], r.conversation_id)
long_id = None
for first in range(0, thread, 250):
    with db.write() as s:
        for i in range(first, min(thread, first + 250)):
            if long_id is not None and i % 4 == 3:
                do_add_note(s, get_conversation(s, long_id), agent_id=ids["agent"], text=f"note {i}")
                continue
            r = do_ingest(s, message("t", i, "long@bench.example", name="Long Thread", text=f"message {i}"))
            if long_id is None:
                long_id = r.conversation_id
            if i % 100 == 0:
                do_assign(s, get_conversation(s, long_id), assignee_id=None, team_id=ids["mine"],
                          actor_agent_id=None, reason="bench")
if db.is_postgres:
    from sqlalchemy import text
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
db.dispose()
print(json.dumps({"tokens": tokens, "long_id": long_id, "seconds": time.perf_counter() - started}))
"""


def prepare(url: str, args: argparse.Namespace) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", PREPARE_SCRIPT, url, str(args.conversations), str(args.thread)],
                          cwd=args.hub_src, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"preparing the hub database failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@contextmanager
def fresh_database(kind: str) -> Iterator[str]:
    if kind == "postgres":
        with fresh_postgres(PG_ADMIN_URL) as url:
            yield url
    else:
        with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'hub.db'}"


def hub_server(url: str, args: argparse.Namespace) -> ServerProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_DATABASE_URL"] = url
    command = lambda port: [sys.executable, "-m", "config.cli", "serve", "--port", str(port),  # noqa: E731
                            "--log-level", "warning"]
    return ServerProcess("hub", command, env, cwd=args.hub_src)


def measure(server: ServerProcess, path: str, token: str, n: int, check: Any) -> dict[str, Any]:
    """`n` requests one after the other on one connection, after WARMUP_REQUESTS unmeasured ones."""
    times: list[float] = []
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        for i in range(WARMUP_REQUESTS + n):
            if i == WARMUP_REQUESTS:
                cpu_before, busy_before = server.cpu_seconds(), busy_cpu_seconds()
                own_before, wall_before = time.process_time(), time.perf_counter()
            started = time.perf_counter()
            resp = client.get(path)
            elapsed = time.perf_counter() - started
            if resp.status_code != 200:
                raise RuntimeError(f"{path}: {resp.status_code} {resp.text[:300]}")
            if i >= WARMUP_REQUESTS:
                times.append(elapsed * 1000)
        cpu = server.cpu_seconds() - cpu_before
        wall = time.perf_counter() - wall_before
        others = (busy_cpu_seconds() - busy_before - cpu - (time.process_time() - own_before)) / wall
        check(resp.json())
    times.sort()
    return {"path": path, "requests": n, "bytes": len(resp.content), "p50_ms": percentile(times, 50),
            "p90_ms": percentile(times, 90), "p99_ms": percentile(times, 99), "max_ms": times[-1],
            "cpu_ms_per_request": cpu * 1000 / n, "others_cores": others}


def expect_rows(count: int, *, some_read: bool) -> Any:
    def check(body: dict[str, Any]) -> None:
        items = body["items"]
        assert len(items) == count, len(items)
        assert all("Internal" not in r["preview"] for r in items), "a note in a preview"
        assert any(r["unread"] for r in items) and (not some_read or not all(r["unread"] for r in items))
    return check


def expect_thread(limit: int, thread: int) -> Any:
    def check(body: dict[str, Any]) -> None:
        assert len(body["messages"]) == min(limit, thread) and (body["next_before"] is not None) == (thread > limit)
    return check


def run_db(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    with fresh_database(kind) as url:
        print(f"[{kind}] preparing {2 * args.conversations} conversations and a thread of {args.thread}...",
              flush=True)
        prepared = prepare(url, args)
        print(f"[{kind}] prepared in {prepared['seconds']:.0f} s", flush=True)
        if args.quiet_wait > 0:
            wait_until_quiet(args.quiet_cores, args.quiet_wait)
        agent, boss = prepared["tokens"]["agent"], prepared["tokens"]["supervisor"]
        long_id = prepared["long_id"]
        with hub_server(url, args) as server:
            results = {
                "inbox": measure(server, "/api/v1/conversations?view=teams&limit=500", agent, args.requests,
                                 expect_rows(min(500, args.conversations + 1), some_read=True)),
                "inbox_all": measure(server, "/api/v1/conversations?view=all&limit=500", boss, args.requests,
                                     expect_rows(min(500, 2 * args.conversations + 1), some_read=False)),
                "counts": measure(server, "/api/v1/conversations/counts", agent, args.requests,
                                  lambda body: body["teams"] == args.conversations + 1 or body),
                "open": measure(server, f"/api/v1/conversations/{long_id}", agent, args.requests,
                                expect_thread(100, args.thread)),
                "open_500": measure(server, f"/api/v1/conversations/{long_id}?limit=500", agent, args.requests,
                                    expect_thread(500, args.thread)),
            }
    return {"db": kind, "prepare_seconds": prepared["seconds"], "results": results}


def print_table(runs: list[dict[str, Any]]) -> None:
    print(f"\n{'db':<9}{'request':<11}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}{'CPU ms':>9}{'KiB':>8}"
          f"{'others':>8}")
    for run in runs:
        for name, r in run["results"].items():
            print(f"{run['db']:<9}{name:<11}{fmt(r['p50_ms']):>9}{fmt(r['p90_ms']):>9}{fmt(r['p99_ms']):>9}"
                  f"{fmt(r['max_ms']):>9}{fmt(r['cpu_ms_per_request']):>9}{r['bytes'] / 1024:>8.0f}"
                  f"{fmt(r['others_cores']):>8}")
    for run in runs:
        for name in ("inbox", "open"):
            p99 = run["results"][name]["p99_ms"]
            verdict = "met" if p99 is not None and p99 < TARGET_MS else "NOT met"
            print(f"target {run['db']} {name}: p99 {fmt(p99)} ms < {TARGET_MS:.0f} ms: {verdict}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.console_api", description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--conversations", type=int, default=2000, help="open conversations per team (default 2000)")
    p.add_argument("--thread", type=int, default=1000, help="messages in the long conversation (default 1000)")
    p.add_argument("--requests", type=int, default=50, help="measured requests per kind (default 50)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    add_run_arguments(p)
    args = p.parse_args(argv)
    with hub_tree(args) as hub_source:
        runs = [run_db(kind, args) for kind in (["sqlite", "postgres"] if args.db == "both" else [args.db])]
    print_table(runs)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"console-api-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({
        "machine": machine(),
        "command": " ".join(["python -m bench.console_api", *(argv if argv is not None else sys.argv[1:])]),
        "hub_source": hub_source,
        "runs": runs,
    }, indent=2))
    print(f"written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
