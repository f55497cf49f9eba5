"""The ``jets`` task: N-subjettiness ratios of top-quark fat jets (Fast Perfekt paper, Sec. 4).

PYTHIA 8 tt̄ events at 13 TeV, each passed twice through a vectorised emulation of the Delphes
CMS card: the nominal card (fullsim) and a flawed one (fastsim: ECAL resolution a constant 1 %,
N-subjettiness β = 0.9). Refined: x = (τ2/τ1, τ3/τ2, τ4/τ3) of the reco fat jet; conditioning:
the same ratios of the matched GEN fat jet; hidden: jet mass, pT, η, ΔR to the closest other
jet, N(charged), N(neutral). Real Delphes output imports through :meth:`JetsTask.import_files`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from perfekt_bench import EvaluationSettings, FeatureNames, OmniscientColumn, Task, Triplets

from . import definitions as d
from .evaluation import (
    CHI2_EDGES,
    CLOSURE,
    LOG10_FEATURES,
    MMD_BANDWIDTHS,
    OMNISCIENT_BANDWIDTHS,
    OPT_IN_METRICS,
    RESPONSE_BANDWIDTHS,
)

#: Fast Perfekt paper, Table 3 (jets): the network and its training
PAPER_NETWORK = {"n_blocks": 5, "width": 512, "lr": 5e-5, "batch_size": 4096, "epochs": 1000,
                 "patience": None}
#: Fast Perfekt paper, Table 3 (jets): a factor 10 on MMD_u in stage 1, λ's learning rate 1e-4
PAPER_TWOSTAGE = {"mmd_scale": 10.0, "lr_lambda": 1e-4}

#: Fast Perfekt paper, Table 2 (fullsim vs …)
PAPER_TABLE2 = """\
Fast Perfekt paper, Table 2 (fullsim vs …; their Delphes samples, ≈ 1 M jets, GPU training):

