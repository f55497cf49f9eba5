"""Jets-task generation: PYTHIA alone against the full pipeline on the same events, one core.

Run with ``pytest benchmarks/test_bench_jets.py --benchmark-only``. All three measure the same
``N_EVENTS`` events (part 0 of ``SEED``):

- ``pythia_init``: PYTHIA's initialisation alone, paid once per part of ``generate``;
- ``pythia``: PYTHIA's initialisation and events, read into ``Particles``;
- ``event_rows``: what the detector, clustering, matching and features add (events pre-made);
- ``pipeline``: one part as ``generate`` makes it, PYTHIA included (``make_part``).

Each reports events/s and jets/s (the matched jets the pipeline yields from these events) in
its ``extra_info``, and prints them.
"""

from __future__ import annotations

import numpy as np
import pytest

from perfekt_bench_tasks.jets.generation import event_rows, make_part, part_seeds, pythia_events

N_EVENTS = 50
SEED = 2024
GROUP = f"jets generation, {N_EVENTS} tt̄ events, 1 core"


@pytest.fixture(scope="module")
def events():
    return list(pythia_events(part_seeds(SEED, 0)[0], N_EVENTS))


@pytest.fixture(scope="module")
def n_jets():
    return make_part(SEED, 0, N_EVENTS).n_rows


def report(benchmark, name, n_jets):
    seconds = benchmark.stats.stats.mean
    info = {"events_per_s": N_EVENTS / seconds, "jets_per_s": n_jets / seconds,
            "jets_per_event": n_jets / N_EVENTS}
    benchmark.extra_info.update(info)
    print(f"\n{name}: {info['events_per_s']:.1f} events/s, {info['jets_per_s']:.1f} jets/s, "
          f"{info['jets_per_event']:.2f} jets/event")


def test_pythia_init(benchmark):
    benchmark.group = GROUP
    assert benchmark.pedantic(lambda: list(pythia_events(part_seeds(SEED, 0)[0], 0)),
                              rounds=3, iterations=1) == []


def test_pythia(benchmark, n_jets):
    benchmark.group = GROUP

    def run():
        return sum(1 for _ in pythia_events(part_seeds(SEED, 0)[0], N_EVENTS))

    assert benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=0) == N_EVENTS
    report(benchmark, "pythia", n_jets)


def test_event_rows(benchmark, events, n_jets):
    benchmark.group = GROUP

    def run():
        _, rng_full, rng_fast = part_seeds(SEED, 0)
        return sum(len(event_rows(gen, rng_full, rng_fast)["g"]) for gen in events)

    assert benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1) == n_jets
    report(benchmark, "event_rows", n_jets)


def test_pipeline(benchmark, n_jets):
    benchmark.group = GROUP
    part = benchmark.pedantic(make_part, args=(SEED, 0, N_EVENTS), rounds=3, iterations=1)
    assert part.n_rows == n_jets and np.isfinite(part.arrays["x_fast"]).all()
    report(benchmark, "pipeline", n_jets)
