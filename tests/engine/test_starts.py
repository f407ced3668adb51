"""Starting instances: what a start refuses, and what an id means (issue 9: 7, 8, 11, 13, 30)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import pytest

import daytwo
from daytwo import App
from daytwo.store._schema import instances


class Order(TypedDict):
    id: str
    total: int


@dataclass
class Point:
    x: int
    y: int


def _workflows(app: App) -> None:
    @app.workflow(name="order")
    def order(ctx: daytwo.Context, order: dict) -> Any:  # type: ignore[type-arg]
        return order["total"]

    @app.workflow(name="typed")
    def typed(ctx: daytwo.Context, order: Order) -> Any:
        return order["total"]

    @app.workflow(name="pairs")
    def pairs(ctx: daytwo.Context, values: list[int]) -> int:
        return sum(values)

    @app.workflow(name="point")
    def point(ctx: daytwo.Context, p: Point) -> Any:
        return p

    @app.workflow(name="optional")
    def optional(ctx: daytwo.Context, note: str | None) -> Any:
        return note

    @app.workflow(name="nothing")
    def nothing(ctx: daytwo.Context) -> str:
        return "done"

    @app.workflow(name="loose")
    def loose(ctx: daytwo.Context, anything):  # type: ignore[no-untyped-def]
        return anything


# -- item 11: inputs the workflow cannot take -----------------------------------------------


@pytest.mark.parametrize(
    ("workflow", "value", "expected"),
    [
        ("order", [1, 2], "expected a JSON object (dict), got array [1, 2]"),
        ("order", 42, "expected a JSON object (dict), got int 42"),
        ("order", None, "needs an input (a JSON object (dict))"),
        ("typed", {"id": "1"}, "expected Order"),
        ("typed", {"id": "1", "total": "ten"}, "expected Order"),
        ("pairs", [1, "two"], "expected list[int]"),
        ("point", {"x": 1}, "expected Point"),
        ("optional", 5, "expected str | None"),
        ("nothing", {"a": 1}, "takes no input"),
    ],
)
def test_a_start_whose_input_does_not_fit_the_workflow_is_refused(
    app: App, workflow: str, value: Any, expected: str
) -> None:
    _workflows(app)
    with pytest.raises(daytwo.InvalidInput, match=re.escape(expected)):
        app.start(workflow, value, id="refused")
    with pytest.raises(daytwo.InvalidInput):
        app.run(workflow, value, id="refused")
    assert app.list() == []  # nothing was stored


def test_inputs_that_fit_start_and_run(app: App) -> None:
    _workflows(app)
    assert app.run("order", {"total": 3}) == 3
    assert app.run("typed", {"id": "1", "total": 4}) == 4
    assert app.run("pairs", [1, 2]) == 3
    assert app.run("point", {"x": 1, "y": 2}) == {"x": 1, "y": 2}  # the stored form
    assert app.run("optional", None) is None
    assert app.run("optional", "hi") == "hi"
    assert app.run("nothing") == "done"
    assert app.run("loose", [1]) == [1]


def test_a_workflow_that_cannot_take_ctx_and_input_is_refused_at_declaration(app: App) -> None:
    with pytest.raises(daytwo.InvalidInput, match=r"must take \(ctx\) or \(ctx, input\)"):

        @app.workflow(name="three")
        def three(ctx: daytwo.Context, a: int, b: int) -> None:
            return None


def test_a_non_string_key_is_refused_instead_of_turned_into_a_string(app: App) -> None:
    _workflows(app)
    with pytest.raises(daytwo.SerializationError, match=r"non-string key at \['n'\]\[1\]"):
        app.start("loose", {"n": {1: "a"}})

    @app.step
    def keyed() -> dict[int, str]:
        return {1: "a"}

    @app.workflow(name="keys")
    def keys(ctx: daytwo.Context) -> Any:
        return keyed()

    with pytest.raises(daytwo.WorkflowFailed, match="non-string key"):
        app.run("keys")


# -- item 8: lone surrogates ----------------------------------------------------------------


def test_a_lone_surrogate_is_refused_with_its_path_and_listing_keeps_working(app: App) -> None:
    _workflows(app)
    with pytest.raises(daytwo.SerializationError, match=r"lone surrogate at \['name'\]"):
        app.start("loose", {"name": "caf\ud800"})
    with pytest.raises(daytwo.SerializationError, match="lone surrogate"):
        app.start("loose", {"\udc00": 1})
    app.start("loose", {"name": "café 😀"}, id="fine")
    listed = [instance.to_dict() for instance in app.list()]
    json.dumps(listed, ensure_ascii=False).encode("utf-8")  # prints without UnicodeEncodeError
    assert app.get("fine").input == {"name": "café 😀"}


def test_an_old_row_with_a_lone_surrogate_is_shown_escaped(app: App, tmp_path: Path) -> None:
    _workflows(app)
    app.start("loose", {"name": "cafe"}, id="old")
    with app.store.write() as conn:  # what a daytwo that accepted it stored
        conn.execute(
            instances.update().where(instances.c.id == "old").values(input='{"name":"caf\\ud800"}')
        )
    command = [sys.executable, "-m", "daytwo", "--database", app.database_url]
    for args in (["status", "old"], ["list", "--json"], ["list"]):
        shown = subprocess.run(
            [*command, *args], capture_output=True, timeout=60, cwd=tmp_path
        )  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        assert args == ["list"] or b"caf\\ud800" in shown.stdout, shown.stdout


# -- item 13: names -------------------------------------------------------------------------


def test_names_may_use_letters_of_any_script(app: App) -> None:
    @app.workflow(name="bestellung-über")
    def bestellung(ctx: daytwo.Context, _: Any) -> str:
        return "ok"

    assert app.run("bestellung-über", None, id="注文-1") == "ok"
    for bad in ("a b", "-x", "x/y", "x\n", ""):
        with pytest.raises(daytwo.InvalidInput, match=r"letters \(of any script\), digits"):
            app.start("bestellung-über", None, id=bad)


# -- item 7: client calls from workflow code ------------------------------------------------


def test_starting_or_signalling_from_workflow_code_is_refused_and_allowed_in_a_step(
    app: App,
) -> None:
    @app.workflow(name="child")
    def child(ctx: daytwo.Context, _: Any) -> str:
        return "child done"

    @app.workflow(name="starts-in-code")
    def starts_in_code(ctx: daytwo.Context, _: Any) -> None:
        app.start("child", None)

    @app.workflow(name="signals-in-code")
    def signals_in_code(ctx: daytwo.Context, _: Any) -> None:
        app.signal(ctx.instance_id, "x")

    @app.step
    def start_child(parent: str) -> str:
        return app.start("child", None, id=f"{parent}-child").id

    @app.workflow(name="starts-in-step")
    def starts_in_step(ctx: daytwo.Context, _: Any) -> str:
        child_id = start_child(ctx.instance_id)
        ctx.sleep(0)
        return child_id

    for workflow, what in (("starts-in-code", "app.start"), ("signals-in-code", "app.signal")):
        with pytest.raises(daytwo.WorkflowFailed, match="InvalidInput") as failed:
            app.run(workflow, None)
        assert failed.value.error is not None
        assert f"{what}() was called by the code of workflow" in failed.value.error["message"]
        assert "call it from a step instead" in failed.value.error["message"]
    assert app.run("starts-in-step", None, id="p") == "p-child"
    assert [i.id for i in app.list(workflow="child")] == ["p-child"]


# -- item 30: an id names one start ---------------------------------------------------------


def test_a_start_reusing_an_id_with_another_input_is_a_conflict(app: App) -> None:
    _workflows(app)
    first = app.start("loose", {"a": 1, "b": 2}, id="same")
    again = app.start("loose", {"b": 2, "a": 1}, id="same")  # the same value, keys reordered
    assert first.created and not again.created
    with pytest.raises(daytwo.InstanceConflict, match="'same' already exists with a different"):
        app.start("loose", {"a": 1, "b": 3}, id="same")
    with pytest.raises(daytwo.InstanceConflict, match="workflow 'loose', not 'order'"):
        app.start("order", {"a": 1, "b": 2}, id="same")
    with pytest.raises(daytwo.InstanceConflict, match="a different input"):
        app.run("loose", {"a": 2}, id="same")
    assert app.get("same").input == {"a": 1, "b": 2}
    assert len(app.list()) == 1


def test_an_inline_run_repeated_with_the_same_input_returns_the_same_result(app: App) -> None:
    _workflows(app)
    assert app.run("order", {"total": 7}, id="o") == 7
    assert app.run("order", {"total": 7}, id="o") == 7
    with pytest.raises(daytwo.InstanceConflict):
        app.run("order", {"total": 8}, id="o")
