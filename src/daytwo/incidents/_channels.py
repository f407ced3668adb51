"""Sending one rendered message over one channel: HTTP POSTs and SMTP.

Webhooks, Slack and PagerDuty get a JSON POST (httpx, with a timeout); any answer but a
2xx is a failure. Every message carries an idempotency key (``Idempotency-Key`` on HTTP,
the ``Message-ID`` of an e-mail), the same on every retry of one notification, so a
receiver that saw it can drop the repeat (delivery is at least once).

A channel's secrets (``${ENV}`` references) are read at send time, and a failure's message
names the channel by its :attr:`Channel.target` and never holds the URL, a token, the
routing key or the SMTP password: it is stored in the database and shown.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from daytwo._errors import DaytwoError, InvalidInput
from daytwo.incidents._contacts import Channel, expand_env
from daytwo.incidents._templates import EmailContent
from daytwo.incidents._vocabulary import ChannelKind

__all__ = [
    "PAGERDUTY_EVENTS_URL",
    "SMTP_URL_ENV",
    "ChannelSender",
    "NotificationError",
    "SmtpSettings",
]

#: Where PagerDuty Events API v2 events go when a channel names no address.
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
#: The environment variable :meth:`SmtpSettings.from_env` reads.
SMTP_URL_ENV = "DAYTWO_SMTP_URL"
#: How much of a refusing receiver's answer a failure keeps.
_BODY_SHOWN = 200
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


class NotificationError(DaytwoError):
    """One message was not delivered; the message is safe to store and show."""


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """The SMTP server e-mail notifications go through.

    ``password`` may be a ``${ENV}`` reference (read at send time); ``ssl``: implicit TLS
    (``smtps://``, port 465); ``starttls``: upgrade a plain connection.
    """

    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    timeout: float = 10.0
    ssl: bool = False

    @property
    def target(self) -> str:
        """The server, safe to show (no credentials)."""
        return f"{'smtps' if self.ssl else 'smtp'}://{self.host}:{self.port}"

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        """``smtp://user:pass@host:port?from=daytwo@example.com&starttls=1`` (or
        ``smtps://`` for implicit TLS; ``timeout=`` seconds). Errors never echo the URL."""
        what = f"the SMTP URL (${SMTP_URL_ENV})"
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            raise InvalidInput(f"{what} is not a valid URL; write it as "
                               "smtp://user:password@host:port?from=address") from None  # fmt: skip
        if parts.scheme not in ("smtp", "smtps"):
            raise InvalidInput(
                f"{what} must start with smtp:// or smtps:// (got {parts.scheme or 'none'}://)"
            )
        if not parts.hostname:
            raise InvalidInput(f"{what} names no host; write it as smtp://host:port?from=address")
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        unknown = sorted(set(query) - {"from", "starttls", "timeout"})
        if unknown:
            raise InvalidInput(
                f"{what} has unknown option(s) {', '.join(unknown)}; known: from, starttls, timeout"
            )
        sender = query.get("from", "").strip()
        if not sender:
            raise InvalidInput(f"{what} needs ?from=<address>, the sender of notification e-mails")
        starttls = query.get("starttls", "").lower()
        if starttls not in _TRUE | _FALSE:
            raise InvalidInput(f"{what}: starttls must be 1 or 0 (got {starttls!r})")
        try:
            timeout = float(query.get("timeout", "10"))
        except ValueError:
            timeout = -1.0
        if not 0 < timeout < float("inf"):
            raise InvalidInput(f"{what}: timeout must be a positive number of seconds")
        secure = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=port or (465 if secure else 25),
            sender=sender,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            starttls=starttls in _TRUE,
            timeout=timeout,
            ssl=secure,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SmtpSettings | None:
        """The settings in ``$DAYTWO_SMTP_URL`` (None when it is not set)."""
        url = (os.environ if environ is None else environ).get(SMTP_URL_ENV, "").strip()
        return cls.from_url(url) if url else None


class ChannelSender:
    """Sends rendered messages. ``smtp``: the server for e-mail (None: e-mail channels fail
    with a message saying how to configure one); ``timeout``: seconds per HTTP request."""

    def __init__(
        self,
        smtp: SmtpSettings | None = None,
        *,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.smtp = smtp
        self.timeout = timeout
        # Made at the first HTTP send: building a client loads the CA bundle (tens of
        # milliseconds), and most workers never notify anyone.
        self._given = client
        self._made: httpx.Client | None = None

    @property
    def _client(self) -> httpx.Client:
        if self._given is not None:
            return self._given
        if self._made is None:
            self._made = httpx.Client(timeout=self.timeout)
        return self._made

    def close(self) -> None:
        if self._made is not None:
            self._made.close()
            self._made = None

    def send(
        self, channel: Channel, message: dict[str, Any] | EmailContent, idempotency_key: str
    ) -> None:
        """Deliver ``message`` over ``channel``; raises :class:`NotificationError`."""
        try:
            resolved = channel.resolved()
        except InvalidInput as exc:  # an unset ${ENV}: the message names only the variable
            raise NotificationError(f"{channel.target}: {exc}") from None
        if channel.kind is ChannelKind.EMAIL:
            if not isinstance(message, EmailContent):
                raise TypeError("an e-mail channel needs EmailContent from its template")
            self._mail(resolved, message, idempotency_key)
            return
        if not isinstance(message, dict):
            raise TypeError(f"a {channel.kind} channel needs a JSON object from its template")
        body = message
        url = resolved.address
        if channel.kind is ChannelKind.PAGERDUTY:
            if not resolved.routing_key:
                raise NotificationError(
                    f"{channel.target}: a pagerduty channel needs a routing_key (its "
                    "integration key; write it as ${ENV_VAR} in ownership.yaml)"
                )
            body = {**message, "routing_key": resolved.routing_key}
            url = url or PAGERDUTY_EVENTS_URL
        secrets = [resolved.address, resolved.routing_key, _url_token(resolved.address)]
        self._post(url, body, idempotency_key, channel.target, secrets)

    def _post(
        self,
        url: str,
        body: dict[str, Any],
        key: str,
        target: str,
        secrets: Iterable[str | None],
    ) -> None:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "daytwo-incidents",
            "Idempotency-Key": key,
        }
        try:
            response = self._client.post(url, json=body, headers=headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            # httpx's messages may hold the URL (with a Slack token): scrub, do not chain.
            error = _scrub(str(exc), secrets, target)
            raise NotificationError(f"{target}: {type(exc).__name__}: {error}") from None
        if not 200 <= response.status_code < 300:
            answer = _scrub(response.text[:_BODY_SHOWN].strip(), secrets, target)
            shown = f": {' '.join(answer.split())}" if answer else ""
            raise NotificationError(f"{target}: HTTP {response.status_code}{shown}")

    def _mail(self, channel: Channel, content: EmailContent, key: str) -> None:
        smtp = self.smtp
        if smtp is None:
            raise NotificationError(
                f"{channel.target}: no SMTP server is configured for e-mail notifications; "
                f"set ${SMTP_URL_ENV} (smtp://host:port?from=address) where the worker runs"
            )
        message = EmailMessage()
        message["From"] = smtp.sender
        message["To"] = channel.address
        message["Subject"] = content.subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = f"<{key}@daytwo>"
        message["X-Daytwo-Idempotency-Key"] = key
        message.set_content(content.body)
        password: str | None = None
        try:
            password = None if smtp.password is None else expand_env(smtp.password)
            connect = smtplib.SMTP_SSL if smtp.ssl else smtplib.SMTP
            with connect(smtp.host, smtp.port, timeout=smtp.timeout) as server:
                if smtp.starttls and not smtp.ssl:
                    server.starttls(context=ssl.create_default_context())
                if smtp.username:
                    server.login(smtp.username, password or "")
                server.send_message(message)
        except (smtplib.SMTPException, OSError, InvalidInput) as exc:
            error = _scrub(str(exc), [password], channel.target)
            raise NotificationError(
                f"{channel.target} via {smtp.target}: {type(exc).__name__}: {error}"
            ) from None


def _url_token(url: str) -> str | None:
    """A Slack-style hook's last path segment (its token), to scrub on its own too."""
    path = urlsplit(url).path.rstrip("/")
    return path.rsplit("/", 1)[-1] if path.count("/") > 2 else None


def _scrub(text: str, secrets: Iterable[str | None], target: str) -> str:
    """``text`` with every secret replaced (a full URL by its safe target)."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, target if "://" in secret else "***")
    return text
