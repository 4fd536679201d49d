"""The SMTP login against a real SMTP server (aiosmtpd) on 127.0.0.1: any password logs in, with each
mechanism, and an answer that echoes the credentials back never carries them into an error."""

from __future__ import annotations

import base64
import hmac
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword
from digest_support import SmtpServer

from kuroshio.digest.options import SmtpConfig
from kuroshio.digest.send import DeliveryError, deliver

# The servers here offer AUTH without TLS, so the transcript is plain to read; aiosmtpd warns of it.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

USERNAME = "kuroshio"
PASSWORD = "pässwörd-密码"
MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5")
CRAM_CHALLENGE = b"<1896.697170952@mail.kuroshio.test>"


class Handler:
    """Accepts every message; logs in who proves `PASSWORD` (PLAIN and LOGIN through the server's
    authenticator, CRAM-MD5 here, as aiosmtpd has no CRAM-MD5 of its own); records every login tried."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.logins: list[tuple[str, bytes, bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    async def auth_CRAM__MD5(self, server: SMTP, args: list[str]) -> AuthResult:
        answer = await server.challenge_auth(CRAM_CHALLENGE)
        assert isinstance(answer, bytes)
        login, _, digest = answer.rpartition(b" ")
        self.logins.append(("CRAM-MD5", login, digest))
        expected = hmac.new(PASSWORD.encode(), CRAM_CHALLENGE, "md5").hexdigest().encode()
        return AuthResult(success=login == USERNAME.encode() and digest == expected, handled=False)

    def authenticator(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: LoginPassword) -> AuthResult:
        self.logins.append((mechanism, auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == PASSWORD.encode(), handled=False)


def start_server(handler: Handler, mechanism: str, **options: Any) -> SmtpServer:
    """A server offering only `mechanism`, without TLS."""
    excluded = [other for other in MECHANISMS if other != mechanism]
    server = SmtpServer(collector=handler, options={  # type: ignore[arg-type]
        "authenticator": handler.authenticator, "auth_required": True, "auth_require_tls": False,
        "auth_exclude_mechanism": excluded, **options})
    return server.start()


def message() -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "kuroshio@example.org", "analyst@example.org", "digest"
    mail.set_content("Taiwan and Japan.")
    return mail


def smtp_config(port: int) -> SmtpConfig:
    return SmtpConfig(port=port, username=USERNAME, password_env="TEST_SMTP_PASSWORD", timeout=10)


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_a_non_ascii_password_logs_in_as_utf_8(mechanism: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """smtplib's own login encodes the credentials as ASCII and fails before the server hears anything."""
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    handler = Handler()
    server = start_server(handler, mechanism)
    try:
        refused = deliver(smtp_config(server.port), message(), recipients=["analyst@example.org"])
    finally:
        server.stop()
    assert refused == {}
    assert len(handler.envelopes) == 1
    assert [login[:2] for login in handler.logins] == [(mechanism, USERNAME.encode())]
    if mechanism != "CRAM-MD5":  # CRAM-MD5 proves the password without sending it
        assert handler.logins[0][2] == PASSWORD.encode("utf-8")


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_a_wrong_password_is_refused_with_the_servers_answer(mechanism: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong-" + PASSWORD)
    handler = Handler()
    server = start_server(handler, mechanism)
    try:
        with pytest.raises(DeliveryError) as refused:
            deliver(smtp_config(server.port), message(), recipients=["analyst@example.org"])
    finally:
        server.stop()
    assert f"127.0.0.1:{server.port} answered 535" in str(refused.value)
    assert handler.envelopes == [] and len(handler.logins) == 1


def base64_forms(secret: bytes) -> list[str]:
    """`secret` base64-encoded, with and without its padding."""
    encoded = base64.b64encode(secret).decode()
    return [encoded, encoded.rstrip("=")]


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_a_server_echoing_the_credentials_does_not_get_them_into_the_error(
    mechanism: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hostile (or chatty) server quotes what it was sent: the password, the base64 the LOGIN exchange
    sent it in, and PLAIN's whole base64 message. The recorded error shows the answer, masked."""
    wrong = "wrong-" + PASSWORD
    monkeypatch.setenv("TEST_SMTP_PASSWORD", wrong)
    plain_message = f"\0{USERNAME}\0{wrong}".encode()
    echoes = [wrong, *base64_forms(wrong.encode()), *base64_forms(plain_message)]

    class Echoing(Handler):
        def authenticator(self, server: Any, session: Any, envelope: Any, mechanism: str,
                          auth_data: LoginPassword) -> AuthResult:
            self.logins.append((mechanism, auth_data.login, auth_data.password))
            return AuthResult(success=False, handled=False, message="535 5.7.8 refused: " + " | ".join(echoes))

    handler = Echoing()
    server = start_server(handler, mechanism)
    try:
        with pytest.raises(DeliveryError) as refused:
            deliver(smtp_config(server.port), message(), recipients=["analyst@example.org"])
    finally:
        server.stop()
    error = str(refused.value)
    assert handler.logins == [(mechanism, USERNAME.encode(), wrong.encode())], "the server got the password"
    assert error.startswith(f"127.0.0.1:{server.port} answered 535 5.7.8 refused: ***"), error
    for echo in echoes:
        assert echo not in error
    assert error.count("***") == len(echoes)
