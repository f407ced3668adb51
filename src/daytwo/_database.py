"""The database an App or a Client works on: its URL by the one rule, opened on first use.

Which database (README "Which database"): ``$DAYTWO_DATABASE`` if set, else the URL given
in code, else ``sqlite:///daytwo.db``; the command line's ``--database`` is set on top
(:attr:`Database.url`). A relative SQLite path written in code is relative to the file of
the module that made the App or Client, so every process importing it finds the same file.
Opening is deferred to first use, so importing a module that makes an App touches no disk.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from types import FrameType

from daytwo._errors import InvalidInput
from daytwo.store import Store, absolute_url, display_url, open_engine, resolve_url

__all__ = ["Database", "creating_module_directory"]

log = logging.getLogger("daytwo.app")


class Database:
    """One database URL and the :class:`Store` on it, opened (and migrated) on first use.

    ``create``: whether opening may create daytwo's tables in an empty database (an App of
    user code, a worker); a Client never does.
    """

    def __init__(
        self, url: str | None, *, create: bool, relative_to: Path | None, owner: str = "App"
    ) -> None:
        #: What holds it, for messages ("App", "Client").
        self.owner = owner
        self._url = resolve_url(url, relative_to=relative_to)
        self.create = create
        self._store: Store | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The absolute URL (show it with ``display_url``)."""
        return self._url

    @url.setter
    def url(self, url: str) -> None:
        # Set at run time (the command line's --database, a test): a relative SQLite path
        # is relative to the current directory.
        absolute = absolute_url(url, Path.cwd())
        if self._store is not None and absolute != self._url:
            raise InvalidInput(
                f"this {self.owner} has opened {display_url(self._url)} already; set "
                f"database_url before the {self.owner} is first used, or create another "
                f"{self.owner}"
            )
        self._url = absolute

    @property
    def opened(self) -> bool:
        """Whether the store has been opened."""
        return self._store is not None

    @property
    def store(self) -> Store:
        """The store, opened (and migrated) on first use."""
        if self._store is None:
            with self._lock:
                if self._store is None:
                    engine = open_engine(self._url, create=self.create)
                    log.debug("database %s", display_url(self._url))
                    self._store = Store(engine)
        return self._store

    def close(self) -> None:
        """Release the database connections."""
        if self._store is not None:
            self._store.close()


def creating_module_directory() -> Path | None:
    """The directory of the file of the module that is creating an App or a Client (None:
    no file).

    The first frame outside daytwo's own package: for ``create_app(url)`` in
    ``daytwo.demo`` that is its caller. None for the REPL, ``python -c`` and notebooks,
    whose relative paths stay relative to the current directory.
    """
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module != "daytwo" and not module.startswith("daytwo."):
            file = frame.f_globals.get("__file__")
            return Path(file).resolve().parent if isinstance(file, str) else None
        frame = frame.f_back
    return None
