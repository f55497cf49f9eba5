"""Import of two Delphes ROOT files (nominal and flawed card, same events) with uproot.

The jets data set of the Fast Perfekt paper (Sec. 4) is PYTHIA 8 tt̄ events simulated twice with
Delphes: the default CMS card (fullsim) and a flawed card (fastsim). :func:`import_delphes`
reads such a pair and returns the same arrays as :func:`.generation.generate`, so that a user
with real Delphes output can run the benchmark on it.

What is read, from tree ``Delphes`` of each file (only these branches, in chunks of events):

- ``FatJet``: ``PT``, ``Eta``, ``Phi``, ``Mass``, ``Tau[5]``, ``NCharged``, ``NNeutrals`` — the
  reco fat jets (anti-kT R = 0.8 on energy-flow objects in the CMS card), kept above
  :data:`.definitions.RECO_PTMIN`.
- ``Particle`` of the full file: ``Status``, ``PID``, ``Charge`` and ``Px``, ``Py``, ``Pz``,
  ``E`` (or ``PT``, ``Eta``, ``Phi``, ``Mass``) — the generator record, whose stable visible
  particles are clustered into GEN fat jets; Delphes writes no GEN fat jets of its own. The
  fast file's ``Particle`` multiplicities, when it has the branch, must agree event by event.
- or, with ``gen_branch``, that collection's ``PT``, ``Eta``, ``Phi``, ``Mass``, ``Tau[5]``.

Branch layouts accepted, for a collection ``C`` and leaf ``F``: ``C/C.F`` (how uproot names the
split ``TClonesArray`` branches Delphes writes) and ``C.F`` (a flat tree of jagged branches, as
uproot itself can write); ``Tau[5]`` may also be called ``Tau``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perfekt_bench.errors import DataError
from perfekt_bench.rootfiles import chunks, open_tree, progress_bar, read_arrays

from ..common import clustering
from ..common.particles import Particles
from .definitions import (
    BETA_GEN,
    GEN_PTMIN,
    INVISIBLE_PIDS,
    JET_RADIUS,
    MATCH_DR,
    NEIGHBOUR_PTMIN,
    NO_NEIGHBOUR_DR,
    R0,
    RECO_PTMIN,
)

#: the tree Delphes writes its events to
TREE = "Delphes"
#: reco fat jets in the Delphes CMS card's output
RECO_COLLECTION = "FatJet"
#: the generator record
PARTICLE_COLLECTION = "Particle"
#: events read at a time
CHUNK_EVENTS = 2000

_RECO_FIELDS = ("PT", "Eta", "Phi", "Mass", "Tau", "NCharged", "NNeutrals")
_GEN_FIELDS = ("PT", "Eta", "Phi", "Mass", "Tau")
_PARTICLE_ID_FIELDS = ("Status", "PID", "Charge")
_PARTICLE_P4 = (("Px", "Py", "Pz", "E"), ("PT", "Eta", "Phi", "Mass"))
_NON_FLOAT_FIELDS = frozenset({"NCharged", "NNeutrals", "Status", "PID", "Charge"})
_N_TAU = 4  # τ1..τ4 make the three ratios


def import_delphes(full_path, fast_path, *, gen_branch: str | None = None,
                   progress: bool = False) -> dict[str, np.ndarray]:
    """Read a fullsim and a fastsim Delphes file of the same events into matched fat jets.

    One row per GEN fat jet that has a reco partner (``clustering.match``: one-to-one, ΔR <
    :data:`.definitions.MATCH_DR`) in both files' ``FatJet`` collection above
    :data:`.definitions.RECO_PTMIN`. GEN fat jets are anti-kT R = 0.8 jets above
    :data:`.definitions.GEN_PTMIN` clustered from the full file's stable (``Status == 1``),
    visible (``|PID|`` not in :data:`.definitions.INVISIBLE_PIDS`) particles, with N-subjettiness
    at β = :data:`.definitions.BETA_GEN`; or, when ``gen_branch`` names a collection (e.g.
    ``"GenFatJet"``), that collection of the full file, its ratios taken from its ``Tau[5]``.
    This is the jets data set of the Fast Perfekt paper (Sec. 4): tt̄ events through the
    default Delphes CMS card (fullsim) and a flawed card (fastsim).

    Returns float64 arrays:

    - ``"g"`` (n, 3): GEN τ2/τ1, τ3/τ2, τ4/τ3 (:data:`.definitions.G_NAMES`)
    - ``"x_full"``, ``"x_fast"`` (n, 3): the same ratios of the matched reco jets, from their
      ``FatJet.Tau[5]`` (0 where the denominator is 0)
    - ``"h_full"``, ``"h_fast"`` (n, 6) in :data:`.definitions.H_NAMES` order: mass, pT, η, ΔR
      to the closest other jet of the event's ``FatJet`` collection above
      :data:`.definitions.NEIGHBOUR_PTMIN` (:data:`.definitions.NO_NEIGHBOUR_DR` when there is
      none), ``NCharged``, ``NNeutrals``

    Raises :class:`~perfekt_bench.errors.DataError`, naming the file, for a missing, unreadable
    or truncated file, no ``Delphes`` tree, missing branches, NaN or infinite values, files with
    different events, an absent ``gen_branch`` and when no jet is matched in both files.
    """
    full_path, fast_path = Path(full_path), Path(fast_path)
    with ExitStack() as stack:
        full = _DelphesFile.open(full_path, stack)
        fast = _DelphesFile.open(fast_path, stack)
        if full.num_entries != fast.num_entries:
            raise DataError(
                f"the two Delphes files hold different numbers of events in tree {TREE!r}: "
                f"{full.path} has {full.num_entries}, {fast.path} has {fast.num_entries}; they "
                "must be two simulations of the same generated events")
        full.require(RECO_COLLECTION, _RECO_FIELDS)
        fast.require(RECO_COLLECTION, _RECO_FIELDS)
        gen = _ParticleGen(full) if gen_branch is None else _BranchGen(full, gen_branch)
        check_particles = (full.has_collection(PARTICLE_COLLECTION)
                           and fast.has_collection(PARTICLE_COLLECTION))

        rows: list[tuple[np.ndarray, ...]] = []
        counts = {"gen": 0, "full": 0, "fast": 0}
        bar = progress_bar(full.num_entries, progress, "Delphes import")
        try:
            for start, stop in chunks(full.num_entries, CHUNK_EVENTS):
                if check_particles:
                    _check_same_events(full, fast, start, stop)
                gen_events = gen.read(start, stop)
                full_events = _read_reco(full, start, stop)
                fast_events = _read_reco(fast, start, stop)
                for g_ev, f_ev, s_ev in zip(gen_events, full_events, fast_events, strict=True):
                    counts["gen"] += len(g_ev.ratios)
                    counts["full"] += len(f_ev.ratios)
                    counts["fast"] += len(s_ev.ratios)
                    rows.extend(_matched_rows(g_ev, f_ev, s_ev))
                bar.update(stop - start)
        finally:
            bar.close()

    if not rows:
        gen_what = (f"GEN jets from branch {gen_branch!r}" if gen_branch is not None
                    else "GEN fat jets clustered from the Particle branch")
        raise DataError(
            f"no GEN fat jet has a matched reco fat jet (ΔR < {MATCH_DR}) in both {full_path} and "
            f"{fast_path}: {full.num_entries} events, {counts['gen']} {gen_what} above "
            f"{GEN_PTMIN} GeV, {counts['full']} and {counts['fast']} reco fat jets above "
            f"{RECO_PTMIN} GeV")
    g, x_full, x_fast, h_full, h_fast = (np.asarray(np.stack(col), dtype=np.float64)
                                         for col in zip(*rows, strict=True))
    return {"g": g, "x_full": x_full, "x_fast": x_fast, "h_full": h_full, "h_fast": h_fast}


# -- per-event jets -------------------------------------------------------------------------

@dataclass(frozen=True)
class _JetAxis:
    """A jet known only by its direction and pT, as read from a file: what
    ``clustering.match`` needs."""

    pt: float
    eta: float
    phi: float


@dataclass(frozen=True)
class _EventJets:
    """One event's jets of one collection: directions for matching, ratios, hidden features."""

    axes: list
    ratios: np.ndarray                  # (n, 3)
    hidden: np.ndarray | None = None    # (n, 6), reco only


