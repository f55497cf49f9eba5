"""The Delphes CMS card emulation (tasks/jets/detector.py) against the card's numbers."""

from dataclasses import replace

import numpy as np
import pytest

from perfekt_bench_tasks.common.particles import NEUTRAL_HADRON_PID, PHOTON_PID, Particles
from perfekt_bench_tasks.jets.detector import BinnedEfficiency, DetectorCard, simulate

MASS = {211: 0.13957, 321: 0.49368, 130: 0.49761, 2112: 0.93957, 2212: 0.93827, 22: 0.0,
        11: 0.000511, 13: 0.10566, 12: 0.0}
CHARGE = {211: 1, 321: 1, 2212: 1, 11: -1, 13: -1}


def _particles(pid, pt, eta, phi) -> Particles:
    """Particles of the given PDG ids (sign gives the charge sign of charged species)."""
    pid = np.asarray(pid)
    mass = np.array([MASS[abs(p)] for p in pid])
    charge = np.array([np.sign(p) * CHARGE.get(abs(p), 0) for p in pid])
    n = len(pid)
    pt, eta, phi = (np.broadcast_to(np.asarray(a, float), (n,)) for a in (pt, eta, phi))
    return Particles.from_pt_eta_phi_m(pt, eta, phi, mass, pid, charge)


def _event(seed: int) -> Particles:
    """A PYTHIA-like tt̄ event: two collimated 400 GeV jets and ~400 soft particles to |η| 6."""
    rng = np.random.default_rng(seed)
    species = np.array([211, -211, 22, 321, -321, 130, 2112, 2212, -2212, 11, -11, 13, -13])
    weights = np.array([22, 22, 30, 4, 4, 5, 4, 2, 2, 1, 1, 1, 1], float)
    n_soft, n_jet = 400, 40
    pid = rng.choice(species, n_soft + 2 * n_jet, p=weights / weights.sum())
    pt = rng.exponential(0.8, n_soft) + 0.05
    eta = rng.uniform(-6.0, 6.0, n_soft)
    phi = rng.uniform(-np.pi, np.pi, n_soft)
    for axis_eta, axis_phi in ((0.4, 1.0), (-1.1, -2.0)):
        z = rng.dirichlet(np.full(n_jet, 0.3))
        pt = np.append(pt, 400.0 * z)
        eta = np.append(eta, axis_eta + rng.normal(0, 0.08, n_jet))
        phi = np.append(phi, axis_phi + rng.normal(0, 0.08, n_jet))
    return _particles(pid, pt, eta, phi)


def _rows(p: Particles) -> np.ndarray:
    """Four-vectors as rows, sorted, for order-free comparison."""
    rows = np.stack([p.px, p.py, p.pz, p.e], axis=1)
    return rows[np.lexsort(rows.T[::-1])]


def _ring(pid, energy, eta, n_phi) -> Particles:
    """Particles of one energy at fixed η, one per φ cell of an n_phi segmentation."""
    phi = -np.pi + (np.arange(n_phi) + 0.5) * 2 * np.pi / n_phi
    mass = MASS[abs(pid)]
    pt = np.sqrt(energy**2 - mass**2) / np.cosh(eta)
    return _particles(np.full(n_phi, pid), pt, eta, phi)


def test_perfect_card_returns_the_visible_input_exactly():
    event = _event(1)
    neutrinos = _particles([12, 12], [30.0, 5.0], [0.3, -2.0], [0.1, 2.0])
    eflow = simulate(Particles.concat([event, neutrinos]), DetectorCard.perfect(),
                     np.random.default_rng(0))
    assert len(eflow) == len(event)
    np.testing.assert_array_equal(_rows(eflow), _rows(event))
    charged = eflow.charge != 0
    assert sorted(zip(eflow.pid[charged], eflow.charge[charged], strict=True)) == sorted(
        zip(event.pid[event.charge != 0], event.charge[event.charge != 0], strict=True))


