"""Where daytwo's migrations live: the core chain and one Alembic branch per package.

The rule every migration follows (also in ``store/migrations/README.md``):

- **Branches.** The core schema (``store/_schema.py``) is one linear chain in
  ``store/migrations/versions/``, branch label ``daytwo``, revision ids ``0001``,
  ``0002``, ... (four digits: the ids databases in the field are stamped with). Each
  operations package that owns tables has a branch of its own in its own directory,
  ``<package>/migrations/`` (a plain directory, not an importable package), branch label
  the package's short name (``slo``), revision ids ``<label>_0001``, ``<label>_0002``, ...
  Two packages cannot pick the same id, and a core id (digits only) never has a prefix.
- **What a revision may point at.** ``down_revision`` is the previous revision of the same
  branch (``None`` for a package branch's first revision, which carries
  ``branch_labels = ("<label>",)``). ``depends_on`` names the revisions of other branches
  whose tables this one needs: core revisions, or revisions of a package this package
  depends on (in the direction its imports may go). The core chain never depends on a
  package. No merge revisions: branches stay independent lines.
- **Never edited after release.** A revision that has left the repository may be stamped
  in a database somewhere: it is never changed, renumbered or removed. A change to it is
  a new revision. (Adding the ``daytwo`` branch label to ``0001`` was the one exception:
  labels are not stored in databases.)
- **Every database gets every branch.** A database is upgraded to ``heads``: the tables
  of every installed package exist in every daytwo database, so a client that has none of
  the workflow code can open any of them.

Opening a database must not import the operations packages (``daytwo.slo`` loads pydantic
and prometheus-client, which a ``daytwo list`` does not need), so branches are found as
directories, not modules: :data:`PACKAGE_MIGRATIONS` for daytwo's own packages, and the
``daytwo.migrations`` entry-point group for packages installed separately, whose value is
the dotted name of the directory (``acme = "acme_ops.migrations"``). A dotted name is
resolved from its top-level package's location alone (``importlib.util.find_spec`` of the
top level runs no code of the package).
"""

from __future__ import annotations

import ast
import importlib.util
import re
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path

from daytwo._errors import StoreUnavailable

__all__ = [
    "CORE_BRANCH",
    "ENTRY_POINT_GROUP",
    "PACKAGE_MIGRATIONS",
    "Branch",
    "BranchRuleBroken",
    "branch_rule_problems",
    "branches",
    "check_branches",
    "labels_not_installed",
]

#: The branch label of the core chain.
CORE_BRANCH = "daytwo"
#: daytwo's own packages with a branch: label -> dotted name of the migrations directory.
PACKAGE_MIGRATIONS: dict[str, str] = {
    "slo": "daytwo.slo.migrations",
    "api": "daytwo.api.migrations",
    "incidents": "daytwo.incidents.migrations",
}
#: Packages installed separately declare their branch here (name = label, value = directory).
ENTRY_POINT_GROUP = "daytwo.migrations"

CORE_DIRECTORY = Path(__file__).parent / "migrations" / "versions"
_CORE_ID = re.compile(r"\d{4}")
_LABEL = re.compile(r"[a-z][a-z0-9]*")


class BranchRuleBroken(StoreUnavailable):
    """Migration scripts break the branch rule (colliding ids, a missing label, ...).

    No database is opened with them: a collision would make Alembic skip a migration.
    """


@dataclass(frozen=True)
class Branch:
    """One line of migrations: its label, its directory and who declared it."""

    label: str
    directory: Path
    #: ``daytwo`` for the core chain, the dotted name or entry point for a package.
    declared_by: str


def _directory(dotted: str) -> Path:
    """The directory a dotted name stands for, found without importing anything."""
    top, _, rest = dotted.partition(".")
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        raise BranchRuleBroken(
            f"migrations {dotted!r}: no installed package {top!r}; install it or remove "
            f"its entry in the {ENTRY_POINT_GROUP!r} entry points"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location).joinpath(*rest.split(".")) if rest else Path(location)
        if candidate.is_dir():
            return candidate
    raise BranchRuleBroken(f"migrations {dotted!r}: no such directory in package {top!r}")


@cache
def branches() -> tuple[Branch, ...]:
    """Every branch, core first, then packages by label (read once per process)."""
    declared = dict(PACKAGE_MIGRATIONS)
    sources = dict(declared)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name in declared and declared[point.name] != point.value:
            raise BranchRuleBroken(
                f"two packages declare the migration branch {point.name!r} "
                f"({declared[point.name]!r} and {point.value!r}); a branch label names "
                "one package: rename one of them"
            )
        declared[point.name] = point.value
        sources[point.name] = f"entry point {point.name} = {point.value}"
    found = [Branch(CORE_BRANCH, CORE_DIRECTORY, CORE_BRANCH)]
    for label in sorted(declared):
        if label == CORE_BRANCH or not _LABEL.fullmatch(label):
            raise BranchRuleBroken(
                f"migration branch label {label!r} ({sources[label]}): a label is a short "
                f"lower-case name (letters and digits) other than {CORE_BRANCH!r}"
            )
        found.append(Branch(label, _directory(declared[label]), sources[label]))
    return tuple(found)


