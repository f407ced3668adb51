"""The incidents package's errors, on the core's error classes so that the CLI's exit
codes and the API's HTTP statuses map them without knowing this package."""

from __future__ import annotations

from daytwo._errors import DaytwoError, NotRunnable

__all__ = ["IncidentNotFound", "IncidentStillFiring", "InvalidIncidentChange"]


class IncidentNotFound(DaytwoError, LookupError):
    """No incident has the given number (HTTP 404, exit code "not found")."""

    def __init__(self, number: int) -> None:
        super().__init__(
            f"no incident #{number}; `daytwo incidents list --all` shows the incidents"
        )
        self.number = number


class IncidentStillFiring(NotRunnable):
    """A manual resolve of an incident whose source still fires (HTTP 409)."""

    def __init__(self, number: int, firing: list[str]) -> None:
        shown = ", ".join(firing[:3]) + (" ..." if len(firing) > 3 else "")
        super().__init__(
            f"incident #{number} still has {len(firing)} firing alert(s) ({shown}); it "
            "resolves on its own when they resolve, or pass --force to resolve it now"
        )
        self.number = number
        self.firing = firing


class InvalidIncidentChange(NotRunnable):
    """An action that does not apply to the incident as it is (acknowledging a resolved
    one, going back a stage)."""
