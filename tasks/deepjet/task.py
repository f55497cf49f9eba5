"""The ``deepjet`` task: DeepJet flavour-tag discriminators, FastSim → FullSim (CMS paper).

Refined: x = (B, CvB, CvL, QG); conditioning: GEN pT, GEN η and the hadron flavour; hidden: the
reco jet's pT and η. Real CMS NanoAOD pairs import through :meth:`DeepJetTask.import_files`;
the built-in data are PYTHIA 8 tt̄ jets with an emulated tagger (:mod:`.generation`,
:mod:`.tagger`). Every refiner learns through the paper's pre/post-processing
(:mod:`.processing`). Paper: S. Bein, P. Connor, K. Pedro, P. Schleper, M. Wolf for CMS,
"Refining fast simulation using machine learning", EPJ Web Conf. 295, 09032 (2024).
"""

from __future__ import annotations

import sys
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
)

#: CMS paper, Secs. 3.1 and 3.4: 5 blocks of 1024 with dropout 0.5, Adam 1e-4, 100 epochs of
#: 500 batches of 4096
PAPER_NETWORK = {"n_blocks": 5, "width": 1024, "lr": 1e-4, "batch_size": 4096, "epochs": 100,
                 "patience": None, "max_batches": 500, "dropout": 0.5}
#: what the quick budget changes: a 1024-wide network is hours of CPU per run, and dropout 0.5
#: needs the paper's many epochs
QUICK_NETWORK = {"width": 256, "batch_size": 2048, "dropout": 0.0, "max_batches": None}
#: the CMS recipe (cms-mdmm) on the quick budget. The paper picks ε = 0.084 as a value that
#: "converges close to the MMD-only training". On this emulation FullSim and FastSim carry
#: independent tagger noise: the unrefined Huber (logit space, quick validation split) is 0.178
#: and the MMD-only training's 0.205, so 0.084 forces regression to the mean; 0.18 applies the
#: paper's rule to these data. λ starts at 0, as in the mdmm package the paper adapted: started
#: at 1, λ·Huber (≈ 0.18) outweighs the MMD (≈ 0.005) for the whole quick budget (720 steps at
#: lr_λ = 1e-3). The ``paper`` budget keeps ε = 0.084 and λ₀ = 1.
QUICK_CMS_MDMM = {"epsilon": 0.18, "lambda_init": 0.0}

#: CMS paper, Table 1
PAPER_TABLE1 = """\
CMS FastSim refinement paper, Table 1 (FullSim vs …; FPD and KPD in units of 10⁻³; ≈ 6 M
T1tttt jet triplets and 6 M tt̄, real CMS FullSim and FastSim, MDMM with ε = 0.084, GPU training):

| FullSim vs … | FPD [10⁻³] | KPD [10⁻³] | FPD [10⁻³] (tt̄) | KPD [10⁻³] (tt̄) |
|---|---|---|---|---|
| FastSim | 0.801 ± 0.046 | 1.07 ± 0.58 | 0.540 ± 0.036 | 0.927 ± 0.448 |
| FastSim refined | 0.071 ± 0.025 | 0.083 ± 0.418 | 0.065 ± 0.025 | −0.127 ± 0.164 |
| FullSim (other half) | 0.061 ± 0.029 | −0.024 ± 0.250 | 0.061 ± 0.024 | −0.119 ± 0.167 |
"""