| | fastsim | refined MMD-only | refined 2-stage |
|---|---|---|---|
| omniscient MMD_b [10⁻³] | 0.5386 ± 0.0077 | 0.5147 ± 0.0068 | 0.5149 ± 0.0066 |
| MMD_b [10⁻³] | 1.114 ± 0.087 | 0.305 ± 0.022 | 0.303 ± 0.024 |
| MSE [10⁻³] | 10.99 ± 0.23 | 8.25 ± 0.02 | 8.24 ± 0.02 |
| χ²/ndof | 33.34 | 1.97 | 2.52 |
"""

class JetsTask(Task):
    """Top-quark fat jets from PYTHIA 8 tt̄, Delphes-CMS-like detector twice (Fast Perfekt
    Sec. 4)."""

    name = "jets"
    version = "1"
    summary = ("τ ratios of top fat jets: PYTHIA 8 tt̄ + FastJet + Delphes CMS card emulation, "
               "flawed card as fastsim (Fast Perfekt Sec. 4); imports Delphes ROOT files")
    paired = True
    feature_names = FeatureNames(g=d.G_NAMES, x=d.X_NAMES, h=d.H_NAMES)
    sizes = {"smoke": 2_000, "quick": 50_000, "paper": 1_000_000}
    reference_results = PAPER_TABLE2
    recommended_refiner = "twostage"
    import_help = ("two Delphes ROOT files (tree 'Delphes') of the same generated events, "
                   "nominal (--full) and flawed (--fast) card; option gen_branch=NAME reads GEN "
                   "fat jets from a branch instead of clustering the Particle branch")

    def parameters(self) -> dict[str, Any]:
        from .detector import DetectorCard
        from .generation import PYTHIA_SETTINGS

        definitions = {k: v for k, v in vars(d).items() if k.isupper()}
        cards = hashlib.sha256(repr((DetectorCard.cms(), DetectorCard.flawed())).encode())
        return {"definitions": definitions, "pythia": list(PYTHIA_SETTINGS),
                "detector_cards": cards.hexdigest()[:16]}

    def source_modules(self) -> list[ModuleType]:
        from ..common import clustering, particles, parts, pythia
        from . import detector, features, generation

        return [d, particles, detector, clustering, features, generation, parts, pythia]

    def refiner_hints(self) -> dict[str, dict[str, Any]]:
        return {"network": PAPER_NETWORK, "twostage": PAPER_TWOSTAGE}

    def data_card(self) -> dict[str, Any]:
        return super().data_card() | {
            "description": (
                "PYTHIA 8 tt̄ at 13 TeV; GEN fat jets anti-kT R=0.8 on visible stable "
                "particles; each event through an emulation of the Delphes CMS card twice with "
                "independent random streams: nominal (fullsim) and flawed (fastsim: ECAL "
                "resolution a constant 1 %, N-subjettiness β = 0.9). Reco fat jets anti-kT "
                "R=0.8 on energy-flow objects, pT > 200 GeV, matched one-to-one to GEN jets "
                "by ΔR < 0.4."),
            "made_by": "pythia8mc + fastjet + perfekt_bench_tasks.jets.detector, in parts",
            "source": "Fast Perfekt, SciPost Phys. Core 8, 021 (2025), Sec. 4; the Delphes "
                      "CMS card (delphes_card_CMS.tcl)",
        }

    def evaluation(self) -> EvaluationSettings:
        return EvaluationSettings(
            batch_size=1024,
            mmd_bandwidths=tuple(MMD_BANDWIDTHS[n] for n in d.X_NAMES),
            omniscient=(
                *(OmniscientColumn("g", n, OMNISCIENT_BANDWIDTHS[n]) for n in d.G_NAMES),
                *(OmniscientColumn("x", n, MMD_BANDWIDTHS[n]) for n in d.X_NAMES),
                *(OmniscientColumn("h", n, OMNISCIENT_BANDWIDTHS[n],
                                   "log10" if n in LOG10_FEATURES else None)
                  for n in d.H_NAMES)),
            chi2_bins=tuple(CHI2_EDGES for _ in d.X_NAMES),
            primary_metric="mmd",
            opt_in_metrics=OPT_IN_METRICS,
            closure=CLOSURE,
            conditional=(
                *(OmniscientColumn("g", n, OMNISCIENT_BANDWIDTHS[n]) for n in d.G_NAMES),
                *(OmniscientColumn("x", n, RESPONSE_BANDWIDTHS[n], minus=gen)
                  for n, gen in zip(d.X_NAMES, d.G_NAMES, strict=True))),
        )

    def generate(self, size: int, seed: int, *, progress: bool = False, workers: int = 1,
                 workdir: Path | None = None) -> Triplets:
        from .generation import generate

        arrays = generate(size, seed, workers=workers, workdir=workdir, progress=progress)
        return self._triplets(arrays, f"{self.name} generator (seed {seed})")

    refine_help = ("a Delphes ROOT file (fastsim): every FatJet above 200 GeV with a GEN fat "
                   "jet (clustered from Particle, or option gen_branch=NAME) within ΔR 0.4 is "
                   "refined; the friend tree holds FatJet_tau21/32/43_refined and "
                   "FatJet_refined; other ROOT trees are read as plain tables")

    def object_reader(self, path: Path, *, gen_branch: str | None = None):
        """The ``FatJet`` collection of a Delphes ROOT file (tree ``Delphes``) with GEN fat
        jets as conditioning (:mod:`.delphes_jets`); other files are plain tables of the
        feature names."""
        from perfekt_bench.rootfiles import tree_keys

        from .delphes import RECO_COLLECTION, TREE

        if path.suffix.lower() != ".root" or not any(
                key.startswith(RECO_COLLECTION) for key in tree_keys(path, TREE)):
            return None
        from .delphes_jets import DelphesFatJets

        return DelphesFatJets(path, gen_branch=gen_branch)

    def import_files(self, full: Path, fast: Path, *, progress: bool = False,
                     gen_branch: str | None = None) -> Triplets:
        from .delphes import import_delphes

        arrays = import_delphes(full, fast, gen_branch=gen_branch, progress=progress)
        return self._triplets(arrays, f"Delphes files {full} (full), {fast} (fast)")

    def _triplets(self, arrays: dict[str, np.ndarray], source: str) -> Triplets:
        return Triplets.from_arrays(arrays, self.feature_names, source=source)
