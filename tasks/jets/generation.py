"""PYTHIA 8 tt̄ events → GEN, fullsim and fastsim fat jets, in resumable Parquet parts.

    arrays = generate(n_jets, seed, workers=1, workdir=None, progress=False)
    # {"g": (n, 3), "x_full": (n, 3), "x_fast": (n, 3), "h_full": (n, 6), "h_fast": (n, 6)}

The work is cut into parts of :data:`EVENTS_PER_PART` events. Part ``i`` is a function of
``(seed, i)`` only: its PYTHIA seed and the fullsim and fastsim detector generators come from
``numpy.random.default_rng([seed, i, k])`` (:func:`part_seeds`), and PYTHIA is initialised afresh
for every part. So the jets of a seed do not depend on the number of workers, and a run that was
interrupted resumes from the parts already on disk (``workdir/part-000123.parquet``, each written
to a temporary name and renamed) and ends with the same arrays as an uninterrupted one.

Per event (:func:`event_rows`, Fast Perfekt paper Sec. 4): the visible final-state particles are
clustered into GEN fat jets; the event goes through the nominal CMS card (fullsim) and the
flawed card (fastsim) with independent random streams; the reco fat jets of each side are
matched to the GEN jets by direction, and the GEN jets matched on both sides give one row:
``g`` the GEN τ ratios (β = 1.0), ``x_full`` / ``x_fast`` the reco τ ratios (β = 1.0 / 0.9) and
``h_full`` / ``h_fast`` the hidden observables (:data:`~.definitions.H_NAMES`).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterator

import numpy as np

from ..common import clustering as _clustering
from ..common import parts as _parts
from ..common import pythia as _pythia
from ..common.particles import Particles
from ..common.parts import PYTHIA_MAX_SEED, Part, Recipe, part_path, part_seeds  # noqa: F401
from . import detector as _detector
from .definitions import (
    BETA_FAST,
    BETA_FULL,
    BETA_GEN,
    G_NAMES,
    GEN_PTMIN,
    H_NAMES,
    JET_RADIUS,
    MATCH_DR,
    NEIGHBOUR_PTMIN,
    R0,
    RECO_PTMIN,
    X_NAMES,
)
from .features import jet_features

#: PYTHIA 8 settings of every part (the seed is added per part): boosted tt̄ at 13 TeV with full
#: hadronisation; pT̂ > 400 GeV makes fat jets above 200 GeV plentiful. Part of the data card.
PYTHIA_SETTINGS: tuple[str, ...] = (
    "Beams:eCM = 13000.",
    "Top:gg2ttbar = on",
    "Top:qqbar2ttbar = on",
    "PhaseSpace:pTHatMin = 400.",
    "Print:quiet = on",
    "Next:numberCount = 0",
)
#: events per part: the unit of work, of parallelism and of resuming. PYTHIA's initialisation
#: (≈ 0.7 s) is paid once per part, so parts much smaller than this waste time on it.
EVENTS_PER_PART = 500
#: the arrays :func:`generate` returns and the feature names of their columns
COLUMNS: dict[str, tuple[str, ...]] = {
    "g": G_NAMES, "x_full": X_NAMES, "x_fast": X_NAMES, "h_full": H_NAMES, "h_fast": H_NAMES,
}


# --------------------------------------------------------------------------- PYTHIA


def pythia_events(pythia_seed: int, n_events: int, *,
                  settings: tuple[str, ...] = PYTHIA_SETTINGS) -> Iterator[Particles]:
    """``n_events`` PYTHIA events of this task, each as its stable visible particles."""
    for particles, _ in _pythia.visible_events(pythia_seed, n_events, settings):
        yield particles


# --------------------------------------------------------------------------- one event


@functools.cache
def _paper_cards():
    """The nominal and flawed cards, built once per process (≈ 0.25 ms each, every event)."""
    return _detector.DetectorCard.cms(), _detector.DetectorCard.flawed()


def event_rows(gen: Particles, rng_full: np.random.Generator, rng_fast: np.random.Generator, *,
               full_card=None, fast_card=None, beta_gen: float = BETA_GEN,
               beta_full: float = BETA_FULL, beta_fast: float = BETA_FAST) -> dict[str, np.ndarray]:
    """The rows of one event: GEN fat jets matched to a fullsim and to a fastsim fat jet.

    ``full_card`` / ``fast_card`` default to ``DetectorCard.cms()`` / ``DetectorCard.flawed()``;
    the β of each level defaults to the paper's. Returns the :data:`COLUMNS` arrays, one row
    per kept GEN jet, in the GEN jets' pT order.
    """
    cms, flawed = _paper_cards()
    full_card = cms if full_card is None else full_card
    fast_card = flawed if fast_card is None else fast_card
    gen_jets = _clustering.cluster(gen, radius=JET_RADIUS, ptmin=GEN_PTMIN)
    if not gen_jets:
        return _empty_rows()
    sides = []
    for card, rng, beta in ((full_card, rng_full, beta_full), (fast_card, rng_fast, beta_fast)):
        eflow = _detector.simulate(gen, card, rng)
        # the fat jets are the neighbour jets above RECO_PTMIN: anti-kT's inclusive jets do not
        # depend on the pT threshold, so one clustering serves both
        neighbours = _clustering.cluster(eflow, radius=JET_RADIUS, ptmin=NEIGHBOUR_PTMIN)
        reco = [jet for jet in neighbours if jet.pt >= RECO_PTMIN]
        sides.append((_clustering.match(gen_jets, reco, max_dr=MATCH_DR), reco, neighbours, beta))
    (partner_full, *_), (partner_fast, *_) = sides
    kept = np.flatnonzero((np.asarray(partner_full) >= 0) & (np.asarray(partner_fast) >= 0))
    if kept.size == 0:
        return _empty_rows()
    rows: dict[str, list[np.ndarray]] = {key: [] for key in COLUMNS}
    for k in kept.tolist():
        jet = gen_jets[k]
        rows["g"].append(_clustering.tau_ratios(
            _clustering.nsubjettiness(jet.constituents, beta=beta_gen, r0=R0)))
        for name, (partner, reco, neighbours, beta) in zip(("full", "fast"), sides, strict=True):
            x, h = jet_features(reco[int(partner[k])], neighbours, beta=beta)
            rows[f"x_{name}"].append(x)
            rows[f"h_{name}"].append(h)
    return {key: np.asarray(rows[key], dtype=np.float64).reshape(-1, len(COLUMNS[key]))
            for key in COLUMNS}


def _empty_rows() -> dict[str, np.ndarray]:
    return {key: np.zeros((0, len(names))) for key, names in COLUMNS.items()}


# --------------------------------------------------------------------------- parts


def make_part(seed: int, part: int, events_per_part: int = EVENTS_PER_PART) -> Part:
    """Generate part ``part`` of ``seed``: ``events_per_part`` events through :func:`event_rows`."""
    start = time.perf_counter()
    pythia_seed, rng_full, rng_fast = part_seeds(seed, part)
    rows = [event_rows(gen, rng_full, rng_fast)
            for gen in pythia_events(pythia_seed, events_per_part)]
    arrays = {key: np.concatenate([r[key] for r in rows]) if rows else _empty_rows()[key]
              for key in COLUMNS}
    return Part(part, arrays, events_per_part, time.perf_counter() - start)


def _make_part(seed: int, part: int, events_per_part: int) -> Part:
    """The recipe's part maker: looks :func:`make_part` up when called (tests replace it)."""
    return make_part(seed, part, events_per_part)


#: what :func:`perfekt_bench_tasks.parts.generate` needs to make jets
RECIPE = Recipe("jets", COLUMNS, _make_part, PYTHIA_SETTINGS, EVENTS_PER_PART)


def generate(n_jets: int, seed: int, *, workers: int = 1, workdir: str | os.PathLike | None = None,
             progress: bool = False,
             events_per_part: int = EVENTS_PER_PART) -> dict[str, np.ndarray]:
    """``n_jets`` matched GEN / fullsim / fastsim jet triplets of ``seed`` (float64 arrays),
    made in resumable parts (:func:`perfekt_bench_tasks.parts.generate`)."""
    return _parts.generate(RECIPE, n_jets, seed, workers=workers, workdir=workdir,
                           progress=progress, events_per_part=events_per_part)
