"""Client handles: one instance (:class:`InstanceHandle`); the human-task inbox
(:class:`HumanTasks`, ``_human_tasks.py``) is re-exported here."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from daytwo._human_tasks import HumanTasks
from daytwo._records import HistoryEvent, Instance

if TYPE_CHECKING:
    from daytwo._client import Client

__all__ = ["HumanTasks", "InstanceHandle"]


class InstanceHandle:
    """A reference to one instance, acting through the :class:`~daytwo.Client` that made
    it (an App's handles through the App's client)."""

    def __init__(self, client: Client, instance_id: str, *, created: bool = True) -> None:
        self.client = client
        self.id = instance_id
        #: False when ``start`` found an existing instance with this id.
        self.created = created

    def status(self) -> Instance:
        """The instance as stored now."""
        return self.client.get(self.id)

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the output (see :meth:`Client.result`)."""
        return self.client.result(self.id, timeout)

    def signal(self, name: str, payload: Any = None) -> None:
        """Send a signal to this instance."""
        self.client.signal(self.id, name, payload)

    def cancel(self, reason: str = "cancelled by operator") -> None:
        """Cancel this instance."""
        self.client.cancel(self.id, reason)

    def history(self) -> builtins.list[HistoryEvent]:
        """This instance's history."""
        return self.client.history(self.id)

    def __repr__(self) -> str:
        return f"<InstanceHandle {self.id!r}>"
