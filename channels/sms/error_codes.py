"""What Twilio's messaging error codes mean, in words an agent can act on.

Status callbacks carry only `ErrorCode`; the REST API's own message is used when there is one.
The list covers the codes people meet in practice; anything else points at Twilio's reference.
"""

from __future__ import annotations

MEANINGS: dict[int, str] = {
    20003: "Authentication failed: check the Twilio account SID and auth token",
    20429: "Too many requests",
    21211: "Invalid 'To' phone number",
    21408: "Sending to this region is not enabled on the Twilio account",
    21606: "The 'From' number is not a valid SMS-capable number of this account",
    21610: "The recipient has unsubscribed (texted STOP)",
    21612: "Twilio cannot route to this number",
    21614: "'To' is not a valid mobile number",
    21617: "The message body is too long",
    30001: "Queue overflow: too many messages queued on the sender",
    30002: "The Twilio account is suspended",
    30003: "Unreachable destination handset",
    30004: "Message blocked by the recipient or carrier",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Filtered by the carrier as spam",
    30008: "Unknown error from the carrier",
    30010: "Message price exceeds the max price",
    30032: "Toll-free number is not verified",
    30034: "Sender is not registered for US A2P 10DLC",
    30044: "Message expired before it could be sent (validity period)",
}

UNSUBSCRIBED = 21610


def meaning(code: int | str | None) -> str | None:
    if code in (None, ""):
        return None
    try:
        number = int(code)
    except ValueError:
        return None
    return MEANINGS.get(number, f"see https://www.twilio.com/docs/api/errors/{number}")


def describe(code: int | str | None, message: str | None = None) -> str:
    """`[21211] Invalid 'To' Phone Number`: the code and Twilio's words, or ours when it gave none."""
    text = message or meaning(code) or "unknown error"
    return f"[{code}] {text}" if code not in (None, "") else text
