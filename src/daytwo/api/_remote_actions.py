"""The operator actions of a :class:`RemoteClient` over HTTP (retry, skip, ... restart,
fork, explain, bulk): the same signatures as :class:`daytwo._actions.ClientActions`, each
one request to the route that runs the Client's method."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

__all__ = ["RemoteActions"]


class RemoteActions:
    """Mixed into :class:`RemoteClient` before :class:`Client`, so these win."""

    if TYPE_CHECKING:

        def call(
            self,
            method: str,
            path: str,
            into: Any = None,
            *,
            json: Any = None,
            params: Mapping[str, Any] | None = None,
        ) -> Any: ...
