"""The deepjet task's built-in data: flavour from ghosts, the emulated tagger, PYTHIA jets."""

from __future__ import annotations

import numpy as np
import pytest

from perfekt_bench_tasks.common.clustering import delta_r
from perfekt_bench_tasks.deepjet import generation, tagger
from perfekt_bench_tasks.deepjet.definitions import ISOLATION_DR, PT_MIN

# --------------------------------------------------------------------------- flavour


@pytest.mark.parametrize(("pid", "b", "c"), [
    (511, True, False), (-521, True, False), (5122, True, False), (553, True, False),
    (421, False, True), (-4122, False, True), (541, True, True), (211, False, False),
    (5, False, False), (21, False, False), (100443, False, True), (22, False, False)])
def test_quark_content_of_hadrons(pid, b, c):
    assert generation._has_quark(np.array([pid]), 5)[0] == b
    assert generation._has_quark(np.array([pid]), 4)[0] == c


@pytest.mark.parametrize(("ghosts", "pts", "expected"), [
    ([generation.GHOST_B], [1.0], (5, tagger.B)),
    ([generation.GHOST_LEPB, generation.GHOST_C], [1.0, 2.0], (5, tagger.LEPB)),
    ([generation.GHOST_B, generation.GHOST_LEPB], [1.0, 1.0], (5, tagger.BB)),
    ([generation.GHOST_C, generation.GHOST_GLUON], [1.0, 9.0], (4, tagger.C)),
    ([generation.GHOST_GLUON, generation.GHOST_QUARK], [5.0, 2.0], (0, tagger.G)),
    ([generation.GHOST_GLUON, generation.GHOST_QUARK], [2.0, 5.0], (0, tagger.UDS)),
    ([], [], (0, tagger.UDS)),
])
def test_flavour_and_class_from_ghosts(ghosts, pts, expected):
    assert generation.true_class(np.array(ghosts, dtype=np.int32), np.array(pts)) == expected


# --------------------------------------------------------------------------- tagger


def _tagged(tune, n=200_000, seed=1):
    rng = np.random.default_rng(0)
    cls = rng.choice(6, size=n, p=[0.17, 0.02, 0.05, 0.08, 0.36, 0.32])
    pt = 15.0 + rng.pareto(2.0, n) * 25.0
    eta = np.clip(rng.normal(0.0, 1.6, n), -4.7, 4.7)
    nodes = tune.nodes(cls, pt, eta, np.random.default_rng(seed))
    return cls, pt, eta, nodes, tagger.discriminators(nodes)


def test_nodes_are_a_softmax_and_discriminators_follow_eq_2():
    _, _, _, nodes, x = _tagged(tagger.FULLSIM, n=5_000)
    np.testing.assert_allclose(nodes.sum(axis=1), 1.0, atol=1e-12)
    b, bb, lepb, c, uds, g = nodes.T
    np.testing.assert_allclose(x[:, 0], b + bb + lepb)
    np.testing.assert_allclose(x[:, 3], g / (g + uds))
    assert np.all((x >= 0) & (x <= 1))


def test_discriminators_pile_up_near_0_and_1_by_flavour():
    cls, _, eta, _, x = _tagged(tagger.FULLSIM)
    central = np.abs(eta) < 2.0
    b_jets, light = central & (cls <= tagger.LEPB), central & (cls >= tagger.UDS)
    assert (x[b_jets, 0] > 0.9).mean() > 0.35  # B of b jets piles up at 1
    assert (x[light, 0] < 0.1).mean() > 0.85  # and of light jets at 0
    c_jets = central & (cls == tagger.C)
    assert np.median(x[c_jets, 1]) > 0.6 > np.median(x[b_jets, 1])  # CvB separates c from b
    assert np.mean(x[cls == tagger.G, 3]) > np.mean(x[cls == tagger.UDS, 3])  # QG


def test_fastsim_is_off_by_up_to_about_20_percent_depending_on_conditioning():
    cls, pt, eta, _, full = _tagged(tagger.FULLSIM, seed=1)
    *_, fast = _tagged(tagger.FASTSIM, seed=2)
    worst = []
    for j in range(4):
        h_full, _ = np.histogram(full[:, j], bins=20, range=(0, 1))
        h_fast, _ = np.histogram(fast[:, j], bins=20, range=(0, 1))
        big = h_full > 0.01 * len(full)
        worst.append(np.max(np.abs(h_fast[big] - h_full[big]) / h_full[big]))
    assert 0.1 < max(worst) < 0.4, worst
    # conditioning matters: the QG shift grows with |η|, the B shift of b jets with 1/pT
    light = cls >= tagger.UDS
    shift = [np.mean(fast[m, 3] - full[m, 3])
             for m in (light & (np.abs(eta) < 1), light & (np.abs(eta) > 2.5))]
    assert shift[1] > shift[0] + 0.02
    b = cls == tagger.B
    b_shift = [np.mean(fast[m, 0] - full[m, 0]) for m in (b & (pt < 30), b & (pt > 100))]
    assert b_shift[0] > b_shift[1] + 0.02


# --------------------------------------------------------------------------- PYTHIA jets


@pytest.fixture(scope="module")
def part():
    return generation.make_part(3, 0, events_per_part=40)


@pytest.mark.slow
def test_pythia_part_makes_isolated_flavoured_triplets(part):
    a = part.arrays
    n = part.n_rows
    assert n > 40  # several jets per tt̄ event
    assert {k: v.shape for k, v in a.items()} == {"g": (n, 3), "x_full": (n, 4),
                                                  "x_fast": (n, 4), "h_full": (n, 2),
                                                  "h_fast": (n, 2)}
    flavours = set(np.unique(a["g"][:, 2]).tolist())
    assert flavours == {0.0, 4.0, 5.0}
    # tt̄: at least a fifth of the jets hold a b hadron
    assert np.mean(a["g"][:, 2] == 5) > 0.2
    assert np.all(a["g"][:, 0] >= PT_MIN)
    assert np.all(a["h_full"][:, 0] >= PT_MIN) and np.all(a["h_fast"][:, 0] >= PT_MIN)
    assert np.all((a["x_full"] >= 0) & (a["x_full"] <= 1))
    # independent noise: full and fast tags differ jet by jet
    assert np.mean(np.abs(a["x_full"] - a["x_fast"]) > 1e-6) > 0.9
    # b jets are tagged as b more often than light ones (truth reaches the tagger)
    assert np.mean(a["x_full"][a["g"][:, 2] == 5, 0]) > 5 * np.mean(
        a["x_full"][a["g"][:, 2] == 0, 0])


@pytest.mark.slow
def test_pythia_part_is_deterministic(part):
    again = generation.make_part(3, 0, events_per_part=40)
    for key in part.arrays:
        np.testing.assert_array_equal(part.arrays[key], again.arrays[key])


@pytest.mark.slow
def test_kept_gen_jets_are_isolated():
    from perfekt_bench_tasks.common import pythia

    for visible, record in pythia.visible_events(99, 10, generation.PYTHIA_SETTINGS):
        rows = generation.event_jets(visible, record)
        if len(rows) > 1:
            dr = delta_r(rows[:, None, 1], rows[:, None, 2], rows[None, :, 1], rows[None, :, 2])
            np.fill_diagonal(dr, np.inf)
            assert dr.min() >= ISOLATION_DR
