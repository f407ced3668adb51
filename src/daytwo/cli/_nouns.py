"""The grammar of the command line: ``daytwo NOUN VERB [ARGUMENTS] [OPTIONS]``.

A noun is a singular kind of thing daytwo keeps (``instance``, ``task``, ``queue``,
``dependency``, ``breaker``, ``workflow``; later packages add theirs: ``incident``,
``runbook``...); a verb is what is done to it, from a small shared set: ``list`` (many,
newest or oldest first, ``--json`` an array), ``show`` (one, by id), ``start``, ``set``
(replace settings), and the domain's own verbs where no shared one fits (``signal``,
``cancel``, ``history``, ``complete``, ``reassign``, ``pause``, ``resume``). Every command
that prints takes ``--json``. The commands of the first releases (``daytwo list``,
``status``, ``tasks ...``, ``queues ...``, ``pause``...) stay as older spellings of the same
functions (and ``pauses``, whose listing ``workflow list`` now includes): hidden from the
top-level help, named in its epilog, never removed.
"""

from __future__ import annotations

import typer

from daytwo.cli._actions import abort, retry, skip, terminate, wake
from daytwo.cli._actions import resume as resume_instance
from daytwo.cli._audit import list_audit
from daytwo.cli._breakers import (
    close_breaker,
    list_breakers,
    open_breaker,
    reset_breaker,
    set_breaker,
    show_breaker,
)
from daytwo.cli._bulk import bulk
from daytwo.cli._explain import explain_instance
from daytwo.cli._flow import (
    list_dependencies,
    list_queues,
    pause,
    resume,
    set_dependency,
    set_queue,
)
from daytwo.cli._history import history
from daytwo.cli._instances import cancel, list_instances, signal, start, status
from daytwo.cli._restart import fork, restart
from daytwo.cli._schedules import (
    list_schedules,
    pause_schedule,
    resume_schedule,
    show_schedule,
    trigger_schedule,
)
from daytwo.cli._start_many import start_many
from daytwo.cli._tasks import cancel_task, complete, list_tasks, reassign, show_task
from daytwo.cli._workers_list import list_workers
from daytwo.cli._workflows import list_workflows

__all__ = ["OLDER_SPELLINGS", "OLDER_SPELLINGS_HELP", "add_nouns"]


def _noun(name: str, help: str) -> typer.Typer:
    return typer.Typer(name=name, help=help, no_args_is_help=True)


instance = _noun(
    "instance",
    "Workflow instances: list, show, start (one or many), signal, cancel, history, explain; "
    "act on one: retry, skip, resume, abort, terminate, wake, restart, fork.",
)
instance.command("list")(list_instances)
instance.command("show")(status)
instance.command("start")(start)
instance.command("start-many")(start_many)
instance.command("signal")(signal)
instance.command("cancel")(cancel)
instance.command("history")(history)
instance.command("restart")(restart)
instance.command("fork")(fork)
instance.command("explain")(explain_instance)
instance.command("retry")(retry)
instance.command("skip")(skip)
instance.command("resume")(resume_instance)
instance.command("abort")(abort)
instance.command("terminate")(terminate)
instance.command("wake")(wake)

task = _noun("task", "The human-task inbox: list, show, complete, reassign and cancel tasks.")
task.command("list")(list_tasks)
task.command("show")(show_task)
task.command("complete")(complete)
task.command("reassign")(reassign)
task.command("cancel")(cancel_task)

workflow = _noun(
    "workflow", "Workflows the workers registered; pause and resume their starts or a step."
)
workflow.command("list")(list_workflows)
workflow.command("pause")(pause)
workflow.command("resume")(resume)

queue = _noun("queue", "Queues: backlog, running instances and limits; change the limits.")
queue.command("list")(list_queues)
queue.command("set")(set_queue)

dependency = _noun("dependency", "Cluster-wide concurrency limits on calls to dependencies.")
dependency.command("list")(list_dependencies)
dependency.command("set")(set_dependency)

audit = _noun("audit", "The audit log of operator actions: who did what, to what, and why.")
audit.command("list")(list_audit)

# Plural, unlike the other nouns: `daytwo worker` is the command that runs one.
workers = _noun("workers", "The worker processes: what each serves and is doing now.")
workers.command("list")(list_workers)

breaker = _noun(
    "breaker",
    "Circuit breakers per dependency: state and window; set the policy; force open or "
    "closed; reset.",
)
breaker.command("list")(list_breakers)
breaker.command("show")(show_breaker)
breaker.command("set")(set_breaker)
breaker.command("open")(open_breaker)
breaker.command("close")(close_breaker)
breaker.command("reset")(reset_breaker)

# Plural as the issue spells it (``daytwo schedules list``), like ``workers``.
schedules = _noun(
    "schedules",
    "Durable schedules: next and last runs; pause, resume, or trigger one now.",
)
schedules.command("list")(list_schedules)
schedules.command("show")(show_schedule)
schedules.command("pause")(pause_schedule)
schedules.command("resume")(resume_schedule)
schedules.command("trigger")(trigger_schedule)

NOUNS = (
    instance, task, workflow, queue, dependency, breaker, schedules, audit, workers, bulk,
)  # fmt: skip

#: Older spelling -> the command it is now (the same function, the same options).
OLDER_SPELLINGS = {
    "list": "instance list",
    "status": "instance show",
    "start": "instance start",
    "signal": "instance signal",
    "cancel": "instance cancel",
    "history": "instance history",
    "tasks": "task",
    "pause": "workflow pause",
    "resume": "workflow resume",
    "pauses": "workflow list (its PAUSED column)",
    "queues": "queue",
    "dependencies": "dependency",
}
OLDER_SPELLINGS_HELP = (
    "Older spellings still work: "
    + "; ".join(f"{old} = {new}" for old, new in OLDER_SPELLINGS.items())
    + "."
)


def add_nouns(root: typer.Typer) -> None:
    """Add the noun groups to ``root`` and hide its older spellings from its help."""
    # First among the groups: the help lists the nouns before the operations packages'.
    for noun in NOUNS:
        root.add_typer(noun)
    added = root.registered_groups[-len(NOUNS) :]
    root.registered_groups[:] = added + root.registered_groups[: -len(NOUNS)]
    # `daytwo explain ID`: the question an operator asks first, without the noun.
    root.command("explain")(explain_instance)
    for command in root.registered_commands:
        if command.name in OLDER_SPELLINGS:
            command.hidden = True
    for group in root.registered_groups:
        if group.name in OLDER_SPELLINGS or (
            group.typer_instance is not None and group.typer_instance.info.name in OLDER_SPELLINGS
        ):
            group.hidden = True
    root.info.epilog = f"{OLDER_SPELLINGS_HELP}\n\n{root.info.epilog or ''}".strip()
