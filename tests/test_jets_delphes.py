"""Import of Delphes fullsim/fastsim file pairs (the jets data set, Fast Perfekt Sec. 4).

The real 10-event Delphes file of the shared test data is imported as both full and fast; small
files in Delphes' layout, written here with uproot, cover differences and broken files.

Layout of the written files: uproot shows the split ``TClonesArray`` branches of real Delphes
output as ``FatJet/FatJet.PT`` under a parent branch ``FatJet``, with the counter ``FatJet_size``.
uproot cannot write that parent/child structure, but it writes a flat jagged branch whose name
is exactly ``FatJet/FatJet.PT`` (or ``FatJet.PT``, the ``"flat"`` layout) with the counter
``FatJet_size``, which reads back under the same key. ``Tau[5]`` (var * 5 * float32) cannot be
written as such by uproot 5.7 (its writer gets the byte offsets of jagged arrays with a fixed
inner dimension wrong), so it is written as a flat var * float32 branch named ``…Tau[5]`` with a
counter of its own (``FatJet_Tau_size``, 5 per jet): uproot reads the ``[5]`` in the name back
as the fixed dimension, giving the real file's var * 5 * float32.
"""

from __future__ import annotations

import math
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from perfekt_bench.errors import DataError
from perfekt_bench_tasks.common import clustering as jets
from perfekt_bench_tasks.common.particles import Particles
from perfekt_bench_tasks.jets.definitions import BETA_GEN, NO_NEIGHBOUR_DR, R0, RECO_PTMIN
from perfekt_bench_tasks.jets.delphes import import_delphes

TESTDATA = Path(__file__).parents[2] / "shared" / "testdata"
REAL = TESTDATA / "delphes_fatjets_10events.root"

F4, I4 = np.float32, np.int32
FIELDS = {
    "FatJet": {"PT": F4, "Eta": F4, "Phi": F4, "Mass": F4, "Tau": F4, "NCharged": I4,
               "NNeutrals": I4},
    "GenFatJet": {"PT": F4, "Eta": F4, "Phi": F4, "Mass": F4, "Tau": F4},
    "Particle": {"PID": I4, "Status": I4, "Charge": I4, "Px": F4, "Py": F4, "Pz": F4, "E": F4,
                 "PT": F4, "Eta": F4, "Phi": F4, "Mass": F4},
}
PION_MASS = 0.13957


# -- writing small files in Delphes' layout ---------------------------------------------------

def fatjet(pt, eta, phi, mass=80.0, tau=(0.4, 0.2, 0.1, 0.05, 0.02), nch=12, nneu=7):
    return {"PT": pt, "Eta": eta, "Phi": phi, "Mass": mass, "Tau": tau, "NCharged": nch,
            "NNeutrals": nneu}


def particle(pt, eta, phi, pid=211, status=1, charge=1, mass=PION_MASS):
    px, py, pz = pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)
    e = math.sqrt(px**2 + py**2 + pz**2 + mass**2)
    return {"PID": pid, "Status": status, "Charge": charge, "Px": px, "Py": py, "Pz": pz,
            "E": e, "PT": pt, "Eta": eta, "Phi": phi, "Mass": mass}


def spray(pt, eta, phi):
    """Three charged pions around (η, φ) carrying 50/30/20 % of pt: one GEN fat jet."""
    return [particle(0.5 * pt, eta, phi), particle(0.3 * pt, eta + 0.1, phi + 0.05, charge=-1),
            particle(0.2 * pt, eta - 0.05, phi - 0.1)]


def write_delphes(path, events, *, layout="nested", drop=()):
    """Tree ``Delphes`` with the collections of `events` (list of {collection: [objects]})."""
    collections = sorted({c for ev in events for c in ev})
    arrays, counters = {}, {}
    for c in collections:
        per_event = [ev.get(c, []) for ev in events]
        counts = np.array([len(objs) for objs in per_event])
        for field, dtype in FIELDS[c].items():
            leaf = "Tau[5]" if field == "Tau" else field
            key = f"{c}/{c}.{leaf}" if layout == "nested" else f"{c}.{leaf}"
            if f"{c}.{field}" in drop:
                continue
            flat = np.array([o[field] for objs in per_event for o in objs], dtype=dtype)
            if field == "Tau":
                arrays[key] = ak.unflatten(flat.reshape(-1), counts * 5)
                counters[key] = f"{c}_Tau_size"
            else:
                arrays[key] = ak.unflatten(flat, counts)
                counters[key] = f"{c}_size"
    with uproot.recreate(path) as f:
        f.mktree("Delphes", {k: a.type for k, a in arrays.items()},
                 counter_name=lambda key: counters[key])
        f["Delphes"].extend(arrays)
    return Path(path)


