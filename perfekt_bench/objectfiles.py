"""Files of objects to refine: what ``perfekt-bench refine`` reads, a chunk of entries at a time.

An :class:`ObjectReader` yields :class:`ObjectChunk` objects: the fastsim features ``x`` and the
conditioning ``g`` of every object of some entries of the file, which of them to refine, and
how the objects sit in the entries (one per row of a table, or a list per event of a ROOT
tree). The core reads flat tables itself: :class:`ParquetObjects` (one object per row) and
:class:`TreeObjects` (a ROOT tree whose branches hold one number per entry, or one list of
numbers per entry, all lists of the same length). The columns are the task's feature names
unless the user names others. A task whose files follow conventions of their own (NanoAOD,
Delphes) returns its own reader from :meth:`perfekt_bench.Task.object_reader`.

Every problem is a :class:`~perfekt_bench.DataError` naming the file, the column and the
count: missing columns (all of them listed, with those the file has), columns that hold no
numbers, NaN or infinite values in the objects to refine.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError

#: the suffixes of the two formats
PARQUET_SUFFIXES = (".parquet", ".pq")
ROOT_SUFFIXES = (".root",)


@dataclass
class ObjectChunk:
    """The objects of ``entries`` consecutive entries of a file, starting at ``start``.

    ``x`` (n, d_x) and ``g`` (n, d_g) hold every object of the entries, float32, in the task's
    column order; ``selected`` (bool, n) marks those to refine (None: all), the others keep
    their values and may hold anything. ``counts`` gives the objects of each entry of a
    collection (None: one object per entry). ``columns`` are what a Parquet output carries
    over from the input, one value (or list) per entry: numpy, pyarrow or awkward arrays.
    """

    start: int
    entries: int
    x: np.ndarray
    g: np.ndarray
    selected: np.ndarray | None = None
    counts: np.ndarray | None = None
    columns: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"entries {self.start}–{self.start + self.entries - 1}"


class ObjectReader(abc.ABC):
    """The objects of one input file (see the module docstring).

    ``collection`` names the collection of a reader with a list of objects per entry (e.g.
    ``Jet``): its outputs are ``<collection>_<field>`` (``nJet`` counts them in a ROOT tree);
    ``refined_fields`` are the names of the refined features in the task's order (e.g.
    ``btagDeepFlavB_refined``).
    """

    path: Path
    num_entries: int
    refined_fields: tuple[str, ...]
    collection: str | None = None

    @abc.abstractmethod
    def chunks(self, size: int) -> Iterator[ObjectChunk]:
        """The file's entries, ``size`` at a time."""

    def close(self) -> None:
        """Release the file."""

    def __enter__(self) -> ObjectReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def per_entry(values: np.ndarray, counts: np.ndarray | None):
    """Values of objects as one value per entry (``counts`` None) or one awkward list per
    entry of ``counts`` objects."""
    if counts is None:
        return values
    import awkward as ak

    return ak.unflatten(np.ascontiguousarray(values), counts)


def check_finite(path: Path, chunk: ObjectChunk, names: dict[str, Sequence[str]]) -> None:
    """A :class:`DataError` naming the column and the count when a selected object of
    ``chunk`` has a NaN or infinite ``x`` or ``g`` (``names``: the column of each)."""
    for group in ("x", "g"):
        values = getattr(chunk, group)
        if chunk.selected is not None:
            values = values[chunk.selected]
        bad = ~np.isfinite(values)
        if not bad.any():
            continue
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        n_nan = int(np.isnan(values[:, j]).sum())
        raise DataError(f"{path}: column {names[group][j]} has {n_nan} NaN and "
                        f"{int(bad[:, j].sum()) - n_nan} infinite values in {chunk.where}; "
                        "refine only finite values")


def _missing(path: Path, missing: list[str], have: Sequence[str], what: str) -> DataError:
    shown = ", ".join(list(have)[:30]) + (", …" if len(have) > 30 else "")
    return DataError(f"{path}: {len(missing)} {what} missing: {', '.join(missing)} (it has: "
                     f"{shown or 'none'})")


class ParquetObjects(ObjectReader):
    """A Parquet table, one object per row; every input column is carried to the output."""

    def __init__(self, path: Path, x_columns: Sequence[str], g_columns: Sequence[str]):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.path = Path(path)
        try:
            self.file = pq.ParquetFile(self.path)
        except Exception as err:  # pyarrow raises several unrelated types for broken files
            raise DataError(f"{self.path}: not a readable Parquet file ({err})") from err
        self.names = {"x": list(x_columns), "g": list(g_columns)}
        self.refined_fields = tuple(f"{c}_refined" for c in x_columns)
        self.num_entries = self.file.metadata.num_rows
        try:
            self._check_schema(pa)
        except BaseException:
            self.close()
            raise

    def _check_schema(self, pa) -> None:
        schema = self.file.schema_arrow
        wanted = [*self.names["x"], *self.names["g"]]
        missing = [c for c in wanted if c not in schema.names]
        if missing:
            raise _missing(self.path, missing, schema.names, "column(s)")
        for c in wanted:
            kind = schema.field(c).type
            if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
                raise DataError(f"{self.path}: column {c} holds {kind}, not numbers (one "
                                "integer or floating-point value per row)")

    def chunks(self, size: int) -> Iterator[ObjectChunk]:
        start = 0
        for batch in self.file.iter_batches(batch_size=size):
            chunk = ObjectChunk(start, batch.num_rows, self._stack(batch, "x"),
                                self._stack(batch, "g"),
                                columns={name: batch.column(name) for name in batch.schema.names})
            self._check_nulls(batch, chunk)
            check_finite(self.path, chunk, self.names)
            start += batch.num_rows
            yield chunk

    def close(self) -> None:
        self.file.close()

    def _stack(self, batch, group: str) -> np.ndarray:
        columns = [batch.column(c).to_numpy(zero_copy_only=False) for c in self.names[group]]
        return np.column_stack(columns).astype(np.float32) if columns else np.zeros(
            (batch.num_rows, 0), np.float32)

    def _check_nulls(self, batch, chunk: ObjectChunk) -> None:
        for c in (*self.names["x"], *self.names["g"]):
            nulls = batch.column(c).null_count
            if nulls:
                raise DataError(f"{self.path}: column {c} has {nulls} missing (null) values in "
                                f"{chunk.where}")


