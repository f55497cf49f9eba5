"""Resumable, parallel event generation in Parquet parts, shared by the PYTHIA-based tasks.

    arrays = generate(recipe, n_rows, seed, workers=1, workdir=None, progress=False)

The work is cut into parts of ``recipe.events_per_part`` events. Part ``i`` is a function of
``(seed, i)`` only (the recipe draws its PYTHIA seed and detector generators from
:func:`part_seeds`, and PYTHIA is initialised afresh for every part), so the rows of a seed do not
depend on the number of workers, and a run that was interrupted resumes from the parts already
on disk (``workdir/part-000123.parquet``, each written to a temporary name and renamed) and ends
with the same arrays as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perfekt_bench.errors import ConfigurationError, DataError

#: array name → column names, e.g. {"g": (...), "x_full": (...), ...}
Columns = dict[str, tuple[str, ...]]
#: PYTHIA accepts seeds 1 … 900 000 000 (0 would mean "from the clock")
PYTHIA_MAX_SEED = 900_000_000
#: give up when this many events gave not a single row
_MAX_EVENTS_WITHOUT_JETS = 20_000


def part_seeds(seed: int, part: int) -> tuple[int, np.random.Generator, np.random.Generator]:
    """The PYTHIA seed and two independent generators (fullsim, fastsim) of part ``part``."""
    pythia_seed = 1 + int(np.random.default_rng([seed, part, 0]).integers(PYTHIA_MAX_SEED))
    return pythia_seed, np.random.default_rng([seed, part, 1]), np.random.default_rng(
        [seed, part, 2])


@dataclass(frozen=True)
class Recipe:
    """What a task generates: its ``name``, the ``columns`` of its arrays, ``make_part(seed,
    part, events_per_part) -> Part`` (a module-level function, so that worker processes can
    receive it), the generator ``settings`` a part on disk must have been made with, the
    default ``events_per_part`` and the ``unit`` of a row for the progress bar."""

    name: str
    columns: Columns
    make_part: Callable[[int, int, int], Part]
    settings: tuple[str, ...]
    events_per_part: int
    unit: str = "jet"


@dataclass(frozen=True)
class Part:
    """One finished part: its index, rows, events and the seconds it took to generate."""

    index: int
    arrays: dict[str, np.ndarray]
    n_events: int
    seconds: float = 0.0

    @property
    def n_rows(self) -> int:
        return len(self.arrays["g"])


def part_path(workdir: Path, part: int) -> Path:
    return Path(workdir) / f"part-{part:06d}.parquet"


def _identity(recipe: Recipe, seed: int, events_per_part: int) -> dict:
    """What a part on disk must have been made with to be reused."""
    settings = hashlib.sha256("\n".join(recipe.settings).encode()).hexdigest()[:16]
    return {"seed": seed, "events_per_part": events_per_part, "pythia_settings": settings}


def write_part(workdir: Path, part: Part, identity: dict, columns: Columns) -> Path:
    """Write ``part`` atomically: to a temporary file in ``workdir``, then renamed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {f"{key}.{name}": pa.array(part.arrays[key][:, j], type=pa.float64())
               for key, names in columns.items() for j, name in enumerate(names)}
    meta = {**identity, "part": part.index, "n_events": part.n_events, "seconds": part.seconds}
    table = pa.table(columns).replace_schema_metadata({"perfekt_bench": json.dumps(meta)})
    path = part_path(workdir, part.index)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_part(workdir: Path, index: int, identity: dict, columns: Columns) -> Part:
    """Read a part written by :func:`write_part`; one made differently is a :class:`DataError`."""
    import pyarrow.parquet as pq

    path = part_path(workdir, index)
    try:
        table = pq.read_table(path)
        meta = json.loads(table.schema.metadata[b"perfekt_bench"])
        arrays = {key: np.column_stack([table.column(f"{key}.{n}").to_numpy() for n in names])
                  .astype(np.float64).reshape(-1, len(names)) for key, names in columns.items()}
    except Exception as exc:  # pyarrow raises several unrelated types for broken files
        raise DataError(f"cannot read generated part {path}: {exc}") from exc
    made_with = {k: meta.get(k) for k in identity}
    if made_with != identity or meta.get("part") != index:
        raise DataError(f"{path} was generated with {made_with}, not {identity}; "
                        "use another workdir or delete it")
    return Part(index, arrays, int(meta["n_events"]), float(meta.get("seconds", 0.0)))


def _part_to_file(recipe: Recipe, seed: int, index: int, events_per_part: int,
                  workdir: str) -> Part:
    """Worker task: make one part and write it; the written part is returned too."""
    part = recipe.make_part(seed, index, events_per_part)
    write_part(Path(workdir), part, _identity(recipe, seed, events_per_part), recipe.columns)
    return part


