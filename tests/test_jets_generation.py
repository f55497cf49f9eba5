"""Tests for the jets task's event generation: the resumable driver and the physics it makes.

The driver tests replace PYTHIA by a stand-in part (fast, a function of seed and part only);
the tests marked slow run PYTHIA on a few hundred events at most.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from perfekt_bench.errors import DataError
from perfekt_bench_tasks.jets import generation
from perfekt_bench_tasks.jets.definitions import BETA_FAST, BETA_FULL, JET_RADIUS, R0
from perfekt_bench_tasks.jets.generation import COLUMNS, Part, event_rows, generate, part_path

#: PYTHIA events per part in the slow tests: small, so that several parts are needed
SMALL_PART = 20


# --------------------------------------------------------------------------- the driver


def stand_in_part(seed, part, events_per_part):
    """0 … 2 rows per event, the part index in ``h_full[:, 0]``, row numbers in ``h_fast``."""
    rng = np.random.default_rng([seed, part])
    n = int(rng.integers(0, 2 * events_per_part + 1))
    arrays = {key: rng.random((n, len(names))) for key, names in COLUMNS.items()}
    arrays["h_full"][:, 0] = part
    arrays["h_fast"][:, 0] = np.arange(n)
    return Part(part, arrays, events_per_part)


@pytest.fixture
def stand_in(monkeypatch):
    """PYTHIA and the detector replaced by :func:`stand_in_part`; its calls are recorded."""
    calls = []

    def make_part(seed, part, events_per_part=generation.EVENTS_PER_PART):
        calls.append(part)
        return stand_in_part(seed, part, events_per_part)

    monkeypatch.setattr(generation, "make_part", make_part)
    return calls


def expected_arrays(n_jets, seed, events_per_part):
    parts, rows, part = [], 0, 0
    while rows < n_jets:
        parts.append(stand_in_part(seed, part, events_per_part))
        rows += parts[-1].n_rows
        part += 1
    return {k: np.concatenate([p.arrays[k] for p in parts])[:n_jets] for k in COLUMNS}, part


def assert_same(a, b):
    assert a.keys() == b.keys() == COLUMNS.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_parts_in_order_truncated_to_n_jets(stand_in, tmp_path):
    arrays = generate(50, 3, workdir=tmp_path, events_per_part=10)
    expected, n_parts = expected_arrays(50, 3, 10)
    assert_same(arrays, expected)
    assert all(a.dtype == np.float64 and len(a) == 50 for a in arrays.values())
    assert np.all(np.diff(arrays["h_full"][:, 0]) >= 0)  # part order
    # one worker makes exactly the parts needed, each once
    assert stand_in == list(range(n_parts))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        part_path(tmp_path, i).name for i in range(n_parts)]


def test_temporary_workdir_is_removed(stand_in, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    generate(20, 1, events_per_part=10)
    assert list(tmp_path.iterdir()) == []


def test_resume_reads_parts_on_disk(stand_in, tmp_path):
    first = generate(80, 5, workdir=tmp_path, events_per_part=10)
    n_parts = len(stand_in)
    assert n_parts >= 3
    part_path(tmp_path, 1).unlink()
    mtimes = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    stand_in.clear()
    again = generate(80, 5, workdir=tmp_path, events_per_part=10)
    assert_same(again, first)
    assert stand_in == [1]  # only the missing part is made again
    for name, mtime in mtimes.items():
        assert (tmp_path / name).stat().st_mtime_ns == mtime
    # more jets later: the parts so far are reused, new ones appended
    stand_in.clear()
    more = generate(160, 5, workdir=tmp_path, events_per_part=10)
    assert stand_in and min(stand_in) == n_parts
    assert_same({k: v[:80] for k, v in more.items()}, first)


def test_interrupted_run_resumes_without_duplicates(stand_in, tmp_path, monkeypatch):
    reference, n_parts = expected_arrays(80, 5, 10)
    assert n_parts >= 3
    stand_in_make = generation.make_part

    def interrupted(seed, part, events_per_part):
        if part == 2:
            raise KeyboardInterrupt
        return stand_in_make(seed, part, events_per_part)

    monkeypatch.setattr(generation, "make_part", interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate(80, 5, workdir=tmp_path, events_per_part=10)
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == [part_path(tmp_path, i).name for i in (0, 1)]  # no half-written part
    mtimes = {name: (tmp_path / name).stat().st_mtime_ns for name in kept}

    monkeypatch.setattr(generation, "make_part", stand_in_make)
    stand_in.clear()
    assert_same(generate(80, 5, workdir=tmp_path, events_per_part=10), reference)
    assert stand_in == list(range(2, n_parts))
    for name, mtime in mtimes.items():
        assert (tmp_path / name).stat().st_mtime_ns == mtime


class _CtrlCWhileDeleted:
    """Presses Ctrl-C (SIGINT to this process) while Python deletes it: the KeyboardInterrupt
    is raised inside ``__del__``, where Python drops it."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler runs here, inside __del__


