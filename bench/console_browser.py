"""In the browser: the time from a customer's message posted to the inbound API to its row on an
agent's screen (issue 14 target: p99 under 300 ms at 20 messages a second).

For each database (SQLite, PostgreSQL), in a fresh database and one real hub process (uvicorn
`config.app:create_app`, no Redis), a supervisor's console in Debian's Chromium (headless, through
Playwright) shows the `all` view. `--customers` (40) customers write once (their conversations,
unmeasured); then messages go out on a fixed schedule (open loop) at `--rate` (20) a second for
`--seconds` (20), each into one of those conversations, its text carrying a marker. In the page, a
MutationObserver notes when each marker first shows in a row (the row's preview, updated in place
from the websocket). Latency = that moment minus the message's *scheduled* send time (one clock: the
same machine), so a hub that falls behind cannot hide its queue by slowing the sender.

Run: `python -m bench.console_browser` (both databases) or `--db sqlite`. Prints a JSON line per
database and a summary; nothing is written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.harness import ROOT, ServerProcess, fresh_postgres, percentile, uvicorn_command
from bench.machine import machine

PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "bench password 123"
OBSERVER = """() => {
  window.__seen = {};
  const rows = document.querySelector('.rows');
  const look = () => {
    const now = Date.now();  // the wall clock, as the sender's time.time()
    for (const el of rows.querySelectorAll('.row-preview')) {
      const m = /mk(\\d+)/.exec(el.textContent);
      if (m && !(m[1] in window.__seen)) window.__seen[m[1]] = now;
    }
  };
  new MutationObserver(look).observe(rows, {subtree: true, childList: true, characterData: true});
}"""


def setup(url: str) -> str:
    """Migrate, then a supervisor and an API key through the hub's own actions; returns the key."""
    from hub.agents import actions
    from hub.db import Database
    from hub.migrate import upgrade

    upgrade(url)
    db = Database(url)
    with db.write() as s:
        actions.do_create_agent(s, email="boss@bench.example", name="Bench Boss", role="supervisor",
                                password=PASSWORD, capacities={"api": 0})
        _, key = actions.do_create_api_key(s, name="bench", created_by=None)
    db.dispose()
    return key


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "postgres":
        with fresh_postgres(PG_ADMIN_URL) as url:
            yield url
        return
    with tempfile.TemporaryDirectory(prefix="bench-console-") as d:
        yield f"sqlite:///{Path(d) / 'hub.db'}"


def hub_server(url: str) -> ServerProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_DATABASE_URL"] = url
    base = uvicorn_command("config.app:create_app")
    # The public URL is the server's own (the hub refuses cookie requests from other origins).
    return ServerProcess("hub", lambda port: ["env", f"HUB_PUBLIC_URL=http://127.0.0.1:{port}", *base(port)],
                         env, cwd=ROOT)


def body(i: int, customer: int, text: str) -> dict[str, Any]:
    return {"source": "bench", "external_id": f"b{i}", "text": text,
            "contact": {"email": f"customer{customer}@bench.example", "name": f"Customer {customer}"}}


Times = dict[int, float]


async def send_all(server: ServerProcess, key: str, args: argparse.Namespace) -> tuple[Times, Times]:
    """Posts on schedule; returns each marker's scheduled time and the time its answer came (epoch ms)."""
    scheduled: dict[int, float] = {}
    answered: dict[int, float] = {}
    headers = {"X-Api-Key": key}
    count = int(args.rate * args.seconds)
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
        start = time.time() + 0.5
        tasks = []
        for i in range(count):
            at = start + i / args.rate
            await asyncio.sleep(max(0.0, at - time.time()))
            scheduled[i] = at * 1000
            tasks.append(asyncio.create_task(post(client, i, args, answered)))
        await asyncio.gather(*tasks)
    return scheduled, answered


async def post(client: httpx.AsyncClient, i: int, args: argparse.Namespace, answered: dict[int, float]) -> None:
    resp = await client.post("/api/v1/inbound/messages", json=body(
        10_000 + i, i % args.customers, f"Another question, reference mk{i} please"))
    resp.raise_for_status()
    answered[i] = time.time() * 1000


def run(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with database(kind) as url:
        key = setup(url)
        with hub_server(url) as server, sync_playwright() as pw:
            token = httpx.post(f"{server.url}/api/v1/auth/login",
                               json={"email": "boss@bench.example", "password": PASSWORD}).json()["token"]
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"])
            # bypass_csp: the page functions below are evaluated as strings (the console itself needs no eval).
            context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=server.url, bypass_csp=True)
            context.add_cookies([{"name": "hub_session", "value": token, "url": server.url}])
            page = context.new_page()
            page.goto("/#/inbox/all")
            page.wait_for_selector(".views")
            with httpx.Client(base_url=server.url, headers={"X-Api-Key": key}) as client:
                for c in range(args.customers):
                    client.post("/api/v1/inbound/messages", json=body(c, c, "Hello")).raise_for_status()
            page.wait_for_function(f"document.querySelectorAll('.row-item').length >= {args.customers}", timeout=30_000)
            page.mouse.move(700, 400)  # over the conversation pane, not the list
            page.evaluate(OBSERVER)
            cpu0 = server.cpu_seconds()
            # Playwright's sync API owns this thread's event loop: the sender gets its own thread.
            with ThreadPoolExecutor(1) as pool:
                scheduled, answered = pool.submit(asyncio.run, send_all(server, key, args)).result()
            cpu = server.cpu_seconds() - cpu0
            deadline = time.time() + 10
            seen: dict[str, float] = {}
            while time.time() < deadline:
                seen = page.evaluate("window.__seen")
                if len(seen) >= len(scheduled):
                    break
                page.wait_for_timeout(200)
            browser.close()
    latencies = sorted(seen[str(i)] - at for i, at in scheduled.items() if str(i) in seen)
    # The share after the hub answered the sender (committed): the socket and the page.
    after_commit = sorted(seen[str(i)] - at for i, at in answered.items() if str(i) in seen)
    answer = sorted(answered[i] - scheduled[i] for i in answered)
    return {
        "db": kind, "rate": args.rate, "seconds": args.seconds, "sent": len(scheduled), "seen": len(latencies),
        "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99), "max_ms": latencies[-1] if latencies else None,
        "answer_p99_ms": percentile(answer, 99), "after_answer_p50_ms": percentile(after_commit, 50),
        "after_answer_p99_ms": percentile(after_commit, 99),
        "hub_cpu_per_message_ms": 1000 * cpu / max(1, len(scheduled)),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--rate", type=float, default=20.0, help="messages a second")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--customers", type=int, default=40)
    args = p.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing (apt-get install chromium)")
    print(json.dumps({"machine": machine()}))
    for kind in (["sqlite", "postgres"] if args.db == "both" else [args.db]):
        result = run(kind, args)
        print(json.dumps(result))
        print(f"{kind}: {result['seen']}/{result['sent']} on screen; p50 {result['p50_ms']:.0f} ms, "
              f"p99 {result['p99_ms']:.0f} ms, max {result['max_ms']:.0f} ms (target: p99 < 300 ms)",
              file=sys.stderr)


if __name__ == "__main__":
    main()
