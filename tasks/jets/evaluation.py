"""The jets task's fixed yardstick: kernel bandwidths, omniscient transforms, χ² binning.

Kept apart from the task module so that tuning the yardstick does not change the cache key of
generated data (which hashes the task module and the generator modules).
"""

import numpy as np

#: the paper's MMD bandwidths (Table 3), for comparison with ours (README)
PAPER_BANDWIDTHS = (0.0351, 0.0183, 0.0058, 0.0415, 0.0207, 0.0043)

#: per-feature bandwidths by the median rule (median over pairs of |x_full,i − x_fast,j|),
#: measured once on 20 000 generated jets (data seed 0) and fixed here
MMD_BANDWIDTHS = {"tau21": 0.16, "tau32": 0.13, "tau43": 0.09}
OMNISCIENT_BANDWIDTHS = {
    "gen_tau21": 0.16, "gen_tau32": 0.13, "gen_tau43": 0.09,
    "mass": 0.15, "pt": 0.09, "eta": 1.0, "dr_neighbour": 0.6,
    "n_charged": 20.0, "n_neutral": 20.0,
}
LOG10_FEATURES = ("mass", "pt")
CHI2_EDGES = tuple(np.linspace(0.0, 1.0, 21).tolist())
