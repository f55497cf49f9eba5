"""``perfekt-bench export``: one ONNX graph per run, checked against the torch refiner."""

from __future__ import annotations

import types

import numpy as np
import onnx
import pytest

from perfekt_bench import (
    IncompatibleError,
    PluginHost,
    Refinement,
    Refiner,
    RunConfig,
    TransformedRefiner,
    hookimpl,
    run,
)
from perfekt_bench.cli import main
from perfekt_bench.export import (
    DEFAULT_OPSET,
    RTOL,
    OnnxRefiner,
    export_checked,
    export_run,
    metadata,
)
from perfekt_bench.rundir import read_evaluation
from perfekt_bench.testing import make_triplets

HOST = PluginHost(autoload=False)


def smoke_run(dirs, task="analytic", refiner="twostage", host=HOST, **kw):
    kw.setdefault("metrics", ["mse"])
    return run(RunConfig(task, refiner, budget="smoke", progress=False, plots=False,
                         latency_repeats=0, **dirs, **kw), host=host)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    return {"results_dir": str(root / "results"), "cache_dir": str(root / "cache")}


def evaluated(run_dir):
    """Half A's inputs and what the run stored as their refinement."""
    table = read_evaluation(run_dir)
    x_fast, g = table.inputs()
    refined = np.column_stack([table.x("refined", n) for n in table.features])
    return x_fast, g, refined, table.frame["refined.weight"].to_numpy()


def assert_reproduces(model_path, run_dir, *, weights: bool):
    """The graph on ONNX Runtime gives the run's own refined values, batch by batch."""
    x_fast, g, refined, weight = evaluated(run_dir)
    onnx_refiner = OnnxRefiner(model_path)
    for rows in (slice(0, 1), slice(0, 3), slice(None)):  # the batch axis is dynamic
        out = onnx_refiner.refine(x_fast[rows], g[rows])
        if weights:
            np.testing.assert_allclose(out.weight, weight[rows], rtol=RTOL)
        else:
            scale = np.abs(refined).max(axis=0)
            assert (np.abs(out.x - refined[rows]) <= RTOL * scale).all()


def offers_module(name):
    """Whether the refiner overrides :meth:`Refiner.export_module` (its default refuses)."""
    return HOST.refiner_class(name).export_module is not Refiner.export_module


EXPORTING = [name for name in HOST.refiners.names() if offers_module(name)]
NOT_EXPORTING = [name for name in HOST.refiners.names() if not offers_module(name)]


def test_the_builtins_that_export_are_the_network_refiners():
    assert {"identity", "mse", "onestage", "twostage", "huber-mmd", "dctr"} <= set(EXPORTING)
    assert {"qrc", "gen2reco"} <= set(NOT_EXPORTING)


