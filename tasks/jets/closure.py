"""The jets task's downstream quantity: a τ32 top-tagging working point.

A boosted-top analysis tags fat jets by τ32 < c. With only tt̄ jets in the task, the classes
are defined at generator level: a jet is *three-prong* when its GEN τ32 lies below a fixed
value, *other* otherwise. The working point c is fixed where fullsim tags 10 % of the other
jets (the "mistag" of this sample), and the closure measures the fraction of three-prong jets
tagged there (the efficiency) and the fraction of other jets tagged (the mistag). A refinement
that leaves a jet too close to its GEN value gets both wrong although the τ32 distribution as
a whole can be right.
"""

from __future__ import annotations

from perfekt_bench import Measurement, efficiency


def working_point_rates(sample, *, feature: str, cut: float, gen_feature: str,
                        gen_cut: float) -> list[Measurement]:
    """Tagging efficiency of jets with ``gen_feature`` < ``gen_cut`` and mistag rate of the
    others at the working point ``feature`` < ``cut`` (weighted for weighted candidates)."""
    names = sample.names
    tagged = sample.x[:, names.x.index(feature)] < cut
    signal = sample.g[:, names.g.index(gen_feature)] < gen_cut
    out = []
    for label, jets in (("efficiency", signal), ("mistag rate", ~signal)):
        weight = None if sample.weight is None else sample.weight[jets]
        value, error = efficiency(tagged[jets], weight)
        out.append(Measurement(f"{feature} < {cut:g} {label}", value, error))
    return out
