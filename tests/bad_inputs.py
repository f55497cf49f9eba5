"""Bad inputs a new user gives, by class (issue "never a traceback"), and what must happen.

Each case is a command line with placeholders: ``{file}`` an existing regular file, ``{dir}``
an existing empty folder, ``{tmp}`` a fresh folder, ``{run}`` a finished run folder,
``{results}`` a results folder holding it, ``{cache}`` a cache with analytic smoke data,
``{testdata}`` the folder of real ROOT files beside the project (cases needing it are skipped
without it). Every case must exit with ``code``, print no traceback, print exactly ``lines``
lines on stderr (the last one the error) matching ``match``, and write nothing.

``python tests/bad_inputs.py PYTHON`` runs every case with that interpreter in a subprocess
and counts the clean ones (used to compare a version before and after a change).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
DELPHES = "{testdata}/delphes_fatjets_10events.root"
SMOKE = ["--budget", "smoke", "--quiet", "--no-plots"]
RUN = ["run", "--task", "analytic", "--refiner", "identity", *SMOKE, "--metric", "mse"]
MSE = ["run", "--task", "analytic", "--refiner", "mse", *SMOKE, "--metric", "mse"]
COMPARE = ["compare", "--task", "analytic", "--refiner", "identity", "--budget", "smoke",
           "--quiet", "--no-plots"]


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    kind: str
    argv: list[str]
    match: str
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    code: int = 2
    lines: int = 1
    setup: str | None = None
    needs: str | None = None


CASES = [
    # 1. output locations, checked before any work
    Case("json-is-a-folder", "output", [*RUN, "--json", "{dir}"], r"--json .* is a folder"),
    Case("json-under-a-file", "output", [*RUN, "--json", "{file}/out.json"],
         r"--json .*lies under the file"),
    Case("json-unwritable", "output", [*RUN, "--json", "/proc/perfekt-bench/out.json"],
         r"--json .*cannot write"),
    # a named pipe stands for a device: a test must never risk replacing /dev/null itself
    Case("json-not-a-regular-file", "output", [*RUN, "--json", "{tmp}/pipe"],
         r"not a regular file", setup="fifo"),
    Case("results-dir-a-file", "output", [*RUN, "--results-dir", "{file}"],
         r"--results-dir .* is a file"),
    Case("results-dir-under-a-file", "output", [*RUN, "--results-dir", "{file}/res"],
         r"--results-dir .*lies under the file"),
    Case("results-dir-unwritable", "output", [*RUN, "--results-dir", "/proc/perfekt-bench"],
         r"--results-dir .*cannot write"),
    Case("results-variable-a-file", "output", RUN, r"PERFEKT_BENCH_RESULTS=.* is a file",
         env={"PERFEKT_BENCH_RESULTS": "{file}"}),
    Case("cache-dir-a-file", "output", [*RUN, "--cache-dir", "{file}"],
         r"--cache-dir .* is a file"),
    Case("cache-variable-a-file", "output", RUN, r"PERFEKT_BENCH_CACHE=.* is a file",
         env={"PERFEKT_BENCH_CACHE": "{file}"}),
    Case("generate-cache-a-file", "output",
         ["data", "generate", "--task", "analytic", "--size", "1000", "--quiet", "--cache-dir",
          "{file}"], r"--cache-dir .* is a file"),
    Case("generate-cache-unwritable", "output",
         ["data", "generate", "--task", "analytic", "--size", "1000", "--quiet", "--cache-dir",
          "/proc/perfekt-bench"], r"--cache-dir .*cannot write"),
    Case("import-cache-a-file", "output",
         ["data", "import", "--task", "jets", "--full", DELPHES, "--fast", DELPHES, "--quiet",
          "--cache-dir", "{file}"], r"--cache-dir .* is a file", needs="testdata"),
    Case("list-cache-a-file", "output", ["data", "list", "--cache-dir", "{file}"],
         r"--cache-dir .* is a file"),
    Case("plot-out-a-file", "output", ["plot", "{run}", "--out", "{file}"],
         r"--out .* is a file"),
    Case("plot-out-under-a-file", "output", ["plot", "{run}", "--out", "{file}/figures"],
         r"--out .*lies under the file"),
    Case("leaderboard-out-a-file", "output",
         ["leaderboard", "--task", "analytic", "--budget", "smoke", "--results-dir",
          "{results}", "--out", "{file}"], r"--out .* is a file"),
    Case("compare-results-a-file", "output", [*COMPARE, "--results-dir", "{file}"],
         r"--results-dir .* is a file"),
    # 2. numbers, one rule per option
    Case("size-negative", "number", [*RUN, "--size", "-5"], r"--size.*from 1 to .*'-5'"),
    Case("size-zero", "number", [*RUN, "--size", "0"], r"--size.*from 1 to"),
    Case("size-huge", "number", [*RUN, "--size", "1000000000000"], r"--size.*to 100 000 000"),
    Case("size-fraction", "number", [*RUN, "--size", "2.5"], r"--size.*an integer"),
    Case("size-word", "number", [*RUN, "--size", "many"], r"--size.*an integer"),
    Case("seed-negative", "number", [*RUN, "--seed", "-1"], r"--seed.*from 0 to"),
    Case("seed-huge", "number", [*RUN, "--seed", "100000000000000000000"],
         r"--seed.*4 294 967 295"),
    Case("seed-exponent-huge", "number", [*RUN, "--seed", "1e20"], r"--seed.*'1e20'"),
    Case("seed-word", "number", [*RUN, "--seed", "abc"], r"--seed.*an integer"),
    Case("data-seed-negative", "number", [*RUN, "--data-seed", "-1"], r"--data-seed.*from 0"),
    Case("data-seed-huge", "number", [*RUN, "--data-seed", "99999999999"],
         r"--data-seed.*4 294 967 295"),
    Case("generate-seed-negative", "number",
         ["data", "generate", "--task", "analytic", "--seed", "-3", "--quiet"],
         r"--seed.*from 0"),
    Case("generate-size-negative", "number",
         ["data", "generate", "--task", "analytic", "--size", "-1", "--quiet"],
         r"--size.*from 1"),
    Case("workers-zero", "number", [*RUN, "--workers", "0"], r"--workers.*from 1"),
    Case("workers-negative", "number", [*RUN, "--workers", "-2"], r"--workers.*from 1"),
    Case("generate-workers-zero", "number",
         ["data", "generate", "--task", "analytic", "--workers", "0", "--quiet"],
         r"--workers.*from 1"),
    Case("compare-seeds-negative", "number", [*COMPARE, "--seeds", "-1"], r"--seeds.*from 0"),
    Case("budget-unknown", "number", [*RUN[:5], "--budget", "huge"], r"--budget.*'huge'"),
    Case("device-unknown", "number", [*RUN, "--device", "tpu"], r"unknown device 'tpu'"),
    # 3. hyperparameters (--set)
    Case("set-without-value", "set", [*MSE, "--set", "lr"], r"--set expects NAME=VALUE"),
    Case("set-unknown-name", "set", [*MSE, "--set", "widht=3"],
         r"no hyperparameter 'widht'.*width"),
    Case("set-twice", "set", [*MSE, "--set", "lr=0.1", "--set", "lr=0.2"],
         r"--set gives 'lr' twice"),
    Case("set-negative-rate", "set", [*MSE, "--set", "lr=-1"], r"lr=-1 .*out of range.*> 0"),
    Case("set-rate-as-text", "set", [*MSE, "--set", "lr=abc"], r"lr=\"abc\" .*wrong type"),
    Case("set-fractional-epochs", "set", [*MSE, "--set", "epochs=1.5"],
         r"epochs=1.5 .*wrong type.*integer"),
    Case("set-null-epochs", "set", [*MSE, "--set", "epochs=null"], r"epochs=null .*not allowed"),
    Case("set-zero-width", "set", [*MSE, "--set", "width=0"], r"width=0 .*out of range"),
    Case("set-dropout-one-and-a-half", "set", [*MSE, "--set", "dropout=1.5"],
         r"dropout=1.5 .*\[0, 1\)"),
    Case("set-negative-patience", "set", [*MSE, "--set", "patience=-1"],
         r"patience=-1 .*out of range"),
    Case("set-batch-size-as-text", "set", [*MSE, "--set", "batch_size=big"],
         r"batch_size=\"big\" .*wrong type"),
    Case("set-the-seed", "set", [*MSE, "--set", "seed=3"], r"seed .*is set by --seed"),
    Case("set-empty-bandwidths", "set",
         ["run", "--task", "analytic", "--refiner", "onestage", *SMOKE, "--set", "bandwidths=[]"],
         r"bandwidths=\[\] .*is empty"),
    Case("set-bandwidths-per-feature", "set",
         ["run", "--task", "analytic", "--refiner", "onestage", *SMOKE, "--set",
          "bandwidths=[1,2]"], r"2 value\(s\), not 1"),
    Case("set-unknown-switch", "set",
         ["run", "--task", "analytic", "--refiner", "twostage", *SMOKE, "--set",
          "switch=never"], r"switch=\"never\" .*not one of the choices"),
    Case("set-clip-below-one", "set",
         ["run", "--task", "analytic", "--refiner", "dctr", *SMOKE, "--set", "clip=0.5"],
         r"clip=0.5 .*out of range.*≥ 1"),
    # 4. too little data
    Case("size-one", "data", [*RUN, "--size", "1"], r"1 train / 0 validation / 0 test.*--size"),
    Case("size-three", "data", [*RUN, "--size", "3"], r"2 train / 1 validation / 0 test"),
    Case("size-ten-mse", "data", [*MSE, "--size", "10"], r"splits into .*use --size \d+"),
    Case("dataset-of-ten-events", "data",
         ["run", "--task", "jets", "--refiner", "identity", *SMOKE, "--dataset", "ten"],
         r"data set 'ten' splits into 4 train / 1 validation / 1 test", setup="import_ten",
         needs="testdata"),
    Case("dataset-with-size", "data",
         ["run", "--task", "jets", "--refiner", "identity", *SMOKE, "--dataset", "ten",
          "--size", "50"], r"--size .*do not apply to --dataset", setup="import_ten",
         needs="testdata"),
    # 5. a metric that does not apply
    Case("metric-fpd-on-analytic", "metric", [*RUN[:-2], "--metric", "fpd"],
         r"metric 'fpd' does not apply to task 'analytic'.*applies to: deepjet"),
    Case("metric-kpd-on-jets", "metric",
         ["run", "--task", "jets", "--refiner", "identity", *SMOKE, "--metric", "kpd"],
         r"metric 'kpd' does not apply to task 'jets'"),
    Case("metric-one-of-two", "metric", [*RUN, "--metric", "fpd"],
         r"metric 'fpd' does not apply"),
    Case("metric-unknown", "metric", [*RUN[:-2], "--metric", "nope"],
         r"unknown metric 'nope'; known metrics: .*mmd"),
    # 7. damaged files
    Case("broken-data-card", "damaged",
         ["run", "--task", "analytic", "--refiner", "identity", *SMOKE, "--dataset",
          "{key}"], r"cannot read the data card .*card.json", setup="break_card"),
    Case("broken-cached-split", "damaged", RUN, r"cannot read cached split .*test.parquet",
         setup="break_split"),
    Case("broken-evaluation", "damaged", ["plot", "{run}"],
         r"cannot read .*evaluation.parquet", setup="break_evaluation"),
    Case("store-of-garbage-only", "damaged",
         ["leaderboard", "--task", "analytic", "--results-dir", "{tmp}/res", "--out",
          "{tmp}/boards"], r"no stored runs of task 'analytic'", setup="garbage_store",
         lines=2),
    Case("plot-not-a-run", "damaged", ["plot", "{dir}"], r"evaluation.parquet not found"),
    Case("plot-missing-folder", "damaged", ["plot", "{tmp}/nope"], r"does not exist"),
    # tuning, export and refining a trained refiner
    Case("tune-zero-trials", "number",
         ["tune", "--task", "analytic", "--refiner", "mse", "--budget", "smoke", "--trials",
          "0"], r"--trials must be at least 1"),
    Case("tune-nothing-to-search", "name",
         ["tune", "--task", "analytic", "--refiner", "identity", "--budget", "smoke"],
         r"'identity' has no hyperparameter to search"),
    Case("tune-unknown-objective", "name",
         ["tune", "--task", "analytic", "--refiner", "mse", "--budget", "smoke", "--objective",
          "nope"], r"unknown objective 'nope'"),
    Case("tune-unknown-storage", "output",
         ["tune", "--task", "analytic", "--refiner", "mse", "--budget", "smoke", "--storage",
          "bogus://x"], r"--storage bogus://x: cannot open it"),
    Case("tune-unknown-pruner", "name",
         ["tune", "--task", "analytic", "--refiner", "mse", "--pruner", "nope"],
         r"--pruner: invalid choice: 'nope'"),
    Case("tune-negative-timeout", "number",
         ["tune", "--task", "analytic", "--refiner", "mse", "--budget", "smoke", "--timeout",
          "-5"], r"--timeout must be positive"),
    Case("export-into-a-folder", "output", ["export", "{run}", "--onnx", "{dir}"],
         r"--onnx .* is a folder"),
    Case("export-under-a-file", "output", ["export", "{run}", "--onnx", "{file}/x.onnx"],
         r"--onnx .*lies under the file"),
    Case("export-not-a-run", "damaged", ["export", "{dir}", "--onnx", "{tmp}/x.onnx"],
         r"config.json.*a perfekt-bench run folder"),
    Case("refine-missing-input", "name",
         ["refine", "{run}", "--input", "{tmp}/nope.parquet", "--output", "{tmp}/o.parquet"],
         r"nope.parquet: no such file"),
    Case("refine-input-of-unknown-kind", "name",
         ["refine", "{run}", "--input", "{file}", "--output", "{tmp}/o.parquet"],
         r"--input .*not a Parquet .* or ROOT"),
    Case("refine-output-of-unknown-kind", "output",
         ["refine", "{run}", "--input", "{file}", "--output", "{tmp}/o.txt"],
         r"--output .*name a Parquet .* or ROOT"),
    Case("refine-output-under-a-file", "output",
         ["refine", "{run}", "--input", "{tmp}/in.parquet", "--output", "{file}/o.parquet"],
         r"--output .*lies under the file", setup="parquet_input"),
    Case("refine-zero-chunk", "number",
         ["refine", "{run}", "--input", "{file}", "--output", "{tmp}/o.parquet",
          "--chunk-size", "0"], r"--chunk-size must be positive"),
    Case("refine-missing-columns", "damaged",
         ["refine", "{run}", "--input", "{tmp}/in.parquet", "--output", "{tmp}/o.parquet"],
         r"in.parquet.*x_gen|x_gen.*in.parquet", setup="parquet_input"),
    # names and other choices that are not there
    Case("task-unknown", "name", ["run", "--task", "nope", "--refiner", "identity"],
         r"unknown task 'nope'; known tasks: analytic"),
    Case("refiner-unknown", "name", ["run", "--task", "analytic", "--refiner", "nope"],
         r"unknown refiner 'nope'; known refiners: .*cms-mdmm"),
    Case("dataset-unknown", "name", [*RUN, "--dataset", "nope"],
         r"no cached data set 'nope' of task 'analytic'"),
    Case("generate-task-unknown", "name", ["data", "generate", "--task", "nope"],
         r"unknown task 'nope'"),
    Case("list-task-unknown", "name", ["data", "list", "--task", "nope"],
         r"unknown task 'nope'"),
    Case("import-task-cannot", "name",
         ["data", "import", "--task", "analytic", "--full", "{file}", "--fast", "{file}"],
         r"task 'analytic' cannot import files"),
    Case("import-missing-file", "name",
         ["data", "import", "--task", "jets", "--full", "{tmp}/a.root", "--fast",
          "{tmp}/b.root"], r"full file .*a.root does not exist"),
    Case("import-unknown-option", "name",
         ["data", "import", "--task", "jets", "--full", DELPHES, "--fast", DELPHES,
          "--option", "colour=red", "--quiet"], r"unknown import option\(s\) colour",
         needs="testdata"),
    Case("import-not-root", "name",
         ["data", "import", "--task", "jets", "--full", "{file}", "--fast", "{file}",
          "--quiet"], r"file: not a readable ROOT file"),
    Case("compare-dataset-two-tasks", "name",
         ["compare", "--task", "analytic", "jets", "--refiner", "identity", "--dataset", "x"],
         r"--dataset names a data set of one task"),
    Case("compare-refiner-unknown", "name", [*COMPARE[:4], "nope", *COMPARE[5:]],
         r"unknown refiner 'nope'"),
    Case("leaderboard-no-runs", "name",
         ["leaderboard", "--task", "analytic", "--results-dir", "{dir}", "--out",
          "{tmp}/boards"], r"no stored runs of task 'analytic'"),
    Case("leaderboard-results-a-file", "name",
         ["leaderboard", "--task", "analytic", "--results-dir", "{file}", "--out",
          "{tmp}/boards"], r"no stored runs of task 'analytic'"),
]


def _prepare_shared(root: Path, python: list[str] | None = None) -> dict[str, str]:
    """A finished run, its results folder and a cache with analytic smoke data (made once)."""
    results, cache = root / "results", root / "cache"
    command = [*(python or [sys.executable]), "-m", "perfekt_bench", *RUN[:-2], "--metric",
               "mse", "--results-dir", str(results), "--cache-dir", str(cache)]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=600)
    run_dir = next((results / "runs").iterdir())
    return {"run": str(run_dir), "results": str(results), "cache": str(cache)}


def _setup(case: Case, values: dict[str, str], tmp: Path, python: list[str] | None) -> None:
    """Per-case damage or data, written before the case's snapshot is taken."""
    exe = [*(python or [sys.executable]), "-m", "perfekt_bench"]
    if case.setup == "import_ten":
        subprocess.run([*exe, "data", "import", "--task", "jets", "--full",
                        DELPHES.format(**values), "--fast", DELPHES.format(**values),
                        "--name", "ten", "--quiet"], check=True, capture_output=True,
                       timeout=600, env=os.environ | _env(case, values))
    elif case.setup in ("break_card", "break_split"):
        cache = tmp / "cache"
        shutil.copytree(values["cache"], cache, dirs_exist_ok=True)
        folder = next(p for p in (cache / "analytic").iterdir() if not p.name.startswith("."))
        values["key"] = folder.name
        if case.setup == "break_card":
            (folder / "card.json").write_text("{not json")
        else:
            (folder / "test.parquet").write_bytes(b"PAR1 truncated")
    elif case.setup == "break_evaluation":
        run_dir = tmp / "run"
        shutil.copytree(values["run"], run_dir)
        (run_dir / "evaluation.parquet").write_bytes(b"PAR1 truncated")
        values["run"] = str(run_dir)
    elif case.setup == "parquet_input":
        import pandas as pd

        pd.DataFrame({"x": [0.1, 0.2, 0.3], "h": [1.0, 2.0, 3.0]}).to_parquet(
            tmp / "in.parquet")
    elif case.setup == "fifo":
        os.mkfifo(tmp / "pipe")
    elif case.setup == "garbage_store":
        (tmp / "res" / "store").mkdir(parents=True)
        (tmp / "res" / "store" / "garbage.parquet").write_bytes(b"not a parquet file")


