"""The jets task's fixed yardstick: kernel bandwidths, omniscient transforms, χ² binning.

Kept apart from the task module so that tuning the yardstick does not change the cache key of
generated data (which hashes the task module and the generator modules).
"""

import numpy as np

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
CHI2_EDGES = tuple(np.linspace(0.0, 1.0, 21).tolist())
