"""Archives of purged instances: gzip-compressed JSON Lines, one file per purge batch.

Each line is one instance: ``{"instance": {...row...}, "history": [...], "step_attempts":
[...], "transitions": [...], "signals": [...], "human_tasks": [...], ...}`` with every
column as stored (user values stay the serializer's text; times are epoch seconds), one
key per table of ``PURGED_WITH_INSTANCE``. A file is complete once it has its final name:
it is written under a temporary name, flushed and fsynced, renamed, and its directory
fsynced, all before the batch's rows are deleted. A crash between the two leaves the
instances both archived and in the database; the next purge archives them again (a
duplicate line in another file, never a loss). Read them back with :func:`read_archive`.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import secrets
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["ARCHIVE_SUFFIX", "ArchiveWriter", "read_archive"]

ARCHIVE_SUFFIX = ".jsonl.gz"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ArchiveWriter:
    """Writes each batch of instance records to a new file in ``directory``."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        #: The files written, in order.
        self.written: list[Path] = []

    def check(self) -> None:
        """Create the directory if needed; raise OSError if it cannot be written to."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise PermissionError(f"archive directory {self.directory} is not writable")

    def write(self, workflow: str, records: Sequence[dict[str, Any]], now: float) -> Path:
        """Write ``records`` (one line each) durably to a new file; returns its path."""
        self.check()
        stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
        name = f"{_UNSAFE.sub('_', workflow)}-{stamp}-{secrets.token_hex(4)}{ARCHIVE_SUFFIX}"
        final = self.directory / name
        partial = self.directory / f".{name}.partial"
        with open(partial, "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as zipped:
                for record in records:
                    zipped.write(json.dumps(record, separators=(",", ":")).encode())
                    zipped.write(b"\n")
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, final)
        _fsync_directory(self.directory)
        self.written.append(final)
        return final


def read_archive(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The instance records of an archive file (or of every archive in a directory)."""
    where = Path(path)
    files = sorted(where.glob(f"*{ARCHIVE_SUFFIX}")) if where.is_dir() else [where]
    for file in files:
        with gzip.open(file, "rt", encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    yield json.loads(line)


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