@pytest.fixture
def ctrl_c_as_in_a_terminal():
    """Python's own Ctrl-C handler, whatever this process inherited (a shell starts background
    jobs with SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_that_python_drops_still_stops_generation(stand_in, tmp_path, monkeypatch,
                                                         ctrl_c_as_in_a_terminal):
    hook = sys.unraisablehook
    stand_in_make = generation.make_part

    def ctrl_c_lost_in_part_1(seed, part, events_per_part):
        if part == 1:
            _CtrlCWhileDeleted()  # made and deleted at once
        return stand_in_make(seed, part, events_per_part)

    monkeypatch.setattr(generation, "make_part", ctrl_c_lost_in_part_1)
    with pytest.raises(KeyboardInterrupt):
        generate(10_000, 5, workdir=tmp_path, events_per_part=10)
    assert stand_in == [0, 1]  # stopped after the part in which Ctrl-C was pressed
    assert sorted(p.name for p in tmp_path.iterdir()) == [part_path(tmp_path, i).name
                                                          for i in (0, 1)]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    assert sys.unraisablehook is hook  # and so is the hook for dropped exceptions


def test_interrupted_write_leaves_no_part(stand_in, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    def broken_write(table, where, *args, **kwargs):
        Path(where).write_bytes(b"half a parquet file")
        raise KeyboardInterrupt

    monkeypatch.setattr(pq, "write_table", broken_write)
    with pytest.raises(KeyboardInterrupt):
        generate(20, 1, workdir=tmp_path, events_per_part=10)
    assert list(tmp_path.iterdir()) == []


def test_stale_temporary_files_are_removed(stand_in, tmp_path):
    stale = tmp_path / ".part-000000.parquet.12345.tmp"
    stale.write_bytes(b"left by a killed worker")
    generate(20, 1, workdir=tmp_path, events_per_part=10)
    assert not stale.exists()


def test_parts_of_another_seed_are_refused(stand_in, tmp_path):
    generate(20, 1, workdir=tmp_path, events_per_part=10)
    with pytest.raises(DataError, match="generated with"):
        generate(20, 2, workdir=tmp_path, events_per_part=10)
    with pytest.raises(DataError, match="generated with"):
        generate(20, 1, workdir=tmp_path, events_per_part=11)


def test_non_finite_values_are_a_data_error(tmp_path, monkeypatch):
    def with_nan(seed, part, events_per_part=10):
        p = stand_in_part(seed, part, events_per_part)
        p.arrays["x_fast"][:3, 1] = np.nan
        return p

    monkeypatch.setattr(generation, "make_part", with_nan)
    with pytest.raises(DataError, match=r"x_fast\.tau32 has 3 non-finite"):
        generate(5, 0, workdir=tmp_path, events_per_part=10)


@pytest.mark.parametrize("bad", [{"n_jets": 0}, {"seed": -1}, {"workers": 0},
                                 {"events_per_part": 0}])
def test_bad_arguments(bad):
    from perfekt_bench.errors import ConfigurationError

    kwargs = {"n_jets": 10, "seed": 0, **bad}
    with pytest.raises(ConfigurationError):
        generate(kwargs.pop("n_jets"), kwargs.pop("seed"), **kwargs)


def test_part_seeds_are_a_function_of_seed_and_part():
    a, b = generation.part_seeds(7, 3), generation.part_seeds(7, 3)
    assert a[0] == b[0] and 1 <= a[0] <= generation.PYTHIA_MAX_SEED
    assert a[1].random() == b[1].random() and a[2].random() == b[2].random()
    seeds = {generation.part_seeds(s, p)[0] for s in range(3) for p in range(50)}
    assert len(seeds) == 150
    _, full, fast = generation.part_seeds(7, 3)
    assert full.random() != fast.random()


# --------------------------------------------------------------------------- PYTHIA


@pytest.fixture(scope="module")
def small_reference(tmp_path_factory):
    """120 jets of seed 11 in parts of 20 events, one worker; the workdir is kept."""
    workdir = tmp_path_factory.mktemp("reference")
    return generate(120, 11, workdir=workdir, events_per_part=SMALL_PART), workdir


@pytest.mark.slow
def test_pythia_generation_is_deterministic(small_reference, tmp_path):
    reference, workdir = small_reference
    assert len(list(workdir.glob("part-*.parquet"))) >= 2
    assert_same(generate(120, 11, workdir=tmp_path / "a", events_per_part=SMALL_PART),
                reference)
    other = generate(120, 12, workdir=tmp_path / "b", events_per_part=SMALL_PART)
    assert not np.array_equal(other["g"], reference["g"])


@pytest.mark.slow
def test_two_workers_give_the_same_jets(small_reference, tmp_path):
    reference, _ = small_reference
    assert_same(generate(120, 11, workers=2, workdir=tmp_path, events_per_part=SMALL_PART),
                reference)


@pytest.mark.slow
def test_resume_with_pythia_regenerates_only_missing_parts(small_reference, tmp_path):
    reference, workdir = small_reference
    shutil.copytree(workdir, tmp_path, dirs_exist_ok=True)
    part_path(tmp_path, 1).unlink()
    mtimes = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    assert_same(generate(120, 11, workdir=tmp_path, events_per_part=SMALL_PART), reference)
    assert part_path(tmp_path, 1).exists()
    for name, mtime in mtimes.items():
        assert (tmp_path / name).stat().st_mtime_ns == mtime


@pytest.fixture(scope="module")
def events():
    """300 PYTHIA events (visible stable particles) of one seed."""
    return list(generation.pythia_events(4242, 300))


@pytest.mark.slow
def test_events_are_visible_final_state(events):
    assert len(events) == 300
    for gen in events[:20]:
        assert 200 < len(gen) < 3000
        assert not np.isin(np.abs(gen.pid), (12, 14, 16)).any()
        assert np.all(gen.e > 0)
        np.testing.assert_array_equal(gen.charge[np.abs(gen.pid) == 211], np.sign(
            gen.pid[np.abs(gen.pid) == 211]))
        assert np.all(gen.charge[gen.pid == 22] == 0)
    # without neutrinos the visible transverse momentum balances only roughly, never exactly
    total = np.array([[g.px.sum(), g.py.sum()] for g in events])
    assert np.median(np.hypot(*total.T)) < 100


@pytest.mark.slow
def test_gen_fat_jets_show_the_top_mass_peak(events):
    from perfekt_bench_tasks.common.clustering import cluster

    mass = np.array([j.mass for gen in events
                     for j in cluster(gen, radius=JET_RADIUS, ptmin=400.0)])
    assert len(mass) > 200
    counts, edges = np.histogram(mass, bins=np.arange(0.0, 300.0, 10.0))
    mode = 0.5 * (edges[counts.argmax()] + edges[counts.argmax() + 1])
    assert abs(mode - 173.0) <= 20.0, (mode, counts)
    in_window = np.mean((mass > 140) & (mass < 200))
    assert in_window > 0.3, in_window


@pytest.mark.slow
def test_smaller_beta_raises_the_tau_ratios(events):
    """For ΔR < R0, (ΔR/R0)^0.9 > (ΔR/R0)^1, more so the smaller ΔR: τ_{N+1} gains more than
    τ_N, so every ratio τ_{N+1}/τ_N grows when β goes from 1.0 to 0.9 (checked on GEN jets)."""
    from perfekt_bench_tasks.common.clustering import cluster, nsubjettiness, tau_ratios

    jets = [j for gen in events[:100] for j in cluster(gen, radius=JET_RADIUS, ptmin=200.0)]
    full = np.array([tau_ratios(nsubjettiness(j.constituents, beta=BETA_FULL, r0=R0))
                     for j in jets])
    fast = np.array([tau_ratios(nsubjettiness(j.constituents, beta=BETA_FAST, r0=R0))
                     for j in jets])
    shift = fast - full
    assert np.all(shift.mean(axis=0) > 0)
    assert np.all(np.mean(shift > 0, axis=0) > 0.9)


@pytest.fixture(scope="module")
def rows(events):
    """event_rows of the 300 events with the paper's cards and β."""
    rngs = [np.random.default_rng([1, k]) for k in (1, 2)]
    return stack([event_rows(gen, *rngs) for gen in events])


