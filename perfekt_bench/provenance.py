"""Where a number came from: versions, git revision, device, host and time."""

from __future__ import annotations

import datetime as dt
import platform
import socket
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any


@lru_cache(maxsize=1)
def git_revision() -> str | None:
    """The commit of the source tree perfekt-bench runs from, ``+dirty`` if it has edits."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", "."],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("+dirty" if dirty else "")


def distribution_version(dist: str = "perfekt-bench") -> str | None:
    """The installed version of distribution ``dist`` (default perfekt-bench), None if absent."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def provenance(device: str) -> dict[str, Any]:
    """Versions, git revision, device, host, time, and the torch threads the run computed
    with (timings depend on them; ``compare --workers`` sets them per process)."""
    import numpy

    try:
        import torch
        torch_version, torch_threads = torch.__version__, torch.get_num_threads()
    except ImportError:
        torch_version, torch_threads = None, None
    return {
        "package_version": distribution_version(),
        "git_revision": git_revision(),
        "torch_version": torch_version,
        "torch_threads": torch_threads,
        "numpy_version": numpy.__version__,
        "python_version": platform.python_version(),
        "device": device,
        "host": socket.gethostname(),
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
