"""A real IMAP server for tests and the benchmark: Dovecot (Debian `dovecot-imapd`) with its own
configuration in a temp folder, on a free port, one user, maildir storage.

Dovecot runs as root and drops to the `dovecot` user for mail access (the recipe in
shared/DESIGN.md). On a laptop without it (or not as root) the tests skip with a message; in CI
(CI=true) they fail: `make test` installs it as root (`make dovecot`).
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.services import free_port, service_missing

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"
USER, PASSWORD = "support", "secret"

_CONF = """\
protocols = imap
listen = 127.0.0.1
first_valid_uid = 1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = {ssl}
{ssl_files}disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
mail_fsync = never
namespace inbox {{
  inbox = yes
  mailbox Sent {{
    special_use = \\Sent
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service anvil {{
  chroot =
}}
"""


class Dovecot:
    """One Dovecot instance. `start()` waits until it accepts connections; `stop()` waits until
    it no longer does (doveadm stop)."""

    def __init__(self, *, tls: bool = False) -> None:
        """`tls`: with a certificate for 127.0.0.1 from a CA of its own (`ca_file`), implicit TLS
        on `tls_port` and STARTTLS on `port`; else plain IMAP only."""
        if not os.path.exists(DOVECOT):
            service_missing("Dovecot (Debian package dovecot-imapd; `make dovecot` as root installs it)",
                            FileNotFoundError(DOVECOT))
        if os.geteuid() != 0:
            service_missing("Dovecot as root (it drops to the dovecot user for mail access)",
                            PermissionError("not root"))
        # pytest's tmp_path is private to root; Dovecot's mail processes run as `dovecot`.
        self.root = Path(tempfile.mkdtemp(prefix="hub-dovecot-"))
        self.root.chmod(0o755)
        self.port = free_port()
        account = pwd.getpwnam("dovecot")
        for name in ("run", "state", "mail"):
            (self.root / name).mkdir()
        os.chown(self.root / "mail", account.pw_uid, account.pw_gid)
        (self.root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        self.tls_port = free_port() if tls else 0
        self.ca_file = str(self.root / "ca.pem") if tls else None
        ssl_files = self._certificates() if tls else ""
        self.conf = self.root / "dovecot.conf"
        self.conf.write_text(_CONF.format(root=self.root, uid=account.pw_uid, gid=account.pw_gid, port=self.port,
                                          tls_port=self.tls_port, ssl="yes" if tls else "no", ssl_files=ssl_files))
        self.uid, self.gid = account.pw_uid, account.pw_gid

    def _certificates(self) -> str:
        """A CA and a server certificate for 127.0.0.1 it signed (openssl)."""
        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60, cwd=self.root)

        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=hub test CA",
                "-keyout", "ca.key", "-out", "ca.pem")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
                "-out", "server.csr")
        (self.root / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
        openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-extfile", "san.ext", "-out", "server.pem")
        return f"ssl_cert = <{self.root}/server.pem\nssl_key = <{self.root}/server.key\n"

    def start(self) -> Dovecot:
        # The master daemonizes and keeps inherited pipes open: no capture, its log is the file.
        subprocess.run([DOVECOT, "-c", str(self.conf)], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        self._wait(accepting=True)
        return self

    def stop(self) -> None:
        """As a server going down: connected clients are cut off, then the master stops (alone,
        it lets running IMAP sessions go on serving)."""
        subprocess.run([DOVEADM, "-c", str(self.conf), "kick", USER], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        subprocess.run([DOVEADM, "-c", str(self.conf), "stop"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        self._wait(accepting=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _wait(self, *, accepting: bool, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    up = True
            except OSError:
                up = False
            pid_file = self.root / "run" / "master.pid"
            if up == accepting and (accepting or not pid_file.exists()):
                return
            time.sleep(0.02)
        log_file = self.root / "dovecot.log"
        log = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
        raise TimeoutError(f"Dovecot did not {'start' if accepting else 'stop'} in {timeout} s\n{log}")

    # -- filling the mailbox, as a mail server would --------------------------------------------

    @contextmanager
    def imap(self) -> Iterator[imaplib.IMAP4]:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        client.login(USER, PASSWORD)
        try:
            yield client
        finally:
            client.logout()

    def append(self, *messages: bytes, folder: str = "INBOX") -> list[int]:
        """APPENDs each message; returns their UIDs (in order)."""
        uids = []
        with self.imap() as client:
            for raw in messages:
                typ, data = client.append(folder, None, None, raw)
                assert typ == "OK", data
                uids.append(int(data[0].split()[2].rstrip(b"]")))  # [APPENDUID <validity> <uid>]
        return uids

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with self.imap() as client:
            typ, data = client.status(folder, "(UIDVALIDITY)")
            assert typ == "OK", data
            return int(data[0].split(b"UIDVALIDITY ")[1].rstrip(b")"))

    def create(self, folder: str) -> None:
        with self.imap() as client:
            typ, data = client.create(folder)
            assert typ == "OK", data

    def recreate(self, folder: str) -> None:
        """Deletes the folder and creates it anew, empty, with a new UIDVALIDITY."""
        with self.imap() as client:
            for command in (client.delete, client.create):
                typ, data = command(folder)
                assert typ == "OK", data

    def deliver(self, messages: list[bytes], folder_path: str = "") -> None:
        """Writes messages straight into the maildir's new/ (as a local delivery agent does);
        Dovecot gives them UIDs, in file name order, when a client next looks."""
        box = self.root / "mail" / USER / folder_path
        for sub in ("new", "cur", "tmp"):
            (box / sub).mkdir(parents=True, exist_ok=True)
            os.chown(box / sub, self.uid, self.gid)
        for dirpath in (self.root / "mail" / USER, box):
            os.chown(dirpath, self.uid, self.gid)
        stamp = int(time.time())
        for i, raw in enumerate(messages):
            name = box / "new" / f"{stamp}.M{i:08d}P1.hubtest"
            name.write_bytes(raw)
            os.chown(name, self.uid, self.gid)


@contextmanager
def dovecot(*, tls: bool = False) -> Iterator[Dovecot]:
    server = Dovecot(tls=tls).start()
    try:
        yield server
    finally:
        server.remove()
