"""A trained refiner applied to the user's own files: ``perfekt-bench refine``.

:func:`refine_file` reads a Parquet or ROOT file a chunk of entries at a time
(:mod:`.objectfiles`, or the task's own reader), refines the objects with the run's refiner
exactly as the run evaluated it (:func:`perfekt_bench.load_refiner`; or with its exported
ONNX graph on ONNX Runtime) and writes, atomically:

* a Parquet file: the input's columns and, per refined feature, ``<column>_refined``
  (``<collection>_<field>_refined`` lists for a collection), ``weight`` for a reweighting
  refiner (its features are left as they are) and, where a reader refines only some objects
  (e.g. jets without a GEN partner), a boolean ``refined`` saying which;
* a ROOT file: a tree ``Friends`` with the new branches only, one entry per input entry, to
  add to the input tree as a friend (``Events->AddFriend("Friends", "refined.root")``).

Memory stays bounded by the chunk size, whatever the file's size. Nothing is written when any
check fails: the output appears under its name only once it is complete.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ConfigurationError, DataError, IncompatibleError
from .objectfiles import (
    PARQUET_SUFFIXES,
    ROOT_SUFFIXES,
    ObjectChunk,
    ObjectReader,
    ParquetObjects,
    TreeObjects,
    per_entry,
)

if TYPE_CHECKING:
    from .plugins import PluginHost
    from .task import Task

#: entries read, refined and written at a time
DEFAULT_CHUNK = 100_000
#: the tree of a ROOT output
FRIEND_TREE = "Friends"
WEIGHT, FLAG = "weight", "refined"


@dataclass(frozen=True)
class RefineSummary:
    """What :func:`refine_file` did."""

    output: Path
    entries: int
    objects: int
    refined: int
    backend: str


def parse_columns(items: Sequence[str]) -> dict[str, list[str]]:
    """``["x=a,b", "g=c"]`` → ``{"x": ["a", "b"], "g": ["c"]}`` (``--columns``)."""
    out: dict[str, list[str]] = {}
    for item in items:
        group, sep, names = item.partition("=")
        columns = [c.strip() for c in names.split(",") if c.strip()]
        if not sep or group not in ("x", "g") or not columns:
            raise ConfigurationError(f"--columns expects x=COL,COL,… or g=COL,COL,…, got "
                                     f"{item!r}")
        if group in out:
            raise ConfigurationError(f"--columns names group {group} twice")
        out[group] = columns
    return out


def input_columns(task: Task, columns: dict[str, list[str]] | None) -> dict[str, list[str]]:
    """The file's columns of each group: the user's, else the task's feature names."""
    names = task.feature_names
    chosen = {"x": list(names.x), "g": list(names.g)} | dict(columns or {})
    for group, expected in (("x", names.x), ("g", names.g)):
        if len(chosen[group]) != len(expected):
            raise ConfigurationError(
                f"--columns {group}= names {len(chosen[group])} column(s), but task "
                f"{task.name!r} has {len(expected)}: {', '.join(expected)} (in this order)")
    return chosen


