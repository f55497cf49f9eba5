"""Import of a FullSim and a FastSim CMS NanoAOD file of the same events into jet triplets.

The CMS FastSim refinement paper (Bein et al., EPJ Web Conf. 295, 09032 (2024), Sec. 2)
simulates the same generated events with FullSim and with FastSim up to NanoAOD and builds
(GEN, FullSim, FastSim) jet triplets; the refined observables are the four DeepJet
discriminators (Sec. 3, eq. 1). :func:`import_nanoaod` reads such a pair of files with uproot
and returns the arrays of :func:`.generation.generate`. The rules, in the paper's terms:

- *Same events* (Sec. 2: "both cases share the same event generation"): both trees have the
  same number of entries, and when both have ``run``, ``luminosityBlock`` and ``event`` they
  agree entry by entry. The GEN jets are those of the FullSim file; a FastSim file that has
  ``Jet_genJetIdx`` (an index into its own GEN jets) and ``nGenJet`` must have as many GEN jets
  as the FullSim file in every event.
- *GEN jets*: ``GenJet_pt``, ``GenJet_eta``, ``GenJet_phi``. A GEN jet is kept when its pT is at
  least :data:`.definitions.PT_MIN` (Sec. 2: "jets down to 15 GeV, all η") and no other GEN jet
  above :data:`.definitions.PT_MIN` lies within ΔR < :data:`.definitions.ISOLATION_DR`
  (Sec. 2: "no neighboring jet is closer than ΔR = 0.5").
- *Reco jets* (``Jet_pt``, ``Jet_eta``, ``Jet_phi``, the four
  :data:`.definitions.NANOAOD_TAG_BRANCHES`, ``Jet_hadronFlavour`` in the FullSim file, and
  ``Jet_genJetIdx`` where the file has it) are kept by the same two cuts among the jets of their
  own file.
- *Matching* (Sec. 2: ΔR < :data:`.definitions.MATCH_DR`): a reco jet's GEN partner is the GEN
  jet its ``Jet_genJetIdx`` points to (−1: none), which must lie within ΔR < MATCH_DR; a file
  without ``Jet_genJetIdx`` is matched the way CMSSW fills that branch: all its jets and all
  GEN jets of the event one-to-one, closest pairs first, within ΔR < MATCH_DR. Δφ is wrapped to
  (−π, π]. A triplet is a kept GEN jet whose kept partner exists in both files. Two kept jets
  cannot share a GEN partner: both would lie within 2 · MATCH_DR < ISOLATION_DR of each other.
  NanoAOD before CMSSW 13 (cms-sw/cmssw#41039) also writes indices ≥ ``nGenJet``, of GEN jets it
  did not store (below its GenJet cut of 10 GeV < PT_MIN): those jets have no partner; indices
  below −1 are an error.
- *Conditioning* (Sec. 3: "true transverse momentum, true pseudorapidity, true hadron flavor"):
  GEN pT and η, and ``Jet_hadronFlavour`` of the FullSim jet, which must be one of
  :data:`.definitions.FLAVOURS`.
- *DeepJet defaults*: CMSSW writes negative values (B = −3000 or −1, CvB, CvL and QG = −1) for
  jets without tagger output. Triplets with any discriminator outside [0, 1] in either file are
  dropped and counted; if that leaves none, the files were made without DeepJet, which is an
  error that says so.

Returned rows are in event order, then in the order of the GEN jets within an event. Reading is
done :data:`CHUNK_EVENTS` events at a time, vectorised over all jets of a chunk. Every problem
with the files raises :class:`~perfekt_bench.errors.DataError` naming the file: unreadable or
not ROOT, no such tree (the trees it has are listed), missing branches (all of them listed),
different events, NaN or infinite values (branch and count; in pT, η and φ of every jet, in the
discriminators of kept jets), hadron flavours of kept jets outside
:data:`.definitions.FLAVOURS`, ``Jet_genJetIdx`` below −1, and no triplet at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perfekt_bench.errors import DataError
from perfekt_bench.rootfiles import chunks, open_tree, progress_bar, read_arrays

from ..common.clustering import delta_r
from .definitions import FLAVOURS, ISOLATION_DR, MATCH_DR, NANOAOD_TAG_BRANCHES, PT_MIN, X_NAMES

#: events read at a time; the pair arrays of a chunk grow with (jets per event)² · CHUNK_EVENTS
CHUNK_EVENTS = 25_000

_GEN = ("GenJet_pt", "GenJet_eta", "GenJet_phi")
_KINEMATICS = ("Jet_pt", "Jet_eta", "Jet_phi")
_FLAVOUR = "Jet_hadronFlavour"
_GEN_IDX = "Jet_genJetIdx"
_EVENT_ID = ("run", "luminosityBlock", "event")


def import_nanoaod(full_path, fast_path, *, tree: str = "Events", progress: bool = False,
                   report: dict | None = None) -> dict[str, np.ndarray]:
    """Read a FullSim and a FastSim NanoAOD file of the same events into jet triplets.

    The rules (CMS FastSim refinement paper, Sec. 2) are listed in the module docstring.

    Parameters
    ----------
    full_path, fast_path
        NanoAOD files (TTree ``tree``) of the same generated events, in the same order.
    tree
        Name of the event tree.
    progress
        Show a progress bar of events on stderr.
    report
        When given, filled with counts, also when an error is raised: ``events``, ``gen_jets``
        and ``gen_jets_kept``; ``jets_kept_full`` and ``jets_kept_fast``;
        ``unstored_gen_partner_full`` and ``unstored_gen_partner_fast`` (kept jets whose
        ``Jet_genJetIdx`` points past the stored GEN jets); ``matched_full`` and
        ``matched_fast`` (kept GEN jets with a kept partner in that file); ``matched`` (in
        both); ``default_tags_full`` and ``default_tags_fast`` (matched triplets with a DeepJet
        default value on that side); ``dropped_default_tags``; ``triplets`` (rows returned).

    Returns
    -------
    dict of float64 arrays, one row per triplet:
        ``"g"`` (n, 3): GEN pT, GEN η, hadron flavour (:data:`.definitions.G_NAMES`);
        ``"x_full"``, ``"x_fast"`` (n, 4): B, CvB, CvL, QG (:data:`.definitions.X_NAMES`);
        ``"h_full"``, ``"h_fast"`` (n, 2): reco pT and η (:data:`.definitions.H_NAMES`).
    """
    full_path, fast_path = Path(full_path), Path(fast_path)
    counts = dict.fromkeys(("events", "gen_jets", "gen_jets_kept", "jets_kept_full",
                            "jets_kept_fast", "unstored_gen_partner_full",
                            "unstored_gen_partner_fast", "matched_full", "matched_fast", "matched",
                            "default_tags_full", "default_tags_fast", "dropped_default_tags",
                            "triplets"), 0)
    defaults = _DefaultValues()
    kept: list[dict[str, np.ndarray]] = []
    try:
        for rows in _matched_rows(full_path, fast_path, tree, progress, counts):
            ok = np.ones(len(rows["g"]), dtype=bool)
            for role in ("full", "fast"):
                tagged = _in_unit_interval(rows[f"x_{role}"]).all(axis=1)
                defaults.add(rows[f"x_{role}"])
                counts[f"default_tags_{role}"] += int(np.count_nonzero(~tagged))
                ok &= tagged
            counts["dropped_default_tags"] += int(np.count_nonzero(~ok))
            counts["triplets"] += int(np.count_nonzero(ok))
            kept.append({k: v[ok] for k, v in rows.items()})
    finally:
        if report is not None:
            report.update(counts)

    if counts["matched"] == 0:
        raise DataError(
            f"no GEN jet has a matched jet (ΔR < {MATCH_DR}) in both {full_path} (full) and "
            f"{fast_path} (fast): {counts['events']} events, {counts['gen_jets_kept']} of "
            f"{counts['gen_jets']} GEN jets kept (pT ≥ {PT_MIN} GeV, no other GEN jet within "
            f"ΔR < {ISOLATION_DR}), {counts['jets_kept_full']} and {counts['jets_kept_fast']} "
            f"jets kept, {counts['matched_full']} and {counts['matched_fast']} GEN jets matched "
            "in the full and the fast file")
    if counts["triplets"] == 0:
        raise DataError(_all_defaults_message(full_path, fast_path, counts, defaults))
    return {k: np.concatenate([c[k] for c in kept]) for k in kept[0]}


# -- matching ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Jets:
    """One collection of a chunk: flat columns and the event offsets into them."""

    offsets: np.ndarray          # (events + 1,)
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def event(self) -> np.ndarray:
        """The chunk event of each jet."""
        return np.repeat(np.arange(len(self.offsets) - 1), self.counts)


def _pairs(counts_a: np.ndarray, counts_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices (i, j) of every pair of an a-jet and a b-jet of the same event."""
    event_a = np.repeat(np.arange(len(counts_a)), counts_a)
    per_a = counts_b[event_a]
    i = np.repeat(np.arange(len(event_a)), per_a)
    start_b = np.cumsum(counts_b) - counts_b
    j = np.arange(len(i)) - np.repeat(np.cumsum(per_a) - per_a - start_b[event_a], per_a)
    return i, j