def _matched_rows(gen: _EventJets, full: _EventJets, fast: _EventJets):
    if not gen.axes or not full.axes or not fast.axes:
        return
    to_full = np.asarray(clustering.match(gen.axes, full.axes, max_dr=MATCH_DR))
    to_fast = np.asarray(clustering.match(gen.axes, fast.axes, max_dr=MATCH_DR))
    for k in np.flatnonzero((to_full >= 0) & (to_fast >= 0)):
        i, j = to_full[k], to_fast[k]
        yield gen.ratios[k], full.ratios[i], fast.ratios[j], full.hidden[i], fast.hidden[j]


def _ratios(taus: np.ndarray) -> np.ndarray:
    """(τ2/τ1, τ3/τ2, τ4/τ3) of rows of τ1..τ4, shape (n, 3) also for n = 0."""
    if len(taus) == 0:
        return np.zeros((0, 3))
    return np.asarray(clustering.tau_ratios(np.asarray(taus, dtype=np.float64)),
                      dtype=np.float64).reshape(len(taus), 3)


def _neighbour_dr(eta: np.ndarray, phi: np.ndarray, pt: np.ndarray, keep: np.ndarray):
    """ΔR from each kept jet to the closest other jet of the collection above NEIGHBOUR_PTMIN."""
    others = pt >= NEIGHBOUR_PTMIN
    out = np.full(int(keep.sum()), NO_NEIGHBOUR_DR)
    for row, i in enumerate(np.flatnonzero(keep)):
        mask = others.copy()
        mask[i] = False
        if mask.any():
            dr = clustering.delta_r(eta[i], phi[i], eta[mask], phi[mask])
            out[row] = float(np.min(dr))
    return out