@pytest.mark.parametrize("refiner", NOT_EXPORTING)
def test_a_refiner_without_a_module_is_refused_in_one_line(refiner, dirs, tmp_path, capsys):
    result = smoke_run(dirs, refiner=refiner)
    path = tmp_path / "model.onnx"
    assert main(["export", str(result.run_dir), "--onnx", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"refiner {refiner!r} cannot be exported to ONNX" in err
    assert not path.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("refiner", EXPORTING)
def test_every_builtin_exports_from_the_cli(refiner, dirs, tmp_path, capsys):
    result = smoke_run(dirs, refiner=refiner)
    path = tmp_path / "model.onnx"
    assert main(["export", str(result.run_dir), "--onnx", str(path)]) == 0
    out = capsys.readouterr().out
    assert "max |diff|" in out and "max relative" in out and f"opset {DEFAULT_OPSET}" in out
    weights = HOST.refiner_class(refiner).outputs_weights
    assert_reproduces(path, result.run_dir, weights=weights)

    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert model.opset_import[0].version == DEFAULT_OPSET
    assert [i.name for i in model.graph.input] == ["x_fast", "g"]
    assert [o.name for o in model.graph.output] == ["weight" if weights else "x_refined"]
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param == "batch" and not batch.HasField("dim_value")
    meta = metadata(path)
    assert meta["task"] == "analytic" and meta["refiner"] == refiner
    assert meta["run_id"] == result.run_dir.name
    assert meta["x_names"] == "x" and meta["g_names"] == "x_gen"


@pytest.mark.parametrize("opset", [11, 13, 17])
def test_opsets(opset, dirs, tmp_path):
    result = smoke_run(dirs, refiner="mse")
    check = export_run(result.run_dir, tmp_path / "m.onnx", opset=opset, host=HOST)
    assert check.ok and check.n == len(read_evaluation(result.run_dir))
    assert onnx.load(str(tmp_path / "m.onnx")).opset_import[0].version == opset
    assert_reproduces(tmp_path / "m.onnx", result.run_dir, weights=False)


@pytest.mark.slow
@pytest.mark.parametrize("refiner", ["cms-mdmm", "dctr", "identity"])
def test_deepjet_exports_with_its_pre_and_post_processing(refiner, dirs, tmp_path):
    """The graph holds the CMS pre-processing (logits, tanh/logit of GEN pT, one-hot flavour)
    and post-processing (the node rebuild), in float64 as the Python path."""
    result = smoke_run(dirs, task="deepjet", refiner=refiner, size=1500, workers=1)
    path = tmp_path / "deepjet.onnx"
    check = export_run(result.run_dir, path, host=HOST)
    assert check.ok, str(check)
    assert_reproduces(path, result.run_dir, weights=refiner == "dctr")
    model = onnx.load(str(path))
    ops = {node.op_type for node in model.graph.node}
    assert "Log" in ops  # the logits of the discriminators
    if refiner != "dctr":
        assert {"Softmax", "Sigmoid"} <= ops  # the node rebuild
    if refiner != "identity":
        assert {"Exp", "Equal"} <= ops  # tanh/logit of GEN pT, one-hot flavour
    else:  # the floor reads no g but keeps the input, and returns fastsim bit-identical
        assert [i.name for i in model.graph.input] == ["x_fast", "g"]
        x_fast, g, refined, _ = evaluated(result.run_dir)
        np.testing.assert_array_equal(refined.astype(np.float32), x_fast)
        np.testing.assert_array_equal(OnnxRefiner(path).refine(x_fast, g).x, x_fast)


# -- refiners that cannot export, or whose graph is wrong -----------------------------------

class PythonOnly(Refiner):
    """Shifts x by one; offers no torch module."""

    name = "python-only"

    def __init__(self, *, seed=0, device="cpu"):
        self.seed, self.device = seed, device

    def fit(self, train, validation, *, progress=False):
        self.history_ = []
        return self

    def refine(self, x_fast, g):
        return Refinement(np.asarray(x_fast, np.float32) + 1)


class WrongGraph(PythonOnly):
    """Its exported module adds 1.001 instead of 1."""

    name = "wrong-graph"

    def export_module(self):
        from torch import nn

        class Shift(nn.Module):
            def forward(self, x_fast, g):
                return x_fast + 1.001

        return Shift()


@pytest.fixture(scope="module")
def mine():
    plugin = types.SimpleNamespace(perfekt_bench_register_refiners=hookimpl(
        lambda registry: [registry.add(c) for c in (PythonOnly, WrongGraph)]))
    return PluginHost(autoload=False, plugins=[("mine", plugin)])


def test_a_refiner_without_torch_module_says_so_in_one_line(mine, dirs, tmp_path):
    result = smoke_run(dirs, refiner="python-only", host=mine)
    with pytest.raises(IncompatibleError) as err:
        export_run(result.run_dir, tmp_path / "m.onnx", host=mine)
    assert "'python-only' cannot be exported to ONNX" in str(err.value)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "m.onnx").exists()


def test_a_graph_that_does_not_reproduce_the_refiner_is_not_written(mine, dirs, tmp_path):
    result = smoke_run(dirs, refiner="wrong-graph", host=mine)
    with pytest.raises(IncompatibleError, match=r"does not reproduce it.*max relative"):
        export_run(result.run_dir, tmp_path / "m.onnx", host=mine)
    assert list(tmp_path.iterdir()) == []


def test_a_transform_without_torch_modules_cannot_export():
    from perfekt_bench import FeatureTransform

    class Square(FeatureTransform):
        name = "square"

        def forward_g(self, g):
            return g

        def forward_x(self, x):
            return x ** 2

        def inverse_x(self, z):
            return np.sqrt(np.abs(z))

        def names(self, names):
            return names

    train = make_triplets(256, seed=1)
    refiner = TransformedRefiner(HOST.refiner_class("identity")(), Square()).fit(train, train)
    with pytest.raises(IncompatibleError, match="transform 'square'.*torch_modules"):
        export_checked(refiner, train.x_fast, train.g)


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path), "--onnx", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("perfekt-bench: error:") and "config.json" in err
    assert err.count("\n") == 1 and not (tmp_path / "m.onnx").exists()


def test_quantize_writes_int8_weights_and_reports_the_fidelity_it_costs(dirs, tmp_path, capsys):
    import json

    result = smoke_run(dirs, refiner="twostage", metrics=["omniscient_mmd"])
    path = tmp_path / "int8.onnx"
    assert main(["export", str(result.run_dir), "--onnx", str(path), "--quantize"]) == 0
    out = capsys.readouterr().out
    model = onnx.load(str(path))
    assert "MatMulInteger" in {node.op_type for node in model.graph.node}
    assert "int8 weights" in metadata(path)["quantization"]
    # the float graph's primary metric is the run's own; the int8 graph's is reported beside
    stored = json.loads((result.run_dir / "result.json").read_text())
    run_value = stored["metrics"]["omniscient_mmd"]["refined"]["value"]
    line = next(li for li in out.splitlines() if li.startswith("primary metric"))
    float_value = float(line.split("float ")[1].split(" ")[0])
    int8_value = float(line.split("int8 ")[1].split(" ")[0])
    assert float_value == pytest.approx(run_value, rel=1e-4)
    assert int8_value == pytest.approx(run_value, rel=0.2) and int8_value != float_value
    assert "speed, one thread: float p50" in out and "int8 p50" in out
    x_fast, g, refined, _ = evaluated(result.run_dir)
    int8 = OnnxRefiner(path).refine(x_fast, g).x
    assert 0 < np.abs(int8 - refined).max() < 0.1 * np.abs(refined).max()