@pytest.mark.parametrize(
    ("pid", "pt", "eta", "expected"),
    [
        (211, 0.9, 0.3, 0.70),   # reaches the barrel: 2ρ = 1.58 m > R
        (211, 5.0, 0.3, 0.95),
        (211, 0.9, 2.0, 0.60),
        (-211, 5.0, 2.0, 0.85),
        (211, 20.0, 2.7, 0.0),   # beyond the tracker
        (211, 0.09, 1.0, 0.0),   # pT <= 0.1 GeV
        (11, 150.0, 0.3, 0.99),  # electrons above 100 GeV
        (13, 5.0, 2.0, 0.98),
    ],
)
def test_tracking_efficiency_matches_the_card(pid, pt, eta, expected):
    n = 20000
    rng = np.random.default_rng(11)
    pions = _particles(np.full(n, pid), pt, eta, rng.uniform(-np.pi, np.pi, n))
    eflow = simulate(pions, DetectorCard.cms(), np.random.default_rng(12))
    tracks = eflow.charge != 0
    assert np.all(eflow.pid[tracks] == pid)
    efficiency = tracks.sum() / n
    assert abs(efficiency - expected) <= 4 * np.sqrt(expected * (1 - expected) / n) + 1e-12


@pytest.mark.parametrize(
    ("pt", "eta", "constant", "slope"),
    [(10.0, 0.2, 0.06, 1.3e-3), (100.0, 1.0, 0.10, 1.7e-3), (50.0, 2.0, 0.25, 3.1e-3)],
)
def test_charged_pion_pt_resolution_matches_the_card(pt, eta, constant, slope):
    cms = DetectorCard.cms()
    # without HCAL deposits the tracks are not combined with the calorimeter
    tracker_only = replace(cms, hcal=replace(cms.hcal, default_fraction=0.0))
    n = 20000
    phi = np.random.default_rng(21).uniform(-np.pi, np.pi, n)
    pions = _particles(np.full(n, 211), pt, eta, phi)
    eflow = simulate(pions, tracker_only, np.random.default_rng(22))
    assert np.all(eflow.charge == 1)
    ratio = eflow.pt / pt
    expected = np.sqrt(constant**2 + (pt * slope) ** 2)
    assert np.std(ratio) == pytest.approx(expected, rel=0.03)
    assert abs(np.mean(ratio) - 1.0) < 4 * expected / np.sqrt(len(ratio))
    # direction and mass at the vertex are kept
    np.testing.assert_allclose(eflow.eta, eta, atol=1e-9)
    np.testing.assert_allclose(eflow.mass, MASS[211], rtol=1e-5)


def test_charged_hadron_tracks_are_combined_with_the_hcal():
    """Delphes' SimpleCalorimeter: without a significant neutral excess in the cell, the track
    is rescaled to the inverse-variance mean of track and HCAL energy, which beats the tracker
    at high pT; the cell's total energy flow (track + neutral excess) stays unbiased."""
    energy, eta = 200.0, 0.5655  # one pion per HCAL cell of the ring (0.522, 0.609]
    pt = energy / np.cosh(eta)
    tracker = np.sqrt(0.10**2 + (pt * 1.7e-3) ** 2)
    ring = _ring(211, energy, eta, 72)
    rng = np.random.default_rng(71)
    track_ratio, total_ratio = [], []
    for _ in range(100):
        eflow = simulate(ring, DetectorCard.cms(), rng)
        track_ratio.append(eflow.e[eflow.charge != 0] / energy)
        total_ratio.append(eflow.e.sum() / (energy * len(ring)))
    assert np.std(np.concatenate(track_ratio)) < 0.75 * tracker
    assert np.mean(total_ratio) == pytest.approx(1.0, abs=0.02)


def _resolution(card: DetectorCard, pid: int, energy: float, eta: float, n_phi: int,
                out_pid: int, n: int = 40000) -> tuple[float, float]:
    """Mean and standard deviation of E_reco/E of single particles, one per cell."""
    ring = Particles.concat([_ring(pid, energy, eta, n_phi), _ring(pid, energy, -eta, n_phi)])
    rng = np.random.default_rng(31)
    measured = []
    while len(measured) * len(ring) < n:
        eflow = simulate(ring, card, rng)
        assert np.all(eflow.pid == out_pid)
        assert len(eflow) == len(ring)
        measured.append(eflow.e / energy)
    ratio = np.concatenate(measured)
    return float(np.mean(ratio)), float(np.std(ratio))


