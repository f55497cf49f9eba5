"""The deepjet task's fixed yardstick: kernel bandwidths, omniscient transforms, χ² binning.

Kept apart from the task module so that tuning the yardstick does not change the cache key of
generated data.
"""

import numpy as np

from perfekt_bench import DownstreamClosure

from .closure import NANOAOD_MANTISSA_BITS, RATE_NAMES, WORKING_POINTS

#: bandwidths by the Fast Perfekt median rule (median over pairs of |a_full,i − b_fast,j| per
#: column; log10 for the pTs; GEN columns against themselves), measured once on the quick
#: training split (75 000 jets, data seed 0) and fixed here
MMD_BANDWIDTHS = {"B": 0.151, "CvB": 0.369, "CvL": 0.140, "QG": 0.335}
OMNISCIENT_BANDWIDTHS = {"gen_pt": 0.265, "gen_eta": 1.567, "hadron_flavour": 1.0,
                         "pt": 0.271, "eta": 1.565}
LOG10_FEATURES = ("gen_pt", "pt")
CHI2_EDGES = tuple(np.linspace(0.0, 1.0, 21).tolist())

#: the downstream closure (:mod:`.closure`): b-tagging efficiency of b jets and mistag rates of
#: c and light jets at the loose, medium and tight DeepJet working points, B rounded to NanoAOD
CLOSURE = DownstreamClosure(
    "perfekt_bench_tasks.deepjet.closure:btag_rates",
    {"working_points": WORKING_POINTS, "flavours": {str(k): v for k, v in RATE_NAMES.items()},
     "mantissa_bits": NANOAOD_MANTISSA_BITS},
    "fraction of b, c and light jets with NanoAOD-rounded B above the UL2018 DeepJet loose, "
    "medium and tight thresholds (0.0490, 0.2783, 0.7100)")
#: the expensive metrics this task measures (``EvaluationSettings.opt_in_metrics``)
OPT_IN_METRICS = ("fpd", "kpd", "c2st", "c2st_jsd")
