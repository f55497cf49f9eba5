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


def distribution_version(dist: str) -> str | None:
    """The installed version of a distribution, None when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def provenance(device: str) -> dict[str, Any]:
    import numpy

    _version = distribution_version
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    return {
        "package_version": _version("perfekt-bench"),
        "git_revision": git_revision(),
        "torch_version": torch_version,
        "numpy_version": numpy.__version__,
        "python_version": platform.python_version(),
        "device": device,
        "host": socket.gethostname(),
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
