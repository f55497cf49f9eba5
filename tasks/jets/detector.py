"""A vectorised emulation of the Delphes CMS card detector chain (delphes_card_CMS.tcl of
Delphes 3.5, J. de Favereau et al., JHEP 02 (2014) 057, arXiv:1307.6346).

Usage::

    card = DetectorCard.cms()          # the nominal card: fullsim
    card = DetectorCard.flawed()       # ECAL resolution a constant 1 %: fastsim (paper Sec. 4)
    card = DetectorCard.perfect()      # no losses, no smearing, no cells: eflow == visible GEN
    eflow = simulate(particles, card, rng)   # stable GEN Particles -> energy-flow Particles

The numbers are those of Delphes' ``cards/delphes_card_CMS.tcl`` as shipped with Delphes 3.5
(in that version the charged-hadron σ(pT)/pT = √(0.06² + pT²·(1.3e-3)²) in the
central region and an HCAL significance cut of 1.0; later Delphes versions changed these two to
√(0.01² + pT²·(1.5e-4)²) and 2.0). :func:`simulate` runs the card's energy-flow modules in the
card's order:

1. **ParticlePropagator** (R = 1.29 m, half-length 3 m, Bz = 3.8 T): every particle is carried
   from the origin to the surface of the field cylinder, neutral ones in a straight line,
   charged ones on their helix. A charged particle with 2ρ < R (ρ = pT / (0.3·|q|·Bz), i.e.
   pT < 0.3·Bz·R/2 ≈ 0.74 GeV) cannot reach the barrel; as in Delphes it spirals to an end face
   (|z| = 3 m) and deposits there, at |η| > 1.5 and often beyond the calorimeters (|η| > 5).
   The calorimeter cell of a particle is that of this exit point (bent φ for charged
   particles); tracks keep the momentum at the vertex.
2. **Charged-hadron / electron / muon tracking efficiency**, with η of the exit point (as
   Delphes' Efficiency module): step functions of pT and |η|, zero beyond |η| = 2.5.
3. **Momentum smearing** of tracks: log-normal in pT with σ(pT)/pT from the card (clipped at 1),
   direction and mass kept.
4. **ECal** then **HCal** (Delphes' SimpleCalorimeter): each particle deposits the card's energy
   fraction of its energy (ECAL: e, γ, π0 all, K0S/Λ 30 %; HCAL: hadrons all, K0S/Λ 70 %; muons
   and neutrinos nothing) in the (η, φ) cell of its exit point. Per cell the summed energy is
   smeared log-normally with the card's σ(E) at the cell centre, and set to zero below
   ``energy_min`` or below ``significance_min``·σ. Tracks whose particle deposits in this
   calorimeter (electrons in the ECAL, charged hadrons in the HCAL) are subtracted: if the
   excess E − ΣE_track is above ``energy_min`` and ``significance_min`` times
   √(Σσ_track² + σ²), it becomes a neutral energy-flow object (ECAL: photon, pid 22; HCAL:
   neutral hadron, pid 130) at a uniformly random point of the cell (Delphes'
   SmearTowerCenter), massless; otherwise the cell's tracks are rescaled to the
   inverse-variance weighted mean of track and calorimeter energy. Other tracks pass through.
5. **EFlowMerger**: energy-flow tracks (charged, with the particle's pid and charge), ECAL
   photons, HCAL neutral hadrons. Untracked charged particles thus appear only through their
   calorimeter deposits, as neutral objects.

Randomness: ``rng`` is drawn in a fixed order whose sizes depend only on the input and the card's
geometry: tracking (one uniform and one normal per charged particle), then the HCAL, then the
ECAL (one normal and two uniforms per cell). Two cards that differ only in ECAL resolution, such
as :meth:`DetectorCard.cms` and :meth:`DetectorCard.flawed`, therefore give identical tracks
(except electrons, which the ECAL may rescale) and identical HCAL objects for the same seed.

Approximations, against Delphes:

- all particles start at the origin (``Particles`` has no production vertices);
- a charged particle that never leaves the field volume (pz = 0 and 2ρ < R) is dropped, where
  Delphes places it at an undefined point;
- φ edges of cells are −π + 2πj/N, the card's lists up to rounding;
- neutral hadrons carry pid 130 (Delphes writes 0); Delphes' random sequence (ROOT gRandom) is
  not reproduced, only its distributions;
- nothing beyond energy flow: no timing, impact parameters, pile-up, isolation or object
  efficiencies (which the fat jets do not use).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..common.particles import NEUTRAL_HADRON_PID, PHOTON_PID, Particles

#: pT in GeV of a unit charge on a circle of 1 m radius in a 1 T field
_GEV_PER_TESLA_METRE = 0.299792458
#: particles with pT² below this (GeV²) are not propagated (Delphes' ParticlePropagator)
_PT2_MIN = 1.0e-9
#: energy fractions at or below this count as zero (Delphes' SimpleCalorimeter)
_FRACTION_MIN = 1.0e-9
#: cell key = eta bin · _PHI_STRIDE + phi bin
_PHI_STRIDE = 4096


@dataclass(frozen=True)
class BinnedEfficiency:
    """A Delphes ``EfficiencyFormula`` made of steps in |η| and pT.

    ``values[i][j]`` applies for ``abs_eta_edges[i-1] < |η| <= abs_eta_edges[i]`` (the first bin
    from 0) and ``pt_edges[j-1] < pT <= pt_edges[j]`` (the first bin from 0, the last to
    infinity); beyond the last |η| edge the efficiency is 0.
    """

    abs_eta_edges: tuple[float, ...]
    pt_edges: tuple[float, ...]
    values: tuple[tuple[float, ...], ...]

    def __call__(self, pt: np.ndarray, abs_eta: np.ndarray) -> np.ndarray:
        eta_edges, pt_edges, table = _efficiency_table(self)
        return table[np.searchsorted(eta_edges, abs_eta), np.searchsorted(pt_edges, pt)]


@dataclass(frozen=True)
class TrackResolution:
    """A Delphes MomentumSmearing ``ResolutionFormula``: σ(pT)/pT = √(constant² + pT²·slope²).

    ``constant[i]`` and ``slope[i]`` (per GeV) apply for ``abs_eta_edges[i-1] < |η| <=
    abs_eta_edges[i]``; the resolution is 0 beyond the last edge and for pT <= ``pt_min`` (the
    card's ``(pt > 0.1)`` factor), and at most 1 (as the MomentumSmearing module clips it).
    """

    abs_eta_edges: tuple[float, ...]
    constant: tuple[float, ...]
    slope: tuple[float, ...]
    pt_min: float

    def __call__(self, pt: np.ndarray, abs_eta: np.ndarray) -> np.ndarray:
        eta_edges, constant, slope = _track_resolution_table(self)
        i = np.searchsorted(eta_edges, abs_eta)
        res = np.sqrt(constant[i] ** 2 + (pt * slope[i]) ** 2)
        return np.where(pt > self.pt_min, np.minimum(res, 1.0), 0.0)


@dataclass(frozen=True)
class ResolutionRegion:
    """One term of a calorimeter ``ResolutionFormula``, for |η| up to ``abs_eta_max``.

    σ(E) = (shape0 + shape2·(|η| − shape_eta0)²) · √(E²·constant² + E·stochastic² + noise²),
    E in GeV, η of the cell centre.
    """

    abs_eta_max: float
    constant: float
    stochastic: float
    noise: float = 0.0
    shape0: float = 1.0
    shape2: float = 0.0
    shape_eta0: float = 0.0


@dataclass(frozen=True)
class Segmentation:
    """Cell edges of a calorimeter, as the union of a card's ``EtaPhiBins`` lists.

    ``eta_edges`` are sorted; the cell ring ``(eta_edges[k-1], eta_edges[k]]`` is divided into
    ``n_phi[k]`` equal φ cells from −π to π (Delphes takes the φ list of the upper η edge, so
    ``n_phi[0]`` is never used). A point at or below the first or beyond the last edge is in no
    cell.
    """

    eta_edges: tuple[float, ...]
    n_phi: tuple[int, ...]

    @classmethod
    def from_rings(cls, rings: Sequence[tuple[Sequence[float], int]]) -> Segmentation:
        """The union of ``(η edges, φ divisions)`` lists, as a card adds them."""
        n_phi_of: dict[float, int] = {}
        for etas, n in rings:
            for eta in etas:
                if n_phi_of.setdefault(float(eta), n) != n:
                    raise ValueError(f"eta edge {eta} has two phi segmentations")
        edges = sorted(n_phi_of)
        return cls(tuple(edges), tuple(n_phi_of[x] for x in edges))


@dataclass(frozen=True)
class Calorimeter:
    """One Delphes SimpleCalorimeter module (the card's ECal or HCal).

    ``segmentation`` None makes every depositing particle its own cell, whose neutral object
    keeps the particle's direction and mass (used by :meth:`DetectorCard.perfect`).
    ``fractions`` maps |PDG id| to the fraction of the energy deposited here, ``default_fraction``
    applies to the other ids.
    """

    segmentation: Segmentation | None
    resolution: tuple[ResolutionRegion, ...]
    energy_min: float
    significance_min: float
    fractions: tuple[tuple[int, float], ...]
    default_fraction: float
    smear_tower_center: bool

    def fraction(self, abs_pid: np.ndarray) -> np.ndarray:
        """The deposited energy fraction of each |PDG id|."""
        dense, keys, values = _fraction_table(self.fractions, self.default_fraction)
        fraction = dense[np.minimum(abs_pid, len(dense) - 1)]
        large = abs_pid >= len(dense) - 1
        if large.any():
            i = np.minimum(np.searchsorted(keys, abs_pid[large]), len(keys) - 1)
            fraction[large] = np.where(keys[i] == abs_pid[large], values[i], self.default_fraction)
        return fraction

    def sigma(self, eta: np.ndarray, energy: np.ndarray) -> np.ndarray:
        """σ(E) in GeV at cell-centre η; 0 beyond the last region."""
        return _sigma(_coefficients(self.resolution, eta), energy)


def _coefficients(regions: tuple[ResolutionRegion, ...], eta: np.ndarray) -> tuple[np.ndarray, ...]:
    """η shape, constant², stochastic² and noise² of a calorimeter resolution at each η."""
    table = _resolution_table(regions)
    abs_eta = np.abs(eta)
    c, s, n, p0, p2, eta0 = table[1:, np.searchsorted(table[0], abs_eta, side="left")]
    return p0 + p2 * (abs_eta - eta0) ** 2, c * c, s * s, n * n


def _sigma(coefficients: tuple[np.ndarray, ...], energy: np.ndarray) -> np.ndarray:
    shape, c2, s2, n2 = coefficients
    return shape * np.sqrt(energy * energy * c2 + energy * s2 + n2)


def _cms_ecal_segmentation() -> Segmentation:
    """ECal ``EtaPhiBins`` of the CMS card: 0.0174 × 1° to |η| 2.958, 10° in φ in the HF."""
    barrel = [i * 0.0174 for i in range(-85, 87)]
    endcaps = [-2.958 + i * 0.0174 for i in range(1, 85)]
    endcaps += [1.4964 + i * 0.0174 for i in range(1, 85)]
    hf = [-5, -4.7, -4.525, -4.35, -4.175, -4, -3.825, -3.65, -3.475, -3.3, -3.125, -2.958,
          3.125, 3.3, 3.475, 3.65, 3.825, 4, 4.175, 4.35, 4.525, 4.7, 5]
    return Segmentation.from_rings([(barrel, 360), (endcaps, 360), (hf, 36)])


def _cms_hcal_segmentation() -> Segmentation:
    """HCal ``EtaPhiBins`` of the CMS card: 0.087 × 5° to |η| 1.6, 10° further, 20° at the ends."""
    five = [round(i * 0.087, 3) for i in range(-18, 20)]
    ten = [-4.35, -4.175, -4, -3.825, -3.65, -3.475, -3.3, -3.125, -2.95, -2.868, -2.65, -2.5,
           -2.322, -2.172, -2.043, -1.93, -1.83, -1.74, -1.653, 1.74, 1.83, 1.93, 2.043, 2.172,
           2.322, 2.5, 2.65, 2.868, 2.95, 3.125, 3.3, 3.475, 3.65, 3.825, 4, 4.175, 4.35, 4.525]
    twenty = [-5, -4.7, -4.525, 4.7, 5]
    return Segmentation.from_rings([(five, 72), (ten, 36), (twenty, 18)])


_INVISIBLE = ((12, 0.0), (13, 0.0), (14, 0.0), (16, 0.0), (1000022, 0.0), (1000023, 0.0),
              (1000025, 0.0), (1000035, 0.0), (1000045, 0.0))


@dataclass(frozen=True)
class DetectorCard:
    """Every number of the detector chain; :meth:`cms` is Delphes' CMS card.

    Each field holds one module of ``delphes_card_CMS.tcl``; change one with
    :func:`dataclasses.replace` to make a variant card.
    """

    #: ParticlePropagator ``Radius`` (m), ``HalfLength`` (m) and ``Bz`` (T)
    radius: float
    half_length: float
    bz: float
    #: ChargedHadron-, Electron- and MuonTrackingEfficiency: charged particles of |pid| 11 are
    #: electrons, 13 muons, all others charged hadrons (as ParticlePropagator sorts them)
    charged_hadron_efficiency: BinnedEfficiency
    electron_efficiency: BinnedEfficiency
    muon_efficiency: BinnedEfficiency
    #: ChargedHadron-, Electron- and MuonMomentumSmearing: σ(pT)/pT of the same classes
    charged_hadron_resolution: TrackResolution
    electron_resolution: TrackResolution
    muon_resolution: TrackResolution
    #: the ECal module (neutral objects are photons) and the HCal module (neutral hadrons)
    ecal: Calorimeter
    hcal: Calorimeter

    @classmethod
    def cms(cls) -> DetectorCard:
        """Delphes' ``delphes_card_CMS.tcl`` (3.5): the fullsim of the jets data set.

        Tracking efficiencies and σ(pT)/pT per the card's ChargedHadron/Electron/Muon
        TrackingEfficiency and MomentumSmearing modules (charged hadrons as in the card).
        ECAL σ(E): (1 + 0.64η²)·√(E²·0.008² + E·0.11² + 0.40²) to |η| 1.5, (2.16 +
        5.6(|η|−2)²)·√(…) to 2.5, √(E²·0.107² + E·2.08²) to 5; E_min 0.5 GeV, significance 2.
        HCAL σ(E): √(E²·0.050² + E·1.50²) to |η| 3, √(E²·0.130² + E·2.70²) to 5; E_min 1 GeV,
        significance 1. Both smear the tower centre.
        """
        central_forward = (1.5, 2.5)
        tracking_eta = (0.5, 1.5, 2.5)
        ecal = Calorimeter(
            segmentation=_cms_ecal_segmentation(),
            resolution=(
                ResolutionRegion(1.5, 0.008, 0.11, 0.40, shape0=1.0, shape2=0.64),
                ResolutionRegion(2.5, 0.008, 0.11, 0.40, shape0=2.16, shape2=5.6, shape_eta0=2.0),
                ResolutionRegion(5.0, 0.107, 2.08),
            ),
            energy_min=0.5,
            significance_min=2.0,
            fractions=((11, 1.0), (22, 1.0), (111, 1.0), *_INVISIBLE, (310, 0.3), (3122, 0.3)),
            default_fraction=0.0,
            smear_tower_center=True,
        )
        hcal = Calorimeter(
            segmentation=_cms_hcal_segmentation(),
            resolution=(ResolutionRegion(3.0, 0.050, 1.50), ResolutionRegion(5.0, 0.130, 2.70)),
            energy_min=1.0,
            significance_min=1.0,
            fractions=((11, 0.0), (22, 0.0), (111, 0.0), *_INVISIBLE, (310, 0.7), (3122, 0.7)),
            default_fraction=1.0,
            smear_tower_center=True,
        )
        return cls(
            radius=1.29,
            half_length=3.0,
            bz=3.8,
            charged_hadron_efficiency=BinnedEfficiency(
                central_forward, (0.1, 1.0), ((0.0, 0.70, 0.95), (0.0, 0.60, 0.85))),
            electron_efficiency=BinnedEfficiency(
                central_forward, (0.1, 1.0, 100.0),
                ((0.0, 0.73, 0.95, 0.99), (0.0, 0.50, 0.83, 0.90))),
            muon_efficiency=BinnedEfficiency(
                central_forward, (0.1, 1.0), ((0.0, 0.75, 0.99), (0.0, 0.70, 0.98))),
            charged_hadron_resolution=TrackResolution(
                tracking_eta, (0.06, 0.10, 0.25), (1.3e-3, 1.7e-3, 3.1e-3), 0.1),
            electron_resolution=TrackResolution(
                tracking_eta, (0.03, 0.05, 0.15), (1.3e-3, 1.7e-3, 3.1e-3), 0.1),
            muon_resolution=TrackResolution(
                tracking_eta, (0.01, 0.015, 0.025), (1.0e-4, 1.5e-4, 3.5e-4), 0.1),
            ecal=ecal,
            hcal=hcal,
        )

    @classmethod
    def flawed(cls) -> DetectorCard:
        """The CMS card with σ(E)/E = 1 % in the whole ECAL: the fastsim (paper Sec. 4).

        The significance cut (2σ) then never removes an ECAL cell; E_min 0.5 GeV still does.
        """
        cms = cls.cms()
        return replace(cms, ecal=replace(cms.ecal, resolution=(ResolutionRegion(5.0, 0.01, 0.0),)))

    @classmethod
    def perfect(cls) -> DetectorCard:
        """No losses, no smearing, no cells, no thresholds, no field: eflow == visible input.

        Every charged particle is tracked at its GEN momentum, every neutral one is an object
        of its own with its GEN four-vector (pid 22 from the ECAL, 130 from the HCAL); K0S and
        Λ go wholly to the HCAL. Neutrinos (and the card's other invisible ids) are dropped, as
        are particles with pT² < 1e-9 GeV².
        """
        cms = cls.cms()
        everywhere = BinnedEfficiency((math.inf,), (), ((1.0,),))
        exact = TrackResolution((math.inf,), (0.0,), (0.0,), 0.0)
        ideal = dict(segmentation=None, resolution=(ResolutionRegion(math.inf, 0.0, 0.0),),
                     energy_min=0.0, significance_min=0.0, smear_tower_center=False)
        no_k0s, whole_k0s = ((310, 0.0), (3122, 0.0)), ((310, 1.0), (3122, 1.0))
        return replace(
            cms,
            bz=0.0,
            charged_hadron_efficiency=everywhere,
            electron_efficiency=everywhere,
            muon_efficiency=everywhere,
            charged_hadron_resolution=exact,
            electron_resolution=exact,
            muon_resolution=exact,
            ecal=replace(cms.ecal, fractions=cms.ecal.fractions[:-2] + no_k0s, **ideal),
            hcal=replace(cms.hcal, fractions=cms.hcal.fractions[:-2] + whole_k0s, **ideal),
        )


@functools.lru_cache(maxsize=32)
def _efficiency_table(efficiency: BinnedEfficiency) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """|η| edges, pT edges and the values with a row of zeros beyond the last |η| edge."""
    table = np.zeros((len(efficiency.abs_eta_edges) + 1, len(efficiency.pt_edges) + 1))
    table[:-1] = efficiency.values
    return (np.asarray(efficiency.abs_eta_edges, float), np.asarray(efficiency.pt_edges, float),
            table)


@functools.lru_cache(maxsize=32)
def _track_resolution_table(resolution: TrackResolution) -> tuple[np.ndarray, ...]:
    """|η| edges, constants and slopes, with zeros appended for |η| beyond the last edge."""
    return (np.asarray(resolution.abs_eta_edges, float),
            np.append(np.asarray(resolution.constant, float), 0.0),
            np.append(np.asarray(resolution.slope, float), 0.0))


@functools.lru_cache(maxsize=32)
def _fraction_table(fractions: tuple[tuple[int, float], ...], default: float):
    """A dense table of the fractions of |PDG id| below 10 000, and the sorted (id, fraction)
    pairs for the others."""
    dense = np.full(10_000, default)
    pairs = sorted(fractions)
    for pid, fraction in pairs:
        if pid < len(dense) - 1:
            dense[pid] = fraction
    keys = np.array([p for p, _ in pairs] or [-1], np.int64)
    return dense, keys, np.array([f for _, f in pairs] or [default], float)


@functools.lru_cache(maxsize=32)
def _resolution_table(regions: tuple[ResolutionRegion, ...]) -> np.ndarray:
    """Rows abs_eta_max, constant, stochastic, noise, shape0, shape2, shape_eta0; a zero column
    is appended for |η| beyond the last region."""
    table = np.zeros((7, len(regions) + 1))
    for k, r in enumerate(regions):
        table[:, k] = (r.abs_eta_max, r.constant, r.stochastic, r.noise, r.shape0, r.shape2,
                       r.shape_eta0)
    table[0, -1] = math.inf
    return table


@functools.lru_cache(maxsize=8)
def _segmentation_arrays(segmentation: Segmentation) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(segmentation.eta_edges, float), np.asarray(segmentation.n_phi, np.int64)


def _lognormal_factor(rel_sigma: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Factors with mean 1 and standard deviation ``rel_sigma`` (Delphes' LogNormal)."""
    b = np.sqrt(np.log1p(rel_sigma * rel_sigma))
    return np.exp(b * normal - 0.5 * b * b)


def _propagate(px, py, pz, pt, charge, card: DetectorCard):
    """η and φ of the point where each particle leaves the field cylinder, and whether it does.

    A charged particle turns by α on its circle of radius ρ (in the transverse plane); its
    position is then the chord 2ρ·sin(α/2) in direction φ0 − sign(q·Bz)·α/2, at z = (pz/pT)·ρ·α.
    It leaves at the smaller of the α reaching r = R (if 2ρ >= R) and the α reaching |z| = L.
    """
    reached = pt * pt >= _PT2_MIN
    safe_pt = np.where(reached, pt, 1.0)
    phi = np.arctan2(py, px)
    eta = np.arcsinh(pz / safe_pt)
    bent = reached & (charge != 0) & (abs(card.bz) > 1e-9)
    if not bent.any():
        return eta, phi, reached
    q = charge[bent].astype(float)
    pt_b, pz_b, phi0 = pt[bent], pz[bent], phi[bent]
    rho = pt_b / (_GEV_PER_TESLA_METRE * np.abs(q) * abs(card.bz))
    sin_half_alpha_r = card.radius / (2.0 * rho)
    with np.errstate(divide="ignore"):
        alpha_r = np.where(sin_half_alpha_r <= 1.0,
                           2.0 * np.arcsin(np.minimum(sin_half_alpha_r, 1.0)), np.inf)
        alpha_z = card.half_length * pt_b / (np.abs(pz_b) * rho)
    alpha = np.minimum(alpha_r, alpha_z)
    leaves = np.isfinite(alpha)
    alpha = np.where(leaves, alpha, 0.0)
    chord = 2.0 * rho * np.sin(0.5 * alpha)
    leaves &= chord != 0
    direction = phi0 - np.sign(q * card.bz) * 0.5 * alpha + np.where(chord < 0, np.pi, 0.0)
    z = pz_b / pt_b * rho * alpha
    eta[bent] = np.arcsinh(z / np.where(leaves, np.abs(chord), 1.0))
    phi[bent] = np.mod(direction + np.pi, 2.0 * np.pi) - np.pi
    reached[bent] = leaves
    return eta, phi, reached


def _track_response(card: DetectorCard, abs_pid, pt, abs_eta):
    """Tracking efficiency and σ(pT)/pT of each charged particle, by its class."""
    electron, muon = abs_pid == 11, abs_pid == 13
    hadron = ~(electron | muon)
    eff, res = np.zeros(len(pt)), np.zeros(len(pt))
    for mask, efficiency, resolution in (
        (hadron, card.charged_hadron_efficiency, card.charged_hadron_resolution),
        (electron, card.electron_efficiency, card.electron_resolution),
        (muon, card.muon_efficiency, card.muon_resolution),
    ):
        if mask.any():
            eff[mask] = efficiency(pt[mask], abs_eta[mask])
            res[mask] = resolution(pt[mask], abs_eta[mask])
    return eff, res


@dataclass(frozen=True)
class _Cells:
    """Where each (propagated) particle falls in one calorimeter, and its towers."""

    key: np.ndarray              # cell key of each particle
    in_bins: np.ndarray          # whether its exit point lies in a cell
    fraction: np.ndarray         # its energy fraction deposited here
    keys: np.ndarray             # sorted keys of the cells with deposits (the towers)
    energy: np.ndarray           # true deposited energy per tower
    eta_lo: np.ndarray | None    # tower edges; None without segmentation
    eta_hi: np.ndarray | None
    phi_lo: np.ndarray | None
    phi_hi: np.ndarray | None


def _cells(calo: Calorimeter, eta, phi, abs_pid, energy) -> _Cells:
    n = len(eta)
    fraction = calo.fraction(abs_pid)
    if calo.segmentation is None:
        key, in_bins = np.arange(n, dtype=np.int64), np.ones(n, bool)
    else:
        edges, n_phi = _segmentation_arrays(calo.segmentation)
        k = np.searchsorted(edges, eta, side="left")
        in_bins = (k > 0) & (k < len(edges))
        k = np.maximum(np.minimum(k, len(edges) - 1), 1)
        j = np.ceil((phi + np.pi) * n_phi[k] / (2.0 * np.pi)).astype(np.int64)
        in_bins &= (j >= 1) & (j <= n_phi[k])
        key = k * _PHI_STRIDE + j
    deposits = in_bins & (fraction > _FRACTION_MIN)
    keys, inverse = np.unique(key[deposits], return_inverse=True)
    tower_energy = np.bincount(inverse, (fraction * energy)[deposits], minlength=len(keys))
    if calo.segmentation is None:
        return _Cells(key, in_bins, fraction, keys, tower_energy, None, None, None, None)
    k, j = keys // _PHI_STRIDE, keys % _PHI_STRIDE
    dphi = 2.0 * np.pi / n_phi[k]
    return _Cells(key, in_bins, fraction, keys, tower_energy, edges[k - 1], edges[k],
                  -np.pi + (j - 1) * dphi, -np.pi + j * dphi)


def _calorimeter(calo: Calorimeter, cells: _Cells, normal, uniform, momenta, track, scale,
                 track_res):
    """SimpleCalorimeter's towers and energy flow.

    ``momenta`` = (px, py, pz, e) of the particles, ``track`` the particle index of each track,
    ``scale`` its momentum scale (measured / GEN), ``track_res`` its σ(pT)/pT. Returns the new
    scales and the (px, py, pz, e) of the neutral energy-flow objects.
    """
    px, py, pz, e = momenta
    n_towers = len(cells.keys)
    if cells.eta_lo is None:
        eta_c = np.arcsinh(pz / np.hypot(px, py))[cells.keys]
    else:
        eta_c = 0.5 * (cells.eta_lo + cells.eta_hi)
    coefficients = _coefficients(calo.resolution, eta_c)

    p2 = (px * px + py * py + pz * pz)[track]
    track_e = np.sqrt(np.maximum(e[track] ** 2 + (scale * scale - 1.0) * p2, 0.0))
    fraction = cells.fraction[track]
    inside = fraction > _FRACTION_MIN
    t_tower = np.searchsorted(cells.keys, cells.key[track[inside]])
    t_e, t_f, t_res = track_e[inside], fraction[inside], track_res[inside]
    track_energy = np.bincount(t_tower, t_f * t_e, minlength=n_towers)
    # Delphes' energyGuess: a track's σ uses its deposited energy where the calorimeter would
    # measure that energy better than the tracker
    calo_sigma = _sigma(tuple(c[t_tower] for c in coefficients), t_e)
    guess = np.where(calo_sigma < t_res * t_e, t_f * t_e, t_e)
    track_var = np.bincount(t_tower, (t_res * guess) ** 2, minlength=n_towers)

    true_e = cells.energy
    positive = true_e > 0
    safe_e = np.where(positive, true_e, 1.0)
    energy = np.where(positive, true_e * _lognormal_factor(
        _sigma(coefficients, true_e) / safe_e, normal), 0.0)
    sigma = _sigma(coefficients, energy)  # at the measured energy, kept for cells then zeroed
    energy = np.where((energy < calo.energy_min) | (energy < calo.significance_min * sigma),
                      0.0, energy)

    neutral = np.maximum(energy - track_energy, 0.0)
    significant = (neutral > calo.energy_min) & (
        neutral > calo.significance_min * np.sqrt(track_var + sigma * sigma))
    combine = ~significant & (track_energy > 0)
    with np.errstate(divide="ignore"):
        w_track = np.where(track_var > 0, 1.0 / track_var, 0.0)
        w_calo = np.where(sigma > 0, 1.0 / (sigma * sigma), 0.0)
    weight = w_track + w_calo
    rescale = np.ones(n_towers)
    both = combine & (weight > 0)
    rescale[both] = ((w_track * track_energy + w_calo * energy)[both] / weight[both]
                     / track_energy[both])
    scale = scale.copy()
    scale[inside] *= rescale[t_tower]

    e_n = neutral[significant]
    if cells.eta_lo is None:
        particle = cells.keys[significant]
        ratio = e_n / e[particle]
        objects = (px[particle] * ratio, py[particle] * ratio, pz[particle] * ratio, e_n)
    else:
        if calo.smear_tower_center:
            eta_n = cells.eta_lo + uniform[:n_towers] * (cells.eta_hi - cells.eta_lo)
            phi_n = cells.phi_lo + uniform[n_towers:] * (cells.phi_hi - cells.phi_lo)
        else:
            eta_n = eta_c
            phi_n = 0.5 * (cells.phi_lo + cells.phi_hi)
        eta_n, phi_n = eta_n[significant], phi_n[significant]
        pt_n = e_n / np.cosh(eta_n)
        objects = (pt_n * np.cos(phi_n), pt_n * np.sin(phi_n), pt_n * np.sinh(eta_n), e_n)
    return scale, objects


def _draw(rng: np.random.Generator, calo: Calorimeter, cells: _Cells):
    n = len(cells.keys)
    normal = rng.standard_normal(n)
    smear = calo.smear_tower_center and calo.segmentation is not None
    uniform = rng.random(2 * n) if smear else None
    return normal, uniform


def simulate(particles: Particles, card: DetectorCard, rng: np.random.Generator) -> Particles:
    """The energy-flow objects of one event's stable GEN particles (see the module docstring).

    Returns the energy-flow tracks (pid and charge of their particle, momentum smeared), then the
    ECAL photons (pid 22), then the HCAL neutral hadrons (pid 130), both with charge 0.
    """
    px, py, pz, e = (np.asarray(getattr(particles, c), dtype=np.float64)
                     for c in ("px", "py", "pz", "e"))
    pid = np.asarray(particles.pid, dtype=np.int32)
    charge = np.asarray(particles.charge, dtype=np.int8)
    pt = np.hypot(px, py)
    eta, phi, reached = _propagate(px, py, pz, pt, charge, card)
    if not reached.all():
        px, py, pz, e, pt, eta, phi, pid, charge = (
            a[reached] for a in (px, py, pz, e, pt, eta, phi, pid, charge))
    abs_pid = np.abs(pid)

    charged = np.flatnonzero(charge != 0)
    uniform = rng.random(len(charged))
    normal = rng.standard_normal(len(charged))
    eff, res = _track_response(card, abs_pid[charged], pt[charged], np.abs(eta[charged]))
    tracked = uniform < eff
    track, track_res = charged[tracked], res[tracked]
    scale = _lognormal_factor(track_res, normal[tracked])

    ecal = _cells(card.ecal, eta, phi, abs_pid, e)
    hcal = _cells(card.hcal, eta, phi, abs_pid, e)
    hits = ecal.in_bins[track] & hcal.in_bins[track]
    track, track_res, scale = track[hits], track_res[hits], scale[hits]

    hcal_random = _draw(rng, card.hcal, hcal)
    ecal_random = _draw(rng, card.ecal, ecal)
    momenta = (px, py, pz, e)
    scale, photons = _calorimeter(card.ecal, ecal, *ecal_random, momenta, track, scale, track_res)
    scale, hadrons = _calorimeter(card.hcal, hcal, *hcal_random, momenta, track, scale, track_res)

    p2 = px[track] ** 2 + py[track] ** 2 + pz[track] ** 2
    tracks = (px[track] * scale, py[track] * scale, pz[track] * scale,
              np.sqrt(np.maximum(e[track] ** 2 + (scale * scale - 1.0) * p2, 0.0)))
    n_photons, n_hadrons = len(photons[0]), len(hadrons[0])
    return Particles(
        *(np.concatenate(columns) for columns in zip(tracks, photons, hadrons, strict=True)),
        np.concatenate([pid[track], np.full(n_photons, PHOTON_PID, np.int32),
                        np.full(n_hadrons, NEUTRAL_HADRON_PID, np.int32)]).astype(np.int32),
        np.concatenate([charge[track], np.zeros(n_photons + n_hadrons, np.int8)]).astype(np.int8),
    )
