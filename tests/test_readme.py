"""Every ```python and ```sh block of README.md runs as written (issue 9 item 20).

How the README is run (what to know when you add a block to it):

* The blocks run in order, in one temporary directory, as a reader following along would
  run them: what one block writes (files, databases) is there for the next. ``python`` and
  ``daytwo`` are those of this checkout's virtualenv; ``$DAYTWO_DATABASE`` and
  ``$DAYTWO_APP`` are not set.
* A block whose first line is a comment naming a file (``# orders.py``, ``# slos.yaml``) is
  saved under that name first, so later blocks can import or use it. Blocks in other
  languages (```yaml, ```text, ...) are only saved (when they name a file), never run.
* A ```python block runs as ``python FILE`` (its ``if __name__ == "__main__":`` part too);
  one without a file name runs from a file of its own. A ```sh block runs with
  ``bash -euo pipefail``. Each has two minutes.
* A block that cannot run as written (a fragment, a server that runs until stopped, a
  command that sets up the machine) says so on the line before its fence:
  ``<!-- readme-test: skip (why) -->``, with the reason. An unknown marker, a marker
  without a reason, or an unmarked block that looks runnable but would not be run
  (```bash, ```console, ```py: write ```sh or ```python) is refused.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
RUN = {"python", "sh"}
#: Languages that look runnable but would not be run: refused unless marked.
MISLABELLED = {"bash", "shell", "console", "shell-session", "zsh", "py", "python3", "pycon"}
FENCE = re.compile(r"^```([\w+-]*)\s*$")
MARKER = re.compile(r"^<!--\s*readme-test:\s*(?P<what>\S+)\s*(?P<why>.*?)\s*-->$")
FILE_NAME = re.compile(r"^#\s*(?P<name>[\w.-]+\.\w+)\s*(?:$|[—(-])")
TIMEOUT = 120


@dataclass(frozen=True)
class Block:
    """One fenced block of the README."""

    line: int  # of the opening fence, 1-based
    language: str
    text: str
    skip: str | None  # the reason, when marked to be skipped

    @property
    def file_name(self) -> str | None:
        """The file the block is saved as, from a first line like ``# orders.py``."""
        first = self.text.splitlines()[0] if self.text else ""
        match = FILE_NAME.match(first)
        return match["name"] if match else None

    @property
    def runs(self) -> bool:
        return self.language in RUN and self.skip is None

    def __str__(self) -> str:
        return f"README.md:{self.line} ```{self.language}"


def parse(markdown: str) -> list[Block]:
    """The fenced blocks of ``markdown``; raises ValueError for a block or marker that
    breaks the rules above."""
    blocks: list[Block] = []
    lines = markdown.splitlines()
    index = 0
    previous = ""  # the last non-blank line before the current one
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if not fence:
            if MARKER.match(lines[index].strip()) and not _next_is_fence(lines, index):
                raise ValueError(f"README.md:{index + 1}: a readme-test marker must be on the "
                                 "line just before a block's fence")  # fmt: skip
            if lines[index].strip():
                previous = lines[index].strip()
            index += 1
            continue
        start = index
        index += 1
        body: list[str] = []
        while index < len(lines) and lines[index].rstrip() != "```":
            body.append(lines[index])
            index += 1
        language = fence[1]
        skip = _skip_reason(previous, start + 1)
        if language in MISLABELLED and skip is None:
            raise ValueError(
                f"README.md:{start + 1}: a ```{language} block is not run; write ```sh or "
                "```python, or mark it <!-- readme-test: skip (why) -->"
            )
        blocks.append(Block(start + 1, language, "\n".join(body) + "\n", skip))
        previous = ""
        index += 1
    return blocks


def _next_is_fence(lines: list[str], index: int) -> bool:
    return index + 1 < len(lines) and bool(FENCE.match(lines[index + 1]))