def open_objects(path: Path, task: Task, *, columns: dict[str, list[str]] | None = None,
                 tree: str | None = None, options: dict[str, Any] | None = None
                 ) -> ObjectReader:
    """The reader of ``path``: the task's own (:meth:`perfekt_bench.Task.object_reader`) when
    no columns are named and it has one for the file, else a flat table or tree."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in PARQUET_SUFFIXES + ROOT_SUFFIXES:
        raise ConfigurationError(f"--input {path}: not a Parquet ({', '.join(PARQUET_SUFFIXES)}) "
                                 f"or ROOT ({', '.join(ROOT_SUFFIXES)}) file by its name")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    options = dict(options or {})
    if tree is not None:
        options["tree"] = tree
    if columns is None:
        reader = task.object_reader(path, **_task_options(task, options))
        if reader is not None:
            return reader
    elif options.keys() - {"tree"}:
        raise ConfigurationError(f"--option {', '.join(sorted(options.keys() - {'tree'}))}: "
                                 "task options apply to the task's own reader, not with "
                                 "--columns")
    chosen = input_columns(task, columns)
    try:
        if suffix in PARQUET_SUFFIXES:
            return ParquetObjects(path, chosen["x"], chosen["g"])
        return TreeObjects(path, chosen["x"], chosen["g"], tree=options.get("tree"))
    except DataError as err:
        if columns is None and "missing" in str(err):
            own = f"; or {task.refine_help}" if task.refine_help else ""
            raise DataError(f"{err}; task {task.name!r} reads x = {', '.join(chosen['x'])} and "
                            f"g = {', '.join(chosen['g'])}: name the file's columns with "
                            f"--columns x=COL,… g=COL,…{own}") from err
        raise


def _task_options(task: Task, options: dict[str, Any]) -> dict[str, Any]:
    params = inspect.signature(task.object_reader).parameters
    known = sorted(n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return options
    if "tree" not in known:  # a reader without trees; the plain tree reader takes --tree
        options = {k: v for k, v in options.items() if k != "tree"}
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigurationError(f"unknown option(s) {', '.join(unknown)} for the files of task "
                                 f"{task.name!r}; known: {', '.join(known) or 'none'}")
    return options


def refine_file(run_dir: str | Path, input_path: str | Path, output_path: str | Path, *,
                columns: dict[str, list[str]] | None = None, chunk_size: int = DEFAULT_CHUNK,
                tree: str | None = None, options: dict[str, Any] | None = None,
                onnx: str | Path | None = None, progress: bool = False,
                host: PluginHost | None = None) -> RefineSummary:
    """Refine the objects of ``input_path`` with the refiner of the run in ``run_dir`` and
    write ``output_path`` (see the module docstring). ``onnx``: refine with this exported
    graph of the run on ONNX Runtime instead of the torch refiner."""
    from .fileio import atomic_path, check_output_file
    from .loading import load_refiner
    from .plugins import default_host
    from .rundir import read_config

    host = host or default_host()
    input_path, output_path = Path(input_path), Path(output_path)
    if chunk_size < 1:
        raise ConfigurationError(f"--chunk-size must be positive, got {chunk_size}")
    sink_class = _sink_class(output_path)
    if output_path.resolve() == input_path.resolve():
        raise ConfigurationError(f"--output {output_path} is the input file; write elsewhere")
    check_output_file(output_path, f"--output {output_path}")
    refiner = load_refiner(run_dir, host=host)
    config = read_config(run_dir, required=True)
    task = host.task(config["task"])
    backend = "python"
    if onnx is not None:
        refiner, backend = _onnx_refiner(onnx, run_dir, config), "onnxruntime"
    with open_objects(input_path, task, columns=columns, tree=tree, options=options) as reader:
        if reader.num_entries == 0:
            raise DataError(f"{input_path}: no entries to refine")
        from tqdm.auto import tqdm

        objects = refined = 0
        bar = tqdm(total=reader.num_entries, unit="entry", desc=f"refine {input_path.name}",
                   disable=not progress, file=sys.stderr)
        try:
            with atomic_path(output_path) as tmp, sink_class(tmp, reader) as sink:
                for chunk in reader.chunks(chunk_size):
                    outputs, n_refined = _refined_columns(refiner, chunk, reader, input_path)
                    sink.write(chunk, outputs)
                    objects += len(chunk.x)
                    refined += n_refined
                    bar.update(chunk.entries)
        finally:
            bar.close()
    return RefineSummary(output_path, reader.num_entries, objects, refined, backend)


def _onnx_refiner(path: str | Path, run_dir: str | Path, config: dict):
    """The exported graph of this run (its metadata must say so) on ONNX Runtime."""
    from .export import OnnxRefiner, metadata

    path = Path(path)
    if not path.is_file():
        raise DataError(f"--onnx {path}: no such file")
    meta = metadata(path)
    run_id = Path(run_dir).resolve().name
    if meta.get("run_id") != run_id:
        raise IncompatibleError(f"--onnx {path} was exported from run {meta.get('run_id')!r} "
                                f"(task {meta.get('task')!r}, refiner {meta.get('refiner')!r}), "
                                f"not from {run_id} (task {config['task']!r}, refiner "
                                f"{config['refiner']!r})")
    return OnnxRefiner(path)


def _refined_columns(refiner, chunk: ObjectChunk, reader: ObjectReader,
                     path: Path) -> tuple[dict[str, np.ndarray], int]:
    """The new columns of one chunk, one value per object (flat)."""
    selected = chunk.selected
    index = slice(None) if selected is None else np.flatnonzero(selected)
    x, g = chunk.x[index], chunk.g[index]
    try:
        refinement = refiner.refine(x, g) if len(x) else None
    except DataError as err:
        raise DataError(f"{path}, {chunk.where}: {err}") from err
    values = chunk.x.copy()
    if refinement is not None:
        values[index] = refinement.x
    out = {name: values[:, j] for j, name in enumerate(reader.refined_fields)}
    if refiner.outputs_weights:
        out[WEIGHT] = np.ones(len(chunk.x), np.float32)
        if refinement is not None:
            out[WEIGHT][index] = refinement.weight
    if selected is not None:
        out[FLAG] = np.asarray(selected, dtype=bool)
    return out, len(x)


def _sink_class(path: Path):
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return ParquetSink
    if suffix in ROOT_SUFFIXES:
        return RootSink
    raise ConfigurationError(f"--output {path}: name a Parquet ({', '.join(PARQUET_SUFFIXES)}) "
                             f"or ROOT ({', '.join(ROOT_SUFFIXES)}) file")


class ParquetSink:
    """Chunks appended to one Parquet file: the input's columns, then the new ones."""

    def __init__(self, path: Path, reader: ObjectReader):
        self.path, self.reader, self.writer = path, reader, None

    def __enter__(self) -> ParquetSink:
        return self

    def write(self, chunk: ObjectChunk, outputs: dict[str, np.ndarray]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        prefix = f"{self.reader.collection}_" if self.reader.collection else ""
        columns = {name: _arrow(v) for name, v in chunk.columns.items()}
        for name, values in outputs.items():
            columns[prefix + name] = _arrow(per_entry(values, chunk.counts))
        table = pa.table(columns)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table.cast(self.writer.schema))

    def __exit__(self, *exc: object) -> None:
        if self.writer is not None:
            self.writer.close()


