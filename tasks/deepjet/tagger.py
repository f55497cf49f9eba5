"""A stochastic emulation of the DeepJet tagger's six softmax nodes — NOT the CMS network.

No CMS FullSim or FastSim files exist here, so the built-in data of the ``deepjet`` task give
each GEN jet (true class, pT, η) the tagger outputs of a documented model, twice: with the
FullSim tune and with the FastSim tune, each with its own noise. Real NanoAOD pairs import
through :func:`.nanoaod.import_nanoaod`.

The model (per jet of true class k ∈ {b, bb, lepb, c, uds, g}, :data:`NODE_NAMES` order):

    logits  l = prior + d(pT, η) · M[k] + σ · ε,   ε ~ N(0, 1⁶)
    nodes   = softmax(l)                       (b, bb, lepb, c, uds, g; sum 1)

``M[k]`` is the class's separation vector (its own node high, related nodes partly: bb and lepb
look like b, c sits between b and light, g and uds overlap), ``prior`` the log class prior, and
the discrimination power d(pT, η) ∈ (0, 1] rises with pT (soft jets have few, poorly measured
tracks) and falls outside the tracker (|η| beyond ≈ 2.5 no track information: the nodes relax
to the prior; the quark/gluon nodes keep part of their power from calorimeter shapes). A large
σ together with separations of several units saturates the softmax, so the discriminators pile
up near 0 and 1 as DeepJet's do, with flavour-dependent shapes.

The FastSim tune differs from the FullSim tune the way the CMS paper describes FastSim
(discrepancies up to ≈ 20 %, depending on pT, η and flavour): its tracking is idealised, so b
and c separations are larger and the noise smaller, its power turns on earlier in pT, its
tracker edge is sharper, c jets look more b-like, and its quark/gluon nodes drift with |η|.
So the refinement must use the conditioning. :func:`tune_summary` lists both tunes for the data
card.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from .definitions import NODE_NAMES

#: true class indices in :data:`NODE_NAMES` order
B, BB, LEPB, C, UDS, G = range(6)


@dataclass(frozen=True)
class TaggerTune:
    """One version of the emulated tagger (see the module docstring for the model)."""

    name: str
    #: log prior per node
    prior: tuple[float, ...]
    #: separation vector M[k] per true class k (rows) over the nodes (columns)
    separation: tuple[tuple[float, ...], ...]
    #: σ of the Gaussian noise on each logit
    noise: float
    #: power turn-on in pT: d_pT = 1 − depth · exp(−(pT − 15 GeV) / scale)
    turn_on_depth: float
    turn_on_scale: float
    #: the tracker edge in |η|: full power below ``edge_lo``, ``forward_power`` above ``edge_hi``
    edge_lo: float
    edge_hi: float
    #: power of the b/c nodes beyond the tracker; the quark/gluon nodes keep ``forward_qg``
    forward_power: float
    forward_qg: float
    #: a shift of the g-node logit growing linearly with |η| (per unit of |η| / 2.5)
    gluon_eta_shift: float = 0.0

    def power(self, pt: np.ndarray, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Discrimination power (heavy flavour, quark/gluon) of jets with GEN pT and η."""
        d_pt = 1.0 - self.turn_on_depth * np.exp(-np.maximum(pt - 15.0, 0.0) / self.turn_on_scale)
        inside = np.clip((self.edge_hi - np.abs(eta)) / (self.edge_hi - self.edge_lo), 0.0, 1.0)
        heavy = d_pt * (self.forward_power + (1.0 - self.forward_power) * inside)
        qg = d_pt * (self.forward_qg + (1.0 - self.forward_qg) * inside)
        return heavy, qg

    def logits(self, true_class: np.ndarray, pt: np.ndarray, eta: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        """The six node logits of jets (before the softmax)."""
        heavy, qg = self.power(np.asarray(pt, dtype=np.float64),
                               np.asarray(eta, dtype=np.float64))
        sep = np.asarray(self.separation)[np.asarray(true_class, dtype=np.intp)]
        scale = np.column_stack([heavy, heavy, heavy, heavy, qg, qg])
        out = np.asarray(self.prior) + scale * sep
        out[:, G] += self.gluon_eta_shift * np.abs(eta) / 2.5
        return out + self.noise * rng.standard_normal(out.shape)

    def nodes(self, true_class: np.ndarray, pt: np.ndarray, eta: np.ndarray,
              rng: np.random.Generator) -> np.ndarray:
        """The six softmax nodes (b, bb, lepb, c, uds, g) of jets; each row sums to one."""
        z = self.logits(true_class, pt, eta, rng)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


#: the FullSim tune (the target)
FULLSIM = TaggerTune(
    name="FullSim",
    prior=(-1.0, -2.5, -2.0, -1.0, 0.5, 0.5),
    separation=(
        # b     bb    lepb   c     uds    g       true class
        (8.0, 4.0, 4.5, 2.0, 0.0, 0.0),      # b
        (5.5, 7.5, 4.0, 2.0, 0.0, 0.0),      # bb
        (5.5, 3.5, 8.0, 2.0, 0.0, 0.0),      # lepb
        (1.5, 0.5, 1.0, 4.5, 1.5, 1.0),      # c
        (-2.0, -3.0, -3.0, 0.0, 3.0, 1.5),   # uds
        (-2.0, -2.5, -3.0, 0.0, 1.0, 2.5),   # g
    ),
    noise=1.5,
    turn_on_depth=0.6, turn_on_scale=40.0,
    edge_lo=2.3, edge_hi=2.7,
    forward_power=0.15, forward_qg=0.5,
)

#: the FastSim tune: idealised tracking (more b/c separation, less noise, earlier turn-on,
#: sharper tracker edge), c jets more b-like, quark/gluon nodes drifting with |η|
FASTSIM = replace(
    FULLSIM,
    name="FastSim",
    separation=(
        (8.2, 4.0, 4.5, 2.0, 0.0, 0.0),
        (5.5, 7.7, 4.0, 2.0, 0.0, 0.0),
        (5.5, 3.5, 8.2, 2.0, 0.0, 0.0),
        (1.9, 0.5, 1.0, 4.2, 1.5, 1.0),
        (-1.8, -3.0, -3.0, 0.0, 2.8, 1.7),
        (-2.0, -2.5, -3.0, 0.0, 1.0, 2.7),
    ),
    noise=1.47,
    turn_on_depth=0.55, turn_on_scale=36.0,
    edge_lo=2.4, edge_hi=2.6,
    gluon_eta_shift=0.25,
)


def discriminators(nodes: np.ndarray) -> np.ndarray:
    """(B, CvB, CvL, QG) of six DeepJet nodes (b, bb, lepb, c, uds, g) by eq. (2)."""
    b, bb, lepb, c, uds, g = np.asarray(nodes, dtype=np.float64).T
    bsum = b + bb + lepb
    return np.column_stack([bsum, c / (c + bsum), c / (c + uds + g), g / (g + uds)])


def tune_summary() -> dict[str, dict]:
    """Both tunes as plain data, for the data card."""
    return {t.name: asdict(t) for t in (FULLSIM, FASTSIM)}


__all__ = ["FASTSIM", "FULLSIM", "NODE_NAMES", "TaggerTune", "discriminators", "tune_summary"]