def labels_not_installed(unknown: set[str] | frozenset[str]) -> list[str]:
    """The branch labels of revisions ``unknown`` here that no branch here has.

    A package branch's ids start with its label, so such a revision belongs to a package
    that is not installed, rather than to a newer daytwo.
    """
    labels = {branch.label for branch in check_branches()}
    return sorted({revision.partition("_")[0] for revision in unknown if "_" in revision} - labels)


@dataclass(frozen=True)
class ScriptHeader:
    """What the branch rule looks at in one migration script, read without running it."""

    path: Path
    revision: str | None
    down_revision: object
    branch_labels: object
    depends_on: object


def _header(path: Path) -> ScriptHeader:
    values: dict[str, object] = {}
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    values[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    values[target.id] = ...  # not a literal: the rule wants literals
    revision = values.get("revision")
    return ScriptHeader(
        path,
        revision if isinstance(revision, str) else None,
        values.get("down_revision"),
        values.get("branch_labels"),
        values.get("depends_on"),
    )


def _as_tuple(value: object) -> tuple[object, ...]:
    if value is None:
        return ()
    if isinstance(value, tuple | list):
        return tuple(value)
    return (value,)


def branch_rule_problems(found: tuple[Branch, ...]) -> list[str]:
    """What in the scripts of ``found`` breaks the rule (empty when nothing does)."""
    problems: list[str] = []
    owner: dict[str, tuple[Branch, Path]] = {}
    headers: list[tuple[Branch, ScriptHeader]] = []
    for branch in found:
        for path in sorted(branch.directory.glob("*.py")):
            header = _header(path)
            headers.append((branch, header))
            if header.revision is None:
                problems.append(f'{path}: no literal `revision = "..."`')
                continue
            if header.revision in owner:
                other = owner[header.revision][1]
                problems.append(f"revision id {header.revision!r} in both {other} and {path}")
            owner[header.revision] = (branch, path)
    for branch, header in headers:
        if header.revision is None:
            continue
        problems.extend(_script_problems(branch, header, owner))
    return problems


def _script_problems(
    branch: Branch, header: ScriptHeader, owner: dict[str, tuple[Branch, Path]]
) -> list[str]:
    problems: list[str] = []
    revision, path = header.revision, header.path
    assert revision is not None
    if branch.label == CORE_BRANCH:
        if not _CORE_ID.fullmatch(revision):
            problems.append(f"{path}: core revision ids are four digits, not {revision!r}")
    elif not re.fullmatch(rf"{branch.label}_\d{{4}}", revision):
        problems.append(
            f"{path}: revision ids of branch {branch.label!r} are {branch.label}_NNNN, "
            f"not {revision!r}"
        )
    downs = _as_tuple(header.down_revision)
    if len(downs) > 1:
        problems.append(f"{path}: a merge revision ({downs!r}); branches stay single lines")
    for down in downs:
        if not isinstance(down, str) or owner.get(down, (None,))[0] != branch:
            problems.append(
                f"{path}: down_revision {down!r} is not a revision of branch {branch.label!r}"
            )
    labels = _as_tuple(header.branch_labels)
    is_root = not downs
    if is_root and labels != (branch.label,):
        problems.append(
            f"{path}: the first revision of branch {branch.label!r} has "
            f"branch_labels = ({branch.label!r},), not {header.branch_labels!r}"
        )
    if not is_root and labels:
        problems.append(f"{path}: only a branch's first revision carries its label")
    if is_root and branch.label != CORE_BRANCH and not header.depends_on:
        problems.append(
            f"{path}: the first revision of branch {branch.label!r} depends_on the core "
            "revision whose tables it needs"
        )
    for dependency in _as_tuple(header.depends_on):
        target = owner.get(dependency) if isinstance(dependency, str) else None
        if target is None:
            problems.append(f"{path}: depends_on {dependency!r} is no known revision id")
        elif target[0] == branch:
            problems.append(f"{path}: depends_on {dependency!r} is in its own branch")
        elif branch.label == CORE_BRANCH:
            problems.append(f"{path}: the core chain depends on no package ({dependency!r})")
    return problems


@cache
def check_branches() -> tuple[Branch, ...]:
    """:func:`branches`, after checking their scripts keep the rule (once per process)."""
    found = branches()
    problems = branch_rule_problems(found)
    if problems:
        raise BranchRuleBroken(
            f"daytwo's migration scripts break the branch rule ({len(problems)} problem(s); "
            f"see daytwo/store/migrations/README.md): {problems[0]}"
        )
    return found