def _close_pairs(a: _Jets, b: _Jets, max_dr: float, *, same: bool = False):
    """(i, j, ΔR) of the pairs of an a-jet and a b-jet of one event closer than ``max_dr``.

    ``same``: a and b are one collection, each pair is given once (i < j).
    """
    i, j = _pairs(a.counts, b.counts)
    if same:
        once = i < j
        i, j = i[once], j[once]
    near = np.abs(a.eta[i] - b.eta[j]) < max_dr  # cheap, and it leaves few pairs
    i, j = i[near], j[near]
    dr = delta_r(a.eta[i], a.phi[i], b.eta[j], b.phi[j])
    near = dr < max_dr
    return i[near], j[near], dr[near]


def _kept(jets: _Jets) -> np.ndarray:
    """Jets above PT_MIN with no other such jet of their collection within ISOLATION_DR."""
    above = jets.pt >= PT_MIN
    idx = np.flatnonzero(above)
    counts = np.bincount(jets.event[idx], minlength=len(jets.counts))
    hard = _Jets(np.concatenate([[0], np.cumsum(counts)]), jets.pt[idx], jets.eta[idx],
                 jets.phi[idx])
    i, j, _ = _close_pairs(hard, hard, ISOLATION_DR, same=True)
    keep = above.copy()
    keep[idx[i]] = False
    keep[idx[j]] = False
    return keep


