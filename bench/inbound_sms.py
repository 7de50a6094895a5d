"""Signed inbound SMS webhooks, from Twilio's POST to a connected agent's websocket, beside the floor.

The same harness, phases and floor app as bench.inbound_api; only the hub's side differs. Each
message is the form Twilio posts to `/channels/sms/twilio/inbound` (MessageSid, From, To, Body,
...), signed as Twilio signs it (HMAC-SHA1 over the hub's public URL and the fields, by
`FastSigner`, checked against `twilio.request_validator.RequestValidator` before each run); that
URL is not the address the request arrives at (as behind a proxy). The hub checks the signature, parses
the form, stores the message exactly once, answers empty TwiML after the commit and pushes it to
the agent's websocket. `--customers` phone numbers take turns, so most texts continue an open
conversation. The floor gets the same markers as JSON, exactly as in bench.inbound_api.

Run: `python -m bench.inbound_sms`, or `python -m bench.inbound_sms --db sqlite --seconds 5`.
Results are printed and written as JSON to bench/out/.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import itertools
import json
import os
import sys
from pathlib import Path
from urllib.parse import parse_qs, quote_plus

from twilio.request_validator import RequestValidator

from bench import http1
from bench.harness import ROOT, PhaseResult, Post, ServerProcess, uvicorn_command
from bench.inbound_api import (
    add_common_arguments,
    agent_listener,
    fresh_database,
    measure,
    prepare_hub_database,
    report,
    run_floor,
    settle,
)

ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-twilio-auth-token"
NUMBER = "+15017122661"
PUBLIC_URL = "https://sms.bench.example"  # what Twilio signs; the server itself listens on 127.0.0.1
INBOUND_PATH = "/channels/sms/twilio/inbound"


def twilio_form(marker: str, customer: int) -> dict[str, str]:
    sid = "SM" + hashlib.md5(marker.encode()).hexdigest()  # 32 hex digits, like Twilio's; not security
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": "received",
        "From": f"+1415555{customer:04d}",
        "FromCountry": "US",
        "To": NUMBER,
        "ToCountry": "US",
        "Body": f"Hello, where is my order? {marker}",
        "NumMedia": "0",
        "NumSegments": "1",
    }


class FastSigner:
    """Form bodies and `X-Twilio-Signature`s for `twilio_form`, cheaper than urlencode plus
    `RequestValidator.compute_signature` per message.

    The load generator shares the machine with the server it measures, and Twilio's signing in
    Python cost it about 0.09 ms of CPU per message (the generator used 50 % of a core against
    the floor's 35 %), CPU taken from the hub's side of the comparison only. The same HMAC-SHA1
    over the same string (the URL, then each field name and value in name order) is built here
    from a template; `check` compares it with Twilio's own before a run.
    """

    def __init__(self, token: str, url: str) -> None:
        self.token = token.encode()
        self.url = url

    def sign(self, form: dict[str, str]) -> str:
        text = self.url + "".join(key + form[key] for key in sorted(form))
        return base64.b64encode(hmac.new(self.token, text.encode(), hashlib.sha1).digest()).decode()

    def body(self, form: dict[str, str]) -> bytes:
        return "&".join(f"{key}={quote_plus(value)}" for key, value in form.items()).encode()

    def check(self) -> None:
        form = twilio_form("check", 7)
        if self.sign(form) != RequestValidator(self.token.decode()).compute_signature(self.url, form):
            raise RuntimeError("the benchmark's signer disagrees with twilio's RequestValidator")
        if parse_qs(self.body(form).decode()) != {k: [v] for k, v in form.items()}:
            raise RuntimeError("the benchmark's form body does not read back as the form")


def twilio_poster(customers: int) -> Post:
    """Posts as Twilio does; signing happens in the load generator, outside the measured server."""
    turn = itertools.count()
    signer = FastSigner(AUTH_TOKEN, PUBLIC_URL + INBOUND_PATH)
    signer.check()

    async def post(client: http1.Client, marker: str) -> None:
        form = twilio_form(marker, next(turn) % customers)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signer.sign(form)}
        resp = await client.request("POST", INBOUND_PATH, signer.body(form), headers)
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {resp.body[:200]!r}")

    return post


def sms_hub_server(database_url: str, src: Path = ROOT) -> ServerProcess:
    """The real app with the SMS channel on; the Twilio REST base points nowhere (nothing is sent)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({
        "HUB_DATABASE_URL": database_url,
        "HUB_PUBLIC_URL": PUBLIC_URL,
        "HUB_TWILIO__ACCOUNT_SID": ACCOUNT_SID,
        "HUB_TWILIO__AUTH_TOKEN": AUTH_TOKEN,
        "HUB_TWILIO__NUMBERS": json.dumps([NUMBER]),
        "HUB_TWILIO__API_BASE_URL": "http://127.0.0.1:9",
    })
    return ServerProcess("hub-sms", uvicorn_command("config.app:create_app"), env, cwd=src)


def run_hub_sms(kind: str, args: argparse.Namespace) -> list[PhaseResult]:
    with fresh_database(kind, "hub") as url:
        prepare_hub_database(url, args.hub_src)  # the agent whose websocket listens (the API key goes unused)
        with sms_hub_server(url, args.hub_src) as server:
            print(f"[{kind}] hub (SMS webhooks) on {server.url}", file=sys.stderr)
            settle(args)
            return measure(server, agent_listener(server), twilio_poster(args.customers), args)  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.inbound_sms", description=__doc__.split("\n\n")[0])
    add_common_arguments(p, "floor,hub-sms")
    p.add_argument("--customers", type=int, default=200, help="distinct phone numbers texting (default 200)")
    args = p.parse_args(argv)
    return report(args, argv, {"floor": run_floor, "hub-sms": run_hub_sms}, name="inbound_sms", what="hub SMS")


if __name__ == "__main__":
    sys.exit(main())