class DeepJetTask(Task):
    """DeepJet discriminators of AK4 jets, FastSim refined towards FullSim (CMS paper)."""

    name = "deepjet"
    version = "1"
    summary = ("DeepJet B, CvB, CvL, QG given GEN pT, η, flavour (CMS FastSim refinement); "
               "imports NanoAOD pairs; built-in data: PYTHIA 8 tt̄ jets + an emulated tagger")
    paired = True
    feature_names = FeatureNames(g=d.G_NAMES, x=d.X_NAMES, h=d.H_NAMES)
    sizes = {"smoke": 3_000, "quick": 150_000, "paper": 2_000_000}
    #: a large test split: FPD and KPD want tens of thousands of jets per half
    split_fractions = (0.5, 0.1, 0.4)
    reference_results = PAPER_TABLE1
    recommended_refiner = "cms-mdmm"
    import_help = ("two CMS NanoAOD ROOT files of the same generated events, FullSim (--full) "
                   "and FastSim (--fast): Jet_btagDeepFlavB/CvB/CvL/QG, Jet_hadronFlavour, "
                   "Jet_pt/eta/phi, GenJet_pt/eta/phi, Jet_genJetIdx if present; option "
                   "tree=NAME (default Events)")

    def parameters(self) -> dict[str, Any]:
        from .generation import PYTHIA_SETTINGS, RESOLUTION
        from .tagger import tune_summary

        definitions = {k: v for k, v in vars(d).items() if k.isupper()}
        return {"definitions": definitions, "pythia": list(PYTHIA_SETTINGS),
                "resolution": RESOLUTION, "tagger": tune_summary()}

    def source_modules(self) -> list[ModuleType]:
        from ..common import clustering, particles, parts, pythia
        from . import generation, tagger

        return [d, tagger, generation, particles, clustering, parts, pythia]

    def refiner_hints(self) -> dict[str, dict[str, Any]]:
        return {"network": PAPER_NETWORK, "network-quick": QUICK_NETWORK,
                "cms-mdmm-quick": QUICK_CMS_MDMM}

    def data_card(self) -> dict[str, Any]:
        return super().data_card() | {
            "description": (
                "EMULATION, not CMS simulation. PYTHIA 8 tt̄ at 13 TeV; GEN jets anti-kT "
                "R=0.4 of stable visible particles, pT ≥ 15 GeV, no other GEN jet within "
                "ΔR 0.5; hadron flavour by ghost association of weakly decaying b/c hadrons "
                "(CMS hadronFlavour), DeepJet class (b, bb, lepb, c, uds, g) from the ghosts "
                "and the hardest parton. The six DeepJet nodes come from a stochastic model "
                "(softmax of class-dependent logits whose separation depends on pT and η, "
                "Gaussian noise) with a FullSim and a differently tuned FastSim version, "
                "independent noise per side; discriminators by the CMS paper's eq. (2). "
                "Reco pT/η smeared with a CMS-like jet resolution. For real FullSim/FastSim "
                "pairs use 'perfekt-bench data import --task deepjet' with NanoAOD files."),
            "made_by": "pythia8mc + fastjet + perfekt_bench_tasks.deepjet.tagger, in parts",
            "source": "CMS FastSim refinement (Bein et al.), Secs. 2–3; README 'deepjet'",
        }

    def evaluation(self) -> EvaluationSettings:
        return EvaluationSettings(
            batch_size=2048,
            mmd_bandwidths=tuple(MMD_BANDWIDTHS[n] for n in d.X_NAMES),
            omniscient=(
                *(OmniscientColumn("g", n, OMNISCIENT_BANDWIDTHS[n],
                                   "log10" if n in LOG10_FEATURES else None)
                  for n in d.G_NAMES),
                *(OmniscientColumn("x", n, MMD_BANDWIDTHS[n]) for n in d.X_NAMES),
                *(OmniscientColumn("h", n, OMNISCIENT_BANDWIDTHS[n],
                                   "log10" if n in LOG10_FEATURES else None)
                  for n in d.H_NAMES)),
            chi2_bins=tuple(CHI2_EDGES for _ in d.X_NAMES),
            primary_metric="fpd",
            opt_in_metrics=OPT_IN_METRICS,
            closure=CLOSURE,
            conditional=(
                *(OmniscientColumn("g", n, OMNISCIENT_BANDWIDTHS[n],
                                   "log10" if n in LOG10_FEATURES else None)
                  for n in d.G_NAMES),
                *(OmniscientColumn("x", n, MMD_BANDWIDTHS[n]) for n in d.X_NAMES)),
        )

    refine_help = ("a CMS NanoAOD ROOT file (FastSim): every jet of the Jet collection with a "
                   "GEN partner (Jet_genJetIdx, else ΔR matching), DeepJet tags in [0, 1] and a "
                   "known Jet_hadronFlavour is refined; the friend tree holds "
                   "Jet_btagDeepFlav*_refined and Jet_refined; --tree NAME (default Events); "
                   "other ROOT trees are read as plain tables")

    def object_reader(self, path: Path, *, tree: str | None = None):
        """NanoAOD's ``Jet`` collection with GEN-jet conditioning (:mod:`.nanoaod_jets`) for a
        ROOT file whose tree has ``Jet_btagDeepFlavB``; other files are plain tables of the
        feature names."""
        from perfekt_bench.rootfiles import tree_keys

        tree = tree or "Events"
        if (path.suffix.lower() != ".root"
                or d.NANOAOD_TAG_BRANCHES[0] not in tree_keys(path, tree)):
            return None
        from .nanoaod_jets import NanoAODJets

        return NanoAODJets(path, tree=tree)

    def feature_transform(self):
        from .processing import DeepJetTransform

        return DeepJetTransform()

    def generate(self, size: int, seed: int, *, progress: bool = False, workers: int = 1,
                 workdir: Path | None = None) -> Triplets:
        from .generation import generate

        arrays = generate(size, seed, workers=workers, workdir=workdir, progress=progress)
        return self._triplets(arrays, f"{self.name} generator (seed {seed})")

    def import_files(self, full: Path, fast: Path, *, progress: bool = False,
                     tree: str = "Events") -> Triplets:
        from .nanoaod import import_nanoaod

        report: dict[str, int] = {}
        arrays = import_nanoaod(full, fast, tree=tree, progress=progress, report=report)
        if progress:
            print(f"deepjet import: {report['events']} events, {report['gen_jets_kept']} of "
                  f"{report['gen_jets']} GEN jets kept, {report['matched']} matched in both "
                  f"files, {report['dropped_default_tags']} dropped for DeepJet default "
                  f"values → {report['triplets']} triplets", file=sys.stderr)
        return self._triplets(arrays, f"NanoAOD files {full} (full), {fast} (fast)")

    def _triplets(self, arrays: dict[str, np.ndarray], source: str) -> Triplets:
        return Triplets.from_arrays(arrays, self.feature_names, source=source)