def test_ecal_resolution_of_photons_is_the_card_formula_and_one_percent_when_flawed():
    energy, eta = 50.0, 0.0087  # centres of the two ECAL rings next to η = 0
    expected = (1 + 0.64 * eta**2) * np.sqrt(energy**2 * 0.008**2 + energy * 0.11**2 + 0.40**2)
    mean, std = _resolution(DetectorCard.cms(), 22, energy, eta, 360, PHOTON_PID)
    assert std == pytest.approx(expected / energy, rel=0.02)
    assert abs(mean - 1) < 4 * std / np.sqrt(40000)
    mean, std = _resolution(DetectorCard.flawed(), 22, energy, eta, 360, PHOTON_PID)
    assert std == pytest.approx(0.01, rel=0.02)
    assert abs(mean - 1) < 4 * std / np.sqrt(40000)


def test_hcal_resolution_of_neutral_hadrons_is_the_card_formula_in_both_cards():
    energy, eta = 50.0, 0.0435  # centres of the two HCAL rings next to η = 0
    expected = np.sqrt(energy**2 * 0.050**2 + energy * 1.50**2) / energy
    for card in (DetectorCard.cms(), DetectorCard.flawed()):
        mean, std = _resolution(card, 130, energy, eta, 72, NEUTRAL_HADRON_PID)
        assert std == pytest.approx(expected, rel=0.02)
        assert abs(mean - 1) < 4 * std / np.sqrt(40000)


@pytest.mark.parametrize("seed", range(5))
def test_acceptance(seed):
    rng = np.random.default_rng(seed)
    cms = DetectorCard.cms()
    lost = _particles([22, 211, 130, 13], [50.0, 20.0, 20.0, 20.0], [5.3, 6.0, -5.2, 2.7],
                      [0.1, 1.0, 2.0, -1.0])
    assert len(simulate(lost, cms, rng)) == 0
    # beyond the tracker a charged pion is seen by the HCAL only, as a neutral object
    forward = simulate(_particles([211], [20.0], [2.8], [0.5]), cms, rng)
    assert forward.pid.tolist() == [NEUTRAL_HADRON_PID] and forward.charge.tolist() == [0]
    assert forward.eta[0] == pytest.approx(2.8, abs=0.2)
    hf = simulate(_particles([22], [20.0], [4.9], [0.5]), cms, rng)
    assert hf.pid.tolist() == [PHOTON_PID]


def test_two_photons_in_one_ecal_cell_merge_and_in_different_cells_do_not():
    cms, rng = DetectorCard.cms(), np.random.default_rng(41)
    cell_eta, cell_phi = (0.0, 0.0174), (0.0, np.pi / 180)
    for _ in range(20):
        same = simulate(_particles([22, 22], [20.0, 30.0], [0.004, 0.012], [0.003, 0.014]),
                        cms, rng)
        assert len(same) == 1
        assert same.e[0] == pytest.approx(50.0, abs=5 * 1.0)
        assert cell_eta[0] <= same.eta[0] <= cell_eta[1]
        assert cell_phi[0] <= same.phi[0] <= cell_phi[1]
        apart = simulate(_particles([22, 22], [20.0, 30.0], [0.004, 0.004], [0.003, 0.06]),
                         cms, rng)
        assert sorted(np.round(apart.e, -1)) == [20.0, 30.0]


def test_visible_transverse_momentum_is_conserved_within_resolution():
    cms, rng = DetectorCard.cms(), np.random.default_rng(51)
    gen_sum, reco_sum, jet_ratio = [], [], []
    for seed in range(10):
        event = _event(seed)
        eflow = simulate(event, cms, rng)
        gen_sum.append(event.pt[np.abs(event.eta) < 2.5].sum())
        reco_sum.append(eflow.pt[np.abs(eflow.eta) < 2.5].sum())
        for axis_eta, axis_phi in ((0.4, 1.0), (-1.1, -2.0)):
            def jet_e(p, axis_eta=axis_eta, axis_phi=axis_phi):
                dphi = np.angle(np.exp(1j * (p.phi - axis_phi)))
                return p.e[np.hypot(p.eta - axis_eta, dphi) < 0.6].sum()
            jet_ratio.append(jet_e(eflow) / jet_e(event))
    assert np.sum(reco_sum) / np.sum(gen_sum) == pytest.approx(1.0, abs=0.04)
    # the jets' energy is measured without bias and with a resolution of a few per cent
    assert np.mean(jet_ratio) == pytest.approx(1.0, abs=0.03)
    assert 0.005 < np.std(jet_ratio) < 0.08


