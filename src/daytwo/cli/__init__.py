"""The ``daytwo`` command line."""


def main() -> None:
    """Entry point of the ``daytwo`` command (and of ``python -m daytwo``)."""
    from daytwo.cli._main import app

    app(prog_name="daytwo")
