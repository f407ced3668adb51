"""``daytwo status`` / ``daytwo instance show`` and ``client.get`` show a child workflow's
parent and a parent's children, each with its workflow and status (issue 13, item 1)."""

from __future__ import annotations

import json

from _cli import clean_cli_environment, cli_invoker  # noqa: F401

import daytwo
from daytwo import App, ParentClose, RelatedInstance


def _family(app: App) -> None:
    @app.workflow(name="leaf")
    def leaf(ctx: daytwo.Context, n: int) -> int:
        if n == 1:
            ctx.wait_for_signal("go")
        return n

    @app.workflow(name="tree")
    def tree(ctx: daytwo.Context) -> list[int]:
        first = ctx.start_child(leaf, 0)
        second = ctx.start_child(leaf, 1, on_parent_close=ParentClose.ABANDON)
        return [first.result(), second.result()]

    app.start("tree", id="t")
    with app.worker(concurrency=2, poll_interval=0.05) as worker:
        worker.drain()


def test_get_shows_the_parent_and_the_children(app: App) -> None:
    _family(app)
    parent = app.get("t")
    assert parent.parent is None
    assert parent.children == (
        RelatedInstance("t:0", "leaf", "SUCCEEDED", ParentClose.CANCEL),
        RelatedInstance("t:1", "leaf", "WAITING", ParentClose.ABANDON),
    )
    assert parent.waiting_for == "the end of child instance 't:1'"
    child = app.get("t:1")
    assert child.parent == RelatedInstance("t", "tree", "WAITING")
    assert child.children == ()
    assert [link.describe() for link in child.links or ()] == ["child of t at position 1"]
    assert app.list(limit=10)[0].children is None  # listings do not read them


def test_status_and_show_list_both_directions(app: App, db_url: str) -> None:
    _family(app)
    invoke = cli_invoker(db_url)
    shown = invoke("status", "t")
    assert shown.exit_code == 0, shown.output
    assert "children" in shown.output
    assert "t:0 (leaf, SUCCEEDED)" in shown.output and "t:1 (leaf, WAITING)" in shown.output
    child = invoke("instance", "show", "t:1")
    assert child.exit_code == 0, child.output
    assert "t (tree, WAITING)" in child.output
    as_json = json.loads(invoke("status", "t:1", "--json").output)
    assert as_json["parent"] == {
        "id": "t", "workflow": "tree", "status": "WAITING", "on_parent_close": None,
    }  # fmt: skip
    assert as_json["children"] == []
    parent_json = json.loads(invoke("instance", "show", "t", "--json").output)
    assert [(c["id"], c["status"], c["on_parent_close"]) for c in parent_json["children"]] == [
        ("t:0", "SUCCEEDED", "cancel"), ("t:1", "WAITING", "abandon"),
    ]  # fmt: skip
