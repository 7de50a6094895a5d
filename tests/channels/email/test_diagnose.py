"""'Test connection' against real servers (Dovecot for IMAP, aiosmtpd for SMTP): each thing an
admin can get wrong is named in plain words, in English and Spanish; the password never shows."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from channels.email.diagnose import Check, check_imap, check_smtp
from channels.email.i18n import I18N_DIR
from channels.email.settings import ImapServer, SmtpServer
from tests.channels.email.imap_side import mailbox
from tests.channels.email.smtp_side import Recorder, smtp_server
from tests.dovecot import PASSWORD, Dovecot, dovecot
from tests.services import free_port


@pytest.fixture(scope="module")
def server() -> Iterator[Dovecot]:
    with dovecot() as s:
        yield s


@pytest.fixture
def imap(server: Dovecot) -> ImapServer:
    box = mailbox(server)
    assert box.imap is not None
    return box.imap


def imap_check(imap: ImapServer, **changes: object) -> Check:
    return asyncio.run(check_imap(replace(imap, **changes)))  # type: ignore[arg-type]


def test_a_working_imap_account_says_where_it_signed_in_and_how_many_mails_wait(
        server: Dovecot, imap: ImapServer) -> None:
    server.append(b"From: a@example.net\r\nSubject: hi\r\n\r\nhello\r\n")
    check = imap_check(imap)
    assert check.ok and check.key == "check.ok.imap"
    assert check.text("en") == (f"Connected to 127.0.0.1:{imap.port}, signed in as support and opened the "
                                "folder \u201cINBOX\u201d (messages in it: 1).")
    assert check.text("es").startswith(f"Conectado a 127.0.0.1:{imap.port}, sesi\u00f3n iniciada como support")


@pytest.mark.parametrize(("changes", "key", "words"), [
    ({"password": "wr0ng-Pa55"}, "check.login_refused",
     "refused the user name or the password for \u201csupport\u201d"),
    ({"folder": "Soporte"}, "check.folder_missing", "the folder \u201cSoporte\u201d does not exist"),
    ({"tls": True}, "check.tls_failed", "The secure connection (TLS) with 127.0.0.1"),
    ({"starttls": True}, "check.starttls_missing", "does not offer STARTTLS"),
    ({"host": "no-such-host.invalid"}, "check.unknown_host", "\u201cno-such-host.invalid\u201d is not known"),
])
def test_what_is_wrong_with_an_imap_account_is_said_in_plain_words(
        imap: ImapServer, changes: dict[str, object], key: str, words: str) -> None:
    check = imap_check(imap, **changes)
    assert (check.ok, check.key) == (False, key)
    assert words in check.text("en") and check.text("es") != check.text("en")
    said = json.dumps(check.as_dict("en")) + json.dumps(check.as_dict("es"))
    assert PASSWORD not in said and "wr0ng-Pa55" not in said


def test_an_imap_port_where_nothing_listens_is_unreachable(imap: ImapServer) -> None:
    check = imap_check(imap, port=free_port())
    assert check.key == "check.unreachable" and "Could not reach 127.0.0.1 on port" in check.text("en")


def test_tls_and_starttls_work_with_a_trusted_certificate_and_an_untrusted_one_is_named() -> None:
    with dovecot(tls=True) as server:
        box = mailbox(server)
        assert box.imap is not None
        tls = replace(box.imap, port=server.tls_port, tls=True, ca_file=server.ca_file)
        assert imap_check(tls).key == "check.ok.imap"
        assert imap_check(box.imap, starttls=True, ca_file=server.ca_file).key == "check.ok.imap"
        untrusted = imap_check(tls, ca_file=None)
        assert untrusted.key == "check.tls_certificate" and "does not trust" in untrusted.text("en")


class Passwords:
    def __call__(self, server: object, session: object, envelope: object, mechanism: str,
                 auth_data: object) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"right"
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_with_login() -> Iterator[int]:
    port = free_port()
    controller = Controller(Recorder(), hostname="127.0.0.1", port=port, authenticator=Passwords(),
                            auth_require_tls=False)
    controller.start()
    yield port
    controller.stop()


def test_a_working_smtp_server_and_its_login(smtp_with_login: int) -> None:
    server = SmtpServer(port=smtp_with_login, username="support", password="right", timeout_seconds=5)
    check = asyncio.run(check_smtp(server))
    assert (check.ok, check.key) == (True, "check.ok.smtp")
    refused = asyncio.run(check_smtp(replace(server, password="wr0ng-Pa55")))
    assert refused.key == "check.login_refused" and "\u201csupport\u201d" in refused.text("en")
    assert "wr0ng-Pa55" not in json.dumps(refused.as_dict("en"))


def test_what_is_wrong_with_an_smtp_server_is_said_in_plain_words() -> None:
    port = free_port()
    with smtp_server(port):
        plain = SmtpServer(port=port, timeout_seconds=5)
        assert asyncio.run(check_smtp(plain)).ok
        assert asyncio.run(check_smtp(replace(plain, tls=True))).key == "check.tls_failed"
        assert asyncio.run(check_smtp(replace(plain, starttls=True))).key == "check.starttls_missing"
    assert asyncio.run(check_smtp(SmtpServer(port=free_port(), timeout_seconds=5))).key == "check.unreachable"
    unknown = asyncio.run(check_smtp(SmtpServer(host="no-such-host.invalid", port=25, timeout_seconds=5)))
    assert unknown.key == "check.unknown_host"


def test_every_word_of_the_checks_is_in_spanish_too() -> None:
    en, es = (json.loads((I18N_DIR / f"{lang}.json").read_text("utf-8")) for lang in ("en", "es"))
    assert {k for k in en if k.startswith("check.")} == {k for k in es if k.startswith("check.")}