def stack(per_event):
    return {key: np.concatenate([r[key] for r in per_event]) for key in COLUMNS}


@pytest.mark.slow
def test_event_rows_shapes_and_ranges(rows):
    n = len(rows["g"])
    assert n > 300  # about two matched fat jets per event
    for key, names in COLUMNS.items():
        assert rows[key].shape == (n, len(names)) and rows[key].dtype == np.float64
        assert np.all(np.isfinite(rows[key]))
    for key in ("g", "x_full", "x_fast"):
        # τ ratios lie in [0, 1], up to the exclusive-kT axes: they are not minimised, so now and
        # then τ_{N+1} > τ_N (a few per cent of the jets, by up to ~20 %)
        assert np.all(rows[key] >= 0) and np.all(rows[key] < 1.5), key
        assert np.all(np.mean(rows[key] <= 1, axis=0) > 0.92), key
    for key in ("h_full", "h_fast"):
        h = rows[key]
        assert np.all(h[:, 1] >= 200)  # reco fat jets
        assert np.all(h[:, 0] >= 0) and np.all(h[:, 3] > 0)
        assert np.all(h[:, 4] >= 1) and np.all(h[:, 5] >= 0)


@pytest.mark.slow
def test_fastsim_differs_from_fullsim_in_the_expected_direction(rows):
    # β = 0.9 raises the ratios (test above); the ECAL resolution and the independent random
    # streams add noise jet by jet, so the shift shows in the mean
    shift = rows["x_fast"] - rows["x_full"]
    error = shift.std(axis=0) / np.sqrt(len(shift))
    assert np.all(shift.mean(axis=0) > 3 * error), (shift.mean(axis=0), error)
    assert np.all(shift.mean(axis=0) < 0.1)
    # reco follows GEN: the ratios correlate strongly with their GEN values
    for j in range(3):
        assert np.corrcoef(rows["g"][:, j], rows["x_full"][:, j])[0, 1] > 0.5


