"""The results store: one Parquet file per run under ``<results>/store/``, read as one table.

One row per (run, metric, candidate), after benchopt's schema: identity columns, ``p_*``
hyperparameter columns, value and error, timings, provenance. Each file is written to a
temporary name and renamed, so a crash never leaves half a file, and concurrent runs never
write the same file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import DataError


def default_results_dir() -> Path:
    """``$PERFEKT_BENCH_RESULTS``, else ``./results`` in the working directory."""
    return Path(os.environ.get("PERFEKT_BENCH_RESULTS", "results"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(Path(path), (json.dumps(obj, indent=2, default=str) + "\n").encode())


def param_columns(params: dict[str, Any]) -> dict[str, Any]:
    """``p_<name>`` columns; values that are not scalars are stored as JSON text."""
    out = {}
    for key, value in params.items():
        if value is None or isinstance(value, bool | int | float | str):
            out[f"p_{key}"] = value
        else:
            out[f"p_{key}"] = json.dumps(value, default=str)
    return out


class ResultsStore:
    """Append-only store of result rows, one Parquet file per run."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_results_dir()
        self.folder = self.root / "store"

    def append(self, run_id: str, rows: list[dict[str, Any]]) -> Path:
        import io

        frame = pd.DataFrame(rows)
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        path = self.folder / f"{run_id}.parquet"
        atomic_write_bytes(path, buffer.getvalue())
        return path

    def read(self) -> pd.DataFrame:
        """Every stored row; an unreadable file is a :class:`DataError` naming it."""
        files = sorted(self.folder.glob("*.parquet"))
        frames = []
        for path in files:
            try:
                frames.append(pd.read_parquet(path))
            except Exception as exc:  # pyarrow raises several unrelated types
                raise DataError(f"cannot read results file {path}: {exc}") from exc
        if not frames:
            return pd.DataFrame()
        return pd.concat(frames, ignore_index=True)
