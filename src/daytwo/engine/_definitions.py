"""Workflow and step definitions, and the registry an app keeps of them."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar, overload

from daytwo._errors import InvalidInput, WorkflowNotFound
from daytwo.engine._async_context import PendingStep
from daytwo.engine._context import current_run
from daytwo.engine._retry import FailurePolicy, Retry, failure_policy
from daytwo.engine._signature import InputSignature
from daytwo.engine._step_call import StepCall
from daytwo.store import BreakerPolicy, ScheduleSpec

__all__ = ["Registry", "Step", "WorkflowDefinition"]

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])

#: Letters and digits of any script (``bestellung-über``, ``注文``), '_', '-', '.', ':'.
#: No spaces, slashes or quotes: names appear in shell commands, URLs and metric labels.
_NAME = re.compile(r"^[^\W_][\w.:\-]{0,199}\Z")


def check_name(kind: str, name: str) -> str:
    """Refuse names that would be awkward in a CLI, a URL or a metric label."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(
            f"invalid {kind} name {name!r}: use 1-200 characters from letters (of any "
            "script), digits, '_', '-', '.' and ':', starting with a letter or digit"
        )
    return name


class Step(Generic[P, R]):
    """A function whose outcome is recorded: called in a workflow, it runs at most once per
    history position (again only after a crash, with the same idempotency key).

    Called outside a workflow, or from inside another step, it is a plain function call.
    """

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str,
        retry: Retry,
        dependency: str | None,
        timeout: float | None,
        on_failure: FailurePolicy | None = None,
    ) -> None:
        self.fn = fn
        #: An ``async def`` step: it runs on the worker's event loop (``_step_loop.py``).
        self.is_async = inspect.iscoroutinefunction(fn)
        self.name = check_name("step", name)
        self.retry = retry
        self.dependency = dependency
        self.timeout = timeout
        #: What failing for good does (None: the workflow's policy).
        self.on_failure = None if on_failure is None else failure_policy(on_failure)
        # Precomputed: these name the value in a serialization error on every call.
        self.describe_arguments = f"the arguments of step {name!r}"
        self.describe_result = f"the result of step {name!r}"
        self.compensation: Callable[..., Any] | None = None
        self.compensation_retry: Retry = retry
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", name)
        self.__wrapped__ = fn

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        run = current_run()
        if run is None:
            return self.fn(*args, **kwargs)
        if run.awaits is not None:  # an async workflow awaits the call (sync steps too)
            return PendingStep(run, self, args, kwargs)  # type: ignore[return-value]
        result: R = run.call_step(self, args, kwargs)
        return result

    def defer(self, *args: P.args, **kwargs: P.kwargs) -> StepCall[R]:
        """This call, described but not made: a branch for ``ctx.gather`` to run."""
        return StepCall(self, args, kwargs)

    # Typed so that a compensation keeps its own signature under ``mypy --strict``: as
    # ``@step.compensate`` it returns the function, as ``@step.compensate(retry=...)`` a
    # decorator that does.
    @overload
    def compensate(self, fn: F, *, retry: Retry | None = None) -> F: ...

    @overload
    def compensate(self, fn: None = None, *, retry: Retry | None = None) -> Callable[[F], F]: ...

    def compensate(
        self, fn: Callable[..., Any] | None = None, *, retry: Retry | None = None
    ) -> Any:
        """Register the compensation of this step (usable as ``@step.compensate``).

        The compensation is called with the step's arguments followed by its result, in
        reverse order of completion, when the instance fails for good or is cancelled.
        """

        def register(function: F) -> F:
            self.compensation = function
            if retry is not None:
                self.compensation_retry = retry
            return function

        return register(fn) if fn is not None else register

    def __repr__(self) -> str:
        return f"<daytwo step {self.name!r}>"


