"""The jets of one CMS NanoAOD file as objects to refine (``perfekt-bench refine``).

The conventions of the importer (:mod:`.nanoaod`), for one FastSim file: x = the four DeepJet
discriminators ``Jet_btagDeepFlavB``, ``…CvB``, ``…CvL``, ``…QG``; g = GEN pT and η of the
jet's GEN partner (``GenJet_pt``, ``GenJet_eta``) and ``Jet_hadronFlavour``. The GEN partner
is the GEN jet ``Jet_genJetIdx`` points to, within ΔR < :data:`.definitions.MATCH_DR`; a file
without ``Jet_genJetIdx`` is matched closest pairs first, as CMSSW fills that branch.

Every jet of the ``Jet`` collection appears in the output, in its place, so that the output
tree is a friend of the input (``nJet`` and ``Jet_btagDeepFlav*_refined``, ``Jet_refined``).
A jet is refined when it has a GEN partner, its discriminators lie in [0, 1] (CMSSW writes
negative defaults for jets without tagger output) and its flavour is one of
:data:`.definitions.FLAVOURS`; the others keep their values and ``Jet_refined`` is false. The
importer's training selection (GEN pT ≥ 15 GeV, isolation) is not applied: a production
refinement applies to every jet, and jets outside the training selection are extrapolation.
NaN or infinite values of a jet that would be refined are an error naming the branch and count.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from perfekt_bench.objectfiles import ObjectChunk, ObjectReader, per_entry
from perfekt_bench.rootfiles import chunks

from .definitions import FLAVOURS, NANOAOD_TAG_BRANCHES
from .nanoaod import (
    _FLAVOUR,
    _GEN,
    _GEN_IDX,
    _KINEMATICS,
    _closest_pairs_first,
    _indexed_partner,
    _Jets,
    _NanoFile,
)


class NanoAODJets(ObjectReader):
    """The ``Jet`` collection of tree ``tree`` of a NanoAOD file (see the module docstring)."""

    collection = "Jet"
    refined_fields = tuple(f"{b.removeprefix('Jet_')}_refined" for b in NANOAOD_TAG_BRANCHES)

    def __init__(self, path: Path, *, tree: str = "Events"):
        self.path = Path(path)
        self._stack = ExitStack()
        try:
            self.file = _NanoFile.open(self.path, "fast", tree, self._stack)
            self.file.require(_GEN + _KINEMATICS + NANOAOD_TAG_BRANCHES + (_FLAVOUR,))
        except BaseException:
            self.close()
            raise
        self.has_index = self.file.has((_GEN_IDX,))
        self.num_entries = self.file.num_entries

    def chunks(self, size: int) -> Iterator[ObjectChunk]:
        reco_branches = (_KINEMATICS + NANOAOD_TAG_BRANCHES + (_FLAVOUR,)
                         + ((_GEN_IDX,) if self.has_index else ()))
        for start, stop in chunks(self.num_entries, size):
            gen = self.file.read(_GEN, start, stop)
            gen_jets = _Jets(gen.offsets, *(gen.columns[b] for b in _GEN))
            data = self.file.read(reco_branches, start, stop)
            cols = data.columns
            jets = _Jets(data.offsets, *(cols[b] for b in _KINEMATICS))
            if self.has_index:
                partner, _ = _indexed_partner(jets, gen_jets, cols[_GEN_IDX], self.file)
            else:
                partner = _closest_pairs_first(jets, gen_jets)
            x = np.column_stack([cols[b] for b in NANOAOD_TAG_BRANCHES])
            has = partner >= 0
            self.file.check_finite(cols, NANOAOD_TAG_BRANCHES, has)
            safe = np.where(has, partner, 0)
            g = np.column_stack([np.where(has, gen_jets.pt[safe], np.nan),
                                 np.where(has, gen_jets.eta[safe], np.nan),
                                 cols[_FLAVOUR]])
            selected = (has & ((x >= 0.0) & (x <= 1.0)).all(axis=1)
                        & np.isin(cols[_FLAVOUR], FLAVOURS))
            carried = {b: per_entry(cols[b], jets.counts) for b in reco_branches}
            carried |= {"Jet_genPt": per_entry(g[:, 0], jets.counts),
                        "Jet_genEta": per_entry(g[:, 1], jets.counts)}
            yield ObjectChunk(start, stop - start, x.astype(np.float32), g.astype(np.float32),
                              selected=selected, counts=jets.counts, columns=carried)

    def close(self) -> None:
        self._stack.close()

