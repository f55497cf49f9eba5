"""The Parquet cache of task splits, keyed by a hash of everything that shaped them."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .data import GROUPS, FeatureNames, Splits, Triplets
from .errors import DataError

if TYPE_CHECKING:
    from .task import Task

SPLITS = ("train", "validation", "test")


def default_cache_dir() -> Path:
    """``$PERFEKT_BENCH_CACHE``, else ``$XDG_CACHE_HOME/perfekt-bench``, else ``~/.cache/…``."""
    if env := os.environ.get("PERFEKT_BENCH_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "perfekt-bench"


def data_key(task: Task, size: int, seed: int) -> str:
    """A hash of the task's identity, parameters, source code, size, seed and split."""
    try:
        source = inspect.getsource(inspect.getmodule(type(task)))  # type: ignore[arg-type]
    except (OSError, TypeError):
        source = type(task).__qualname__
    identity = {
        "task": task.name, "version": task.version, "parameters": task.parameters(),
        "size": size, "seed": seed, "fractions": list(task.split_fractions),
        "source": hashlib.sha256(source.encode()).hexdigest(),
    }
    blob = json.dumps(identity, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def triplets_to_table(triplets: Triplets):
    """One Parquet table per split: columns ``<group>.<feature>``, names kept in metadata."""
    import pyarrow as pa

    columns = {}
    for group in GROUPS:
        arr = getattr(triplets, group)
        for j, name in enumerate(triplets.names.of_group(group)):
            columns[f"{group}.{name}"] = pa.array(arr[:, j])
    if triplets.weight is not None:
        columns["weight"] = pa.array(triplets.weight)
    meta = {"names": {"g": triplets.names.g, "x": triplets.names.x, "h": triplets.names.h},
            "paired": triplets.paired}
    return pa.table(columns).replace_schema_metadata({"perfekt_bench": json.dumps(meta)})


def table_to_triplets(path: Path) -> Triplets:
    """Read one split back; a missing column or broken file is a :class:`DataError`."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
        meta = json.loads(table.schema.metadata[b"perfekt_bench"])
    except Exception as exc:  # pyarrow raises several unrelated types for broken files
        raise DataError(f"cannot read cached split {path}: {exc}") from exc
    names = FeatureNames(*(tuple(meta["names"][k]) for k in ("g", "x", "h")))
    arrays = {}
    for group in GROUPS:
        cols = [f"{group}.{n}" for n in names.of_group(group)]
        missing = [c for c in cols if c not in table.column_names]
        if missing:
            raise DataError(f"{path}: missing column(s) {missing}")
        n_rows = table.num_rows
        arrays[group] = (np.column_stack([table[c].to_numpy() for c in cols]) if cols
                         else np.zeros((n_rows, 0), dtype=np.float32))
    weight = table["weight"].to_numpy() if "weight" in table.column_names else None
    return Triplets(**arrays, names=names, paired=meta["paired"], weight=weight,
                    source=str(path))


class DataCache:
    """Splits stored as ``<cache>/<task>/<key>/{train,validation,test}.parquet``."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()

    def path(self, task: Task, key: str) -> Path:
        return self.root / task.name / key

    def load(self, task: Task, *, size: int, seed: int, progress: bool = False) -> Splits:
        key = data_key(task, size, seed)
        folder = self.path(task, key)
        if all((folder / f"{s}.parquet").exists() for s in SPLITS):
            return Splits(*(table_to_triplets(folder / f"{s}.parquet") for s in SPLITS), key=key)
        data = task.generate(size, seed, progress=progress)
        if len(data) != size:
            raise DataError(f"task {task.name!r} generated {len(data)} objects, asked for {size}")
        splits = Splits(*task.split(data, seed), key=key)
        self.store(task, key, splits, size=size, seed=seed)
        return splits

    def store(self, task: Task, key: str, splits: Splits, *, size: int, seed: int) -> Path:
        """Write all splits to a temporary folder, then move it in place in one rename."""
        import pyarrow.parquet as pq

        folder = self.path(task, key)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=folder.parent))
        try:
            for name in SPLITS:
                pq.write_table(triplets_to_table(getattr(splits, name)), tmp / f"{name}.parquet")
            card = task.data_card() | {"size": size, "seed": seed, "key": key}
            (tmp / "card.json").write_text(json.dumps(card, indent=2, default=str))
            if folder.exists():  # a concurrent writer finished first: theirs is identical
                shutil.rmtree(tmp)
            else:
                tmp.rename(folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return folder
