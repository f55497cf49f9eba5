"""The jets task as a user meets it: importing real Delphes files through the command line."""

import numpy as np
import pytest
from test_jets_delphes import REAL as REAL_FILE

from perfekt_bench.cache import DataCache
from perfekt_bench.cli import main
from perfekt_bench_tasks.jets import JetsTask


@pytest.fixture
def real_file():
    if not REAL_FILE.is_file():
        pytest.skip(f"the shared Delphes test file {REAL_FILE} is not present")
    return REAL_FILE


def test_cli_imports_the_real_delphes_file_and_lists_it(real_file, tmp_path, capsys):
    cache = tmp_path / "cache"
    assert main(["data", "import", "--task", "jets", "--full", str(real_file), "--fast",
                 str(real_file), "--name", "delphes10", "--cache-dir", str(cache),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "--dataset delphes10" in out
    splits = DataCache(cache).load_dataset(JetsTask(), "delphes10")
    every = [splits.train, splits.validation, splits.test]
    assert sum(len(s) for s in every) == 6
    for part in every:
        # one simulation used as both: identical full and fast features
        np.testing.assert_array_equal(part.x_full, part.x_fast)
        np.testing.assert_array_equal(part.h_full, part.h_fast)
    assert main(["data", "list", "--task", "jets", "--cache-dir", str(cache)]) == 0
    assert "delphes10" in capsys.readouterr().out


def test_cli_import_of_a_broken_file_exits_2_and_caches_nothing(real_file, tmp_path, capsys):
    broken = tmp_path / "broken.root"
    broken.write_bytes(real_file.read_bytes()[: real_file.stat().st_size // 2])
    cache = tmp_path / "cache"
    assert main(["data", "import", "--task", "jets", "--full", str(real_file), "--fast",
                 str(broken), "--cache-dir", str(cache), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "broken.root" in err and "Traceback" not in err
    assert not list(cache.rglob("*.parquet"))


def test_unknown_import_option_is_a_clear_error(real_file, tmp_path, capsys):
    assert main(["data", "import", "--task", "jets", "--full", str(real_file), "--fast",
                 str(real_file), "--option", "gen_brnch=GenFatJet",
                 "--cache-dir", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "gen_brnch" in err and "gen_branch" in err
