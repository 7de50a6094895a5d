"""Demo data for `hub demo`: teams, a supervisor and agents with a known password, an API key,
and customers writing on the in-process demo channel (channels/demo), whose replies always get
through and are answered. Conversations wait in their teams' queues: routing hands them out as
the demo agents come online in the console."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlmodel import col

from hub.agents import actions as agent_actions
from hub.agents.models import Agent
from hub.contacts.models import Contact
from hub.conversations.actions import do_add_note, do_assign, get_conversation
from hub.conversations.replies import do_reply
from hub.db import Database
from hub.ingest.entry import do_ingest
from hub.ports import ContactRef, InboundMessage

DEMO_PASSWORD = "demo-password"
SOURCE = "demo"

# email, name, role, teams
_AGENTS = [
    ("sam@demo.example", "Sam Supervisor", "supervisor", []),
    ("ana@demo.example", "Ana Agent", "agent", ["Support"]),
    ("ben@demo.example", "Ben Agent", "agent", ["Sales"]),
    ("cleo@demo.example", "Cleo Agent", "agent", ["Support", "Sales"]),
]

# customer email, name, language, team (None: the shared inbox), subject, what they write
_CONVERSATIONS = [
    ("alice@customer.example", "Alice Martin", "en", "Support", "Invoice question",
     "Hi, my last invoice is doubled? I was charged twice for March."),
    ("bob@customer.example", "Bob Lee", "en", "Support", None, "Is the shop open on Sunday?"),
    ("carol@customer.example", "Carol Diaz", "es", "Support", "Pedido dañado",
     "Hola, el paquete llegó dañado. ¿Pueden enviarme otro?"),
    ("dan@customer.example", "Dan Okafor", "en", "Sales", "Quote for 40 seats",
     "Could you send me a quote for 40 seats, billed yearly?"),
    ("eva@customer.example", "Eva Novak", "en", "Sales", None, "Do you offer a discount for non-profits?"),
    ("finn@customer.example", "Finn Berg", "en", None, "Feedback", "Just wanted to say the new app is great."),
]


def load_demo(db: Database) -> str:
    with db.write() as s:
        if s.execute(select(Agent).where(col(Agent.email) == _AGENTS[0][0])).scalars().first() is not None:
            return "demo data is already loaded"
        teams = {name: agent_actions.do_create_team(s, name) for name in ("Support", "Sales")}
        agents = {}
        for email, name, role, team_names in _AGENTS:
            agent = agent_actions.do_create_agent(s, email=email, name=name, role=role, password=DEMO_PASSWORD,
                                                  capacities={"demo": 4, "api": 5, "sms": 5, "email": 10,
                                                              "webchat": 3})
            for t in team_names:
                agent_actions.do_add_member(s, teams[t], agent)
            agents[email] = agent.id
        _, key = agent_actions.do_create_api_key(s, name="demo", created_by=None)
        convs = []
        for i, (email, name, language, team, subject, text) in enumerate(_CONVERSATIONS, start=1):
            result = do_ingest(s, InboundMessage(
                channel="demo", source=SOURCE, ingest_scope=f"demo:{SOURCE}", external_id=f"demo-{i}",
                contact=ContactRef(email=email, name=name), subject=subject, text=text))
            contact = s.get(Contact, result.contact_id)
            assert contact is not None
            contact.language = language
            conv = get_conversation(s, result.conversation_id)
            if team is not None:
                do_assign(s, conv, assignee_id=None, team_id=teams[team].id, actor_agent_id=None, reason="demo")
            convs.append(conv)
        # One conversation already in progress: Ana answered Alice, Sam left her a note.
        ana, sam = agents["ana@demo.example"], agents["sam@demo.example"]
        assert ana is not None and sam is not None
        alice = convs[0]
        do_assign(s, alice, assignee_id=ana, team_id=alice.team_id, actor_agent_id=sam, reason="demo")
        do_reply(s, alice, agent_id=ana, text="Hi Alice, sorry about that: I am checking the invoice now.")
        do_add_note(s, alice, agent_id=sam, text="@Ana Agent Alice is a long-time customer; refund the double charge.",
                    mentions=[ana])
    return (
        f"demo loaded: agents {', '.join(a[0] for a in _AGENTS)} (password {DEMO_PASSWORD!r}), "
        f"teams Support and Sales, {len(_CONVERSATIONS)} conversations on the demo channel "
        f"(its customers answer your replies); API key: {key}"
    )


def customer_lookup(db: Database) -> Callable[[int], ContactRef | None]:
    """How the demo channel finds who to answer as: the contact's own addresses."""

    def customer_of(contact_id: int) -> ContactRef | None:
        with db.read() as s:
            c = s.get(Contact, contact_id)
            if c is None or (c.email is None and c.phone is None):
                return None
            return ContactRef(email=c.email, phone=c.phone, name=c.name or None)

    return customer_of
