"""Hyperparameters declared once: what ``--set`` and task hints may hold, the budget values the
declarations give, ``plugins --refiner``, and refiners that declare nothing."""

import json

import pytest

from perfekt_bench import (
    ConfigurationError,
    Hyperparameter,
    PluginHost,
    Refinement,
    Refiner,
    RunConfig,
    Search,
    hookimpl,
    run,
)
from perfekt_bench.cli import main
from perfekt_bench.hyperparameters import (
    check_params,
    declaration_problems,
    resolve_params,
)

from plugin_fixtures import ToyTask, toy_plugin

HOST = PluginHost(autoload=False)


def twostage():
    return HOST.refiner_class("twostage")


# -- one declaration, every kind of bad value ----------------------------------------------


@pytest.mark.parametrize(("name", "value", "words"), [
    ("lr", -1, "lr=-1 (--set) is out of range: lr must be a number > 0"),
    ("lr", 0, "lr=0 (--set) is out of range"),
    ("lr", "abc", 'lr="abc" (--set) has the wrong type: lr must be a number > 0'),
    ("lr", None, "lr=null (--set) is not allowed: lr must be a number > 0"),
    ("lr", float("nan"), "is not finite"),
    ("epochs", 1.5, "epochs=1.5 (--set) has the wrong type: epochs must be an integer ≥ 1"),
    ("epochs", True, "has the wrong type"),
    ("epochs", 0, "out of range"),
    ("dropout", 1.0, "dropout must be a number in [0, 1)"),
    ("bandwidths", [], "bandwidths=[] (--set) is empty"),
    ("bandwidths", [1.0, 2.0], "has 2 value(s), not 1"),
    ("bandwidths", [-1.0], "out of range"),
    ("bandwidths", "wide", "has the wrong type"),
    ("switch", "sometimes", 'switch must be one of "early_stopping", "sign_changes"'),
    ("widht", 3, "has no hyperparameter 'widht' (--set); it has: n_blocks, width"),
    ("seed", 3, "seed (--set) is set by --seed"),
])
def test_bad_values_are_one_line_errors_naming_the_range(name, value, words):
    task = HOST.task("analytic")
    with pytest.raises(ConfigurationError) as info:
        resolve_params(twostage(), task, "smoke", {name: value})
    message = str(info.value)
    assert words in message and "\n" not in message
    assert message.startswith("refiner 'twostage'")