class TreeObjects(ObjectReader):
    """A ROOT tree (uproot) whose branches hold one number per entry, or one list of numbers
    per entry (all lists of an entry equally long: one collection). The branches read are
    carried to a Parquet output."""

    def __init__(self, path: Path, x_branches: Sequence[str], g_branches: Sequence[str], *,
                 tree: str | None = None):
        from contextlib import ExitStack

        import uproot

        self.path = Path(path)
        self.names = {"x": list(x_branches), "g": list(g_branches)}
        self.branches = [*x_branches, *g_branches]
        self._stack = ExitStack()
        self.tree = _open_tree(self.path, tree, self._stack)
        keys = set(self.tree.keys())
        missing = [b for b in self.branches if b not in keys]
        if missing:
            self.close()
            raise _missing(self.path, missing, sorted(keys), "branch(es)")
        jagged = {b: self._jagged(self.tree[b], uproot) for b in self.branches}
        if len(set(jagged.values())) > 1:
            self.close()
            lists = ", ".join(b for b, j in jagged.items() if j)
            single = ", ".join(b for b, j in jagged.items() if not j)
            raise DataError(f"{self.path}: branches {lists} hold a list per entry, {single} one "
                            "number: the objects of one refinement come from one collection")
        self.jagged = any(jagged.values())
        self.num_entries = int(self.tree.num_entries)
        prefixes = {b.split("_", 1)[0] for b in x_branches if "_" in b}
        self.collection = None
        if self.jagged:
            self.collection = prefixes.pop() if len(prefixes) == 1 and all(
                "_" in b for b in x_branches) else "Refined"
        cut = len(self.collection) + 1 if self.collection and all(
            b.startswith(self.collection + "_") for b in x_branches) else 0
        self.refined_fields = tuple(f"{b[cut:]}_refined" for b in x_branches)

    def _jagged(self, branch, uproot) -> bool:
        interpretation = branch.interpretation
        numbers = uproot.interpretation.numerical.AsDtype
        jagged = uproot.interpretation.jagged.AsJagged
        if isinstance(interpretation, jagged) and isinstance(interpretation.content, numbers):
            interpretation, is_jagged = interpretation.content, True
        else:
            is_jagged = False
        if (isinstance(interpretation, numbers) and interpretation.inner_shape == ()
                and np.dtype(interpretation.to_dtype).kind in "iuf"):
            return is_jagged
        raise DataError(f"{self.path}: branch {branch.name} holds {branch.typename}, not numbers "
                        "(one number, or one list of numbers, per entry)")

    def chunks(self, size: int) -> Iterator[ObjectChunk]:
        import awkward as ak

        from .rootfiles import read_arrays

        for start in range(0, self.num_entries, size):
            stop = min(start + size, self.num_entries)
            data = read_arrays(self.path, self.tree, self.branches, start, stop)
            counts = None
            if self.jagged:
                lengths = [np.asarray(ak.num(data[b], axis=1)) for b in self.branches]
                for b, n in zip(self.branches, lengths, strict=True):
                    if not np.array_equal(n, lengths[0]):
                        k = int(np.flatnonzero(n != lengths[0])[0])
                        raise DataError(
                            f"{self.path}: branches {self.branches[0]} and {b} hold lists of "
                            f"different lengths in entry {start + k} ({lengths[0][k]} and "
                            f"{n[k]}): they are not one collection")
                counts = lengths[0]
            flat = {b: np.asarray(ak.flatten(data[b], axis=None) if self.jagged else data[b],
                                  dtype=np.float32) for b in self.branches}
            n = int(counts.sum()) if counts is not None else stop - start
            chunk = ObjectChunk(
                start, stop - start,
                _columns(flat, self.names["x"], n), _columns(flat, self.names["g"], n),
                counts=counts, columns={b: data[b] for b in self.branches})
            check_finite(self.path, chunk, self.names)
            yield chunk

    def close(self) -> None:
        self._stack.close()


def _columns(flat: dict[str, np.ndarray], names: Sequence[str], n: int) -> np.ndarray:
    if not names:
        return np.zeros((n, 0), np.float32)
    return np.column_stack([flat[c] for c in names]).astype(np.float32)


def _open_tree(path: Path, tree: str | None, stack):
    """The tree ``tree`` of a ROOT file, or its only tree when ``tree`` is None."""
    from .rootfiles import only_tree, open_tree

    if tree is None:
        tree = only_tree(path, stack)
    return open_tree(path, tree, stack)
