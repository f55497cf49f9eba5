"""Cells on Dask: a ``distributed.LocalCluster`` of processes on this machine (``compare
--workers N``) or an existing Dask cluster (``compare --scheduler``), started for example on a
batch system by dask-jobqueue.

**Threads.** A cell's fit and metrics run on torch's intra-op threads. Processes that together
ask for more threads than there are cores slow each other down badly (two processes with
torch's default of 2 threads on 2 cores: the MMD went from 55 ms to 1.6 s per call), so every
process is given its share deliberately: on this machine, ``N`` worker processes on ``C``
usable cores (the CPU affinity mask, which is what ``taskset``, SLURM and HTCondor cgroups
allot) run one cell at a time with ``max(1, C // N)`` threads each (:func:`threads_per_cell`),
set both as ``OMP_NUM_THREADS`` (and MKL's, OpenBLAS's) in their environment and by
``torch.set_num_threads`` in each cell. On an existing cluster perfekt-bench cannot know how the
workers share their machines, so a cell uses ``--threads-per-cell`` threads (default 1): start
the workers with as many Dask threads as cores divided by that number.

**Results.** Every cell writes its own run (its folder and its one store file, each written
atomically under a unique run id) straight into the results folder, which must therefore be on
a file system that all workers share; :func:`check_workers` verifies that before any cell is
sent. The client keeps only the small :class:`~perfekt_bench.cells.Outcome` of each cell.
"""

from __future__ import annotations

import contextlib
import os
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cells import Cell, Outcome, execute, record_failure
from .errors import ConfigurationError, PerfektBenchWarning
from .provenance import distribution_version

if TYPE_CHECKING:
    from distributed import Client

#: the environment variables that size the OpenMP/BLAS thread pools of a worker process
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: seconds to wait for the first worker of an existing cluster (batch jobs start slowly)
WORKER_WAIT = 600.0


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no affinity masks
        return os.cpu_count() or 1


def threads_per_cell(workers: int, cores: int | None = None) -> int:
    """The torch threads of each of ``workers`` processes sharing ``cores`` (default: the usable
    cores): ``max(1, cores // workers)``, so that together they never ask for more threads than
    there are cores (beyond one each)."""
    cores = usable_cores() if cores is None else cores
    return max(1, cores // max(1, workers))


@contextlib.contextmanager
def local_client(workers: int, threads: int) -> Iterator[Client]:
    """A client of a new ``LocalCluster``: ``workers`` processes of one Dask thread each (one
    cell at a time), each with ``threads`` OpenMP/BLAS threads; closed when the block ends."""
    import logging

    from distributed import Client, LocalCluster

    env = {name: str(threads) for name in THREAD_VARIABLES}
    with (LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                       dashboard_address=None, env=env, silence_logs=logging.ERROR) as cluster,
          Client(cluster) as client):
        yield client


@contextlib.contextmanager
def remote_client(address: str | None = None, scheduler_file: str | None = None
                  ) -> Iterator[Client]:
    """A client of an existing cluster, by scheduler address or scheduler file."""
    from distributed import Client

    if scheduler_file is not None and not Path(scheduler_file).is_file():
        raise ConfigurationError(f"--scheduler-file {scheduler_file}: no such file (the "
                                 "scheduler writes it when it starts)")
    target = address or scheduler_file
    try:
        client = Client(address=address, scheduler_file=scheduler_file, timeout="30s")
    except (OSError, TimeoutError) as exc:
        raise ConfigurationError(f"cannot reach the Dask scheduler at {target}: {exc}") from exc
    with client:
        yield client


def worker_probe(results_token: str, cache_token: str) -> dict[str, Any]:
    """What a worker sees (run on every worker by :func:`check_workers`)."""
    return {"version": distribution_version(), "results": Path(results_token).is_file(),
            "cache": Path(cache_token).is_file()}


def check_workers(client: Client, results_root: Path, cache_root: Path, *,
                  log: Callable[[str], None] = lambda message: None) -> int:
    """Wait for a worker, then check that every worker runs this perfekt-bench version and sees
    this results folder (a :class:`ConfigurationError` otherwise) and this data cache (a warning
    otherwise: such workers generate the data themselves). The number of workers."""
    if not client.scheduler_info()["workers"]:
        log(f"waiting up to {WORKER_WAIT:.0f} s for a Dask worker to join")
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT)
        except TimeoutError as exc:
            raise ConfigurationError(f"no Dask worker joined the scheduler within "
                                     f"{WORKER_WAIT:.0f} s") from exc
    tokens = []
    for folder in (results_root, cache_root):
        folder.mkdir(parents=True, exist_ok=True)
        tokens.append(folder / f".perfekt-bench-probe-{uuid.uuid4().hex}")
        tokens[-1].write_text("written by perfekt-bench compare to see whether workers share it")
    try:
        answers = client.run(worker_probe, *map(str, tokens))
    except ImportError as exc:
        raise ConfigurationError(f"the Dask workers cannot import perfekt-bench ({exc}); "
                                 "install it in the workers' environment") from exc
    finally:
        for token in tokens:
            token.unlink(missing_ok=True)
    mine = distribution_version()
    for address, answer in sorted(answers.items()):
        if answer["version"] != mine:
            raise ConfigurationError(f"Dask worker {address} runs perfekt-bench "
                                     f"{answer['version']}, this client {mine}: install the "
                                     "same version on both")
        if not answer["results"]:
            raise ConfigurationError(
                f"Dask worker {address} does not see the results folder {results_root}; give "
                "--results-dir on a file system that the client and every worker share")
        if not answer["cache"]:
            warnings.warn(f"Dask worker {address} does not see the data cache {cache_root}; it "
                          "will generate the data it needs itself (give --cache-dir on a shared "
                          "file system to generate it once)", PerfektBenchWarning, stacklevel=2)
    return len(answers)


def run_cells(client: Client, cells: Sequence[Cell], *, threads: int,
              on_done: Callable[[Cell, Outcome], None]) -> None:
    """Send every cell to the cluster and call ``on_done`` for each as it ends, in the order
    they end. A cell whose worker process died more often than the scheduler allows
    (``distributed.scheduler.allowed-failures``, default 3; the scheduler retries it on another
    worker until then) is stored as failed by this process."""
    from distributed import as_completed

    futures = {}
    for cell in cells:
        future = client.submit(execute, cell, threads=threads, pure=False,
                               key=f"perfekt-bench-cell-{cell.run_id}")
        futures[future.key] = (future, cell)
    try:
        for future in as_completed([f for f, _ in futures.values()]):
            cell = futures[future.key][1]
            try:
                outcome = future.result()
            except Exception as exc:  # the worker died, or the cell could not be sent
                outcome = record_failure(cell, _lost(exc))
            on_done(cell, outcome)
    except BaseException:
        client.cancel([f for f, _ in futures.values()])
        raise


class WorkerDied(RuntimeError):
    """The worker process running a cell died on every try Dask allowed."""


def _lost(exc: BaseException) -> BaseException:
    """A worker's death told in one line."""
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        last = getattr(exc.last_worker, "address", exc.last_worker)
        return WorkerDied(f"the worker process running this cell died (killed, or out of "
                          f"memory) on each of {exc.allowed_failures + 1} tries; last on {last}")
    return exc
