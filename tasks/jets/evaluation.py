"""The jets task's fixed yardstick: kernel bandwidths, omniscient transforms, χ² binning.

Kept apart from the task module so that tuning the yardstick does not change the cache key of
generated data (which hashes the task module and the generator modules).
"""

import numpy as np

from perfekt_bench import DownstreamClosure

#: bandwidths by the Fast Perfekt median rule (median over pairs of |a_full,i − b_fast,j| per
#: column; log10 for mass and pT), measured once on the quick training split (30 000 jets, data
#: seed 0) and fixed here. The paper's values are an order of magnitude smaller; their squares
#: would be close to ours for τ21 and τ32, so the paper may quote σ² (README).
MMD_BANDWIDTHS = {"tau21": 0.200, "tau32": 0.205, "tau43": 0.102}
OMNISCIENT_BANDWIDTHS = {
    "gen_tau21": 0.198, "gen_tau32": 0.224, "gen_tau43": 0.108,
    "mass": 0.200, "pt": 0.122, "eta": 0.997, "dr_neighbour": 0.875,
    "n_charged": 9.0, "n_neutral": 10.0,
}
LOG10_FEATURES = ("mass", "pt")
#: bandwidths of the response x − g (reco minus GEN ratio) in the conditional MMD: the median
#: rule on fullsim against itself (2000 training jets of the quick split, data seed 0; the
#: mean over three subsamples), the spread of fullsim's τ ratios at fixed GEN value
RESPONSE_BANDWIDTHS = {"tau21": 0.043, "tau32": 0.081, "tau43": 0.094}
CHI2_EDGES = tuple(np.linspace(0.0, 1.0, 21).tolist())

#: the downstream closure (:mod:`.closure`): jets with GEN τ32 < 0.5 are three-prong (26 % of
#: the quick training split); the τ32 working point 0.558 tags 10 % of the other fullsim jets
#: there (measured once on the quick training split, data seed 0, and fixed)
CLOSURE = DownstreamClosure(
    "perfekt_bench_tasks.jets.closure:working_point_rates",
    {"feature": "tau32", "cut": 0.558, "gen_feature": "gen_tau32", "gen_cut": 0.5},
    "τ32 < 0.558 top-tagging efficiency of GEN three-prong jets (GEN τ32 < 0.5) and mistag "
    "rate of the others (10 % in fullsim)")
#: the expensive metrics this task measures (``EvaluationSettings.opt_in_metrics``)
OPT_IN_METRICS = ("c2st", "c2st_jsd")
