"""Import of FullSim/FastSim NanoAOD file pairs into jet triplets (CMS refinement paper, Sec. 2).

Small files in NanoAOD's layout are written here with uproot: ``mktree`` with a record of jagged
fields named ``Jet`` writes the counter ``nJet`` and the branches ``Jet_pt``, ``Jet_eta``, … that
CMS NanoAOD has (``f["Events"] = {...}`` would write an RNTuple with uproot 5.7). The real CMS
Open Data file of the shared test data is imported as both full and fast.
"""

from __future__ import annotations

import copy
import math
import re
from collections import defaultdict
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from hypothesis import given, settings
from hypothesis import strategies as st

from perfekt_bench.errors import DataError
from perfekt_bench_tasks.common.clustering import delta_r
from perfekt_bench_tasks.deepjet import nanoaod
from perfekt_bench_tasks.deepjet.definitions import (
    FLAVOURS,
    ISOLATION_DR,
    MATCH_DR,
    NANOAOD_TAG_BRANCHES,
    PT_MIN,
)
from perfekt_bench_tasks.deepjet.nanoaod import import_nanoaod

TESTDATA = Path(__file__).parents[2] / "shared" / "testdata"
REAL = TESTDATA / "nanoaod_cms_opendata_2015_ttbar_200events.root"
needs_real = pytest.mark.skipif(not REAL.is_file(), reason=f"shared test data not found: {REAL}")

TAGS = tuple(b.removeprefix("Jet_") for b in NANOAOD_TAG_BRANCHES)
DEFAULT = (-3000.0, -1.0, -1.0, -1.0)
F4, I4 = np.float32, np.int32
JET_TYPES = {"pt": F4, "eta": F4, "phi": F4, **dict.fromkeys(TAGS, F4), "hadronFlavour": I4,
             "genJetIdx": I4}


# -- writing small files in NanoAOD's layout --------------------------------------------------

def jet(pt, eta, phi, tags=(0.8, 0.3, 0.6, 0.2), flavour=5, idx=-1):
    return {"pt": pt, "eta": eta, "phi": phi, **dict(zip(TAGS, tags, strict=True)),
            "hadronFlavour": flavour, "genJetIdx": idx}


def _collection(events, types):
    counts = [len(ev) for ev in events]
    return ak.zip({f: ak.unflatten(np.array([j[f] for ev in events for j in ev], dtype=t), counts)
                   for f, t in types.items()})


def write_nanoaod(path: Path, events, *, drop=(), ids=None, tree="Events") -> Path:
    """``events``: (GEN jets as (pt, eta, phi), reco jets as :func:`jet`) per event.

    ``ids``: (run, luminosityBlock, event) per event, ``(1, 1, i)`` by default. ``drop``: branch
    names to leave out (``Jet_genJetIdx``, ``run``, …).
    """
    gen = [[dict(zip(("pt", "eta", "phi"), g, strict=True)) for g in ev[0]] for ev in events]
    data = {
        "Jet": _collection([ev[1] for ev in events],
                           {f: t for f, t in JET_TYPES.items() if f"Jet_{f}" not in drop}),
        "GenJet": _collection(gen, {f: F4 for f in ("pt", "eta", "phi")
                                    if f"GenJet_{f}" not in drop}),
    }
    ids = ids if ids is not None else [(1, 1, i) for i in range(len(events))]
    for name, column, dtype in zip(("run", "luminosityBlock", "event"), zip(*ids, strict=True),
                                   (np.uint32, np.uint32, np.uint64), strict=True):
        if name not in drop:
            data[name] = np.array(column, dtype=dtype)
    with uproot.recreate(path) as f:
        f.mktree(tree, {k: v.type.content if isinstance(v, ak.Array) else v.dtype
                        for k, v in data.items()})
        f[tree].extend(data)
    return path


@pytest.fixture
def pair():
    """Four events whose triplets are known; returns (full events, fast events, expected)."""
    return pair_events()


