"""What input a workflow takes, checked when an instance starts rather than when it runs.

A workflow is ``fn(ctx)`` (no input) or ``fn(ctx, input)``. An input that the function
cannot take (one given to a workflow without an input parameter, none given to one that
requires it, or a value that does not fit the parameter's annotation) would otherwise be
accepted, stored, and fail later on a worker with a ``TypeError``; refusing it at start
puts the error where the caller can fix it.

Plain annotations (``dict``, ``list``, ``str``, ``int``, ``float``, ``bool``) are checked
with ``isinstance`` on the value as the workflow will receive it (JSON-loaded). Anything
richer (``dict[str, int]``, a ``TypedDict``, a dataclass, a Pydantic model) is checked by
Pydantic in strict mode, imported only then. The check never converts: the workflow gets
the stored (JSON) form, exactly as on every replay.
"""

from __future__ import annotations

import inspect
import logging
import sys
import typing
from collections.abc import Callable
from typing import Any

from daytwo._errors import InvalidInput

__all__ = ["InputSignature"]

log = logging.getLogger("daytwo.engine")

#: Annotations checked with isinstance (bool is an int in Python, not in JSON).
_PLAIN: dict[Any, tuple[type, ...]] = {
    dict: (dict,),
    list: (list,),
    str: (str,),
    int: (int,),
    float: (int, float),
    bool: (bool,),
}
_JSON_NAMES = {
    dict: "a JSON object",
    list: "a JSON array",
    str: "a JSON string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
}
_UNCHECKED = (inspect.Parameter.empty, Any, object)
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class InputSignature:
    """The input parameter of a workflow function: whether there is one, and its type."""

    __slots__ = ("_adapter", "annotation", "parameter", "required", "workflow")

    def __init__(
        self, workflow: str, parameter: str | None, required: bool, annotation: Any
    ) -> None:
        self.workflow = workflow
        #: The input parameter's name; None when the workflow is ``fn(ctx)``.
        self.parameter = parameter
        self.required = required
        self.annotation = annotation
        self._adapter: Any = None

    @classmethod
    def of(cls, workflow: str, fn: Callable[..., Any]) -> InputSignature:
        """Read ``fn``'s signature; refuse one that cannot be called as ``fn(ctx, input)``."""
        try:
            parameters = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):  # a builtin or C callable: nothing to check
            return cls(workflow, "input", False, inspect.Parameter.empty)
        positional = [p for p in parameters if p.kind in _POSITIONAL]
        varargs = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
        required = [p for p in positional if p.default is inspect.Parameter.empty]
        if (not positional and not varargs) or len(required) > 2:
            raise InvalidInput(
                f"workflow {workflow!r} must take (ctx) or (ctx, input), but its function is "
                f"{getattr(fn, '__name__', fn)}{inspect.signature(fn)}; pass several values "
                "as one dict input"
            )
        if len(positional) < 2:
            if varargs:
                return cls(workflow, "input", False, inspect.Parameter.empty)
            return cls(workflow, None, False, inspect.Parameter.empty)
        parameter = positional[1]
        annotation = parameter.annotation
        if annotation is not inspect.Parameter.empty:
            try:
                annotation = typing.get_type_hints(fn).get(parameter.name, annotation)
            except Exception:  # a forward reference that cannot be resolved: no check
                log.debug("cannot resolve the annotations of workflow %r", workflow)
                annotation = inspect.Parameter.empty
        if isinstance(annotation, str):
            annotation = inspect.Parameter.empty
        required_input = parameter.default is inspect.Parameter.empty
        return cls(workflow, parameter.name, required_input, annotation)

    @property
    def takes_input(self) -> bool:
        """Whether the workflow function has an input parameter."""
        return self.parameter is not None

    def check(self, value: Any, text: str, json_text: bool) -> None:
        """Refuse ``value`` (stored as ``text``) if the workflow cannot take it.

        ``json_text`` says ``text`` is JSON (the default serializer), which Pydantic then
        validates directly.
        """
        if self.parameter is None:
            if value is not None:
                raise InvalidInput(
                    f"workflow {self.workflow!r} takes no input (its function is fn(ctx)), "
                    f"but the start gave {_shown(value)}; start it without an input, or add "
                    "an input parameter: fn(ctx, input)"
                )
            return
        if value is None and not self.required:
            return
        if self.annotation in _UNCHECKED:
            return
        if value is None and not self._allows(None, text, json_text):
            raise InvalidInput(
                f"workflow {self.workflow!r} needs an input ({self._expected()}) and the "
                f"start gave none; pass one, e.g. daytwo start {self.workflow} "
                """'{"id": "42"}'"""
            )
        if not self._allows(value, text, json_text):
            raise InvalidInput(
                f"the input of workflow {self.workflow!r} does not fit its parameter "
                f"{self.parameter!r}: expected {self._expected()}, got {_shown(value)}; pass "
                "an input of that type"
            )

    def _expected(self) -> str:
        plain = _JSON_NAMES.get(self.annotation)
        if plain is not None:
            return f"{plain} ({self.annotation.__name__})"
        if isinstance(self.annotation, type):  # a class: its name, not its repr
            return self.annotation.__name__
        return str(self.annotation).replace("typing.", "")

    def _allows(self, value: Any, text: str, json_text: bool) -> bool:
        plain = _PLAIN.get(self.annotation)
        if plain is not None:
            if self.annotation is not bool and isinstance(value, bool):
                return False
            return isinstance(value, plain)
        adapter = self._pydantic_adapter()
        if adapter is None:
            return True
        from pydantic import ValidationError

        try:
            if json_text:
                adapter.validate_json(text, strict=True)
            else:
                adapter.validate_python(value, strict=True)
        except ValidationError:
            return False
        return True

    def _pydantic_adapter(self) -> Any:
        if self._adapter is None:
            from pydantic import TypeAdapter

            try:
                self._adapter = TypeAdapter(_for_pydantic(self.annotation))
            except Exception:  # a type Pydantic cannot describe: accept any input
                log.debug("workflow %r: no input check for %r", self.workflow, self.annotation)
                self._adapter = False
        return self._adapter or None


def _for_pydantic(annotation: Any) -> Any:
    """``annotation``, with a ``typing.TypedDict`` made into the ``typing_extensions`` kind
    that Pydantic requires before Python 3.12 (same name, fields and totality)."""
    if sys.version_info >= (3, 12) or not typing.is_typeddict(annotation):
        return annotation
    import typing_extensions

    fields = typing.get_type_hints(annotation, include_extras=True)
    return typing_extensions.TypedDict(  # type: ignore[operator]
        annotation.__name__, fields, total=annotation.__total__
    )


def _shown(value: Any) -> str:
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    kind = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return f"{kind.get(type(value), type(value).__name__)} {text}"
