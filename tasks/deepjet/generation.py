"""The deepjet task's built-in data: PYTHIA 8 tt̄ jets with true flavour, and emulated DeepJet tags.

    arrays = generate(n_jets, seed, workers=1, workdir=None, progress=False)
    # {"g": (n, 3), "x_full": (n, 4), "x_fast": (n, 4), "h_full": (n, 2), "h_fast": (n, 2)}

Per event (the CMS paper's tt̄ sample, Sec. 4, stands behind the choice of process):

1. PYTHIA 8 tt̄ at 13 TeV; GEN jets are anti-kT R = 0.4 jets of the stable visible particles
   with pT ≥ 15 GeV, all η, kept when no other GEN jet lies within ΔR < 0.5 (paper Sec. 2).
2. Flavour by ghost association, as CMS's ``hadronFlavour``: the weakly decaying b and c
   hadrons of the event record (those without a b or c hadron among their daughters) are
   clustered with momenta scaled by 10⁻¹⁸; a jet holding a b ghost has flavour 5, else one
   holding a c ghost 4, else 0. The true DeepJet class follows the DeepJet labels: bb with two
   or more b hadrons, lepb with one b hadron whose decay has an electron or muon among its
   daughters, b otherwise; c; and for flavour 0 the hardest parton that entered hadronisation
   (PYTHIA status ±71…79, ghost-associated the same way): g for a gluon, uds for a quark.
3. Each GEN jet gets reco pT and η twice, FullSim and FastSim, with independent noise (jet
   energy resolution √((N/pT)² + S²/pT + C²), slightly different for FastSim, η smeared by
   0.01), and the four DeepJet discriminators of the emulated tagger (:mod:`.tagger`), with the
   FullSim and FastSim tunes. Triplets whose reco pT falls below 15 GeV on either side are
   dropped (the paper's cut applies to every level).

Parts, seeds, workers and resuming are those of :mod:`perfekt_bench_tasks.common.parts`.
"""

from __future__ import annotations

import os
import time

import numpy as np

from ..common import clustering as _clustering
from ..common import parts as _parts
from ..common import pythia as _pythia
from ..common.particles import Particles
from ..common.parts import Part, Recipe, part_seeds
from . import tagger
from .definitions import G_NAMES, H_NAMES, ISOLATION_DR, JET_RADIUS, PT_MIN, X_NAMES

#: PYTHIA 8 settings of every part (the seed is added per part): inclusive tt̄ at 13 TeV
PYTHIA_SETTINGS: tuple[str, ...] = (
    "Beams:eCM = 13000.",
    "Top:gg2ttbar = on",
    "Top:qqbar2ttbar = on",
    "Print:quiet = on",
    "Next:numberCount = 0",
)
#: events per part (PYTHIA's ≈ 0.7 s initialisation is paid once per part)
EVENTS_PER_PART = 500
COLUMNS: dict[str, tuple[str, ...]] = {
    "g": G_NAMES, "x_full": X_NAMES, "x_fast": X_NAMES, "h_full": H_NAMES, "h_fast": H_NAMES,
}
#: jet energy resolution (N in GeV, S in √GeV, C) and response of FullSim and FastSim
RESOLUTION = {"full": {"N": 3.0, "S": 1.0, "C": 0.04, "response": 1.00},
              "fast": {"N": 2.5, "S": 0.9, "C": 0.035, "response": 1.01}}
#: η resolution of reco jets
ETA_RESOLUTION = 0.01

#: a ghost's momentum is the hadron's or parton's times this
GHOST_SCALE = 1e-18
#: ghosts are told from particles by an energy below this (GeV)
_GHOST_E_MAX = 1e-9
#: ghost pid codes: b hadron (hadronic decay), b hadron with e/μ among its daughters, c
#: hadron, gluon, quark
GHOST_B, GHOST_LEPB, GHOST_C, GHOST_GLUON, GHOST_QUARK = 5, 55, 4, 21, 1