def pair_events():
    """Four events whose triplets are known: (full events, fast events, expected rows)."""
    full = [
        ([(50, 0.0, 0.0), (30, 1.0, 2.0), (20, -1.0, -2.0), (18, -1.3, -2.0), (12, 0.0, 0.35)],
         [jet(48, 0.1, 0.0, (0.9, 0.1, 0.7, 0.3), 5, 0),   # ΔR 0.1: g0's partner
          jet(31, 1.25, 2.0, idx=1),                        # ΔR 0.25 from g1: no partner
          jet(21, -1.0, -2.05, idx=2)]),                    # g2 has a GEN neighbour at 0.3
        ([(40, 0.5, 3.1), (25, -2.0, 1.0), (35, 2.5, -1.0), (60, -0.5, -0.5)],
         [jet(41, 0.5, -3.1, (0.2, 0.4, 0.5, 0.6), 4, 0),  # across φ = ±π: ΔR 0.083
          jet(14, -2.0, 1.0, idx=1),                        # below PT_MIN
          jet(36, 2.5, -1.0, flavour=0, idx=2),
          jet(58, -0.5, -0.5, idx=3), jet(20, -0.5, -0.1)]),  # neighbours at ΔR 0.4
        ([], []),
        ([(100, 3.0, 1.0), (16, -3.0, 0.0)],
         [jet(95, 3.05, 1.0, (0.7, 0.2, 0.1, 0.05), 5, 0),
          jet(15.5, -3.0, 0.05, (0.01, 0.6, 0.2, 0.9), 0, 1)]),
    ]
    fast = copy.deepcopy(full)
    fast[0][1][:] = [jet(46, 0.05, 0.02, (0.85, 0.15, 0.65, 0.35), 5, 0),
                     jet(29, 1.0, 2.1, idx=1), jet(20, -1.0, -2.0, idx=2)]
    fast[1][1][:] = [jet(39, 0.45, 3.12, (0.25, 0.45, 0.55, 0.65), 4, 0),
                     jet(26, -2.0, 1.0, idx=1),
                     jet(34, 2.5, -1.0, (-1.0, -1.0, -1.0, -1.0), 0, 2),  # no DeepJet output
                     jet(59, -0.5, -0.5, idx=3)]
    fast[3][1][:] = [jet(97, 2.95, 1.05, (0.72, 0.22, 0.12, 0.06), 5, 0),
                     jet(15.0, -3.0, 0.0, (0.02, 0.5, 0.3, 0.8), 0, 1)]  # exactly PT_MIN
    expected = {
        "g": [[50, 0.0, 5], [40, 0.5, 4], [100, 3.0, 5], [16, -3.0, 0]],
        "x_full": [[0.9, 0.1, 0.7, 0.3], [0.2, 0.4, 0.5, 0.6], [0.7, 0.2, 0.1, 0.05],
                   [0.01, 0.6, 0.2, 0.9]],
        "x_fast": [[0.85, 0.15, 0.65, 0.35], [0.25, 0.45, 0.55, 0.65],
                   [0.72, 0.22, 0.12, 0.06], [0.02, 0.5, 0.3, 0.8]],
        "h_full": [[48, 0.1], [41, 0.5], [95, 3.05], [15.5, -3.0]],
        "h_fast": [[46, 0.05], [39, 0.45], [97, 2.95], [15.0, -3.0]],
    }
    return full, fast, expected


EXPECTED_REPORT = {
    "events": 4, "gen_jets": 11, "gen_jets_kept": 8, "jets_kept_full": 7, "jets_kept_fast": 9,
    "matched_full": 5, "matched_fast": 8, "matched": 5, "default_tags_full": 0,
    "default_tags_fast": 1, "dropped_default_tags": 1, "triplets": 4,
    "unstored_gen_partner_full": 0, "unstored_gen_partner_fast": 0,
}


def write_pair(tmp_path, full, fast, **kwargs):
    return (write_nanoaod(tmp_path / "full.root", full, **kwargs),
            write_nanoaod(tmp_path / "fast.root", fast, **kwargs))


