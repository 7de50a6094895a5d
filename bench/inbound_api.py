"""Inbound API messages, from the POST to a connected agent's websocket: the hub beside the floor.

For each database (SQLite, PostgreSQL) and each app (bench.floor, then the real hub from
config.app.create_app), in a fresh database and a fresh server process:
1. warm up (this also creates the conversations of the simulated customers);
2. saturation: `--clients` concurrent clients post as fast as they are answered (closed loop);
3. latency: posts on a fixed schedule at `--load` (default 50%) of the app's own saturation rate.

Run: `make bench`, or `python -m bench.inbound_api --db sqlite --seconds 5`. Results are printed and
written as JSON to bench/out/.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection

from bench import http1
from bench.harness import (
    ROOT,
    Listener,
    Phase,
    PhaseResult,
    Post,
    ServerProcess,
    add_run_arguments,
    fmt,
    fresh_postgres,
    machine,
    run_async,
    run_phase,
    source_version,
    uvicorn_command,
    wait_until_quiet,
)

PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
AGENT_EMAIL = "bench.agent@bench.example"
AGENT_PASSWORD = "bench-password-123"
TARGET_RATIO = 0.6
TARGET_P99_MS = 100.0


# -- what both apps are sent, and how a message is recognized on the websocket ------------------

def inbound_body(marker: str, customer: int) -> dict[str, Any]:
    return {
        "source": "bench",
        "external_id": marker,
        "contact": {"email": f"customer{customer}@bench.example", "name": f"Customer {customer}"},
        "text": f"Hello, where is my order? {marker}",
    }


def extract_marker(frame: dict[str, Any]) -> str | None:
    """Both apps send `{"type": "message.created", "data": {"message": {"text": ...}}}`."""
    if frame.get("type") != "message.created":
        return None
    text = frame.get("data", {}).get("message", {}).get("text", "")
    return str(text).rsplit(" ", 1)[-1] or None


def poster(path: str, headers: dict[str, str], customers: int) -> Post:
    """Posts to `path`; customers take turns, so most messages continue an open conversation."""
    turn = itertools.count()

    async def post(client: http1.Client, marker: str) -> None:
        resp = await client.post_json(path, inbound_body(marker, next(turn) % customers), headers)
        if resp.status != 201:
            raise RuntimeError(f"HTTP {resp.status}: {resp.body[:200]!r}")

    return post


# -- the hub: a prepared database, the real app in its own process, an agent's websocket --------

# Run by the hub's own interpreter and source tree, so a `--hub-src`/`--hub-commit` tree migrates
# its own schema; the benchmark process itself never imports the hub.
PREPARE_SCRIPT = """
import sys
from hub.agents.actions import do_create_agent, do_create_api_key
from hub.db import Database
from hub.migrate import upgrade

url, email, password = sys.argv[1:4]
upgrade(url)
db = Database(url)
with db.write() as s:
    agent = do_create_agent(s, email=email, name="Bench Agent", role="agent", password=password)
    _, secret = do_create_api_key(s, name="bench", created_by=agent.id)
