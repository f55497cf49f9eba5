"""The Parquet cache of task splits: it owns loading, generating once, splitting and importing.

Splits are stored as ``<cache>/<task>/<key>/{train,validation,test}.parquet`` plus
``card.json``, where the key hashes everything that shaped them (:func:`data_key`).
Generating or importing a data set holds a lock (``<cache>/<task>/.<key>.lock``), so that
processes asking for the same data set at once wait for the first instead of racing it.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .budgets import DEFAULT_BUDGET
from .data import GROUPS, FeatureNames, Splits, Triplets
from .errors import ConfigurationError, DataError, PerfektBenchWarning
from .fileio import atomic_folder, atomic_write_json, file_lock, remove_stale_temporaries

if TYPE_CHECKING:
    from .task import Task

SPLITS = ("train", "validation", "test")
CARD = "card.json"


def default_cache_dir() -> Path:
    """``$PERFEKT_BENCH_CACHE``, else ``$XDG_CACHE_HOME/perfekt-bench``, else ``~/.cache/…``."""
    if env := os.environ.get("PERFEKT_BENCH_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "perfekt-bench"


def cache_label(cache_dir: str | os.PathLike | None) -> str:
    """The cache folder as the user named it, for messages: ``--cache-dir X``,
    ``PERFEKT_BENCH_CACHE=X`` or the default."""
    if cache_dir is not None:
        return f"--cache-dir {cache_dir}"
    if env := os.environ.get("PERFEKT_BENCH_CACHE"):
        return f"PERFEKT_BENCH_CACHE={env}"
    return f"the cache folder {default_cache_dir()} (the default)"


def source_digest(task: Task) -> str:
    """A hash of the source of the modules that make the task's data: those it declares in
    :meth:`~perfekt_bench.Task.source_modules`, or, when it declares none, its own module."""
    digest = hashlib.sha256()
    modules = task.source_modules() or [inspect.getmodule(type(task))]
    for module in modules:
        try:
            source = inspect.getsource(module)  # type: ignore[arg-type]
        except (OSError, TypeError):  # defined interactively: its name stands in for it
            source = getattr(module, "__name__", type(task).__qualname__)
        digest.update(source.encode())
    return digest.hexdigest()


def data_key(task: Task, size: int, seed: int) -> str:
    """A hash of the task's identity, parameters, source code, size, seed and split."""
    identity = {
        "task": task.name, "version": task.version, "parameters": task.parameters(),
        "size": size, "seed": seed, "fractions": list(task.split_fractions),
        "source": source_digest(task),
    }
    blob = json.dumps(identity, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def resolved_size(task: Task, size: int | None, budget: str) -> int:
    """``size``, or the task's size for ``budget`` when it is None: the one place this rule
    lives."""
    return task.size_for(budget) if size is None else int(size)


def split(task: Task, data: Triplets, seed: int) -> tuple[Triplets, Triplets, Triplets]:
    """Split by a seeded permutation into the task's :attr:`~perfekt_bench.Task.split_fractions`."""
    rng = np.random.default_rng([seed, 0x5B1])
    order = rng.permutation(len(data))
    n_train = int(round(task.split_fractions[0] * len(data)))
    n_val = int(round(task.split_fractions[1] * len(data)))
    parts = np.split(order, [n_train, n_train + n_val])
    return tuple(data.rows(np.sort(p)) for p in parts)  # type: ignore[return-value]


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


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    return digest.hexdigest()


class DataCache:
    """The cached splits of every task, under ``root`` (default :func:`default_cache_dir`)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()

    def path(self, task: Task, key: str) -> Path:
        return self.root / task.name / key

    def load(self, task: Task, size: int | None = None, seed: int = 0, *,
             budget: str = DEFAULT_BUDGET, progress: bool = False, workers: int = 1,
             parts: tuple[str, ...] = SPLITS) -> Splits:
        """Train/validation/test splits of ``size`` objects (default: the budget's), generated
        once and then read from the cache. Only the splits named in ``parts`` are read or
        returned; the others are None (tuning never touches the test split)."""
        size = resolved_size(task, size, budget)
        key = data_key(task, size, seed)
        remove_stale_temporaries(self.root / task.name)
        if self.has(task, key):
            return self.read(task, key, parts)
        with self.lock(task, key, progress=progress):
            if self.has(task, key):  # made by the process we waited for
                return self.read(task, key, parts)
            workdir = self.path(task, key).with_name(f".{key}.parts")
            accepted = inspect.signature(task.generate).parameters
            extra = {name: value for name, value in (("workers", workers), ("workdir", workdir))
                     if name in accepted}
            if "workdir" in extra:
                workdir.mkdir(parents=True, exist_ok=True)
            data = task.generate(size, seed, progress=progress, **extra)
            if len(data) != size:
                raise DataError(f"task {task.name!r} generated {len(data)} objects, asked for "
                                f"{size}")
            splits = Splits(*split(task, data, seed), key=key)
            self.store(task, key, splits, size=size, seed=seed)
            shutil.rmtree(workdir, ignore_errors=True)
        return _only(splits, parts)

    def lock(self, task: Task, key: str, *, progress: bool = False):
        """The cross-process lock of one data set (:func:`~perfekt_bench.fileio.file_lock`),
        saying on stderr (with ``progress``) when it has to wait for another process."""
        path = self.root / task.name / f".{key}.lock"

        def waiting() -> None:
            if progress:
                print(f"waiting for another process that is making data set {key} of task "
                      f"{task.name!r} (lock {path})", file=sys.stderr, flush=True)

        return file_lock(path, on_wait=waiting)

    def has(self, task: Task, key: str) -> bool:
        folder = self.path(task, key)
        return all((folder / f"{s}.parquet").exists() for s in SPLITS)

    def read(self, task: Task, key: str, parts: tuple[str, ...] = SPLITS) -> Splits:
        """The cached splits named in ``parts`` (the others None)."""
        _check_parts(parts)
        folder = self.path(task, key)
        return Splits(*(table_to_triplets(folder / f"{s}.parquet") if s in parts else None
                        for s in SPLITS), key=key)

    def import_files(self, task: Task, full: Path, fast: Path, *, name: str | None = None,
                     options: dict | None = None, progress: bool = False) -> tuple[str, Path]:
        """Import a full/fast pair of the user's files through the task and cache the splits.

        The key hashes the task's identity and the files' contents, so importing the same
        files again reads the cache. Returns the key and the cache folder; ``name`` (default:
        the full file's stem) is written in the data card and accepted by
        :meth:`load_dataset`. Nothing is cached when the import fails.
        """
        options = dict(options or {})
        params = inspect.signature(task.import_files).parameters
        known = sorted(n for n, p in params.items()
                       if p.kind is inspect.Parameter.KEYWORD_ONLY and n != "progress")
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        unknown = sorted(set(options) - set(known))
        if unknown and not takes_any:
            raise ConfigurationError(f"unknown import option(s) {', '.join(unknown)} for task "
                                     f"{task.name!r}; known: {', '.join(known) or 'none'}")
        files = {"full": Path(full), "fast": Path(fast)}
        for role, path in files.items():
            if not path.is_file():
                raise DataError(f"{role} file {path} does not exist")
        identity = {"task": task.name, "version": task.version, "options": options,
                    "fractions": list(task.split_fractions),
                    **{role: _file_digest(path) for role, path in files.items()}}
        key = "imp-" + hashlib.sha256(json.dumps(identity, sort_keys=True, default=str)
                                      .encode()).hexdigest()[:12]
        name = name or files["full"].stem
        if self.has(task, key):
            self.add_name(task, key, name)
            return key, self.path(task, key)
        with self.lock(task, key, progress=progress):
            if not self.has(task, key):
                data = task.import_files(files["full"], files["fast"], progress=progress,
                                         **options)
                splits = Splits(*split(task, data, 0), key=key)
                self.store(task, key, splits, size=len(data), seed=0,
                           extra={"dataset": name, "imported": {role: str(path.resolve())
                                                               for role, path in files.items()},
                                  "options": options})
            else:  # imported meanwhile by the process we waited for
                self.add_name(task, key, name)
        return key, self.path(task, key)

    def card(self, task: Task, key: str) -> dict:
        """The data card of a cached data set; a broken one is a :class:`DataError` naming
        the file."""
        path = self.path(task, key) / CARD
        try:
            card = json.loads(path.read_text())
            if not isinstance(card, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read the data card {path}: {exc}; delete the folder "
                            f"{path.parent} and import or generate the data again") from exc
        return card

    @staticmethod
    def names(card: dict) -> list[str]:
        """The names a data set answers to besides its key: the import name and aliases."""
        return [n for n in [card.get("dataset"), *card.get("aliases", [])] if n]

    def add_name(self, task: Task, key: str, name: str) -> None:
        """Let a data set imported before answer to ``name`` too (an import of the same files
        under a new ``--name``)."""
        card = self.card(task, key)
        if name in self.names(card):
            return
        card["aliases"] = [*card.get("aliases", []), name]
        atomic_write_json(self.path(task, key) / CARD, card)

    def datasets(self, task: Task) -> list[dict]:
        """The data cards of everything cached for ``task``; a broken card is named in a
        warning and left out."""
        cards = []
        for path in sorted((self.root / task.name).glob(f"*/{CARD}")):
            try:
                cards.append(self.card(task, path.parent.name))
            except DataError as exc:
                warnings.warn(str(exc), PerfektBenchWarning, stacklevel=2)
        return cards

    def load_dataset(self, task: Task, dataset: str, *,
                     parts: tuple[str, ...] = SPLITS) -> Splits:
        """Cached splits by key, by the name given at import, or by an alias (only
        ``parts``)."""
        return self.read(task, self.dataset_key(task, dataset), parts)

    def dataset_key(self, task: Task, dataset: str) -> str:
        """The key of the cached data set named ``dataset`` (its key, its import name or an
        alias); a :class:`DataError` listing the known ones when there is none, or several,
        or naming the data card when it is broken."""
        if (self.path(task, dataset) / CARD).exists():  # a key: a broken card is an error
            self.card(task, dataset)
        cards = self.datasets(task)
        hits = [c["key"] for c in cards if dataset == c.get("key") or dataset in self.names(c)]
        if not hits:
            known = sorted({n for c in cards if "key" in c for n in self.names(c) or [c["key"]]})
            raise DataError(f"no cached data set {dataset!r} of task {task.name!r} in "
                            f"{self.root / task.name}; known: {', '.join(known) or 'none'}")
        if len(set(hits)) > 1:
            raise DataError(f"the name {dataset!r} fits several data sets of task "
                            f"{task.name!r}: {', '.join(sorted(set(hits)))}; give the key")
        return hits[0]

    def store(self, task: Task, key: str, splits: Splits, *, size: int, seed: int,
              extra: dict | None = None) -> Path:
        """Write all splits to a temporary folder, then move it in place in one rename."""
        import pyarrow.parquet as pq

        folder = self.path(task, key)
        remove_stale_temporaries(folder.parent)
        if folder.exists():  # a concurrent writer finished first: theirs is identical
            return folder
        try:
            with atomic_folder(folder) as tmp:
                for name in SPLITS:
                    pq.write_table(triplets_to_table(getattr(splits, name)),
                                   tmp / f"{name}.parquet")
                card = task.data_card() | {"size": size, "seed": seed, "key": key} | (extra or {})
                (tmp / CARD).write_text(json.dumps(card, indent=2, default=str))
        except OSError:
            if not folder.exists():
                raise
        return folder


def _check_parts(parts: tuple[str, ...]) -> None:
    if unknown := [p for p in parts if p not in SPLITS]:
        raise ValueError(f"unknown split(s) {unknown}; the splits are {', '.join(SPLITS)}")


def _only(splits: Splits, parts: tuple[str, ...]) -> Splits:
    """``splits`` with the parts not in ``parts`` set to None."""
    _check_parts(parts)
    return Splits(*(getattr(splits, s) if s in parts else None for s in SPLITS), key=splits.key)


def load_splits(task: Task, size: int | None = None, seed: int = 0, *,
                cache_dir: str | Path | None = None, budget: str = DEFAULT_BUDGET,
                progress: bool = False, workers: int = 1) -> Splits:
    """``DataCache(cache_dir).load(task, size, seed, …)``: a task's splits, cached."""
    return DataCache(cache_dir).load(task, size, seed, budget=budget, progress=progress,
                                     workers=workers)
