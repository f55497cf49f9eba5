"""Jet clustering, N-subjettiness, matching by direction (FastJet underneath).

Anti-kT jets (Cacciari, Salam, Soyez, JHEP 04 (2008) 063) in the E-scheme, N-subjettiness
(Thaler & Van Tilburg, JHEP 03 (2011) 015) and its ratios, and one-to-one matching by ΔR: what
the jets task's fat jets (Fast Perfekt paper, Sec. 4) and the deepjet task's AK4 jets are made
of. Every jet definition (radius, thresholds, β, R0) is the caller's, given explicitly.

    jets = cluster(particles, radius=0.8, ptmin=200.0)              # list[Jet], pT-ordered
    taus = nsubjettiness(jet.constituents, n_max=4, beta=1.0, r0=0.8) # τ_1..τ_4
    ratios = tau_ratios(taus)                                         # (τ2/τ1, τ3/τ2, τ4/τ3)
    partner = match(reference_jets, other_jets, max_dr=0.4)          # index into other or -1

Angles. Two different "ΔR" are used, each as its reference does:

- N-subjettiness uses rapidity y and azimuth φ, ΔR² = Δy² + Δφ², as FastJet contrib's
  ``Nsubjettiness`` does (``PseudoJet::squared_distance``); the exclusive-kT subjet axes are
  massive, so y and pseudorapidity η differ for them.
- Matching and the neighbour ΔR are about directions: pseudorapidity η and φ, as Delphes'
  ``Eta``/``Phi`` of a jet.

FastJet is reached through the engine underneath its Awkward interface (``fastjet._ext``, plain
numpy arrays in and out: about 5x less overhead per clustering than the Awkward wrappers or
one ``PseudoJet`` per particle). Its signature has changed between fastjet releases, so it is
probed once; if it does not answer as expected, the classic ``PseudoJet``/``ClusterSequence``
interface is used instead. Both give the same jets (tests/test_jets_algorithms.py checks it).
FastJet itself is imported on first use, not when this module is imported.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .particles import Particles

__all__ = ["Jet", "cluster", "delta_r", "match", "nsubjettiness", "tau_ratios"]

#: FastJet's largest allowed jet radius (``JetDefinition::max_allowable_R``); the contrib's
#: ``KT_Axes`` recluster with it so that every particle ends in one of the exclusive subjets
_MAX_ALLOWABLE_R = 1000.0
#: a particle at pT = 0 gets this rapidity (plus |pz|), as in FastJet's ``PseudoJet``
_MAX_RAP = 1e5


@dataclass(frozen=True, eq=False)
class Jet:
    """A clustered jet: its four-momentum (GeV, E-scheme sum of its constituents) and constituents.

    ``eta`` is the pseudorapidity and ``phi`` the azimuth in (-π, π]. Jets compare by identity.
    """

    px: float
    py: float
    pz: float
    e: float
    constituents: Particles

    @property
    def pt(self) -> float:
        return math.hypot(self.px, self.py)

    @property
    def phi(self) -> float:
        return math.atan2(self.py, self.px)

    @property
    def eta(self) -> float:
        pt = self.pt
        if pt == 0.0:
            return math.copysign(1e3, self.pz)
        return math.asinh(self.pz / pt)

    @property
    def mass(self) -> float:
        m2 = self.e**2 - self.px**2 - self.py**2 - self.pz**2
        return math.sqrt(m2) if m2 > 0.0 else 0.0


# --------------------------------------------------------------------------------------------
# FastJet access: two engines with the same two operations


@functools.cache
def _jet_definition(algorithm: str, radius: float):
    import fastjet

    algo = {"antikt": fastjet.antikt_algorithm, "kt": fastjet.kt_algorithm}[algorithm]
    # the two-argument form: FastJet's defaults are the E-scheme and the Best strategy (a longer
    # form with integer enums can land on another overload: (..., Best) read as pt-scheme)
    jet_def = fastjet.JetDefinition(algo, float(radius))
    if "E scheme" not in jet_def.description():
        raise RuntimeError(f"expected E-scheme recombination, got {jet_def.description()!r}")
    return jet_def


def _columns(p: Particles) -> tuple[np.ndarray, ...]:
    return tuple(np.ascontiguousarray(c, dtype=np.float64) for c in (p.px, p.py, p.pz, p.e))


class _ExtEngine:
    """``fastjet._ext``: one ClusterSequence per call, numpy in and out (fastjet >= 3.5)."""

    name = "ext"

    @staticmethod
    def _sequence(p: Particles, jet_def):
        import fastjet._ext

        n = len(p)
        return fastjet._ext.interfacemulti(*_columns(p), np.zeros(1, np.int32),
                                           np.full(1, n, np.int32), jet_def)

    def inclusive(self, p: Particles, jet_def, ptmin: float):
        """Jets above ptmin (FastJet's order) as an (n, 4) array and their constituent indices."""
        seq = self._sequence(p, jet_def)
        px, py, pz, e, _ = seq.to_numpy(ptmin)
        offsets, index, _ = seq.to_numpy_with_constituents(ptmin)
        momenta = np.stack([px, py, pz, e], axis=1)
        offsets = np.asarray(offsets, dtype=np.intp)  # index is longer, unused tail unset
        index = np.asarray(index, dtype=np.intp)
        return momenta, [index[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]

    def exclusive(self, p: Particles, jet_def, n_max: int) -> list[np.ndarray]:
        """exclusive_jets(N) four-momenta, an (N, 4) array for each N = 1..n_max."""
        seq = self._sequence(p, jet_def)
        return [np.stack(seq.to_numpy_exclusive_njet(n)[:4], axis=1) for n in range(1, n_max + 1)]


class _ClassicEngine:
    """The classic interface: one ``PseudoJet`` per particle, user_index for the constituents."""

    name = "classic"

    @staticmethod
    def _sequence(p: Particles, jet_def):
        import fastjet

        pseudojets = []
        for i, four in enumerate(zip(*_columns(p), strict=True)):
            pj = fastjet.PseudoJet(*(float(v) for v in four))
            pj.set_user_index(i)
            pseudojets.append(pj)
        return fastjet.ClusterSequence(pseudojets, jet_def)

    def inclusive(self, p: Particles, jet_def, ptmin: float):
        seq = self._sequence(p, jet_def)
        jets = list(seq.inclusive_jets(ptmin))
        momenta = np.array([[j.px(), j.py(), j.pz(), j.E()] for j in jets]).reshape(-1, 4)
        index = [np.sort(np.array([c.user_index() for c in j.constituents()], dtype=np.intp))
                 for j in jets]
        return momenta, index

    def exclusive(self, p: Particles, jet_def, n_max: int) -> list[np.ndarray]:
        seq = self._sequence(p, jet_def)
        return [np.array([[j.px(), j.py(), j.pz(), j.E()] for j in seq.exclusive_jets(n)])
                for n in range(1, n_max + 1)]


@contextlib.contextmanager
def _stdout_silenced():
    """File descriptor 1 to /dev/null: FastJet's C++ banner would otherwise land in the middle
    of the command line's output (the bindings offer no switch for it)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


@functools.cache
def _engine():
    """The fast engine if it answers as expected on a two-particle event, else the classic one.

    The probe is also FastJet's first clustering in the process, so its banner is swallowed.
    """
    probe = Particles.from_pt_eta_phi_m([50.0, 40.0], [0.0, 0.1], [0.0, 0.2], [0.0, 0.0],
                                        [211, -211], [1, -1])
    with _stdout_silenced():
        try:
            momenta, index = _ExtEngine().inclusive(probe, _jet_definition("antikt", 0.8), 0.0)
            ok = momenta.shape == (1, 4) and index[0].tolist() == [0, 1]
        except Exception:  # a fastjet release whose private engine has another signature
            ok = False
        if not ok:
            _ClassicEngine().inclusive(probe, _jet_definition("antikt", 0.8), 0.0)
    return _ExtEngine() if ok else _ClassicEngine()


# --------------------------------------------------------------------------------------------
# clustering


def cluster(particles: Particles, *, radius: float, ptmin: float) -> list[Jet]:
    """Anti-kT jets (E-scheme) with pT ≥ ptmin, pT-descending, each with its constituents.

    The constituents are rows of `particles` (in their input order), keeping pid and charge.
    """
    if len(particles) == 0:
        return []
    momenta, index = _engine().inclusive(particles, _jet_definition("antikt", radius), ptmin)
    order = np.argsort(-np.hypot(momenta[:, 0], momenta[:, 1]), kind="stable")
    return [Jet(*(float(v) for v in momenta[i]), constituents=particles.take(index[i]))
            for i in order]


# --------------------------------------------------------------------------------------------
# N-subjettiness


def _rapidity(px, py, pz, e) -> np.ndarray:
    """Rapidity y = ½ ln((E + pz)/(E − pz)) = ±ln((E + |pz|)/mT), as FastJet's ``PseudoJet``.

    mT² = kT² + max(m², 0) (a spacelike input counts as massless); a particle along the beam
    gets ±(1e5 + |pz|).
    """
    px, py, pz, e = (np.asarray(a, dtype=np.float64) for a in (px, py, pz, e))
    abs_pz = np.abs(pz)
    mt2 = np.maximum(e * e - pz * pz, px * px + py * py)
    with np.errstate(divide="ignore"):
        rap = np.log(e + abs_pz) - 0.5 * np.log(mt2)
    rap = np.where(mt2 == 0.0, _MAX_RAP + abs_pz, rap)
    return np.copysign(rap, pz)


def nsubjettiness(constituents: Particles, n_max: int = 4, *, beta: float = 1.0,
                  r0: float) -> np.ndarray:
    """τ_1..τ_n_max of one jet, normalised measure with exclusive-kT axes.

    Thaler & Van Tilburg, JHEP 03 (2011) 015 [arXiv:1011.2268] (τ_N and its normalisation
    d0 = Σ_k pT_k R0), with the angular exponent β of their JHEP 02 (2012) 093
    [arXiv:1108.2701]; the "normalised measure" of FastJet contrib's Nsubjettiness:

        τ_N = Σ_k pT_k · min_j (ΔR_kj)^β / Σ_k pT_k · R0^β

    over the constituents k and N axes j; ΔR² = Δy² + Δφ² with rapidity y (not pseudorapidity)
    and azimuth φ. The axes are FastJet's ``exclusive_jets(N)`` after reclustering the
    constituents with the kT algorithm, R = 1000 (``max_allowable_R``), E-scheme: the same as
    FastJet contrib's ``Nsubjettiness(N, KT_Axes(), NormalizedMeasure(beta, r0))``. With no more
    constituents than N, τ_N = 0 (each constituent is its own axis), as in the contrib; a jet
    without constituents or without pT gives all zeros.

    (Delphes' CMS card uses one-pass-minimised kT axes instead; these are the plain kT axes.)
    """
    taus = np.zeros(n_max, dtype=np.float64)
    n = len(constituents)
    pt = constituents.pt
    norm = float(pt.sum()) * r0**beta
    n_axes = min(n_max, n - 1)  # τ_N = 0 for N ≥ number of constituents
    if n_axes < 1 or norm <= 0.0:
        return taus
    axes = _engine().exclusive(constituents, _jet_definition("kt", _MAX_ALLOWABLE_R), n_axes)
    axes_all = np.concatenate(axes)  # rows: 1 axis for N=1, 2 for N=2, ...
    y = _rapidity(constituents.px, constituents.py, constituents.pz, constituents.e)
    phi = constituents.phi
    axis_y = _rapidity(*axes_all.T)
    axis_phi = np.arctan2(axes_all[:, 1], axes_all[:, 0])
    dphi = np.abs(phi[:, None] - axis_phi[None, :])
    dphi = np.where(dphi > np.pi, 2.0 * np.pi - dphi, dphi)
    dr2 = (y[:, None] - axis_y[None, :]) ** 2 + dphi**2  # (constituents, all axes)
    starts = np.cumsum([0] + [len(a) for a in axes[:-1]])
    min_dr2 = np.minimum.reduceat(dr2, starts, axis=1)  # (constituents, n_axes)
    taus[:n_axes] = (pt @ min_dr2 ** (0.5 * beta)) / norm
    return taus


def tau_ratios(taus: np.ndarray) -> np.ndarray:
    """(τ2/τ1, τ3/τ2, τ4/τ3) from τ_1..τ_4 along the last axis; a ratio over τ = 0 is 0.

    Works on one jet, shape (4,), and on many, shape (n, 4).
    """
    taus = np.asarray(taus, dtype=np.float64)
    num, den = taus[..., 1:], taus[..., :-1]
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


# --------------------------------------------------------------------------------------------
# directions and matching


def delta_r(eta1, phi1, eta2, phi2) -> np.ndarray:
    """ΔR = √(Δη² + Δφ²) with Δφ wrapped into [−π, π]; broadcasts like numpy."""
    deta = np.asarray(eta1, dtype=np.float64) - np.asarray(eta2, dtype=np.float64)
    dphi = np.asarray(phi1, dtype=np.float64) - np.asarray(phi2, dtype=np.float64)
    dphi = np.mod(dphi + np.pi, 2.0 * np.pi) - np.pi
    return np.hypot(deta, dphi)


def eta_phi(jets: Sequence[Jet]) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([j.eta for j in jets], dtype=np.float64),
            np.array([j.phi for j in jets], dtype=np.float64))


def match(reference: Sequence[Jet], others: Sequence[Jet], *, max_dr: float) -> np.ndarray:
    """One-to-one matching by direction (η, φ): closest pairs first.

    All pairs with ΔR < max_dr are taken in increasing ΔR; a pair is kept when neither jet is
    matched yet. Returns, for each reference jet, the index of its partner in `others` or -1.
    """
    partner = np.full(len(reference), -1, dtype=np.int64)
    if len(reference) == 0 or len(others) == 0:
        return partner
    eta_r, phi_r = eta_phi(reference)
    eta_o, phi_o = eta_phi(others)
    dr = delta_r(eta_r[:, None], phi_r[:, None], eta_o[None, :], phi_o[None, :])
    ref_idx, other_idx = np.nonzero(dr < max_dr)
    order = np.argsort(dr[ref_idx, other_idx], kind="stable")
    taken = np.zeros(len(others), dtype=bool)
    for r, o in zip(ref_idx[order], other_idx[order], strict=True):
        if partner[r] < 0 and not taken[o]:
            partner[r] = o
            taken[o] = True
    return partner
