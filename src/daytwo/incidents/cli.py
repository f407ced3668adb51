"""The incidents package's command line: ``daytwo incidents ...`` and ``daytwo owners ...``
(named in the ``daytwo.cli`` entry-point group, see ``daytwo.cli.CliPlugin``)."""

from __future__ import annotations

from daytwo.cli import CliPlugin
from daytwo.incidents._cli_owners import owners_commands

__all__ = ["plugin"]

plugin = CliPlugin(groups=(owners_commands,))
