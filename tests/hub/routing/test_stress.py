"""Atomic assignment under concurrency (DESIGN.md contract 6), with two real `hub serve` processes.

Two hub processes share one PostgreSQL database and one Redis prefix. Customers write in through
both of them at once while agents go on and offline through both, and resolved conversations free
capacity. Capacity is tiny (api: 2) so that the queue is long and every free slot is fought over.

The invariants, checked at sampled moments while the load runs and once more at the end:
- no agent ever holds more open API conversations than their capacity (a SQL count, which is one
  consistent snapshot);
- replaying the event log in commit order (ids commit in order, contract 4): every automatic
  assignment goes to an online agent with a free slot, of a conversation that is open and has no
  assignee at that point, so a conversation never has two assignees and capacity is never
  exceeded between two samples either;
- at the end the log and the rows agree.
And the queue drains by itself once everyone is online, and again as capacity frees up; no request
fails and neither process logs an error.

Two smaller tests pin down, deterministically, the two bugs this stress test found (both fixed
since): the routing loop spinning on the event loop (9a3a985), and going offline taking the agent's
row and the event-log lock before the routing lock, which deadlocked with routing (d318c61).
"""

from __future__ import annotations

import os
import random
import select
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import tuple_row

from hub.agents import actions as agent_actions
from hub.db import WRITE_LOCK_KEY, Database
from hub.runtime import Hub, HubOptions
from tests.conftest import wait_for
from tests.services import REDIS_URL, free_port

ROOT = Path(__file__).resolve().parents[3]
_HUB_SCRIPT = Path(sys.executable).with_name("hub")
HUB_SERVE = [str(_HUB_SCRIPT), "serve"] if _HUB_SCRIPT.exists() else [sys.executable, "-m", "config.cli", "serve"]
CAPACITY = 2
AGENTS = 10
ALWAYS_ONLINE = 3  # agents 0..2 stay online throughout; the others are toggled
ARRIVALS = 200
ARRIVAL_SECONDS = 8.0
RESOLVE_BUDGET = 110  # resolutions while customers arrive: leaves a backlog of 70+ for the drain phases
REQUEST_TIMEOUT = 10.0
LOAD_GRACE = 12.0  # how late the last arrival may be answered before the run counts as wedged



# -- the two hub processes ----------------------------------------------------------------------


