"""An agent writing a new email picks the mailbox it leaves from (POST
/api/v1/contacts/{id}/conversations, `source`): any agent lists the mailboxes (GET
/api/v1/channels/email/sources, the default first), an address that is not one is refused, no
choice means the first; the mail reaches the customer's server From the chosen mailbox and the
customer's answer to it threads there."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from hub.db import Database
from tests.channels.email.smtp_side import Recorder
from tests.conftest import make_settings, wait_for
from tests.factories import api_key, inbound, login
from tests.services import free_port

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture
def settings(database_url: str, outgoing: tuple[int, Recorder]) -> Settings:
    smtp = {"host": "127.0.0.1", "port": outgoing[0], "starttls": False}
    return make_settings(database_url, email={
        "listener_enabled": True, "listener_port": free_port(),
        "mailboxes": [{"address": "support@example.com", "display_name": "Example Support", "smtp": smtp},
                      {"address": "sales@example.com", "display_name": "Example Sales", "smtp": smtp}]})


def test_the_agent_picks_the_mailbox_a_new_email_leaves_from(
        client: TestClient, db: Database, settings: Settings, outgoing: tuple[int, Recorder]) -> None:
    _, recorder = outgoing
    agent = login(client, db, "agent")
    contact = inbound(client, api_key(db), email="grace@example.net", name="Grace Hopper")["contact_id"]
    listed = client.get("/api/v1/channels/email/sources", headers=agent.headers)
    assert listed.status_code == 200, listed.text
    assert listed.json()["items"] == [{"address": "support@example.com", "name": "Example Support"},
                                      {"address": "sales@example.com", "name": "Example Sales"}]
    assert client.get("/api/v1/channels/fax/sources", headers=agent.headers).status_code == 404

    url = f"/api/v1/contacts/{contact}/conversations"
    refused = client.post(url, headers=agent.headers, json={"source": "ceo@example.com", "text": "Hello"})
    assert refused.status_code == 422 and "'ceo@example.com' is not one of the email channel's" in refused.text
    chosen = client.post(url, headers=agent.headers, json={"source": "Sales@Example.com", "subject": "Your quote",
                                                           "text": "Here it is."})
    assert chosen.status_code == 201, chosen.text
    conv = chosen.json()["conversation"]
    assert conv["source"] == "sales@example.com"  # as the channel spells it
    default = client.post(url, headers=agent.headers, json={"subject": "Your ticket", "text": "Noted."})
    assert default.status_code == 201 and default.json()["conversation"]["source"] == "support@example.com"

    wait_for(lambda: len(recorder.received) == 2, what="both mails at the customer's server")
    by_subject = {m["Subject"].split(" [#")[0]: (sender, m) for sender, _, m in recorder.received}
    sender, quote = by_subject["Your quote"]
    assert sender == "sales@example.com" and quote["From"] == "Example Sales <sales@example.com>"
    assert by_subject["Your ticket"][1]["From"] == "Example Support <support@example.com>"

    answer = EmailMessage()
    answer["From"], answer["To"], answer["Subject"] = "grace@example.net", "sales@example.com", "Re: Your quote"
    answer["Message-ID"], answer["In-Reply-To"] = "<grace-q@example.net>", quote["Message-ID"]
    answer.set_content("Accepted.")
    with smtplib.SMTP("127.0.0.1", settings.email.listener_port, timeout=10) as smtp:
        smtp.send_message(answer, to_addrs=["sales@example.com"])

    def answered() -> bool:
        messages = client.get(f"/api/v1/conversations/{conv['id']}", headers=agent.headers).json()["messages"]
        return any(m["direction"] == "in" and m["text"].startswith("Accepted.") for m in messages)
    wait_for(answered, what="the answer in the conversation started from the sales mailbox")