db.dispose()
print(secret)
"""


def prepare_hub_database(url: str, src: Path = ROOT) -> str:
    """Migrate, create one agent and an API key through the hub's own actions; return the key."""
    done = subprocess.run([sys.executable, "-c", PREPARE_SCRIPT, url, AGENT_EMAIL, AGENT_PASSWORD], cwd=src,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"preparing the hub database failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1]


def hub_server(database_url: str, src: Path = ROOT, settings: dict[str, str] | None = None) -> ServerProcess:
    """`config.app:create_app` built from HUB_* variables: the default single process (no Redis).

    `src` is the source tree the server imports the hub from (its working directory comes first on
    `sys.path`): this checkout, or e.g. a copy of it with a change to compare. `settings`: more
    HUB_* variables (e.g. a channel's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_DATABASE_URL"] = database_url
    env.update(settings or {})
    return ServerProcess("hub", uvicorn_command("config.app:create_app"), env, cwd=src)


def agent_token(server: ServerProcess) -> str:
    """The benchmark agent's session token (logged in over HTTP, as the console does)."""
    resp = httpx.post(server.url + "/api/v1/auth/login", json={"email": AGENT_EMAIL, "password": AGENT_PASSWORD})
    resp.raise_for_status()
    return str(resp.json()["token"])


def agent_listener(server: ServerProcess) -> Listener:
    token = agent_token(server)

    async def resume(conn: ClientConnection) -> None:
        await conn.send(json.dumps({"type": "resume", "last_event_id": 0}))
        while json.loads(await conn.recv()).get("type") != "ready":
            pass
        # As a console does: the agent is online, so routing offers them conversations.
        await conn.send(json.dumps({"type": "presence", "presence": "online"}))

    return Listener(server.ws_url + "/ws/agent", extract_marker, handshake=resume,
                    headers={"Authorization": f"Bearer {token}"})


def floor_server(database_url: str) -> ServerProcess:
    env = dict(os.environ, FLOOR_DATABASE_URL=database_url)
    return ServerProcess("floor", uvicorn_command("bench.floor:create_app"), env)


# -- running it ---------------------------------------------------------------------------------

def measure(server: ServerProcess, listener: Listener, post: Post, args: argparse.Namespace) -> list[PhaseResult]:
    async def phase(spec: Phase) -> PhaseResult:
        result = await run_phase(server, listener, post, spec)
        print(f"  {server.name} {spec.name}: {result.throughput:,.0f} msgs/s, p50 {fmt(result.p50_ms)} ms, "
              f"p99 {fmt(result.p99_ms)} ms (HTTP answer p50 {fmt(result.ack_p50_ms)} p99 {fmt(result.ack_p99_ms)}), "
              f"{fmt(result.server_cpu_ms_per_msg, 2)} ms CPU/msg, "
              f"CPU server {result.server_cpu:.0%} generator {result.loadgen_cpu:.0%} "
              f"others {result.other_cpu:.0%}, lost {result.lost}, errors {result.errors}"
              + (f" (first: {result.first_error})" if result.first_error else ""), file=sys.stderr)
        return result

    async def phases() -> list[PhaseResult]:
        async with listener:
            if (warmup := await phase(Phase("warmup", args.warmup, args.clients))).failed:
                return [warmup, warmup]
            if (saturation := await phase(Phase("saturation", args.seconds, args.clients))).failed:
                return [saturation, saturation]
            rate = args.rate or saturation.throughput * args.load
            latency = await phase(Phase("latency", args.seconds, args.clients, rate=rate))
        return [saturation, latency]

    return run_async(phases())  # type: ignore[no-any-return]


def postgres_version() -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, connect_timeout=5) as conn:
        return str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]


@contextmanager
def fresh_database(kind: str, name: str) -> Iterator[str]:
    if kind == "postgres":
        with fresh_postgres(PG_ADMIN_URL) as url:
            yield url
    else:
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
            yield f"sqlite:///{Path(tmp) / f'{name}.db'}"


def settle(args: argparse.Namespace) -> None:
    if args.quiet_wait > 0:
        level = wait_until_quiet(args.quiet_cores, args.quiet_wait)
        print(f"  other processes use {level:.2f} cores", file=sys.stderr)


def run_floor(kind: str, args: argparse.Namespace) -> list[PhaseResult]:
    with fresh_database(kind, "floor") as url, floor_server(url) as server:
        print(f"[{kind}] floor on {server.url}", file=sys.stderr)
        settle(args)
        listener = Listener(server.ws_url + "/ws", extract_marker)
        return measure(server, listener, poster("/messages", {}, args.customers), args)


def run_hub(kind: str, args: argparse.Namespace) -> list[PhaseResult]:
    with fresh_database(kind, "hub") as url:
        key = prepare_hub_database(url, args.hub_src)
        with hub_server(url, args.hub_src) as server:
            print(f"[{kind}] hub on {server.url}", file=sys.stderr)
            settle(args)
            post = poster("/api/v1/inbound/messages", {"X-Api-Key": key}, args.customers)
            return measure(server, agent_listener(server), post, args)


