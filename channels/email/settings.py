"""What the email channel needs to know, handed over by the composition root (config)."""

from __future__ import annotations

from dataclasses import dataclass

# A customer's mail with a few photos fits easily; a mailbox's own limit is usually 25-50 MB.
DEFAULT_MAX_BYTES = 25 * 1024 * 1024


@dataclass(frozen=True)
class SmtpServer:
    """An outgoing SMTP server (aiosmtplib). `tls`: implicit TLS (port 465); `starttls`: upgrade a
    plain connection (port 587); neither: plain (a local relay, or tests)."""

    host: str = "127.0.0.1"
    port: int = 25
    tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class ImapServer:
    """A mailbox's IMAP account, watched continuously. `tls`: implicit TLS (port 993);
    `starttls`: upgrade a plain connection (port 143); neither: plain (a local server, or tests)."""

    host: str = "127.0.0.1"
    port: int = 993
    tls: bool = True
    starttls: bool = False
    username: str = ""
    password: str = ""
    folder: str = "INBOX"
    # IDLE is renewed this often: RFC 2177 lets a server drop a client idle for 30 minutes.
    idle_seconds: float = 25 * 60
    # Without IDLE (or when a server's IDLE goes quiet) the folder is read again this often.
    poll_seconds: float = 60.0
    batch: int = 100  # messages per UID FETCH (and per shared ingest transaction)
    timeout_seconds: float = 30.0
    max_bytes: int = DEFAULT_MAX_BYTES  # a bigger mail is kept raw for an admin, not ingested
    # A PEM file of certificates to trust besides the system's (a server with its own CA).
    ca_file: str | None = None
    # Where sent mail is kept: the folder flagged \Sent (RFC 6154), else this one. Before sending
    # again a reply whose earlier attempt never recorded its end, the hub looks there for its
    # Message-ID (channels/email/sent_folder.py).
    sent_folder: str = "Sent"
    # APPEND a copy of each sent reply to that folder, as desktop mail clients do. Off: most
    # providers (Gmail, Microsoft 365) file SMTP-sent mail there themselves (a copy would show twice).
    append_sent: bool = False


@dataclass(frozen=True)
class Mailbox:
    """One support address. Replies leave from it; `address` is also the conversation's source."""

    address: str  # support@example.com (lower case)
    display_name: str = ""
    signature: str = ""  # plain text, appended under the agent's name in every reply
    language: str = "en"  # of the words a customer reads in our mail ("On <date>, <name> wrote:")
    subject_token: bool = True  # "[#token]" in the subject: a weak thread key for clients that drop Reply-To
    # The authserv-id of the receiving server whose Authentication-Results (RFC 8601) are trusted
    # for this mailbox ("mx.google.com"): set, a From that DMARC/DKIM/SPF did not prove is held
    # apart from the customer it names (channels/email/sender_auth.py). Empty: not checked.
    authserv_id: str = ""
    smtp: SmtpServer = SmtpServer()
    imap: ImapServer | None = None  # None: mail arrives only through the listener (a relay)

    @property
    def local_part(self) -> str:
        return self.address.rpartition("@")[0]

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]

    def reply_address(self, token: str) -> str:
        return f"{self.local_part}+{token}@{self.domain}"


@dataclass(frozen=True)
class SmtpListener:
    """The hub's own SMTP server, for mail a relay forwards to it."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 2525
    max_bytes: int = DEFAULT_MAX_BYTES
    # Bigger messages are parsed on a worker thread, so one large mail never stalls the event loop.
    parse_inline_below: int = 64 * 1024


@dataclass(frozen=True)
class EmailSettings:
    mailboxes: tuple[Mailbox, ...] = ()
    listener: SmtpListener = SmtpListener()
    # Derives each outbox item's Message-ID and reply token (config passes a key derived from
    # HUB_SECRET_KEY): stable across retries, unguessable by anyone else.
    secret: bytes = b""

    def mailbox_for(self, address: str) -> Mailbox | None:
        """The mailbox an envelope recipient (plain or plus-addressed) belongs to."""
        local, _, domain = address.strip().lower().rpartition("@")
        base = local.partition("+")[0]
        for box in self.mailboxes:
            if box.domain.lower() == domain and box.local_part.lower() == base:
                return box
        return None
