"""``perfekt-bench refine``: a run's refiner applied to the user's Parquet and ROOT files.

The acceptance check: half A of a run's test split, written to a file in the task's
conventions, refined by ``perfekt-bench refine`` (with the torch refiner, and with the graph
``perfekt-bench export`` wrote) gives the refined values the run itself evaluated.
"""

from __future__ import annotations

import math

import awkward as ak
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uproot
from test_deepjet_nanoaod import jet, write_nanoaod
from test_jets_delphes import REAL as REAL_DELPHES
from test_jets_delphes import fatjet, gen_ratios, ratios, spray, write_delphes

from perfekt_bench import PluginHost, RunConfig, load_refiner, run
from perfekt_bench.cli import main
from perfekt_bench.export import RTOL
from perfekt_bench.rundir import read_evaluation

HOST = PluginHost(autoload=False)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("refine")
    return {"results_dir": str(root / "results"), "cache_dir": str(root / "cache")}


def smoke_run(dirs, task, refiner, **kw):
    return run(RunConfig(task, refiner, budget="smoke", progress=False, plots=False,
                         latency_repeats=0, metrics=["mse"], workers=1, **dirs, **kw), host=HOST)


@pytest.fixture(scope="module")
def analytic(dirs):
    return smoke_run(dirs, "analytic", "twostage").run_dir


class HalfA:
    """Half A of a run's test split: its inputs, and what the run stored as refined."""

    def __init__(self, run_dir):
        table = read_evaluation(run_dir)
        self.x_names, self.g_names = table.features, table.conditioning
        self.x, self.g = table.inputs()
        self.refined = np.column_stack([table.x("refined", n) for n in self.x_names])
        self.weight = table.frame["refined.weight"].to_numpy()

    def columns(self) -> dict[str, np.ndarray]:
        return ({n: self.x[:, j] for j, n in enumerate(self.x_names)}
                | {n: self.g[:, j] for j, n in enumerate(self.g_names)})

    def write_parquet(self, path, **extra):
        pd.DataFrame(self.columns() | extra).to_parquet(path, index=False)
        return path

    def write_tree(self, path, tree="objects"):
        with uproot.recreate(path) as f:
            columns = self.columns()
            f.mktree(tree, {k: v.dtype for k, v in columns.items()})
            f[tree].extend(columns)
        return path


def refine(*args) -> int:
    return main(["refine", *map(str, args), "--quiet"])


def read_parquet_refined(path, names, prefix=""):
    table = ak.from_parquet(path)
    return table, np.column_stack([np.asarray(ak.flatten(table[f"{prefix}{n}_refined"],
                                                          axis=None)) for n in names])


def read_root_refined(path, names, prefix=""):
    with uproot.open(path) as f:
        arrays = f["Friends"].arrays()
    columns = [np.asarray(ak.flatten(arrays[f"{prefix}{n}_refined"], axis=None))
               for n in names]
    return arrays, np.column_stack(columns)


def exported(run_dir, tmp_path):
    path = tmp_path / "model.onnx"
    assert main(["export", str(run_dir), "--onnx", str(path)]) == 0
    return path


def check_file_round_trip(run_dir, tmp_path, *, write, prefix="", select=None):
    """Refine the written file to Parquet and to ROOT, with torch and with ONNX Runtime."""
    half = HalfA(run_dir)
    source = write(half, tmp_path)
    model = exported(run_dir, tmp_path)
    for output in ("out.parquet", "out.root"):
        for onnx in ((), ("--onnx", model)):
            out = tmp_path / output
            assert refine(run_dir, "--input", source, "--output", out, "--chunk-size", 97,
                          *onnx) == 0
            reader = read_parquet_refined if output.endswith(".parquet") else read_root_refined
            _, got = reader(out, half.x_names, prefix)
            if select is not None:
                got = got[select(out)]
            # float32 rounding only: chunks of another size (and ONNX Runtime) take other
            # matrix kernels than the run's one call on the whole test split
            scale = np.abs(half.refined).max(axis=0)
            tolerance = RTOL if onnx else 1e-6
            assert (np.abs(got - half.refined) <= tolerance * scale).all(), output
    return half


def test_analytic_parquet_and_flat_tree(analytic, tmp_path):
    check_file_round_trip(analytic, tmp_path, write=lambda half, p: half.write_parquet(
        p / "in.parquet"))
    check_file_round_trip(analytic, tmp_path, write=lambda half, p: half.write_tree(
        p / "in.root"))