def _skip_reason(previous: str, line: int) -> str | None:
    marker = MARKER.match(previous)
    if marker is None:
        return None
    if marker["what"] != "skip":
        raise ValueError(f"README.md:{line}: unknown readme-test marker {marker['what']!r}; "
                         "the only one is <!-- readme-test: skip (why) -->")  # fmt: skip
    reason = marker["why"].strip("() ")
    if not reason:
        raise ValueError(f"README.md:{line}: say why the block is skipped: "
                         "<!-- readme-test: skip (why) -->")  # fmt: skip
    return reason


BLOCKS = parse(README.read_text(encoding="utf-8"))


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYTWO_", "PYTHON"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])
    env.update(HOME=str(home), COLUMNS="100", PYTHONUNBUFFERED="1")
    return env


def _run(block: Block, directory: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    if block.language == "python":
        script = directory / (block.file_name or f"readme_block_{block.line}.py")
        command = ["python", script.name]
    else:
        script = directory / f"readme_block_{block.line}.sh"
        script.write_text(block.text, encoding="utf-8")
        command = ["bash", "-euo", "pipefail", script.name]
    return subprocess.run(
        command, cwd=directory, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory: pytest.TempPathFactory) -> dict[int, str | None]:
    """Every block in order in one directory: per block's line, None if it ran (or was only
    saved or skipped), else what went wrong."""
    directory = tmp_path_factory.mktemp("readme")
    env = _environment(directory)
    outcomes: dict[int, str | None] = {}
    for block in BLOCKS:
        if block.file_name:
            (directory / block.file_name).write_text(block.text, encoding="utf-8")
        if block.language == "python" and not block.file_name and block.runs:
            (directory / f"readme_block_{block.line}.py").write_text(block.text, encoding="utf-8")
        outcomes[block.line] = None
        if not block.runs:
            continue
        try:
            done = _run(block, directory, env)
        except subprocess.TimeoutExpired:
            outcomes[block.line] = f"{block} did not finish within {TIMEOUT} s"
            continue
        if done.returncode != 0:
            outcomes[block.line] = (
                f"{block} exited {done.returncode}; fix it, or mark it "
                f"<!-- readme-test: skip (why) -->\n--- stdout\n{done.stdout}\n--- stderr\n"
                f"{done.stderr}"
            )
    return outcomes


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.runs], ids=str)
def test_readme_block_runs_as_written(block: Block, walkthrough: dict[int, str | None]) -> None:
    problem = walkthrough[block.line]
    assert problem is None, problem


def test_the_readme_has_runnable_blocks_and_says_why_it_skips_others() -> None:
    run = [b for b in BLOCKS if b.runs]
    assert len(run) >= 5
    assert all(b.skip for b in BLOCKS if b.language in RUN and not b.runs)


@pytest.mark.parametrize(
    ("markdown", "message"),
    [
        ("```bash\nls\n```\n", "a ```bash block is not run"),
        ("```console\n$ daytwo list\n```\n", "a ```console block is not run"),
        ("<!-- readme-test: skip -->\n```sh\nls\n```\n", "say why the block is skipped"),
        ("<!-- readme-test: later (x) -->\n```sh\nls\n```\n", "unknown readme-test marker"),
        ("<!-- readme-test: skip (x) -->\n\ntext\n```sh\nls\n```\n", "just before a block"),
    ],
)
def test_blocks_that_would_silently_not_run_are_refused(markdown: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse(markdown)


def test_marked_and_named_blocks_are_understood() -> None:
    blocks = parse(
        "<!-- readme-test: skip (a server) -->\n```sh\ndaytwo metrics serve\n```\n"
        "```python\n# orders.py\nimport daytwo\n```\n```yaml\n# slos.yaml\nobjectives: []\n```\n"
    )
    assert [(b.language, b.skip, b.file_name, b.runs) for b in blocks] == [
        ("sh", "a server", None, False),
        ("python", None, "orders.py", True),
        ("yaml", None, "slos.yaml", False),
    ]
