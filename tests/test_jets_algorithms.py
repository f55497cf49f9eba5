"""Fat-jet algorithms of the jets task: anti-kT clustering, N-subjettiness, matching, features.

Hand-made configurations with values computed by hand, FastJet itself (its classic interface and
FastJet contrib's Nsubjettiness where the bindings expose it) as the reference, and a PYTHIA tt̄
sample for the physics (marked slow).
"""

import math

import numpy as np
import pytest

from perfekt_bench_tasks.common import clustering as jets_mod
from perfekt_bench_tasks.common.clustering import Jet, delta_r, tau_ratios
from perfekt_bench_tasks.common.particles import Particles
from perfekt_bench_tasks.jets.definitions import (
    H_NAMES,
    JET_RADIUS,
    MATCH_DR,
    NEIGHBOUR_PTMIN,
    NO_NEIGHBOUR_DR,
    R0,
    RECO_PTMIN,
)
from perfekt_bench_tasks.jets.features import hidden_features, jet_features


# the shared algorithms with the jets task's definitions (Fast Perfekt Sec. 4) as defaults
def cluster(particles, *, radius=JET_RADIUS, ptmin=RECO_PTMIN):
    return jets_mod.cluster(particles, radius=radius, ptmin=ptmin)


def nsubjettiness(constituents, n_max=4, *, beta=1.0, r0=R0):
    return jets_mod.nsubjettiness(constituents, n_max, beta=beta, r0=r0)


def match(reference, others, *, max_dr=MATCH_DR):
    return jets_mod.match(reference, others, max_dr=max_dr)


fastjet = pytest.importorskip("fastjet")


def particles(pt, eta, phi, mass=0.0, pid=22, charge=0) -> Particles:
    pt, eta, phi, mass, pid, charge = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(a)) for a in (pt, eta, phi, mass, pid, charge)))
    return Particles.from_pt_eta_phi_m(pt, eta, phi, mass, pid, charge)


def jet_at(eta, phi, pt=300.0, mass=0.0, constituents=None) -> Jet:
    p = particles(pt, eta, phi, mass)
    return Jet(float(p.px[0]), float(p.py[0]), float(p.pz[0]), float(p.e[0]),
               constituents if constituents is not None else Particles.empty())


def prongs(rng, centres, n_per_prong=40, spread=0.05, mass=0.14) -> Particles:
    """Massive 'pions' around each (eta, phi, pt) centre: a jet with len(centres) prongs."""
    parts = []
    for eta, phi, pt in centres:
        share = rng.dirichlet(np.ones(n_per_prong)) * pt
        parts.append(particles(share, eta + rng.normal(0, spread, n_per_prong),
                               phi + rng.normal(0, spread, n_per_prong), mass, 211, 1))
    return Particles.concat(parts)


def synthetic_event(seed=1) -> Particles:
    """Three hard sprays and a soft uniform background; pid is the row number (a label), the
    charge cycles through -1, 0, 1, so that a constituent's row can be checked."""
    rng = np.random.default_rng(seed)
    hard = prongs(rng, [(0.3, 0.5, 450.0), (-1.0, 3.0, 320.0), (1.5, -2.0, 60.0)], spread=0.15)
    n_soft = 250
    soft = particles(rng.exponential(1.0, n_soft), rng.uniform(-4, 4, n_soft),
                     rng.uniform(-np.pi, np.pi, n_soft))
    event = Particles.concat([hard, soft])
    n = len(event)
    return Particles(event.px, event.py, event.pz, event.e, np.arange(n, dtype=np.int32),
                     (np.arange(n) % 3 - 1).astype(np.int8))


def fastjet_reference(event: Particles, radius: float, ptmin: float):
    """Anti-kT through FastJet's classic interface: [(four-momentum, sorted input rows)]."""
    inputs = []
    for i in range(len(event)):
        pj = fastjet.PseudoJet(float(event.px[i]), float(event.py[i]), float(event.pz[i]),
                               float(event.e[i]))
        pj.set_user_index(i)
        inputs.append(pj)
    sequence = fastjet.ClusterSequence(inputs, fastjet.JetDefinition(fastjet.antikt_algorithm,
                                                                     radius))
    return [(np.array([j.px(), j.py(), j.pz(), j.E()]),
             sorted(c.user_index() for c in j.constituents()))
            for j in fastjet.sorted_by_pt(sequence.inclusive_jets(ptmin))]


