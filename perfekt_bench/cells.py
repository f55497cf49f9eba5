"""One cell of a comparison: a run that ``compare`` asks for, executed in this process or on a
Dask worker, which ends as exactly one stored run, measured or failed.

A cell carries its run id from the start (:attr:`RunConfig.run_id`). When the process running
it dies and Dask runs it again, :func:`execute` first looks for that run id in the store: a
run that an earlier attempt finished is returned, not run twice; a run folder that an attempt
left without a store file is removed before the new attempt writes its own.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .provenance import provenance
from .results import ResultsStore, failed_row, read_file

if TYPE_CHECKING:
    from .plugins import PluginHost
    from .runs import RunConfig

#: what ``Outcome.status`` may be
OK, FAILED = "ok", "failed"


@dataclass(frozen=True)
class Cell:
    """A run to make: its configuration (with its run id) and what the plan knew of it.

    ``replaces`` are earlier runs of the same :func:`~perfekt_bench.results.run_key` that a
    successful run of this cell replaces (failed ones, runs that lack a metric asked for, or all
    of them with ``--rerun``); a failed run replaces only the failed ones among them
    (``replaces_failed``), never a measured run.
    """

    config: RunConfig
    key: str
    task_version: str
    data_key: str
    params: dict[str, Any] = field(default_factory=dict)
    replaces: tuple[str, ...] = ()
    replaces_failed: tuple[str, ...] = ()

    @property
    def run_id(self) -> str:
        assert self.config.run_id is not None
        return self.config.run_id

    @property
    def label(self) -> str:
        return f"{self.config.refiner} on {self.config.task}, seed {self.config.seed}"


@dataclass(frozen=True)
class Outcome:
    """How a cell ended: ``status`` ok or failed, the seconds it took where it ran, the torch
    threads it ran with, where (``host:pid``), and for a failure the error."""

    run_id: str
    status: str
    seconds: float = 0.0
    threads: int | None = None
    where: str = ""
    error_message: str | None = None
    #: True when an earlier attempt of this cell had already stored the run
    resumed: bool = False


def execute(cell: Cell, *, threads: int | None = None, host: PluginHost | None = None
            ) -> Outcome:
    """Run ``cell`` and store it, or store its failure: an exception (not a KeyboardInterrupt)
    becomes a failed run. ``threads`` sets torch's intra-op threads for this process first.
    This is the function that Dask workers call."""
    from .runner import run

    store = ResultsStore(cell.config.results_dir)
    finished = stored_outcome(store, cell.run_id)
    if finished is not None:
        return finished
    if threads is not None:
        set_threads(threads)
    restore_malloc_thresholds()
    # an attempt killed between writing the run folder and the store file left this folder
    store.remove(cell.run_id)
    start = time.perf_counter()
    try:
        run(cell.config, host=host)
    except Exception as exc:
        return record_failure(cell, exc, seconds=time.perf_counter() - start)
    for run_id in cell.replaces:
        store.remove(run_id)
    return Outcome(cell.run_id, OK, time.perf_counter() - start, torch_threads(), where())


def record_failure(cell: Cell, exc: BaseException, *, seconds: float = 0.0) -> Outcome:
    """Store ``cell`` as a failed run with ``exc`` as its error (unless an attempt stored it
    already) and replace the cell's earlier failed runs."""
    store = ResultsStore(cell.config.results_dir)
    finished = stored_outcome(store, cell.run_id)
    if finished is not None:
        return finished
    message = describe(exc)
    row = failed_row(run_id=cell.run_id, config=cell.config, key=cell.key,
                     task_version=cell.task_version, data_key=cell.data_key,
                     params=cell.params, error_message=message,
                     error_traceback="".join(traceback.format_exception(exc)),
                     provenance=provenance(cell.config.device))
    store.write_rows(cell.run_id, [row])
    for run_id in cell.replaces_failed:
        store.remove(run_id)
    return Outcome(cell.run_id, FAILED, seconds, row.get("torch_threads"), where(), message)


def describe(exc: BaseException) -> str:
    """``Type: message`` of an exception, on one line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def stored_outcome(store: ResultsStore, run_id: str) -> Outcome | None:
    """The outcome of ``run_id`` if it is in the store already, else None."""
    path = store.path(run_id)
    if not path.exists():
        return None
    frame = read_file(path)
    if frame is None or frame.empty:
        return None
    first = frame.iloc[0]
    status = FAILED if first.get("status") == FAILED else OK
    message = first.get("error_message") if status == FAILED else None
    return Outcome(run_id, status, where=str(first.get("host", "")), error_message=message,
                   resumed=True)


def set_threads(threads: int) -> None:
    """torch's intra-op threads for this process (what a cell's fit and metrics use)."""
    import torch

    torch.set_num_threads(int(threads))


def restore_malloc_thresholds() -> None:
    """Undo what Dask's nannies do to glibc's allocator in every worker: they set
    ``MALLOC_TRIM_THRESHOLD_`` (``distributed.nanny.pre-spawn-environ``), which also fixes the
    mmap threshold at 128 kB, so every larger tensor is a fresh mmap whose pages fault in on
    first touch: a float64 (512 × 5) @ (5 × 2048) product took 4.5 ms in a worker against 0.9
    ms in a plain process, and whole cells twice their time. Raising both thresholds (64 MB
    mmap, 128 MB trim) at run time restores in-process speed (1.3 ms). Linux/glibc only; once
    per process; nothing where the variable is not set."""
    global _MALLOC_RESTORED
    if _MALLOC_RESTORED or not os.environ.get("MALLOC_TRIM_THRESHOLD_"):
        return
    _MALLOC_RESTORED = True
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 1 << 26)
        libc.mallopt(m_trim_threshold, 1 << 27)
    except (OSError, AttributeError):  # not glibc: its allocator is not Dask's concern
        pass


_MALLOC_RESTORED = False


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def where() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
