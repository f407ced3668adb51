"""Objectives registered next to the workflows of an App (the Python way to define them)."""

from __future__ import annotations

from weakref import WeakKeyDictionary

from daytwo._errors import InvalidInput
from daytwo.app import App
from daytwo.slo._definitions import Objective

__all__ = ["objectives_for", "register"]

_registered: WeakKeyDictionary[App, dict[str, Objective]] = WeakKeyDictionary()


def register(app: App, *objectives: Objective) -> None:
    """Attach objectives to ``app``; ``daytwo slo`` and ``daytwo worker`` find them there.

    Registering the same definition twice is harmless; two different definitions under one
    name are refused.
    """
    known = _registered.setdefault(app, {})
    for objective in objectives:
        if not isinstance(objective, Objective):
            raise InvalidInput(f"{objective!r} is not a daytwo.slo.Objective")
        previous = known.get(objective.name)
        if previous is not None and previous != objective:
            raise InvalidInput(
                f"objective {objective.name!r} is registered twice with different definitions; "
                "give each objective its own name"
            )
        known[objective.name] = objective


def objectives_for(app: App) -> list[Objective]:
    """The objectives registered on ``app``, in registration order."""
    return list(_registered.get(app, {}).values())


def step_dependencies(app: App) -> dict[str, str]:
    """Step name → the dependency it calls, for the app's steps that declare one."""
    return {
        name: step.dependency
        for name, step in app.registry.steps.items()
        if step.dependency is not None
    }
