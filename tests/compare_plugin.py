"""Plugins that the compare tests install as a distribution (found through the ``perfekt_bench``
entry points), so that CLI subprocesses and Dask worker processes load them too:

* task ``toy-watched``: the toy triplets, generated in a parts folder as the PYTHIA tasks do;
  each generation appends a line to ``$PB_TEST_GENERATIONS`` and lasts
  ``$PB_TEST_GENERATE_SECONDS``;
* refiner ``blocking``: the first fit of all (whichever process gets there first) writes its
  process id to ``$PB_TEST_SIGNALS/blocked.pid`` and waits there to be killed; every later fit
  writes ``$PB_TEST_SIGNALS/fit-<seed>-<pid>`` and moves fastsim by the mean difference;
* the toy task and the failing refiner of :mod:`plugin_fixtures`.
"""

import os
import time
from pathlib import Path

import numpy as np

from perfekt_bench import Refinement, Refiner, hookimpl

from plugin_fixtures import ExplodingRefiner, ToyTask

#: a blocked fit gives up after this many seconds (the test kills it long before)
BLOCK_SECONDS = 120


class WatchedToyTask(ToyTask):
    """Toy triplets generated through a parts folder, each generation logged."""

    name = "toy-watched"

    def generate(self, size, seed, *, progress=False, workdir=None):
        log = os.environ.get("PB_TEST_GENERATIONS")
        if log:
            with open(log, "a") as handle:
                handle.write(f"{os.getpid()}\n")
        part = Path(workdir) / "part-000000.npy"
        np.save(part, np.arange(size))
        time.sleep(float(os.environ.get("PB_TEST_GENERATE_SECONDS", "0")))
        assert len(np.load(part)) == size  # fails if another process removed the folder
        return super().generate(size, seed, progress=progress)


class BlockingRefiner(Refiner):
    """Moves fastsim by the mean difference; the very first fit blocks until killed."""

    name = "blocking"

    def __init__(self, *, seed=0, device="cpu"):
        self.seed, self.device = seed, device

    def fit(self, train, validation, *, progress=False):
        signals = Path(os.environ["PB_TEST_SIGNALS"])
        try:
            fd = os.open(signals / "blocked.pid", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            (signals / f"fit-{self.seed}-{os.getpid()}").touch()
        else:
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            time.sleep(BLOCK_SECONDS)
            raise TimeoutError("the test did not kill this fit")
        self.shift_ = train.x_full.mean(0) - train.x_fast.mean(0)
        return self

    def refine(self, x_fast, g):
        return Refinement((x_fast + self.shift_).astype(np.float32))


@hookimpl
def perfekt_bench_register_tasks(registry):
    registry.add(ToyTask)
    registry.add(WatchedToyTask)


@hookimpl
def perfekt_bench_register_refiners(registry):
    registry.add(ExplodingRefiner)
    registry.add(BlockingRefiner)
