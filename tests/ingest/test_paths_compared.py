"""Every ingest path writes what the ORM path writes: random batches, every column, both databases.

A seeded random scenario (new customers, known ones writing again, a new entry point, a reopen, a
name given late, a message after an agent's reply, on the entry point whose team has a
next-response target or on the other, batches of one to five; half the messages carry a thread key of
their own, and "thread" steps name a key, strong or weak, of the sender's conversation, of another
customer's, of a message earlier in the same batch, or none; now and then a colleague writes from
a new address into a customer's thread) runs three times in one database: as the hub runs it
(the plain-SQL path, new customers' and first conversations' runs written whole together, the
ORM), then the same with every message ingested on its own (one by one, as a batch of one), and
with every message forced through the ORM path. Then every column of every row the two runs wrote in
`contacts`, `contact_identities`, `conversations`, `messages`, `events` (payloads included) and
`thread_keys`
must be equal, ids taken as their order of appearance and times left out. Messages and events
are compared conversation by conversation, each in its order: a batch writes the plain-SQL
messages together before a message that needs another path (and its customer's later ones), so
only the order within a conversation is the same in both runs. The columns come from
the tables themselves (`SELECT *`), so a column added to a model is compared without a word here.
"""

from __future__ import annotations

import json
import random
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import bindparam, text

from hub.conversations.actions import do_set_status, get_conversation
from hub.conversations.replies import do_reply
from hub.db import Database
from hub.ingest import entry
from hub.ports import ContactRef, InboundMessage, IngestResult
from hub.routing.actions import Router
from hub.routing.config import RoutingConfig
from hub.routing.rules import rule_from_dict
from hub.routing.settings import TeamSettings, do_set_team_settings
from tests.factories import create_agent, create_team

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")
TABLES = ("contacts", "contact_identities", "conversations", "messages", "events", "thread_keys")
# Keys holding ids, by the table their ids belong to (in rows and in event payloads).
ID_KEYS = {"contact_id": "contacts", "conversation_id": "conversations", "message_id": "messages",
           "candidate_id": "contacts"}
# JSON columns (SQLite hands them back as text).
JSON_COLUMNS = {"payload", "attachments", "passed_agent_ids"}


def scenario(seed: int, steps: int = 90) -> list[list[tuple[Any, ...]]]:
    """Batches of abstract messages: (kind, customer, ...), resolved against a run by `_message`."""
    rng = random.Random(seed)
    colleagues = random.Random(-seed)  # apart, so the seeds' other steps stay as they were chosen
    customers = 0
    named: set[int] = set()
    batches: list[list[tuple[Any, ...]]] = []
    while sum(len(b) for b in batches) < steps:
        batch: list[tuple[Any, ...]] = []
        for _ in range(rng.randint(1, 5)):
            kind = rng.choice(["new", "again", "again", "again", "source", "reopen", "name", "thread", "thread",
                               "reply"] if customers else ["new"])
            # (a key of its own, which key it names, named as a weak key, the other customer)
            keys = (kind == "thread" or rng.random() < 0.5,
                    rng.choice(["own", "own", "other", "batch", "batch", "none"]) if kind == "thread" else "none",
                    rng.random() < 0.4, rng.randrange(max(customers, 1)))
            if kind == "new":
                customers += 1
                has_name = rng.random() < 0.5
                if has_name:
                    named.add(customers - 1)
                batch.append(("new", customers - 1, has_name, rng.random() < 0.3, keys))
            else:
                who = rng.randrange(customers)
                if kind == "name" and who in named:
                    kind = "again"
                if kind == "name":
                    named.add(who)
                batch.append((kind, who, rng.choice(["crm", "shop"]), rng.random() < 0.3, keys))
            if customers and colleagues.random() < 0.2:
                # From a new address, naming the customer's key (strong), or an earlier message's in the batch.
                batch.append(("colleague", colleagues.randrange(customers), colleagues.choice(["crm", "shop"]),
                              False, (False, colleagues.choice(["own", "own", "batch"]), False, 0)))
        batches.append(batch)
    return batches