# -- the rules ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["index", "geometric"])
def test_known_triplets(tmp_path, pair, kind):
    full, fast, expected = pair
    drop = () if kind == "index" else ("Jet_genJetIdx",)
    report = {}
    arrays = import_nanoaod(*write_pair(tmp_path, full, fast, drop=drop), report=report)
    assert {k: (v.shape, v.dtype) for k, v in arrays.items()} == {
        "g": ((4, 3), np.float64), "x_full": ((4, 4), np.float64), "x_fast": ((4, 4), np.float64),
        "h_full": ((4, 2), np.float64), "h_fast": ((4, 2), np.float64)}
    for key, rows in expected.items():
        np.testing.assert_allclose(arrays[key], rows, rtol=1e-6, err_msg=key)
    assert report == EXPECTED_REPORT


def test_chunks_give_the_same_rows(tmp_path, pair, monkeypatch, capsys):
    full, fast, expected = pair
    paths = write_pair(tmp_path, full, fast)
    whole = import_nanoaod(*paths)
    monkeypatch.setattr(nanoaod, "CHUNK_EVENTS", 1)
    report = {}
    chunked = import_nanoaod(*paths, progress=True, report=report)
    for key in expected:
        np.testing.assert_array_equal(chunked[key], whole[key], err_msg=key)
    assert report == EXPECTED_REPORT
    err = capsys.readouterr().err
    assert "NanoAOD import" in err and "4/4" in err


def test_gen_jet_index_past_the_stored_gen_jets_means_no_partner(tmp_path):
    # NanoAOD before CMSSW 13 points to GEN jets below its GenJet cut that it did not store
    gen = [(50, 0.0, 0.0), (40, 2.0, 2.0)]
    full = [(gen, [jet(49, 0.0, 0.0, idx=0), jet(41, 2.0, 2.0, idx=7)])]
    fast = [(gen, [jet(48, 0.0, 0.0, idx=0), jet(42, 2.0, 2.0, idx=1)])]
    report = {}
    arrays = import_nanoaod(*write_pair(tmp_path, full, fast), report=report)
    np.testing.assert_allclose(arrays["g"], [[50, 0.0, 5]])
    assert report["unstored_gen_partner_full"] == 1 and report["unstored_gen_partner_fast"] == 0


def test_gen_jet_index_is_followed_not_the_closest_gen_jet(tmp_path):
    gen = [(50, 0.0, 0.0), (40, 0.0, 0.15)]  # neighbours: neither GEN jet is kept ...
    gen_far = [(50, 0.0, 0.0), (40, 2.0, 2.0)]
    events = [(gen_far, [jet(49, 0.0, 0.0, idx=1)]), (gen, [jet(49, 0.0, 0.0, idx=0)])]
    paths = write_pair(tmp_path, events, events)
    with pytest.raises(DataError, match=r"no GEN jet has a matched jet.*2 events, 2 of 4 GEN"):
        import_nanoaod(*paths)  # ... and in event 0 the index names the far one


def test_delta_phi_is_wrapped():  # the importer's ΔR is the jets task's
    assert delta_r(0.0, 3.1, 0.0, -3.1) == pytest.approx(2 * math.pi - 6.2)
    assert delta_r(0.0, math.pi, 0.0, 0.0) == pytest.approx(math.pi)
    assert delta_r(1.0, -math.pi / 2, 0.0, math.pi / 2) == pytest.approx(
        math.hypot(1.0, math.pi))


def _jets(events) -> nanoaod._Jets:
    counts = [len(ev) for ev in events]
    flat = np.array([j for ev in events for j in ev], dtype=np.float64).reshape(-1, 3)
    return nanoaod._Jets(np.concatenate([[0], np.cumsum(counts)]), *flat.T)


def _naive_kept(events):
    out = []
    for ev in events:
        for i, (pt, eta, phi) in enumerate(ev):
            neighbours = [delta_r(eta, phi, e, p) for k, (q, e, p) in enumerate(ev)
                          if k != i and q >= PT_MIN]
            out.append(pt >= PT_MIN and all(dr >= ISOLATION_DR for dr in neighbours))
    return out


def _naive_greedy(reco_events, gen_events):
    out, start_r, start_g = [], 0, 0
    for reco, gen in zip(reco_events, gen_events, strict=True):
        pairs = sorted((delta_r(r[1], r[2], g[1], g[2]), i, j)
                       for i, r in enumerate(reco) for j, g in enumerate(gen))
        partner, used = [-1] * len(reco), set()
        for dr, i, j in pairs:
            if dr < MATCH_DR and partner[i] < 0 and j not in used:
                partner[i] = start_g + j
                used.add(j)
        out += partner
        start_r, start_g = start_r + len(reco), start_g + len(gen)
    return out