class HubProcess:
    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix=f"hub-{name}-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen(
            [*HUB_SERVE, "--port", str(self.port), "--log-level", "warning"],
            env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.output()}")
        try:
            return httpx.get(self.url + "/readyz", timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return Path(self.log.name).read_text(errors="replace")


def stop_all(servers: list[HubProcess], timeout: float = 5.0) -> None:
    """SIGTERM all at once; kill whatever has not exited in time (a wedged event loop never will)."""
    for s in servers:
        if s.proc.poll() is None:
            s.proc.terminate()
    deadline = time.monotonic() + timeout
    for s in servers:
        try:
            s.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            s.proc.kill()
            s.proc.wait(5)
        s.log.close()


# -- the invariants ---------------------------------------------------------------------------


@dataclass
class Replay:
    """The event log replayed in commit order, checking every automatic assignment as it happened."""

    capacity: int
    cursor: int = 0
    holder: dict[int, int | None] = field(default_factory=dict)
    status: dict[int, str] = field(default_factory=dict)
    load: Counter[int] = field(default_factory=Counter)
    presence: dict[int, str] = field(default_factory=dict)
    auto_assignments: int = 0
    violations: list[str] = field(default_factory=list)

    def feed(self, rows: list[tuple[int, str, int | None, dict[str, Any]]]) -> None:
        for event_id, kind, conv_id, data in rows:
            self.cursor = event_id
            if kind == "presence.changed":
                self.presence[data["agent_id"]] = data["presence"]
            elif conv_id is None:
                continue
            elif kind == "conversation.status_changed":
                self._status(conv_id, data["to"])
            elif "assignee_id" in data and "from_assignee_id" in data:  # assigned, requeued, transferred...
                self._assign(event_id, kind, conv_id, data)
            elif kind == "conversation.offered":
                self.violations.append(f"event {event_id}: conversation {conv_id} was offered (API has no offers)")

    def _status(self, conv_id: int, to: str) -> None:
        was_open = self.status.get(conv_id, "open") == "open"
        agent = self.holder.get(conv_id)
        if agent is not None and was_open and to != "open":
            self.load[agent] -= 1
        elif agent is not None and not was_open and to == "open":
            self.load[agent] += 1
        self.status[conv_id] = to

    def _assign(self, event_id: int, kind: str, conv_id: int, data: dict[str, Any]) -> None:
        previous = self.holder.get(conv_id)
        new = data["assignee_id"]
        is_open = self.status.get(conv_id, "open") == "open"
        where = f"event {event_id} ({kind}) on conversation {conv_id}"
        if data["from_assignee_id"] != previous:
            self.violations.append(f"{where}: the row said from_assignee_id={data['from_assignee_id']} "
                                   f"but the log had it with {previous}")
        if data.get("reason") == "auto":
            self.auto_assignments += 1
            if previous is not None:
                self.violations.append(f"{where}: auto-assigned to agent {new} while agent {previous} had it")
            if not is_open:
                self.violations.append(f"{where}: auto-assigned while {self.status.get(conv_id)}")
            if self.presence.get(new) != "online":
                self.violations.append(f"{where}: auto-assigned to agent {new} who was {self.presence.get(new)}")
            if self.load[new] + 1 > self.capacity:
                self.violations.append(f"{where}: auto-assigned to agent {new} who already had "
                                       f"{self.load[new]} open (capacity {self.capacity})")
        if is_open:
            if previous is not None:
                self.load[previous] -= 1
            if new is not None:
                self.load[new] += 1
        self.holder[conv_id] = new


OVER_CAPACITY = """
    SELECT assignee_id, count(*) FROM conversations
    WHERE status = 'open' AND channel = 'api' AND assignee_id IS NOT NULL
    GROUP BY assignee_id HAVING count(*) > %s
"""
SNAPSHOT = """
    SELECT
      (SELECT count(*) FROM conversations
        WHERE status = 'open' AND assignee_id IS NULL AND offered_to_id IS NULL),
      (SELECT count(*) FROM agents a WHERE a.presence = 'online' AND (
        SELECT count(*) FROM conversations c
        WHERE c.assignee_id = a.id AND c.status = 'open' AND c.channel = 'api') < %s),
      (SELECT count(*) FROM conversations WHERE offered_to_id IS NOT NULL)
"""
EVENTS_AFTER = "SELECT id, type, conversation_id, payload FROM events WHERE id > %s ORDER BY id"


class Checker:
    """Samples the invariants from its own connection."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True, row_factory=tuple_row)
        self.lock = threading.Lock()  # the sampler thread and the test share this connection
        self.replay = Replay(CAPACITY)
        self.samples = 0
        self.contended = 0  # samples where conversations waited and every online agent was full

    def snapshot(self) -> tuple[int, int]:
        """(waiting conversations, online agents with a free slot)."""
        with self.lock:
            waiting, free_agents, offered = self.conn.execute(SNAPSHOT, (CAPACITY,)).fetchone()  # type: ignore[misc]
        if offered:
            self.replay.violations.append(f"{offered} conversations hold an offer (API has no offers)")
        return int(waiting), int(free_agents)

    def sample(self) -> None:
        with self.lock:
            for agent_id, n in self.conn.execute(OVER_CAPACITY, (CAPACITY,)).fetchall():
                self.replay.violations.append(f"sample {self.samples}: agent {agent_id} holds {n} open API "
                                              f"conversations (capacity {CAPACITY})")
            self.replay.feed(self.conn.execute(EVENTS_AFTER, (self.replay.cursor,)).fetchall())
        waiting, free_agents = self.snapshot()
        self.samples += 1
        if waiting and not free_agents:
            self.contended += 1

    def final_consistency(self) -> list[str]:
        """The rows agree with the replayed log."""
        problems = []
        with self.lock:
            rows = self.conn.execute("SELECT id, assignee_id, status FROM conversations").fetchall()
            sql_load = Counter(dict(self.conn.execute(
                "SELECT assignee_id, count(*) FROM conversations WHERE status = 'open' AND assignee_id IS NOT NULL "
                "GROUP BY assignee_id").fetchall()))
        for conv_id, assignee, status in rows:
            if self.replay.holder.get(conv_id) != assignee:
                problems.append(f"conversation {conv_id}: row assignee {assignee}, "
                                f"log {self.replay.holder.get(conv_id)}")
            if self.replay.status.get(conv_id, "open") != status:
                problems.append(f"conversation {conv_id}: row status {status}, log {self.replay.status.get(conv_id)}")
        log_load = Counter({a: n for a, n in self.replay.load.items() if n})
        if sql_load != log_load:
            problems.append(f"loads differ: rows {dict(sql_load)}, log {dict(log_load)}")
        return problems


# -- the load ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    requests: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, what: str, resp: httpx.Response, ok: tuple[int, ...] = (200, 201)) -> None:
        with self.lock:
            self.requests[what] += 1
            if resp.status_code not in ok:
                self.failures.append(f"{what}: HTTP {resp.status_code} {resp.text[:300]}")


def _prepare(url: str, agents: int = AGENTS) -> tuple[list[int], dict[int, str], str]:
    """Agents (some online) with login tokens, and an API key, through the hub's own actions."""
    db = Database(url)
    ids: list[int] = []
    tokens: dict[int, str] = {}
    try:
        with db.write() as s:
            for i in range(agents):
                agent = agent_actions.do_create_agent(s, email=f"stress{i}@test.example", name=f"Stress {i}",
                                                      role="agent", password="correct horse battery")
                s.flush()
                assert agent.id is not None
                ids.append(agent.id)
                tokens[agent.id] = agent_actions.do_create_token(s, agent, timedelta(hours=1))
                if i < ALWAYS_ONLINE or i % 2 == 0:
                    agent_actions.do_set_presence(s, agent, "online")
            _, key = agent_actions.do_create_api_key(s, name="stress", created_by=None)
    finally:
        db.dispose()
    return ids, tokens, key


@pytest.mark.postgres
@pytest.mark.redis
def test_two_processes_never_exceed_capacity_nor_double_assign(postgres_url: str, redis_prefix: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({
        "HUB_DATABASE_URL": postgres_url,
        "HUB_REDIS_URL": REDIS_URL,
        "HUB_REDIS_PREFIX": redis_prefix,
        "HUB_POLL_INTERVAL_SECONDS": "0.2",
        "HUB_ROUTING__DEFAULT_CAPACITY": f'{{"api": {CAPACITY}}}',
    })
    servers = [HubProcess("a", env), HubProcess("b", env)]
    agent_ids, tokens, key = _prepare(postgres_url)  # while the processes start
    try:
        checker = Checker(postgres_url)
    except BaseException:
        stop_all(servers)
        raise
    outcome = Outcome()
    rng = random.Random(20261123)
    arriving = threading.Event()
    resolving = threading.Event()
    stop = threading.Event()
    resolved = Counter[str]()
    passed = False

    def base(i: int) -> str:
        return servers[i % 2].url

    def set_presence(http: httpx.Client, n: int, agent: int, presence: str) -> httpx.Response:
        return http.post(base(n) + "/api/v1/agents/me/presence", json={"presence": presence},
                         headers={"Authorization": f"Bearer {tokens[agent]}"})

    def arrivals(worker: int, workers: int) -> None:
        """Open loop: message n is due at its slot of the schedule, alternating between the processes."""
        with httpx.Client(timeout=REQUEST_TIMEOUT) as http:
            start = time.monotonic()
            for n in range(worker, ARRIVALS, workers):
                if stop.is_set():
                    return
                if (delay := start + n * ARRIVAL_SECONDS / ARRIVALS - time.monotonic()) > 0:
                    time.sleep(delay)
                body = {"source": "stress", "external_id": f"m-{n}",
                        "contact": {"email": f"customer{n}@stress.example"}, "text": f"Help, please ({n})"}
                outcome.record("inbound", http.post(base(n) + "/api/v1/inbound/messages", json=body,
                                                    headers={"X-Api-Key": key}), ok=(201,))

    def toggler() -> None:
        togglable = agent_ids[ALWAYS_ONLINE:]
        with httpx.Client(timeout=REQUEST_TIMEOUT) as http:
            n = 0
            while arriving.is_set() and not stop.is_set():
                agent = rng.choice(togglable)
                outcome.record("presence", set_presence(http, n, agent, rng.choice(["online", "offline"])))
                n += 1
                time.sleep(0.05)

    def resolver(worker: int) -> None:
        """Agents resolve their conversations (each through its own process), freeing capacity."""
        with httpx.Client(timeout=REQUEST_TIMEOUT) as http, psycopg.connect(postgres_url, autocommit=True) as conn:
            n = worker
            while not stop.is_set():
                if not resolving.is_set() or (arriving.is_set() and resolved["during_load"] >= RESOLVE_BUDGET):
                    time.sleep(0.02)
                    continue
                rows = conn.execute(
                    "SELECT id, assignee_id FROM conversations WHERE status = 'open' AND assignee_id IS NOT NULL "
                    "AND id %% 2 = %s ORDER BY random() LIMIT 1", (worker,)).fetchall()
                if not rows:
                    time.sleep(0.02)
                    continue
                conv_id, agent = rows[0]
                resolved["during_load" if arriving.is_set() else "after"] += 1
                outcome.record("resolve", http.post(
                    base(n) + f"/api/v1/conversations/{conv_id}/status", json={"status": "resolved"},
                    headers={"Authorization": f"Bearer {tokens[agent]}"}))
                n += 1
                if arriving.is_set():
                    time.sleep(0.05)

    def sampler() -> None:
        while not stop.is_set():
            checker.sample()
            time.sleep(0.05)

    def guarded(target: Any) -> Any:
        def run(*args: Any) -> None:
            try:
                target(*args)
            except Exception as exc:
                outcome.failures.append(f"{target.__name__} thread: {exc!r}")
                stop.set()

        return run

    def report() -> str:
        return (f"{checker.samples} samples ({checker.contended} with every online agent full and conversations "
                f"waiting), {checker.replay.auto_assignments} automatic assignments, requests "
                f"{dict(outcome.requests)}\nviolations: {checker.replay.violations[:30]}\n"
                f"failures: {outcome.failures[:10]}")

    def healthy() -> None:
        assert not stop.is_set(), report()

    try:
        wait_for(lambda: all(s.ready() for s in servers), timeout=30, what="both hub processes ready")
        arriving.set()
        resolving.set()
        load = [threading.Thread(target=guarded(arrivals), args=(w, 4), daemon=True) for w in range(4)]
        load.append(threading.Thread(target=guarded(toggler), daemon=True))
        background = [threading.Thread(target=guarded(f), args=a, daemon=True)
                      for f, a in ((resolver, (0,)), (resolver, (1,)), (sampler, ()))]
        for t in [*load, *background]:
            t.start()
        deadline = time.monotonic() + ARRIVAL_SECONDS + LOAD_GRACE
        for t in load:
            if t is load[4]:
                arriving.clear()
                resolving.clear()
            t.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in load):
            outcome.failures.append(f"the arrivals were still not all answered {LOAD_GRACE:.0f} s after their schedule")
            stop.set()
        healthy()

        # Everyone comes online: the queue drains by itself as far as capacity allows.
        with httpx.Client(timeout=REQUEST_TIMEOUT) as http:
            for n, agent in enumerate(agent_ids):
                outcome.record("presence", set_presence(http, n, agent, "online"))

        def drained_or_full() -> tuple[int, int] | None:
            healthy()
            waiting, free_agents = checker.snapshot()
            return (waiting, free_agents) if waiting == 0 or free_agents == 0 else None

        waiting, _ = wait_for(drained_or_full, timeout=15, what="the queue to drain once everyone is online")
        assert checker.contended > 0, "the load never filled every agent while conversations waited"
        assert waiting > 0, "nothing left waiting: the drain-as-capacity-frees phase would prove nothing"

        # Capacity frees up (through both processes): every waiting conversation gets an agent.
        resolving.set()
        wait_for(lambda: healthy() or checker.snapshot()[0] == 0, timeout=30,
                 what="the queue to drain as capacity frees")
        stop.set()
        for t in background:
            t.join()
        checker.sample()

        print(report())
        assert checker.replay.violations == [], report()
        assert checker.final_consistency() == []
        assert checker.replay.auto_assignments == ARRIVALS  # each conversation assigned exactly once
        assert outcome.requests["inbound"] == ARRIVALS
        assert outcome.failures == [], report()
        for s in servers:
            assert "Traceback" not in s.output(), f"{s.name} logged an error:\n{s.output()[-6000:]}"
        passed = True
    finally:
        stop.set()
        arriving.clear()
        stop_all(servers)
        checker.conn.close()
        for s in servers:
            if not passed:
                print(f"--- hub {s.name} output ---\n{s.output()[-8000:]}", file=sys.stderr)
            os.unlink(s.log.name)


# -- the two bugs the stress test found, each reproduced deterministically --------------------------


@pytest.mark.postgres
def test_going_offline_waits_for_a_routing_transaction_instead_of_deadlocking(postgres_url: str) -> None:
    """A routing transaction elsewhere holds the write lock (which routing and the event log share)
    and then updates the agent's row, as `Router._give` does (`last_assigned_at`). An agent going
    offline meanwhile must wait for the lock before it touches any row, not hold the agent's row
    while it waits: that was the deadlock the stress test found, when going offline updated the
    agent and appended its event before taking the routing lock, which routing took first."""
    agent_ids, _, _ = _prepare(postgres_url, agents=1)
    hub = Hub(Database(postgres_url), HubOptions(run_workers=False))
    errors: list[BaseException] = []

    def go_offline() -> None:
        try:
            hub.set_presence(agent_ids[0], "offline")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    routing_txn = psycopg.connect(postgres_url)
    watcher = psycopg.connect(postgres_url, autocommit=True)
    thread = threading.Thread(target=go_offline, daemon=True)
    try:
        routing_txn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
        thread.start()
        wait_for(lambda: watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> %s "
            "AND wait_event_type = 'Lock'", (routing_txn.info.backend_pid,)).fetchone()[0],  # type: ignore[index]
            timeout=10, what="going offline to wait for the routing transaction")
        routing_txn.execute("SET LOCAL lock_timeout = '5s'")
        try:
            routing_txn.execute("UPDATE agents SET last_assigned_at = now() WHERE id = %s", (agent_ids[0],))
            routing_txn.commit()
        except psycopg.Error as exc:
            routing_txn.rollback()
            errors.append(exc)
        thread.join(15)
    finally:
        routing_txn.close()
        watcher.close()
        hub.db.dispose()
    assert not thread.is_alive()
    assert errors == []
    with Database(postgres_url).read() as s:
        assert agent_actions.get_agent(s, agent_ids[0]).presence == "offline"


