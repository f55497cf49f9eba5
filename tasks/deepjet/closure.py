"""The deepjet task's downstream quantity: b-tagging efficiencies and mistag rates.

An analysis using these jets reads ``Jet_btagDeepFlavB`` from NanoAOD, where it is stored with a
10-bit mantissa (``precision=10`` in CMSSW's NanoAOD jet table, rounded by
``MiniFloatConverter::reduceMantissaToNbitsRounding``), and counts jets above the b-tagging
group's working points. So the closure rounds B as NanoAOD does and measures, per hadron
flavour, the fraction of jets above the loose, medium and tight thresholds: the b-tagging
efficiency of b jets and the mistag rates of c and light jets, the numbers whose data/simulation
scale factors an analysis applies.
"""

from __future__ import annotations

import numpy as np

from perfekt_bench import Measurement, efficiency

#: DeepJet (DeepFlavour) working points of the CMS b-tagging group for the 2018 ultra-legacy
#: data (BTV recommendations, UL2018): B > 0.0490 (loose), 0.2783 (medium), 0.7100 (tight)
WORKING_POINTS = {"L": 0.0490, "M": 0.2783, "T": 0.7100}
#: hadron flavour codes and what a tag of each is called
RATE_NAMES = {5: "b-tag efficiency", 4: "c mistag rate", 0: "light mistag rate"}
#: NanoAOD's mantissa for the DeepJet discriminators (``precision=10``)
NANOAOD_MANTISSA_BITS = 10


def reduce_mantissa(values: np.ndarray, bits: int) -> np.ndarray:
    """float32 ``values`` rounded to a ``bits``-bit mantissa as CMSSW's
    ``MiniFloatConverter::reduceMantissaToNbitsRounding`` does when NanoAOD stores a branch
    with ``precision=bits``: round half up on the dropped bits, except that a mantissa at or
    above 2^bits − 2 is only truncated (no carry into the exponent)."""
    if not 0 < bits <= 23:
        raise ValueError(f"mantissa bits must be 1 … 23, got {bits}")
    shift = 23 - bits
    words = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    mantissa = (words & np.uint32(0x007FFFFF)) >> np.uint32(shift)
    round_up = ((words & np.uint32(1 << (shift - 1))) != 0) if shift else np.zeros_like(
        words, dtype=bool)
    mantissa = np.where(round_up & (mantissa < np.uint32((1 << bits) - 2)),
                        mantissa + np.uint32(1), mantissa)
    rounded = (words & np.uint32(0xFF800000)) | (mantissa << np.uint32(shift))
    return rounded.astype(np.uint32).view(np.float32)


def btag_rates(sample, *, working_points: dict[str, float], flavours: dict[str, str],
               mantissa_bits: int = NANOAOD_MANTISSA_BITS) -> list[Measurement]:
    """Per hadron flavour and working point, the fraction of jets whose B, rounded to NanoAOD's
    precision, lies above the threshold (weighted for weighted candidates), with its binomial
    uncertainty. ``flavours`` maps hadron-flavour codes (as strings, JSON keys) to names."""
    names = sample.names
    b = reduce_mantissa(sample.x[:, names.x.index("B")], mantissa_bits)
    flavour = np.rint(sample.g[:, names.g.index("hadron_flavour")]).astype(int)
    out = []
    for code, label in flavours.items():
        jets = flavour == int(code)
        weight = None if sample.weight is None else sample.weight[jets]
        for wp, threshold in working_points.items():
            value, error = efficiency(b[jets] > np.float32(threshold), weight)
            out.append(Measurement(f"{label} {wp}", value, error))
    return out