def _closest_pairs_first(reco: _Jets, gen: _Jets) -> np.ndarray:
    """GEN partner (flat index, −1: none) of each reco jet: one-to-one, closest pairs first."""
    i, j, dr = _close_pairs(reco, gen, MATCH_DR)
    order = np.argsort(dr, kind="stable")
    i, j = i[order], j[order]
    rank = np.arange(len(i))
    none = len(rank)
    partner = np.full(len(reco.pt), -1, dtype=np.int64)
    # the greedy result, in rounds: a pair that is the closest remaining pair of both its jets
    # is taken, and every other pair of the jets it takes is dropped
    while len(i):
        best_i = np.full(len(reco.pt), none)
        best_j = np.full(len(gen.pt), none)
        np.minimum.at(best_i, i, rank)
        np.minimum.at(best_j, j, rank)
        take = (best_i[i] == rank) & (best_j[j] == rank)
        partner[i[take]] = j[take]
        used_i = np.zeros(len(reco.pt), dtype=bool)
        used_j = np.zeros(len(gen.pt), dtype=bool)
        used_i[i[take]], used_j[j[take]] = True, True
        rest = ~(used_i[i] | used_j[j])
        i, j, rank = i[rest], j[rest], rank[rest]
    return partner


def _indexed_partner(reco: _Jets, gen: _Jets, gen_idx: np.ndarray,
                     file: _NanoFile) -> tuple[np.ndarray, np.ndarray]:
    """GEN partner (flat index, −1: none) from ``Jet_genJetIdx``, and which point past nGenJet.

    NanoAOD before CMSSW 13 (cms-sw/cmssw#41039) writes the index of GEN jets it does not store
    (below the GenJet pT cut of 10 GeV): such a jet has no GEN partner here.
    """
    event = reco.event
    n_gen = gen.counts[event]
    bad = gen_idx < -1
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{file.path}: branch {_GEN_IDX} has {int(bad.sum())} negative values other than -1 "
            f"in entries {file.chunk}, e.g. {int(gen_idx[k])} in entry "
            f"{file.start + int(event[k])}")
    unstored = gen_idx >= n_gen
    has = (gen_idx >= 0) & ~unstored
    partner = np.where(has, gen.offsets[event] + gen_idx, -1)
    p = partner[has]
    far = delta_r(reco.eta[has], reco.phi[has], gen.eta[p], gen.phi[p]) >= MATCH_DR
    partner[np.flatnonzero(has)[far]] = -1
    return partner, unstored


