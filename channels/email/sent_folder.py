"""The mailbox's Sent folder, over IMAP: the record of what the SMTP server accepted.

A reply whose earlier attempt never recorded its end (the process died between the server's 250
and the hub's commit: `OutboundMessage.outcome_unknown`) is looked for there by its Message-ID
before it is sent again (`holds`). Many providers (Gmail, Microsoft 365) file SMTP-sent mail in
Sent themselves; for servers that do not, a mailbox with `append_sent` gets a copy of each reply
after the server accepted it (`file_copy`), as desktop mail clients do. The folder is the one
flagged `\\Sent` (RFC 6154), else the configured name (`ImapServer.sent_folder`).
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.policy import SMTP

from channels.email.imap_client import ImapError, ImapSession
from channels.email.settings import ImapServer

logger = logging.getLogger(__name__)


async def sent_folder(session: ImapSession) -> str:
    """The folder flagged \\Sent, else the configured one."""
    for flags, name in await session.folders():
        if "\\sent" in flags:
            return name
    return session.server.sent_folder


async def holds(server: ImapServer, message_id: str) -> bool:
    """Whether the Sent folder has a mail with this Message-ID. Raises `ImapError` when it
    cannot tell (unreachable, no such folder)."""
    session = ImapSession(server)
    try:
        await session.open()
        folder = await sent_folder(session)
        await session.select(folder)
        return bool(await session.uids_with_header("Message-ID", message_id))
    finally:
        await session.close()


async def file_copy(server: ImapServer, message: EmailMessage) -> bool:
    """APPENDs what was sent (marked read) to the Sent folder. Never raises: the mail is gone
    already; a copy that could not be filed is logged."""
    session = ImapSession(server)
    try:
        await session.open()
        await session.append(message.as_bytes(policy=SMTP), await sent_folder(session), seen=True)
        return True
    except ImapError as exc:
        logger.warning("email: the copy of %s was not filed in the Sent folder of %s: %s",
                       message.get("Message-ID"), server.username, exc.words)
        return False
    finally:
        await session.close()
