"""The deepjet task as a user meets it: runs through the CMS pre/post-processing."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_deepjet_nanoaod import pair_events, write_nanoaod, write_pair

from perfekt_bench import RunConfig, run
from perfekt_bench.plugins import default_host

pytestmark = pytest.mark.slow

#: one PYTHIA part gives ≈ 3000 jets: a small data set shared by the tests of this module
SIZE = 1_500


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def _run(tmp_path, cache_dir, refiner, **kwargs):
    config = RunConfig(task="deepjet", refiner=refiner, budget="smoke", size=SIZE,
                       results_dir=str(tmp_path / "results"), cache_dir=str(cache_dir),
                       progress=False, latency_repeats=2,
                       metrics=kwargs.pop("metrics", ["mmd", "mse"]), **kwargs)
    return run(config)


def _evaluation(result):
    return pd.read_parquet(result.run_dir / "evaluation.parquet")


def test_identity_through_the_transform_returns_fastsim(tmp_path, cache_dir):
    result = _run(tmp_path, cache_dir, "identity", plots=False)
    table = _evaluation(result)
    names = default_host().task("deepjet").feature_names.x
    refined = table[[f"refined.{n}" for n in names]].to_numpy()
    fast = table[[f"fastsim.{n}" for n in names]].to_numpy()
    inside = np.all((fast > 1e-5) & (fast < 1 - 1e-5), axis=1)
    np.testing.assert_allclose(refined[inside], fast[inside], atol=1e-5)
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["params"]["transform"] == "deepjet-cms"
    assert json.loads((result.run_dir / "model" / "transform.json").read_text()) == {
        "transform": "deepjet-cms"}


def test_identity_is_bit_identical_to_fastsim(tmp_path, cache_dir):
    """A refiner that moves nothing gives fastsim exactly, even through the logit
    pre/post-processing (no rounding of the round trip), so every metric of identity equals
    fastsim's to the last digit."""
    result = _run(tmp_path, cache_dir, "identity", plots=False, metrics=["mmd", "chi2_ndof"])
    table = _evaluation(result)
    names = default_host().task("deepjet").feature_names.x
    np.testing.assert_array_equal(table[[f"refined.{n}" for n in names]].to_numpy(),
                                  table[[f"fastsim.{n}" for n in names]].to_numpy())
    for metric in ("mmd", "chi2_ndof"):
        assert result.metrics[metric]["refined"] == result.metrics[metric]["fastsim"], metric


@pytest.mark.parametrize("refiner", ["twostage", "cms-mdmm"])
def test_refined_discriminators_stay_in_unit_interval(tmp_path, cache_dir, refiner):
    result = _run(tmp_path, cache_dir, refiner, plots=True)
    table = _evaluation(result)
    names = default_host().task("deepjet").feature_names.x
    refined = table[[f"refined.{n}" for n in names]].to_numpy()
    assert np.all((refined >= 0) & (refined <= 1))
    b, cvb, cvl = refined[:, 0], refined[:, 1], refined[:, 2]
    ok = (cvb < 1 - 1e-6) & (cvl > 1e-6)
    # the post-processing layer makes the six nodes sum to one: B follows from CvB and CvL
    np.testing.assert_allclose(b[ok], 1 / (1 + cvb[ok] / ((1 - cvb[ok]) * cvl[ok])),
                               rtol=1e-4, atol=1e-6)
    figures = {p.name for p in (result.run_dir / "figures").iterdir()}
    assert {"distributions.png", "correlations.png",
            "correlations_conditioning.png"} <= figures


def test_no_transform_fits_on_raw_discriminators(tmp_path, cache_dir):
    result = _run(tmp_path, cache_dir, "mse", transform=False, plots=False)
    config = json.loads((result.run_dir / "config.json").read_text())
    assert "transform" not in config["params"]
    assert not (result.run_dir / "model" / "transform.json").exists()


# --------------------------------------------------------------------------- NanoAOD import

def test_cli_imports_a_nanoaod_pair(tmp_path, capsys):
    from perfekt_bench.cache import DataCache
    from perfekt_bench.cli import main

    full, fast, expected = pair_events()
    full_file, fast_file = write_pair(tmp_path, full, fast)
    cache = tmp_path / "cache"
    assert main(["data", "import", "--task", "deepjet", "--full", str(full_file), "--fast",
                 str(fast_file), "--name", "tiny", "--cache-dir", str(cache)]) == 0
    captured = capsys.readouterr()
    assert "--dataset tiny" in captured.out
    assert "1 dropped for DeepJet default values → 4 triplets" in captured.err
    splits = DataCache(cache).load_dataset(default_host().task("deepjet"), "tiny")
    rows = np.concatenate([s.x_full for s in (splits.train, splits.validation, splits.test)])
    np.testing.assert_allclose(np.sort(rows, axis=0), np.sort(np.asarray(
        expected["x_full"], dtype=np.float32), axis=0))


@pytest.mark.parametrize("broken", ["no_deepjet", "missing_branch"])
def test_cli_refuses_broken_nanoaod_and_caches_nothing(tmp_path, capsys, broken):
    from perfekt_bench.cli import main

    full, fast, _ = pair_events()
    full_file, fast_file = write_pair(tmp_path, full, fast)
    if broken == "no_deepjet":
        for ev in full:
            for j in ev[1]:
                j.update(btagDeepFlavB=-3000.0, btagDeepFlavCvB=-1.0, btagDeepFlavCvL=-1.0,
                         btagDeepFlavQG=-1.0)
        write_nanoaod(full_file, full)
        message = "default values"
    else:
        write_nanoaod(fast_file, fast, drop=("Jet_btagDeepFlavQG",))
        message = "Jet_btagDeepFlavQG"
    cache = tmp_path / "cache"
    assert main(["data", "import", "--task", "deepjet", "--full", str(full_file), "--fast",
                 str(fast_file), "--cache-dir", str(cache), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not list(cache.rglob("*.parquet"))