def test_parquet_output_keeps_the_input_columns_and_rows(analytic, tmp_path, capsys):
    half = HalfA(analytic)
    ids = np.arange(len(half.x)) * 3
    source = half.write_parquet(tmp_path / "in.parquet", object_id=ids)
    assert main(["refine", str(analytic), "--input", str(source), "--output",
                 str(tmp_path / "out.parquet"), "--chunk-size", "1000"]) == 0
    captured = capsys.readouterr()
    assert f"{len(ids)} of {len(ids)} objects refined (python)" in captured.out
    assert "refine in.parquet" in captured.err  # the progress bar
    table = pd.read_parquet(tmp_path / "out.parquet")
    assert list(table.columns) == ["x", "x_gen", "object_id", "x_refined"]
    # read, refined and written a chunk at a time: one row group per chunk
    assert pq.ParquetFile(tmp_path / "out.parquet").num_row_groups == math.ceil(len(ids) / 1000)
    np.testing.assert_array_equal(table["object_id"], ids)
    np.testing.assert_array_equal(table["x"], half.x[:, 0])


def test_columns_option_reads_other_names(analytic, tmp_path):
    half = HalfA(analytic)
    source = tmp_path / "mine.parquet"
    pd.DataFrame({"gen": half.g[:, 0], "fast": half.x[:, 0]}).to_parquet(source)
    assert refine(analytic, "--input", source, "--output", tmp_path / "o.parquet",
                  "--columns", "x=fast", "g=gen") == 0
    table = pd.read_parquet(tmp_path / "o.parquet")
    np.testing.assert_allclose(table["fast_refined"], half.refined[:, 0], rtol=1e-6, atol=1e-6)