def _init_worker() -> None:
    """In each worker process: Ctrl-C reaches the whole process group, but the parent alone
    handles it and ends the workers; and a worker dies with its parent (Linux's
    PR_SET_PDEATHSIG), so a killed command leaves no worker writing parts behind."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)


# --------------------------------------------------------------------------- driver


def generate(recipe: Recipe, n_jets: int, seed: int, *, workers: int = 1,
             workdir: str | os.PathLike | None = None, progress: bool = False,
             events_per_part: int | None = None) -> dict[str, np.ndarray]:
    """``n_jets`` rows (matched objects) of ``recipe`` for ``seed``, as float64 arrays.

    Parts 0, 1, 2, … are made (by ``workers`` processes when above 1) until their rows, in part
    order, reach ``n_jets``; the concatenation is truncated to exactly ``n_jets`` rows. Parts
    already in ``workdir`` are read instead of made; ``workdir=None`` uses a temporary folder.
    ``events_per_part`` defaults to the recipe's. ``progress`` shows a bar of rows on stderr
    with the event rate.
    """
    if events_per_part is None:
        events_per_part = recipe.events_per_part
    if int(n_jets) != n_jets or n_jets < 1:
        raise ConfigurationError(f"n_jets must be a positive integer, got {n_jets!r}")
    if int(seed) != seed or seed < 0:
        raise ConfigurationError(f"seed must be a non-negative integer, got {seed!r}")
    if int(workers) != workers or workers < 1:
        raise ConfigurationError(f"workers must be a positive integer, got {workers!r}")
    if int(events_per_part) != events_per_part or events_per_part < 1:
        raise ConfigurationError(f"events_per_part must be positive, got {events_per_part!r}")
    n_jets, seed, workers, events_per_part = map(int, (n_jets, seed, workers, events_per_part))
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix=f"perfekt-bench-{recipe.name}-") as tmp:
            return generate(recipe, n_jets, seed, workers=workers, workdir=tmp, progress=progress,
                            events_per_part=events_per_part)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    _remove_stale(workdir)
    parts = _collect_parts(recipe, n_jets, seed, workers, workdir, progress, events_per_part)
    arrays = {key: np.concatenate([p.arrays[key] for p in parts])[:n_jets]
              for key in recipe.columns}
    validate(arrays, recipe.columns, n_jets)
    return arrays


def validate(arrays: dict[str, np.ndarray], columns: Columns, n_jets: int | None = None) -> None:
    """Shapes as ``columns`` says, ``n_jets`` rows, finite values; else :class:`DataError`."""
    for key, names in columns.items():
        if key not in arrays:
            raise DataError(f"generated data lack the {key!r} array")
        arr = arrays[key]
        rows = len(arrays["g"]) if n_jets is None else n_jets
        if arr.shape != (rows, len(names)):
            raise DataError(f"generated {key!r} has shape {arr.shape}, not {(rows, len(names))}")
        bad = ~np.isfinite(arr)
        for j in np.flatnonzero(bad.any(axis=0)).tolist():
            raise DataError(f"generated column {key}.{names[j]} has {int(bad[:, j].sum())} "
                            f"non-finite value(s) in {rows} rows")


class _InProcess:
    """The executor for ``workers=1``: runs a part when it is submitted."""

    def __init__(self, done: queue.Queue):
        self.done = done

    def submit(self, fn: Callable, args: tuple) -> None:
        self.done.put(fn(*args))

    def close(self) -> None:
        pass

    terminate = close


class _Pool:
    """A spawn-context process pool whose finished parts land in a queue (errors too)."""

    def __init__(self, done: queue.Queue, workers: int):
        import multiprocessing

        self.done = done
        self.pool = multiprocessing.get_context("spawn").Pool(workers, _init_worker)

    def submit(self, fn: Callable, args: tuple) -> None:
        self.pool.apply_async(fn, args, callback=self.done.put, error_callback=self.done.put)

    def close(self) -> None:
        self.pool.close()
        self.pool.join()

    def terminate(self) -> None:
        self.pool.terminate()
        self.pool.join()


def _collect_parts(recipe: Recipe, n_jets: int, seed: int, workers: int, workdir: Path,
                   progress: bool, events_per_part: int) -> list[Part]:
    """Parts 0 … K in order, the fewest whose rows reach ``n_jets``: read or made."""
    from tqdm import tqdm

    identity = _identity(recipe, seed, events_per_part)
    done: dict[int, Part] = {}
    in_flight: set[int] = set()
    next_index = 0
    finished: queue.Queue = queue.Queue()
    executor: _InProcess | _Pool | None = None  # started at the first part to make
    bar = tqdm(total=n_jets, unit=recipe.unit, file=sys.stderr, disable=not progress,
               smoothing=0.1, dynamic_ncols=True, desc=recipe.name)
    start, new_events = time.perf_counter(), 0

    def rows_done() -> int:
        return sum(p.n_rows for p in done.values())

    def enough() -> bool:  # the parts done without a gap from part 0 hold n_jets rows
        rows, index = 0, 0
        while index in done and rows < n_jets:
            rows, index = rows + done[index].n_rows, index + 1
        return rows >= n_jets

    def want_more() -> bool:
        if in_flight and len(in_flight) >= workers:
            return False
        events = sum(p.n_events for p in done.values())
        if not in_flight:
            return rows_done() < n_jets
        if events == 0:  # no estimate yet: keep every worker busy
            return True
        expected = rows_done() / events * events_per_part * len(in_flight)
        return rows_done() + expected < n_jets

    def add(part: Part) -> None:
        done[part.index] = part
        bar.update(min(part.n_rows, n_jets - bar.n))

    interrupted = threading.Event()
    restore_ctrl_c = _remember_ctrl_c(interrupted)
    try:
        while not enough():
            while want_more():
                index, next_index = next_index, next_index + 1
                if part_path(workdir, index).exists():
                    add(read_part(workdir, index, identity, recipe.columns))
                    continue
                if executor is None:
                    executor = _InProcess(finished) if workers == 1 else _Pool(finished, workers)
                in_flight.add(index)
                executor.submit(_part_to_file,
                                (recipe, seed, index, events_per_part, str(workdir)))
            if not in_flight:
                continue
            result = _get(finished, interrupted)
            if isinstance(result, BaseException):
                raise result
            in_flight.discard(result.index)
            add(result)
            new_events += result.n_events
            bar.set_postfix_str(f"{new_events / (time.perf_counter() - start):.1f} events/s",
                                refresh=True)
            if rows_done() == 0 and sum(p.n_events for p in done.values()) >= max(
                    _MAX_EVENTS_WITHOUT_JETS, events_per_part):
                raise DataError(f"{sum(p.n_events for p in done.values())} events gave no "
                                f"{recipe.unit}; check the PYTHIA settings and the cuts")
        _raise_if_interrupted(interrupted)
    except BaseException as exc:
        if executor is not None:
            executor.terminate()
        if isinstance(exc, KeyboardInterrupt) and done:
            print(f"perfekt-bench: kept {len(done)} finished part(s) of {recipe.name} "
                  f"({rows_done()} {recipe.unit}s) in {workdir}; the same command resumes "
                  "from them", file=sys.stderr)
        raise
    else:
        if in_flight:  # parts still running are not needed: end them rather than wait
            executor.terminate()
        elif executor is not None:
            executor.close()
    finally:
        restore_ctrl_c()
        bar.close()
        _remove_stale(workdir)
    parts, rows = [], 0
    for index in sorted(done):
        if rows >= n_jets:
            break
        parts.append(done[index])
        rows += done[index].n_rows
    return parts


def _remove_stale(workdir: Path) -> None:
    """Delete the temporary files of parts whose writer was killed mid-write."""
    for stale in workdir.glob(".part-*.tmp"):
        stale.unlink(missing_ok=True)


def _get(finished: queue.Queue, interrupted: threading.Event):
    """Wait for the next finished part, staying responsive to Ctrl-C."""
    while True:
        _raise_if_interrupted(interrupted)
        try:
            return finished.get(timeout=0.5)
        except queue.Empty:
            continue


def _remember_ctrl_c(interrupted: threading.Event) -> Callable[[], None]:
    """Make Ctrl-C set ``interrupted`` as well as raise KeyboardInterrupt, and return what
    undoes it. Python drops an exception raised while a ``__del__`` method or a weakref
    callback runs (printing "Exception ignored in …" and its traceback), so a Ctrl-C landing
    there would be lost and generation would go on; the loop checks the flag after every part,
    and such a dropped KeyboardInterrupt is not printed, since it is not lost. Only in the main
    thread, and only where Ctrl-C has Python's default handler (a caller that set its own
    keeps it)."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        return lambda: None
    previous_hook = sys.unraisablehook

    def on_ctrl_c(signum, frame):
        interrupted.set()
        raise KeyboardInterrupt

    def on_dropped(unraisable):
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous_hook(unraisable)

    def undo() -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.unraisablehook = previous_hook

    signal.signal(signal.SIGINT, on_ctrl_c)
    sys.unraisablehook = on_dropped
    return undo


def _raise_if_interrupted(interrupted: threading.Event) -> None:
    if interrupted.is_set():
        raise KeyboardInterrupt
