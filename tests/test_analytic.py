"""The analytic Gaussian-mixture task reproduces the paper's unrefined numbers (Table 1)."""

import numpy as np
import pytest

from perfekt_bench import PluginHost
from perfekt_bench.cache import load_splits
from perfekt_bench.evaluation import evaluate, evaluation_candidates
from perfekt_bench_tasks.analytic import PARAMETERS, AnalyticMixture

#: Fast Perfekt Table 1, fastsim column (fullsim vs fastsim); χ² read as a total (README)
PAPER_FASTSIM = {"mmd": 39.07e-3, "omniscient_mmd": 38.39e-3, "mse": 1.384, "chi2": 3493}


@pytest.fixture(scope="module")
def paper_size(tmp_path_factory):
    return load_splits(AnalyticMixture(), 250_000, 0, cache_dir=tmp_path_factory.mktemp("cache"))


def test_populations_and_biases(monkeypatch):
    # move the small population far away in h so that h labels each object exactly
    params = PARAMETERS | {"mean_small": [PARAMETERS["mean_small"][0], 100.0]}
    monkeypatch.setattr("perfekt_bench_tasks.analytic.generation.PARAMETERS", params)
    t = AnalyticMixture().generate(40_000, seed=3)
    small = t.h_full[:, 0] > 50
    assert small.mean() == pytest.approx(1 - params["fraction_large"], abs=1e-4)
    # the biases are added to the small population only, and only to x
    diff = (t.x_full - t.x_fast)[:, 0]
    assert diff[~small].mean() == pytest.approx(0.0, abs=0.02)
    expected = params["bias_full"][0] - params["bias_fast"][0]
    assert diff[small].mean() == pytest.approx(expected, abs=0.05)
    assert (t.h_full - t.h_fast)[:, 0].mean() == pytest.approx(0.0, abs=0.01)
    # fullsim = GT + N(0, Σ_full): the spread of x around the GT value is √Σ_full,xx
    assert (t.x_full - t.g)[~small, 0].std() == pytest.approx(np.sqrt(0.1), rel=0.03)
    assert (t.x_fast - t.g)[:, 0][~small].std() == pytest.approx(np.sqrt(0.1), rel=0.03)


def test_fastsim_column_reproduces_paper_table1_within_factor_1p5(paper_size):
    host = PluginHost(autoload=False)
    task = AnalyticMixture()
    test = paper_size.test
    candidates, targets, reference = evaluation_candidates(test, test.x_fast, None)
    metrics = host.metric_instances(list(PAPER_FASTSIM))
    values = evaluate(metrics, task.evaluation(), candidates, targets, reference)
    for name, paper in PAPER_FASTSIM.items():
        ours = values[name]["fastsim"].value
        assert paper / 1.5 < ours < paper * 1.5, (name, ours, paper)
    # and the independent fullsim half sits at the noise floor, far below
    assert values["mmd"]["fullsim"].value < values["mmd"]["fastsim"].value / 20
    assert values["chi2"]["fullsim"].value < 60


def test_paper_bandwidth_matches_the_median_rule(paper_size):
    import torch

    from perfekt_bench.mmd import median_bandwidths

    t = paper_size.train
    widths = median_bandwidths(torch.from_numpy(t.x_full), torch.from_numpy(t.x_fast),
                               generator=torch.Generator().manual_seed(0))
    assert float(widths[0]) == pytest.approx(1.3658, rel=0.03)


@pytest.mark.slow
def test_twostage_beats_onestage_on_omniscient_mmd(tmp_path):
    """Paper Table 1 in miniature: both match the marginal (MMD), but only the two-stage
    recipe keeps each object in its population (omniscient MMD, which sees h)."""
    from perfekt_bench import RunConfig, run

    small = {"n_blocks": 1, "width": 32, "batch_size": 1024, "lr": 3e-3, "epochs": 5,
             "max_batches": None, "patience": None}
    values = {}
    for refiner in ("onestage", "twostage"):
        result = run(RunConfig("analytic", refiner, budget="smoke", size=30_000, seed=0,
                               params=small, metrics=["omniscient_mmd", "mmd"], progress=False,
                               plots=False, latency_repeats=0,
                               results_dir=str(tmp_path / "results"),
                               cache_dir=str(tmp_path / "cache")))
        values[refiner] = {m: {c: v.value for c, v in per.items()}
                           for m, per in result.metrics.items()}
    one, two = values["onestage"], values["twostage"]
    fastsim_mmd = one["mmd"]["fastsim"]
    assert one["mmd"]["refined"] < fastsim_mmd / 5
    assert two["mmd"]["refined"] < fastsim_mmd / 10
    assert two["omniscient_mmd"]["refined"] < two["omniscient_mmd"]["fastsim"] / 10
    assert two["omniscient_mmd"]["refined"] < one["omniscient_mmd"]["refined"] / 5