class Run:
    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.seq = 0
        self.conversations: dict[tuple[int, str], int] = {}  # (customer, source) -> latest conversation
        self.keys: dict[int, str] = {}  # conversation -> a thread key a message recorded for it
        self.batch_keys: list[str] = []  # own keys of the current batch's messages so far

    def email(self, who: int) -> str:
        return f"c{who}@{self.tag}.example"

    def message(self, step: tuple[Any, ...]) -> tuple[InboundMessage, str | None]:
        """The message of a step, and the source whose conversation to resolve first (a reopen)."""
        self.seq += 1
        kind, who = step[0], step[1]
        text_ = f"{kind} {self.seq} from {who} (\u00fcn\u00efc\u00f6d\u00e9)"
        fields: dict[str, Any] = {"text": text_, "subject": f"S{who}" if step[3] else None,
                                  "html": f"<p>{text_}</p>" if step[3] else None}
        ref = ContactRef(email=self.email(who))
        source = "crm"
        if kind == "new":
            ref = ContactRef(email=self.email(who), name=f"Customer {who}" if step[2] else None)
        elif kind == "name":
            ref = ContactRef(email=self.email(who), name=f"  Late Name {who} ")
        elif kind == "colleague":
            ref, source = ContactRef(email=f"k{self.seq}@{self.tag}.example"), step[2]
        elif kind in ("source", "again", "reopen", "reply"):
            source = step[2] if kind != "again" else "crm"
        own, named, weak, other = step[4]
        thread = {"own": lambda: self.keys.get(self.conversations.get((who, step[2]), 0)),
                  "other": lambda: self.keys.get(self.conversations.get((other, step[2]), 0)),
                  "batch": lambda: self.batch_keys[-1] if self.batch_keys else None,
                  "none": lambda: None}[named]()
        if thread:  # after a key nobody recorded
            fields["weak_thread_keys" if weak else "thread_keys"] = (f"<{self.tag}-unknown@example>", thread)
        if own:
            fields["own_thread_keys"] = (f"<{self.tag}-{self.seq}@example>",)
            self.batch_keys.append(fields["own_thread_keys"][0])
        msg = InboundMessage(channel="api", source=source, ingest_scope="api:crm", external_id=f"{self.tag}-{self.seq}",
                             contact=ref, **fields)
        return msg, source if kind in ("reopen", "reply") else None

    def run(self, db: Database, batches: list[list[tuple[Any, ...]]], router: Router, agent_id: int, *,
            one_by_one: bool = False) -> None:
        for batch in batches:
            msgs = []
            self.batch_keys = []
            for step in batch:
                msg, before = self.message(step)
                conv_id = self.conversations.get((step[1], before)) if before else None
                if conv_id is not None:
                    with db.write() as s:
                        conv = get_conversation(s, conv_id)
                        if step[0] == "reopen":
                            do_set_status(s, conv, "resolved", agent_id=None)
                        elif conv.status == "open":  # an agent's reply stops the next-response clock
                            do_reply(s, conv, agent_id=agent_id, text=f"reply {self.seq}")
                msgs.append((step, msg))
            with db.write() as s:
                if one_by_one:
                    results = [entry.do_ingest_many(s, [m], route=router)[0] for _, m in msgs]
                else:
                    results = entry.do_ingest_many(s, [m for _, m in msgs], route=router)
            for (step, msg), result in zip(msgs, results, strict=True):
                assert isinstance(result, IngestResult), result
                self.conversations[(step[1], msg.source)] = result.conversation_id
                if msg.own_thread_keys:
                    self.keys.setdefault(result.conversation_id, msg.own_thread_keys[0])


def _plain(value: Any, tag: str) -> Any:
    if isinstance(value, datetime | date):
        return "<time>"
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return value.replace(tag, "<run>")
        return "<time>"
    return value


