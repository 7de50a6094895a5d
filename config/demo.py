"""Demo data: two teams, a supervisor and agents, an API key, and a few customer conversations."""

from __future__ import annotations

from sqlalchemy import select

from hub.agents import actions as agent_actions
from hub.agents.models import Agent
from hub.conversations.actions import do_add_note, do_ingest, get_conversation
from hub.db import Database
from hub.ports import ContactRef, InboundMessage

DEMO_PASSWORD = "demo-password"

_AGENTS = [
    ("sam@demo.example", "Sam Supervisor", "supervisor", []),
    ("ana@demo.example", "Ana Agent", "agent", ["Support"]),
    ("ben@demo.example", "Ben Agent", "agent", ["Sales"]),
]

_MESSAGES = [
    ("demo-1", "alice@customer.example", None, "Alice Martin", "Invoice question", "Hi, my last invoice is doubled?"),
    ("demo-2", None, "+14155550101", "Bob Lee", None, "Is the shop open on Sunday?"),
    ("demo-3", "carol@customer.example", "+14155550102", "Carol Diaz", "Broken order",
     "The parcel arrived damaged."),
]


def load_demo(db: Database) -> str:
    with db.write() as s:
        if s.execute(select(Agent).where(Agent.email == _AGENTS[0][0])).scalars().first() is not None:
            return "demo data is already loaded"
        teams = {name: agent_actions.do_create_team(s, name) for name in ("Support", "Sales")}
        for email, name, role, team_names in _AGENTS:
            agent = agent_actions.do_create_agent(s, email=email, name=name, role=role, password=DEMO_PASSWORD,
                                                  capacities={"api": 5, "sms": 5, "email": 10, "webchat": 3})
            for t in team_names:
                agent_actions.do_add_member(s, teams[t], agent)
        _, key = agent_actions.do_create_api_key(s, name="demo", created_by=None)
        for ext_id, email, phone, name, subject, text in _MESSAGES:
            result = do_ingest(s, InboundMessage(
                channel="api", source="demo", ingest_scope="api:demo", external_id=ext_id,
                contact=ContactRef(email=email, phone=phone, name=name), subject=subject, text=text))
        sam = agent_actions.get_agent_by_email(s, _AGENTS[0][0])
        assert sam is not None and sam.id is not None
        do_add_note(s, get_conversation(s, result.conversation_id), agent_id=sam.id,
                    text="Carol is a long-time customer; offer a replacement.")
    return (
        f"demo loaded: agents {', '.join(a[0] for a in _AGENTS)} (password {DEMO_PASSWORD!r}), "
        f"teams Support and Sales, 3 conversations; API key: {key}"
    )