def contrib_nsubjettiness(constituents: Particles, beta: float):
    """FastJet contrib's Nsubjettiness (KT_Axes, NormalizedMeasure(beta, R0)), or None when the
    installed bindings do not expose it."""
    ak = pytest.importorskip("awkward")
    data = ak.Array({"px": constituents.px, "py": constituents.py, "pz": constituents.pz,
                     "E": constituents.e})
    sequence = fastjet.ClusterSequence(data, fastjet.JetDefinition(fastjet.kt_algorithm, 1000.0))
    if not hasattr(sequence, "njettiness"):
        return None
    return np.asarray(sequence.njettiness(measure_definition="NormalizedMeasure",
                                          axes_definition="KT_Axes", njets=[1, 2, 3, 4],
                                          beta=beta, R0=R0)).ravel()


# --------------------------------------------------------------------------------------------
# N-subjettiness on configurations computed by hand


def test_no_or_one_constituent_gives_zero_taus():
    assert np.array_equal(nsubjettiness(Particles.empty()), np.zeros(4))
    assert np.array_equal(nsubjettiness(particles(250.0, 0.4, 1.0)), np.zeros(4))
    assert nsubjettiness(particles(250.0, 0.4, 1.0), n_max=6).shape == (6,)


@pytest.mark.parametrize("beta", [1.0, 0.9, 2.0])
@pytest.mark.parametrize("d", [0.1, 0.5])
def test_two_equal_prongs_separated_in_phi(d, beta):
    # same rapidity 1.3: the E-scheme axis keeps rapidity 1.3 (its pseudorapidity does not)
    # and sits halfway in φ, so each particle is d/2 from it: τ1 = (d / (2 R0))^β
    taus = nsubjettiness(particles(100.0, 1.3, [0.2, 0.2 + d]), beta=beta)
    assert taus[0] == pytest.approx((d / (2 * R0)) ** beta, rel=1e-12)
    assert np.array_equal(taus[1:], np.zeros(3))  # as many axes as particles


def test_two_equal_prongs_separated_in_rapidity():
    d = 0.6
    taus = nsubjettiness(particles(80.0, [-0.7 - d / 2, -0.7 + d / 2], 2.0))
    assert taus[0] == pytest.approx(d / (2 * R0), rel=1e-12)


def test_unequal_prongs_use_the_four_momentum_sum_as_axis():
    p1, p2, d = 3.0, 1.0, 0.4
    phi_axis = math.atan2(p2 * math.sin(d), p1 + p2 * math.cos(d))  # not the pT centroid 0.1
    expected = (p1 * phi_axis + p2 * (d - phi_axis)) / ((p1 + p2) * R0)
    assert nsubjettiness(particles([p1, p2], 0.0, [0.0, d]))[0] == pytest.approx(expected,
                                                                                  rel=1e-12)


def test_n_collinear_prongs_on_their_axes_give_tau_n_zero():
    # three prongs, each of four exactly collinear particles: kT merges each prong first, so
    # the three exclusive subjets lie on the prongs and τ3 vanishes; τ1 > τ2 > 0
    rng = np.random.default_rng(3)
    parts = [particles(rng.uniform(5, 50, 4), eta, phi)
             for eta, phi in [(0.0, 0.0), (0.35, 0.2), (-0.1, 0.45)]]
    taus = nsubjettiness(Particles.concat(parts))
    assert taus[0] > taus[1] > 0.0
    assert taus[2] == pytest.approx(0.0, abs=1e-12)
    assert taus[3] == pytest.approx(0.0, abs=1e-12)
    assert tau_ratios(taus)[1] == pytest.approx(0.0, abs=1e-9)  # τ32