class Ids:
    """Ids of each table as their order of first appearance."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[Any, int]] = {}

    def __call__(self, table: str, value: Any) -> Any:
        if value is None:
            return None
        order = self.seen.setdefault(table, {})
        return f"{table}#{order.setdefault(value, len(order))}"


def _normalized(value: Any, ids: Ids, tag: str, table: str | None = None) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "id" and table is not None:
                out[k] = ids(table, v)
            elif k in ID_KEYS:
                out[k] = ids(ID_KEYS[k], v)
            else:
                inner = {"message": "messages", "conversation": "conversations"}.get(k)
                out[k] = _normalized(v, ids, tag, inner)
        return out
    if isinstance(value, list):
        return [_normalized(v, ids, tag) for v in value]
    return _plain(value, tag)


def written(db: Database, tag: str) -> dict[str, list[dict[str, Any]]]:
    """Every column of every row of this run, in id order, normalized."""
    ids = Ids()
    out: dict[str, list[dict[str, Any]]] = {}
    with db.read() as s:
        contacts = [r[0] for r in s.execute(text(
            "SELECT contact_id FROM contact_identities WHERE address LIKE :p ORDER BY id"), {"p": f"%@{tag}.example"})]
        where = {"contacts": "id", "contact_identities": "contact_id", "conversations": "contact_id",
                 "messages": "contact_id", "events": "contact_id",
                 "thread_keys": "conversation_id IN (SELECT id FROM conversations WHERE contact_id"}
        for table in TABLES:
            order = "conversation_id, id" if table in ("messages", "events", "thread_keys") else "id"
            close = ")" if table == "thread_keys" else ""
            query = text(f"SELECT * FROM {table} WHERE {where[table]} IN :ids{close} ORDER BY {order}")
            rows = s.execute(query.bindparams(bindparam("ids", expanding=True)), {"ids": contacts}).mappings().all()
            out[table] = []
            for row in rows:
                d = {k: json.loads(v) if k in JSON_COLUMNS and isinstance(v, str) else v for k, v in row.items()}
                if table == "events":
                    d["payload"] = _normalized(d["payload"], ids, tag)
                out[table].append(_normalized(d, ids, tag, table))
    return out


# Seeds whose scenario goes down every path (asserted below), with runs of several messages and a
# colleague written together (`write_new`) and a clock restarted; 5 and 6 have a reply naming the key of
# a message earlier in its batch that goes the ORM way (it must wait behind it: hub.ingest.keys).
@pytest.mark.parametrize("seed", [2, 3, 5, 6, 9, 10])
def test_random_batches_write_the_same_rows_on_every_path(database: Database, seed: int,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    batches = scenario(seed)
    taken: dict[str, int] = {"sql": 0, "first": 0, "orm": 0}
    keyed = {"sql": 0, "first": 0}  # of those, with thread keys
    runs: list[list[bool]] = []  # the runs written together (`write_new`): whether each is a first conversation
    for name, attr in (("sql", "write_known"), ("first", "ingest_first"), ("orm", "ingest_orm"),
                       ("run", "write_new")):
        real = getattr(entry, attr)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            if _name == "sql":
                keyed["sql"] += sum(m.threaded for m, _, _ in args[2])
            elif _name == "first":
                keyed["first"] += args[2].threaded
            elif _name == "run":
                runs.append([item.into is None for item in args[2]])
                taken["first"] += sum(runs[-1])
                keyed["first"] += sum(item.msg.threaded for item in args[2] if item.into is None)
                return _real(*args, **kw)
            taken[_name] += 1
            return _real(*args, **kw)

        monkeypatch.setattr(entry, attr, counted)
    # Conversations from the shop go to a team whose SLA has a next-response target: a message
    # after a reply restarts the clock there; the crm's have none (no clock, the plain path).
    team_id = create_team(database, "Shop")
    with database.write() as s:
        do_set_team_settings(s, team_id, TeamSettings.model_validate({"sla": {"default": {"next_response": 600}}}),
                             actor_agent_id=None)
    agent_id, _ = create_agent(database)
    config = RoutingConfig(rules=[rule_from_dict({"name": "shop", "match": {"source": "shop"}, "team_id": team_id})])
    Run("aa").run(database, batches, Router(config), agent_id)
    assert all(taken.values()), taken  # the scenario went down every path
    assert all(keyed.values()), keyed  # messages with thread keys too
    assert any(len(run) > 1 for run in runs), runs  # a run of several written together
    joined = sum(not first for run in runs for first in run)  # colleagues written with the runs
    Run("cc").run(database, batches, Router(config), agent_id, one_by_one=True)
    with monkeypatch.context() as m:
        m.setattr(entry, "_takes_plain_path", lambda *a, **k: False)
        m.setattr(entry, "_starts_first_conversation", lambda *a, **k: False)
        before = dict(taken)
        Run("bb").run(database, batches, Router(config), agent_id)
        assert taken["sql"] == before["sql"] and taken["first"] == before["first"]  # the ORM only

    hub_way, one_by_one, orm_way = written(database, "aa"), written(database, "cc"), written(database, "bb")
    assert any(c["next_response_due_at"] for c in hub_way["conversations"])  # a clock restarted
    assert joined, runs  # a colleague's message written with a run
    for other in (one_by_one, orm_way):
        for table in TABLES:
            assert len(hub_way[table]) == len(other[table]), table
            assert hub_way[table], table
            for a, b in zip(hub_way[table], other[table], strict=True):
                assert a == b, table