def _env(case: Case, values: dict[str, str]) -> dict[str, str]:
    return {k: v.format(**values) for k, v in case.env.items()}


def values_for(tmp: Path, shared: dict[str, str]) -> dict[str, str]:
    (tmp / "dir").mkdir(exist_ok=True)
    (tmp / "file").write_text("a regular file\n")
    return shared | {"tmp": str(tmp), "file": str(tmp / "file"), "dir": str(tmp / "dir"),
                     "testdata": str(TESTDATA)}


def snapshot(*roots: Path) -> dict[str, int]:
    """Every file and folder below ``roots`` with its size: what a case must not change."""
    seen = {}
    for root in roots:
        for path in Path(root).rglob("*"):
            seen[str(path)] = path.stat().st_size if path.is_file() else -1
    return seen


def check(case: Case, code: int, stderr: str) -> list[str]:
    """What is wrong with a case's outcome (empty: handled cleanly)."""
    problems = []
    lines = [line for line in stderr.splitlines() if line.strip()]
    if "Traceback" in stderr:
        problems.append("traceback")
    if code != case.code:
        problems.append(f"exit code {code}, not {case.code}")
    if len(lines) != case.lines:
        problems.append(f"{len(lines)} lines on stderr, not {case.lines}")
    if not lines or not lines[-1].startswith("perfekt-bench: error:"):
        problems.append("no 'perfekt-bench: error:' line last")
    elif not re.search(case.match, lines[-1]):
        problems.append(f"message does not match {case.match!r}")
    return problems


