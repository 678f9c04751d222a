"""Emails to shoppers (order placed, paid, shipped), sent after the commit.

A ``Notifier`` sends one ``Message``. Which one the shop uses is configuration:

``PAVILION_SMTP_URL``
    ``smtp://user:password@host:587?starttls=1&from=shop@example.com`` sends
    through that server; ``smtps://...:465`` speaks TLS from the first byte.
    User and password are percent-encoded when they hold ``@``, ``:`` or ``/``.
    Query parameters: ``from`` (the sender; defaults to the user name when it
    is an address), ``starttls`` (``1``/``0``; default on for port 587),
    ``timeout`` (seconds, default 10).
    Unset: ``LogNotifier``, which only logs who would have got which subject
    (development and tests).

Callers run ``send`` in a background task: it talks to a server, may be slow,
and raises ``NotificationFailed`` for the task to retry. It never logs a
message body (order emails carry names, addresses and tracking links) nor the
SMTP password.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger(__name__)

SMTP_URL_SETTING = "PAVILION_SMTP_URL"
DEFAULT_TIMEOUT_SECONDS = 10.0
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    text: str

    def __post_init__(self):
        for name in ("to", "subject"):
            value = getattr(self, name)
            if "\r" in value or "\n" in value:  # header injection
                raise ValueError(f"a message's {name} must be one line")
        if "@" not in parseaddr(self.to)[1]:
            raise ValueError(f"not an email address: {self.to!r}")


class NotificationFailed(RuntimeError):
    """The message was not handed to the mail server; sending again may work."""


class Notifier(ABC):
    @abstractmethod
    def send(self, message: Message) -> None:
        """Hand ``message`` over for delivery, or raise ``NotificationFailed``."""


class LogNotifier(Notifier):
    """Sends nothing: logs the recipient and subject at INFO, never the body."""

    def send(self, message: Message) -> None:
        log.info("email (not sent, no SMTP server) to %s: %s", message.to, message.subject)

    def __repr__(self) -> str:
        return "<LogNotifier>"


class SmtpNotifier(Notifier):
    """Sends through one SMTP server described by a URL (see the module doc)."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(f"{SMTP_URL_SETTING} must start with smtp:// or smtps://")
        if not parts.hostname:
            raise ValueError(f"{SMTP_URL_SETTING} names no host")
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        self.implicit_tls = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = parts.port or (465 if self.implicit_tls else 587)
        self.username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self.starttls = _flag(query.get("starttls"), default=self.port == 587)
        if self.implicit_tls and self.starttls:
            raise ValueError("smtps:// is TLS already; starttls does not apply")
        self.timeout = float(query.get("timeout") or DEFAULT_TIMEOUT_SECONDS)
        sender = query.get("from") or (self.username if "@" in (self.username or "") else None)
        if not sender:
            raise ValueError(f"{SMTP_URL_SETTING} needs ?from=<address> (the sender)")
        self.sender = sender

    def send(self, message: Message) -> None:
        email = self._email(message)
        try:
            with self._connect() as smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self._password or "")
                smtp.send_message(email)
        except (smtplib.SMTPException, OSError) as exc:
            raise NotificationFailed(
                f"email to {message.to} ({message.subject!r}) not sent through "
                f"{self.host}:{self.port}: {exc}"
            ) from exc
        log.info("email sent to %s: %s", message.to, message.subject)

    def _connect(self) -> smtplib.SMTP:
        if self.implicit_tls:
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)

    def _email(self, message: Message) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False, usegmt=True)
        email["Message-ID"] = make_msgid(domain=parseaddr(self.sender)[1].rpartition("@")[2])
        # Quoted-printable keeps zh/ru text 7-bit clean for any relay.
        email.set_content(message.text, charset="utf-8", cte="quoted-printable")
        return email

    def __repr__(self) -> str:
        user = f"{self.username}:***@" if self.username else ""
        scheme = "smtps" if self.implicit_tls else "smtp"
        return f"<SmtpNotifier {scheme}://{user}{self.host}:{self.port} from {self.sender}>"


def notifier_from_config(
    config: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> Notifier:
    """``SmtpNotifier`` when ``PAVILION_SMTP_URL`` is set (in ``config``, else in
    ``environ``, default ``os.environ``), else ``LogNotifier``."""
    env = os.environ if environ is None else environ
    url = config.get(SMTP_URL_SETTING) or env.get(SMTP_URL_SETTING)
    if not url:
        return LogNotifier()
    return SmtpNotifier(url)


def _flag(value: str | None, *, default: bool) -> bool:
    if value is None or value == "":
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError(f"not a yes/no value in {SMTP_URL_SETTING}: {value!r}")