@dataclass(frozen=True)
class WorkflowDefinition:
    """A registered workflow function at one version."""

    name: str
    version: str
    fn: Callable[..., Any]
    #: Where new instances wait for a worker, and their priority there (lower runs first).
    queue: str = "default"
    priority: int = 0
    #: What a step that fails for good does, unless the step says otherwise.
    on_failure: FailurePolicy = FailurePolicy.COMPENSATE
    #: The input the function takes; read from ``fn`` when not given.
    signature: InputSignature = field(default=None)  # type: ignore[assignment]
    #: Seconds after its end that an instance is kept (None: the app's default retention).
    retention: float | None = None
    #: An ``async def`` workflow: the engine drives its coroutine (``_async_workflow.py``).
    is_async: bool = field(init=False, default=False)
    #: Seconds an instance may take from its creation (None: no deadline); a start may
    #: give another.
    timeout: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "is_async", inspect.iscoroutinefunction(self.fn))
        if self.signature is None:
            object.__setattr__(self, "signature", InputSignature.of(self.name, self.fn))

    def call(self, ctx: Any, input_value: Any) -> Any:
        """Call the workflow function as it was declared: ``fn(ctx)`` or ``fn(ctx, input)``."""
        if self.signature.takes_input:
            return self.fn(ctx, input_value)
        return self.fn(ctx)


def version_key(version: str) -> tuple[Any, ...]:
    """Sort key for versions: numeric parts compare as numbers ("1.10" > "1.9")."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"[.\-+]", version)
    )


@dataclass
class Registry:
    """The workflows and steps an app knows, by name."""

    workflows: dict[str, dict[str, WorkflowDefinition]] = field(default_factory=dict)
    steps: dict[str, Step[Any, Any]] = field(default_factory=dict)
    #: The circuit breakers the code declares, by dependency (``app.circuit_breaker``):
    #: the defaults a worker stores when no breaker of that name is stored yet.
    breakers: dict[str, BreakerPolicy] = field(default_factory=dict)
    #: The schedules the code declares, by name (``app.schedule``): a worker stores them.
    schedules: dict[str, ScheduleSpec] = field(default_factory=dict)

    def add_workflow(self, definition: WorkflowDefinition) -> None:
        """Register a workflow version; the same name and version twice is an error."""
        versions = self.workflows.setdefault(definition.name, {})
        existing = versions.get(definition.version)
        if existing is not None and existing.fn is not definition.fn:
            raise InvalidInput(
                f"workflow {definition.name!r} version {definition.version!r} is registered "
                "twice; give the new code a new version"
            )
        versions[definition.version] = definition

    def add_step(self, step: Step[Any, Any]) -> None:
        """Register a step; two different functions may not share a name."""
        existing = self.steps.get(step.name)
        if existing is not None and existing.fn is not step.fn:
            raise InvalidInput(
                f"two steps are named {step.name!r}; pass name=... to @app.step to tell them apart"
            )
        self.steps[step.name] = step

    def workflow(self, name: str, version: str | None = None) -> WorkflowDefinition:
        """The definition to run: the given version, or the newest registered one."""
        versions = self.workflows.get(name)
        if not versions:
            # daytwo's own workflows (daytwo.bulk) are not what a user misspelt.
            raise WorkflowNotFound(name, [n for n in self.workflows if not n.startswith("daytwo.")])
        if version is None:
            if len(versions) == 1:  # the common case; spares parsing the version
                return next(iter(versions.values()))
            return versions[max(versions, key=version_key)]
        if version not in versions:
            raise WorkflowNotFound(name, [f"{name}@{v}" for v in versions], version)
        return versions[version]

    def find(self, name: str, version: str) -> WorkflowDefinition | None:
        """The exact definition, or None."""
        return self.workflows.get(name, {}).get(version)

    def pairs(self) -> list[tuple[str, str]]:
        """Every registered (workflow, version)."""
        return [
            (name, version) for name, versions in self.workflows.items() for version in versions
        ]

    def step(self, name: str) -> Step[Any, Any] | None:
        """A registered step by name."""
        return self.steps.get(name)