@contextmanager
def exported(rev: str) -> Iterator[Path]:
    """The app's packages as of commit `rev`, in a temporary directory (bench/ itself stays current)."""
    commit = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix=f"bench-hub-{commit[:9]}-") as tmp:
        archive = subprocess.run(["git", "archive", "--format=tar", commit, "--", "config", "hub", "channels",
                                  "agents_ui", "templates"], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        (Path(tmp) / "COMMIT").write_text(commit + "\n")
        yield Path(tmp)


@contextmanager
def hub_tree(args: argparse.Namespace) -> Iterator[str]:
    """For the block: `args.hub_src` is the tree to run the hub from (`--hub-commit` exported, or
    `--hub-src`); yields its version (taken now: others may commit meanwhile)."""
    with contextlib.ExitStack() as stack:
        if args.hub_commit:
            args.hub_src = stack.enter_context(exported(args.hub_commit))
        yield source_version(args.hub_src)


Runner = Callable[[str, argparse.Namespace], list[PhaseResult]]


def measure_rounds(kinds: list[str], runners: dict[str, Runner], args: argparse.Namespace,
                   ) -> dict[str, dict[str, list[list[PhaseResult]]]]:
    """`args.repeat` rounds per database; each round measures every app once, one right after the
    other. The VM's speed drifts over minutes (the floor alone has moved by a quarter between two
    runs ten minutes apart, with nothing else running), so a hub run is only compared with the
    floor run of its own round, never with one measured minutes earlier."""
    every_run: dict[str, dict[str, list[list[PhaseResult]]]] = {}
    for kind in kinds:
        every_run[kind] = {app: [] for app in runners}
        for _ in range(args.repeat):
            for app, runner in runners.items():
                every_run[kind][app].append(runner(kind, args))
    return every_run


def verdict(floor_runs: list[list[PhaseResult]], hub_runs: list[list[PhaseResult]]) -> dict[str, Any]:
    """The median over rounds of hub/floor throughput (each round's own pair) and of the hub's p99
    in the latency phase (at `--load` of its saturation rate, or `--rate`); every round's figures
    are kept beside it. A failed latency phase makes the p99 verdict "missed"."""
    ratios = [hub[0].throughput / floor[0].throughput if floor[0].throughput else 0.0
              for floor, hub in zip(floor_runs, hub_runs, strict=True)]
    # A round in which either app's saturation phase failed says nothing about the ratio (a floor
    # whose socket died would even flatter the hub): then the verdict cannot be "met".
    failed = any(run[0].failed for run in floor_runs + hub_runs)
    p99s = [None if hub[1].failed else hub[1].p99_ms for hub in hub_runs]
    ratio = statistics.median(ratios)
    p99 = None if None in p99s else statistics.median(p99s)  # type: ignore[type-var]
    return {
        "throughput_ratio": round(ratio, 3),
        "round_ratios": [round(r, 3) for r in ratios],
        "a_round_failed": failed,
        "ratio_met": ratio >= TARGET_RATIO and not failed,
        "hub_p99_ms_at_load": p99,
        "round_p99_ms": p99s,
        "p99_met": p99 is not None and p99 < TARGET_P99_MS and all(hub[1].lost == 0 for hub in hub_runs),
    }


def table(every_run: dict[str, dict[str, list[list[PhaseResult]]]], load: float) -> str:
    pct = f"{load:.0%}"
    lines = [
        f"| db | round | app | saturation msgs/s | server CPU | CPU ms/msg | rate at {pct} | p50 ms | p90 ms "
        "| p99 ms | max ms | lost/errors | others' CPU |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    failures = []
    for kind, apps in every_run.items():
        rounds = max(len(runs) for runs in apps.values())
        for i in range(rounds):
            for app, runs in apps.items():
                sat, lat = runs[i]
                lines.append(
                    f"| {kind} | {i + 1} | {app} | {fmt(sat.throughput, 0)} | {sat.server_cpu:.0%} "
                    f"| {fmt(sat.server_cpu_ms_per_msg, 2)} | {fmt(lat.target_rate, 0)} "
                    f"| {fmt(lat.p50_ms)} | {fmt(lat.p90_ms)} | {fmt(lat.p99_ms)} | {fmt(lat.max_ms)} "
                    f"| {sat.lost + lat.lost}/{sat.errors + lat.errors} | {max(sat.other_cpu, lat.other_cpu):.2f} |"
                )
                if sat.failed or lat.failed:
                    bad = sat if sat.failed else lat
                    failures.append(f"\n**{kind} {app}, round {i + 1}: the {bad.name} phase failed** "
                                    f"({bad.posted} posted, {bad.delivered} delivered, {bad.errors} errors; "
                                    f"first: {bad.first_error})")
    return "\n".join(lines + failures)


def report(args: argparse.Namespace, argv: list[str] | None, runners: dict[str, Runner], *, name: str,
           what: str) -> int:
    """Measure the `--apps` of `runners` (the floor, then the hub under test; the hub as of
    `--hub-commit` if given) in rounds, print the table and the verdict per database, and write
    everything to bench/out/NAME-<time>.json."""
    with contextlib.ExitStack() as stack:
        if args.hub_commit:
            args.hub_src = stack.enter_context(exported(args.hub_commit))
        return _report(args, argv, {app: runners[app] for app in args.apps}, name=name, what=what)


def _report(args: argparse.Namespace, argv: list[str] | None, runners: dict[str, Runner], *, name: str,
            what: str) -> int:
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    hub_source = source_version(args.hub_src)  # before the run: others may commit meanwhile
    every_run = measure_rounds(kinds, runners, args)
    hub_app = next((app for app in reversed(runners) if app != "floor"), None)
    verdicts = {kind: verdict(apps["floor"], apps[hub_app]) for kind, apps in every_run.items()
                if hub_app is not None and {"floor", hub_app} <= apps.keys()}

    print(f"hub source: {hub_source}")
    print(table(every_run, args.load))
    for kind, v in verdicts.items():
        rounds = ", ".join(f"{r:.0%}" for r in v["round_ratios"])
        print(f"{kind}: {what}/floor throughput {v['throughput_ratio']:.0%} (median of rounds: {rounds}"
              f"{'; a round FAILED' if v['a_round_failed'] else ''}; target >= "
              f"{TARGET_RATIO:.0%}: {'met' if v['ratio_met'] else 'MISSED'}); hub p99 at {args.load:.0%} load "
              f"{fmt(v['hub_p99_ms_at_load'])} ms (target < {TARGET_P99_MS:.0f} ms: "
              f"{'met' if v['p99_met'] else 'MISSED'})")

    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({
        "machine": machine(),
        "command": " ".join([f"python -m bench.{name}", *(argv if argv is not None else sys.argv[1:])]),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "hub_source": hub_source,
        "postgres_server": postgres_version() if "postgres" in kinds else None,
        "verdicts": verdicts,
        "every_run": {kind: {app: [[r.as_dict() for r in run] for run in runs] for app, runs in apps.items()}
                      for kind, apps in every_run.items()},
    }, indent=2))
    print(f"written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


def add_common_arguments(p: argparse.ArgumentParser, apps: str) -> None:
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each measured phase (default 10)")
    p.add_argument("--warmup", type=float, default=3.0, help="warm-up before measuring (default 3)")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients at saturation (default 32)")
    p.add_argument("--load", type=float, default=0.5, help="latency phase rate, as a fraction of saturation")
    p.add_argument("--rate", type=float, help="latency phase at this many msgs/s instead (to compare changes)")
    p.add_argument("--apps", type=lambda v: v.split(","), default=apps.split(","),
                   help=f"comma-separated, in order (default {apps})")
    p.add_argument("--repeat", type=int, default=3,
                   help="rounds per database, each measuring every app once in turn; the verdict is the "
                        "median of the rounds' hub/floor ratios (default 3)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    add_run_arguments(p)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.inbound_api", description=__doc__.split("\n\n")[0])
    add_common_arguments(p, "floor,hub")
    p.add_argument("--customers", type=int, default=200, help="distinct customers writing (default 200)")
    args = p.parse_args(argv)
    return report(args, argv, {"floor": run_floor, "hub": run_hub}, name="inbound_api", what="hub")


if __name__ == "__main__":
    sys.exit(main())