def ratios(tau):
    tau = np.asarray(tau, dtype=np.float32).astype(np.float64)
    return np.array([tau[i + 1] / tau[i] if tau[i] > 0 else 0.0 for i in range(3)])


def dr(a, b):
    dphi = (a["Phi"] - b["Phi"] + math.pi) % (2 * math.pi) - math.pi
    return math.hypot(a["Eta"] - b["Eta"], dphi)


def hidden(jet, others):
    close = min((dr(jet, o) for o in others), default=NO_NEIGHBOUR_DR)
    return [jet["Mass"], jet["PT"], jet["Eta"], close, jet["NCharged"], jet["NNeutrals"]]


def gen_ratios(parts):
    """The GEN τ ratios of the jet made of `parts`, from the float32 values the file holds."""
    cols = {f: np.array([p[f] for p in parts], dtype=np.float32).astype(np.float64)
            for f in ("Px", "Py", "Pz", "E")}
    constituents = Particles(cols["Px"], cols["Py"], cols["Pz"], cols["E"],
                             np.array([p["PID"] for p in parts], np.int32),
                             np.array([p["Charge"] for p in parts], np.int8))
    return jets.tau_ratios(jets.nsubjettiness(constituents, 4, beta=BETA_GEN, r0=R0))


@pytest.fixture
def pair(tmp_path):
    """A full/fast pair of 4 events where fast differs, and the rows it must give."""
    j1, j3, j4 = spray(400, 0.0, 0.0), spray(250, -2.0, -0.5), spray(350, 1.0, 1.0)
    invisible = particle(500, -1.0, -1.5, pid=14, charge=0, mass=0.0)
    unstable = particle(600, 1.5, -2.5, pid=6, status=2, mass=173.0)
    soft = particle(20, 2.0, 2.0, pid=22, charge=0, mass=0.0)
    # event 0: J1 matched in both; J2 matched in full only (fast: below RECO_PTMIN, or too far);
    # jets where a neutrino and an unstable particle are must not find GEN partners
    a = fatjet(410, 0.05, 0.05, mass=170.0, tau=(0.4, 0.1, 0.08, 0.06, 0.05), nch=20, nneu=9)
    b, c, d = fatjet(290, 0.55, 3.05), fatjet(480, -1.0, -1.5), fatjet(550, 1.5, -2.5)
    a_ = fatjet(395, -0.05, 0.0, mass=160.0, tau=(0.5, 0.25, 0.2, 0.1, 0.05), nch=18, nneu=11)
    b_low, b_far = fatjet(190, 0.5, 3.0), fatjet(300, 1.1, 3.0)
    c_, d_ = fatjet(470, -1.0, -1.45), fatjet(560, 1.5, -2.45)
    # event 1: one jet each; fast τ all 0 (ratios 0), a soft fast jet is not a neighbour
    e = fatjet(260, -2.05, -0.45, mass=90.0, tau=(0.3, 0.15, 0.15, 0.03, 0.01), nch=5, nneu=6)
    e_ = fatjet(240, -1.95, -0.55, mass=95.0, tau=(0, 0, 0, 0, 0), nch=7, nneu=3)
    e_soft = fatjet(20, -1.0, -0.5)
    # event 3: two fast jets near J4: the closer one (listed second) is the partner
    f = fatjet(355, 1.02, 1.02, mass=175.0, tau=(0.35, 0.2, 0.1, 0.09, 0.05), nch=30, nneu=21)
    f_far, f_near = fatjet(330, 1.3, 1.0), fatjet(345, 1.0, 1.03, tau=(0.2, 0.1, 0.09, 0.08, 0))
    full = [{"Particle": j1 + spray(300, 0.5, 3.0) + [invisible, unstable, soft],
             "FatJet": [c, d, a, b]},
            {"Particle": j3, "FatJet": [e]},
            {},
            {"Particle": j4, "FatJet": [f]}]
    fast = [{"Particle": full[0]["Particle"], "FatJet": [c_, d_, a_, b_low, b_far]},
            {"Particle": j3, "FatJet": [e_soft, e_]},
            {},
            {"Particle": j4, "FatJet": [f_far, f_near]}]
    expected = {
        "g": [gen_ratios(j1), gen_ratios(j3), gen_ratios(j4)],
        "x_full": [ratios(a["Tau"]), ratios(e["Tau"]), ratios(f["Tau"])],
        "x_fast": [ratios(a_["Tau"]), [0, 0, 0], ratios(f_near["Tau"])],
        "h_full": [hidden(a, [b, c, d]), hidden(e, []), hidden(f, [])],
        "h_fast": [hidden(a_, [c_, d_, b_low, b_far]), hidden(e_, []),
                   hidden(f_near, [f_far])],
    }
    return tmp_path, full, fast, expected