axis = st.tuples(st.floats(10.0, 60.0), st.floats(-0.6, 0.6),  # crowded, across φ = ±π
                 st.floats(math.pi - 0.6, math.pi + 0.6).map(lambda p: math.remainder(p, math.tau)))
event_jets = st.lists(st.lists(axis, max_size=6), min_size=1, max_size=5)


@settings(max_examples=150, deadline=None)
@given(event_jets)
def test_isolation_matches_a_loop_over_jets(events):
    np.testing.assert_array_equal(nanoaod._kept(_jets(events)), _naive_kept(events))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_closest_pairs_first_matches_a_greedy_loop(data):
    reco = data.draw(event_jets)
    gen = data.draw(st.lists(st.lists(axis, max_size=6), min_size=len(reco), max_size=len(reco)))
    partner = nanoaod._closest_pairs_first(_jets(reco), _jets(gen))
    np.testing.assert_array_equal(partner, _naive_greedy(reco, gen))


def test_closest_pairs_first_takes_the_closest_pair_before_a_reco_jet_picks():
    # r0's closest GEN jet is g0, but g0 is closer still to r1: r0 goes without
    reco = _jets([[(30, 0.0, 0.0), (30, 0.15, 0.0)]])
    gen = _jets([[(30, 0.12, 0.0), (30, 0.34, 0.0)]])
    np.testing.assert_array_equal(nanoaod._closest_pairs_first(reco, gen), [-1, 0])


# -- errors ------------------------------------------------------------------------------------

def test_different_event_counts(tmp_path, pair):
    full, fast, _ = pair
    paths = write_pair(tmp_path, full, fast[:3])
    with pytest.raises(DataError, match="different numbers of events") as err:
        import_nanoaod(*paths)
    message = str(err.value)
    assert str(paths[0]) in message and str(paths[1]) in message
    assert "has 4" in message and "has 3" in message


@pytest.mark.parametrize("chunk", [1, 100])
def test_different_event_numbers(tmp_path, pair, monkeypatch, chunk):
    monkeypatch.setattr(nanoaod, "CHUNK_EVENTS", chunk)
    full, fast, _ = pair
    full_path = write_nanoaod(tmp_path / "full.root", full)
    fast_path = write_nanoaod(tmp_path / "fast.root", fast,
                              ids=[(1, 1, 0), (1, 1, 7), (1, 1, 2), (1, 2, 3)])
    message = (r"full\.root \(full\) and .*fast\.root \(fast\) hold different events: .*differ "
               r"in 2 of 4 entries, first in entry 1: \(1, 1, 1\) and \(1, 1, 7\)")
    with pytest.raises(DataError, match=message):
        import_nanoaod(full_path, fast_path)
    # without the event numbers in one of the files, nothing is compared
    fast_path = write_nanoaod(tmp_path / "fast.root", fast, drop=("event",))
    assert len(import_nanoaod(full_path, fast_path)["g"]) == 4


def test_fast_gen_jet_index_needs_the_same_gen_jets(tmp_path, pair):
    full, fast, _ = pair
    fast[2] = ([(12, 0.0, 0.0)], [])
    with pytest.raises(DataError, match=r"different GEN jets: nGenJet differs in 1 .*entry 2 "
                                        r"\(0 and 1\)"):
        import_nanoaod(*write_pair(tmp_path, full, fast))


def test_missing_branches_are_listed(tmp_path, pair):
    full, fast, _ = pair
    drop = ("Jet_btagDeepFlavQG", "GenJet_phi", "Jet_hadronFlavour")
    full_path = write_nanoaod(tmp_path / "full.root", full, drop=drop)
    fast_path = write_nanoaod(tmp_path / "fast.root", fast, drop=("Jet_eta",))
    with pytest.raises(DataError, match=r"full\.root \(full\): tree 'Events' lacks branches: "
                                        r"GenJet_phi, Jet_btagDeepFlavQG, Jet_hadronFlavour$"):
        import_nanoaod(full_path, fast_path)
    full_path = write_nanoaod(tmp_path / "full.root", full)
    with pytest.raises(DataError, match=r"fast\.root \(fast\): .*lacks branches: Jet_eta$"):
        import_nanoaod(full_path, fast_path)
    # the fast file's hadron flavour is not used
    fast_path = write_nanoaod(tmp_path / "fast.root", fast, drop=("Jet_hadronFlavour",))
    assert len(import_nanoaod(full_path, fast_path)["g"]) == 4