def _arrow(values):
    import pyarrow as pa

    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    if isinstance(values, np.ndarray):
        return pa.array(values)
    import awkward as ak

    return ak.to_arrow(values, extensionarray=False)


class RootSink:
    """Chunks appended to the tree :data:`FRIEND_TREE` of a new ROOT file: the new branches
    only, flat or as one collection (``n<collection>`` and ``<collection>_<field>``)."""

    def __init__(self, path: Path, reader: ObjectReader):
        self.path, self.reader, self.file, self.tree = path, reader, None, None

    def __enter__(self) -> RootSink:
        import uproot

        self.file = uproot.recreate(self.path)
        return self

    def write(self, chunk: ObjectChunk, outputs: dict[str, np.ndarray]) -> None:
        import awkward as ak

        if chunk.counts is None:
            branches: dict[str, Any] = dict(outputs)
        else:
            branches = {self.reader.collection or "Refined": ak.zip(
                {name: per_entry(v, chunk.counts) for name, v in outputs.items()})}
        if self.tree is None:
            types = {k: v.type if isinstance(v, ak.Array) else v.dtype
                     for k, v in branches.items()}
            self.tree = self.file.mktree(FRIEND_TREE, types)
        self.tree.extend(branches)

    def __exit__(self, *exc: object) -> None:
        if self.file is not None:
            self.file.close()
