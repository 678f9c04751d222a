"""Shopper emails: the log notifier, and the SMTP notifier against a small real
SMTP server on loopback (plus a stand-in for the STARTTLS handshake, which
needs a certificate the loopback server does not have)."""

from __future__ import annotations

import base64
import email
import logging
import socketserver
import threading
from email.policy import default as default_policy
from typing import ClassVar

import pytest

from shop.core import notify
from shop.core.notify import (
    LogNotifier,
    Message,
    NotificationFailed,
    SmtpNotifier,
    notifier_from_config,
)

PLACED = Message(
    to="buyer@example.com",
    subject="Заказ P-1 принят / 订单 P-1 已收到",
    text="Спасибо! 谢谢! Your order P-1 is placed; pay by 2026-11-02.\n",
)


class LoopbackSmtpServer:
    """Just enough ESMTP (RFC 5321) for smtplib: EHLO, AUTH PLAIN, MAIL, RCPT,
    DATA, RSET, NOOP, QUIT. Keeps what it received; can refuse recipients."""

    def __init__(self, *, refuse_recipients: bool = False):
        self.messages: list[dict] = []
        self.logins: list[tuple[str, str]] = []
        outer = self

        class Session(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self):
                envelope: dict = {"rcpt": []}
                self.reply("220 loopback ESMTP")
                while line := self.rfile.readline():
                    command = line.decode().rstrip("\r\n")
                    verb = command.split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250-loopback")
                        self.reply("250-8BITMIME")
                        self.reply("250 AUTH PLAIN")
                    elif verb == "AUTH":
                        _, _, blob = command.split(" ", 2)
                        _, user, password = base64.b64decode(blob).decode().split("\0")
                        outer.logins.append((user, password))
                        self.reply("235 2.7.0 Authentication successful")
                    elif verb == "MAIL":
                        envelope = {"from": command[10:].split(">")[0].lstrip("<"), "rcpt": []}
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        if outer.refuse_recipients:
                            self.reply("550 5.1.1 No such user")
                        else:
                            envelope["rcpt"].append(command[8:].split(">")[0].lstrip("<"))
                            self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 End data with <CR><LF>.<CR><LF>")
                        data = b""
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            data += chunk[1:] if chunk.startswith(b"..") else chunk
                        outer.messages.append({**envelope, "data": data})
                        self.reply("250 OK queued")
                    elif verb in ("RSET", "NOOP"):
                        self.reply("250 OK")
                    elif verb == "QUIT":
                        self.reply("221 Bye")
                        return
                    else:
                        self.reply("502 Command not implemented")

        self.refuse_recipients = refuse_recipients
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Session)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def smtp_server():
    with LoopbackSmtpServer() as server:
        yield server


def test_the_smtp_notifier_delivers_a_utf8_message_through_a_real_server(smtp_server):
    notifier = SmtpNotifier(
        f"smtp://shop%40example.com:p%40ss%3Aword@127.0.0.1:{smtp_server.port}"
        "?starttls=0&from=SCO%20Pavilion%20%3Cshop@example.com%3E"
    )

    notifier.send(PLACED)

    assert smtp_server.logins == [("shop@example.com", "p@ss:word")]
    [received] = smtp_server.messages
    assert received["from"] == "shop@example.com"
    assert received["rcpt"] == ["buyer@example.com"]
    parsed = email.message_from_bytes(received["data"], policy=default_policy)
    assert parsed["Subject"] == PLACED.subject
    assert parsed["From"] == "SCO Pavilion <shop@example.com>"
    assert parsed["To"] == "buyer@example.com"
    assert parsed["Message-ID"].endswith("@example.com>")
    assert parsed.get_content().replace("\r\n", "\n") == PLACED.text  # CRLF on the wire
    assert all(byte < 128 for byte in received["data"])  # 7-bit clean for any relay


def test_without_credentials_the_smtp_notifier_does_not_log_in(smtp_server):
    SmtpNotifier(f"smtp://127.0.0.1:{smtp_server.port}?from=shop@example.com").send(PLACED)

    assert smtp_server.logins == []
    assert len(smtp_server.messages) == 1


def test_a_refused_recipient_is_a_failure_to_retry():
    with LoopbackSmtpServer(refuse_recipients=True) as server:
        notifier = SmtpNotifier(f"smtp://127.0.0.1:{server.port}?from=shop@example.com")

        with pytest.raises(NotificationFailed, match=r"buyer@example\.com"):
            notifier.send(PLACED)


