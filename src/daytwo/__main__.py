"""``python -m daytwo``: the ``daytwo`` command, for when its script is not on ``$PATH``."""

from daytwo.cli import main

if __name__ == "__main__":
    main()
