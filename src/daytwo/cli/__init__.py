"""The ``daytwo`` command line."""


def main() -> None:
    """Entry point of the ``daytwo`` command (and of ``python -m daytwo``)."""
    import sys

    from daytwo.cli._main import app

    # Text that is not valid Unicode (a lone surrogate stored by a daytwo that accepted it)
    # is shown escaped, as \ud800, instead of ending the command with UnicodeEncodeError.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    app(prog_name="daytwo")