def _read_reco(file: _DelphesFile, start: int, stop: int) -> list[_EventJets]:
    """The chunk's reco fat jets above RECO_PTMIN with their x ratios and hidden features."""
    cols, offsets = file.read_collection(RECO_COLLECTION, _RECO_FIELDS, start, stop)
    ratios = _ratios(cols["Tau"][:, :_N_TAU])
    events = []
    for a, b in zip(offsets[:-1], offsets[1:], strict=True):
        pt, eta, phi = cols["PT"][a:b], cols["Eta"][a:b], cols["Phi"][a:b]
        keep = pt > RECO_PTMIN
        idx = np.flatnonzero(keep) + a
        hidden = np.column_stack([
            cols["Mass"][idx], cols["PT"][idx], cols["Eta"][idx],
            _neighbour_dr(eta, phi, pt, keep),
            cols["NCharged"][idx], cols["NNeutrals"][idx],
        ]).astype(np.float64)
        axes = [_JetAxis(float(cols["PT"][i]), float(cols["Eta"][i]), float(cols["Phi"][i]))
                for i in idx]
        events.append(_EventJets(axes, ratios[idx], hidden))
    return events


class _ParticleGen:
    """GEN fat jets clustered from the full file's stable visible generator particles."""

    def __init__(self, file: _DelphesFile):
        self.file = file
        file.require(PARTICLE_COLLECTION, _PARTICLE_ID_FIELDS)
        present = [f for f in _PARTICLE_P4 if file.has_fields(PARTICLE_COLLECTION, f)]
        if not present:
            alternative = ", ".join(f"{PARTICLE_COLLECTION}.{f}" for f in _PARTICLE_P4[1])
            file.require(PARTICLE_COLLECTION, _PARTICLE_P4[0], note=f" (or {alternative})")
        self.p4 = present[0]

    def read(self, start: int, stop: int) -> list[_EventJets]:
        cols, offsets = self.file.read_collection(
            PARTICLE_COLLECTION, _PARTICLE_ID_FIELDS + self.p4, start, stop,
            select=_stable_visible)
        if self.p4 == _PARTICLE_P4[0]:
            particles = Particles(*(cols[f].astype(np.float64) for f in self.p4),
                                  cols["PID"].astype(np.int32), cols["Charge"].astype(np.int8))
        else:
            particles = Particles.from_pt_eta_phi_m(*(cols[f] for f in self.p4), cols["PID"],
                                                    cols["Charge"].astype(np.int8))
        events = []
        for a, b in zip(offsets[:-1], offsets[1:], strict=True):
            found = clustering.cluster(particles.take(slice(a, b)), radius=JET_RADIUS,
                                       ptmin=GEN_PTMIN)
            taus = [clustering.nsubjettiness(j.constituents, n_max=_N_TAU, beta=BETA_GEN, r0=R0)
                    for j in found]
            axes = [_JetAxis(float(j.pt), float(j.eta), float(j.phi)) for j in found]
            events.append(_EventJets(axes, _ratios(np.reshape(taus, (len(found), _N_TAU)))))
        return events


