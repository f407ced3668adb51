"""How an instance relates to others: :class:`Link`, as ``Instance.links`` shows them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from daytwo.store import LinkKind, LinkRow, Store, links_of

__all__ = ["Link", "links_for"]

_WORDS = {
    # kind -> (this instance was made from the other, the other was made from this one)
    LinkKind.RESTARTED_FROM: ("restart of", "restarted as"),
    LinkKind.FORKED_FROM: ("fork of", "forked as"),
    LinkKind.CHILD_OF: ("child of", "parent of"),
}


@dataclass(frozen=True)
class Link:
    """A link between this instance and ``other``.

    ``made_from``: this instance was made from ``other`` (a restart or fork of it); False:
    ``other`` was made from this one. ``position``: where a fork began.
    """

    kind: LinkKind
    other: str
    made_from: bool
    position: int | None
    at: datetime

    def describe(self) -> str:
        """In words: "restart of order-1", "forked as order-1-fork-1 at position 3"."""
        words = _WORDS.get(self.kind, (f"{self.kind} of", f"{self.kind} by"))
        text = f"{words[0] if self.made_from else words[1]} {self.other}"
        return text if self.position is None else f"{text} at position {self.position}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the time as ISO 8601)."""
        return {
            "kind": str(self.kind),
            "other": self.other,
            "made_from": self.made_from,
            "position": self.position,
            "at": self.at.isoformat(),
            "text": self.describe(),
        }


def links_for(store: Store, instance_id: str) -> tuple[Link, ...]:
    """Both directions: what the instance was made from, then what was made from it."""
    made_from, made_into = links_of(store, instance_id)
    return tuple(
        [_link(row, row["linked_id"], True) for row in made_from]
        + [_link(row, row["instance_id"], False) for row in made_into]
    )


def _link(row: LinkRow, other: str, made_from: bool) -> Link:
    return Link(
        kind=LinkKind(row["kind"]),
        other=other,
        made_from=made_from,
        position=row["position"],
        at=datetime.fromtimestamp(row["created_at"], UTC),
    )
