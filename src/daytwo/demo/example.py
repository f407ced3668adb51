"""The demo's order app as a module of the package, for ``--app daytwo.demo.example:app``.

It imports from any directory (``examples/orders.py`` only from the repository root), which
is why ``daytwo demo`` prints it in the commands to inspect a run.
"""

from daytwo.demo._orders import create_app

__all__ = ["app"]

app = create_app()