def _partner_of_gen(partner: np.ndarray, keep: np.ndarray, n_gen: int) -> np.ndarray:
    """For each GEN jet, the flat index of its kept reco partner, or −1."""
    out = np.full(n_gen, -1, dtype=np.int64)
    valid = np.flatnonzero(keep & (partner >= 0))
    out[partner[valid]] = valid
    return out


# -- the two files ----------------------------------------------------------------------------

def _matched_rows(full_path: Path, fast_path: Path, tree: str, progress: bool,
                  counts: dict) -> Iterator[dict[str, np.ndarray]]:
    """The triplets of each chunk, DeepJet defaults included; ``counts`` is updated."""
    with ExitStack() as stack:
        full = _NanoFile.open(full_path, "full", tree, stack)
        fast = _NanoFile.open(fast_path, "fast", tree, stack)
        if full.num_entries != fast.num_entries:
            raise DataError(
                f"the two NanoAOD files hold different numbers of events in tree {tree!r}: "
                f"{full.path} (full) has {full.num_entries}, {fast.path} (fast) has "
                f"{fast.num_entries}; they must be two simulations of the same generated events")
        full.require(_GEN + _KINEMATICS + NANOAOD_TAG_BRANCHES + (_FLAVOUR,))
        fast.require(_KINEMATICS + NANOAOD_TAG_BRANCHES)
        _check_same_events(full, fast)
        counts["events"] = full.num_entries

        bar = progress_bar(full.num_entries, progress, "NanoAOD import")
        try:
            for start, stop in chunks(full.num_entries, CHUNK_EVENTS):
                yield _chunk_rows(full, fast, start, stop, counts)
                bar.update(stop - start)
        finally:
            bar.close()


def _chunk_rows(full: _NanoFile, fast: _NanoFile, start: int, stop: int,
                counts: dict) -> dict[str, np.ndarray]:
    gen = full.read(_GEN, start, stop)
    gen_jets = _Jets(gen.offsets, *(gen.columns[b] for b in _GEN))
    gen_kept = _kept(gen_jets)
    counts["gen_jets"] += len(gen_jets.pt)
    counts["gen_jets_kept"] += int(gen_kept.sum())

    sides = {}
    for file in (full, fast):
        extra = (_FLAVOUR,) if file is full else ()
        optional = (_GEN_IDX,) if file.has((_GEN_IDX,)) else ()
        data = file.read(_KINEMATICS + NANOAOD_TAG_BRANCHES + extra + optional, start, stop)
        jets = _Jets(data.offsets, *(data.columns[b] for b in _KINEMATICS))
        keep = _kept(jets)
        file.check_finite(data.columns, NANOAOD_TAG_BRANCHES, keep)
        if file is full:
            _check_flavours(file, data.columns[_FLAVOUR][keep])
        if optional:
            if file is fast:
                _check_gen_counts(full, fast, gen_jets.counts, start, stop)
            partner, unstored = _indexed_partner(jets, gen_jets, data.columns[_GEN_IDX], file)
            counts[f"unstored_gen_partner_{file.role}"] += int(np.count_nonzero(unstored & keep))
        else:
            partner = _closest_pairs_first(jets, gen_jets)
        of_gen = _partner_of_gen(partner, keep, len(gen_jets.pt))
        counts[f"jets_kept_{file.role}"] += int(keep.sum())
        counts[f"matched_{file.role}"] += int(np.count_nonzero(gen_kept & (of_gen >= 0)))
        sides[file.role] = (data.columns, of_gen)

    (cols_full, full_of_gen), (cols_fast, fast_of_gen) = sides["full"], sides["fast"]
    g = np.flatnonzero(gen_kept & (full_of_gen >= 0) & (fast_of_gen >= 0))
    f, s = full_of_gen[g], fast_of_gen[g]
    counts["matched"] += len(g)
    return {
        "g": np.column_stack([gen_jets.pt[g], gen_jets.eta[g], cols_full[_FLAVOUR][f]]),
        "x_full": np.column_stack([cols_full[b][f] for b in NANOAOD_TAG_BRANCHES]),
        "x_fast": np.column_stack([cols_fast[b][s] for b in NANOAOD_TAG_BRANCHES]),
        "h_full": np.column_stack([cols_full["Jet_pt"][f], cols_full["Jet_eta"][f]]),
        "h_fast": np.column_stack([cols_fast["Jet_pt"][s], cols_fast["Jet_eta"][s]]),
    }