def test_muons_make_tracks_but_no_calorimeter_deposits():
    n = 300
    phi = np.linspace(-np.pi, np.pi, n, endpoint=False)
    muons = _particles(np.where(np.arange(n) % 2, 13, -13), 50.0, 0.5, phi)
    for card in (DetectorCard.cms(), DetectorCard.flawed()):
        eflow = simulate(muons, card, np.random.default_rng(61))
        assert np.all(eflow.charge != 0)
        assert np.all(np.abs(eflow.pid) == 13)
        assert len(eflow) >= 0.95 * n


def test_the_same_seed_gives_the_same_response_and_other_seeds_another():
    event, cms = _event(3), DetectorCard.cms()
    first = simulate(event, cms, np.random.default_rng(7))
    again = simulate(event, cms, np.random.default_rng(7))
    other = simulate(event, cms, np.random.default_rng(8))
    for column in ("px", "py", "pz", "e", "pid", "charge"):
        np.testing.assert_array_equal(getattr(first, column), getattr(again, column))
    assert len(first) != len(other) or not np.array_equal(first.e, other.e)


def test_flawed_and_cms_differ_only_in_ecal_objects_for_the_same_seed():
    event = _event(4)
    full = simulate(event, DetectorCard.cms(), np.random.default_rng(9))
    fast = simulate(event, DetectorCard.flawed(), np.random.default_rng(9))

    def select(p, mask):
        return np.stack([getattr(p, c)[mask] for c in ("px", "py", "pz", "e", "pid", "charge")])

    # tracks other than electrons (which the ECAL may rescale) and HCAL objects are identical
    for keep in (lambda p: (p.charge != 0) & (np.abs(p.pid) != 11),
                 lambda p: p.pid == NEUTRAL_HADRON_PID):
        np.testing.assert_array_equal(select(full, keep(full)), select(fast, keep(fast)))
    assert np.sum(np.abs(full.pid) == 11) == np.sum(np.abs(fast.pid) == 11)
    full_photons, fast_photons = full.e[full.pid == PHOTON_PID], fast.e[fast.pid == PHOTON_PID]
    assert len(full_photons) > 10
    assert len(full_photons) != len(fast_photons) or not np.allclose(full_photons, fast_photons)


@pytest.mark.parametrize("seed", range(5))
def test_charged_particles_are_bent_to_the_calorimeter_but_tracks_keep_the_vertex_phi(seed):
    cms, rng = DetectorCard.cms(), np.random.default_rng(seed)
    untracked = replace(cms, charged_hadron_efficiency=BinnedEfficiency((2.5,), (), ((0.0,),)))
    five_degrees = np.pi / 36
    # pT 10 GeV: ρ = 8.78 m, bent by arcsin(R/2ρ) = 0.074 rad at R, across a 5° cell edge
    plus, minus, photon = (
        simulate(_particles([pid], [10.0], [0.0], [0.02]), untracked, rng)
        for pid in (211, -211, 22))
    assert plus.pid.tolist() == [NEUTRAL_HADRON_PID] and -five_degrees < plus.phi[0] < 0
    assert minus.pid.tolist() == [NEUTRAL_HADRON_PID]
    assert five_degrees < minus.phi[0] < 2 * five_degrees
    assert photon.pid.tolist() == [PHOTON_PID] and np.pi / 180 < photon.phi[0] < np.pi / 90
    tracked = simulate(_particles([211] * 50, [10.0], [0.0], [0.02]), cms, rng)
    assert np.allclose(tracked.phi[tracked.charge != 0], 0.02, atol=1e-12)
