"""The ``daytwo`` command line."""


def main() -> None:
    """Entry point of the ``daytwo`` command."""
    from daytwo.cli._main import app

    app()