def test_no_server_listening_is_a_failure_to_retry():
    with LoopbackSmtpServer() as server:
        port = server.port  # closed once the server is gone
    notifier = SmtpNotifier(f"smtp://127.0.0.1:{port}?from=shop@example.com&timeout=2")

    with pytest.raises(NotificationFailed):
        notifier.send(PLACED)


class RecordingSmtp:
    """Stands in for smtplib.SMTP at this adapter's edge, to see the TLS handshake."""

    calls: ClassVar[list] = []

    def __init__(self, host, port, timeout):
        RecordingSmtp.calls = [("connect", host, port, timeout)]

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        RecordingSmtp.calls.append(("quit",))

    def ehlo(self):
        RecordingSmtp.calls.append(("ehlo",))

    def starttls(self, context):
        RecordingSmtp.calls.append(("starttls", context.verify_mode.name))

    def login(self, user, password):
        RecordingSmtp.calls.append(("login", user))

    def send_message(self, message):
        RecordingSmtp.calls.append(("send", message["To"]))


def test_starttls_comes_before_the_login(monkeypatch):
    monkeypatch.setattr(notify.smtplib, "SMTP", RecordingSmtp)

    SmtpNotifier("smtp://user:secret@mail.example.com:587?starttls=1&from=shop@example.com").send(
        PLACED
    )

    assert RecordingSmtp.calls == [
        ("connect", "mail.example.com", 587, 10.0),
        ("ehlo",),
        ("starttls", "CERT_REQUIRED"),
        ("ehlo",),
        ("login", "user"),
        ("send", "buyer@example.com"),
        ("quit",),
    ]


def test_port_587_means_starttls_unless_told_otherwise():
    assert SmtpNotifier("smtp://mail.example.com?from=a@example.com").starttls is True
    assert SmtpNotifier("smtp://mail.example.com:25?from=a@example.com").starttls is False
    assert SmtpNotifier("smtps://mail.example.com?from=a@example.com").port == 465


@pytest.mark.parametrize(
    "url",
    [
        "http://mail.example.com?from=a@example.com",
        "smtp://mail.example.com",  # no sender
        "smtp://mail.example.com?from=a@example.com&starttls=maybe",
        "smtps://mail.example.com?from=a@example.com&starttls=1",
    ],
)
def test_a_smtp_url_that_cannot_work_is_refused_at_start(url):
    with pytest.raises(ValueError):  # noqa: PT011 - the message is the module's concern
        SmtpNotifier(url)


def test_the_notifier_never_shows_the_smtp_password():
    notifier = SmtpNotifier("smtp://user:hunter2@mail.example.com?from=a@example.com")

    assert "hunter2" not in repr(notifier)


def test_the_log_notifier_logs_recipient_and_subject_but_never_the_body(caplog):
    with caplog.at_level(logging.INFO, logger="shop.core.notify"):
        LogNotifier().send(
            Message("buyer@example.com", "Your order P-1 has shipped", "Track: secret-token-123")
        )

    assert "buyer@example.com" in caplog.text
    assert "Your order P-1 has shipped" in caplog.text
    assert "secret-token-123" not in caplog.text


def test_the_notifier_follows_the_configuration():
    configured = notifier_from_config(
        {"PAVILION_SMTP_URL": "smtp://mail.example.com?from=shop@example.com"}, environ={}
    )
    from_environment = notifier_from_config(
        {}, environ={"PAVILION_SMTP_URL": "smtp://mail.example.com?from=shop@example.com"}
    )

    assert isinstance(configured, SmtpNotifier)
    assert isinstance(from_environment, SmtpNotifier)
    assert isinstance(notifier_from_config({}, environ={}), LogNotifier)


@pytest.mark.parametrize(
    ("to", "subject"),
    [
        ("buyer@example.com\r\nBcc: all@example.com", "Hi"),
        ("buyer@example.com", "Hi\nBcc: x"),
        ("nobody", "Hi"),
    ],
)
def test_a_message_that_would_inject_headers_or_has_no_address_is_refused(to, subject):
    with pytest.raises(ValueError):  # noqa: PT011
        Message(to, subject, "text")