def main(python: str) -> int:
    """Run every case with ``python`` in subprocesses; print and count the clean ones."""
    clean = 0
    with tempfile.TemporaryDirectory() as base:
        base = Path(base)
        env = {"PERFEKT_BENCH_CACHE": str(base / "cache"),
               "PERFEKT_BENCH_RESULTS": str(base / "results")}
        os.environ.update(env)
        shared = _prepare_shared(base / "shared", [python])
        for case in CASES:
            if case.needs == "testdata" and not TESTDATA.is_dir():
                print(f"skip   {case.id}")
                continue
            tmp = Path(tempfile.mkdtemp(dir=base))
            values = values_for(tmp, shared)
            case_env = os.environ | {"PERFEKT_BENCH_CACHE": str(tmp / "cache"),
                                     "PERFEKT_BENCH_RESULTS": str(tmp / "results")}
            os.environ.update(case_env)
            _setup(case, values, tmp, [python])
            before = snapshot(tmp, base / "shared")
            argv = [a.format(**values) for a in case.argv]
            proc = subprocess.run([python, "-m", "perfekt_bench", *argv],
                                  env=case_env | _env(case, values), capture_output=True,
                                  text=True, timeout=900, cwd=tmp)
            problems = check(case, proc.returncode, proc.stderr)
            if snapshot(tmp, base / "shared") != before:
                problems.append("wrote files")
            clean += not problems
            print(f"{'clean' if not problems else 'BAD':6} {case.id}: {'; '.join(problems)}")
    print(json.dumps({"cases": len(CASES), "clean": clean}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