def _check_flavours(file: _NanoFile, flavour: np.ndarray):
    bad = ~np.isin(flavour, FLAVOURS)
    if bad.any():
        values = ", ".join(str(v) for v in np.unique(flavour[bad])[:5])
        raise DataError(
            f"{file.path}: branch {_FLAVOUR} has {int(bad.sum())} values outside "
            f"{', '.join(map(str, FLAVOURS))} among the kept jets of entries {file.chunk} "
            f"(values: {values})")


def _check_gen_counts(full: _NanoFile, fast: _NanoFile, counts: np.ndarray, start: int,
                      stop: int):
    """The fast file's Jet_genJetIdx points into its own GEN jets: they must be the full's."""
    if not fast.has(("nGenJet",)):
        return
    n_fast = fast.read_flat(("nGenJet",), start, stop)["nGenJet"].astype(np.int64)
    differ = np.flatnonzero(n_fast != counts)
    if len(differ):
        k = int(differ[0])
        raise DataError(
            f"{full.path} (full) and {fast.path} (fast) hold different GEN jets: nGenJet differs "
            f"in {len(differ)} of entries {start}–{stop - 1}, first in entry {start + k} "
            f"({counts[k]} and {n_fast[k]}); {_GEN_IDX} of the fast file cannot point to the "
            "full file's GEN jets")


def _check_same_events(full: _NanoFile, fast: _NanoFile):
    """Both files' (run, luminosityBlock, event) agree entry by entry, when both have them."""
    if not (full.has(_EVENT_ID) and fast.has(_EVENT_ID)):
        return
    n_differ, first = 0, None
    for start, stop in chunks(full.num_entries, CHUNK_EVENTS):
        ids = [file.read_flat(_EVENT_ID, start, stop) for file in (full, fast)]
        differ = np.zeros(stop - start, dtype=bool)
        for b in _EVENT_ID:
            differ |= ids[0][b] != ids[1][b]
        if first is None and differ.any():
            k = int(np.flatnonzero(differ)[0])
            first = (start + k, *(tuple(int(i[b][k]) for b in _EVENT_ID) for i in ids))
        n_differ += int(differ.sum())
    if n_differ:
        entry, id_full, id_fast = first
        raise DataError(
            f"{full.path} (full) and {fast.path} (fast) hold different events: (run, "
            f"luminosityBlock, event) differ in {n_differ} of {full.num_entries} entries, first "
            f"in entry {entry}: {id_full} and {id_fast}; the files must simulate the same "
            "generated events in the same order")


def _in_unit_interval(x: np.ndarray) -> np.ndarray:
    return (x >= 0.0) & (x <= 1.0)


class _DefaultValues:
    """The distinct out-of-range values seen per discriminator, for the error message."""

    LIMIT = 3

    def __init__(self):
        self.values: list[set[float]] = [set() for _ in X_NAMES]

    def add(self, x: np.ndarray):
        for seen, column in zip(self.values, x.T, strict=True):
            if len(seen) < self.LIMIT:
                bad = column[~_in_unit_interval(column)]
                seen.update(np.unique(bad)[: self.LIMIT - len(seen)].tolist())

    def __str__(self) -> str:
        return ", ".join(f"{name} = {' or '.join(f'{v:g}' for v in sorted(seen))}"
                         for name, seen in zip(X_NAMES, self.values, strict=True) if seen)


