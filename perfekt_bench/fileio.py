"""Files that are either whole or absent: every write goes to a temporary name and is renamed.

A process killed mid-write leaves at most a hidden temporary (``.<name>.<random>``) next to the
target, never a truncated file under the target's name; :func:`remove_stale_temporaries`
sweeps such leftovers. :func:`file_lock` makes processes that would write the same thing
wait for each other.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

#: a temporary older than this (seconds) belongs to a process that died: safe to remove
STALE_AFTER = 3600.0


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """``obj`` as indented JSON (non-JSON values written as their ``str``), atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=str) + "\n").encode())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that wants a file name (``savefig``,
    ``to_parquet``); renamed to ``path`` when the block ends without an exception, removed
    otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder beside ``folder``, renamed to it when the block succeeds and removed
    otherwise, so that a folder is either complete or absent."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", suffix=".tmp", dir=folder.parent))
    try:
        yield tmp
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale_temporaries(folder: str | os.PathLike, *, older_than: float = STALE_AFTER
                             ) -> list[Path]:
    """Remove the hidden ``.*.tmp`` files and folders in ``folder`` that a killed process left
    behind (older than ``older_than`` seconds, so a concurrent writer's are kept); the removed
    paths."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    now = time.time()
    for path in folder.glob(".*.tmp"):
        try:
            if now - path.lstat().st_mtime < older_than:
                continue
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:  # another process removed or renamed it first
            continue
        removed.append(path)
    return removed


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, *, on_wait: Callable[[], None] | None = None
              ) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the block; another process
    (or thread) asking for the same lock waits, calling ``on_wait`` once before it blocks.

    An advisory ``flock``: the kernel releases it when its holder exits, even by SIGKILL, so a
    dead process never leaves a stale lock. It also works between the machines of a cluster on
    a shared file system whose server supports locking (NFS with lockd, CephFS, Lustre with
    ``flock`` mounts). The lock file itself stays: removing it would let two processes lock two
    different files of one name.
    """
    import fcntl  # POSIX only, like the PYTHIA and FastJet wheels the tasks need

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
