"""The jets task's per-jet features: the refined τ ratios and the hidden observables (Fast
Perfekt paper, Sec. 4)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..common.clustering import Jet, delta_r, eta_phi, nsubjettiness, tau_ratios
from .definitions import NEIGHBOUR_PTMIN, NO_NEIGHBOUR_DR, R0

#: a jet in the `neighbours` list this close in ΔR to the jet itself is the jet itself
_SELF_DR = 1e-6


def hidden_features(jet: Jet, neighbours: Sequence[Jet]) -> np.ndarray:
    """(mass, pt, eta, ΔR to the closest neighbour, N charged, N neutral), H_NAMES order.

    Neighbours are the jets of `neighbours` with pT ≥ NEIGHBOUR_PTMIN other than `jet` itself
    (the same object, or a jet within ΔR < 1e-6 of it); ΔR in (η, φ); NO_NEIGHBOUR_DR when there
    is none. Charged constituents have charge ≠ 0, all others (photons, neutral hadrons) count
    as neutral.
    """
    others = [j for j in neighbours if j is not jet and j.pt >= NEIGHBOUR_PTMIN]
    dr_closest = NO_NEIGHBOUR_DR
    if others:
        eta_o, phi_o = eta_phi(others)
        dr = delta_r(jet.eta, jet.phi, eta_o, phi_o)
        dr = dr[dr >= _SELF_DR]
        if dr.size:
            dr_closest = float(dr.min())
    n_charged = int(np.count_nonzero(jet.constituents.charge))
    n_neutral = len(jet.constituents) - n_charged
    return np.array([jet.mass, jet.pt, jet.eta, dr_closest, n_charged, n_neutral],
                    dtype=np.float64)


def jet_features(jet: Jet, neighbours: Sequence[Jet], *,
                 beta: float) -> tuple[np.ndarray, np.ndarray]:
    """(x, h): x = tau_ratios(nsubjettiness(constituents, 4, beta=beta)), h = hidden_features."""
    x = tau_ratios(nsubjettiness(jet.constituents, 4, beta=beta, r0=R0))
    return x, hidden_features(jet, neighbours)