def test_nan_values_of_kept_jets_are_counted(tmp_path, pair):
    full, fast, _ = pair
    full[1][1][1]["btagDeepFlavCvB"] = float("nan")  # pT 14: not kept, not checked
    paths = write_pair(tmp_path, full, fast)
    assert len(import_nanoaod(*paths)["g"]) == 4
    full[0][1][0]["btagDeepFlavCvB"] = float("nan")
    full[0][1][2]["btagDeepFlavCvB"] = float("inf")
    with pytest.raises(DataError, match=r"full\.root: branch Jet_btagDeepFlavCvB has 2 NaN or "
                                        r"infinite values among the kept jets"):
        import_nanoaod(*write_pair(tmp_path, full, fast))


def test_nan_kinematics_are_counted(tmp_path, pair):
    full, fast, _ = pair
    full[3] = ([(100, 3.0, 1.0), (16, float("inf"), 0.0)], full[3][1])
    fast[1][1].append(jet(12, 1.0, float("nan")))  # kinematics of all jets are used
    with pytest.raises(DataError, match=r"full\.root: branch GenJet_eta has 1 NaN"):
        import_nanoaod(*write_pair(tmp_path, full, fast))
    full[3] = fast[3]
    with pytest.raises(DataError, match=r"fast\.root: branch Jet_phi has 1 NaN"):
        import_nanoaod(*write_pair(tmp_path, full, fast))


def test_bad_hadron_flavour(tmp_path, pair):
    full, fast, _ = pair
    full[0][1][0]["hadronFlavour"] = 21
    full[1][1][0]["hadronFlavour"] = 3
    full[1][1][1]["hadronFlavour"] = 1  # not kept
    with pytest.raises(DataError, match=r"full\.root: branch Jet_hadronFlavour has 2 values "
                                        r"outside 0, 4, 5 .*\(values: 3, 21\)"):
        import_nanoaod(*write_pair(tmp_path, full, fast))


def test_gen_jet_index_below_minus_one(tmp_path, pair):
    full, fast, _ = pair
    fast[3][1][0]["genJetIdx"] = -2
    with pytest.raises(DataError, match=r"fast\.root: branch Jet_genJetIdx has 1 negative"):
        import_nanoaod(*write_pair(tmp_path, full, fast))


def test_no_matched_jets(tmp_path, pair):
    full, fast, _ = pair
    for _, jets in fast:
        for j in jets:
            j["phi"] += 1.5
    with pytest.raises(DataError, match=r"no GEN jet has a matched jet .*full\.root.*fast\.root.*"
                                        r"4 events, 8 of 11 GEN jets kept"):
        import_nanoaod(*write_pair(tmp_path, full, fast))


def test_default_tags_only(tmp_path, pair):
    full, fast, _ = pair
    for _, jets in fast:
        for j in jets:
            j.update(zip(TAGS, DEFAULT, strict=True))
    report = {}
    with pytest.raises(DataError, match=r"all 5 matched jets of \S*fast\.root carry DeepJet "
                                        r"default values \(B = -3000, CvB = -1, CvL = -1, "
                                        r"QG = -1.*the file was made without DeepJet"):
        import_nanoaod(*write_pair(tmp_path, full, fast), report=report)
    assert report["dropped_default_tags"] == report["matched"] == 5
    assert report["triplets"] == 0