@pytest.mark.slow
def test_sides_differ_only_by_card_beta_and_stream(events):
    from perfekt_bench_tasks.jets.detector import DetectorCard

    cms = DetectorCard.cms()

    def both(beta_fast):
        rngs = [np.random.default_rng(5) for _ in range(2)]  # the same stream on both sides
        return stack([event_rows(gen, *rngs, full_card=cms, fast_card=cms, beta_fast=beta_fast)
                      for gen in events[:25]])

    same = both(1.0)
    assert len(same["g"]) > 20
    np.testing.assert_array_equal(same["x_fast"], same["x_full"])
    np.testing.assert_array_equal(same["h_fast"], same["h_full"])
    shifted = both(BETA_FAST)
    np.testing.assert_array_equal(shifted["h_fast"], same["h_full"])
    assert np.mean(shifted["x_fast"] > shifted["x_full"]) > 0.9


@pytest.mark.slow
def test_perfect_detector_reproduces_gen(events):
    from perfekt_bench_tasks.jets.detector import DetectorCard

    perfect = DetectorCard.perfect()
    rngs = [np.random.default_rng(k) for k in (1, 2)]
    rows = stack([event_rows(gen, *rngs, full_card=perfect, fast_card=perfect, beta_fast=1.0)
                  for gen in events[:30]])
    assert len(rows["g"]) > 20
    # equal up to rounding: the perfect card rebuilds the four-vectors
    np.testing.assert_allclose(rows["x_full"], rows["g"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(rows["x_fast"], rows["g"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(rows["h_fast"], rows["h_full"], rtol=1e-9, atol=1e-12)