def _stable_visible(cols: dict[str, np.ndarray]) -> np.ndarray:
    return (cols["Status"] == 1) & ~np.isin(np.abs(cols["PID"]), INVISIBLE_PIDS)


class _BranchGen:
    """GEN fat jets read from a collection of the full file (the user's ``gen_branch``)."""

    def __init__(self, file: _DelphesFile, name: str):
        if not file.has_collection(name):
            have = sorted({c for c in file.collections() if file.has_fields(c, ("Tau",))})
            raise DataError(
                f"{file.path}: gen_branch {name!r} is not in tree {TREE!r}; collections with "
                f"N-subjettiness (Tau) there: {', '.join(have) if have else 'none'}")
        file.require(name, _GEN_FIELDS)
        self.file, self.name = file, name

    def read(self, start: int, stop: int) -> list[_EventJets]:
        cols, offsets = self.file.read_collection(self.name, _GEN_FIELDS, start, stop)
        ratios = _ratios(cols["Tau"][:, :_N_TAU])
        events = []
        for a, b in zip(offsets[:-1], offsets[1:], strict=True):
            idx = np.flatnonzero(cols["PT"][a:b] >= GEN_PTMIN) + a
            axes = [_JetAxis(float(cols["PT"][i]), float(cols["Eta"][i]), float(cols["Phi"][i]))
                    for i in idx]
            events.append(_EventJets(axes, ratios[idx]))
        return events


def _check_same_events(full: _DelphesFile, fast: _DelphesFile, start: int, stop: int):
    n_full = full.multiplicity(PARTICLE_COLLECTION, start, stop)
    n_fast = fast.multiplicity(PARTICLE_COLLECTION, start, stop)
    differ = np.flatnonzero(n_full != n_fast)
    if len(differ):
        i = int(differ[0])
        raise DataError(
            f"{full.path} and {fast.path} hold different generated events: the Particle branch "
            f"has {n_full[i]} and {n_fast[i]} particles in event {start + i} "
            f"({len(differ)} of events {start}–{stop - 1} differ); the fullsim and fastsim files "
            "must simulate the same generated events")


# -- reading with uproot --------------------------------------------------------------------

