"""A step's call through its dependency's circuit breaker.

Before an attempt of a step whose dependency has a breaker starts, :func:`admit_call`
asks the worker's snapshot of the breakers (a closed circuit costs no query) and, when
it says anything else, the store. While the circuit is open the instance suspends in
state ``circuit open: NAME`` (``WaitKind.CIRCUIT``) *before* its attempt begins, so the
wait spends no attempt, until the circuit may half-open (plus jitter, so that waiters
do not arrive together); a close wakes it at once. After the call :func:`record_call`
records its outcome. A business :class:`~daytwo.Reject` is not the dependency's fault
and is not counted. A failed half-open probe is recorded as a failed attempt but, like an
attempt lost with its worker, does not count against the step's retries (see
``_attempts.py``): during a long outage the same instances probe again and again, and
they must not fail for it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from daytwo._errors import Reject, Suspended
from daytwo.engine._definitions import Step
from daytwo.store import BreakerPolicy, WaitKind, circuit_state, classify

if TYPE_CHECKING:
    from daytwo.engine._attempts import AttemptRun

__all__ = ["CircuitCall", "admit_call", "record_call", "try_admit"]

#: The most jitter added to an open circuit's wake-up (seconds), and as a share of open_for.
MAX_JITTER = 1.0
JITTER_SHARE = 0.1


@dataclass(frozen=True, slots=True)
class CircuitCall:
    """A call admitted through a breaker: what :func:`record_call` needs afterwards."""

    dependency: str
    #: The code's declaration (it creates the stored breaker if none is stored yet).
    declared: BreakerPolicy | None
    #: The policy that classifies the call (slow or not).
    policy: BreakerPolicy
    #: A half-open circuit's probe (it holds a probe permit).
    probe: bool


def admit_call(run: AttemptRun, step: Step[Any, Any], seq: int) -> CircuitCall | None:
    """Let the call of ``step`` at ``seq`` through its dependency's breaker, or suspend.

    None for a step without a dependency or whose dependency has no breaker.
    """
    run.probing = None
    admitted = try_admit(run, step)
    if not isinstance(admitted, float):
        if admitted is not None and admitted.probe:
            run.probing = admitted.dependency
        return admitted
    assert step.dependency is not None
    try:
        run._suspend(WaitKind.CIRCUIT, step.name, seq, admitted, circuit_state(step.dependency))
    except Suspended:
        # A close that committed after the admission found nothing to wake: look again.
        run._store(run.runtime.flow.breakers.wake_if_closed, run.instance_id, step.dependency)
        raise


def try_admit(run: AttemptRun, step: Step[Any, Any]) -> CircuitCall | float | None:
    """The admitted call of ``step``, None without a breaker, or (its circuit is open) the
    time to ask again, jitter included. A fan-out's branches are admitted this way, without
    suspending while other branches run (``_fanout_steps.py``)."""
    dependency = step.dependency
    if dependency is None:
        return None
    declared = run.runtime.registry.breakers.get(dependency)
    breakers = run.runtime.flow.breakers
    view = run._store(breakers.snapshot).get(dependency)
    if view is None:
        return None if declared is None else CircuitCall(dependency, declared, declared, False)
    if view.state.lets_calls_through:
        return CircuitCall(dependency, declared, view.policy, False)
    # The snapshot may be a second old: decide on the stored state.
    admission = run._store(breakers.admit, dependency, declared, run.instance_id, run.token)
    if admission.allowed:
        return CircuitCall(dependency, declared, view.policy, admission.probe)
    assert admission.retry_at is not None
    jitter = random.uniform(0, min(MAX_JITTER, JITTER_SHARE * view.policy.open_for))
    return float(admission.retry_at + jitter)


def record_call(
    run: AttemptRun,
    call: CircuitCall,
    started: float,
    error: Exception | None,
    finished: float | None = None,
) -> None:
    """Record how the admitted ``call`` went (``error``: the exception it raised)."""
    duration = (run._now() if finished is None else finished) - started
    if error is None:
        run.probing = None  # (a failure's is read, then cleared, by _attempt_failed)
    outcome = (
        None if isinstance(error, Reject) else classify(call.policy, error is not None, duration)
    )
    breakers = run.runtime.flow.breakers
    run._store(
        breakers.record,
        call.dependency,
        call.declared,
        outcome,
        run.instance_id,
        run.token,
        probe=call.probe,
        duration=duration,
    )
