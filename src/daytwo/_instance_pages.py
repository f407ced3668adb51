"""Instances page by page (keyset paging), for listings that go on: the HTTP API's.

A page's cursor is the (created_at, id) of its last instance, as opaque URL-safe text: the
next page starts strictly after it in the listing's order (newest first, then id), so new
instances arriving meanwhile never shift a page or repeat a row, and every page costs one
indexed range read however deep it is (an OFFSET would read every row before it).
"""

from __future__ import annotations

import base64
import builtins
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from daytwo._errors import InvalidInput
from daytwo._records import Instance

if TYPE_CHECKING:
    from daytwo._client import Client

__all__ = ["InstancePage", "page"]

#: Most instances one page may hold.
MAX_PAGE = 1000


@dataclass(frozen=True)
class InstancePage:
    """One page of instances, and the cursor of the next (None: this was the last)."""

    items: builtins.list[Instance]
    next: str | None


def _cursor(instance: Instance) -> str:
    raw = json.dumps([instance.created_at.timestamp(), instance.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _position(cursor: str) -> tuple[float, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, last_id = json.loads(base64.urlsafe_b64decode(padded))
        return float(created), str(last_id)
    except (ValueError, TypeError):
        raise InvalidInput(
            f"the cursor {cursor!r} is not one this listing returned; pass the `next` of the "
            "previous page as after=, or leave it out for the first page"
        ) from None


def page(
    client: Client,
    *,
    workflow: str | None = None,
    status: str | Sequence[str] | None = None,
    state: str | None = None,
    limit: int = 100,
    after: str | None = None,
    workflows: Sequence[str] | None = None,
) -> InstancePage:
    """A page of instances, newest first, filtered as :meth:`Client.list`; ``after`` is
    the previous page's ``next``; ``workflows`` limits the listing to those workflows."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE} (got {limit})")
    statuses = client.checked_statuses(status)
    rows = client.store.list_instances(
        workflow=workflow, statuses=statuses, state=state, limit=limit + 1,
        workflows=workflows, after=None if after is None else _position(after),
    )  # fmt: skip
    items = client.explained(rows[:limit])
    return InstancePage(items, _cursor(items[-1]) if len(rows) > limit else None)