def test_smaller_beta_raises_tau_when_all_distances_are_below_r0():
    # every term is pT (ΔR/R0)^β with ΔR/R0 < 1, and the axes do not depend on β
    rng = np.random.default_rng(4)
    jet = prongs(rng, [(0.0, 0.0, 300.0), (0.2, 0.15, 150.0), (-0.1, 0.25, 80.0)])
    t10, t09, t20 = (nsubjettiness(jet, beta=b) for b in (1.0, 0.9, 2.0))
    assert np.all(t09 > t10) and np.all(t10 > t20)
    d = 0.3
    two = particles(50.0, 0.0, [0.0, d])
    ratio = nsubjettiness(two, beta=0.9)[0] / nsubjettiness(two, beta=1.0)[0]
    assert ratio == pytest.approx((d / (2 * R0)) ** -0.1, rel=1e-12)


@pytest.mark.parametrize("beta", [1.0, 0.9])
def test_nsubjettiness_equals_fastjet_contrib(beta):
    rng = np.random.default_rng(5)
    for n_prongs in (1, 2, 3):
        centres = [(rng.normal(0, 1), rng.uniform(-3, 3), 300.0)]
        centres += [(centres[0][0] + rng.normal(0, 0.3), centres[0][1] + rng.normal(0, 0.3),
                     rng.uniform(30, 200)) for _ in range(n_prongs - 1)]
        jet = prongs(rng, centres, n_per_prong=30, spread=0.08, mass=0.5)
        reference = contrib_nsubjettiness(jet, beta)
        if reference is None:
            pytest.skip("this fastjet does not expose FastJet contrib's Nsubjettiness")
        assert nsubjettiness(jet, beta=beta) == pytest.approx(reference, rel=1e-9, abs=1e-14)


# --------------------------------------------------------------------------------------------
# ratios and ΔR


def test_tau_ratios_one_jet_many_jets_and_zero_denominators():
    assert tau_ratios(np.array([0.4, 0.2, 0.1, 0.05])) == pytest.approx([0.5, 0.5, 0.5])
    assert np.array_equal(tau_ratios(np.array([0.3, 0.0, 0.0, 0.0])), np.zeros(3))
    assert np.array_equal(tau_ratios(np.zeros(4)), np.zeros(3))
    many = np.array([[0.4, 0.2, 0.1, 0.05], [0.3, 0.0, 0.0, 0.0], [0.5, 0.4, 0.1, 0.0]])
    out = tau_ratios(many)
    assert out.shape == (3, 3)
    assert np.array_equal(out, np.stack([tau_ratios(row) for row in many]))
    assert np.all(np.isfinite(out))


def test_delta_r_wraps_phi_and_broadcasts():
    assert delta_r(0.0, 3.1, 0.0, -3.1) == pytest.approx(2 * np.pi - 6.2)
    assert delta_r(1.0, 0.0, -2.0, 4.0) == pytest.approx(math.hypot(3.0, 2 * np.pi - 4.0))
    eta = np.array([0.0, 1.0, -1.0])
    phi = np.array([0.0, np.pi, -3.0])
    table = delta_r(eta[:, None], phi[:, None], eta[None, :], phi[None, :])
    assert table.shape == (3, 3)
    assert np.allclose(table, table.T) and np.allclose(np.diag(table), 0.0)


# --------------------------------------------------------------------------------------------
# clustering


@pytest.mark.parametrize(("radius", "ptmin"), [(JET_RADIUS, 20.0), (0.4, 10.0)])
def test_cluster_reproduces_fastjet_antikt(radius, ptmin):
    event = synthetic_event()
    jets = cluster(event, radius=radius, ptmin=ptmin)
    reference = fastjet_reference(event, radius, ptmin)
    assert len(jets) == len(reference) >= 3
    for jet, (momentum, rows) in zip(jets, reference, strict=True):
        assert [jet.px, jet.py, jet.pz, jet.e] == pytest.approx(momentum, rel=1e-12, abs=1e-9)
        c = jet.constituents
        assert sorted(c.pid.tolist()) == rows  # pid is the row label: the same constituents
        assert np.array_equal(c.charge, event.charge[c.pid])  # charge kept with its row
        summed = [c.px.sum(), c.py.sum(), c.pz.sum(), c.e.sum()]  # E-scheme
        assert summed == pytest.approx([jet.px, jet.py, jet.pz, jet.e], rel=1e-10, abs=1e-9)
    pts = [j.pt for j in jets]
    assert pts == sorted(pts, reverse=True) and min(pts) >= ptmin


