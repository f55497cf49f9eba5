"""The fat jets of one Delphes ROOT file as objects to refine (``perfekt-bench refine``).

The conventions of the importer (:mod:`.delphes`), for one fastsim file: x = (τ2/τ1, τ3/τ2,
τ4/τ3) of each ``FatJet`` from its ``Tau[5]``; g = the same ratios of its GEN fat jet,
clustered from the file's stable visible ``Particle`` entries (anti-kT R = 0.8, N-subjettiness
at β = 1), or read from a collection with the ``gen_branch`` option. A reco fat jet above
:data:`.definitions.RECO_PTMIN` and its GEN jet are partners as in the importer: one-to-one,
closest pairs first, ΔR < :data:`.definitions.MATCH_DR`.

Every fat jet appears in the output, in its place (``nFatJet``, ``FatJet_tau21_refined``, …,
``FatJet_refined``), so that the output tree is a friend of the input; jets without a GEN
partner keep their ratios, with ``FatJet_refined`` false. A Parquet output also carries the
jets' pT, η, φ, their ratios (``FatJet_tau21``, …) and those of their GEN partners
(``FatJet_gen_tau21``, …; NaN without one).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from perfekt_bench.objectfiles import ObjectChunk, ObjectReader, per_entry
from perfekt_bench.rootfiles import chunks

from ..common import clustering
from .definitions import MATCH_DR, RECO_PTMIN, X_NAMES
from .delphes import (
    _N_TAU,
    RECO_COLLECTION,
    _BranchGen,
    _DelphesFile,
    _JetAxis,
    _ParticleGen,
    _ratios,
)

_FIELDS = ("PT", "Eta", "Phi", "Tau")


class DelphesFatJets(ObjectReader):
    """The ``FatJet`` collection of a Delphes file (see the module docstring)."""

    collection = RECO_COLLECTION
    refined_fields = tuple(f"{name}_refined" for name in X_NAMES)

    def __init__(self, path: Path, *, gen_branch: str | None = None):
        self.path = Path(path)
        self._stack = ExitStack()
        try:
            self.file = _DelphesFile.open(self.path, self._stack)
            self.file.require(RECO_COLLECTION, _FIELDS)
            self.gen = (_ParticleGen(self.file) if gen_branch is None
                        else _BranchGen(self.file, gen_branch))
        except BaseException:
            self.close()
            raise
        self.num_entries = self.file.num_entries

    def chunks(self, size: int) -> Iterator[ObjectChunk]:
        for start, stop in chunks(self.num_entries, size):
            cols, offsets = self.file.read_collection(RECO_COLLECTION, _FIELDS, start, stop)
            x = _ratios(cols["Tau"][:, :_N_TAU])
            g = np.full_like(x, np.nan)
            for event, gen in enumerate(self.gen.read(start, stop)):
                a, b = offsets[event], offsets[event + 1]
                idx = np.flatnonzero(cols["PT"][a:b] > RECO_PTMIN) + a
                axes = [_JetAxis(float(cols["PT"][i]), float(cols["Eta"][i]),
                                 float(cols["Phi"][i])) for i in idx]
                to_reco = np.asarray(clustering.match(gen.axes, axes, max_dr=MATCH_DR))
                matched = np.flatnonzero(to_reco >= 0)
                g[idx[to_reco[matched]]] = gen.ratios[matched]
            counts = np.diff(offsets)
            carried = {f"FatJet_{f}": per_entry(cols[f], counts) for f in ("PT", "Eta", "Phi")}
            for j, name in enumerate(X_NAMES):
                carried[f"FatJet_{name}"] = per_entry(x[:, j], counts)
                carried[f"FatJet_gen_{name}"] = per_entry(g[:, j], counts)
            yield ObjectChunk(start, stop - start, x.astype(np.float32), g.astype(np.float32),
                              selected=~np.isnan(g).any(axis=1), counts=counts, columns=carried)

    def close(self) -> None:
        self._stack.close()