class _DelphesFile:
    """Tree ``Delphes`` of one file: branch lookup in either layout, checked chunked reads."""

    def __init__(self, path: Path, tree):
        self.path, self.tree = path, tree
        self.num_entries = int(tree.num_entries)
        self.keys = set(tree.keys(recursive=True))

    @classmethod
    def open(cls, path: Path, stack: ExitStack) -> _DelphesFile:
        return cls(path, open_tree(path, TREE, stack, kind="Delphes output"))

    # branch names

    def _candidates(self, collection: str, field: str) -> Iterator[str]:
        for leaf in ((field + "[5]", field) if field == "Tau" else (field,)):
            yield f"{collection}/{collection}.{leaf}"
            yield f"{collection}.{leaf}"

    def key(self, collection: str, field: str) -> str | None:
        return next((k for k in self._candidates(collection, field) if k in self.keys), None)

    def has_fields(self, collection: str, fields: Sequence[str]) -> bool:
        return all(self.key(collection, f) is not None for f in fields)

    def collections(self) -> set[str]:
        return {k.split("/")[0].split(".")[0] for k in self.keys if "." in k}

    def has_collection(self, collection: str) -> bool:
        return any(k.startswith((f"{collection}/{collection}.", f"{collection}."))
                   for k in self.keys)

    def require(self, collection: str, fields: Sequence[str], note: str = ""):
        missing = [f"{collection}.{f}" + ("[5]" if f == "Tau" else "")
                   for f in fields if self.key(collection, f) is None]
        if missing:
            raise DataError(f"{self.path}: tree {TREE!r} lacks branches: "
                            f"{', '.join(missing)}{note}")

    # reading

    def arrays(self, keys: Sequence[str], start: int, stop: int):
        return read_arrays(self.path, self.tree, keys, start, stop)

    def read_collection(self, collection: str, fields: Sequence[str], start: int, stop: int,
                        select=None) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Flat float/int columns of the chunk and event offsets into them, finiteness checked.

        ``select`` (columns → mask) keeps some of the entries, before the check.
        """
        import awkward as ak

        keys = {f: self.key(collection, f) for f in fields}
        data = self.arrays(list(keys.values()), start, stop)
        counts = np.asarray(ak.num(data[keys[fields[0]]], axis=1), dtype=np.int64)
        cols = {f: ak.to_numpy(ak.flatten(data[k], axis=1)) for f, k in keys.items()}
        for f, k in keys.items():
            if len(cols[f]) != counts.sum():
                raise DataError(f"{self.path}: branch {k} has {len(cols[f])} entries in events "
                                f"{start}–{stop - 1}, {keys[fields[0]]} has {counts.sum()}")
        if select is not None:
            mask = select(cols)
            event = np.repeat(np.arange(len(counts)), counts)
            counts = np.bincount(event[mask], minlength=len(counts))
            cols = {f: c[mask] for f, c in cols.items()}
        if "Tau" in cols and cols["Tau"].ndim == 2 and cols["Tau"].shape[1] < _N_TAU:
            raise DataError(f"{self.path}: branch {keys['Tau']} holds {cols['Tau'].shape[1]} "
                            f"τ values per jet; τ1..τ{_N_TAU} are needed")
        if "Tau" in cols and cols["Tau"].ndim != 2:
            raise DataError(f"{self.path}: branch {keys['Tau']} is not a fixed-size array per "
                            "jet (expected Tau[5])")
        for f, k in keys.items():
            if f not in _NON_FLOAT_FIELDS and not np.isfinite(cols[f]).all():
                n = self._count_nonfinite(collection, fields, f, select)
                raise DataError(f"{self.path}: branch {k} has {n} NaN or infinite values"
                                + (" among stable visible particles" if select else ""))
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return cols, offsets

    def _count_nonfinite(self, collection, fields, field, select) -> int:
        """NaN and inf values of one field in the whole file (for the error message)."""
        import awkward as ak

        need = [field] + ([f for f in fields if f in ("Status", "PID")] if select else [])
        keys = {f: self.key(collection, f) for f in need}
        n = 0
        for start, stop in chunks(self.num_entries, CHUNK_EVENTS):
            data = self.arrays(list(keys.values()), start, stop)
            cols = {f: ak.to_numpy(ak.flatten(data[k], axis=1)) for f, k in keys.items()}
            values = cols[field][select(cols)] if select else cols[field]
            n += int(np.count_nonzero(~np.isfinite(values)))
        return n

    def multiplicity(self, collection: str, start: int, stop: int) -> np.ndarray:
        """Entries of a collection per event: its ``_size`` counter, or counted from a leaf."""
        import awkward as ak

        counter = f"{collection}_size"
        if counter in self.keys:
            return np.asarray(self.arrays([counter], start, stop)[counter], dtype=np.int64)
        key = next(k for k in sorted(self.keys)
                   if k.startswith((f"{collection}/{collection}.", f"{collection}.")))
        return np.asarray(ak.num(self.arrays([key], start, stop)[key], axis=1), dtype=np.int64)
