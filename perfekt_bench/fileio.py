"""Files that are either whole or absent: every write goes to a temporary name and is renamed.

A process killed mid-write leaves at most a hidden temporary next to the target, named
``.<name>.<host>-<pid>.<random>.tmp``, never a truncated file under the target's name;
:func:`remove_stale_temporaries` sweeps the temporaries whose writer is gone.
:func:`file_lock` makes processes that would write the same thing wait for each other.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import OutputError

#: a temporary of another host older than this (seconds) belongs to a writer that died
STALE_AFTER = 24 * 3600.0
_TEMPORARY = re.compile(r"^\..+\.(?P<host>[^.]+)-(?P<pid>\d+)\.[^.]+\.tmp$")


def writer_tag() -> str:
    """``<host>-<pid>``: who writes a temporary (or a run folder), to tell later whether it
    is still alive."""
    return f"{socket.gethostname().split('.')[0]}-{os.getpid()}"


def writer_alive(tag: str, modified: float) -> bool:
    """Whether the writer ``<host>-<pid>`` may still be at work: its process exists on this
    host, or (another host, whose processes cannot be seen) the file is younger than
    :data:`STALE_AFTER`."""
    host, _, pid = tag.rpartition("-")
    if host != socket.gethostname().split(".")[0]:
        return time.time() - modified < STALE_AFTER
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def _temporary_prefix(name: str) -> str:
    return f".{name}.{writer_tag()}."


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
    fd, name = tempfile.mkstemp(prefix=_temporary_prefix(path.name), suffix=".tmp",
                                dir=path.parent)
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
    tmp = Path(tempfile.mkdtemp(prefix=_temporary_prefix(folder.name), suffix=".tmp",
                                dir=folder.parent))
    try:
        yield tmp
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def _probe(folder: Path, what: str) -> None:
    """Create and remove a temporary file in ``folder``: the one test that answers whether
    files can be written there (permissions, read-only or pseudo file systems)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".perfekt-bench-probe-", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise OutputError(f"{what}: cannot write in {folder} ({exc.strerror or exc})") from exc


def check_output_dir(path: str | os.PathLike, what: str) -> Path:
    """Refuse, before any work, a folder that outputs cannot go to: an existing file, a path
    under a file, or a place where nothing can be written. Creates nothing. ``what`` names the
    option and the path in the one-line error (``--results-dir /x``)."""
    path = Path(path)
    ancestor = _existing_ancestor(path)
    if not ancestor.is_dir():
        where = "is a file" if ancestor == path else f"lies under the file {ancestor}"
        raise OutputError(f"{what} {where}; give a folder")
    _probe(ancestor, what)
    return path


def check_output_file(path: str | os.PathLike, what: str) -> Path:
    """Refuse, before any work, a file name that cannot be written: a folder, a path under a
    file, or a place where nothing can be written. Creates nothing."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{what} is a folder; give a file name")
    ancestor = _existing_ancestor(path.parent)
    if not ancestor.is_dir():
        raise OutputError(f"{what} lies under the file {ancestor}; give a file name in a folder")
    if path.exists() and not path.is_file():
        raise OutputError(f"{what} is not a regular file (files are written to a temporary "
                          "name and renamed, which would replace it)")
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"{what}: the file is not writable")
    if not path.exists() or path.is_file():
        _probe(ancestor, what)
    return path


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporaries in ``folder`` whose writer is gone (killed mid-write); those of a
    writer still at work are kept. The removed paths."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in folder.glob(".*.tmp"):
        match = _TEMPORARY.match(path.name)
        try:
            modified = path.lstat().st_mtime
            if match and writer_alive(f"{match['host']}-{match['pid']}", modified):
                continue
            if not match and time.time() - modified < STALE_AFTER:
                continue  # not ours to judge by name: only when old
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
    """Hold an exclusive lock on ``path`` for the block; another process (or thread) asking
    for the same lock waits, calling ``on_wait`` once before it blocks.

    An advisory ``flock``: the kernel releases it when its holder exits, even by SIGKILL, so a
    dead process never leaves a stale lock. It also works between the machines of a cluster on
    a shared file system whose server supports locking (NFS with lockd, CephFS, Lustre with
    ``flock`` mounts). Nothing stays behind: the holder removes the lock file (and the folders
    it had to create for it, when empty) before releasing the lock, and a waiter that then
    finds the name gone or pointing to a new file starts over, so two processes never hold
    locks on two files of one name.
    """
    import fcntl  # POSIX only, like the PYTHIA and FastJet wheels the tasks need

    path = Path(path)
    created = [p for p in path.parents if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        handle = open(path, "a")  # noqa: SIM115 (held open across the block)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None and not waited:
                on_wait()
            waited = True
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(handle.fileno()).st_ino:
            break
        handle.close()  # the holder before us removed it: lock the file there now
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        for folder in created:  # innermost first
            with contextlib.suppress(OSError):
                folder.rmdir()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