def test_collection_tree_with_columns(analytic, tmp_path):
    """A tree with one list of objects per entry: the friend keeps the entries' structure."""
    half = HalfA(analytic)
    counts = np.resize([3, 0, 2, 1], len(half.x) // 2)
    counts[-1] += len(half.x) - counts.sum()
    with uproot.recreate(tmp_path / "in.root") as f:
        data = {"Obj": ak.zip({"fast": ak.unflatten(half.x[:, 0], counts),
                               "gen": ak.unflatten(half.g[:, 0], counts)})}
        f.mktree("Events", {"Obj": data["Obj"].type.content})
        f["Events"].extend(data)
    assert refine(analytic, "--input", tmp_path / "in.root", "--output", tmp_path / "o.root",
                  "--columns", "x=Obj_fast", "g=Obj_gen", "--chunk-size", 10) == 0
    with uproot.open(tmp_path / "o.root") as f:
        tree = f["Friends"]
        assert set(tree.keys()) == {"nObj", "Obj_fast_refined"}
        np.testing.assert_array_equal(tree["nObj"].array(library="np"), counts)
        got = ak.flatten(tree["Obj_fast_refined"].array())
    np.testing.assert_allclose(np.asarray(got), half.refined[:, 0], rtol=1e-6, atol=1e-6)


# -- bad input: one line, nothing written -----------------------------------------------------

def fails(capsys, tmp_path, *args, message):
    out = tmp_path / "out" / "refined.parquet"
    assert main(["refine", *map(str, args), "--output", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("perfekt-bench: error:") and err.count("\n") == 1, err
    assert message in err, err
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_bad_input_is_one_line_and_writes_nothing(analytic, tmp_path, capsys):
    half = HalfA(analytic)
    good = half.write_parquet(tmp_path / "good.parquet")
    fails(capsys, tmp_path, tmp_path, "--input", good, message="config.json")  # not a run

    other = tmp_path / "jets.parquet"
    pd.DataFrame({"tau21": [0.5], "tau32": [0.6], "tau43": [0.7]}).to_parquet(other)
    fails(capsys, tmp_path, analytic, "--input", other,
          message=f"{other}: 2 column(s) missing: x, x_gen (it has: tau21, tau32, tau43); "
                  "task 'analytic' reads x = x and g = x_gen")

    nan = tmp_path / "nan.parquet"
    x = half.x[:, 0].copy()
    x[[5, 9]], x[11] = np.nan, np.inf
    pq.write_table(pa.table({"x": x, "x_gen": half.g[:, 0]}), nan)  # NaN, not null
    fails(capsys, tmp_path, analytic, "--input", nan,
          message=f"{nan}: column x has 2 NaN and 1 infinite values in entries 0–")

    text = tmp_path / "text.parquet"
    pd.DataFrame({"x": ["a", "b"], "x_gen": [1.0, 2.0]}).to_parquet(text)
    fails(capsys, tmp_path, analytic, "--input", text,
          message="column x holds large_string, not numbers")

    nulls = tmp_path / "nulls.parquet"
    pd.DataFrame({"x": [1.0, None, 2.0], "x_gen": [1.0, 2.0, 3.0]}).to_parquet(nulls)
    fails(capsys, tmp_path, analytic, "--input", nulls,
          message="column x has 1 missing (null) values")

    fails(capsys, tmp_path, analytic, "--input", good, "--columns", "x=x,x_gen",
          message="--columns x= names 2 column(s), but task 'analytic' has 1: x")
    fails(capsys, tmp_path, analytic, "--input", tmp_path / "absent.parquet",
          message="absent.parquet: no such file")
    fails(capsys, tmp_path, analytic, "--input", tmp_path / "data.csv",
          message="not a Parquet (.parquet, .pq) or ROOT (.root) file")


def test_bad_trees_and_outputs(analytic, tmp_path, capsys):
    half = HalfA(analytic)
    with uproot.recreate(tmp_path / "mixed.root") as f:
        data = {"x": half.x[:4, 0], "x_gen": ak.unflatten(half.g[:4, 0], [1, 1, 1, 1])}
        f.mktree("t", {"x": data["x"].dtype, "x_gen": data["x_gen"].type.content})
        f["t"].extend(data)
    fails(capsys, tmp_path, analytic, "--input", tmp_path / "mixed.root",
          message="branches x_gen hold a list per entry, x one number")
    half.write_tree(tmp_path / "two.root", tree="a")
    with uproot.update(tmp_path / "two.root") as f:
        f.mktree("b", {"x": np.float32})
    fails(capsys, tmp_path, analytic, "--input", tmp_path / "two.root",
          message="2 trees (a, b); name the one to read (--tree NAME)")
    fails(capsys, tmp_path, analytic, "--input", tmp_path / "two.root", "--tree", "b",
          message="1 branch(es) missing: x_gen (it has: x)")

    good = half.write_parquet(tmp_path / "good.parquet")
    assert main(["refine", str(analytic), "--input", str(good), "--output",
                 str(tmp_path / "o.csv")]) == 2
    assert "--output" in capsys.readouterr().err


def test_onnx_of_another_run_is_refused(analytic, dirs, tmp_path, capsys):
    other = smoke_run(dirs, "analytic", "mse").run_dir
    model = exported(other, tmp_path)
    good = HalfA(analytic).write_parquet(tmp_path / "good.parquet")
    fails(capsys, tmp_path, analytic, "--input", good, "--onnx", model,
          message=f"was exported from run '{other.name}' (task 'analytic', refiner 'mse'), "
                  f"not from {analytic.name}")


# -- jets: Parquet, flat ROOT and Delphes files -----------------------------------------------

@pytest.fixture(scope="module")
def jets_run(dirs):
    return smoke_run(dirs, "jets", "twostage").run_dir


@pytest.mark.slow
def test_jets_parquet_and_flat_tree(jets_run, tmp_path):
    check_file_round_trip(jets_run, tmp_path, write=lambda half, p: half.write_parquet(
        p / "in.parquet"))
    check_file_round_trip(jets_run, tmp_path, write=lambda half, p: half.write_tree(
        p / "in.root"))


@pytest.mark.slow
def test_jets_delphes_file(jets_run, tmp_path):
    """FatJets with a GEN partner clustered from the Particle branch are refined, the others
    keep their ratios; the friend tree has one entry per event."""
    taus = [(0.5, 0.2, 0.12, 0.08, 0.05), (0.4, 0.3, 0.1, 0.05, 0.02), (0.6, 0.3, 0.2, 0.1, 0.1)]
    events = [
        {"FatJet": [fatjet(400.0, 0.5, 1.0, tau=taus[0])], "Particle": spray(420.0, 0.5, 1.0)},
        {"FatJet": [fatjet(150.0, 0.0, 0.0, tau=taus[1])],  # below RECO_PTMIN
         "Particle": spray(300.0, 0.0, 0.0)},
        {"FatJet": [fatjet(350.0, -1.0, 2.0, tau=taus[2]), fatjet(380.0, 1.5, -2.0, tau=taus[0])],
         "Particle": spray(400.0, 1.5, -2.0)},  # only the second jet has a GEN partner
    ]
    path = write_delphes(tmp_path / "delphes.root", events)
    assert refine(jets_run, "--input", path, "--output", tmp_path / "o.root") == 0
    assert refine(jets_run, "--input", path, "--output", tmp_path / "o.parquet") == 0
    with uproot.open(tmp_path / "o.root") as f:
        tree = f["Friends"]
        assert set(tree.keys()) == {"nFatJet", "FatJet_tau21_refined", "FatJet_tau32_refined",
                                    "FatJet_tau43_refined", "FatJet_refined"}
        assert tree["FatJet_refined"].array().tolist() == [[True], [False], [False, True]]
        friend = np.column_stack([ak.flatten(tree[f"FatJet_{n}_refined"].array())
                                  for n in ("tau21", "tau32", "tau43")])
    x = np.array([ratios(t) for t in (taus[0], taus[1], taus[2], taus[0])], np.float32)
    g = np.array([gen_ratios(spray(420.0, 0.5, 1.0)), gen_ratios(spray(400.0, 1.5, -2.0))],
                 np.float32)
    expected = x.copy()
    expected[[0, 3]] = load_refiner(jets_run).refine(x[[0, 3]], g).x
    np.testing.assert_allclose(friend, expected, rtol=1e-6)
    table = pd.read_parquet(tmp_path / "o.parquet")
    assert table["FatJet_tau21"].tolist()[2] == pytest.approx(x[2:, 0].tolist())
    assert math.isnan(table["FatJet_gen_tau21"][1][0])


@pytest.mark.slow
@pytest.mark.skipif(not REAL_DELPHES.is_file(),
                    reason=f"shared test data not found: {REAL_DELPHES}")
def test_jets_real_delphes_file_with_a_gen_option(jets_run, tmp_path, capsys):
    assert refine(jets_run, "--input", REAL_DELPHES, "--output", tmp_path / "o.root") == 0
    with uproot.open(tmp_path / "o.root") as f:
        assert f["Friends"].num_entries == 10
    assert refine(jets_run, "--input", REAL_DELPHES, "--output", tmp_path / "gen.root",
                  "--option", "gen_branch=GenJet") == 0  # R = 0.4 GEN jets: fewer partners
    assert "10 entries, 4 of 6 objects refined" in capsys.readouterr().out
    fails(capsys, tmp_path, jets_run, "--input", REAL_DELPHES, "--option",
          "gen_branch=GenFatJet", message="gen_branch 'GenFatJet' is not in tree 'Delphes'")
    fails(capsys, tmp_path, jets_run, "--input", REAL_DELPHES, "--option", "cone=0.8",
          message="unknown option(s) cone for the files of task 'jets'; known: gen_branch")


# -- deepjet: Parquet and NanoAOD files -------------------------------------------------------

@pytest.fixture(scope="module", params=["mse", "dctr"])
def deepjet_run(request, dirs):
    return smoke_run(dirs, "deepjet", request.param, size=1500).run_dir


def write_nano(half: HalfA, tmp_path):
    """One event per object of half A: its jet, whose GEN partner (Jet_genJetIdx 0) carries
    the conditioning; every third event also has a jet with DeepJet defaults and none."""
    events = []
    for i, (x, g) in enumerate(zip(half.x, half.g, strict=True)):
        phi = float(i % 6) - 2.5
        reco = [jet(g[0] * 0.95, g[1], phi, tuple(x), int(g[2]), 0)]
        if i % 3 == 0:
            reco.append(jet(20.0, -g[1], phi + 2.0, (-3000.0, -1.0, -1.0, -1.0), 0, -1))
        events.append(([(g[0], g[1], phi)], reco))
    return write_nanoaod(tmp_path / "nano.root", events)


def nano_refined(path):
    """Which jets of the NanoAOD friend (or Parquet) output were refined, flattened."""
    if str(path).endswith(".root"):
        with uproot.open(path) as f:
            return np.asarray(ak.flatten(f["Friends"]["Jet_refined"].array()))
    return np.asarray(ak.flatten(ak.from_parquet(path)["Jet_refined"]))


@pytest.mark.slow
def test_deepjet_parquet_and_nanoaod(deepjet_run, tmp_path):
    check_file_round_trip(deepjet_run, tmp_path, write=lambda half, p: half.write_parquet(
        p / "in.parquet"))
    half = check_file_round_trip(deepjet_run, tmp_path, write=write_nano, prefix="Jet_btagDeepFlav",
                                 select=nano_refined)
    with uproot.open(tmp_path / "out.root") as f:
        arrays = f["Friends"].arrays()
    counts, flags = np.asarray(arrays["nJet"]), arrays["Jet_refined"]
    np.testing.assert_array_equal(counts, [2 if i % 3 == 0 else 1 for i in range(len(half.x))])
    assert ak.all(flags[:, 0]) and not ak.any(flags[::3, 1])
    if "dctr" in str(deepjet_run):
        weight = np.asarray(ak.flatten(arrays["Jet_weight"]))
        refined = np.asarray(ak.flatten(flags))
        np.testing.assert_allclose(weight[refined], half.weight, rtol=1e-6)
        assert (weight[~refined] == 1).all()
    else:
        assert "Jet_weight" not in arrays.fields
    table = pd.read_parquet(tmp_path / "out.parquet")
    assert {"Jet_pt", "Jet_btagDeepFlavB", "Jet_genPt", "Jet_btagDeepFlavB_refined"} <= set(
        table.columns)