def _all_defaults_message(full_path: Path, fast_path: Path, counts: dict,
                          defaults: _DefaultValues) -> str:
    n = counts["matched"]
    files = list(dict.fromkeys(str(p) for p, role in ((full_path, "full"), (fast_path, "fast"))
                               if counts[f"default_tags_{role}"] == n))
    values = f"DeepJet default values ({defaults}; discriminators lie in [0, 1])"
    if not files:
        return (f"each of the {n} matched jet triplets has a jet with {values}, in "
                f"{full_path} (full: {counts['default_tags_full']} jets) or {fast_path} (fast: "
                f"{counts['default_tags_fast']} jets); no triplet is left")
    made = "the file was" if len(files) == 1 else "the files were"
    return (f"all {n} matched jets of {' and of '.join(files)} carry {values}: {made} made "
            f"without DeepJet ({', '.join(NANOAOD_TAG_BRANCHES)} hold the negative defaults "
            "CMSSW writes for jets without tagger output, as NanoAOD of years before DeepJet "
            "does); no triplet is left")


# -- reading with uproot ----------------------------------------------------------------------

@dataclass(frozen=True)
class _Chunk:
    """Flat columns of jagged branches of one collection and the event offsets into them."""

    offsets: np.ndarray
    columns: dict[str, np.ndarray]


class _NanoFile:
    """The event tree of one NanoAOD file: branch checks and checked chunked reads."""

    def __init__(self, path: Path, role: str, tree):
        self.path, self.role, self.tree = path, role, tree
        self.num_entries = int(tree.num_entries)
        self.keys = set(tree.keys())
        self.start, self.stop = 0, 0

    @property
    def chunk(self) -> str:
        return f"{self.start}–{self.stop - 1}"

    @classmethod
    def open(cls, path: Path, role: str, tree: str, stack: ExitStack) -> _NanoFile:
        return cls(path, role, open_tree(path, tree, stack, kind="NanoAOD"))

    def has(self, branches) -> bool:
        return set(branches) <= self.keys

    def require(self, branches):
        missing = [b for b in branches if b not in self.keys]
        if missing:
            raise DataError(f"{self.path} ({self.role}): tree {self.tree.name!r} lacks branches: "
                            f"{', '.join(missing)}")

    def _arrays(self, branches, start: int, stop: int):
        self.start, self.stop = start, stop
        return read_arrays(self.path, self.tree, branches, start, stop)

    def read_flat(self, branches, start: int, stop: int) -> dict[str, np.ndarray]:
        """One value per event of each branch."""
        data = self._arrays(branches, start, stop)
        return {b: np.asarray(data[b]) for b in branches}

    def read(self, branches, start: int, stop: int) -> _Chunk:
        """Jagged branches of one collection, flattened; kinematics checked finite."""
        import awkward as ak

        data = self._arrays(branches, start, stop)
        counts = np.asarray(ak.num(data[branches[0]], axis=1), dtype=np.int64)
        columns = {}
        for b in branches:
            columns[b] = np.asarray(ak.to_numpy(ak.flatten(data[b], axis=1)),
                                    dtype=np.int64 if b in (_FLAVOUR, _GEN_IDX) else np.float64)
            if len(columns[b]) != counts.sum():
                raise DataError(f"{self.path}: branch {b} has {len(columns[b])} values in "
                                f"entries {self.chunk}, {branches[0]} has {counts.sum()}")
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        self.check_finite(columns, [b for b in branches if b.endswith(("_pt", "_eta", "_phi"))])
        return _Chunk(offsets, columns)

    def check_finite(self, columns: dict[str, np.ndarray], branches, keep=None):
        for b in branches:
            values = columns[b] if keep is None else columns[b][keep]
            n = int(np.count_nonzero(~np.isfinite(values)))
            if n:
                which = "kept jets" if keep is not None else "jets"
                raise DataError(f"{self.path}: branch {b} has {n} NaN or infinite values among "
                                f"the {which} of entries {self.chunk}")
