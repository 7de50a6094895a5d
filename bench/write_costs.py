"""What one agent reply costs the writer: statements and time, for the reply, its delivery claim and
its outcome, in process, on both databases.

bench.mixed measures the whole (inbound throughput with agents replying); this one says where the
writer's time per reply goes. Each write runs in a transaction of its own, as the hub's writer runs
it (`Hub.write_async`'s op, the delivery worker's `_claim_in` and outcome), and only what runs
inside the transaction is counted: on PostgreSQL every statement is a round trip paid while the
write lock is held, and a shared batch pays the BEGIN and COMMIT once for all its items. Counted:
every statement through SQLAlchemy (the ORM's, flushes included) and through hub.plain_sql.

Run: `python -m bench.write_costs --db both` (`--replies N`, default 300).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlmodel import Session

from bench.inbound_api import fresh_database
from hub.agents.actions import do_create_agent
from hub.conversations.actions import do_assign, get_conversation
from hub.conversations.agent_messages import check_reply
from hub.db import Database
from hub.delivery.worker import DeliveryWorker
from hub.ingest.entry import do_ingest_many
from hub.migrate import upgrade
from hub.plain_sql import PlainSql
from hub.ports import BaseAdapter, ContactRef, InboundMessage, Outbound, SendResult


class Counting:
    """Statements run on `db` while `on` is set: their number and first words."""

    def __init__(self, db: Database) -> None:
        self.on = False
        self.seen: list[str] = []
        event.listen(db.engine, "before_cursor_execute", self._orm)
        self._raw = PlainSql.execute_raw

        counting = self

        def execute_raw(sql_self: PlainSql, sql: str, params: Any) -> None:
            counting._note(sql)
            counting._raw(sql_self, sql, params)

        PlainSql.execute_raw = execute_raw  # type: ignore[method-assign]

    def close(self) -> None:
        PlainSql.execute_raw = self._raw  # type: ignore[method-assign]

    def _orm(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        self._note(statement)

    def _note(self, sql: str) -> None:
        if self.on:
            self.seen.append(" ".join(sql.split()[:4])[:60])


class Adapter(BaseAdapter):
    channel = "api"
    address_kind = None

    async def send(self, message: Outbound) -> SendResult:
        return SendResult(provider_id=f"api-{message.outbox_id}", status="delivered")


def prepare(db: Database, conversations: int) -> tuple[int, list[int]]:
    with db.write() as s:
        agent = do_create_agent(s, email="a@bench.example", name="Agent", role="agent", password="bench-pass-1234")
        assert agent.id is not None
        agent_id = agent.id
    msgs = [InboundMessage(channel="api", source="crm", ingest_scope="api:crm", external_id=f"m{i}",
                           contact=ContactRef(email=f"c{i}@bench.example", name=f"C {i}"), text=f"hello {i}")
            for i in range(conversations)]
    with db.write() as s:
        results = do_ingest_many(s, msgs)
    conv_ids = [r.conversation_id for r in results if not isinstance(r, Exception)]
    with db.write() as s:
        for cid in conv_ids:
            do_assign(s, get_conversation(s, cid), assignee_id=agent_id, team_id=None, actor_agent_id=None,
                      reason="bench")
    return agent_id, conv_ids


class Measure:
    def __init__(self, db: Database, counting: Counting) -> None:
        self.db = db
        self.counting = counting
        self.times: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}
        self.statements: dict[str, Counter[str]] = {}
        self.runs: Counter[str] = Counter()

    @contextmanager
    def write(self, what: str) -> Iterator[Session]:
        """A write transaction as the writer runs one; what runs inside is counted as `what`."""
        with self.db.write() as s:
            s.connection()  # BEGIN (and on PostgreSQL the write lock) before counting
            self.counting.seen = []
            self.counting.on = True
            t0, c0 = time.perf_counter(), time.thread_time()
            with s.no_autoflush:
                yield s
            s.flush()
            t1, c1 = time.perf_counter(), time.thread_time()
            self.counting.on = False
        self.times.setdefault(what, []).append((t1 - t0) * 1000)
        self.cpu.setdefault(what, []).append((c1 - c0) * 1000)
        self.statements.setdefault(what, Counter()).update(self.counting.seen)
        self.runs[what] += 1

    def run(self, what: str, op: Callable[[Session], Any]) -> Any:
        with self.write(what) as s:
            return op(s)

    def report(self, kind: str) -> None:
        for what, runs in self.runs.items():
            stmts = self.statements[what]
            per = sum(stmts.values()) / runs
            print(f"[{kind}] {what}: {per:.1f} statements, median {statistics.median(self.times[what]):.2f} ms "
                  f"in the transaction ({statistics.median(self.cpu[what]):.2f} ms CPU), {runs} runs")
            for sql, n in stmts.most_common():
                print(f"    {n / runs:4.1f}  {sql}")


async def measure(kind: str, url: str, replies: int) -> None:
    upgrade(url)
    db = Database(url)
    counting = Counting(db)
    try:
        agent_id, conv_ids = prepare(db, 40)
        m = Measure(db, counting)

        async def write(op: Callable[[Session], Any]) -> Any:
            return m.run(write.what, op)  # type: ignore[attr-defined]

        worker = DeliveryWorker(db, {"api": Adapter()}, write=write, batch_size=20)
        with db.pinned():
            for i in range(replies):
                cid = conv_ids[i % len(conv_ids)]
                # As the API's route, whose access check (hub.access.check_act) reads nothing more.
                m.run("reply", lambda s, i=i, cid=cid: check_reply(
                    s, cid, may_act=lambda conv: conv, agent_id=agent_id, text=f"reply {i}", client_id=f"r-{i}"))
                write.what = "claim"  # type: ignore[attr-defined]
                claimed, outbound = await write(worker._claim_in)
                assert len(claimed) == 1
                write.what = "outcome (sent)"  # type: ignore[attr-defined]
                await worker._send(claimed[0], outbound[0])
        m.report(kind)
    finally:
        counting.close()
        db.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--replies", type=int, default=300)
    args = p.parse_args()
    for kind in (["sqlite", "postgres"] if args.db == "both" else [args.db]):
        with fresh_database(kind, "costs") as url:
            asyncio.run(measure(kind, url, args.replies))


if __name__ == "__main__":
    main()