def _has_quark(pid: np.ndarray, q: int) -> np.ndarray:
    """Whether hadrons of PDG id ``pid`` contain quark flavour ``q`` (PDG numbering scheme)."""
    a = np.abs(pid) % 10000
    digits = np.stack([a // 1000 % 10, a // 100 % 10, a // 10 % 10])
    return (a > 100) & (digits == q).any(axis=0)


def _daughters(d1: int, d2: int) -> list[int]:
    if d1 > 0 and d2 >= d1:
        return list(range(d1, d2 + 1))
    return [d for d in (d1, d2) if d > 0]


def ghosts(record) -> Particles:
    """The flavour ghosts of one event record (see the module docstring, step 2)."""
    import awkward as ak

    pid = ak.to_numpy(record.id).astype(np.int64)
    status = ak.to_numpy(record.status)
    d1, d2 = ak.to_numpy(record.daughter1), ak.to_numpy(record.daughter2)
    mom = record.p
    four = np.column_stack([ak.to_numpy(getattr(mom, c)) for c in ("px", "py", "pz", "e")])
    is_b, is_c = _has_quark(pid, 5), _has_quark(pid, 4) & ~_has_quark(pid, 5)
    rows, codes = [], []
    for i in np.flatnonzero(is_b | is_c).tolist():
        kids = _daughters(int(d1[i]), int(d2[i]))
        kid_pid = pid[kids] if kids else np.zeros(0, np.int64)
        if is_b[i]:
            if _has_quark(kid_pid, 5).any():
                continue  # not the weakly decaying one
            lep = np.isin(np.abs(kid_pid), (11, 13)).any()
            rows.append(i)
            codes.append(GHOST_LEPB if lep else GHOST_B)
        elif not (_has_quark(kid_pid, 4) | _has_quark(kid_pid, 5)).any():
            rows.append(i)
            codes.append(GHOST_C)
    partons = np.flatnonzero((np.abs(status) >= 71) & (np.abs(status) <= 79)
                             & ((np.abs(pid) <= 5) | (pid == 21)))
    rows += partons.tolist()
    codes += [GHOST_GLUON if pid[i] == 21 else GHOST_QUARK for i in partons.tolist()]
    g = four[rows] * GHOST_SCALE if rows else np.zeros((0, 4))
    return Particles(*(np.ascontiguousarray(g[:, k]) for k in range(4)),
                     np.asarray(codes, dtype=np.int32), np.zeros(len(rows), np.int8))


def true_class(ghost_pid: np.ndarray, ghost_pt: np.ndarray) -> tuple[int, int]:
    """(hadron flavour, DeepJet class index) of a jet from the ghosts it holds."""
    n_b = int(np.isin(ghost_pid, (GHOST_B, GHOST_LEPB)).sum())
    if n_b >= 2:
        return 5, tagger.BB
    if n_b == 1:
        return 5, tagger.LEPB if (ghost_pid == GHOST_LEPB).any() else tagger.B
    if (ghost_pid == GHOST_C).any():
        return 4, tagger.C
    partons = np.isin(ghost_pid, (GHOST_GLUON, GHOST_QUARK))
    if partons.any() and ghost_pid[partons][np.argmax(ghost_pt[partons])] == GHOST_GLUON:
        return 0, tagger.G
    return 0, tagger.UDS


def event_jets(visible: Particles, record) -> np.ndarray:
    """The kept GEN jets of one event: rows (pT, η, φ, hadron flavour, class), pT order."""
    jets = _clustering.cluster(Particles.concat([visible, ghosts(record)]), radius=JET_RADIUS,
                         ptmin=PT_MIN)
    if not jets:
        return np.zeros((0, 5))
    eta = np.array([j.eta for j in jets])
    phi = np.array([j.phi for j in jets])
    dr = _clustering.delta_r(eta[:, None], phi[:, None], eta[None, :], phi[None, :])
    np.fill_diagonal(dr, np.inf)
    rows = []
    for k in np.flatnonzero(dr.min(axis=1) >= ISOLATION_DR).tolist():
        c = jets[k].constituents
        ghost = c.e < _GHOST_E_MAX
        flavour, cls = true_class(c.pid[ghost], c.pt[ghost])
        rows.append((jets[k].pt, eta[k], phi[k], flavour, cls))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 5)


def reco(gen: np.ndarray, side: str, rng: np.random.Generator) -> np.ndarray:
    """Reco (pT, η) of GEN jets (columns pT, η) for ``side`` 'full' or 'fast'."""
    r = RESOLUTION[side]
    pt, eta = gen[:, 0], gen[:, 1]
    sigma = np.sqrt((r["N"] / pt) ** 2 + r["S"] ** 2 / pt + r["C"] ** 2)
    pt_reco = pt * (r["response"] + sigma * rng.standard_normal(len(pt)))
    return np.column_stack([pt_reco, eta + ETA_RESOLUTION * rng.standard_normal(len(pt))])


def rows_of(gen_jets: np.ndarray, rng_full: np.random.Generator,
            rng_fast: np.random.Generator) -> dict[str, np.ndarray]:
    """The :data:`COLUMNS` arrays of GEN jets (rows of :func:`event_jets`)."""
    pt, eta, cls = gen_jets[:, 0], gen_jets[:, 1], gen_jets[:, 4].astype(np.intp)
    out = {"g": gen_jets[:, [0, 1, 3]]}
    for side, tune, rng in (("full", tagger.FULLSIM, rng_full), ("fast", tagger.FASTSIM,
                                                                 rng_fast)):
        out[f"h_{side}"] = reco(gen_jets, side, rng)
        out[f"x_{side}"] = tagger.discriminators(tune.nodes(cls, pt, eta, rng))
    keep = (out["h_full"][:, 0] >= PT_MIN) & (out["h_fast"][:, 0] >= PT_MIN)
    return {k: v[keep] for k, v in out.items()}


def make_part(seed: int, part: int, events_per_part: int = EVENTS_PER_PART) -> Part:
    """Part ``part`` of ``seed``: ``events_per_part`` PYTHIA events → rows."""
    start = time.perf_counter()
    pythia_seed, rng_full, rng_fast = part_seeds(seed, part)
    jets = [event_jets(visible, record) for visible, record in
            _pythia.visible_events(pythia_seed, events_per_part, PYTHIA_SETTINGS)]
    gen_jets = np.concatenate(jets) if jets else np.zeros((0, 5))
    return Part(part, rows_of(gen_jets, rng_full, rng_fast), events_per_part,
                time.perf_counter() - start)


def _make_part(seed: int, part: int, events_per_part: int) -> Part:
    return make_part(seed, part, events_per_part)


RECIPE = Recipe("deepjet", COLUMNS, _make_part, PYTHIA_SETTINGS, EVENTS_PER_PART)


def generate(n_jets: int, seed: int, *, workers: int = 1, workdir: str | os.PathLike | None = None,
             progress: bool = False,
             events_per_part: int = EVENTS_PER_PART) -> dict[str, np.ndarray]:
    """``n_jets`` (GEN, FullSim, FastSim) jet triplets of ``seed`` (float64 arrays)."""
    return _parts.generate(RECIPE, n_jets, seed, workers=workers, workdir=workdir,
                           progress=progress, events_per_part=events_per_part)