def test_cluster_without_particles_or_jets():
    assert cluster(Particles.empty()) == []
    assert cluster(particles([1.0, 2.0], [0.0, 1.0], [0.0, 1.0])) == []  # below RECO_PTMIN


def test_classic_fastjet_interface_gives_the_same_results(monkeypatch):
    event = synthetic_event(seed=2)
    fast = cluster(event, ptmin=20.0)
    fast_taus = [nsubjettiness(j.constituents, beta=0.9) for j in fast]
    monkeypatch.setattr(jets_mod, "_engine", jets_mod._ClassicEngine)
    classic = cluster(event, ptmin=20.0)
    assert len(classic) == len(fast)
    for a, b, taus in zip(classic, fast, fast_taus, strict=True):
        assert [a.px, a.py, a.pz, a.e] == pytest.approx([b.px, b.py, b.pz, b.e], rel=1e-12)
        assert np.array_equal(np.sort(a.constituents.pid), np.sort(b.constituents.pid))
        assert nsubjettiness(a.constituents, beta=0.9) == pytest.approx(taus, rel=1e-12)


# --------------------------------------------------------------------------------------------
# matching


def test_match_takes_closest_pairs_first():
    # both reference jets have X as nearest: A(φ=0)–X 0.06, B(φ=0.1)–X 0.04. B–X is the closest
    # pair, so A gets Y (ΔR 0.2); going through the reference jets in order would give A–X
    reference = [jet_at(0.0, 0.0), jet_at(0.0, 0.1)]
    others = [jet_at(0.0, -0.2), jet_at(0.0, 0.06)]  # Y, X
    assert match(reference, others).tolist() == [0, 1]
    assert match(reference, others, max_dr=0.1).tolist() == [-1, 1]  # A–Y is too far
    assert match(reference, []).tolist() == [-1, -1]
    assert match([], others).tolist() == []


def test_match_is_one_to_one_and_has_no_blocking_pair():
    # closest-pairs-first matching leaves no pair (r, o) closer than max_dr that both would
    # rather have than their own partners
    rng = np.random.default_rng(6)
    for _ in range(30):
        ref = [jet_at(e, p) for e, p in zip(rng.uniform(-1, 1, 5), rng.uniform(-3, 3, 5),
                                             strict=True)]
        oth = [jet_at(e, p) for e, p in zip(rng.uniform(-1, 1, 6), rng.uniform(-3, 3, 6),
                                             strict=True)]
        partner = match(ref, oth, max_dr=0.8)
        matched = partner[partner >= 0]
        assert len(set(matched.tolist())) == len(matched)
        dr = np.array([[delta_r(r.eta, r.phi, o.eta, o.phi) for o in oth] for r in ref])
        own_r = np.array([dr[i, p] if p >= 0 else np.inf for i, p in enumerate(partner)])
        own_o = np.full(len(oth), np.inf)
        for i, p in enumerate(partner):
            if p >= 0:
                assert dr[i, p] < 0.8
                own_o[p] = dr[i, p]
        blocking = (dr < 0.8) & (dr < own_r[:, None]) & (dr < own_o[None, :])
        assert not blocking.any()


# --------------------------------------------------------------------------------------------
# hidden features


def test_hidden_features_neighbour_and_counts():
    constituents = Particles.concat([
        particles([100.0, 80.0, 60.0], 0.0, [0.0, 0.05, -0.05], 0.14, [211, -211, 321],
                  [1, -1, 1]),
        particles([50.0, 40.0], 0.02, 0.01, 0.0, 22, 0),
        particles(30.0, -0.03, 0.0, 0.0, 130, 0),
    ])
    jet = jet_at(0.0, 0.0, pt=500.0, mass=170.0, constituents=constituents)
    copy = jet_at(0.0, 0.0, pt=500.0, mass=170.0)
    soft_close = jet_at(0.0, 0.5, pt=NEIGHBOUR_PTMIN - 1.0)  # below threshold: ignored
    near = jet_at(0.9, 0.0, pt=50.0)
    far = jet_at(0.0, -1.2, pt=100.0)
    h = hidden_features(jet, [jet, copy, soft_close, far, near])
    assert h.shape == (len(H_NAMES),)
    expected = {"mass": 170.0, "pt": 500.0, "eta": 0.0, "dr_neighbour": 0.9,
                "n_charged": 3, "n_neutral": 3}
    assert dict(zip(H_NAMES, h.tolist(), strict=True)) == pytest.approx(expected, abs=1e-9)
    assert hidden_features(jet, [jet, copy, soft_close])[3] == NO_NEIGHBOUR_DR
    assert hidden_features(jet, [])[3] == NO_NEIGHBOUR_DR