# -- the real Delphes file ---------------------------------------------------------------------

@pytest.mark.skipif(not REAL.is_file(), reason=f"shared test data not found: {REAL}")
def test_real_file_as_full_and_fast():
    arrays = import_delphes(REAL, REAL)
    # the file's 6 fat jets (events 3-6) all find a GEN fat jet clustered from its Particles
    n = len(arrays["g"])
    assert n == 6
    assert {k: v.shape for k, v in arrays.items()} == {
        "g": (n, 3), "x_full": (n, 3), "x_fast": (n, 3), "h_full": (n, 6), "h_fast": (n, 6)}
    assert all(v.dtype == np.float64 for v in arrays.values())
    np.testing.assert_array_equal(arrays["x_full"], arrays["x_fast"])
    np.testing.assert_array_equal(arrays["h_full"], arrays["h_fast"])
    x, g, h = arrays["x_full"], arrays["g"], arrays["h_full"]
    assert ((x >= 0) & (x <= 1)).all()  # Delphes' one-pass-optimised τ decrease with N
    # GEN ratios use plain exclusive-kT axes, for which τ_N need not decrease: only ≥ 0
    assert np.isfinite(g).all() and (g >= 0).all() and (g[:, 0] <= 1).all()
    assert (h[:, 1] > RECO_PTMIN).all()
    # events 4 and 5 have two fat jets each: each other's neighbour; events 3 and 6 have one
    np.testing.assert_allclose(h[:, 3], [NO_NEIGHBOUR_DR, 3.2393, 3.2393, 3.0439, 3.0439,
                                         NO_NEIGHBOUR_DR], atol=1e-4)
    np.testing.assert_allclose(x[0], [0.07374807 / 0.408943, 0.05094059 / 0.07374807,
                                      0.03488855 / 0.05094059], rtol=1e-6)


# -- constructed files -------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["nested", "flat"])
def test_fast_differs_from_full(pair, layout):
    tmp, full, fast, expected = pair
    arrays = import_delphes(write_delphes(tmp / "full.root", full, layout=layout),
                            write_delphes(tmp / "fast.root", fast, layout=layout))
    for key, rows in expected.items():
        np.testing.assert_allclose(arrays[key], np.array(rows, dtype=np.float64), rtol=1e-6,
                                   atol=1e-7, err_msg=key)


def test_gen_branch(tmp_path):
    g1 = {"PT": 300, "Eta": 0.0, "Phi": 0.0, "Mass": 170, "Tau": (0.4, 0.2, 0.1, 0.05, 0.01)}
    g_low = {"PT": 100, "Eta": -1.0, "Phi": 2.0, "Mass": 20, "Tau": (0.4, 0.2, 0.1, 0.05, 0.01)}
    reco = [fatjet(310, 0.1, 0.0), fatjet(250, -1.0, 2.0)]
    events = [{"GenFatJet": [g1, g_low], "FatJet": reco}, {}]
    full = write_delphes(tmp_path / "full.root", events)
    fast = write_delphes(tmp_path / "fast.root", events)
    arrays = import_delphes(full, fast, gen_branch="GenFatJet")
    np.testing.assert_allclose(arrays["g"], [[0.5, 0.5, 0.5]], rtol=1e-6)
    np.testing.assert_allclose(arrays["x_full"], [ratios(reco[0]["Tau"])], rtol=1e-6)
    with pytest.raises(DataError, match=r"full\.root.*gen_branch 'GenFatJets'.*GenFatJet"):
        import_delphes(full, fast, gen_branch="GenFatJets")
    # without gen_branch the GEN jets come from Particle, which these files lack
    with pytest.raises(DataError, match=r"full\.root.*Particle\.Status"):
        import_delphes(full, fast)


