"""How the tests are spread over pytest-xdist workers (``scripts/test``: ``-n 2 --dist loadgroup``).

Two rules, both applied only when xdist runs the tests:

* The tests of a module in :data:`SERIAL_MODULES` all go to one worker, so that a
  module-scoped fixture they share runs once. The controller groups them by module here,
  instead of by ``xdist_group`` marks: pytest 9.2 drops the node-id suffix through which
  xdist's workers report a mark's group (pytest-xdist issue 1386), so marks alone would
  silently group nothing. Marks still group, where pytest passes them on.
* Slow tests are handed out first (:func:`slow_first`): the workers take the next test as
  they finish one, so long tests started early are done while the short ones fill the
  gaps, instead of one long test running on alone at the end.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pytest

#: Test modules (file names) whose tests run in one worker, with their group's name: the
#: README walkthrough (a module fixture) runs every block once for all its tests.
SERIAL_MODULES = {"test_readme.py": "readme"}

#: Where the slowest tests live (paths under tests/): worker processes killed, stopped and
#: restarted, ten thousand waiting instances, the crash-point property, the README.
SLOW = (
    "worker/",
    "store/test_postgres.py",
    "test_properties.py",
    "test_readme.py",
    "engine/test_bulk_crash.py",
)


def make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's ``loadgroup`` scheduling, plus the groups of :data:`SERIAL_MODULES`."""
    from xdist.scheduler import LoadGroupScheduling

    class ModuleGroups(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = PurePosixPath(nodeid.split("::", 1)[0]).name
            group = SERIAL_MODULES.get(module)
            return group if group is not None else str(super()._split_scope(nodeid))

    return ModuleGroups(config, log)


def slow_first(items: list[pytest.Item], tests_dir: Path) -> None:
    """Reorder ``items`` in place: the tests under :data:`SLOW` first, in their order."""

    def slow(item: pytest.Item) -> bool:
        if not item.path.is_relative_to(tests_dir):
            return False
        return item.path.relative_to(tests_dir).as_posix().startswith(SLOW)

    items.sort(key=lambda item: not slow(item))
