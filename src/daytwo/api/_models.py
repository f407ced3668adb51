"""What request bodies have in common: unknown fields are refused, not ignored."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

__all__ = ["Body", "Done", "Page"]

T = TypeVar("T")


class Body(BaseModel):
    """Base of every request body: a misspelt field is a 422 naming it, never ignored
    (an ignored ``reason`` or ``dry_run`` would be worse than a refusal)."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    """One page of a listing, newest first; ``next`` is the cursor of the following page
    (pass it as ``?after=``), None on the last page."""

    items: list[T]
    next: str | None = None


class Done(BaseModel):
    """The answer of an action that returns nothing else."""

    ok: bool = True