def test_good_values_are_normalised():
    task = HOST.task("analytic")
    params = resolve_params(twostage(), task, "smoke",
                            {"lr": 1, "patience": None, "bandwidths": (0.5,)})
    assert params["lr"] == 1.0 and isinstance(params["lr"], float)
    assert params["patience"] is None and params["bandwidths"] == [0.5]


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "null"])
def test_set_is_checked_before_any_data_are_loaded(tmp_path, capsys, value):
    option = "epochs" if value == "1.5" else "lr"
    code = main(["run", "--task", "analytic", "--refiner", "twostage", "--budget", "smoke",
                 "--set", f"{option}={value}", "--quiet", "--no-plots",
                 "--cache-dir", str(tmp_path / "cache"), "--results-dir", str(tmp_path / "res")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.count("\n") == 1 and f"{option}=" in err and "must be" in err
    assert not (tmp_path / "cache").exists() and not (tmp_path / "res").exists()


# -- task hints and budgets ----------------------------------------------------------------


def test_hints_override_budget_values_and_set_overrides_both():
    jets, cls = HOST.task("jets"), twostage()
    quick = resolve_params(cls, jets, "quick", {})
    # the jets paper's network and twostage settings over the declared quick values, but the
    # quick budget keeps its own learning rate, epochs and patience
    assert (quick["n_blocks"], quick["width"], quick["batch_size"]) == (5, 512, 4096)
    assert (quick["lr"], quick["epochs"], quick["patience"]) == (1e-3, 30, 5)
    assert (quick["mmd_scale"], quick["lr_lambda"]) == (10.0, 1e-4)
    paper = resolve_params(cls, jets, "paper", {})
    assert (paper["lr"], paper["epochs"], paper["patience"]) == (5e-5, 1000, None)
    mine = resolve_params(cls, jets, "quick", {"mmd_scale": 3, "width": 64})
    assert (mine["mmd_scale"], mine["width"]) == (3.0, 64)


def test_cms_mdmm_quick_budget_keeps_its_batch_cap_over_the_tasks_hints():
    deepjet = HOST.task("deepjet")
    params = resolve_params(HOST.refiner_class("cms-mdmm"), deepjet, "quick", {})
    assert params["max_batches"] == 24 and params["epsilon"] == 0.18
    assert params["lambda_init"] == 0.0 and params["width"] == 256


@pytest.mark.parametrize("budget", ["smoke", "quick", "paper"])
def test_every_builtin_tasks_hints_pass_every_builtin_refiner(budget):
    for task_name in HOST.tasks.names():
        task = HOST.task(task_name)
        for refiner_name in HOST.refiners.names():
            cls = HOST.refiner_class(refiner_name)
            if cls.needs_pairs and not task.paired:
                continue
            resolve_params(cls, task, budget, {})


class BadHintTask(ToyTask):
    """Publishes a network hint with a negative learning rate."""

    name = "toy-bad-hint"

    def refiner_hints(self):
        return {"network": {"lr": -0.1}}


def test_a_tasks_bad_hint_is_named_before_any_data(tmp_path):
    plugin = type("P", (), {"perfekt_bench_register_tasks": staticmethod(hookimpl(
        lambda registry: registry.add(BadHintTask)))})
    host = PluginHost(plugins=[("bad", plugin)])
    config = RunConfig("toy-bad-hint", "onestage", budget="paper", progress=False,
                       plots=False, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ConfigurationError, match=r"lr=-0.1 \(task 'toy-bad-hint' hint "
                                                 r"'network'\) is out of range"):
        run(config, host=host)
    assert not (tmp_path / "cache").exists()


# -- refiners without declarations, and declarations that are wrong ------------------------


class Shift(Refiner):
    """Adds a constant (declares nothing: a third-party refiner of before declarations)."""

    name = "shift"

    def __init__(self, *, amount=0.0, seed=0, device="cpu"):
        self.amount, self.seed, self.device = amount, seed, device

    @classmethod
    def defaults(cls, budget, hints=None):
        return {"amount": 0.1}

    def fit(self, train, validation, *, progress=False):
        self.history_ = []
        return self

    def refine(self, x_fast, g):
        return Refinement(x_fast + self.amount)


def shift_host():
    plugin = type("P", (), {"perfekt_bench_register_refiners": staticmethod(hookimpl(
        lambda registry: registry.add(Shift)))})
    return PluginHost(plugins=[("toy", toy_plugin()), ("shift", plugin)])


def test_an_undeclared_refiner_runs_unchecked(tmp_path):
    result = run(RunConfig("toy", "shift", budget="smoke", progress=False, plots=False,
                           params={"amount": 0.5},
                           metrics=["mean_shift"], latency_repeats=2), host=shift_host())
    assert result.params["amount"] == 0.5
    with pytest.raises(ConfigurationError, match="has no hyperparameter 'amont'"):
        run(RunConfig("toy", "shift", budget="smoke", progress=False, plots=False,
                      params={"amont": 1}), host=shift_host())


def test_the_checker_finds_what_is_wrong_with_a_declaration():
    class Wrong(Shift):
        name = "wrong"
        hyperparameters = (
            Hyperparameter("amount", "float", {"smoke": -1.0, "quick": 1.0, "paper": 1.0},
                           low=0, search=Search(-1.0, 2.0)),
            Hyperparameter("size", "int", 3, low=1),
        )

    problems = "\n".join(declaration_problems(Wrong))
    assert "size" in problems and "not taken by __init__" in problems
    assert "the smoke value -1 is out of range" in problems
    assert "the search reaches -1" in problems

    class Incomplete(Shift):
        name = "incomplete"
        hyperparameters = ()

    assert declaration_problems(Incomplete) == ["taken by __init__ but not declared: "
                                                "['amount']"]


def test_check_params_of_an_undeclared_refiner_passes_values_through():
    assert check_params(Shift, {"amount": "anything"}, source="--set") == {
        "amount": "anything"}


# -- plugins --refiner ---------------------------------------------------------------------


def test_plugins_refiner_lists_ranges_defaults_and_searches(capsys):
    assert main(["plugins", "--refiner", "twostage"]) == 0
    out = capsys.readouterr().out
    assert "lr" in out and "a number > 0" in out and "log [1e-05, 0.01]" in out
    assert "mmd_scale" in out and "not tuned" in out and "network, network-quick, twostage" in out
    assert main(["plugins", "--refiner", "twostage", "--task", "jets", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in doc["hyperparameters"]}
    assert rows["width"]["quick"] == "512" and rows["mmd_scale"]["paper"] == "10"
    assert rows["lr"]["search"] == "log [1e-05, 0.01]"


def test_plugins_refiner_unknown_name_and_task_alone(capsys):
    assert main(["plugins", "--refiner", "nope"]) == 2
    assert "unknown refiner 'nope'" in capsys.readouterr().err
    assert main(["plugins", "--task", "jets"]) == 2
    assert "--task goes with --refiner" in capsys.readouterr().err