def test_hidden_features_neighbour_across_phi_boundary():
    jet = jet_at(0.5, -np.pi + 0.05)
    assert hidden_features(jet, [jet, jet_at(0.5, np.pi - 0.05)])[3] == pytest.approx(0.1)


def test_jet_features_combines_ratios_and_hidden_features():
    rng = np.random.default_rng(7)
    jets = cluster(prongs(rng, [(0.0, 0.0, 400.0), (0.3, 0.2, 200.0), (2.5, 2.0, 250.0)]))
    assert len(jets) == 2
    x, h = jet_features(jets[0], jets, beta=0.9)
    assert np.array_equal(x, tau_ratios(nsubjettiness(jets[0].constituents, 4, beta=0.9)))
    assert np.array_equal(h, hidden_features(jets[0], jets))
    assert x.shape == (3,) and h[3] == pytest.approx(delta_r(jets[0].eta, jets[0].phi,
                                                             jets[1].eta, jets[1].phi))


# --------------------------------------------------------------------------------------------
# PYTHIA: boosted tops against QCD jets


def leading_gen_jets(processes, seed, n_events=30, ptmin=400.0):
    pythia8mc = pytest.importorskip("pythia8mc")
    pythia = pythia8mc.Pythia("", False)
    for line in ["Beams:eCM = 13000.", *processes, "PhaseSpace:pTHatMin = 400.",
                 "Next:numberCount = 0", "Print:quiet = on", "Random:setSeed = on",
                 f"Random:seed = {seed}"]:
        pythia.readString(line)
    assert pythia.init()
    leading = []
    while len(leading) < n_events:
        if not pythia.next():
            continue
        rows = np.array([(p.px(), p.py(), p.pz(), p.e(), p.id(), p.charge())
                         for p in pythia.event if p.isFinal() and p.idAbs() not in (12, 14, 16)])
        event = Particles(*(np.ascontiguousarray(rows[:, i]) for i in range(4)),
                          rows[:, 4].astype(np.int32), rows[:, 5].astype(np.int8))
        jets = cluster(event, ptmin=ptmin)
        if jets:
            leading.append(jets[0])
    return leading


@pytest.mark.slow
def test_pythia_top_jets_are_three_pronged_and_heavy():
    tops = leading_gen_jets(["Top:gg2ttbar = on", "Top:qqbar2ttbar = on"], seed=11)
    qcd = leading_gen_jets(["HardQCD:all = on"], seed=12)

    def summary(jets):
        x = np.array([tau_ratios(nsubjettiness(j.constituents, 4)) for j in jets])
        return x[:, 1], np.array([j.mass for j in jets])

    top_tau32, top_mass = summary(tops)
    qcd_tau32, qcd_mass = summary(qcd)
    # top jets: τ32 ≈ 0.6 and masses around m_t; QCD jets: τ32 ≈ 0.85, masses ≈ 70 GeV
    assert np.median(top_tau32) < 0.75
    assert np.median(top_tau32) < np.median(qcd_tau32) - 0.1
    assert 120.0 < np.median(top_mass) < 200.0
    assert np.mean((top_mass > 140) & (top_mass < 210)) > 0.3
    assert np.mean((qcd_mass > 140) & (qcd_mass < 210)) < 0.25
    assert all(0.0 < j.mass < j.pt for j in tops + qcd)
    # real hadrons (massive, rapidity ≠ pseudorapidity): still FastJet contrib's numbers
    for jet in tops[:5]:
        reference = contrib_nsubjettiness(jet.constituents, 1.0)
        if reference is not None:
            assert nsubjettiness(jet.constituents) == pytest.approx(reference, rel=1e-9)
