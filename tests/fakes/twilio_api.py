"""A local fake of Twilio's Messages API: real HTTP on 127.0.0.1, for the real `twilio` client.

It answers `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` the way Twilio does: HTTP basic
auth with the account SID and auth token, form-encoded parameters, a 201 with the message resource
as JSON, and Twilio's error JSON (`{"code", "message", "more_info", "status"}`) on refusals.
Failures can be programmed (`fail_next`): N answers of 500 or 429, then success again; or a 400
with a Twilio error code. It also builds the status callbacks Twilio would post back
(`status_params`), which a test signs with Twilio's validator and posts, the way Twilio would.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass(frozen=True)
class SentSms:
    sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    media_urls: tuple[str, ...]
    status_callback: str | None


@dataclass
class Failure:
    status: int
    code: int | None = None
    message: str = "Internal Server Error"


@dataclass
class FakeTwilioApi:
    account_sid: str
    auth_token: str
    sent: list[SentSms] = field(default_factory=list)  # messages Twilio accepted
    attempts: int = 0  # every POST to Messages.json, accepted or not
    _failures: deque[Failure] = field(default_factory=deque)
    _next_sids: deque[str] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # -- programming the fake -----------------------------------------------------------------

    def fail_next(self, times: int, status: int = 500, *, code: int | None = None,
                  message: str = "Internal Server Error") -> None:
        """The next `times` sends are refused with this answer; later ones succeed again."""
        with self._lock:
            self._failures.extend(Failure(status, code, message) for _ in range(times))

    def use_sid(self, sid: str) -> None:
        """The next accepted message gets this SID (to send a status callback before it exists)."""
        with self._lock:
            self._next_sids.append(sid)

    def status_params(self, sid: str, status: str, *, error_code: int | None = None) -> dict[str, str]:
        """The form fields Twilio posts to a message's StatusCallback URL."""
        sent = next((s for s in self.sent if s.sid == sid), None)
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "To": sent.to if sent else "+15550000000",
            "From": (sent.from_ or "+15550000001") if sent else "+15550000001",
        }
        if sent and sent.messaging_service_sid:
            params["MessagingServiceSid"] = sent.messaging_service_sid
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return params

    # -- serving ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeTwilioApi:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
                status, body = fake.handle(self.path, self.headers.get("Authorization"), form)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_: Any) -> None:
                pass  # keep test output quiet

        # Port 0: the kernel picks a free port, so parallel tests never collide.
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-twilio", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- Twilio's behaviour -------------------------------------------------------------------

    def _authorized(self, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header == f"Basic {expected}"

    def handle(self, path: str, authorization: str | None, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        match = MESSAGES_PATH.match(path)
        if match is None:
            return 404, _error(404, 20404, "The requested resource was not found")
        if not self._authorized(authorization) or match["account"] != self.account_sid:
            return 401, _error(401, 20003, "Authenticate")
        with self._lock:
            self.attempts += 1
            if self._failures:
                failure = self._failures.popleft()
                return failure.status, _error(failure.status, failure.code, failure.message)
            first = {k: v[0] for k, v in form.items()}
            to = first.get("To", "")
            if not to:
                return 400, _error(400, 21604, "A 'To' phone number is required.")
            if not E164.match(to):
                return 400, _error(400, 21211, f"Invalid 'To' Phone Number: {to}")
            if not first.get("From") and not first.get("MessagingServiceSid"):
                return 400, _error(400, 21603, "A 'From' phone number is required.")
            if not first.get("Body") and not form.get("MediaUrl"):
                return 400, _error(400, 21602, "Message body is required.")
            sid = self._next_sids.popleft() if self._next_sids else f"SM{next(self._seq):032x}"
            sms = SentSms(sid=sid, to=to, from_=first.get("From"),
                          messaging_service_sid=first.get("MessagingServiceSid"), body=first.get("Body", ""),
                          media_urls=tuple(form.get("MediaUrl", [])), status_callback=first.get("StatusCallback"))
            self.sent.append(sms)
        return 201, self._resource(sms)

    def _resource(self, sms: SentSms) -> dict[str, Any]:
        now = format_datetime(datetime.now(UTC))
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sms.sid}.json"
        return {
            "sid": sms.sid,
            "account_sid": self.account_sid,
            "to": sms.to,
            "from": sms.from_,
            "messaging_service_sid": sms.messaging_service_sid,
            "body": sms.body,
            # A Messaging Service first "accepts" the message while it picks a sender.
            "status": "accepted" if sms.messaging_service_sid and not sms.from_ else "queued",
            "num_segments": "1",
            "num_media": str(len(sms.media_urls)),
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "uri": uri,
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        }


def _error(status: int, code: int | None, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}