def test_default_tags_on_either_side(tmp_path, pair):
    full, fast, _ = pair
    for side, event in ((full, 0), (full, 1), (fast, 3)):
        for j in side[event][1]:
            j["btagDeepFlavB"] = -1.0
    with pytest.raises(DataError, match=r"each of the 5 matched jet triplets has a jet with "
                                        r"DeepJet default values \(B = -1, CvB = -1.*full: 3 jets"
                                        r".*fast: 3 jets"):
        import_nanoaod(*write_pair(tmp_path, full, fast))


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    (b"not a ROOT file at all\n" * 10, "not a readable ROOT file"),
    ("other tree", r"no tree 'Events' \(trees: Runs\); is it NanoAOD\?"),
    ("rntuple", r"'Events' is a ROOT::RNTuple, not a TTree"),
])
def test_unusable_files(tmp_path, content, message):
    path = tmp_path / "bad.root"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "other tree":
        with uproot.recreate(path) as f:
            f.mktree("Runs", {"run": np.uint32})
    elif content == "rntuple":
        with uproot.recreate(path) as f:
            f["Events"] = {"Jet": ak.zip({"pt": ak.Array([[20.0]])})}
    with pytest.raises(DataError, match=rf"bad\.root.*{message}"):
        import_nanoaod(path, path)


def test_truncated_file(tmp_path, pair):
    full, fast, _ = pair
    whole = write_nanoaod(tmp_path / "whole.root", full).read_bytes()
    cut = tmp_path / "cut.root"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match=r"cut\.root: truncated ROOT file"):
        import_nanoaod(cut, write_nanoaod(tmp_path / "fast.root", fast))


# -- the real CMS Open Data file ------------------------------------------------------------------

@needs_real
def test_real_file_holds_only_deepjet_defaults():
    report = {}
    message = (rf"all \d+ matched jets of {re.escape(str(REAL))} carry DeepJet default values "
               r"\(B = -3000, CvB = -1, CvL = -1, QG = -1")
    with pytest.raises(DataError, match=message):
        import_nanoaod(REAL, REAL, report=report)
    assert report["events"] == 200
    assert report["matched"] > 0 and report["triplets"] == 0
    assert report["dropped_default_tags"] == report["matched"]
    assert report["matched_full"] == report["matched_fast"] == report["matched"]
    # NanoAOD of 2015 points some jets to GEN jets it did not store (cms-sw/cmssw#41039)
    assert report["unstored_gen_partner_full"] > 0


def _real_rows(full: Path, fast: Path) -> dict[str, np.ndarray]:
    counts = defaultdict(int)
    chunks = list(nanoaod._matched_rows(full, fast, "Events", False, counts))
    return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}


@needs_real
def test_real_file_matching_as_full_and_fast():
    rows = _real_rows(REAL, REAL)
    n = len(rows["g"])
    assert n > 200  # 292 matched jets in 200 tt̄ events
    np.testing.assert_array_equal(rows["h_full"], rows["h_fast"])
    np.testing.assert_array_equal(rows["x_full"], rows["x_fast"])
    np.testing.assert_array_equal(rows["x_full"], np.tile(DEFAULT, (n, 1)))
    g, h = rows["g"], rows["h_full"]
    assert (g[:, 0] >= PT_MIN).all() and (h[:, 0] >= PT_MIN).all()
    assert set(np.unique(g[:, 2])) <= set(FLAVOURS) and len(np.unique(g[:, 2])) == 3
    assert (np.abs(g[:, 1] - h[:, 1]) < MATCH_DR).all()
    assert np.median(h[:, 0] / g[:, 0]) == pytest.approx(1.0, abs=0.15)


@needs_real
def test_real_file_gen_jet_index_agrees_with_geometric_matching(tmp_path):
    branches = [*nanoaod._GEN, *nanoaod._KINEMATICS, *NANOAOD_TAG_BRANCHES,
                "Jet_hadronFlavour"]
    with uproot.open(REAL) as f:
        data = f["Events"].arrays(branches)
    copied = {"Jet": ak.zip({b[4:]: data[b] for b in branches if b.startswith("Jet_")}),
              "GenJet": ak.zip({b[7:]: data[b] for b in branches if b.startswith("GenJet_")})}
    path = tmp_path / "no_index.root"
    with uproot.recreate(path) as f:
        f.mktree("Events", {k: v.type.content for k, v in copied.items()})
        f["Events"].extend(copied)
    by_index, by_distance = _real_rows(REAL, REAL), _real_rows(path, path)
    for key in by_index:
        np.testing.assert_array_equal(by_index[key], by_distance[key], err_msg=key)