def test_progress_bar_on_stderr(pair, capsys):
    tmp, full, fast, _ = pair
    import_delphes(write_delphes(tmp / "a.root", full), write_delphes(tmp / "b.root", fast),
                   progress=True)
    assert "Delphes import" in capsys.readouterr().err


# -- errors ------------------------------------------------------------------------------------

def test_different_event_counts(pair):
    tmp, full, fast, _ = pair
    full_path = write_delphes(tmp / "full.root", full)
    fast_path = write_delphes(tmp / "fast.root", fast[:3])
    with pytest.raises(DataError) as err:
        import_delphes(full_path, fast_path)
    assert str(full_path) in str(err.value) and str(fast_path) in str(err.value)
    assert "has 4" in str(err.value) and "has 3" in str(err.value)


def test_different_generated_events(pair):
    tmp, full, fast, _ = pair
    fast[1] = dict(fast[1], Particle=spray(250, -2.0, -0.5)[:2])
    message = r"different generated events.*3 and 2 particles in event 1"
    with pytest.raises(DataError, match=message):
        import_delphes(write_delphes(tmp / "full.root", full),
                       write_delphes(tmp / "fast.root", fast))


def test_missing_branches_are_listed(pair):
    tmp, full, fast, _ = pair
    fast_path = write_delphes(tmp / "fast.root", fast, drop=("FatJet.NNeutrals", "FatJet.Tau"))
    with pytest.raises(DataError, match=r"fast\.root.*FatJet\.Tau\[5\], FatJet\.NNeutrals"):
        import_delphes(write_delphes(tmp / "full.root", full), fast_path)


@pytest.mark.parametrize("kept", [0.5, 0.999])
def test_truncated_file(pair, kept):
    tmp, full, fast, _ = pair
    whole = write_delphes(tmp / "whole.root", full).read_bytes()
    cut = tmp / "cut.root"
    cut.write_bytes(whole[: int(len(whole) * kept)])
    with pytest.raises(DataError, match=r"cut\.root: truncated ROOT file"):
        import_delphes(cut, write_delphes(tmp / "fast.root", fast))


def test_corrupt_basket(pair):
    tmp, full, fast, _ = pair
    path = write_delphes(tmp / "bad.root", full)
    with uproot.open(path) as f:
        seek = int(f["Delphes"]["FatJet/FatJet.PT"].member("fBasketSeek")[0])
    data = bytearray(path.read_bytes())
    data[seek + 80: seek + 120] = b"\x55" * 40  # the basket's header, after its key
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"bad\.root: cannot read branches FatJet/FatJet\.PT"):
        import_delphes(path, write_delphes(tmp / "fast.root", fast))


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    (b"not a ROOT file at all\n" * 10, "not a readable ROOT file"),
    ("other tree", "no tree 'Delphes'"),
])
def test_unusable_files(tmp_path, content, message):
    path = tmp_path / "bad.root"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        with uproot.recreate(path) as f:
            f["Events"] = {"x": np.arange(3.0)}
    with pytest.raises(DataError, match=rf"bad\.root.*{message}"):
        import_delphes(path, path)


def test_nan_values_are_counted(pair):
    tmp, full, fast, _ = pair
    fast[0]["FatJet"][1]["PT"] = float("nan")
    fast[3]["FatJet"][0]["PT"] = float("inf")
    with pytest.raises(DataError, match=r"fast\.root: branch FatJet/FatJet\.PT has 2 NaN"):
        import_delphes(write_delphes(tmp / "full.root", full),
                       write_delphes(tmp / "fast.root", fast))


def test_no_matched_jets(pair):
    tmp, full, fast, _ = pair
    for ev in fast:
        for jet in ev.get("FatJet", []):
            jet["Phi"] += 1.5
    with pytest.raises(DataError, match=r"no GEN fat jet has a matched reco fat jet.*4 events"):
        import_delphes(write_delphes(tmp / "full.root", full),
                       write_delphes(tmp / "fast.root", fast))
