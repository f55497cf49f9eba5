"""PYTHIA 8 for the tasks that generate events: start a seeded generator, read its events in
batches (``Pythia.nextBatch``: one Awkward array per batch, no Python loop over particles)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from perfekt_bench.errors import ConfigurationError

from .particles import INVISIBLE_PIDS, Particles
from .parts import PYTHIA_MAX_SEED

#: events PYTHIA hands over at once (one awkward array per batch)
BATCH_EVENTS = 100


def start(pythia_seed: int, settings: tuple[str, ...]):
    """An initialised, quiet ``pythia8mc.Pythia`` with ``settings`` and PYTHIA's own seed
    ``pythia_seed`` (1 … 900 000 000)."""
    if not 1 <= pythia_seed <= PYTHIA_MAX_SEED:
        raise ConfigurationError(f"PYTHIA seed {pythia_seed} is outside 1 … {PYTHIA_MAX_SEED}")
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)  # no banner
    for line in (*settings, "Random:setSeed = on", f"Random:seed = {pythia_seed}"):
        if not pythia.readString(line):
            raise ConfigurationError(f"PYTHIA rejected the setting {line!r}")
    if not pythia.init():
        raise RuntimeError("PYTHIA failed to initialise")
    return pythia


def batches(pythia, n_events: int) -> Iterator:
    """``n_events`` events as the ``prt`` Awkward arrays of successive batches (fields id,
    status, mother1/2, daughter1/2, p, …); failed events are retried by PYTHIA."""
    left = n_events
    while left > 0:
        run = pythia.nextBatch(min(left, BATCH_EVENTS), "skip")
        if len(run) == 0:
            raise RuntimeError("PYTHIA failed to generate a batch of events")
        left -= len(run)
        yield run.prt


def visible_events(pythia_seed: int, n_events: int,
                   settings: tuple[str, ...]) -> Iterator[tuple[Particles, object]]:
    """``n_events`` events, each as (its stable visible particles, its whole event record).

    Neutrinos are left out. The record is the event's Awkward ``prt`` array, for tasks that
    need more than the final state (hadrons, partons). Charges come from PYTHIA's particle
    data, looked up once per PDG id.
    """
    import awkward as ak

    pythia = start(pythia_seed, settings)
    charges: dict[int, int] = {}
    for prt in batches(pythia, n_events):
        counts = ak.to_numpy(ak.num(prt))
        flat = ak.flatten(prt)
        status = ak.to_numpy(flat.status)
        pid = ak.to_numpy(flat.id).astype(np.int32)
        keep = (status > 0) & ~np.isin(np.abs(pid), INVISIBLE_PIDS)
        # selected rows of event k are sel[starts[k]:starts[k + 1]]
        starts = np.concatenate([[0], np.cumsum(keep)])[np.concatenate([[0], np.cumsum(counts)])]
        sel = np.flatnonzero(keep)
        mom = flat.p
        px, py, pz, e = (ak.to_numpy(getattr(mom, c))[sel].astype(np.float64)
                         for c in ("px", "py", "pz", "e"))
        pid = pid[sel]
        ids, inverse = np.unique(pid, return_inverse=True)
        for i in ids.tolist():
            if i not in charges:
                charges[i] = round(pythia.particleData.charge(i))
        charge = np.array([charges[i] for i in ids.tolist()], dtype=np.int8)[inverse]
        for k, (a, b) in enumerate(zip(starts[:-1].tolist(), starts[1:].tolist(), strict=True)):
            yield Particles(px[a:b], py[a:b], pz[a:b], e[a:b], pid[a:b], charge[a:b]), prt[k]
