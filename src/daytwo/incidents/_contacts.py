"""Who is told about an incident and how: the shapes the ownership registry hands the
notifier (``_ownership.py`` builds them, ``_notifier.py`` sends to them).

A channel's secret parts (a Slack webhook URL's token, a PagerDuty routing key, an SMTP
password) may be written in ``ownership.yaml`` as ``${ENV_VAR}``: the stored definition
keeps the reference and :meth:`Channel.resolved` reads the variable at send time, so the
secret is neither in the repository nor in the database. :attr:`Channel.target` is what
may be shown (host and path, an e-mail address), never the secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from daytwo._errors import InvalidInput
from daytwo.incidents._vocabulary import ChannelKind, RaciRole

__all__ = ["Channel", "Recipient", "expand_env"]

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(value: str, environ: Mapping[str, str] | None = None) -> str:
    """``value`` with each ``${NAME}`` replaced by the environment variable NAME; a variable
    that is not set is refused, naming it (the secret never appears in the message)."""
    env = os.environ if environ is None else environ

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise InvalidInput(
                f"environment variable {name} is not set; set it where the worker runs "
                "(ownership.yaml refers to it as ${" + name + "})"
            )
        return env[name]

    return _REFERENCE.sub(lookup, value)


@dataclass(frozen=True, slots=True)
class Channel:
    """One way to reach a person or team.

    ``address``: the webhook, Slack or PagerDuty URL (PagerDuty: the Events API endpoint,
    default ``https://events.pagerduty.com/v2/enqueue``) or the e-mail address;
    ``routing_key``: PagerDuty's integration key.
    """

    kind: ChannelKind
    address: str
    routing_key: str | None = None

    def resolved(self) -> Channel:
        """This channel with its ``${ENV}`` references read (at send time)."""
        key = None if self.routing_key is None else expand_env(self.routing_key)
        return Channel(self.kind, expand_env(self.address), key)

    @property
    def target(self) -> str:
        """Where it goes, safe to show and store: an address, or a URL's scheme, host and
        path without query, credentials or the last path segment of a Slack hook."""
        if self.kind is ChannelKind.EMAIL:
            return self.address
        parts = urlsplit(self.address)
        path = parts.path
        if self.kind is ChannelKind.SLACK and path.count("/") > 2:
            path = path.rsplit("/", 1)[0] + "/…"
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{path}"


@dataclass(frozen=True, slots=True)
class Recipient:
    """Someone to tell about an incident: a person or team of the registry, the RACI role
    they have at the incident's severity, and their channels."""

    name: str
    role: RaciRole
    channels: tuple[Channel, ...] = field(default_factory=tuple)