SPIN_PROBE = textwrap.dedent("""
    import asyncio
    from contextlib import contextmanager
    from types import SimpleNamespace

    from hub.events.fanout import EventBus
    from hub.routing.service import RoutingService

    class Router:
        def __getattr__(self, name):
            return lambda *args, **kwargs: 0

    class Db:
        @contextmanager
        def write(self):
            yield None

    async def main():
        bus = EventBus(Db())
        service = RoutingService(Db(), bus, Router(), tick=60)
        await service.start()
        await asyncio.sleep(0.2)  # the first pass (timers and a drain) is over; it now waits for events
        print("started", flush=True)
        (sub,) = bus._subs
        sub._offer([SimpleNamespace(type="conversation.created")])
        sub._offer([SimpleNamespace(type="message.created")])  # a second batch queued behind the first
        await asyncio.sleep(0.2)
        print("the routing loop yielded", flush=True)
        await service.stop()

    asyncio.run(main())
""")


def test_routing_loop_coalesces_queued_batches_without_spinning() -> None:
    """Two batches of events queued at once (one that asks for a drain, then any other) must be
    coalesced into one pass; a short-circuited `or` once skipped taking the second batch off the
    queue and spun forever (fixed in 9a3a985). Run in a child process: a spinning loop can only be
    killed."""
    child = subprocess.Popen([sys.executable, "-c", SPIN_PROBE], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        lines = []
        for limit in (30.0, 3.0):  # importing the hub may take a while on a busy machine; the rest may not
            if not select.select([child.stdout], [], [], limit)[0]:
                break
            lines.append(child.stdout.readline().strip())
        assert lines == ["started", "the routing loop yielded"], (
            f"the routing loop never yielded to the event loop again; the child said {lines}")
        assert child.wait(10) == 0, child.stderr.read() if child.stderr else ""
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(5)
